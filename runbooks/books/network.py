"""The network runbook: target → settings → trust → proxy → DNS → TCP (per family) → CONNECT →
TLS → HTTP.

When a proxy variable is in effect for the target (as Claude Code picks it), the
path is the one the client takes: DNS and TCP go to the proxy, a ``CONNECT``
asks it for a tunnel, and TLS and HTTP run through that tunnel.

Each step is a method that returns its :class:`~runbooks.result.Check` and records it, so
the notebook runs and explains one step per cell while ``runbooks doctor`` runs them all.
A step that depends on an earlier one that failed is skipped with a reason, never left
hanging. Recording, guarding and the report are the shared runbook shape
(:mod:`runbooks.books.base`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..addr import is_ip_literal
from ..client import proxy as _proxy
from ..client import settings as _settings
from ..client.environment import proxy_settings
from ..client.target import Trust
from ..probes import dns as _dns
from ..probes import http as _http
from ..probes import tcp as _tcp
from ..probes import tls as _tls
from ..probes import tunnel as _tunnel
from ..result import Check, Report, Status
from .base import COMMON, NETWORK_PATH, Context, Runbook
from .params import merge

__all__ = ["NetworkRun", "diagnose"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


class NetworkRun(Runbook):
    """One diagnosis of the path to the API, step by step."""

    id = "network"
    title = "Network: can this machine reach the API?"
    PARAMETERS = merge(COMMON, NETWORK_PATH)
    STEPS = ("check_target", "check_settings", "check_trust", "check_proxy", "check_dns",
             "check_tcp", "check_connect", "check_tls", "check_http")

    def __init__(self, context: Context, **options: Any) -> None:
        super().__init__(context, **options)
        self.settings = context.settings
        self.resolver = context.resolver
        self.trust: Trust | None = None
        self.addresses: list[str] = []
        self.lookups: dict[str, _dns.Lookup] = {}
        self.dns_ms: float | None = None
        self.connected: list[str] = []  # addresses that accepted a connection, preferred first
        self.proxy = _proxy.choose_proxy(self.env, self.target.host, self.target.port,
                                         self.target.scheme)
        self.shadows = self.settings.shadowed_proxies() if self.settings.files else []

    @property
    def via_proxy(self) -> bool:
        """True when the path to the API goes through a proxy (as Claude Code's does)."""
        return self.proxy is not None and self.proxy.in_effect

    # -- steps -----------------------------------------------------------------------------
    def check_target(self) -> Check:
        """Which endpoint Claude Code would use, and whether a proxy is in the way."""

        def run() -> Check:
            t = self.target
            origin = {"parameter": "given as a parameter",
                      "ANTHROPIC_BASE_URL": "from " + self.settings.source_of("ANTHROPIC_BASE_URL"),
                      "default": "the default"}[t.source]
            proxies = proxy_settings(self.env)
            summary = f"{t.url} ({origin})"
            if self.via_proxy:
                summary += f", through the proxy {self.proxy.endpoint} ({self.proxy.var})"
            return Check("target", "Target", Status.PASS, summary,
                         details={**t.to_dict(), "proxy": proxies,
                                  "resolver": self.resolver.describe(),
                                  "pins": {h: list(a) for h, a in self.resolver.pins.items()}})

        return self.guard("target", "Target", run)

    def check_settings(self) -> Check:
        """Claude Code's settings files: their ``env`` blocks override the shell."""
        eff = self.settings
        if not eff.files:
            return self.skip("settings", "Settings", "no Claude Code settings file found")

        def run() -> Check:
            details = {"files": [f.to_dict() for f in eff.files],
                       "overrides_shell": sorted(eff.shadowed)}
            bad = [f for f in eff.files if f.error]
            if bad:
                f = bad[0]
                return Check("settings", "Settings", Status.WARN,
                             f"{f.shown} is {f.error}: Claude Code cannot apply its env block",
                             cause="config.settings_invalid", details=details)
            net = [k for k in eff.origin if k in _settings.NETWORK_VARS]
            if not net:
                return Check("settings", "Settings", Status.PASS,
                             f"{', '.join(f.shown for f in eff.files)}: no network variable set "
                             "there", details=details)
            parts = []
            for k in net:
                over = " (overrides the shell's)" if k in eff.shadowed else ""
                parts.append(f"{k}{over} from {eff.origin[k].shown}")
            return Check("settings", "Settings", Status.PASS,
                         "these checks use " + ", ".join(parts), details=details)

        return self.guard("settings", "Settings", run)

    def check_trust(self) -> Check:
        """The CA roots the client trusts: bundled + system + NODE_EXTRA_CA_CERTS, and the
        client certificate it presents. Checked for an http:// target too: a broken file is
        harmless there today and fails the moment the target is https://."""
        plain = self.target.scheme != "https"

        def run() -> Check:
            self.trust = trust = self.ctx.trust
            details = {"sources": trust.sources, "NODE_EXTRA_CA_CERTS": trust.extra_ca_file,
                       "extra_ca_count": trust.extra_ca_count,
                       "CLAUDE_CODE_CLIENT_CERT": trust.client_cert}
            bad = Status.WARN if plain else Status.FAIL
            later = (" (harmless for this http:// target; it fails the moment the target is "
                     "https://)") if plain else ""
            if trust.extra_ca_error:
                return Check("trust", "Trust store", bad,
                             f"NODE_EXTRA_CA_CERTS={trust.extra_ca_file} is unusable: "
                             f"{trust.extra_ca_error}{later}", cause="config.ca_file_invalid",
                             details=details)
            if trust.client_cert_error:
                return Check("trust", "Trust store", bad,
                             f"the client certificate (CLAUDE_CODE_CLIENT_CERT="
                             f"{trust.client_cert or ''}) is unusable: "
                             f"{trust.client_cert_error}{later}",
                             cause="config.ca_file_invalid", details=details,
                             fix="Point CLAUDE_CODE_CLIENT_CERT and CLAUDE_CODE_CLIENT_KEY at "
                                 "readable PEM files that belong together; an encrypted key "
                                 "needs CLAUDE_CODE_CLIENT_KEY_PASSPHRASE.")
            if plain:
                return Check("trust", "Trust store", Status.SKIP,
                             "plain http:// target: no TLS", details=details)
            extra = ""
            if trust.extra_ca_file:
                extra = (f" + {trust.extra_ca_count} CA(s) from NODE_EXTRA_CA_CERTS"
                         if trust.extra_ca_count else " (NODE_EXTRA_CA_CERTS adds no new CA)")
            if trust.client_cert:
                extra += "; client certificate from CLAUDE_CODE_CLIENT_CERT"
            return Check("trust", "Trust store", Status.PASS,
                         " + ".join(s.split(" (")[0] for s in trust.sources[:2]) + extra,
                         details=details)

        return self.guard("trust", "Trust store", run)

    def check_proxy(self) -> Check:
        """Which proxy Claude Code would use for this target, if any, and whether it is usable;
        and whether a settings file's proxy is shadowed by a shell variable read first."""
        p = self.proxy
        if p is None and not self.shadows:
            return self.skip("proxy", "Proxy", "no proxy variable set: Claude Code connects "
                              "directly")

        def run() -> Check:
            details = p.to_dict() if p is not None else {}
            if self.shadows:
                details["shadowed"] = [s.to_dict() for s in self.shadows]
            if p is not None and p.error:
                return Check("proxy", "Proxy", Status.FAIL, p.error, cause="proxy.bad_url",
                             details=details)
            if self.shadows:
                sh = self.shadows[0]
                return Check("proxy", "Proxy", Status.WARN,
                             f"{sh.variable}={sh.value} in {sh.file.shown} is not used: the "
                             f"shell's {sh.winner}={sh.winner_value} comes first in Claude "
                             "Code's lookup, so the checks below use it", cause="proxy.shadowed",
                             details=details,
                             fix=f"Unset {sh.winner} in the shell (and its start-up file), or "
                                 f"set {sh.winner} in {sh.file.shown} instead of {sh.variable}.")
            if p.ignored:
                return Check("proxy", "Proxy", Status.PASS, p.ignored, details=details)
            if p.bypass:
                via = f" ({p.bypass_var})" if p.bypass_var else ""
                fallback = (f"; the runtime falls back to {p.var}={p.shown}" if p.skipped and
                            p.in_effect else "")
                return Check("proxy", "Proxy", Status.PASS,
                             f"{p.skipped or p.var} is set, but NO_PROXY{via} entry "
                             f"{p.bypass!r} sends {self.target.host} direct{fallback}",
                             details=details)
            auth = ", basic auth in the URL" if p.username is not None else ""
            if p.note:
                return Check("proxy", "Proxy", Status.WARN, p.note, details=details)
            if p.tls:
                return Check("proxy", "Proxy", Status.PASS,
                             f"{p.var}={p.shown}{auth}, a TLS proxy: DNS and TCP below go to "
                             "the proxy; the HTTP step checks its TLS, the tunnel and the API "
                             "together", details=details)
            return Check("proxy", "Proxy", Status.PASS,
                         f"{p.var}={p.shown}{auth}: DNS and TCP below go to the proxy, TLS "
                         "and HTTP through its tunnel", details=details)

        return self.guard("proxy", "Proxy", run)

    def _dns_host(self) -> tuple[str, bool]:
        """The name this machine must resolve: the proxy's when the path goes through one."""
        if self.via_proxy:
            return self.proxy.host, is_ip_literal(self.proxy.host)
        return self.target.host, self.target.is_ip

    def check_dns(self) -> Check:
        """A and AAAA, separately and timed."""
        if self.proxy is not None and self.proxy.error:
            return self.skip("dns", "DNS", "skipped: Claude Code cannot use the proxy value, so "
                             "it sends nothing (see Proxy)")
        host, is_ip = self._dns_host()
        whose = "the proxy host " if self.via_proxy else ""

        def run() -> Check:
            pins = self.resolver.pins.get(host.lower())
            if is_ip:
                self.addresses, self.dns_ms = [host], 0.0
                return Check("dns", "DNS", Status.SKIP, f"{whose}{host} is an IP address: no lookup",
                             details={"addresses": self.addresses})
            if pins:
                self.addresses, self.dns_ms = list(pins), 0.0
                return Check("dns", "DNS", Status.SKIP,
                             f"pinned by --resolve: {whose}{host} → {', '.join(pins)}",
                             details={"addresses": self.addresses, "pinned": True})
            start = time.perf_counter()
            self.lookups = res = _dns.lookup_both(host, self.resolver, self.budget.dns)
            took = time.perf_counter() - start
            # IPv6 first, as getaddrinfo's default ordering hands them to the client
            self.addresses = res["AAAA"].addresses + res["A"].addresses
            self.dns_ms = max(lk.duration_s for lk in res.values()) * 1000
            details = {"resolver": self.resolver.describe(),
                       **{k: v.to_dict() for k, v in res.items()}}

            def part(lk: _dns.Lookup) -> str:
                if lk.outcome in ("nxdomain", "nodata") and self.addresses:
                    return f"{lk.rtype} none ({_ms(lk.duration_s)})"
                if lk.outcome == "ok":
                    return f"{lk.rtype} {', '.join(lk.addresses)} ({_ms(lk.duration_s)})"
                return f"{lk.rtype} {lk.message} ({_ms(lk.duration_s)})"

            line = f"{whose}{host} → " + "; ".join(part(lk) for lk in res.values())
            outcomes = {lk.outcome for lk in res.values()}
            if self.addresses:
                if "timeout" in outcomes:
                    slow = [lk.rtype for lk in res.values() if lk.outcome == "timeout"]
                    return Check("dns", "DNS", Status.WARN,
                                 f"{'/'.join(slow)} lookup timed out while the other answered: "
                                 + line, cause="dns.timeout", details=details, duration_s=took)
                return Check("dns", "DNS", Status.PASS, line, details=details, duration_s=took)
            if "timeout" in outcomes:
                return Check("dns", "DNS", Status.FAIL,
                             f"no answer from the resolver for {whose}{host}: " + line,
                             cause="dns.timeout", details=details, duration_s=took)
            return Check("dns", "DNS", Status.FAIL, f"{whose}{host} does not resolve: " + line,
                         cause="dns.nxdomain", details=details, duration_s=took)

        return self.guard("dns", "DNS", run)

    def check_tcp(self) -> list[Check]:
        """A TCP connect per address family, both at once."""
        if not self.addresses:
            return [self.skip("tcp", "TCP", "skipped: no address to connect to (see DNS)")]

        def run() -> list[Check]:
            port = self.proxy.port if self.via_proxy else self.target.port
            results = _tcp.connect_families(self.addresses, port, self.budget.connect)
            working = {f for f, tries in results.items() if tries and tries[-1].ok}
            self.connected = [tries[-1].address for f, tries in results.items()
                              if tries and tries[-1].ok]
            checks = []
            for family, tries in results.items():
                cid, title = f"tcp.{family.lower()}", f"TCP {family}"
                details = {"attempts": [a.to_dict() for a in tries]}
                took = sum(a.duration_s for a in tries)
                if not tries:
                    checks.append(Check(cid, title, Status.SKIP, "no time left to try",
                                        details=details))
                    continue
                last = tries[-1]
                if last.ok:
                    whose = "proxy " if self.via_proxy else ""
                    checks.append(Check(cid, title, Status.PASS,
                                        f"{whose}{last.endpoint} connected in "
                                        f"{_ms(last.duration_s)}",
                                        details=details, duration_s=took))
                    continue
                fault = last.fault
                if family == "IPv6" and "IPv4" in working:
                    checks.append(Check(cid, title, Status.FAIL,
                                        f"{last.endpoint}: {fault.message}, while IPv4 connects",
                                        cause="ipv6.broken", details=details, duration_s=took))
                elif self.via_proxy:
                    checks.append(Check(cid, title, Status.FAIL,
                                        f"proxy {last.endpoint}: {fault.message}",
                                        cause="proxy.unreachable", details=details,
                                        duration_s=took))
                else:
                    checks.append(Check(cid, title, Status.FAIL,
                                        f"{last.endpoint}: {fault.message}", cause=fault.cause,
                                        details=details, duration_s=took))
            return checks

        return self.guard("tcp", "TCP", run)

    def _address(self) -> str | None:
        return self.connected[0] if self.connected else None

    def check_connect(self) -> Check | None:
        """Through a proxy: ask it for a tunnel to the API (``CONNECT host:port``)."""
        if not self.via_proxy:
            return None  # no proxy, no step (nothing is recorded)
        if self.target.scheme != "https":
            return self.skip("connect", "CONNECT", "plain http:// target: the proxy "
                              "forwards the request itself (see HTTP)")
        if self.proxy.tls:
            return self.skip("connect", "CONNECT", "TLS proxy: the tunnel is checked by the "
                              "HTTP step")
        addr = self._address()
        if addr is None:
            return self.skip("connect", "CONNECT", "skipped: no connection to the proxy "
                              "(see TCP)")
        t = self.target

        def run() -> Check:
            tun = _tunnel.connect_through(self.proxy, addr, t.host, t.port,
                                         self.budget.connect, self.budget.read)
            details = {"proxy": self.proxy.endpoint, "status": tun.status,
                       "reason": tun.reason, "proxy_agent": tun.agent}
            if tun.sock is not None:
                tun.sock.close()
            if tun.ok:
                agent = f" ({tun.agent})" if tun.agent else ""
                return Check("connect", "CONNECT", Status.PASS,
                             f"the proxy opened a tunnel to {t.authority} in "
                             f"{_ms(tun.duration_s)}{agent}", details=details,
                             duration_s=tun.duration_s)
            return Check("connect", "CONNECT", Status.FAIL, tun.fault.message,
                         cause=tun.fault.cause, details=details, duration_s=tun.duration_s)

        return self.guard("connect", "CONNECT", run)

    def check_tls(self) -> Check:
        """The handshake and the presented chain, verified as the client would."""
        if self.target.scheme != "https":
            return self.skip("tls", "TLS", "plain http:// target: no TLS")
        addr = self._address()
        if addr is None:
            return self.skip("tls", "TLS", "skipped: no TCP connection (see TCP)")
        if self.trust is None:
            self.check_trust()
        if self.trust is None:  # the trust step itself crashed: its error says why
            return self.skip("tls", "TLS", "skipped: no trust store (see Trust store)")
        if self.via_proxy and self.proxy.tls:
            return self.skip("tls", "TLS", "TLS inside a TLS proxy: checked by the HTTP step")
        tunnel = self.checks.get("connect")
        if self.via_proxy and (tunnel is None or tunnel.status != Status.PASS):
            return self.skip("tls", "TLS", "skipped: no tunnel through the proxy (see CONNECT)")
        ctx = self.trust.context
        opener = None
        if self.via_proxy:
            p, t, b = self.proxy, self.target, self.budget

            def opener():
                return _tunnel.open_tunnel(p, addr, t.host, t.port, b.connect, b.read)

        def run() -> Check:
            hs = _tls.handshake(addr, self.target.port, self.target.host, ctx,
                                self.budget.connect, self.budget.tls, opener=opener)
            details = {"address": addr, "server_name": self.target.host,
                       "chain": [c.to_dict() for c in hs.chain]}
            if hs.ok:
                details.update(version=hs.version, cipher=hs.cipher)
                leaf = hs.chain[0] if hs.chain else None
                by = f", issued by {_tls.friendly_name(leaf.issuer)}" if leaf else ""
                return Check("tls", "TLS", Status.PASS,
                             f"{hs.version}, certificate valid for {self.target.host}{by} "
                             f"({_ms(hs.duration_s)})", details=details, duration_s=hs.duration_s)
            fault = hs.fault
            summary, fix = fault.message, fault.fix
            if fault.cause == "tls.untrusted_issuer":
                details["issuer"] = hs.top_issuer
                summary = f"chain ends at {hs.top_issuer!r}, which is not trusted here: {fault.message}"
                finding = self._ca_finding(hs, addr, opener)
                if finding is not None:  # what this machine has of that CA, and the next step
                    details["ca_to_trust"] = finding.to_dict()
                    fix = finding.advice()
                else:
                    fix = (f"If {hs.top_issuer!r} is your company's TLS-inspection CA, export it "
                           "as PEM and `export NODE_EXTRA_CA_CERTS=/path/to/ca.pem` (or put it in "
                           "the `env` block of ~/.claude/settings.json). Never "
                           "NODE_TLS_REJECT_UNAUTHORIZED=0.")
            elif fault.cause == "tls.hostname_mismatch" and hs.chain:
                sans = ", ".join(hs.chain[0].sans) or hs.chain[0].subject
                summary = f"certificate is for {sans}, not {self.target.host}: {fault.message}"
            elif fault.cause in ("tls.expired", "tls.not_yet_valid") and hs.chain:
                leaf = hs.chain[0]
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                summary = (f"{fault.message}: valid {leaf.not_before} → {leaf.not_after}, "
                           f"this machine's clock says {now}")
            return Check("tls", "TLS", Status.FAIL, summary, cause=fault.cause, fix=fix,
                         details=details, duration_s=hs.duration_s)

        return self.guard("tls", "TLS", run)

    def _ca_finding(self, hs: _tls.Handshake, addr: str, opener):
        """The CA the refused chain needs, as this machine has it (shared with the proxy & TLS
        runbook and `runbooks fix`: one finding, one story), proven along this same path."""
        from ..probes import inspection as _insp

        chain = [_insp.CertFacts(d) for d in hs.chain_der]
        t, b, env = self.target, self.budget, self.ctx.env

        def verify(ca: _insp.CertFacts) -> _tls.Handshake:
            return _tls.handshake(addr, t.port, t.host, _insp.context_with(env, ca), b.connect,
                                  b.tls, opener=opener)
        return _insp.ca_finding(self.ctx, chain, verify)

    def check_http(self) -> Check:
        """One credential-less request: does the API itself answer, and how fast."""
        addr = self._address()
        if addr is None:
            return self.skip("http", "HTTP", "skipped: no TCP connection (see TCP)")
        tls = self.checks.get("tls")
        tls_in_proxy = self.via_proxy and self.proxy.tls
        if (self.target.scheme == "https" and tls is not None and tls.status != Status.PASS
                and not tls_in_proxy):
            return self.skip("http", "HTTP", "skipped: no trusted TLS channel (see TLS)")

        def run() -> Check:
            ctx = self.trust.context if self.trust else None
            if self.via_proxy:
                ex = _http.probe(self.target, None, ctx, self.budget, self.dns_ms,
                                 proxy=self.proxy.url)
            else:
                ex = _http.probe(self.target, addr, ctx, self.budget, self.dns_ms)
            details = {**ex.details, "timings_ms": ex.timings_ms}
            took = ex.timings_ms.get("total", 0.0) / 1000
            if ex.ok:
                tm = ex.timings_ms
                phases = ", ".join(f"{k} {tm[k]:.0f}" for k in
                                   ("dns", "connect", "proxy_tls", "tunnel", "tls",
                                    "first_byte") if k in tm)
                return Check("http", "HTTP", Status.PASS,
                             f"{ex.summary}; {phases}, total {tm['total']:.0f} ms",
                             details=details, duration_s=took)
            return Check("http", "HTTP", Status.FAIL, ex.summary, cause=ex.cause, fix=ex.fix,
                         details=details, duration_s=took)

        return self.guard("http", "HTTP", run)

    def _blame_bypass(self) -> None:
        """NO_PROXY sent the target direct, and the direct path failed: say so on the Proxy
        line, since that is the one setting that would change the path."""
        p, check = self.proxy, self.checks.get("proxy")
        if p is None or not p.bypass or check is None or check.status != Status.PASS:
            return
        failed = [c for c in self.checks.values() if c.id != "proxy" and c.status == Status.FAIL
                  and c.cause and c.cause.split(".")[0] in ("dns", "tcp", "ipv6", "http")]
        if not failed:
            return
        summary = check.summary + f", and the direct path fails ({failed[0].cause})"
        details = dict(check.details)
        through = self._try_proxy_anyway(p)
        if through is not None:
            details["through_proxy"] = {"ok": through.ok, "status": through.status,
                                        "error": through.fault.message if through.fault else None}
            summary += ("; through the proxy the tunnel opens" if through.ok else
                        f"; the proxy does not help either ({through.fault.message})")
        self.record(Check("proxy", "Proxy", Status.WARN, summary, cause="proxy.bypassed",
                           details=details))

    def _try_proxy_anyway(self, p: _proxy.ProxyChoice) -> _tunnel.Tunnel | None:
        """Would the bypassed proxy have reached the API? One CONNECT, within the budgets."""
        if p.tls or self.target.scheme != "https":
            return None
        try:
            if is_ip_literal(p.host):
                address = p.host
            else:
                found = _dns.lookup_both(p.host, self.resolver, self.budget.dns)
                addrs = found["A"].addresses + found["AAAA"].addresses
                if not addrs:
                    return None
                address = addrs[0]
            # a side check: the connect budget bounds the proxy's answer too
            tunnel = _tunnel.connect_through(p, address, self.target.host, self.target.port,
                                            self.budget.connect, self.budget.connect)
        except Exception:  # noqa: BLE001 - a side check: never let it spoil the report
            return None
        if tunnel.sock is not None:
            tunnel.sock.close()
        return tunnel

    def finish(self) -> None:
        self._blame_bypass()


def diagnose(base_url: str = "", *, env: Mapping[str, str] | None = None, **params: Any) -> Report:
    """Run every network check against ``base_url`` (or what Claude Code would use)."""
    return NetworkRun.from_parameters(base_url=base_url, env=env, **params).run_all()
