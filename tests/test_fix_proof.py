"""Each fix, proven with the real client: failing before, `runbooks fix --apply` changing
exactly what its plan showed, working after, a second apply a no-op, and `runbooks undo`
bringing the failure back. Temporary HOME and project folder for every row."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_subprocess_env

from runbooks.lab import SCENARIOS
from runbooks.lab.api import LAB_REPLY
from runbooks.lab.scenarios import CLIENT_TIMEOUT_MS
from runbooks.site.examples import fix_facts
from runbooks.triage import match_message

FAST_MS = "1500"  # the client's black-hole rows wait this long, not the lab's 5000

pytestmark = pytest.mark.client

#: scenario → the extra options its fix needs (what the user would type)
ROWS = {
    "timeout-10min": [],
    "timeout-300": [],
    "proxy-bypassed": ["--connect-timeout", "1"],  # the direct path is a black hole
    "proxy-required": ["--connect-timeout", "1", "--proxy", "{proxy}"],
    "key-quoted": [],
    "proxy-shadowed": [],
    # trusting a CA: shown first, applied only with its fingerprint (read from the plan)
    "proxy-zscaler": ["--apply:", "--trust-ca", "{fingerprint}"],
    "tls-untrusted": ["--ca-file", "{ca_file}", "--apply:", "--trust-ca", "{fingerprint}"],
}


def _snapshot(*roots: Path) -> dict[str, str]:
    out = {}
    for root in roots:
        for p in root.rglob("*"):
            if p.is_file() and "runbooks-backups" not in p.parts and p.name != "runbooks-fix.lock":
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class Row:
    def __init__(self, claude: str, run, tmp: Path, options: list[str]) -> None:
        self.claude, self.run = claude, run
        self.home = Path(run.env["HOME"]) if "HOME" in run.env else tmp / "home"
        self.home.mkdir(exist_ok=True)
        self.project = tmp / "project"
        self.project.mkdir()
        self.raw_options = options
        # the user's shell: the lab's variables; the client also gets the lab's fast
        # failure settings (its own API_TIMEOUT_MS, when the scenario has one, wins)
        self.shell = clean_subprocess_env(**{**run.env, "HOME": str(self.home)})
        client = {**run.client_env, "HOME": str(self.home), "CLAUDE_CODE_MAX_RETRIES": "0"}
        if client["API_TIMEOUT_MS"] == str(CLIENT_TIMEOUT_MS):  # the lab's own: shorter here
            client["API_TIMEOUT_MS"] = FAST_MS
        self.client_env = clean_subprocess_env(**client)
        self.expect = SCENARIOS[run.scenario.name].client_message.replace(
            f"above {CLIENT_TIMEOUT_MS}.", f"above {client['API_TIMEOUT_MS']}.")

    def ask(self) -> subprocess.CompletedProcess:
        return subprocess.run([self.claude, "-p", "hello"], env=self.client_env, cwd=self.project,
                              capture_output=True, text=True, timeout=90,
                              stdin=subprocess.DEVNULL, check=False)

    def runbooks(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "runbooks", *args], env=self.shell,
                              cwd=self.project, capture_output=True, text=True, timeout=90,
                              check=False)


@pytest.mark.parametrize("scenario", list(ROWS))
def test_a_fix_takes_the_real_client_from_failing_to_working_and_back(claude, lab, tmp_path,
                                                                       scenario):
    row = Row(claude, lab(scenario), tmp_path, ROWS[scenario])
    # 1. before: the client fails, with the message the scenario records
    before = row.ask()
    message = before.stdout + before.stderr
    assert before.returncode != 0, message
    assert row.expect in message
    # 2. triage on that message ranks a cause the doctor finds among its first three
    top = [c.code for c in match_message(message)][:3]
    assert set(top) & set(SCENARIOS[scenario].doctor_causes), (message, top)
    # 3. the plan, then the apply: exactly the files the plan showed, with its content
    facts = fix_facts(row.run, row.shell, row.project, row.raw_options)
    split = (row.raw_options.index("--apply:") if "--apply:" in row.raw_options
             else len(row.raw_options))
    row.options = [o.format(**facts) for o in row.raw_options[:split]]
    confirm = [o.format(**facts) for o in row.raw_options[split + 1:]]
    plan = json.loads(row.runbooks("fix", *row.options, *confirm, "--json", "-").stdout)["plan"]
    assert plan["files"], plan
    shown = row.runbooks("fix", *row.options, *confirm)
    was = _snapshot(row.home, row.project)
    if confirm:  # a CA is never trusted on its own: without the fingerprint, nothing changes
        blocked = row.runbooks("fix", "--apply", *row.options)
        assert blocked.returncode == 1 and "--trust-ca" in blocked.stdout, blocked.stdout
        assert _snapshot(row.home, row.project) == was
    row.options += confirm
    applied = row.runbooks("fix", "--apply", *row.options)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert plan["diff"].strip() and plan["diff"].strip() in applied.stdout  # the same diff
    assert shown.stdout.split("\n\n")[0] == applied.stdout.split("\n\n")[0]
    now = _snapshot(row.home, row.project)
    changed = {p for p in set(was) | set(now) if was.get(p) != now.get(p)}
    assert changed == {f["path"] for f in plan["files"]}
    for f in plan["files"]:
        assert now[f["path"]] == f["after_sha256"]
    # 4. after: the client answers; the doctor is clean; a second apply changes nothing
    after = row.ask()
    assert after.returncode == 0 and after.stdout.strip() == LAB_REPLY, after.stdout + after.stderr
    doctor = row.runbooks("doctor")
    assert doctor.returncode == 0, doctor.stdout
    settled = _snapshot(row.home, row.project)  # (the client writes its own files as it runs)
    again = row.runbooks("fix", "--apply", *row.options)
    assert _snapshot(row.home, row.project) == settled and "Nothing" in again.stdout, again.stdout
    # 5. undo brings the failure back: every planned file as it was before
    undone = row.runbooks("undo")
    assert undone.returncode == 0, undone.stderr
    restored = _snapshot(row.home, row.project)
    for f in plan["files"]:
        assert restored.get(f["path"]) == f["before_sha256"], f["path"]
    failing = row.ask()
    assert failing.returncode != 0
    assert row.expect in failing.stdout + failing.stderr
