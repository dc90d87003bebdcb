"""The proxy path: which proxy Claude Code would pick, NO_PROXY, and the CONNECT step
against the lab's real forward proxy (proxy.py) and against loopback faults."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.books.network import diagnose
from runbooks.client.proxy import choose_proxy, no_proxy_entry
from runbooks.lab.faults import BlackHole, Silent
from runbooks.masking import mask_proxy

FAST = {"dns_timeout": 1.0, "connect_timeout": 1.0, "tls_timeout": 1.0, "read_timeout": 1.0}


A, B = "http://127.0.0.1:1111", "http://127.0.0.1:2222"


def _route(env, url="https://api.lab.test"):
    """Where Claude Code would send a request to ``url``: "A", "B", "direct" or "error"."""
    u = urlsplit(url)
    p = choose_proxy(env, u.hostname, u.port or {"http": 80, "https": 443}[u.scheme], u.scheme)
    if p is None or (p.error is None and not p.in_effect):
        return "direct"
    if p.error:
        return "error"
    return {1111: "A", 2222: "B"}.get(p.port, p.endpoint)


@pytest.mark.parametrize("env, chosen", [
    # lowercase first: https_proxy beats HTTPS_PROXY
    ({"HTTPS_PROXY": B, "https_proxy": A}, "https_proxy"),
    # https before http, whatever the target's scheme
    ({"HTTP_PROXY": B, "HTTPS_PROXY": A}, "HTTPS_PROXY"),
    # http_proxy beats HTTP_PROXY
    ({"HTTP_PROXY": B, "http_proxy": A}, "http_proxy"),
    # HTTP_PROXY alone is used for an https:// target too
    ({"HTTP_PROXY": A}, "HTTP_PROXY"),
    # any of the four beats all_proxy
    ({"all_proxy": B, "HTTP_PROXY": A}, "HTTP_PROXY"),
    # all_proxy is the fallback, lowercase first
    ({"ALL_PROXY": B, "all_proxy": A}, "all_proxy"),
    # ALL_PROXY alone
    ({"ALL_PROXY": A}, "ALL_PROXY"),
    # an empty variable counts as unset
    ({"https_proxy": "", "HTTP_PROXY": A}, "HTTP_PROXY"),
    # a value of spaces is not empty: it wins (and fails as a URL)
    ({"https_proxy": "  ", "HTTP_PROXY": A}, "https_proxy"),
])
def test_first_non_empty_variable_wins_in_claude_codes_order(env, chosen):
    assert choose_proxy(env, "api.anthropic.com", 443, "https").var == chosen


def test_no_proxy_variable_means_direct():
    assert choose_proxy({"NO_PROXY": "*"}, "api.anthropic.com", 443) is None


@pytest.mark.parametrize("no_proxy, host, port, entry", [
    # * alone bypasses everything
    ("*", "api.anthropic.com", 443, "*"),
    # * anywhere in the list too
    ("example.org,*", "api.anthropic.com", 443, "*"),
    # a bare domain matches its subdomains …
    ("anthropic.com", "api.anthropic.com", 443, "anthropic.com"),
    # … and itself
    ("anthropic.com", "anthropic.com", 443, "anthropic.com"),
    # a leading dot is the same rule
    (".anthropic.com", "api.anthropic.com", 443, ".anthropic.com"),
    # a leading dot also matches the domain itself
    (".anthropic.com", "anthropic.com", 443, ".anthropic.com"),
    # *. is the same rule again
    ("*.anthropic.com", "api.anthropic.com", 443, "*.anthropic.com"),
    # … and matches the domain itself too
    ("*.lab.test", "lab.test", 80, "*.lab.test"),
    # only at a label boundary
    ("ab.test", "api.lab.test", 443, None),
    # a sibling is not a subdomain
    ("pi.lab.test", "api.lab.test", 443, None),
    # a deeper name does not cover its parent
    ("x.api.lab.test", "api.lab.test", 443, None),
    # other globs match nothing
    ("*lab.test", "api.lab.test", 443, None),
    # … wildcard in the middle
    ("api.*.test", "api.lab.test", 443, None),
    # … nor *.*
    ("*.*", "api.lab.test", 443, None),
    # case-insensitive, entry side
    ("API.Lab.TEST", "api.lab.test", 443, "API.Lab.TEST"),
    # case-insensitive, host side
    ("lab.test", "API.LAB.TEST", 443, "lab.test"),
    # one trailing dot in the entry is ignored
    ("lab.test.", "api.lab.test", 443, "lab.test."),
    # … but not two
    ("lab.test..", "api.lab.test", 443, None),
    # commas, spaces and tabs separate entries; empty ones are skipped
    (" ,, foo\tapi.lab.test ,", "api.lab.test", 443, "api.lab.test"),
    # a newline separates too
    ("foo\n127.0.0.0/8", "127.0.0.1", 443, "127.0.0.0/8"),
    # a semicolon does not
    ("foo;api.lab.test", "api.lab.test", 443, None),
    # host:PORT matches that port …
    ("api.lab.test:8443", "api.lab.test", 8443, "api.lab.test:8443"),
    # … only
    ("api.lab.test:8443", "api.lab.test", 443, None),
    # a domain entry with a port covers subdomains on that port
    ("lab.test:8443", "api.lab.test", 8443, "lab.test:8443"),
    # an empty or non-numeric port matches nothing
    ("api.lab.test:", "api.lab.test", 443, None),
    # IPv4 addresses match exactly
    ("127.0.0.1", "127.0.0.1", 8080, "127.0.0.1"),
    # another address does not
    ("127.0.0.2", "127.0.0.1", 8080, None),
    # IPv4 with a port
    ("127.0.0.1:8080", "127.0.0.1", 8080, "127.0.0.1:8080"),
    # CIDR ranges match IP hosts
    ("127.0.0.0/8", "127.0.0.1", 8080, "127.0.0.0/8"),
    # host bits in the range are fine
    ("127.0.0.1/8", "127.0.0.2", 8080, "127.0.0.1/8"),
    # a range that does not contain the host
    ("127.0.0.2/31", "127.0.0.1", 8080, None),
    # a prefix out of range matches nothing
    ("127.0.0.1/33", "127.0.0.1", 8080, None),
    # a netmask is not a prefix length
    ("127.0.0.0/255.0.0.0", "127.0.0.1", 8080, None),
    # a range with a port matches nothing
    ("127.0.0.0/8:8080", "127.0.0.1", 8080, None),
    # partial IPs are not prefixes
    ("127.0.0", "127.0.0.1", 8080, None),
    # … nor with a star
    ("127.*", "127.0.0.1", 8080, None),
    # leading zeros: not an address, so nothing
    ("127.000.000.001", "127.0.0.1", 8080, None),
    # a name never matches an IP host (no DNS) …
    ("localhost", "127.0.0.1", 8080, None),
    # … nor an IP entry a name (no localhost aliasing)
    ("127.0.0.1", "localhost", 8080, None),
    # a range never matches a name
    ("127.0.0.0/8", "localhost", 8080, None),
    # IPv6: bare
    ("::1", "::1", 443, "::1"),
    # IPv6: bracketed
    ("[::1]", "::1", 443, "[::1]"),
    # IPv6: bracketed with the port
    ("[::1]:443", "::1", 443, "[::1]:443"),
    # IPv6: bracketed with another port
    ("[::1]:1", "::1", 443, None),
    # IPv6: a bare address cannot carry a port
    ("::1:443", "::1", 443, None),
    # IPv6: by value, not by spelling
    ("0:0:0:0:0:0:0:1", "::1", 443, "0:0:0:0:0:0:0:1"),
    # IPv6: CIDR
    ("::1/128", "::1", 443, "::1/128"),
    # IPv6: the whole space
    ("::/0", "::1", 443, "::/0"),
    # IPv4-mapped IPv6 entry matches the IPv4 host
    ("::ffff:127.0.0.1", "127.0.0.1", 80, "::ffff:127.0.0.1"),
    # … and a mapped range too
    ("::ffff:0:0/96", "127.0.0.1", 80, "::ffff:0:0/96"),
    # an IPv4 range never matches an IPv6 host
    ("127.0.0.0/8", "::1", 443, None),
    # an entry with a scheme matches nothing
    ("http://api.lab.test", "api.lab.test", 443, None),
    # the client's simple check is a plain suffix: ".0.0.1" catches 127.0.0.1
    (".0.0.1", "127.0.0.1", 80, ".0.0.1"),
    # nothing at all
    ("", "api.anthropic.com", 443, None),
])
def test_no_proxy_matching(no_proxy, host, port, entry):
    assert no_proxy_entry(no_proxy, host, port) == entry


@pytest.mark.parametrize("env, url, route", [
    # a URL without a port has its scheme's default: 443 …
    ({"HTTPS_PROXY": A, "NO_PROXY": "api.lab.test:443"}, "https://api.lab.test", "direct"),
    # … and 80
    ({"HTTPS_PROXY": A, "NO_PROXY": "api.lab.test:80"}, "http://api.lab.test", "direct"),
    # loopback is not exempted
    ({"HTTPS_PROXY": A}, "http://127.0.0.1:8080", "A"),
    # no_proxy beats NO_PROXY for the full rules (a CIDR range only they know)
    ({"HTTPS_PROXY": A, "no_proxy": "127.0.0.0/8", "NO_PROXY": "x"}, "http://127.0.0.1:9",
     "direct"),
    # … so NO_PROXY's range is not read
    ({"HTTPS_PROXY": A, "no_proxy": "x", "NO_PROXY": "127.0.0.0/8"}, "http://127.0.0.1:9",
     "A"),
    # an empty no_proxy counts as unset
    ({"HTTPS_PROXY": A, "no_proxy": "", "NO_PROXY": "127.0.0.0/8"}, "http://127.0.0.1:9",
     "direct"),
    # a no_proxy of spaces is set (and says nothing)
    ({"HTTPS_PROXY": A, "no_proxy": "  ", "NO_PROXY": "127.0.0.0/8"}, "http://127.0.0.1:9",
     "A"),
    # the simple check reads NO_PROXY too: HTTPS_PROXY dropped for an http:// target, and no
    # http_proxy to fall back on
    ({"HTTPS_PROXY": A, "no_proxy": "x", "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:9",
     "direct"),
    # … for an https:// target the runtime takes HTTPS_PROXY again
    ({"HTTPS_PROXY": A, "no_proxy": "x", "NO_PROXY": "127.0.0.1"}, "https://127.0.0.1:9",
     "A"),
    # … and with http_proxy set, an http:// target goes through it instead
    ({"HTTPS_PROXY": A, "http_proxy": B, "no_proxy": "x", "NO_PROXY": "127.0.0.1"},
     "http://127.0.0.1:9", "B"),
    # … or through all_proxy
    ({"HTTPS_PROXY": A, "ALL_PROXY": B, "no_proxy": "x", "NO_PROXY": "127.0.0.1"},
     "http://127.0.0.1:9", "B"),
    # NO_PROXY=* with another no_proxy: only the simple check sees the *
    ({"HTTPS_PROXY": A, "no_proxy": "x", "NO_PROXY": "*"}, "https://127.0.0.1:9", "A"),
    # the simple check's suffix ".0.0.1" drops HTTPS_PROXY, all_proxy takes over
    ({"HTTPS_PROXY": A, "all_proxy": B, "NO_PROXY": ".0.0.1"}, "http://127.0.0.1:9", "B"),
    # a SOCKS http_proxy as the runtime's fallback fails once used
    ({"HTTPS_PROXY": A, "http_proxy": "socks5://127.0.0.1:1", "no_proxy": "x",
      "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:9", "error"),
    # a SOCKS all_proxy as the fallback is ignored: direct
    ({"HTTPS_PROXY": A, "all_proxy": "socks5://127.0.0.1:1", "no_proxy": "x",
      "NO_PROXY": "127.0.0.1"}, "http://127.0.0.1:9", "direct"),
    # all_proxy alone obeys the full rules
    ({"all_proxy": A, "NO_PROXY": "127.0.0.0/8"}, "http://127.0.0.1:9", "direct"),
    # … but not the simple check
    ({"all_proxy": A, "no_proxy": "x", "NO_PROXY": "127.0.0.1"}, "https://127.0.0.1:9", "A"),
    # a SOCKS all_proxy is ignored: direct
    ({"ALL_PROXY": "socks5://127.0.0.1:1080"}, "https://api.lab.test", "direct"),
    # a SOCKS HTTPS_PROXY fails when used …
    ({"HTTPS_PROXY": "socks5://127.0.0.1:1080"}, "https://api.lab.test", "error"),
    # … and not when NO_PROXY sends the target around it
    ({"HTTPS_PROXY": "socks5://127.0.0.1:1080", "NO_PROXY": "*"}, "https://api.lab.test",
     "direct"),
    # an unparsable value stops the client whatever NO_PROXY says
    ({"HTTPS_PROXY": "http://[::1", "NO_PROXY": "*"}, "https://api.lab.test", "error"),
    # an IPv6 target, bypassed by its bracketed address
    ({"HTTPS_PROXY": A, "NO_PROXY": "[::1]"}, "http://[::1]:9", "direct"),
    # … and through the proxy otherwise
    ({"HTTPS_PROXY": A}, "http://[::1]:9", "A"),
])
def test_route(env, url, route):
    assert _route(env, url) == route


@pytest.mark.parametrize("var, value, error, note, endpoint", [
    # a plain URL
    ("HTTPS_PROXY", "http://proxy.corp:8080", None, None, "proxy.corp:8080"),
    # no port: the scheme's default
    ("HTTPS_PROXY", "http://proxy.corp", None, None, "proxy.corp:80"),
    # host:port without a scheme is read as http:// (https_proxy/HTTPS_PROXY, -p mode)
    ("HTTPS_PROXY", "proxy.corp:8080", None, "no scheme", "proxy.corp:8080"),
    # … an IPv4 address too
    ("https_proxy", "127.0.0.1:3128", None, "no scheme", "127.0.0.1:3128"),
    # … but not for http_proxy: it does not parse
    ("http_proxy", "127.0.0.1:3128", "cannot be parsed as a URL", None, None),
    # host alone, no scheme, no port
    ("HTTPS_PROXY", "127.0.0.1", "cannot be parsed as a URL", None, None),
    # the examples facts.md names
    ("HTTPS_PROXY", "host:8080:extra", "cannot be parsed as a URL", None, None),
    # … a scheme and nothing else
    ("HTTPS_PROXY", "http://", "cannot be parsed as a URL", None, None),
    # … an unclosed IPv6 bracket
    ("HTTPS_PROXY", "http://[::1", "cannot be parsed as a URL", None, None),
    # a non-numeric port
    ("HTTPS_PROXY", "http://proxy.corp:notaport", "cannot be parsed as a URL", None, None),
    # a port above 65535
    ("HTTPS_PROXY", "http://proxy.corp:99999", "cannot be parsed as a URL", None, None),
    # no host
    ("HTTPS_PROXY", "http://:8080", "cannot be parsed as a URL", None, None),
    # spaces only: set, and not a URL
    ("HTTPS_PROXY", "   ", "cannot be parsed as a URL", None, None),
    # quotes are part of the value
    ("HTTPS_PROXY", '"http://proxy.corp:8080"', "cannot be parsed as a URL", None, None),
    # spaces around a URL are trimmed by the parser
    ("HTTPS_PROXY", " http://proxy.corp:8080 ", None, None, "proxy.corp:8080"),
    # the parser's own spellings of an address
    ("HTTPS_PROXY", "http://127.1:3128", None, None, "127.0.0.1:3128"),
    # a bracketed IPv6 proxy
    ("HTTPS_PROXY", "http://[::1]:3128", None, None, "[::1]:3128"),
    # a TLS proxy
    ("HTTPS_PROXY", "https://proxy.corp", None, None, "proxy.corp:443"),
    # SOCKS is not supported
    ("HTTPS_PROXY", "socks5://proxy.corp:1080", "SOCKS", None, None),
    # nor another scheme
    ("HTTPS_PROXY", "ftp://proxy.corp:21", "not an HTTP proxy", None, None),
])
def test_proxy_values(var, value, error, note, endpoint):
    p = choose_proxy({var: value}, "api.anthropic.com", 443, "https")
    assert (p.error is None) if error is None else (error in p.error), p.error
    assert (p.note is None) if note is None else (note in p.note)
    if endpoint:
        assert p.endpoint == endpoint


@pytest.mark.parametrize("settings_vars, error", [
    # from the shell: repaired to http://
    ((), False),
    # from a settings file's env block: not repaired, the client stops
    (("HTTPS_PROXY",), True),
])
def test_host_port_is_repaired_only_from_the_shell(settings_vars, error):
    p = choose_proxy({"HTTPS_PROXY": "127.0.0.1:3128"}, "api.anthropic.com", 443, "https",
                     settings_vars)
    assert (p.error is not None) == error


def test_an_unparsable_value_is_quoted_as_the_client_says_it():
    p = choose_proxy({"HTTPS_PROXY": "host:8080:extra"}, "api.anthropic.com", 443)
    assert p.error.startswith('Invalid proxy URL in HTTPS_PROXY: "host:8080:extra" cannot be '
                              "parsed as a URL.")


def test_the_fallback_is_named():
    p = choose_proxy({"HTTPS_PROXY": A, "http_proxy": B, "no_proxy": "x",
                      "NO_PROXY": "127.0.0.1"}, "127.0.0.1", 9, "http")
    d = p.to_dict()
    assert (d["variable"], d["skipped_variable"], d["skipped_by"]) == \
        ("http_proxy", "HTTPS_PROXY", "127.0.0.1")
    assert "http_proxy instead" in p.note


@pytest.mark.parametrize("value", [
    "http://bob:s3cretPW@127.0.0.1:9", "bob:s3cretPW@127.0.0.1:9",
    "http://bob:s3cretPW@127.0.0.1:notaport", "http://bob:s3cretPW@[::1:9",
    "socks5://bob:s3cretPW@127.0.0.1:1080", "bob:s3cretPW@host:8080:extra",
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


def test_the_recording_proxy_records_and_forwards_on_loopback_only():
    """The lab's recorder: absolute-form requests and CONNECT tunnels reach the API (a name
    is reached at 127.0.0.1), an address off loopback is refused, and close() is prompt."""
    import httpx

    from runbooks.lab.api import FakeAPI
    from runbooks.lab.recorder import RecordingProxy, Seen

    api, rec = FakeAPI(), RecordingProxy("A")
    try:
        with httpx.Client(proxy=rec.url, timeout=5) as client:
            r = client.post(f"http://api.lab.test:{api.port}/v1/messages", json={})
        assert r.status_code == 401 and api.requests == ["POST /v1/messages"]
        with socket.create_connection(("127.0.0.1", rec.port), timeout=5) as s:
            s.sendall(f"CONNECT lab.test:{api.port} HTTP/1.1\r\n\r\n".encode())
            assert s.recv(100).startswith(b"HTTP/1.1 200")
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert b" 404 " in s.recv(100)
        with socket.create_connection(("127.0.0.1", rec.port), timeout=5) as s:
            s.sendall(b"CONNECT 192.0.2.1:443 HTTP/1.1\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 403")
        assert rec.seen == [Seen("POST", f"http://api.lab.test:{api.port}/v1/messages"),
                            Seen("CONNECT", f"lab.test:{api.port}"),
                            Seen("CONNECT", "192.0.2.1:443")]
        idle = socket.create_connection(("127.0.0.1", rec.port), timeout=5)
    finally:
        t = time.perf_counter()
        rec.close()
        api.close()
    assert time.perf_counter() - t < 2.5
    try:  # an open connection is closed (or reset), not left waiting
        assert idle.recv(1) == b""
    except ConnectionResetError:
        pass
    finally:
        idle.close()
