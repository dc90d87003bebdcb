"""Bounded, whatever the other side does: servers on loopback that send one byte a second
(every read succeeds within its timeout, so only a deadline on the whole exchange ends them)
cost each request the sum of its phases' budgets, never more, and the cause says what the
server was doing when the deadline passed."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.budget import Budget, Deadline, DeadlineExceeded
from runbooks.client.target import Target
from runbooks.lab import LAB_API_KEY
from runbooks.lab.api import FakeAPI
from runbooks.lab.faults import Trickler, TrickleTLS
from runbooks.lab.pki import LabPKI
from runbooks.lab.statuspage import FakeStatusPage

#: Small budgets: a request to a plain-HTTP port has connect + first byte = 2 s.
FAST = Budget(dns=1.0, connect=1.0, tls=1.0, read=1.0)
#: What scheduling on a loaded machine may add to a bound; a hang is minutes, not this.
MARGIN = 3.0


def _target(url: str) -> Target:
    from runbooks.client.target import resolve_target

    return resolve_target(url, env={})


def _trusting(pki: LabPKI) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.ca_file))


@pytest.fixture
def trickle_api():
    servers: list[FakeAPI] = []

    def make(behaviour: str) -> FakeAPI:
        api = FakeAPI(behaviour=behaviour, delay=0.2)  # a byte every 0.2 s: reads never wait
        servers.append(api)
        return api
    yield make
    for s in servers:
        s.close()


# -- the deadline itself ------------------------------------------------------------------------
def test_a_request_deadline_is_the_sum_of_its_phases_budgets():
    b = Budget(dns=1, connect=2, tls=3, read=4)
    assert b.request_s(tls=False) == 6  # connect + first byte
    assert b.request_s(tls=True) == 9  # + TLS
    assert b.request_s(tls=True, dns=True) == 10  # + a name to look up
    assert b.request_s(tls=True, proxy="http://p:8080") == 13  # + the answer to CONNECT
    assert b.request_s(tls=True, proxy="https://p:8443") == 16  # + TLS to the proxy
    assert b.request_s(tls=False, proxy="http://p:8080") == 6  # plain HTTP: no tunnel
    assert b.request_s(tls=False, read=10) == 12  # a longer first-byte wait


def test_a_deadline_caps_every_wait_and_then_refuses():
    d = Deadline(0.2)
    assert d.cap(10) == (pytest.approx(0.2, abs=0.05), True)
    assert d.cap(0.01) == (0.01, False)
    time.sleep(0.25)
    with pytest.raises(DeadlineExceeded):
        d.cap(10)


# -- each probe, against each trickle -------------------------------------------------------------
@pytest.mark.parametrize("behaviour, cause", [
    ("trickle_head", "http.first_byte_timeout"),  # the headers come a byte at a time
    ("trickle_body", "http.stream_stall"),  # the headers at once, then the body a byte at a time
])
def test_an_answer_that_trickles_ends_at_the_requests_deadline(trickle_api, behaviour, cause):
    from runbooks.probes.http import probe

    api = trickle_api(behaviour)
    t0 = time.monotonic()
    ex = probe(_target(api.url), None, None, FAST)
    took = time.monotonic() - t0
    assert ex.cause == cause, ex
    assert "still sending" in ex.summary and "after 2 s" in ex.summary, ex.summary
    assert took < 2 + MARGIN, took


def test_a_live_stream_that_trickles_ends_at_its_deadline(trickle_api, monkeypatch):
    from runbooks.probes.context import Context
    from runbooks.probes.live import message

    api = trickle_api("trickle_body")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
    ctx = Context.build({"connect_timeout": 1.0, "read_timeout": 1.0, "tls_timeout": 1.0,
                         "dns_timeout": 1.0})
    t0 = time.monotonic()
    run = message(ctx, {"x-api-key": LAB_API_KEY}, idle_s=1.0)
    took = time.monotonic() - t0
    assert run.answer.cause == "http.stream_stall", run.answer
    assert "still sending" in run.answer.summary, run.answer.summary
    assert took < 4 + MARGIN, took  # connect 1 + first event 1 + the stream's own 2 (2 × idle)


def test_a_status_page_that_trickles_is_unreachable_within_its_deadline():
    from runbooks.probes.status import fetch_status

    page = FakeStatusPage(trickle_s=0.2)
    try:
        t0 = time.monotonic()
        got = fetch_status(page.url, {}, FAST)
        took = time.monotonic() - t0
    finally:
        page.close()
    assert not got.ok and "still sending" in (got.error or ""), got
    assert took < 2 + MARGIN, took


def test_a_proxy_that_trickles_its_connect_answer_is_named_within_the_read_budget():
    from runbooks.client.proxy import choose_proxy
    from runbooks.probes.tunnel import connect_through

    proxy = Trickler(b"HTTP/1.1 200 Connection established\r\n", b"Via: 1.1 lab\r\n", 0.2)
    try:
        choice = choose_proxy({"HTTPS_PROXY": proxy.url()}, "api.lab.test", 443, "https")
        t0 = time.monotonic()
        tun = connect_through(choice, "127.0.0.1", "api.lab.test", 443, 1.0, 1.0)
        took = time.monotonic() - t0
    finally:
        proxy.close()
    assert not tun.ok and tun.fault.cause == "proxy.unreachable", tun
    assert "still sending" in tun.fault.message, tun.fault.message
    assert took < 1 + MARGIN, took


def test_a_forward_proxy_that_trickles_ends_at_the_requests_deadline():
    """httpx's own CONNECT (the HTTP step through a proxy) is bounded too."""
    from runbooks.probes.http import probe

    proxy = Trickler(b"HTTP/1.1 200 Connection established\r\n", b"Via: 1.1 lab\r\n", 0.2)
    try:
        t0 = time.monotonic()
        ex = probe(_target("https://api.lab.test"), None, None, FAST, proxy=proxy.url())
        took = time.monotonic() - t0
    finally:
        proxy.close()
    assert ex.cause == "http.first_byte_timeout" and "still sending" in ex.summary, ex
    assert took < FAST.request_s(tls=True, proxy=proxy.url()) + MARGIN, took


def test_a_tls_handshake_that_trickles_ends_at_the_tls_budget(tmp_path):
    from runbooks.probes.tls import handshake

    pki = LabPKI(tmp_path)
    server = TrickleTLS(pki.server_context("good"), 0.2)
    try:
        t0 = time.monotonic()
        hs = handshake("127.0.0.1", server.port, "localhost", _trusting(pki), 1.0, 1.0)
        took = time.monotonic() - t0
    finally:
        server.close()
    assert not hs.ok and hs.fault.cause == "http.first_byte_timeout", hs
    assert "did not complete" in hs.fault.message, hs.fault.message
    assert took < 1 + MARGIN, took


def test_a_tls_handshake_that_trickles_inside_a_tls_proxys_tunnel_is_bounded(tmp_path):
    """TLS inside TLS (an https:// proxy) is read by our own loop, each read capped too."""
    from runbooks.lab.proxy import LabProxy
    from runbooks.probes.http import request

    pki = LabPKI(tmp_path)
    server = TrickleTLS(pki.server_context("good"), 0.2)
    proxy = LabProxy(tmp_path, tls=pki.server_files("proxy"))
    try:
        target = _target(f"https://localhost:{server.port}")
        t0 = time.monotonic()
        with pytest.raises(Exception) as err, \
                request(target, None, _trusting(pki), FAST, proxy=proxy.url):
            pass
        took = time.monotonic() - t0
    finally:
        proxy.close()
        server.close()
    assert isinstance(err.value.__cause__ or err.value.__context__, DeadlineExceeded), err
    assert took < FAST.request_s(tls=True, proxy=proxy.url, dns=True) + MARGIN, took


# -- the commands, end to end ---------------------------------------------------------------------
#: scenario → (the doctor's check that sees it, its cause, what preflight's line says)
TRICKLES = {
    "trickle-head": ("http", "http.first_byte_timeout", "http.first_byte_timeout"),
    "trickle-body": ("http", "http.stream_stall", "http.stream_stall"),
    "status-trickle": ("status", "status.unreachable", "preflight: ok"),
    "proxy-trickle": ("connect", "proxy.unreachable", "proxy.unreachable"),
    "tls-trickle": ("tls", "http.first_byte_timeout", "http.first_byte_timeout"),
}


@pytest.mark.parametrize("name", sorted(TRICKLES))
def test_doctor_and_preflight_finish_within_their_budgets(lab, name):
    """Both commands at once, each against its own copy of the scenario. A request costs at
    most the sum of its phases' budgets: the doctor's given here (connect 1 + first byte 1,
    TLS 1, through a proxy its answer to CONNECT 1), preflight's own (TLS 3 s)."""
    runs = {cmd: lab(name) for cmd in ("doctor", "preflight")}
    opts = ["--connect-timeout", "1", "--read-timeout", "1"]
    out: dict[str, tuple[float, subprocess.CompletedProcess]] = {}

    def one(cmd: str) -> None:
        extra = ["--tls-timeout", "1", "--dns-timeout", "1", "--json", "-"] \
            if cmd == "doctor" else []
        t0 = time.monotonic()
        proc = run_cli(cmd, *opts, *extra, env=clean_subprocess_env(**runs[cmd].env), timeout=60)
        out[cmd] = (time.monotonic() - t0, proc)

    threads = [threading.Thread(target=one, args=(c,)) for c in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check_id, cause, line = TRICKLES[name]
    took, proc = out["doctor"]
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks[check_id]["cause"] == cause, checks[check_id]
    assert "still sending" in checks[check_id]["summary"] or name == "tls-trickle", \
        checks[check_id]
    assert took < 4 + MARGIN + 2, took  # the longest request it makes; + start-up, the report
    took, proc = out["preflight"]
    assert line in proc.stdout, proc.stdout + proc.stderr
    assert took < 6 + MARGIN + 2, took


def test_a_truncated_dns_answer_is_not_retried_over_tcp():
    """--nameserver asks over UDP only: one datagram, one wait within the DNS budget. A
    truncated answer is taken as it is, never fetched again over TCP, where a trickling
    server (here, on the same port) would hold the lookup."""
    from runbooks.lab.dnsserver import LabDNS
    from runbooks.probes.dns import Resolver, lookup

    class Truncating(LabDNS):
        def answer(self, query):
            reply = query.reply()
            reply.header.tc = 1
            return reply

    dns = Truncating()
    tcp = Trickler(b"\x00\x40", b"\x00", 0.2, port=dns.port)  # a length, then a byte at a time
    try:
        t0 = time.monotonic()
        got = lookup("api.lab.test", "A", Resolver(("127.0.0.1", dns.port)), 1.0)
        took = time.monotonic() - t0
    finally:
        tcp.close()
        dns.close()
    assert got.outcome == "nodata" and not tcp._held, got
    assert took < 1 + MARGIN, took
