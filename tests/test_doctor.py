"""One doctor over every runbook: for every lab scenario, with the client's own credential and
``--live``, the doctor names exactly the scenario's cause; independent checks run at once, and
checks that need the path skip with its reason when it is broken."""

from __future__ import annotations

import json
import os

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.doctor import DOCTOR_PARAMETERS, run_doctor
from runbooks.lab import LAB_API_KEY, SCENARIOS

BUDGETS = {"dns_timeout": 1.0, "connect_timeout": 1.0, "tls_timeout": 1.0, "read_timeout": 2.0}


def _values(**extra):
    return {**{k: p.default for k, p in DOCTOR_PARAMETERS.items()}, **BUDGETS, "live": True,
            **extra}


def _client_env(run) -> dict[str, str]:
    env = {**os.environ, **run.env}
    if "ANTHROPIC_API_KEY" not in run.client_unset:
        env["ANTHROPIC_API_KEY"] = LAB_API_KEY
    return env


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_doctor_names_every_scenarios_cause(lab, name):
    run = lab(name)
    report = run_doctor(_values(**{k: v for k, v in run.params.items() if k != "base_url"}),
                        env=_client_env(run))
    assert sorted(report.causes) == sorted(SCENARIOS[name].doctor_causes), report
    ids = [c.id for c in report.checks]
    assert len(ids) == len(set(ids)), "check ids are unique across runbooks"


def test_a_failing_helper_beside_a_key_leaves_the_key_to_check(lab):
    """helper-fails with ANTHROPIC_API_KEY set: v2.1.332 sends the key with a bare `Bearer`
    beside it (tests/test_client_api.py) and gets its answer. The doctor reports the helper,
    no conflict, and checks the key that travels instead of skipping for empty credentials."""
    run = lab("helper-fails")
    report = run_doctor(_values(), env={**os.environ, **run.env, "ANTHROPIC_API_KEY": LAB_API_KEY})
    assert report.causes == ["auth.helper_failed"], report
    accepted = next(c for c in report.checks if c.id == "accepted")
    assert accepted.status == "pass", accepted.summary


def test_the_doctor_json_has_every_runbooks_checks(lab):
    run = lab("healthy")
    proc = run_cli("doctor", "--json", "-", env=clean_subprocess_env(**run.env))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["id"]: c for c in report["checks"]}
    assert report["runbook"] == "doctor" and report["verdict"] == "pass"
    assert {"http", "credentials", "accepted", "timeout.request", "ratelimit.answer"} <= set(checks)
    headers = checks["credentials"]["details"]["headers"]
    assert headers["x-api-key"]["from"] == "ANTHROPIC_API_KEY"
    assert headers["x-api-key"]["where"] == "shell"
    assert LAB_API_KEY not in proc.stdout  # masked
    assert checks["timeout.request"]["details"]["effective_ms"] == 600000
    assert checks["timeout.request"]["details"]["source"] == "default"


def test_live_steps_skip_with_the_networks_reason(lab):
    run = lab("refused")
    report = run_doctor(_values(), env=_client_env(run))
    assert report.causes == ["tcp.refused"]
    skipped = {c.id: c.summary for c in report.checks if c.status == "skip"}
    assert "not reachable (tcp.refused)" in skipped["accepted"]
    assert "not reachable (tcp.refused)" in skipped["live.stream"]
