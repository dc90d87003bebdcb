"""The proxy path: which proxy Claude Code would pick, NO_PROXY, and the CONNECT step
against the lab's real forward proxy (proxy.py) and against loopback faults."""

from __future__ import annotations

import json
import time

import pytest

from conftest import clean_subprocess_env, run_cli
from runbooks.lab.faults import BlackHole, Silent
from runbooks.masking import mask_proxy
from runbooks.books.network import diagnose
from runbooks.proxy import choose_proxy, no_proxy_entry

FAST = dict(dns_timeout=1.0, connect_timeout=1.0, tls_timeout=1.0, read_timeout=1.0)


@pytest.mark.parametrize("env, chosen", [
    ({"HTTPS_PROXY": "http://a:1", "https_proxy": "http://b:2"}, "https_proxy"),
    ({"HTTP_PROXY": "http://a:1", "HTTPS_PROXY": "http://b:2"}, "HTTPS_PROXY"),
    ({"HTTP_PROXY": "http://a:1", "http_proxy": "http://b:2"}, "http_proxy"),
    ({"HTTP_PROXY": "http://a:1"}, "HTTP_PROXY"),
    ({"https_proxy": "  ", "HTTP_PROXY": "http://a:1"}, "HTTP_PROXY"),
])
def test_first_set_variable_wins_in_claude_codes_order(env, chosen):
    assert choose_proxy(env, "api.anthropic.com", 443).var == chosen


def test_no_proxy_variable_means_direct():
    assert choose_proxy({"NO_PROXY": "*"}, "api.anthropic.com", 443) is None


@pytest.mark.parametrize("no_proxy, host, port, entry", [
    ("*", "api.anthropic.com", 443, "*"),
    ("anthropic.com", "api.anthropic.com", 443, "anthropic.com"),
    (".anthropic.com", "api.anthropic.com", 443, ".anthropic.com"),
    (".anthropic.com", "anthropic.com", 443, ".anthropic.com"),
    ("*.anthropic.com", "api.anthropic.com", 443, "*.anthropic.com"),
    ("localhost, api.anthropic.com:443", "api.anthropic.com", 443, "api.anthropic.com:443"),
    ("localhost api.anthropic.com", "api.anthropic.com", 443, "api.anthropic.com"),
    ("api.anthropic.com:8443", "api.anthropic.com", 443, None),
    ("nthropic.com", "api.anthropic.com", 443, None),
    ("API.Anthropic.COM", "api.anthropic.com", 443, "API.Anthropic.COM"),
    ("127.0.0.1", "127.0.0.1", 8080, "127.0.0.1"),
    ("::1", "::1", 443, "::1"),
    ("[::1]:443", "::1", 443, "[::1]:443"),
    ("", "api.anthropic.com", 443, None),
])
def test_no_proxy_matching(no_proxy, host, port, entry):
    assert no_proxy_entry(no_proxy, host, port) == entry


@pytest.mark.parametrize("value, error, note", [
    ("http://proxy.corp:8080", None, None),
    ("proxy.corp:8080", None, "no scheme"),
    ("socks5://proxy.corp:1080", "SOCKS", None),
    ("ftp://proxy.corp:21", "not an HTTP proxy", None),
    ("http://proxy.corp:notaport", "not a URL", None),
    ("http://[::1:9", "not a URL", None),
    ("http://:8080", "no host", None),
])
def test_proxy_values(value, error, note):
    p = choose_proxy({"HTTPS_PROXY": value}, "api.anthropic.com", 443)
    assert (p.error is None) if error is None else (error in p.error)
    assert (p.note is None) if note is None else (note in p.note)


@pytest.mark.parametrize("value", [
    "http://bob:s3cretPW@127.0.0.1:9", "bob:s3cretPW@127.0.0.1:9",
    "http://bob:s3cretPW@127.0.0.1:notaport", "http://bob:s3cretPW@[::1:9",
    "socks5://bob:s3cretPW@127.0.0.1:1080",
])
def test_proxy_password_is_never_shown(value):
    assert "s3cretPW" not in mask_proxy(value)
    report = diagnose("http://127.0.0.1:9", env={"HTTPS_PROXY": value}, **FAST)
    assert "s3cretPW" not in json.dumps(report.to_dict())


def test_proxy_credentials_canary_through_the_cli(lab):
    """The password is used for the CONNECT (the tunnel opens) and appears nowhere."""
    run = lab("proxy-auth-ok")
    proc = run_cli("doctor", "--json", "-", env=clean_subprocess_env(**run.env))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["causes"] == []
    assert "lab-proxy-pass" not in proc.stdout + proc.stderr
    assert next(c for c in report["checks"] if c["id"] == "connect")["status"] == "pass"


def test_healthy_path_through_the_proxy_goes_through_it(lab):
    run = lab("proxy")
    report = diagnose(env=run.env, **FAST)
    by_id = {c.id: c for c in report.checks}
    proxy_port = run.env["HTTPS_PROXY"].rsplit(":", 1)[1]
    assert by_id["tcp.ipv4"].details["attempts"][0]["port"] == int(proxy_port)
    assert by_id["connect"].status == "pass" and "tunnel" in by_id["connect"].summary
    assert by_id["tls"].status == "pass" and by_id["http"].status == "pass"
    # the timings split the CONNECT exchange from the API's own answer
    assert {"connect", "tunnel", "tls", "first_byte", "total"} <= set(
        by_id["http"].details["timings_ms"])


def test_no_proxy_sends_the_target_direct_without_blame_when_direct_works(lab):
    run = lab("proxy")
    report = diagnose(env={**run.env, "NO_PROXY": "127.0.0.1"}, **FAST)
    proxy = next(c for c in report.checks if c.id == "proxy")
    assert proxy.status == "pass" and "NO_PROXY" in proxy.summary
    assert report.causes == [] and not any(c.id == "connect" for c in report.checks)


@pytest.mark.parametrize("fault, budget_note", [(BlackHole, "SYN"), (Silent, "CONNECT")])
def test_a_proxy_that_never_answers_costs_one_budget(fault, budget_note, lab):
    run = lab("healthy-tls")
    part = fault()
    try:
        t = time.perf_counter()
        report = diagnose(env={**run.env, "HTTPS_PROXY": part.url("http")}, **FAST)
        took = time.perf_counter() - t
    finally:
        part.close()
    assert report.causes == ["proxy.unreachable"], report
    assert took < 1.0 + 2.0  # one budget (1 s here) plus slack for a loaded machine, never an OS default
    failing = next(c for c in report.checks if c.cause == "proxy.unreachable")
    assert budget_note in failing.summary


def test_plain_http_target_through_a_proxy_skips_connect(lab):
    run = lab("proxy")
    api = lab("healthy")
    report = diagnose(env={**api.env, "HTTPS_PROXY": run.env["HTTPS_PROXY"]}, **FAST)
    by_id = {c.id: c for c in report.checks}
    assert by_id["connect"].status == "skip" and by_id["http"].status == "pass"
