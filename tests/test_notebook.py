"""The runbook notebook, in a real kernel: headless runs against the lab, nbval on the
stored output, and a canary proving no secret reaches any output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, clean_subprocess_env, run_cli
from runbooks.examples import NOTEBOOK_SCENARIOS, nbval_config

pytestmark = pytest.mark.notebook

CANARY = "sk-ant-api03-CANARY0canary0CANARY0canary0CANARY0canary-zz9Q"


@pytest.mark.parametrize("scenario, causes", [
    ("healthy-tls", []),
    ("refused", ["tcp.refused"]),
    ("tls-untrusted", ["tls.untrusted_issuer"]),
    ("proxy-denied", ["proxy.rejected"]),
])
def test_runbook_runs_headless_against_the_lab(lab, tmp_path, scenario, causes):
    run = lab(scenario)
    env = clean_subprocess_env(**run.env, ANTHROPIC_API_KEY=CANARY)
    proc = run_cli("run", "network", "-p", "connect_timeout=2", "--output-dir",
                   str(tmp_path / "out"), env=env, timeout=120)
    assert proc.returncode == (1 if causes else 0), proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "network.json").read_text())
    assert report["causes"] == causes and report["schema_version"] == 1
    assert "kernel start" in proc.stdout
    assert proc.stderr == ""  # nothing from the kernel's own start-up reaches the user
    executed = (tmp_path / "out" / "network.ipynb").read_text()
    assert '"output_type": "error"' not in executed
    # the canary: the key was in the environment, and is nowhere in what was written
    for text in (executed, json.dumps(report), proc.stdout, proc.stderr):
        assert CANARY not in text and "CANARY0canary" not in text


def test_papermill_directly(lab, tmp_path):
    run = lab("healthy")
    out = tmp_path / "out.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" /
                           "network.ipynb"), str(out), "-p", "base_url", run.base_url,
                           "-p", "report_path", str(tmp_path / "r.json"), "--no-progress-bar"],
                          capture_output=True, text=True, timeout=120,
                          env=clean_subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "pass"


def test_parameters_match_what_papermill_reads():
    from papermill import inspect_notebook

    from runbooks.execute import parameters

    ours = parameters("network")
    theirs = inspect_notebook(str(ROOT / "notebooks" / "network.ipynb"))
    assert set(ours) == set(theirs)
    for name, p in theirs.items():
        assert p["inferred_type_name"] == ours[name].type and p["help"], name


@pytest.mark.parametrize("name", sorted(NOTEBOOK_SCENARIOS))
def test_stored_output_is_honest(lab, tmp_path, name):
    """nbval re-runs the notebook against the same lab scenario it was stored from."""
    run = lab(NOTEBOOK_SCENARIOS[name])
    cfg = nbval_config(tmp_path / "sanitize.cfg")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                           "--nbval-sanitize-with", str(cfg), "-q", "-W", "ignore",
                           "-o", "addopts=", "-o", "filterwarnings=", str(ROOT / "notebooks" /
                           f"{name}.ipynb")], capture_output=True, text=True, timeout=180,
                          env=clean_subprocess_env(**run.env), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout


def test_stored_notebook_is_clean():
    text = (ROOT / "notebooks" / "network.ipynb").read_text()
    assert '"output_type": "error"' not in text
    assert "/root/" not in text and "/home/" not in text
    assert "Lab TLS Inspection CA" in text  # it carries a real run's output
