"""The lab's scenarios: each one a real fault on loopback, and what it should be
diagnosed as. ``runbooks lab start NAME``, the tests and the docs' example
outputs all start scenarios through :func:`start`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import FakeAPI
from .dnsserver import LabDNS
from .faults import BlackHole, Refused, Reset, Silent, Trickler, TrickleTLS
from .pki import LabPKI
from .statuspage import FakeStatusPage

__all__ = ["LAB_API_KEY", "LAB_HOST", "SCENARIOS", "TRICKLE_S", "Running", "Scenario", "start"]

LAB_HOST = "api.lab.test"  # .test is reserved (RFC 2606): it never resolves outside the lab
#: Not a secret: the lab accepts any key. Deliberately not shaped like a real one.
LAB_API_KEY = "lab-key-not-a-secret"
#: API_TIMEOUT_MS given to the real client against the lab (its message quotes it).
CLIENT_TIMEOUT_MS = 5000
#: The trickle scenarios' pause before each byte: every read succeeds within any per-read
#: timeout of 1 s or more, so only a deadline on the whole exchange ends them.
TRICKLE_S = 0.5


@dataclass
class Running:
    """A started scenario: where it listens and how to point things at it."""

    scenario: Scenario
    base_url: str
    params: dict[str, Any] = field(default_factory=dict)  # runbook parameters
    env: dict[str, str] = field(default_factory=dict)  # for runbooks and Claude Code alike
    notes: list[str] = field(default_factory=list)
    parts: list[Any] = field(default_factory=list)
    workdir: Path | None = None
    #: variables the client must not get (helper-fails: its credential comes from settings)
    client_unset: set[str] = field(default_factory=set)
    #: what the scenario's fake status page reports (None: no status page answers)
    status_state: str | None = "operational"
    #: the status page's pause before each byte of its answer (0: it answers at once)
    status_trickle_s: float = 0.0
    #: facts a fix needs that no variable holds (fix scenarios: the proxy this network needs)
    info: dict[str, str] = field(default_factory=dict)

    @property
    def client_env(self) -> dict[str, str]:
        """What to export so the real ``claude`` talks to the lab, and only to it."""
        env = {
            "API_TIMEOUT_MS": str(CLIENT_TIMEOUT_MS),
            **self.env,  # a scenario's own API_TIMEOUT_MS (timeout-10min) wins
            "ANTHROPIC_API_KEY": LAB_API_KEY,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": "1",
        }
        return {k: v for k, v in env.items() if k not in self.client_unset}

    def stop(self) -> None:
        for part in reversed(self.parts):
            with contextlib.suppress(Exception):
                part.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _status(state: str):
    """A scenario whose status page reports ``state`` (the API itself stays healthy)."""
    def build(run, pki):
        _api(run, pki)
        run.status_state = state
    return build


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    expect: str | None  # the cause the network runbook must report (None: healthy)
    build: Callable[[Running, LabPKI], None]
    client_message: str = ""  # what the real client prints (facts.md §5), where known
    also: tuple[str, ...] = ()  # further causes the same run reports, besides ``expect``
    #: what the whole doctor reports, with the client's credential and --live (None: the
    #: network runbook's ``expect`` and ``also``, as a keyless probe sees it)
    doctor: tuple[str, ...] | None = None

    @property
    def doctor_causes(self) -> tuple[str, ...]:
        if self.doctor is not None:
            return self.doctor
        return (self.expect, *self.also) if self.expect else ()


def _api(run: Running, pki: LabPKI, behaviour: str = "healthy", tls: str | None = None,
         host: str = "127.0.0.1") -> FakeAPI:
    api = FakeAPI(host, behaviour=behaviour, tls=pki.server_context(tls) if tls else None)
    run.parts.append(api)
    run.base_url = api.url
    run.env["ANTHROPIC_BASE_URL"] = api.url
    return api


def _trust_lab_ca(run: Running, pki: LabPKI) -> None:
    run.env["NODE_EXTRA_CA_CERTS"] = str(pki.ca_file)


def _fault(run: Running, part: Any, scheme: str = "http") -> None:
    run.parts.append(part)
    run.base_url = part.url(scheme)
    run.env["ANTHROPIC_BASE_URL"] = run.base_url


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


def _with_env(build, **env):
    """A scenario plus variables in its environment (what the user has set)."""
    def with_env(run, pki):
        build(run, pki)
        run.env.update(env)
    return with_env


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
             "tls.hostname_mismatch", _tls("wrong_host")),
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
             "http.not_api", _behaviour("captive_portal")),
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
from . import api_scenarios as _api_scenarios  # noqa: F401  (the API layer's faults)
from . import fix_scenarios as _fix_scenarios  # noqa: F401 - registers its scenarios
from . import history_scenarios as _history_scenarios  # Claude Code's records
from . import tls_scenarios as _tls_scenarios  # noqa: F401  (TLS inspection, proxy auth, hosts)
