"""Every probe against every lab fault reports the right cause: real servers on loopback."""

from __future__ import annotations

import json
import time

import pytest

from runbooks import Budget, Status, diagnose
from runbooks.books.network import NetworkRun
from runbooks.lab import LAB_HOST, SCENARIOS
from runbooks.lab.dnsserver import LabDNS
from runbooks.lab.faults import BlackHole, Refused, Reset
from runbooks.probes.dns import Resolver, lookup_both
from runbooks.probes.tcp import connect, connect_families

FAST = {"dns_timeout": 1.0, "connect_timeout": 1.0, "tls_timeout": 1.0, "read_timeout": 1.0}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_doctor_names_the_scenarios_cause(lab, name):
    run = lab(name)
    report = diagnose(env=run.env, **run.params, **FAST)
    expect = SCENARIOS[name].expect
    assert sorted(report.causes) == sorted([expect, *SCENARIOS[name].also] if expect else []), report
    assert report.exit_code == (1 if expect else 0)


def test_untrusted_chain_names_the_inspection_ca(lab):
    run = lab("tls-untrusted")
    report = diagnose(env=run.env, **FAST)
    tls = next(c for c in report.checks if c.id == "tls")
    assert tls.details["issuer"] == "Lab TLS Inspection CA"
    assert "Lab TLS Inspection CA" in tls.summary
    # no copy of that CA is on this machine: IT has it (see tests/test_tls_story.py)
    assert "ask IT for the root CA 'Lab TLS Inspection CA'" in tls.fix
    assert "`runbooks fix --ca-file ca.pem`" in tls.fix
    assert tls.details["chain"], "the presented chain is reported even when untrusted"


def test_trusting_the_lab_ca_fixes_the_inspection_fault(lab):
    run = lab("tls-untrusted")
    # the user's fix: point NODE_EXTRA_CA_CERTS at the inspecting CA
    assert run.workdir is not None
    env = {**run.env, "NODE_EXTRA_CA_CERTS": str(run.workdir / "inspection-ca.pem")}
    report = diagnose(env=env, **FAST)
    assert report.verdict == "pass", report


def test_healthy_tls_reports_chain_and_timings(lab):
    run = lab("healthy-tls")
    report = diagnose(env=run.env, **FAST)
    checks = {c.id: c for c in report.checks}
    assert checks["tls"].details["version"].startswith("TLSv1.")
    assert checks["tls"].details["chain"][0]["sans"]
    timings = checks["http"].details["timings_ms"]
    assert {"connect", "tls", "first_byte", "total"} <= set(timings)
    assert checks["http"].details["status_code"] == 401


def test_bad_extra_ca_file_is_reported(lab, tmp_path):
    run = lab("healthy-tls")
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    report = diagnose(env={**run.env, "NODE_EXTRA_CA_CERTS": str(bogus)}, **FAST)
    assert "config.ca_file_invalid" in report.causes


def test_a_crashing_check_becomes_an_error_result_and_the_run_goes_on(lab, monkeypatch):
    run = lab("healthy")
    nr = NetworkRun.from_parameters(env=run.env, **FAST)
    monkeypatch.setattr("runbooks.probes.tcp.connect_families", lambda *a: 1 / 0)
    report = nr.run_all()
    tcp = next(c for c in report.checks if c.id == "tcp")
    assert tcp.status == Status.ERROR and "ZeroDivisionError" in tcp.summary
    assert report.verdict == "fail"


# -- the probes one by one ------------------------------------------------------------------------
def test_dns_two_families_and_nxdomain_through_a_real_server():
    dns = LabDNS({LAB_HOST: {"A": ["127.0.0.1"], "AAAA": ["::1"]}})
    try:
        res = Resolver.from_options(dns.address)
        both = lookup_both(LAB_HOST, res, 1.0)
        assert both["A"].addresses == ["127.0.0.1"] and both["AAAA"].addresses == ["::1"]
        missing = lookup_both("nope." + LAB_HOST, res, 1.0)
        assert {lk.outcome for lk in missing.values()} == {"nxdomain"}
        assert (LAB_HOST, "A") in dns.queries and (LAB_HOST, "AAAA") in dns.queries
    finally:
        dns.close()


def test_dns_timeout_ends_within_its_budget():
    dns = LabDNS(drop={LAB_HOST})
    try:
        t = time.perf_counter()
        both = lookup_both(LAB_HOST, Resolver.from_options(dns.address), 0.5)
        took = time.perf_counter() - t
        assert {lk.outcome for lk in both.values()} == {"timeout"}
        assert took < 0.5 + 1.0  # A and AAAA ran at once: one budget, not two
    finally:
        dns.close()


def test_resolve_pins_skip_dns(lab):
    run = lab("healthy-tls")
    port = run.base_url.rsplit(":", 1)[1]
    report = diagnose(f"https://{LAB_HOST}:{port}", env=run.env,
                      resolve=f"{LAB_HOST}:127.0.0.1", **FAST)
    dns = next(c for c in report.checks if c.id == "dns")
    assert dns.status == Status.SKIP and "pinned" in dns.summary
    assert report.verdict == "pass", report


def test_blackhole_connect_ends_at_its_budget_on_both_families():
    v4 = BlackHole("127.0.0.1")
    holes = [v4, BlackHole("::1", v4.port)]
    try:
        t = time.perf_counter()
        # both families race: a black hole on each costs one budget, not two
        res = connect_families(["::1", "127.0.0.1"], holes[0].port, 0.5)
        took = time.perf_counter() - t
        assert took < 0.5 + 1.0
        assert all(tries[-1].fault.cause == "tcp.timeout" for tries in res.values())
    finally:
        for h in holes:
            h.close()


def test_refused_and_reset_are_told_apart():
    refused, reset = Refused(), Reset()
    try:
        assert connect("127.0.0.1", refused.port, 1).fault.cause == "tcp.refused"
        assert connect("127.0.0.1", reset.port, 1).ok  # the reset comes after setup
    finally:
        refused.close()
        reset.close()


def test_budget_rejects_nonsense():
    with pytest.raises(ValueError):
        Budget(connect=0)
    with pytest.raises(ValueError):
        Budget(read=-1)


def test_client_certificate_problems_are_named(lab, tmp_path):
    """mTLS: a missing file and a key that does not match are config.ca_file_invalid; the
    passphrase is never shown."""
    run = lab("mtls")
    other = lab("healthy-tls")  # its CA file is a PEM certificate, but not our key's
    cases = [
        {"CLAUDE_CODE_CLIENT_CERT": str(tmp_path / "missing.pem")},
        {"CLAUDE_CODE_CLIENT_CERT": other.env["NODE_EXTRA_CA_CERTS"],
         "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE": "pass-CANARY-phrase"},
        {"CLAUDE_CODE_CLIENT_KEY": run.env["CLAUDE_CODE_CLIENT_KEY"],
         "CLAUDE_CODE_CLIENT_CERT": ""},
    ]
    for extra in cases:
        report = diagnose(env={**run.env, **extra}, **FAST)
        trust = next(c for c in report.checks if c.id == "trust")
        assert trust.cause == "config.ca_file_invalid", (extra, trust)
        assert "CANARY" not in json.dumps(report.to_dict())
