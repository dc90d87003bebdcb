"""`runbooks preflight`: exit 0 when it is safe to start a long task, 1 and one line why
otherwise; and the shell and CI examples the site shows, run as they are against the lab."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, clean_subprocess_env, run_cli

from runbooks.lab.api import LAB_REPLY


@pytest.mark.parametrize("scenario, code, words", [
    ("healthy", 0, "preflight: ok"),
    ("refused", 1, "not safe to start: tcp.refused"),
    ("auth-invalid", 1, "not safe to start: auth.invalid"),
    ("status-incident", 1, "not safe to start: status.incident"),
    ("status-unreachable", 0, "preflight: ok"),  # informational: never stops a task
    ("timeout-10min", 1, "not safe to start: config.timeout_invalid"),  # read as 10 ms
])
def test_preflight_says_go_or_why_not_in_one_line(lab, scenario, code, words):
    run = lab(scenario)
    proc = run_cli("preflight", env=clean_subprocess_env(**run.env))
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stdout.count("\n") == 1 and words in proc.stdout, proc.stdout


def test_preflight_is_quick_against_a_black_hole(lab):
    """Shorter budgets than the doctor's: a dead network is known in about two seconds."""
    import time

    run = lab("blackhole")
    t = time.perf_counter()
    proc = run_cli("preflight", "--quiet", env=clean_subprocess_env(**run.env))
    assert proc.returncode == 1 and "tcp.timeout" in proc.stdout
    assert time.perf_counter() - t < 2.0 + 4  # its connect budget, plus slack for a busy box


def test_quiet_prints_nothing_when_safe(lab):
    proc = run_cli("preflight", "--quiet", env=clean_subprocess_env(**lab("healthy").env))
    assert proc.returncode == 0 and proc.stdout == ""


def _client_on_path(tmp_path: Path, claude: str, run) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "claude").symlink_to(claude)
    (bin_dir / "runbooks").write_text(f"#!/bin/sh\nexec {sys.executable} -m runbooks \"$@\"\n")
    (bin_dir / "runbooks").chmod(0o755)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    # the lab's short API_TIMEOUT_MS (fast failures for other tests) is one preflight rightly
    # refuses: a user's set-up has the default
    client = {k: v for k, v in run.client_env.items() if k != "API_TIMEOUT_MS"}
    env = clean_subprocess_env(**{**client, "HOME": str(home)})
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


@pytest.mark.client
@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("bash"), reason="bash example")
@pytest.mark.parametrize("scenario, ok", [("healthy", True), ("refused", False)])
def test_the_sites_shell_example_runs(claude, lab, tmp_path, scenario, ok):
    env = _client_on_path(tmp_path, claude, lab(scenario))
    work = tmp_path / "job"
    work.mkdir()
    (work / "task.md").write_text("hello")
    proc = subprocess.run(["bash", str(ROOT / "docs" / "examples" / "preflight.sh")], cwd=work,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert (proc.returncode == 0) is ok, proc.stdout + proc.stderr
    if ok:
        assert (work / "result.md").read_text().strip() == LAB_REPLY
    else:
        assert "not starting the task" in proc.stderr and not (work / "result.md").exists()


@pytest.mark.client
@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("bash"), reason="bash steps")
@pytest.mark.parametrize("scenario, ok", [("healthy", True), ("refused", False)])
def test_the_sites_ci_example_runs(claude, lab, tmp_path, scenario, ok):
    """The workflow's own steps, in order, as a runner would run them (the install step is
    this checkout's, already done)."""
    job = yaml.safe_load((ROOT / "docs" / "examples" / "preflight-ci.yml").read_text())
    steps = [s for s in job["jobs"]["review"]["steps"] if "run" in s and "Install" not in
             s.get("name", "")]
    env = _client_on_path(tmp_path, claude, lab(scenario))
    env.update({k: v for k, v in job["jobs"]["review"]["env"].items() if "secrets" not in v})
    work = tmp_path / "job"
    work.mkdir()
    (work / "task.md").write_text("hello")
    for step in steps:
        proc = subprocess.run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=work, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode:
            break
    assert (proc.returncode == 0) is ok, (step["name"], proc.stdout + proc.stderr)
    if ok:
        assert (work / "result.md").read_text().strip() == LAB_REPLY
