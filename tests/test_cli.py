"""The command line: exit codes, one-line usage errors, JSON, the lab command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import clean_subprocess_env, run_cli
from runbooks.cli import main


def test_a_key_is_never_a_parameter(capsys):
    assert main(["run", "network", "-p", "base_url=sk-ant-api03-canaryCANARYcanary0000"]) == 2
    err = capsys.readouterr().err
    assert "credential" in err and "canaryCANARY" not in err


def test_ansi_free_output_and_exit_1_on_findings(lab, capsys):
    run = lab("refused")
    assert main(["doctor", "--base-url", run.base_url]) == 1
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # not a terminal: no colour
    assert "cause: tcp.refused" in out and "1 issue found" in out


def test_exit_0_and_json_report_on_healthy(lab, capsys, tmp_path):
    run = lab("healthy")
    path = tmp_path / "r.json"
    assert main(["doctor", "--base-url", run.base_url, "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["schema_version"] == 1 and report["verdict"] == "pass"
    assert report["causes"] == []
    for check in report["checks"]:
        assert {"id", "status", "cause", "summary", "duration_s"} <= set(check)


def test_json_to_stdout(lab, capsys):
    run = lab("captive-portal")
    assert main(["doctor", "--base-url", run.base_url, "--json", "-"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["causes"] == ["http.not_api"] and report["verdict"] == "fail"


def test_triage_maps_a_real_message(capsys):
    assert main(["triage", "API Error: Connection refused — a firewall or proxy may be "
                 "blocking it (ECONNREFUSED)"]) == 0
    assert "tcp.refused" in capsys.readouterr().out


def test_triage_only_offers_runbooks_that_exist(capsys):
    """Every `runbooks run X` that triage suggests is a command that works."""
    from runbooks.causes import CAUSES
    from runbooks.execute import available

    for code in CAUSES:
        main(["triage", code])
    out = capsys.readouterr().out
    offered = {line.split("runbooks run ")[1].strip() for line in out.splitlines()
               if "runbook: runbooks run " in line}
    assert offered and offered <= set(available())


def test_list_shows_the_network_runbook_and_its_parameters(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("network") and "connect_timeout" in out


def test_blackhole_doctor_ends_near_its_budget():
    # bounded time is a correctness property: nothing waits on an OS default
    from runbooks.lab import running

    with running("blackhole") as lab:
        t = time.perf_counter()
        proc = run_cli("doctor", "--connect-timeout", "1", env=clean_subprocess_env(**lab.env))
        took = time.perf_counter() - t
    assert proc.returncode == 1 and "tcp.timeout" in proc.stdout
    assert took < 1 + 4  # budget + interpreter start, generously


def test_lab_start_prints_env_and_stops_cleanly_on_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "runbooks", "lab", "start", "healthy",
                             "--json"], stdout=subprocess.PIPE, text=True,
                            env=clean_subprocess_env())
    try:
        info = json.loads(proc.stdout.readline())
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert info["client_env"]["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
        ok = run_cli("doctor", env=clean_subprocess_env(**info["env"]))
        assert ok.returncode == 0, ok.stdout
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.stdout.close()
    # the port is free again: the lab really stopped
    gone = run_cli("doctor", "--connect-timeout", "1", env=clean_subprocess_env(**info["env"]))
    assert "tcp.refused" in gone.stdout


def test_python_dash_m_works():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("runbooks ")
