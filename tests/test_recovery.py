"""The recovery and debugging runbooks without the lab: Claude Code's folder is laid out from the
recorded transcripts in a temporary directory and named in the environment (CLAUDE_CONFIG_DIR,
CLAUDE_PROJECT_DIR), as a user's own would be; nothing but files is involved."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import ROOT

from runbooks.books import RUNBOOKS, get
from runbooks.errors import UsageError
from runbooks.lab.history_scenarios import PROJECT, lay_out
from runbooks.result import Status

LAST = "c8ab9600-1430-40dd-82b4-857e3712cbd0"


@pytest.fixture
def config(tmp_path) -> Path:
    cfg = tmp_path / "claude"
    lay_out(cfg)
    return cfg


def _env(config: Path, **extra: str) -> dict[str, str]:
    return {"HOME": os.environ["HOME"], "PATH": os.environ.get("PATH", ""),
            "CLAUDE_CONFIG_DIR": str(config), "CLAUDE_PROJECT_DIR": PROJECT, **extra}


def _recovery(config: Path, **params):
    run = get("recovery").from_parameters(env=_env(config), **params)
    return run, run.run_all()


def test_both_runbooks_are_registered_with_notebooks():
    from runbooks.runner.execute import available

    assert {"recovery", "debugging"} <= set(RUNBOOKS) <= set(available())


def test_recovery_on_the_recorded_story(config):
    _run, report = _recovery(config)
    checks = {c.id: c for c in report.checks}
    assert report.causes == ["tcp.refused", "network.intermittent"]
    failures = checks["recovery.failures"]
    assert failures.status == Status.WARN and "7 failed attempts in 3 sessions" in failures.summary
    assert "after the last successful answer" in failures.summary
    assert checks["recovery.pattern"].details["episodes"] == 2
    sessions = checks["recovery.sessions"]
    assert sessions.status == Status.WARN and f"claude -r {LAST}" in sessions.summary
    assert "does not re-send" in sessions.fix
    cont = checks["recovery.continue"]
    assert cont.status == Status.WARN and "claude -p" in cont.summary  # headless: -r, not -c


def test_a_deeply_nested_line_is_named_and_the_story_still_told(config):
    """A 200 KB line of [[[[… in an assistant record: the failures check errored with a
    RecursionError."""
    from runbooks.records.history import folder_for

    path = config / "projects" / folder_for(PROJECT) / f"{LAST}.jsonl"
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"type":"assistant","message":' + "[" * 100_000 + "]" * 100_000 + "}\n")
    _run, report = _recovery(config)
    failures = {c.id: c for c in report.checks}["recovery.failures"]
    assert failures.status == Status.WARN and "7 failed attempts" in failures.summary
    assert [p.rsplit("/", 1)[-1] for p in failures.details["too_deep_lines"]] == [
        f"{LAST}.jsonl: line {path.read_text().count(chr(10))}"]
    assert "nested too deeply" in failures.details["lines"][-1]


def test_recovery_in_a_window_without_failures(config):
    # the story ends an hour ago: the last 30 minutes hold nothing
    _run, report = _recovery(config, since="30m")
    assert report.verdict == "skip"  # no record to read: nothing checked, not a pass
    assert {c.status for c in report.checks} == {Status.SKIP}


def test_recovery_every_project_and_a_directory_without_records(config, tmp_path):
    _run, report = _recovery(config, all_projects=True)
    checks = {c.id: c for c in report.checks}
    assert checks["recovery.continue"].status == Status.SKIP  # -c is per directory
    assert "cd /home/dev/acme-app && claude -r" in checks["recovery.sessions"].summary
    _run, report = _recovery(config, project=str(tmp_path))
    assert report.verdict == "skip" and "no transcript of" in report.checks[0].summary


def test_a_later_session_means_claude_c_reloads_the_wrong_one(config):
    """After the failure, another session ran here and ended on an answer: `claude -c` would
    reload that one, and the runbook says to use `claude -r <id>` instead."""
    from runbooks.records.history import folder_for

    sid = "00000000-0000-4000-8000-00000000abcd"
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    line = {"parentUuid": None, "isSidechain": False, "message": {"role": "assistant",
            "content": [{"type": "text", "text": "done"}]}, "type": "assistant",
            "timestamp": ts, "sessionId": sid, "entrypoint": "cli"}
    (config / "projects" / folder_for(PROJECT) / f"{sid}.jsonl").write_text(
        json.dumps(line, separators=(",", ":")) + "\n", encoding="utf-8")
    _run, report = _recovery(config)
    checks = {c.id: c for c in report.checks}
    assert checks["recovery.failures"].status == Status.PASS  # an answer came after them
    assert checks["recovery.sessions"].status == Status.PASS
    cont = checks["recovery.continue"]
    assert cont.status == Status.WARN and f"claude -r {LAST}" in cont.summary


@pytest.mark.parametrize("bad", [{"since": "soon"}, {"all_projects": "maybe"},
                                 {"config_dir": "/x"}])
def test_recovery_parameters_are_checked(config, bad):
    with pytest.raises(UsageError):
        get("recovery").from_parameters(env=_env(config), **bad)


def test_a_missing_claude_config_dir_is_a_skip_not_a_crash(tmp_path):
    run = get("recovery").from_parameters(env=_env(tmp_path / "nowhere"))
    report = run.run_all()
    assert report.verdict == "skip" and "does not exist" in report.checks[0].summary


# -- debugging ------------------------------------------------------------------------------------
def _debugging(config: Path, project: Path | None = None, **params):
    run = get("debugging").from_parameters(env=_env(config), project_dir=project, **params)
    return {c.id: c for c in run.run_all().checks}


def test_debugging_reads_the_newest_log_not_latest(config):
    (config / "settings.json").write_text('{"env": {"HTTPS_PROXY": "http://p:8080",}}')
    checks = _debugging(config)
    settings = checks["debug.settings"]
    assert settings.cause == "config.settings_invalid" and "line 1" in settings.summary
    log = checks["debug.log"]
    assert f"{LAST}.txt" in log.summary and "`latest` points at" in log.summary
    errors = checks["debug.errors"]
    assert errors.cause == "tcp.refused" and "code=ECONNREFUSED" in errors.summary
    assert all("[ERROR]" in line for line in errors.details["lines"])
    assert checks["debug.bundle"].status == Status.PASS


def test_debugging_with_valid_settings_and_no_log(tmp_path):
    cfg = tmp_path / "claude"
    cfg.mkdir()
    (cfg / "settings.json").write_text(json.dumps({"env": {"API_TIMEOUT_MS": "600000"},
                                                   "apiKeyHelper": "echo secret"}))
    checks = _debugging(cfg)
    assert checks["debug.settings"].status == Status.PASS
    assert checks["debug.settings"].details["files"][0]["keys"] == ["apiKeyHelper", "env"]
    assert "echo secret" not in json.dumps(checks["debug.settings"].to_dict())
    assert checks["debug.log"].status == Status.SKIP and "claude --debug" in checks[
        "debug.log"].summary
    assert checks["debug.errors"].status == Status.SKIP


def test_debugging_reads_a_log_named_by_the_parameter(config, tmp_path):
    log = tmp_path / "claude-debug.log"
    log.write_text("2026-11-26T01:00:00.000Z [ERROR] Connection error details: "
                   "code=ENOTFOUND, message=getaddrinfo ENOTFOUND api.anthropic.com\n"
                   "2026-11-26T01:00:00.000Z [WARN] something odd\n")
    checks = _debugging(config, debug_log=str(log))
    assert checks["debug.errors"].cause == "dns.nxdomain"
    assert checks["debug.log"].summary.count("1 errors, 1 warnings") == 1
    with pytest.raises(UsageError, match="debug log"):
        get("debugging").from_parameters(env=_env(config), debug_log=str(tmp_path))


@pytest.mark.parametrize("at", [470, 1990])  # across the 500 characters shown; the head held
def test_a_long_log_line_is_masked_before_it_is_cut(config, tmp_path, at):
    """A line over 64 KiB is held as its head: a token across the cut showed its first 30
    characters (the cut part no longer matched the registered token)."""
    from runbooks.render import json_report, terminal_report

    token = "TOKENCANARYzz9Q-bearer-token-0123456789"
    head = "2026-11-26T01:00:09.195Z [ERROR] Connection error details: code=ECONNREFUSED, x="
    log = tmp_path / "long.log"
    log.write_text(head + "y" * (at - len(head)) + f" {token} " + "z" * 70_000 + "\n")
    run = get("debugging").from_parameters(env=_env(config, ANTHROPIC_AUTH_TOKEN=token),
                                           debug_log=str(log))
    report = run.run_all()
    errors = {c.id: c for c in report.checks}["debug.errors"]
    assert errors.cause == "tcp.refused" and errors.details["lines"]
    for text in (terminal_report(report), json_report(report)):
        assert "TOKENCAN" not in text, text[text.find("TOKENCAN") - 100:][:300]


def test_an_old_log_is_outside_the_window(config):
    checks = _debugging(config, since="10m")
    assert checks["debug.log"].status == Status.SKIP and "before the window" in checks[
        "debug.log"].summary


# -- in the doctor --------------------------------------------------------------------------------
def test_the_doctor_on_a_clean_home_finds_nothing_in_the_past(lab):
    """Registered runbooks run in the doctor too: with no records and no debug log they add
    nothing at all (not news there), and never a finding."""
    from runbooks.doctor import DOCTOR_PARAMETERS, run_doctor

    run = lab("healthy")
    values = {k: p.default for k, p in DOCTOR_PARAMETERS.items()}
    report = run_doctor(values, env={**os.environ, **run.env})
    assert report.verdict == "pass", [c for c in report.checks if c.is_finding]
    ids = {c.id for c in report.checks}
    assert not [i for i in ids if i.startswith(("recovery.", "debug."))], ids


def test_stored_notebooks_show_no_content_of_the_records():
    for name in ("recovery", "debugging"):
        text = (ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8")
        assert "FIXTURECANARY" not in text and "Q4 roadmap" not in text
        assert '"output_type": "error"' not in text
        assert "/root/" not in text


def test_in_the_doctor_the_past_is_informational(lab, tmp_path):
    """The doctor checks the connection now: Claude Code's records of past failures show up
    there, skipped with their cause (as an unreachable status page is), and never turn a
    healthy connection's verdict into a failure. A broken settings file is broken now."""
    from runbooks.doctor import DOCTOR_PARAMETERS, run_doctor

    cfg = tmp_path / "claude"
    lay_out(cfg)
    run = lab("healthy")
    values = {k: p.default for k, p in DOCTOR_PARAMETERS.items()}
    report = run_doctor(values, env={**os.environ, **run.env, "CLAUDE_CONFIG_DIR": str(cfg),
                                     "CLAUDE_PROJECT_DIR": PROJECT})
    assert report.verdict == "pass", [c for c in report.checks if c.is_finding]
    checks = {c.id: c for c in report.checks}
    for cid in ("recovery.failures", "recovery.pattern", "recovery.sessions", "debug.errors"):
        assert checks[cid].status == Status.SKIP and "past, informational" in checks[cid].summary
    assert checks["recovery.pattern"].cause == "network.intermittent"
    (cfg / "settings.json").write_text("{,}")
    report = run_doctor(values, env={**os.environ, **run.env, "CLAUDE_CONFIG_DIR": str(cfg),
                                     "CLAUDE_PROJECT_DIR": PROJECT})
    assert report.causes == ["config.settings_invalid"]


def test_the_history_example_on_the_site_is_current():
    from runbooks.site.examples import COMMAND_EXAMPLES, EXAMPLES_DIR, command_output, sanitize

    for stem, (scenario, argv) in COMMAND_EXAMPLES.items():
        stored = (EXAMPLES_DIR / f"{stem}.txt").read_text(encoding="utf-8")
        assert sanitize(command_output(scenario, argv)) == sanitize(stored), stem


def test_offline_runbooks_never_open_a_socket(config, monkeypatch):
    """`Runbook.OFFLINE` lets `runbooks run all` run these two one after another in one kernel:
    that is only right if they wait on nothing. Every socket is refused while they run."""
    import socket

    def refuse(*_a, **_k):
        raise AssertionError("an offline runbook opened a socket")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    offline = [rid for rid, cls in RUNBOOKS.items() if cls.OFFLINE]
    assert offline == ["recovery", "debugging"]
    for rid in offline:
        report = get(rid).from_parameters(env=_env(config)).run_all()
        assert not [c for c in report.checks if c.status == Status.ERROR], rid
