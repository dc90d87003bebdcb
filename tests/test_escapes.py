"""Terminal escape sequences from outside never reach the terminal raw.

Real sources, each carrying a clipboard write (OSC 52), a screen clear, a disguised link
(OSC 8) and the same in C1 controls: a transcript (`history`), a debug log (the doctor's
debugging checks), the lab's API answering a 5xx HTML page whose <title> holds them (the
doctor's HTTP check), and the lab's status page with an incident whose name and link hold
them. The terminal gets them escaped (``\\x1b``); JSON keeps them, escaped by JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.lab.api import FakeAPI
from runbooks.lab.history_scenarios import PROJECT, lay_out
from runbooks.lab.statuspage import FakeStatusPage
from runbooks.records.history import folder_for

OSC52 = "\x1b]52;c;Q0FOQVJZ\x07"  # writes "CANARY" to the clipboard
CLEAR = "\x1b[2J\x1b[H"
LINK = "\x1b]8;;http://evil.example/\x1b\\click here\x1b]8;;\x1b\\"
C1 = "\x9b2J\x9d8;;http://evil.example/\x9c"
HOSTILE = OSC52 + CLEAR + LINK + C1
RAW = ("\x1b", "\x07", "\x9b", "\x9c", "\x9d")


def _no_raw_controls(text: str) -> None:
    for c in RAW:
        assert c not in text, (repr(c), text[max(0, text.find(c) - 200):][:400])


@pytest.fixture
def sources(tmp_path) -> Iterator[dict[str, str]]:
    cfg = tmp_path / "claude"
    lay_out(cfg)
    when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    sid = "00000000-0000-4000-8000-0000000000e5"
    record = {"type": "assistant", "timestamp": when, "isApiErrorMessage": True,
              "apiError": "connection_failed", "sessionId": sid, "entrypoint": "cli",
              "message": {"role": "assistant", "content": [
                  {"type": "text", "text": f"API Error: Connection refused {HOSTILE}"}]}}
    (cfg / "projects" / folder_for(PROJECT) / f"{sid}.jsonl").write_text(
        json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8")
    (cfg / "debug" / "zz-newest.txt").write_text(
        f"{when} [ERROR] Connection error details: code=ECONNREFUSED, message={HOSTILE}\n"
        f"{when} [WARN] {HOSTILE}\n", encoding="utf-8")
    api = FakeAPI(behaviour="edge_504")
    api.edge_page = (f"<html><head><title>504 {HOSTILE} Gateway Time-out</title></head>"
                     "<body>nginx</body></html>").encode()
    page = FakeStatusPage("incident", {"name": f"Elevated errors {HOSTILE}",
                                       "shortlink": f"https://stspg.io/x{HOSTILE}"})
    try:
        yield clean_subprocess_env(CLAUDE_CONFIG_DIR=str(cfg), CLAUDE_PROJECT_DIR=PROJECT,
                                   ANTHROPIC_BASE_URL=api.url, RUNBOOKS_STATUS_URL=page.url)
    finally:
        api.close()
        page.close()


def test_the_doctor_shows_outside_text_escaped(sources):
    proc = run_cli("doctor", "--connect-timeout", "2", "--read-timeout", "3", env=sources)
    assert proc.returncode == 1, proc.stderr
    _no_raw_controls(proc.stdout + proc.stderr)
    lines = {line.split()[1]: line for line in proc.stdout.splitlines() if line.startswith("[")}
    assert lines["HTTP"].count("\\x1b]52;c;") == 1  # the page's title, escaped: visible
    assert "\\x1b]8;;http://evil.example/" in lines["Status"]  # the incident's link
    assert "\\x9b2J" in proc.stdout
    logged = [line for line in proc.stdout.splitlines() if "code=ECONNREFUSED, message=" in line]
    assert logged and all("\\x1b[2J" in line for line in logged)  # the debug log's lines


def test_the_json_report_keeps_them_escaped_by_json(sources):
    proc = run_cli("doctor", "--connect-timeout", "2", "--read-timeout", "3", "--json", "-",
                   env=sources)
    assert proc.returncode == 1, proc.stderr
    _no_raw_controls(proc.stdout)  # C1 too: ensure_ascii=False leaves them raw otherwise
    assert "\\u001b]52;c;" in proc.stdout and "\\u009b2J" in proc.stdout
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    incident = checks["status"]["details"]["incidents"][0]
    assert incident["name"] == f"Elevated errors {HOSTILE}"  # the data itself, unchanged


def test_history_shows_a_transcripts_text_escaped(sources):
    proc = run_cli("history", env=sources)
    assert proc.returncode == 1, proc.stderr
    _no_raw_controls(proc.stdout)
    assert "API Error: Connection refused \\x1b]52;c;" in proc.stdout
    proc = run_cli("history", "--json", env=sources)
    _no_raw_controls(proc.stdout)
    texts = [f["text"] for f in json.loads(proc.stdout)["failures"]]
    assert any(OSC52 + CLEAR in t for t in texts)


def test_the_doctors_own_colours_still_work():
    from runbooks.render import printable, terminal_check
    from runbooks.result import Check, Status

    check = Check("http", "HTTP", Status.FAIL, f"504 {HOSTILE}", cause="http.server_error",
                  details={"lines": [f"line\twith a tab {CLEAR}"]})
    out = terminal_check(check, color=True)
    assert out.startswith("\x1b[31m[✗]\x1b[0m HTTP")  # our styling, raw
    assert "\x1b[1mcause:\x1b[0m" in out
    body = out.replace("\x1b[31m", "").replace("\x1b[1m", "").replace("\x1b[0m", "")
    _no_raw_controls(body)
    assert "\twith a tab \\x1b[2J" in body  # a tab is kept
    assert printable("a\nb\tc\rd\x7f\u202e\r\n") == "a\nb\tc\\x0dd\\x7f\\u202e\r\n"


def test_a_bundles_debug_log_is_escaped(sources, monkeypatch):
    from runbooks.bundle import build_members

    members = build_members(env=sources, doctor=False)
    _no_raw_controls(members["debug-log.txt"])
    assert "\\x1b]52;c;" in members["debug-log.txt"]
    for name in ("history.json", "config.json"):
        _no_raw_controls(members[name])
        json.loads(members[name])


def test_lab_sources_carry_them_raw(sources):
    """The lab really sends them: the escaping is ours."""
    import httpx

    page = httpx.get(sources["RUNBOOKS_STATUS_URL"] + "/api/v2/summary.json", trust_env=False).json()
    assert HOSTILE in page["incidents"][0]["name"]
    answer = httpx.post(sources["ANTHROPIC_BASE_URL"] + "/v1/messages", content=b"{}",
                        trust_env=False)
    assert answer.status_code == 504 and HOSTILE.encode() in answer.content
    assert Path(sources["CLAUDE_CONFIG_DIR"], "debug", "zz-newest.txt").read_text().count(
        OSC52) == 2
