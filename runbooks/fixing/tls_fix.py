"""Trusting a TLS-inspection CA: the one fix that is a security decision.

When the chain to the API ends in a CA the client does not trust, the CA export probe
(:mod:`runbooks.probes.caexport`, which the proxy-tls runbook reports) finds the CA to trust (the top
of the presented chain, or its root in the system store) and proves, with a second handshake,
that it makes the chain verify. This fix writes
that CA into a bundle under Claude Code's config folder (after any certificates the current
``NODE_EXTRA_CA_CERTS`` file holds, so nothing it trusted is lost) and points
``NODE_EXTRA_CA_CERTS`` at it in a settings file.

It is applied only when the user passes the CA's own SHA-256 fingerprint (``--trust-ca``),
having confirmed it with whoever runs the proxy: a CA that re-signs everything can read
everything, and the fingerprint is what tells the company's from an attacker's.
"""

from __future__ import annotations

from pathlib import Path

from ..client.settings import user_dir
from ..files import FileProblem, MiB, read_bytes, shown_path
from ..probes import caexport as _export
from ..probes import inspection as _insp
from ..probes.context import Context
from ..result import Report
from .jsonedit import EditError
from .plan import FileEdit, Fix, Plan
from .remedies import FixOptions, _content, _Writer, make_plan

__all__ = ["plan_for", "trust_ca_fix"]


def _hex(fingerprint: str) -> str:
    return fingerprint.replace(":", "").strip().lower()


_fingerprinted = _export.parsed  # a certificate from a DER block, or None if it does not parse


def _fingerprint_of(block: bytes) -> str | None:
    facts = _fingerprinted(block)
    return facts.sha256 if facts is not None else None


def trust_ca_fix(ctx: Context, report: Report, options: FixOptions) -> Fix | None:
    """Trusting the CA the chain needs: the one the proxy-tls runbook found on this machine
    (its :class:`~runbooks.probes.inspection.CaFinding`, shared through the context: the plan says
    what the doctor said), or the one in ``--ca-file``; both asked of the CA export probe
    (:mod:`runbooks.probes.caexport`): no fix imports a runbook."""
    if "tls.untrusted_issuer" not in report.causes:
        return None
    config = user_dir(ctx.env)
    finding = None if options.ca_file else _export.finding(ctx)  # asked of the CA export probe
    needed = finding.needed if finding is not None else _export.needed(ctx)
    untrusted = f"the chain ends at {needed!r}, which this machine does not trust"
    if options.ca_file:
        ca, proven = _export.from_file(ctx, options.ca_file)
    else:
        ca = finding.ca if finding is not None else None
        proven = bool(finding is not None and finding.verifies)
    if config is None:
        return Fix("trust-ca", "tls.untrusted_issuer", untrusted,
                   manual="no home folder (HOME/USERPROFILE) to keep a CA bundle in")
    if ca is None:
        if finding is not None:
            why = finding.found()
        elif options.ca_file:
            why = f"{shown_path(options.ca_file)} holds no CA certificate"
        else:
            why = "no certificate chain was kept to find the CA in"
        ask = _insp.CaFinding(needed).next_step()
        return Fix("trust-ca", "tls.untrusted_issuer", untrusted,
                   manual=f"{why}: {finding.next_step() if finding is not None else ask}")
    fp = _hex(ca.sha256)
    summary = (f"trust {ca.subject!r}, SHA-256 {ca.sha256}: write it to a bundle under "
               f"{config} and set NODE_EXTRA_CA_CERTS to it")
    if not proven:
        why = (f"{finding.found()}: {finding.next_step()}" if finding is not None else
               f"even with the CA in {shown_path(options.ca_file)} the chain does not verify "
               "(is it the right one?)")
        return Fix("trust-ca", "tls.untrusted_issuer", summary, manual=f"not applied: {why}")
    bundle_path = config / "ca" / f"{_insp.slug(ca.name)}-{fp[:8]}.pem"
    current = ctx.env.get("NODE_EXTRA_CA_CERTS", "").strip()
    kept = b""
    if current and Path(current) != bundle_path:
        try:  # what the current bundle trusts stays trusted
            certs = [_fingerprinted(b) for b in _insp.pem_blocks(read_bytes(current, 16 * MiB))]
            certs = [c for c in certs if c is not None and c.sha256 != ca.sha256]
            if certs:  # said in the file, and so in its diff: where the others come from
                shown = "".join(ch if ch.isprintable() else "?" for ch in current)
                kept = (f"# Kept from NODE_EXTRA_CA_CERTS={shown}: {len(certs)} "
                        f"certificate{'s' if len(certs) != 1 else ''}\n").encode() + \
                    b"".join(c.pem for c in certs)
        except (FileProblem, ValueError):
            kept = b""  # unusable: config.ca_file_invalid says so; the new bundle replaces it
    head = (f"# Written by `runbooks fix --trust-ca`: {ca.subject}\n"
            f"# SHA-256 {ca.sha256}\n").encode()
    content = (kept + head + ca.pem) if kept else head + ca.pem
    w = _Writer(ctx, options)
    try:
        before = _content(bundle_path)
        w.set("NODE_EXTRA_CA_CERTS", str(bundle_path))
    except EditError as exc:
        return Fix("trust-ca", "tls.untrusted_issuer", summary, manual=str(exc))
    if w.simulate().get("NODE_EXTRA_CA_CERTS") != str(bundle_path):
        return Fix("trust-ca", "tls.untrusted_issuer", summary,
                   manual="not applied: a shell or managed setting would still win")
    edits = [FileEdit(bundle_path, before, content), *w.edits()]
    fix = Fix("trust-ca", "tls.untrusted_issuer", summary, edits=edits,
              covers=("tls.untrusted_issuer",), env={"NODE_EXTRA_CA_CERTS": str(bundle_path)})
    fix.data = {"fingerprint": ca.sha256, "subject": ca.subject}
    if _hex(options.trust_ca) != fp:
        given = (f"the fingerprint given ({options.trust_ca}) is not this CA's; "
                 if options.trust_ca else "")
        step = (finding.next_step() if finding is not None else
                "confirm its fingerprint with IT (whoever runs the proxy), then run "
                f"`runbooks fix --ca-file {options.ca_file} --trust-ca {ca.sha256}`")
        fix.blocked = f"{given}{step}"
    return fix


def plan_for(ctx: Context, report: Report, options: FixOptions) -> Plan:
    """Every fix for ``report``: the settings fixes, and trusting a CA where one is needed."""
    extra = [f for f in (trust_ca_fix(ctx, report, options),) if f is not None]
    return make_plan(ctx, report, options, extra)
