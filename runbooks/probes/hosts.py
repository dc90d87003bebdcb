"""Every host Claude Code needs, each walked along the path the client would take to it.

The API host (``ANTHROPIC_BASE_URL``'s, else ``api.anthropic.com``), ``claude.ai`` (sign-in
with a Claude account), ``platform.claude.com`` (the Claude Console), ``downloads.claude.ai``
(the native installer and its updates) and the status page (``status.claude.com``). For each,
the proxy Claude Code would pick *for that host* (NO_PROXY included, :mod:`runbooks.client.proxy`),
then DNS, TCP, ``CONNECT`` through the proxy, and the TLS handshake with the client's trust:
the probes of the network runbook, one host per thread, all at once, each phase bounded by
the run's budgets. One :class:`Walk` per host says where the path stopped and why, so a
firewall or proxy allow-list can be written from the result.

The list is a parameter (``hosts``, else ``RUNBOOKS_HOSTS``): the lab points it at its own
servers, with ``--resolve`` pins, so a run there never leaves loopback. ``none`` checks only
the API host and the status page.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..addr import hostport, is_ip_literal
from ..budget import Budget
from ..client.proxy import ProxyChoice, choose_proxy
from ..client.target import Target, check_url
from ..masking import mask_url
from .dns import Resolver, lookup_both
from .tcp import connect_families
from .tls import Handshake, Opener, handshake, presented_der
from .tunnel import Tunnel, auth_challenges, connect_through, open_tunnel

__all__ = ["DEFAULT_HOSTS", "ROLES", "Host", "Walk", "allowlist_lines", "failure_class",
           "hosts_to_check", "parse_hosts", "walk", "walk_all"]

#: The hosts besides the API and the status page (facts §2; the docs' network-config page).
DEFAULT_HOSTS = ("claude.ai", "platform.claude.com", "downloads.claude.ai")
#: role → (the check's title, what Claude Code needs the host for)
ROLES: dict[str, tuple[str, str]] = {
    "api": ("API host", "every request"),
    "claude.ai": ("Sign-in host", "signing in with a Claude account (/login)"),
    "platform.claude.com": ("Console host", "signing in with a Claude Console account"),
    "downloads.claude.ai": ("Updates host", "the native installer and its updates"),
    "status": ("Status host", "the status page (informational: often blocked on purpose)"),
    "other": ("Other host", "what you listed it for"),
}


@dataclass(frozen=True)
class Host:
    name: str
    port: int = 443
    scheme: str = "https"
    role: str = "other"

    @property
    def authority(self) -> str:
        return hostport(self.name, self.port)

    @property
    def title(self) -> str:
        return ROLES[self.role][0]

    @property
    def purpose(self) -> str:
        return ROLES[self.role][1]


def parse_hosts(text: str) -> list[Host]:
    """``claude.ai, platform.claude.com:8443 http://127.0.0.1:9`` → hosts (https:// and port
    443 unless said); ``none`` → no host. ValueError names a bad entry."""
    if text.strip().lower() == "none":
        return []
    out: list[Host] = []
    for raw in re.split(r"[,\s]+", text.strip()):
        if not raw:
            continue
        if "@" in raw or "?" in raw:
            raise ValueError(f"host {mask_url(raw)!r}: a host[:port] only, no credentials or "
                             "query")
        try:
            scheme, name, port, path = check_url(raw if "://" in raw else "https://" + raw)
        except ValueError as exc:  # the entry masked: a password in it is never echoed
            raise ValueError(f"host {mask_url(raw)!r}: {exc}") from None
        if path:
            raise ValueError(f"host {mask_url(raw)!r}: a host[:port], not a URL with a path")
        role = name.lower() if name.lower() in DEFAULT_HOSTS else "other"
        out.append(Host(name, port, scheme, role))
    return out


def hosts_to_check(target: Target, hosts: str, env: Mapping[str, str],
                   status_url: str) -> list[Host]:
    """The API host first, then ``hosts`` (else ``RUNBOOKS_HOSTS``, else
    :data:`DEFAULT_HOSTS`), then the status page's host; each once."""
    text = hosts or env.get("RUNBOOKS_HOSTS", "")
    others = parse_hosts(text) if text.strip() else [Host(n, role=n) for n in DEFAULT_HOSTS]
    s = urlsplit(status_url)
    status = [Host(s.hostname, s.port or (443 if s.scheme == "https" else 80), s.scheme,
                   "status")] if s.hostname else []
    out: list[Host] = []
    seen: set[tuple[str, int]] = set()
    for h in [Host(target.host, target.port, target.scheme, "api"), *others, *status]:
        key = (h.name.lower(), h.port)
        if key in seen:
            continue
        seen.add(key)
        if h.role == "other" and status and key == (status[0].name.lower(), status[0].port):
            h = Host(h.name, h.port, h.scheme, "status")
        out.append(h)
    return out


@dataclass
class Walk:
    """One host, along the client's path: how far it got, and why it stopped."""

    host: Host
    route: str = "directly"
    proxy: ProxyChoice | None = None  # the proxy in effect for this host
    ok: bool = False
    phase: str = ""  # the last phase tried: proxy, dns, tcp, connect, tls
    cause: str | None = None
    message: str = ""
    fix: str | None = None
    address: str | None = None  # the address connected to (the proxy's, through one)
    timings_ms: dict[str, float] = field(default_factory=dict)
    note: str | None = None  # worth saying, not a failure (IPv6 fails, IPv4 works)
    tunnel: Tunnel | None = None
    challenges: list[str] = field(default_factory=list)  # a 407's schemes
    handshake: Handshake | None = None
    chain_der: list[bytes] = field(default_factory=list)  # presented, when not trusted

    @property
    def verdict(self) -> str:
        if self.ok:
            return "reachable"
        kind = failure_class(self.cause)
        if kind == "tls":
            return "reachable, TLS not trusted" if self.cause == "tls.untrusted_issuer" \
                else "reachable, TLS fails"
        if kind == "dns":
            return "proxy host does not resolve" if self.proxy else "does not resolve"
        if kind == "route":
            return "no route"
        return "blocked"

    @property
    def to_do(self) -> str:
        """What to do about it, in a few words, by the kind of failure (the allow-list
        table's last column): a name that does not resolve is DNS, not a firewall rule."""
        kind = failure_class(self.cause)
        if self.ok or not self.cause:
            return ""
        if kind == "dns":
            return ("fix the proxy's host name or the DNS" if self.proxy else
                    "fix DNS (not a firewall rule)")
        if kind == "route":
            return "fix the route or the VPN"
        if kind == "tls":
            return ("trust the proxy's CA" if self.cause == "tls.untrusted_issuer" else
                    "see the TLS check")
        if kind == "proxy":
            return "fix the proxy setting"
        return "allow in the firewall and the proxy's allow-list"

    def reopen(self, budget: Budget) -> Opener | None:
        """The same path again, for one more handshake (None: direct to :attr:`address`)."""
        if self.proxy is None or self.address is None:
            return None
        p, h, addr = self.proxy, self.host, self.address
        return lambda: open_tunnel(p, addr, h.name, h.port, budget.connect, budget.read)

    def to_dict(self) -> dict[str, Any]:
        hs = self.handshake
        return {"host": self.host.name, "port": self.host.port, "scheme": self.host.scheme,
                "role": self.host.role, "path": self.route, "verdict": self.verdict,
                "cause": self.cause, "phase": self.phase, "address": self.address,
                "timings_ms": self.timings_ms, "message": self.message, "note": self.note,
                "proxy_status": self.tunnel.status if self.tunnel else None,
                "proxy_auth": self.challenges or None,
                "tls_version": hs.version if hs and hs.ok else None}


def failure_class(cause: str | None) -> str:
    """The kind of failure a cause is, for the advice: ``dns`` (the name does not resolve:
    the resolver's problem), ``route`` (no route: the VPN or the routing table), ``blocked``
    (refused, dropped, reset, or refused by the proxy: the firewall or the proxy's
    allow-list), ``tls`` (reachable, not trusted), ``proxy`` (the proxy setting itself), or
    ``""`` (none, or another)."""
    code = cause or ""
    if code.startswith("dns."):
        return "dns"
    if code == "tcp.unreachable":
        return "route"
    if code.startswith(("tcp.", "ipv6.")) or code == "proxy.rejected":
        return "blocked"
    if code.startswith("tls."):
        return "tls"
    if code.startswith("proxy."):
        return "proxy"
    return ""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _fail(w: Walk, phase: str, cause: str, message: str, fix: str | None = None) -> Walk:
    w.phase, w.cause, w.message, w.fix = phase, cause, message, fix
    return w


def walk(host: Host, env: Mapping[str, str], resolver: Resolver, budget: Budget,
         ssl_ctx) -> Walk:
    """Walk the client's path to ``host``: proxy choice → DNS → TCP → CONNECT → TLS."""
    w = Walk(host)
    p = choose_proxy(env, host.name, host.port, host.scheme)
    if p is not None and p.error:
        w.route = f"through {p.var}"
        return _fail(w, "proxy", "proxy.bad_url", p.error)
    if p is not None and p.in_effect:
        w.proxy = p
        w.route = f"through {p.var} {p.endpoint}"
    elif p is not None and p.bypass:
        w.route = f"directly (NO_PROXY entry {p.bypass!r})"
    name, port = (p.host, p.port) if w.proxy else (host.name, host.port)
    whose = "the proxy host " if w.proxy else ""
    # DNS: the proxy's name through a proxy (the proxy resolves the host itself)
    pins = resolver.pins.get(name.lower())
    if is_ip_literal(name):
        addresses = [name]
    elif pins:
        addresses = list(pins)
    else:
        t0 = time.perf_counter()
        found = lookup_both(name, resolver, budget.dns)
        w.timings_ms["dns"] = _ms(time.perf_counter() - t0)
        addresses = found["AAAA"].addresses + found["A"].addresses
        if not addresses:
            timeout = any(lk.outcome == "timeout" for lk in found.values())
            said = "; ".join(f"{lk.rtype} {lk.message}" for lk in found.values())
            return _fail(w, "dns", "dns.timeout" if timeout else "dns.nxdomain",
                         f"{whose}{name} does not resolve: {said}")
    # TCP, both families at once
    results = connect_families(addresses, port, budget.connect)
    won = [tries[-1] for tries in results.values() if tries and tries[-1].ok]
    lost = [tries[-1] for tries in results.values() if tries and not tries[-1].ok]
    if not won:
        if not lost:
            return _fail(w, "tcp", "tcp.timeout", f"no time left to connect to {name}")
        fault = lost[-1].fault
        if w.proxy:
            return _fail(w, "tcp", "proxy.unreachable", f"proxy {lost[-1].endpoint}: "
                         f"{fault.message}")
        at = "" if lost[-1].address == host.name else f"{lost[-1].endpoint}: "
        return _fail(w, "tcp", fault.cause, at + fault.message)
    w.address = won[0].address
    w.timings_ms["tcp"] = _ms(won[0].duration_s)
    if lost and won[0].family == "IPv4" and lost[0].family == "IPv6":
        w.note = f"IPv6 fails ({lost[0].fault.message}) while IPv4 connects"
    if host.scheme != "https":
        w.ok, w.phase = True, "tcp"
        w.message = "plain http://: TCP only, no TLS to check"
        return w
    if w.proxy and w.proxy.tls:
        return _through_tls_proxy(w, budget, ssl_ctx)
    opener: Opener | None = None
    if w.proxy:
        tun = connect_through(w.proxy, w.address, host.name, host.port, budget.connect,
                              budget.read)
        w.tunnel = tun
        w.timings_ms["connect"] = _ms(tun.duration_s)
        if not tun.ok:
            if tun.status == 407:
                w.challenges = auth_challenges(w.proxy, w.address, host.name, host.port,
                                               budget.connect, budget.read)
            return _fail(w, "connect", tun.fault.cause, tun.fault.message)
        first = [tun.sock]
        again = w.reopen(budget)

        def opener():  # the tunnel just opened first, then fresh ones
            return first.pop() if first else again()
    hs = handshake(w.address, host.port, host.name, ssl_ctx, budget.connect, budget.tls,
                   opener=opener)
    w.handshake = hs
    w.timings_ms["tls"] = _ms(hs.duration_s)
    if hs.ok:
        w.ok, w.phase = True, "tls"
        w.message = f"{hs.version}, certificate valid for {host.name}"
        return w
    _fail(w, "tls", hs.fault.cause, hs.fault.message, hs.fault.fix)
    if hs.chain:  # a certificate was presented and refused: keep it, to name and export
        w.chain_der = presented_der(w.address, host.port, host.name, budget.connect,
                                    budget.tls, opener=w.reopen(budget))
    return w


def _through_tls_proxy(w: Walk, budget: Budget, ssl_ctx) -> Walk:
    """An https:// proxy: TLS to the proxy, CONNECT, TLS inside, all by httpx (as the
    network runbook's HTTP step does); any HTTP answer means the path is open."""
    import httpx

    from .classify import classify_http
    from .http import request

    h = w.host
    target = Target(f"https://{h.authority}", "https", h.name, h.port, "", "parameter")
    t0 = time.perf_counter()
    try:
        with request(target, None, ssl_ctx, budget, "HEAD", "/", None, None,
                     proxy=w.proxy.url) as resp:
            status = resp.status_code
    except httpx.HTTPError as exc:
        fault = classify_http(exc, budget.read)
        w.timings_ms["tls"] = _ms(time.perf_counter() - t0)
        phase = "tls" if fault.cause.startswith("tls.") else "connect"
        return _fail(w, phase, fault.cause, fault.message, fault.fix)
    w.timings_ms["tls"] = _ms(time.perf_counter() - t0)
    w.ok, w.phase = True, "tls"
    w.message = f"TLS to the proxy, its tunnel and TLS to {h.name} verified (HTTP {status})"
    return w


def walk_all(hosts: list[Host], env: Mapping[str, str], resolver: Resolver, budget: Budget,
             ssl_ctx) -> list[Walk]:
    """Every host at once, one thread each: the whole list costs what its slowest host does."""
    out: list[Walk | None] = [None] * len(hosts)

    def one(i: int, h: Host) -> None:
        try:
            out[i] = walk(h, env, resolver, budget, ssl_ctx)
        except Exception as exc:  # noqa: BLE001 - one host's crash is that host's result
            out[i] = Walk(h, message=f"the check itself failed: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i, h), daemon=True)
               for i, h in enumerate(hosts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [w for w in out if w is not None]


def allowlist_lines(walks: list[Walk]) -> list[str]:
    """One line per host, aligned: host:port, the path taken, the verdict and its cause, and
    what to do (by the kind of failure: DNS, the firewall and the proxy, the CA)."""
    rows = [("host:port", "path", "verdict", "to do")]
    for w in walks:
        if w.ok:
            verdict = f"✓ {w.verdict}"
        else:
            mark = "!" if (w.cause or "").startswith("tls.") else "✗"
            verdict = f"{mark} {w.verdict}: {w.cause or 'the check failed'}"
        rows.append((w.host.authority, w.route, verdict, w.to_do))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip()
            for r in rows]
