"""The proxy & TLS runbook: who sits on the path, the CA to trust, the proxy's
authentication, and every host Claude Code needs.

issuer → CA export → NODE_EXTRA_CA_CERTS → proxy authentication → hosts to allow.

It takes the network runbook's path (the same proxy choice, tunnel and trust: the probes of
:mod:`runbooks.probes.hosts`) and goes on where that one stops:

- **Issuer**: the CA the presented chain ends at, and the product that made it when its
  name says so (:data:`runbooks.probes.inspection.PRODUCTS`: Zscaler, Netskope, Palo Alto…);
- **CA export**: that CA (the top of the chain, or the matching root from the system store)
  as PEM, with its fingerprint and validity, and a second handshake along the same path with
  the client's trust plus that file, proving the file is the fix. Written where the run
  writes (the notebook's folder, ``runbooks run proxy-tls``'s run folder); the doctor writes
  nothing. The next step is the same everywhere (:class:`runbooks.probes.inspection.CaFinding`):
  ``runbooks fix --trust-ca SHA256`` once IT confirms the fingerprint, or, when no copy of
  the CA is on this machine, IT's file and ``runbooks fix --ca-file``;
- **CA bundle**: an existing ``NODE_EXTRA_CA_CERTS`` file, certificate by certificate;
- **Proxy auth**: a ``407`` that asks for NTLM/Negotiate/Kerberos, which Claude Code cannot
  answer, and the local authenticating proxy (cntlm, px) configured for *this* proxy;
- **Hosts**: one line per host Claude Code needs, each along its own path, all at once.

Every path is walked once per run (``ctx.once``), the first time a step needs it, all hosts
at the same time: the whole runbook costs one set of budgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..addr import hostport
from ..files import FileProblem, read_bytes
from ..probes import caexport as _export
from ..probes import hosts as _hosts
from ..probes import inspection as _insp
from ..probes.cabundle import Bundle, read_bundle
from ..result import Check, Status
from .base import COMMON, NETWORK_PATH, Context, Runbook
from .params import merge, text

__all__ = ["HOSTS", "ProxyTlsRun", "local_auth_proxy"]


def _check_hosts(value: str) -> None:
    _hosts.parse_hosts(value)


HOSTS: tuple = (
    text("hosts", "", "other hosts to check, comma-separated NAME[:PORT] (empty: "
         "RUNBOOKS_HOSTS, else claude.ai, platform.claude.com, downloads.claude.ai; none: "
         "only the API host and the status page)", _check_hosts, "NAME[:PORT][,…]"),
)

_NEVER = _insp.NEVER
_RUN = "runbooks run proxy-tls"


def _ms(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else "?"


class ProxyTlsRun(Runbook):
    """TLS inspection, the CA to trust, proxy authentication and the hosts to allow."""

    id = "proxy-tls"
    title = "Proxy & TLS: who re-signs the traffic, the CA to trust, the hosts to allow"
    PARAMETERS = merge(COMMON, NETWORK_PATH, HOSTS)
    STEPS = ("check_issuer", "check_export", "check_bundle", "check_proxy_auth")
    #: not a live request (the paths were walked with the first step), but in the doctor it
    #: runs after the network runbook, which then says whether it already reported the API
    #: host's path: that line points there instead of reporting the same fault twice
    LIVE_STEPS = ("check_hosts",)

    def __init__(self, context: Context, hosts: str = "", **options: Any) -> None:
        super().__init__(context, **options)
        self.hosts = hosts
        #: where the CA export writes its PEM file (None: nowhere, as in the doctor)
        self.export_dir: Path | None = None
        self.exported: Path | None = None

    # -- what every step reads, made once per run ------------------------------------------------
    @property
    def walks(self) -> list[_hosts.Walk]:
        """Every host's path, walked once per run, all at once (the first step to ask waits)."""
        return _export.walks(self.ctx, self.hosts)

    @property
    def api(self) -> _hosts.Walk:
        return self.walks[0]

    @property
    def chain(self) -> list[_insp.CertFacts]:
        """The certificates the API host presented, when they were not trusted."""
        return _export.chain(self.api)

    @property
    def bundle(self) -> Bundle | None:
        path = self.env.get("NODE_EXTRA_CA_CERTS", "").strip()
        if not path:
            return None
        return self.ctx.once(f"proxy_tls.bundle:{path}", lambda: read_bundle(path))

    def _store(self) -> tuple[list[_insp.CertFacts], list[str]]:
        return _export.system_store(self.ctx)

    def ca_finding(self) -> _insp.CaFinding | None:
        """What this machine has of the CA the API's refused chain needs, proven along its
        path: one finding per run, shared with the network runbook and `runbooks fix`, so
        all of them tell the same story (None: no chain was kept). Asked of the CA export
        probe (:func:`runbooks.probes.caexport.finding`), as the fix asks it."""
        return _export.finding(self.ctx, self.hosts)

    def _trusted_der(self) -> set[bytes]:
        """Every root Claude Code trusts without NODE_EXTRA_CA_CERTS, as DER: the system store
        and the bundled Mozilla list (certifi holds the same list Node bundles)."""
        import certifi

        ders = {c.der for c in self._store()[0]}
        try:
            ders.update(_insp.pem_blocks(read_bytes(certifi.where(), 4 * 1024 * 1024)))
        except FileProblem:
            pass
        return ders

    def _no_tls(self, check_id: str, title: str) -> Check | None:
        """A skip record when there is no TLS on the API path to look at, and why."""
        api = self.api
        if api.host.scheme != "https":
            return self.skip(check_id, title, "plain http:// target: no TLS")
        if api.proxy is not None and api.proxy.tls and api.handshake is None:
            if api.ok:
                return self.skip(check_id, title, "TLS inside a TLS proxy: verified (see "
                                 "API host), its chain is not shown here")
            if not (api.cause or "").startswith("tls."):
                return self.skip(check_id, title, f"no TLS channel to look at: {api.cause} "
                                 "(see the network checks)")
            return self.skip(check_id, title, f"TLS inside a TLS proxy fails ({api.cause}): "
                             "its chain is not shown here (see the network HTTP check)")
        if api.handshake is None:
            return self.skip(check_id, title, f"no TLS channel to look at: "
                             f"{api.cause or 'the path did not open'} (see the network checks)")
        return None

    # -- steps -------------------------------------------------------------------------------
    def check_issuer(self) -> Check:
        """The CA the API's chain ends at, and the TLS-inspecting product it names."""
        cid, title = "tls.issuer", "Issuer"

        def run() -> Check:
            skipped = self._no_tls(cid, title)
            if skipped:
                return skipped
            api, hs = self.api, self.api.handshake
            if not hs.chain:
                return Check(cid, title, Status.SKIP, f"no certificate was presented "
                             f"({api.cause}: {api.message})", details=api.to_dict())
            top = hs.chain[-1]
            issuer = _tls_name(top.issuer)
            product = _insp.name_product(top.issuer, top.subject)
            details: dict[str, Any] = {"issuer": top.issuer, "chain": [c.to_dict()
                                                                     for c in hs.chain],
                                       "path": api.route, "product": None}
            if product:
                details["product"] = {"name": product.name, "kind": product.kind}
            who = (f": TLS inspection by {product.name} (a {product.kind})" if product else "")
            if hs.ok:
                source = self._trusted_by(top.issuer)
                return Check(cid, title, Status.PASS,
                             f"the chain ends at {issuer!r}{who}, trusted here ({source})",
                             details=details)
            if api.cause != "tls.untrusted_issuer":
                return Check(cid, title, Status.SKIP,
                             f"the chain ends at {issuer!r}{who}; TLS fails for another reason "
                             f"({api.cause}: see the network TLS check"
                             + (" and CA bundle)" if self.bundle else ")"), details=details)
            unknown = ("no product's name is in it: a TLS-inspecting proxy, an antivirus web "
                       "shield or a private CA")
            said = (f"TLS inspection by {product.name} (a {product.kind})" if product
                    else unknown)
            finding = self.ca_finding()
            if finding is not None:
                details["ca_to_trust"] = finding.to_dict()
            return Check(cid, title, Status.FAIL,
                         f"the chain ends at {issuer!r} ({top.issuer}), not trusted here: "
                         f"{said}", cause="tls.untrusted_issuer", details=details,
                         fix=finding.advice() if finding is not None else
                         f"Trust that CA, not less: get it from IT as a PEM file, then run "
                         f"`runbooks fix --ca-file ca.pem`. {_NEVER}")

        return self.guard(cid, title, run)

    def _trusted_by(self, issuer: str) -> str:
        bundle = self.bundle
        if bundle and any(c.subject == issuer for c in bundle.usable):
            return "by NODE_EXTRA_CA_CERTS"
        return "by the bundled or the system roots"

    def check_export(self) -> Check:
        """The CA to trust as a PEM file, and proof it makes the chain verify."""
        cid, title = "tls.export", "CA export"

        def run() -> Check:
            skipped = self._no_tls(cid, title)
            if skipped:
                return skipped
            api = self.api
            if api.ok:
                return Check(cid, title, Status.SKIP, "nothing to export: the chain verifies "
                             "with the client's trust")
            if api.cause not in ("tls.untrusted_issuer", "tls.expired") or not api.chain_der:
                return Check(cid, title, Status.SKIP, f"nothing to export: TLS fails with "
                             f"{api.cause}, which no CA fixes (see the network TLS check)")
            chain = self.chain
            finding = self.ca_finding()
            if finding is None:
                return Check(cid, title, Status.SKIP, "nothing to export: the certificates "
                             "presented do not parse", details={"chain_der": len(chain)})
            details: dict[str, Any] = {"ca_to_trust": finding.to_dict()}
            story = api.cause == "tls.untrusted_issuer"  # (an expired chain: no --trust-ca)
            ca = finding.ca
            if ca is None:
                details["chain"] = [c.to_dict() for c in chain]
                details["lines"] = [f"next: {finding.next_step()}"]
                return Check(cid, title, Status.SKIP, f"nothing to export: {finding.found()}",
                             details=details)
            details.update({**ca.to_dict(), "origin": finding.origin,
                            "verifies": finding.verifies, "with_it": finding.with_it})
            facts = (f"{ca.name!r} (SHA-256 {ca.sha256[:23]}…, valid "
                     f"{ca.not_before:%Y-%m-%d} → {ca.not_after:%Y-%m-%d}), {finding.origin}")
            where = ""
            if self.export_dir is not None:
                self.exported = path = _insp.write_pem(ca, self.export_dir)
                details["path"] = str(path)
                where = f"; written to {path}"
            if story or not finding.verifies:
                details["lines"] = [f"next: {finding.next_step()}"]
            elif self.exported is not None:  # the expired copy's replacement, in the bundle
                details["lines"] = [f"export NODE_EXTRA_CA_CERTS={self.exported}"]
            else:
                details["lines"] = [f"{_RUN}    # writes {_insp.slug(ca.name)}.pem; then: "
                                    + "export NODE_EXTRA_CA_CERTS=<that file>"]
            if finding.verifies:
                return Check(cid, title, Status.PASS,
                             f"{facts}: with it the chain verifies ({finding.with_it}){where}",
                             details=details)
            if api.cause == "tls.expired":
                return Check(cid, title, Status.SKIP,
                             f"{facts}: even with it TLS fails ({finding.with_it}): the "
                             "server's own certificate is the problem", details=details)
            return Check(cid, title, Status.FAIL,
                         f"{facts}: even with it the chain does not verify "
                         f"({finding.with_it}){where}", cause=finding.with_it_cause,
                         details=details, fix=finding.advice())

        return self.guard(cid, title, run)

    def _verify_with(self, ca: _insp.CertFacts):
        """A second handshake along the same path, with the client's trust plus ``ca``."""
        return _export.verify_with(self.ctx, self.api, ca)

    def check_bundle(self) -> Check:
        """``NODE_EXTRA_CA_CERTS``, certificate by certificate: usable, and the right CA?"""
        cid, title = "tls.bundle", "CA bundle"
        path = self.env.get("NODE_EXTRA_CA_CERTS", "").strip()
        if not path:
            return self.skip(cid, title, "NODE_EXTRA_CA_CERTS is not set: only the bundled "
                             "and system roots are trusted")

        def run() -> Check:
            bundle = self.bundle
            api = self.api
            tls_known = api.host.scheme == "https" and api.handshake is not None
            chain_failed = tls_known and not api.ok and (api.cause or "").startswith("tls.")
            # only then: the stores cost a parse (a defect, or a big bundle that does not help)
            if any(c.problem for c in bundle.certs) or (chain_failed and
                                                         len(bundle.certs) > _LISTED):
                bundle.mark_copies(self._trusted_der())
            details: dict[str, Any] = bundle.to_dict()
            details["lines"] = _bundle_lines(bundle)
            finding = self.ca_finding() if chain_failed else None
            problems = bundle.problems_for(self.chain)
            anchors = bundle.anchoring(self.chain) if self.chain else []
            details["issuer_in_bundle"] = [a.index for a in anchors]
            count = f"{len(bundle.certs)} certificate{'s' if len(bundle.certs) != 1 else ''}"
            if problems:
                return Check(cid, title, Status.FAIL if chain_failed else Status.WARN,
                             f"NODE_EXTRA_CA_CERTS={path}: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             cause="config.ca_file_invalid", details=details,
                             fix=_bundle_fix(bundle, self.exported, finding))
            if chain_failed and api.cause == "tls.untrusted_issuer":
                need = self._needed_issuer()
                fix = None
                if finding is not None:
                    details["ca_to_trust"] = finding.to_dict()
                    name = finding.ca.name if finding.ca is not None else finding.needed
                    fix = (f"Add {name!r} to it: {finding.next_step()} (the new bundle keeps "
                           f"every certificate yours holds). {_NEVER}")
                if anchors:
                    held = anchors[0]
                    return Check(cid, title, Status.FAIL,
                                 f"your bundle holds {held.facts.name!r}, which signs the chain, "
                                 "but not the root above it: trust starts at a root",
                                 cause="tls.untrusted_issuer", details=details, fix=fix)
                return Check(cid, title, Status.FAIL,
                             f"your bundle does not contain the issuer {need!r} ({count}: "
                             f"{_holds(bundle)})", cause="tls.untrusted_issuer",
                             details=details, fix=fix)
            used = " (it holds the issuer of this chain)" if anchors else ""
            valid = "all valid CAs" if len(bundle.certs) > 1 else "a valid CA"
            stale = [c for c in bundle.certs if c.problem and c.index in bundle.copies]
            if stale:
                valid = (f"{len(bundle.certs) - len(stale)} valid CAs; {len(stale)} expired or "
                         "unusable, each a copy of a root Claude Code trusts anyway (the system "
                         "store or its bundled list): harmless")
            return Check(cid, title, Status.PASS,
                         f"NODE_EXTRA_CA_CERTS={path}: {count}, {valid}{used}", details=details)

        return self.guard(cid, title, run)

    def _needed_issuer(self) -> str:
        """The name of the CA the API's chain needs: the issuer at its top."""
        if self.chain:
            return self.chain[-1].issuer_name
        hs = self.api.handshake
        return _tls_name(hs.chain[-1].issuer) if hs and hs.chain else "the proxy's CA"

    def check_proxy_auth(self) -> Check:
        """A proxy that wants credentials: which schemes, and what Claude Code can answer."""
        cid, title = "proxy.auth", "Proxy auth"

        def run() -> Check:
            api = self.api
            p = api.proxy
            if p is None:
                return Check(cid, title, Status.SKIP, "no proxy in effect for the API host: "
                             "nothing to authenticate to")
            tun = api.tunnel
            if api.cause == "proxy.auth_required" and (tun is None or tun.status != 407):
                return Check(cid, title, Status.FAIL, api.message,  # a TLS proxy's 407
                             cause="proxy.auth_required", details=api.to_dict())
            if tun is None and api.ok:
                return Check(cid, title, Status.PASS, f"the TLS proxy {p.endpoint} opens a "
                             "tunnel: no credentials wanted, or the URL's are accepted")
            if tun is None:
                return Check(cid, title, Status.SKIP, f"no answer to a CONNECT to look at "
                             f"({api.cause}: see the network checks)")
            details = {"proxy": p.endpoint, "variable": p.var, "status": tun.status,
                       "schemes": api.challenges, "basic_credentials": p.username is not None}
            if tun.ok:
                how = ("its Basic credentials in the URL are accepted" if p.username is not
                       None else "it asks for no credentials")
                return Check(cid, title, Status.PASS, f"the proxy {p.endpoint} opens a tunnel: "
                             f"{how}", details=details)
            if tun.status != 407:
                return Check(cid, title, Status.SKIP, f"the proxy answers {tun.status} "
                             f"{tun.reason}, not 407: not about credentials (see CONNECT)",
                             details=details)
            schemes = api.challenges or [(tun.headers or {}).get("proxy-authenticate", "?")
                                         .split()[0]]
            offered = ", ".join(schemes)
            if any(s.lower() == "basic" for s in schemes):
                what = ("rejects the Basic credentials in the URL" if p.username is not None
                        else "wants Basic credentials, and the URL has none")
                return Check(cid, title, Status.FAIL, f"the proxy {p.endpoint} {what} (407; "
                             f"it offers {offered})", cause="proxy.auth_required",
                             details=details,
                             fix=f"Put the credentials in the proxy URL, percent-encoded: "
                                 f"{p.var}=http://USER:PASSWORD@{p.endpoint}")
            details["lines"] = local_auth_proxy(p.host, p.port, schemes, p.username)
            return Check(cid, title, Status.FAIL,
                         f"the proxy {p.endpoint} wants {offered} (407), and Claude Code only "
                         "does Basic: put a local authenticating proxy in between",
                         cause="proxy.auth_required", details=details,
                         fix="Run cntlm or px on this machine with the lines above, then "
                             f"{p.var}=http://127.0.0.1:3128 (or use an LLM gateway).")

        return self.guard(cid, title, run)

    def check_hosts(self) -> list[Check]:
        """Every host Claude Code needs, each along its own path: one line each."""

        def run() -> list[Check]:
            return [self._host_check(w) for w in self.walks]

        return self.guard("hosts", "Hosts", run)

    def _host_check(self, w: _hosts.Walk) -> Check:
        h = w.host
        cid = f"host.{h.role}" if h.role != "other" else f"host.{h.authority}"
        details = w.to_dict()
        took = sum(w.timings_ms.values()) / 1000
        if w.ok:
            tm = ", ".join(f"{k.upper() if k != 'connect' else 'CONNECT'} {_ms(v)}"
                           for k, v in w.timings_ms.items())
            note = f"; {w.note}" if w.note else ""
            return Check(cid, h.title, Status.PASS,
                         f"{h.authority} {w.route}: reachable ({tm}){note}", details=details,
                         duration_s=took)
        summary = f"{h.authority} {w.route}: {w.message}"
        if w.cause is None:  # the walk itself crashed
            return Check(cid, h.title, Status.ERROR, summary, details=details)
        if h.role == "api" and self.path_broken:  # the doctor: network has reported it
            return Check(cid, h.title, Status.SKIP, f"{summary}; the network checks above "
                         "report it", details=details)
        if h.role == "status":  # informational, as the status check itself is
            return Check(cid, h.title, Status.SKIP, summary, cause="status.unreachable",
                         details=details, duration_s=took)
        return Check(cid, h.title, Status.FAIL if h.role == "api" else Status.WARN, summary,
                     cause=w.cause, fix=self._host_fix(w), details=details, duration_s=took)

    def _host_fix(self, w: _hosts.Walk) -> str | None:
        """Where this runbook has a better fix than the cause's own, say it once: the CA
        (Issuer, CA export), the proxy's authentication (Proxy auth), the allow-list."""
        h, cause = w.host, w.cause or ""
        if cause == "tls.untrusted_issuer":
            return "Trust the proxy's CA: see Issuer and CA export (one CA fixes every host)."
        if cause == "proxy.auth_required" and w.challenges and not any(
                s.lower() == "basic" for s in w.challenges):
            return "See Proxy auth: a local authenticating proxy (cntlm, px) in between."
        if h.role == "api" or cause.startswith(("tls.", "proxy.bad_url",
                                                 "proxy.auth_required")):
            return w.fix
        need = f"Claude Code needs it for {h.purpose}."
        kind = _hosts.failure_class(cause)
        if kind == "dns" and w.proxy is not None:
            return (f"The proxy host {w.proxy.host} does not resolve: check the host name in "
                    f"{w.proxy.var}, or the DNS server this machine uses.")
        if kind == "dns":  # a name that does not resolve is the resolver's, not a firewall's
            said = ("the DNS server does not answer for it" if cause == "dns.timeout" else
                    "the DNS server says it does not exist")
            return (f"{h.name} does not resolve ({said}): a DNS problem, not a firewall rule. "
                    "Check the DNS server this machine uses (a VPN's DNS, a filtering "
                    f"resolver that blocks the name, an entry in the hosts file): `nslookup "
                    f"{h.name}` should answer. {need}")
        if kind == "route":
            return (f"No route to {h.authority}: check the default route and any VPN "
                    f"(`ip route get <addr>`). {need}")
        return f"Allow {h.authority} (TCP) in the firewall and the proxy's allow-list: {need}"

    def allowlist(self) -> list[str]:
        """The hosts as an allow-list table: host, port, path taken, verdict (one line each)."""
        return _hosts.allowlist_lines(self.walks)


# -- words -----------------------------------------------------------------------------------
def _tls_name(rfc4514: str) -> str:
    from ..probes.tls import friendly_name

    return friendly_name(rfc4514)


#: a bundle this size is listed whole; a larger one (a system bundle) by its defects only
_LISTED = 10


def _bundle_lines(bundle: Bundle) -> list[str]:
    certs = bundle.certs
    if len(certs) <= _LISTED:
        return [_cert_line(c, c.index in bundle.copies) for c in certs]
    bad = [c for c in certs if c.problem]
    rest = len(certs) - len(bad)
    return [_cert_line(c, c.index in bundle.copies) for c in bad] + [
        f"… and {rest} valid CA{'s' if rest != 1 else ''} (all of them in the JSON report)"]


def _cert_line(c, copy: bool = False) -> str:
    if c.facts is None:
        return f"{c.index}. {c.problem}"
    f = c.facts
    state = c.problem or "ok"
    if c.problem and copy:  # what is wrong, without a fix: there is nothing to do
        state = c.problem.split(":")[0] + " (a copy of a root already trusted: harmless)"
    return (f"{c.index}. {f.name}: SHA-256 {f.sha256[:23]}…, valid {f.not_before:%Y-%m-%d} → "
            f"{f.not_after:%Y-%m-%d}, {'CA' if f.is_ca else 'not a CA'}: {state}")


def _holds(bundle: Bundle) -> str:
    """What a bundle holds, in a few words: a small one by name, a big one (a system bundle)
    counted, with the few that are not copies of roots the client trusts anyway."""
    named = [c.facts.name for c in bundle.certs if c.facts is not None]
    if len(bundle.certs) <= _LISTED:
        return ", ".join(repr(n) for n in named) or "none"
    copies = [c for c in bundle.certs if c.index in bundle.copies]
    others = [c.facts.name for c in bundle.certs
              if c.facts is not None and c.index not in bundle.copies]
    parts = []
    if others:
        shown = ", ".join(repr(n) for n in others[:3])
        parts.append(shown if len(others) <= 3 else f"{shown} and {len(others) - 3} more")
    if copies:
        parts.append(f"{len(copies)} cop{'ies' if len(copies) != 1 else 'y'} of roots Claude "
                     "Code trusts anyway")
    return " and ".join(parts) or "none that parse"


def _bundle_fix(bundle: Bundle, exported: Path | None,
                finding: _insp.CaFinding | None = None) -> str:
    if exported:
        other = f"point NODE_EXTRA_CA_CERTS at {exported}"
    elif finding is not None and finding.ca is not None:
        other = f"point NODE_EXTRA_CA_CERTS at the PEM file `{_RUN}` exports (see CA export)"
    elif finding is not None:
        other = (f"ask IT for the root CA {finding.needed!r} and run "
                 "`runbooks fix --ca-file ca.pem`")
    else:
        other = "point NODE_EXTRA_CA_CERTS at a PEM file with your proxy's current root CA"
    if bundle.error:
        return f"Repair the file as said above, or {other}."
    return f"Replace the bad certificates with your proxy's current root CA (PEM), or {other}."


def local_auth_proxy(host: str, port: int, schemes: list[str],
                     username: str | None = None) -> list[str]:
    """The configuration of a local authenticating proxy for ``host:port``: cntlm for NTLM
    (Linux, macOS, Windows), px for NTLM and Kerberos/Negotiate (the Windows login's own
    credentials, or a user and domain elsewhere). Never a password: cntlm's is hashed by
    ``cntlm -H``, px's comes from the OS or its keyring."""
    user = username or "YOUR_USER"
    kinds = {s.lower() for s in schemes}
    lines = []
    if "ntlm" in kinds or not kinds & {"negotiate", "kerberos"}:
        lines += [
            "cntlm (NTLM): /etc/cntlm.conf (Windows: cntlm.ini beside cntlm.exe):",
            f"    Username  {user}",
            "    Domain    YOUR_DOMAIN",
            f"    Proxy     {hostport(host, port)}",
            "    Listen    3128",
            f"  then `cntlm -H -u {user} -d YOUR_DOMAIN` prints the PassNTLMv2 line to add"
            + " (the password is never stored), and `cntlm` starts it",
        ]
    lines += [
        "px (NTLM and Kerberos/Negotiate; on Windows it uses your login):",
        f"    px --proxy={hostport(host, port)} --port=3128",
        f"  or px.ini: [proxy] server = {hostport(host, port)}, port = 3128",
        "then: export HTTPS_PROXY=http://127.0.0.1:3128 (Claude Code talks to the local"
        + " proxy, which answers the corporate one)",
    ]
    return lines


