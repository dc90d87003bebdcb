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


def test_ansi_free_output_and_exit_1_on_findings(lab, capsys, keyed):
    run = lab("refused")
    assert main(["doctor", "--base-url", run.base_url]) == 1
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # not a terminal: no colour
    assert "cause: tcp.refused" in out and "1 issue found" in out


def test_exit_0_and_json_report_on_healthy(lab, capsys, tmp_path, keyed):
    run = lab("healthy")
    path = tmp_path / "r.json"
    assert main(["doctor", "--base-url", run.base_url, "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["schema_version"] == 1 and report["verdict"] == "pass"
    assert report["causes"] == []
    for check in report["checks"]:
        assert {"id", "status", "cause", "summary", "duration_s"} <= set(check)


def test_json_to_stdout(lab, capsys, keyed):
    run = lab("captive-portal")
    assert main(["doctor", "--base-url", run.base_url, "--json", "-"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["causes"] == ["http.not_api"] and report["verdict"] == "fail"


def test_triage_maps_a_real_message(capsys):
    assert main(["triage", REFUSED]) == 0
    assert "tcp.refused" in capsys.readouterr().out


def test_triage_only_offers_runbooks_that_exist(capsys):
    """Every `runbooks run X` that triage suggests is a command that works."""
    from runbooks.causes import CAUSES
    from runbooks.runner.execute import available

    for code in CAUSES:
        main(["triage", code])
    out = capsys.readouterr().out
    offered = {line.split("runbooks run ")[1].strip() for line in out.splitlines()
               if "runbook: runbooks run " in line}
    assert offered and offered <= set(available())


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


# -- triage: text, standard input, files; ranked; JSON -------------------------------------------
REFUSED = "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)"


def test_triage_reads_standard_input_and_files_binary_bytes_included(tmp_path):
    log = tmp_path / "debug.txt"
    log.write_bytes(b"\x00\xff\xfe binary noise \n" * 1000 + REFUSED.encode() + b"\n\xc3\x28")
    by_file = run_cli("triage", "--file", str(log), "--json")
    by_stdin = subprocess.run([sys.executable, "-m", "runbooks", "triage", "-", "--json"],
                              input=log.read_bytes(), capture_output=True, timeout=30,
                              env=clean_subprocess_env(), check=False)
    assert by_file.returncode == 0 and by_stdin.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout) == json.loads(by_stdin.stdout)
    assert json.loads(by_file.stdout)["causes"][0]["cause"] == "tcp.refused"


def test_triage_json_is_ranked_best_first_with_every_field(capsys):
    assert main(["triage", "--json", "Request timed out. ... set API_TIMEOUT_MS above 3000."]) == 0
    causes = json.loads(capsys.readouterr().out)["causes"]
    assert causes and all(set(c) == {"cause", "title", "page", "runbook", "check", "best",
                                     "score", "matched"} for c in causes)
    assert all(c["check"] and c["matched"] for c in causes[:2])
    # the longer, more specific signature ranks first
    assert causes[0]["cause"] == "config.timeout_too_low"
    assert causes[0]["page"].endswith("timeouts/#config.timeout_too_low")


def test_triage_json_with_nothing_found_exits_1(capsys):
    assert main(["triage", "--json", "all is well"]) == 1
    assert json.loads(capsys.readouterr().out) == {"causes": [], "version": None, "notes": []}


def test_triage_dash_is_standard_input_not_a_message():
    proc = subprocess.run([sys.executable, "-m", "runbooks", "triage", "-"], input=b"",
                          capture_output=True, timeout=30, env=clean_subprocess_env(), check=False)
    assert proc.returncode == 2 and b"no error text" in proc.stderr


# -- output that cannot be written ----------------------------------------------------------------
def test_a_closed_pipe_is_not_a_traceback():
    """`runbooks list | head -1`: the reader goes away; no BrokenPipeError traceback."""
    import shutil

    if not shutil.which("head") or sys.platform == "win32":
        pytest.skip("needs a POSIX shell pipeline")
    proc = subprocess.run(f"{sys.executable} -m runbooks lab list | head -c 1", shell=True,
                          capture_output=True, text=True, timeout=30, env=clean_subprocess_env(), check=False)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_a_full_disk_is_one_line():
    from pathlib import Path

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "runbooks", "lab", "list"], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=30,
                              env=clean_subprocess_env(), check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "No space left" in proc.stderr


# -- the lab cleans up however it is stopped -----------------------------------------------------
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_lab_start_removes_its_folder_on_every_stop_signal(sig, tmp_path):
    """The lab's temporary folder holds private keys (the TLS proxy's): gone on Ctrl-C,
    SIGTERM, and SIGHUP (a closed terminal) alike."""
    if not hasattr(signal, sig):
        pytest.skip(f"no {sig} here")
    env = clean_subprocess_env(TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "runbooks", "lab", "start", "proxy-tls",
                             "--json"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        json.loads(proc.stdout.readline())
        assert list(tmp_path.glob("runbooks-lab-*")), "the lab made no folder"
        proc.send_signal(getattr(signal, sig))
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
        proc.stdout.close()
    assert not list(tmp_path.glob("runbooks-lab-*"))


def test_list_shows_every_runbook_with_its_parameters(capsys):
    from runbooks.books import RUNBOOKS

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for rid, cls in RUNBOOKS.items():
        assert f"{rid}: " in out
        for name in cls.PARAMETERS:
            assert f"-p {name}=" in out


def test_doctor_switches_are_switches_on_every_command_that_takes_them():
    """`--live` and `--all-projects` take no value, on `doctor` and on `fix` alike."""
    from runbooks.cli import build_parser
    from runbooks.doctor import DOCTOR_PARAMETERS

    parser = build_parser()
    switches = [p for p in DOCTOR_PARAMETERS.values() if p.type is bool
                and p.name not in ("apply", "trust_ca")]
    assert switches
    for command in ("doctor", "fix"):
        for p in switches:
            if command == "fix" and p.name in ("live",):
                continue
            args = parser.parse_args([command, p.option])
            assert getattr(args, p.name) is True, (command, p.option)


def test_list_json_names_every_runbook_with_its_parameters():
    import json

    from runbooks.books import RUNBOOKS

    proc = run_cli("list", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {r["id"]: r for r in json.loads(proc.stdout)["runbooks"]}
    assert list(listed) == list(RUNBOOKS)
    for rid, cls in RUNBOOKS.items():
        assert [p["name"] for p in listed[rid]["parameters"]] == list(cls.PARAMETERS)
        assert listed[rid]["notebook"].endswith(f"{rid}.ipynb")
    assert {rid for rid, r in listed.items() if r["offline"]} == {"recovery", "debugging"}
