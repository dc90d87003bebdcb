"""What a new user reads first: the sampling summarised (its rows in the JSON), status symbols
every font has, a runbook that checked nothing not called a pass, the fix under each finding of
`runbooks run`, `runbooks list` without repeats, advice that fits the failure, and `--json`
meaning the same on every command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, clean_subprocess_env

from runbooks.cli import main
from runbooks.lab import start
from runbooks.render import markdown_check, markdown_report, terminal_check, terminal_report
from runbooks.result import Check, Report, Status


@pytest.fixture(scope="module")
def flaky():
    run = start("flaky")  # every third keyless request is reset
    yield run
    run.stop()


@pytest.fixture(scope="module")
def healthy():
    run = start("healthy")
    yield run
    run.stop()


def _table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


# -- the sampling: a summary in the notebook, every sample in the JSON -------------------------
@pytest.mark.parametrize("samples", [12, 60])
def test_sampling_is_summarised_in_the_notebook_and_whole_in_the_json(flaky, tmp_path,
                                                                      samples):
    """Before: 12 samples made 92 table rows in the notebook, 60 made 364. Now a few rows,
    whatever the count: percentiles per phase and failures by cause; the samples in the JSON."""
    from runbooks.books import get

    run = get("timeouts").from_parameters(env=clean_subprocess_env(**flaky.env),
                                          project_dir=tmp_path, samples=samples)
    check = run.check_sampling()
    assert check.status == Status.WARN and check.cause == "network.intermittent"
    md = markdown_check(check)
    assert len(_table_rows(md)) <= 6, md
    assert len(md.splitlines()) <= 20, md
    for phase in ("connect", "first_byte", "total"):
        assert any(line.lstrip().startswith(phase) and "p50" in line and "p99" in line
                   for line in md.splitlines()), md
    assert "failed in first_byte" in md and "tcp.reset" in md
    assert "in the JSON report" in md
    details = check.to_dict()["details"]
    assert len(details["samples"]) == samples and details["stats_ms"]["total"]["n"]
    # the terminal: the same few lines for 12 samples or 60
    assert len(terminal_check(check).splitlines()) <= 9


# -- status symbols: in every font, not emoji --------------------------------------------------
def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return cp >= 0x1F000 or cp in (0xFE0F, 0x2705, 0x274C, 0x23ED, 0x26A0)


def _dejavu_has(ch: str) -> bool:
    """In DejaVu Sans (what Debian, Ubuntu and WSL fall back to; matplotlib ships it)."""
    import matplotlib
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"))
    return font.get_char_index(ord(ch)) != 0


def _report(*statuses: Status) -> Report:
    return Report("network", {"url": "https://api.anthropic.com"},
                  [Check(f"c{i}", f"Check {i}", s, "said") for i, s in enumerate(statuses)])


def test_status_symbols_are_text_every_font_has():
    """Before: ✅ ⚠️ ❌ ⏭️ 💥, empty boxes without an emoji font (servers, WSL)."""
    texts = [markdown_check(Check("c", "C", s, "said")) for s in Status]
    texts += [markdown_report(_report(s)) for s in Status]
    for text in texts:
        assert not any(_is_emoji(ch) for ch in text), text
        for ch in {ch for ch in text if ord(ch) > 0x7F}:
            assert _dejavu_has(ch), f"{ch!r} (U+{ord(ch):04X}) is not in DejaVu Sans"
    assert markdown_report(_report(Status.FAIL)).startswith("### ✗ Verdict: fail")
    assert "✓ pass" in markdown_report(_report(Status.PASS))


def test_no_stored_notebook_shows_an_emoji_status():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        outputs = json.dumps([c.get("outputs", []) for c in
                              json.loads(path.read_text(encoding="utf-8"))["cells"]],
                             ensure_ascii=False)
        for emoji in ("✅", "⚠️", "❌", "⏭️", "💥"):
            assert emoji not in outputs, f"{path.name} shows {emoji}"


# -- every check skipped: not a pass -------------------------------------------------------------
def test_a_report_whose_checks_were_all_skipped_is_not_a_pass():
    """Before: verdict pass, "No issues found"."""
    skipped = _report(Status.SKIP, Status.SKIP)
    assert skipped.verdict == "skip" and skipped.to_dict()["verdict"] == "skip"
    assert skipped.exit_code == 0  # nothing found, and nothing checked: the verdict says so
    assert "No issues found" not in terminal_report(skipped)
    assert "nothing was checked" in terminal_report(skipped).lower()
    assert "Verdict: skip" in markdown_report(skipped)
    assert _report(Status.PASS, Status.SKIP).verdict == "pass"
    assert _report(Status.SKIP, Status.WARN).verdict == "warn"
    assert _report().verdict == "skip"


def test_rate_limits_with_nothing_to_check_says_skip(healthy, tmp_path):
    """No credential and no status page: every check of the runbook is skipped."""
    from runbooks.books import get

    env = clean_subprocess_env(**{**healthy.env, "RUNBOOKS_STATUS_URL": "http://127.0.0.1:9"})
    env.pop("ANTHROPIC_API_KEY", None)
    report = get("rate-limits").from_parameters(env=env, project_dir=tmp_path).run_all()
    assert {c.status for c in report.checks} == {Status.SKIP}
    assert report.verdict == "skip"


def test_run_all_of_skips_and_passes():
    from runbooks.cli import _aggregate
    from runbooks.runner.execute import NotebookRun

    def nb(name: str, verdict: str) -> NotebookRun:
        return NotebookRun(name, Path(name), Path(name), Path(name),
                           {"verdict": verdict, "causes": []}, 0, 0, 0)

    assert _aggregate([nb("a", "skip"), nb("b", "pass")])["verdict"] == "pass"
    assert _aggregate([nb("a", "skip"), nb("b", "skip")])["verdict"] == "skip"
    assert _aggregate([nb("a", "skip"), nb("b", "warn")])["verdict"] == "warn"


# -- runbooks run: the fix under each finding ----------------------------------------------------
def test_the_run_summary_prints_each_findings_cause_fix_and_page(tmp_path, monkeypatch):
    """Before: `runbook timeouts: verdict fail; causes: …` and the paths, no fix."""
    from runbooks.books import get
    from runbooks.cli import run_summary
    from runbooks.runner.execute import NotebookRun

    env = clean_subprocess_env(API_TIMEOUT_MS="300", ANTHROPIC_BASE_URL="http://127.0.0.1:9")
    run = get("timeouts").from_parameters(env=env, project_dir=tmp_path)
    for step in run.STEPS:
        getattr(run, step)()
    report = run.report().to_dict()
    result = NotebookRun("timeouts", tmp_path, tmp_path / "t.ipynb", tmp_path / "t.json",
                         report, 1.0, 0.5, 0.5)
    text = "\n".join(run_summary([result], report))
    assert "runbook timeouts: verdict fail; causes: config.timeout_too_low" in text
    assert "[✗] API_TIMEOUT_MS" in text
    assert "cause: config.timeout_too_low" in text
    assert "fix:   Remove API_TIMEOUT_MS" in text
    assert "docs:  https://" in text and "#config.timeout_too_low" in text
    assert "Stream idle" not in text  # only the findings


# -- runbooks list: the shared parameters once ---------------------------------------------------
def test_list_shows_shared_parameters_once_then_each_runbooks_own(capsys):
    """Before: 74 lines, base_url listed six times (once per runbook that takes it)."""
    from runbooks.books import RUNBOOKS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.count("-p base_url=") == 1 and out.count("-p connect_timeout=") == 1
    assert out.count("-p samples=") == 1
    for rid, cls in RUNBOOKS.items():
        assert f"\n{rid}: " in "\n" + out
        for name in cls.PARAMETERS:
            assert f"-p {name}=" in out, name
    assert len(out.splitlines()) < 60, out


# -- the record-reading runbooks: no trust_ca ------------------------------------------------------
@pytest.mark.parametrize("runbook", ["recovery", "debugging"])
def test_a_runbook_that_reads_records_takes_no_trust_ca(capsys, runbook):
    from runbooks.books import get
    from runbooks.runner.execute import parameters

    assert "trust_ca" not in get(runbook).PARAMETERS
    assert "trust_ca" not in parameters(runbook)  # the notebook's parameters cell
    assert main(["run", runbook, "-p", "trust_ca=" + "ab" * 32]) == 2
    err = capsys.readouterr().err
    assert f"unknown parameter 'trust_ca' for runbook '{runbook}'" in err
    assert "trust_ca" in get("proxy-tls").PARAMETERS  # where a CA is trusted, it stays
    # papermill -p trust_ca … injects a variable the notebook never reads: harmless
    read = get(runbook).notebook_parameters({"trust_ca": "ab" * 32, "apply": "false"})
    assert "trust_ca" not in read and read["apply"] is False


# -- hosts: the advice fits the failure ------------------------------------------------------------
def test_a_host_that_does_not_resolve_gets_dns_advice_not_a_firewall_rule(tmp_path):
    """Before: claude.ai NXDOMAIN → "Allow claude.ai:443 (TCP) in the firewall …"."""
    from runbooks.books.proxy_tls import ProxyTlsRun
    from runbooks.lab.dnsserver import LabDNS
    from runbooks.probes.hosts import allowlist_lines

    run_lab = start("allowlist")
    dns = LabDNS({})  # every name: NXDOMAIN
    try:
        pins = ",".join(f"{h}:127.0.0.1" for h in ("platform.claude.com", "downloads.claude.ai"))
        run = ProxyTlsRun.from_parameters(
            env=clean_subprocess_env(**run_lab.env), project_dir=tmp_path, resolve=pins,
            nameserver=dns.address, dns_timeout=1.0, connect_timeout=1.0)
        checks = {c.id: c for c in run.run_all().checks}
    finally:
        dns.close()
        run_lab.stop()
    nx = checks["host.claude.ai"]
    assert nx.cause == "dns.nxdomain"
    assert "in the firewall" not in nx.fix and "not a firewall rule" in nx.fix
    assert "DNS" in nx.fix and "nslookup claude.ai" in nx.fix
    refused = checks["host.platform.claude.com"]
    assert refused.cause == "tcp.refused" and "firewall" in refused.fix
    dropped = checks["host.downloads.claude.ai"]
    assert dropped.cause == "tcp.timeout" and "firewall" in dropped.fix
    table = {line.split()[0].split(":")[0]: line for line in allowlist_lines(run.walks)}
    assert "does not resolve" in table["claude.ai"] and "blocked" not in table["claude.ai"]
    assert "fix DNS" in table["claude.ai"] and "allow in" not in table["claude.ai"]
    assert "blocked" in table["platform.claude.com"]
    assert "allow in the firewall" in table["platform.claude.com"]


# -- an expired OAuth token: /login, not the Console -------------------------------------------------
EXPIRED = ('API Error: 401 {"type":"error","error":{"type":"authentication_error","message":'
           '"OAuth token has expired. Please obtain a new token or refresh your existing '
           'token."},"request_id":"req_011CV"} · Please run /login')


def test_an_expired_oauth_token_is_told_to_log_in_again(capsys):
    """Before: triage led with auth.invalid, "create a new one in the Console"."""
    from runbooks.triage import match_message

    first = match_message(EXPIRED)[0]
    assert first.code == "auth.expired"
    assert "/login" in first.fix and "create a new" not in first.fix  # a key is not the fix
    assert main(["triage", EXPIRED]) == 0
    out = capsys.readouterr().out
    first = out.split("\n2. ")[0]
    assert "\n1. auth.expired:" in first and "/login" in first


def test_the_api_saying_the_token_expired_is_auth_expired():
    from runbooks.probes.live import judge_answer

    body = json.dumps({"type": "error", "error": {
        "type": "authentication_error",
        "message": "OAuth token has expired. Please obtain a new token or refresh your "
                   "existing token."}}).encode()
    answer = judge_answer(401, {"content-type": "application/json"}, body, "GET /v1/models")
    assert answer.cause == "auth.expired"
    key = json.dumps({"type": "error", "error": {"type": "authentication_error",
                                                 "message": "invalid x-api-key"}}).encode()
    assert judge_answer(401, {"content-type": "application/json"}, key, "GET").cause == \
        "auth.invalid"


# -- --json [PATH|-]: the same on every command --------------------------------------------------
def _json_and_text(argv: list[str], path: Path, capsys) -> tuple[dict, str, dict, str]:
    """``argv --json`` (stdout: JSON alone) and ``argv --json PATH`` (the text, and PATH)."""
    main([*argv, "--json"])
    alone = capsys.readouterr().out
    main([*argv, "--json", str(path)])
    text = capsys.readouterr().out
    return json.loads(alone), alone, json.loads(path.read_text()), text


def test_json_alone_is_stdout_and_json_path_a_file_doctor_preflight(healthy, tmp_path, capsys,
                                                                   monkeypatch):
    for k, v in healthy.env.items():
        monkeypatch.setenv(k, v)
    for command in ("doctor", "preflight"):
        out = tmp_path / f"{command}.json"
        alone, _, filed, text = _json_and_text([command], out, capsys)
        assert alone["verdict"] == filed["verdict"] == "pass" and alone["schema_version"] == 1
        assert not text.lstrip().startswith("{")  # the text, as without --json
        assert ("No issues found" if command == "doctor" else "preflight: ok") in text


def test_json_alone_and_json_path_fix_and_undo(healthy, tmp_path, capsys, monkeypatch):
    for k, v in healthy.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("API_TIMEOUT_MS", "300")
    alone, _, filed, text = _json_and_text(["fix"], tmp_path / "plan.json", capsys)
    assert alone["plan"]["fixes"][0]["id"] == "api-timeout" and "report" in alone
    assert filed["fixes"][0]["id"] == "api-timeout" and "Nothing written" in text
    undone = []
    for extra in (["--json"], ["--json", str(tmp_path / "undo.json")]):
        assert main(["fix", "--apply"]) == 0
        capsys.readouterr()
        assert main(["undo", *extra]) == 0
        undone.append(capsys.readouterr().out)
    assert json.loads(undone[0])["restored"]
    assert "Restored 1 file(s)" in undone[1]
    assert json.loads((tmp_path / "undo.json").read_text())["restored"]


def test_json_alone_and_json_path_triage_list_history(tmp_path, capsys):
    message = "connect ECONNREFUSED 127.0.0.1:443"
    alone, _, filed, text = _json_and_text(["triage", message], tmp_path / "t.json", capsys)
    assert alone == filed and alone["causes"][0]["cause"] == "tcp.refused"
    assert text.splitlines()[1].startswith("1. tcp.refused:")
    alone, _, filed, text = _json_and_text(["list"], tmp_path / "l.json", capsys)
    assert alone == filed and "\nnetwork: " in "\n" + text
    config = tmp_path / "claude"
    config.mkdir()
    argv = ["history", "--config-dir", str(config), "--all-projects"]
    alone, _, filed, text = _json_and_text(argv, tmp_path / "h.json", capsys)
    assert alone.keys() == filed.keys()
    assert "failures" in alone and "No failed API attempt recorded" in text


def test_triage_keeps_its_older_json_spellings(capsys, monkeypatch):
    """`triage --json "message"` and `triage --json -` (standard input) still mean what they
    meant when --json was a switch."""
    import io

    assert main(["triage", "--json", "connect ECONNREFUSED 127.0.0.1:443"]) == 0
    assert json.loads(capsys.readouterr().out)["causes"][0]["cause"] == "tcp.refused"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"connect ETIMEDOUT")))
    assert main(["triage", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["causes"][0]["cause"] == "tcp.timeout"


def test_json_alone_and_json_path_lab_start(tmp_path):
    out = tmp_path / "lab.json"
    env = clean_subprocess_env(TMPDIR=str(tmp_path))
    for extra in (["--json"], ["--json", str(out)]):
        proc = subprocess.Popen([sys.executable, "-m", "runbooks", "lab", "start", "healthy",
                                 *extra], stdout=subprocess.PIPE, text=True, env=env)
        try:
            first = proc.stdout.readline()
            if len(extra) == 1:
                assert json.loads(first)["scenario"] == "healthy"
            else:
                assert first.startswith("lab scenario healthy")
                deadline = time.monotonic() + 10
                while not out.exists() and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert json.loads(out.read_text())["base_url"].startswith("http://127.0.0.1:")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=15) == 0
        finally:
            proc.kill()
            proc.stdout.close()


@pytest.mark.notebook
def test_json_alone_and_json_path_run(tmp_path):
    """`runbooks run` in a real kernel: `--json` prints the report alone; `--json PATH` prints
    the text and writes the report there."""
    from conftest import run_cli

    out = tmp_path / "out"
    alone = run_cli("run", "recovery", "--output-dir", str(out), "--json", timeout=120)
    assert alone.returncode == 0, alone.stderr
    assert json.loads(alone.stdout)["runbook"] == "recovery"
    filed = run_cli("run", "recovery", "--output-dir", str(out), "--json",
                    str(tmp_path / "r.json"), timeout=120)
    assert filed.returncode == 0 and filed.stdout.startswith("runbook recovery: verdict ")
    assert json.loads((tmp_path / "r.json").read_text())["runbook"] == "recovery"


@pytest.mark.parametrize("argv", [
    ["doctor"], ["fix"], ["undo"], ["run", "network"], ["preflight"], ["triage", "x"],
    ["history"], ["list"], ["lab", "start", "healthy"],
])
def test_a_bad_json_path_is_refused_first_on_every_command(argv, tmp_path, capsys):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    before = sorted(os.listdir(tmp_path))
    assert main([*argv, "--json", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and err.count("\n") == 1, err
    assert sorted(os.listdir(tmp_path)) == before
