"""The lab's scenarios: each one a real fault on loopback, and what it should be
diagnosed as. ``runbooks lab start NAME``, the tests and the docs' example
outputs all start scenarios through :func:`start`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Iterator
from pathlib import Path

from . import api_scenarios as _api_scenarios
from . import fix_scenarios as _fix_scenarios
from . import history_scenarios as _history_scenarios
from . import tls_scenarios as _tls_scenarios
from .dnsserver import LabDNS
from .faults import BlackHole, Refused, Reset, Silent, Trickler, TrickleTLS
from .pki import LabPKI
from .scenario import (
    CLIENT_TIMEOUT_MS,
    LAB_API_KEY,
    LAB_HOST,
    TRICKLE_S,
    Running,
    Scenario,
    _api,
    _fault,
    _trust_lab_ca,
)
from .statuspage import FakeStatusPage

__all__ = ["LAB_API_KEY", "LAB_HOST", "SCENARIOS", "TRICKLE_S", "Running", "Scenario", "start"]

def _status(state: str):
    """A scenario whose status page reports ``state`` (the API itself stays healthy)."""
    def build(run, pki):
        _api(run, pki)
        run.status_state = state
    return build


def _healthy(run, pki):
    _api(run, pki)


def _healthy_tls(run, pki):
    _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)


def _inspected(run, pki):
    _api(run, pki, tls="untrusted")
    run.info["ca_file"] = str(pki.inspection_ca_file)  # what IT would hand out
    run.notes.append(f"The inspecting CA is in {pki.inspection_ca_file}: set "
                     "NODE_EXTRA_CA_CERTS to it to see the fix work.")


def _tls(kind):
    def build(run, pki):
        _api(run, pki, tls=kind)
        _trust_lab_ca(run, pki)  # the lab CA is trusted: only the named fault remains
    return build


def _behaviour(name):
    return lambda run, pki: _api(run, pki, behaviour=name)


def _plain_on_https(run, pki):
    api = _api(run, pki)
    run.base_url = api.url.replace("http://", "https://")
    run.env["ANTHROPIC_BASE_URL"] = run.base_url
    _trust_lab_ca(run, pki)


def _dns(zones, drop=()):
    def build(run, pki):
        api = _api(run, pki, tls="good")
        _trust_lab_ca(run, pki)
        dns = LabDNS({k: v(api) for k, v in zones.items()}, set(drop))
        run.parts.append(dns)
        run.base_url = f"https://{LAB_HOST}:{api.port}"
        run.env["ANTHROPIC_BASE_URL"] = run.base_url
        run.params["nameserver"] = dns.address
        run.notes.append(
            f"{LAB_HOST} resolves only through the lab's DNS server at {dns.address}: "
            f"pass --nameserver {dns.address} to the runbooks. Claude Code itself uses the "
            "system resolver, so it sees ENOTFOUND here.")
    return build


def _ipv6_broken(run, pki):
    # The API listens on 127.0.0.1 only; the same port on ::1 is held but refuses.
    api = _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    run.parts.append(Refused("::1", api.port))
    dns = LabDNS({LAB_HOST: {"A": ["127.0.0.1"], "AAAA": ["::1"]}})
    run.parts.append(dns)
    run.base_url = f"https://{LAB_HOST}:{api.port}"
    run.env["ANTHROPIC_BASE_URL"] = run.base_url
    run.params["nameserver"] = dns.address
    run.notes.append(
        f"{LAB_HOST} has A 127.0.0.1 (works) and AAAA ::1 (refused) at the lab's DNS server "
        f"{dns.address}; without it, use --resolve {LAB_HOST}:::1 --resolve {LAB_HOST}:127.0.0.1.")


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("healthy", "the fake API over plain HTTP", None, _healthy),
    Scenario("healthy-tls", "the fake API over HTTPS, signed by the lab CA (trusted)", None,
             _healthy_tls),
    Scenario("refused", "a port that refuses connections", "tcp.refused",
             lambda run, pki: _fault(run, Refused()),
             "API Error: Connection refused — a firewall or proxy may be blocking it "
             "(ECONNREFUSED)"),
    Scenario("blackhole", "a port whose SYNs are dropped: connects hang", "tcp.timeout",
             lambda run, pki: _fault(run, BlackHole()),
             "Request timed out. If the API is slow to answer, or a proxy or gateway holds "
             f"responses, set API_TIMEOUT_MS above {CLIENT_TIMEOUT_MS}."),
    Scenario("silent", "accepts connections, never answers", "http.first_byte_timeout",
             lambda run, pki: _fault(run, Silent())),
    Scenario("reset", "accepts, then resets the connection", "tcp.reset",
             lambda run, pki: _fault(run, Reset())),
    Scenario("tls-untrusted", "HTTPS re-signed by a CA the client does not trust "
             "(TLS inspection)", "tls.untrusted_issuer",
             lambda run, pki: _inspected(run, pki),
             "API Error: Unable to connect to API: SSL certificate verification failed "
             "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)"),
    Scenario("tls-expired", "HTTPS with an expired certificate", "tls.expired", _tls("expired")),
    Scenario("tls-not-yet-valid", "HTTPS with a certificate valid only from next month",
             "tls.not_yet_valid", _tls("not_yet_valid")),
    Scenario("tls-wrong-host", "HTTPS with a certificate for another name",
             "tls.hostname_mismatch", _tls("wrong_host"),
             "API Error: Unable to connect to API: SSL certificate hostname mismatch"),
    Scenario("tls-plain-http", "an https:// URL whose port speaks plain HTTP",
             "tls.handshake_failed", _plain_on_https),
    Scenario("gateway", "an Anthropic-compatible gateway that answers a keyless request with a "
             "message stream (it supplies the key itself)", None, _behaviour("gateway")),
    Scenario("status-degraded", "the status page reports the Claude API degraded (the API "
             "itself answers)", None, _status("degraded"), doctor=("status.incident",)),
    Scenario("status-incident", "the status page reports an incident on the Claude API in "
             "progress", None, _status("incident"), doctor=("status.incident",)),
    Scenario("status-major", "the status page reports a major outage of the Claude API", None,
             _status("major"), doctor=("status.incident",)),
    Scenario("status-unreachable", "the status page cannot be reached (informational: "
             "skipped, never a failure)", None, _status(None)),
    Scenario("flaky", "every third keyless request is reset: a path that fails now and then "
             "(one check passes; samples=N shows network.intermittent)", None,
             _behaviour("flaky")),
    Scenario("captive-portal", "a Wi-Fi login page answers instead of the API",
             "http.not_api", _behaviour("captive_portal"),
             # v2.1.332 follows the redirect to the page's 200, then says this (then what
             # it got: "Response: content-type html, body is an HTML page, …")
             "API Error: API returned an empty or malformed response (HTTP 200) — check for "
             "a proxy or gateway intercepting the request."),
    Scenario("overloaded", "the API answers 529 overloaded_error", "overloaded",
             _behaviour("overloaded")),
    Scenario("server-error", "the API answers 500 api_error", "http.server_error",
             _behaviour("server_error")),
    Scenario("ratelimited", "429 with retry-after and anthropic-ratelimit-* headers (for "
             "authenticated requests)", None, _behaviour("ratelimited"),
             doctor=("ratelimit.exceeded",)),
    Scenario("spend-cap", "429 without retry-after (for authenticated requests)", None,
             _behaviour("spend_cap"), doctor=("ratelimit.spend_cap",)),
    Scenario("stall", "a streaming answer that starts, then stops", None, _behaviour("stall"),
             doctor=("http.stream_stall",)),
    Scenario("dns-nxdomain", f"the lab DNS server says {LAB_HOST} does not exist",
             "dns.nxdomain", _dns({})),
    Scenario("dns-timeout", "the lab DNS server never answers", "dns.timeout",
             _dns({}, drop=[LAB_HOST])),
    Scenario("ipv6-broken", "AAAA points at a refusing ::1, A at a working 127.0.0.1",
             "ipv6.broken", _ipv6_broken),
]}


def _proxy(api_tls: str = "good", auth: str | None = None, deny: bool = False,
           creds: str = "", no_proxy: str = "", upstream: str = "api", tls: bool = False):
    """A scenario behind the lab's forward proxy (proxy.py, its own process)."""
    def build(run, pki):
        from .proxy import LabProxy

        api = _api(run, pki, tls=api_tls)
        route_to = None
        if api_tls == "good":
            _trust_lab_ca(run, pki)
        else:
            run.notes.append(f"The inspecting CA is in {pki.inspection_ca_file}: set "
                             "NODE_EXTRA_CA_CERTS to it to see the fix work.")
        if upstream == "blackhole":  # only the proxy gets out: direct, the API is a black hole
            _fault(run, BlackHole(), "https")
            route_to = f"127.0.0.1:{api.port}"
        proxy = LabProxy(run.workdir, auth=auth, deny=deny, route_to=route_to,
                         tls=pki.server_files("proxy") if tls else None)
        run.parts.append(proxy)
        url = proxy.url.replace("://", f"://{creds}@") if creds else proxy.url
        run.env["HTTPS_PROXY"] = url
        if no_proxy:
            run.env["NO_PROXY"] = no_proxy
        run.notes.append(f"proxy.py listens on {proxy.url} (log: {proxy.log})"
                         + (f", basic auth {auth.split(':')[0]}:…" if auth else ""))
    return build


def _proxy_refused(run, pki):
    _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    dead = Refused()
    run.parts.append(dead)
    run.env["HTTPS_PROXY"] = dead.url("http")


def _proxy_socks(run, pki):
    _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    run.env["HTTPS_PROXY"] = "socks5://127.0.0.1:1080"


def _mtls(with_cert: bool):
    def build(run, pki):
        _api(run, pki, tls="mtls")
        _trust_lab_ca(run, pki)
        if with_cert:
            cert, key = pki.client_files()
            run.env["CLAUDE_CODE_CLIENT_CERT"] = str(cert)
            run.env["CLAUDE_CODE_CLIENT_KEY"] = str(key)
    return build


MTLS_SCENARIOS = [
    Scenario("mtls", "an HTTPS gateway that requires a client certificate; "
             "CLAUDE_CODE_CLIENT_CERT/KEY point at one it accepts", None, _mtls(True)),
    Scenario("mtls-missing", "the same gateway, and no client certificate configured",
             "tls.handshake_failed", _mtls(False), "API Error: Unable to connect to API (EPROTO)"),
]
SCENARIOS.update((s.name, s) for s in MTLS_SCENARIOS)

PROXY_SCENARIOS = [
    Scenario("proxy", "the healthy API reached through a forward proxy (proxy.py)", None,
             _proxy()),
    Scenario("proxy-tls", "the healthy API through a TLS (https://) forward proxy, its "
             "certificate signed by the lab CA", None, _proxy(tls=True)),
    Scenario("proxy-auth", "the proxy wants basic credentials; HTTPS_PROXY has none",
             "proxy.auth_required", _proxy(auth="lab:lab-proxy-pass"),
             "API Error: Couldn't connect through your proxy (ERR_PROXY_TUNNEL)"),
    Scenario("proxy-auth-ok", "the proxy wants basic credentials; HTTPS_PROXY has them",
             None, _proxy(auth="lab:lab-proxy-pass", creds="lab:lab-proxy-pass")),
    Scenario("proxy-denied", "the proxy answers 403 to CONNECT (host not on its allow-list)",
             "proxy.rejected", _proxy(deny=True),
             "API Error: Couldn't connect through your proxy (ERR_PROXY_TUNNEL)"),
    Scenario("proxy-refused", "HTTPS_PROXY points at a port that refuses connections",
             "proxy.unreachable", _proxy_refused,
             "API Error: Connection refused — a firewall or proxy may be blocking it "
             "(ECONNREFUSED)"),
    Scenario("proxy-socks", "HTTPS_PROXY is a SOCKS URL, which Claude Code does not support",
             "proxy.bad_url", _proxy_socks,
             "API Error: Unable to connect to API (UnsupportedProxyProtocol)"),
    Scenario("proxy-inspected", "a TLS-inspecting proxy: the API's certificate is re-signed "
             "by a CA the client does not trust", "tls.untrusted_issuer",
             _proxy(api_tls="untrusted"),
             "API Error: Unable to connect to API: SSL certificate verification failed "
             "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)"),
    Scenario("proxy-bypassed", "NO_PROXY sends the API around the proxy; direct, it is a "
             "black hole, through the proxy it answers", "proxy.bypassed",
             _proxy(upstream="blackhole", no_proxy="127.0.0.1"), also=("tcp.timeout",)),
]
SCENARIOS.update((s.name, s) for s in PROXY_SCENARIOS)


def _trickle_api(behaviour: str):
    def build(run, pki):
        _api(run, pki, behaviour=behaviour).delay = TRICKLE_S
    return build


def _status_trickle(run, pki):
    _api(run, pki)
    run.status_trickle_s = TRICKLE_S


def _proxy_trickle(run, pki):
    _api(run, pki, tls="good")
    _trust_lab_ca(run, pki)
    proxy = Trickler(b"HTTP/1.1 200 Connection established\r\n",
                     repeat=b"Via: 1.1 lab-trickle\r\n", interval=TRICKLE_S)
    run.parts.append(proxy)
    run.env["HTTPS_PROXY"] = proxy.url("http")


def _tls_trickle(run, pki):
    _fault(run, TrickleTLS(pki.server_context("good"), TRICKLE_S), "https")
    _trust_lab_ca(run, pki)


#: What v2.1.332 prints against a trickle it bounds (API_TIMEOUT_MS ends at the headers; a
#: body that trickles it waits for: it was still waiting at 60 s against trickle-body).
_TIMED_OUT = ("Request timed out. If the API is slow to answer, or a proxy or gateway holds "
              f"responses, set API_TIMEOUT_MS above {CLIENT_TIMEOUT_MS}.")
TRICKLE_SCENARIOS = [
    Scenario("trickle-head", f"the API sends its answer, status line first, one byte every "
             f"{TRICKLE_S:g} s: each read gets a byte in time, the headers take minutes",
             "http.first_byte_timeout", _trickle_api("trickle_head"), _TIMED_OUT),
    Scenario("trickle-body", f"the API sends its headers at once, then the body (or event "
             f"stream) one byte every {TRICKLE_S:g} s", "http.stream_stall",
             _trickle_api("trickle_body")),
    Scenario("status-trickle", f"the API answers; the status page sends its answer one byte "
             f"every {TRICKLE_S:g} s (informational: skipped, never a failure)", None,
             _status_trickle),
    Scenario("proxy-trickle", f"HTTPS_PROXY answers CONNECT one byte every {TRICKLE_S:g} s, "
             "with header lines that never end", "proxy.unreachable", _proxy_trickle,
             _TIMED_OUT),
    Scenario("tls-trickle", f"an HTTPS port whose TLS handshake comes one byte every "
             f"{TRICKLE_S:g} s", "http.first_byte_timeout", _tls_trickle, _TIMED_OUT),
]
SCENARIOS.update((s.name, s) for s in TRICKLE_SCENARIOS)

# The other modules' scenarios, in one explicit list (they build on .scenario's parts and
# know nothing of this registry): the API layer's faults, the fixes', TLS inspection's.
SCENARIOS.update((s.name, s) for s in [*_api_scenarios.API_SCENARIOS,
                                       *_fix_scenarios.FIX_SCENARIOS,
                                       *_tls_scenarios.TLS_SCENARIOS])
for _name, _message in _api_scenarios.CAPTURED.items():  # what the client prints against them
    SCENARIOS[_name] = dataclasses.replace(SCENARIOS[_name], client_message=_message)


def start(name: str) -> Running:
    """Start scenario ``name``; call ``.stop()`` (or use :func:`running`) when done."""
    from ..errors import UsageError

    scenario = SCENARIOS.get(name) or _history_scenarios.RECORD_SCENARIOS.get(name)
    if scenario is None:
        known = [*SCENARIOS, *_history_scenarios.RECORD_SCENARIOS]
        raise UsageError(f"unknown lab scenario {name!r}; one of: {', '.join(known)}")
    workdir = Path(tempfile.mkdtemp(prefix=f"runbooks-lab-{name}-"))
    run = Running(scenario, base_url="", workdir=workdir)
    try:
        scenario.build(run, LabPKI(workdir))
    except BaseException:
        run.stop()
        raise
    run.params.setdefault("base_url", run.base_url)
    if run.status_state is not None:  # never the real status page: the lab's own
        page = FakeStatusPage(run.status_state, trickle_s=run.status_trickle_s)
        run.parts.append(page)
        run.env["RUNBOOKS_STATUS_URL"] = page.url
    else:
        dead = Refused()
        run.parts.append(dead)
        run.env["RUNBOOKS_STATUS_URL"] = dead.url("http")
    # never the real hosts: the API's and the status page's only, unless the scenario names
    # its own (pinned to loopback)
    run.env.setdefault("RUNBOOKS_HOSTS", "none")
    if "ANTHROPIC_API_KEY" not in run.client_unset:  # a configured user: the lab's own key
        run.env.setdefault("ANTHROPIC_API_KEY", LAB_API_KEY)
    return run


@contextlib.contextmanager
def running(name: str) -> Iterator[Running]:
    run = start(name)
    try:
        yield run
    finally:
        run.stop()
