"""Trusting a TLS-inspection CA: the one fix that is a security decision.

When the chain to the API ends in a CA the client does not trust, the proxy-tls runbook has
already found the CA to trust (the top of the presented chain, or its root in the system
store) and proved, with a second handshake, that it makes the chain verify. This fix writes
that CA into a bundle under Claude Code's config folder (after any certificates the current
``NODE_EXTRA_CA_CERTS`` file holds, so nothing it trusted is lost) and points
``NODE_EXTRA_CA_CERTS`` at it in a settings file.

It is applied only when the user passes the CA's own SHA-256 fingerprint (``--trust-ca``),
having confirmed it with whoever runs the proxy: a CA that re-signs everything can read
everything, and the fingerprint is what tells the company's from an attacker's.
"""

from __future__ import annotations

from pathlib import Path

from . import inspection as _insp
from .files import FileProblem, MiB, read_bytes
from .fixes import FileEdit, Fix, Plan
from .jsonedit import EditError
from .remedies import FixOptions, _content, _Writer, make_plan
from .result import Report
from .runbook import Context
from .settings import user_dir

__all__ = ["plan_for", "trust_ca_fix"]


def _hex(fingerprint: str) -> str:
    return fingerprint.replace(":", "").strip().lower()


def _fingerprinted(der: bytes) -> _insp.CertFacts | None:
    """A certificate from one of ``pem_blocks``' DER blocks, or None if it does not parse."""
    facts = _insp.CertFacts(der)
    try:
        facts.cert  # noqa: B018 - parses, or raises
    except ValueError:
        return None
    return facts


def _fingerprint_of(block: bytes) -> str | None:
    facts = _fingerprinted(block)
    return facts.sha256 if facts is not None else None


def _ca_for(ctx: Context, ca_file: str = ""):
    """(the CA to trust, whether it was proven to make the chain verify), from the proxy-tls
    runbook's walk of the API path (shared through the context: walked once per run), or
    from ``ca_file``, a PEM the user has (IT's root, when the proxy does not present it)."""
    from .books.proxy_tls import ProxyTlsRun

    run = ProxyTlsRun(ctx)
    if ca_file:
        cas = [c for c in (_fingerprinted(b) for b in _insp.pem_blocks(
            read_bytes(ca_file, 16 * MiB))) if c is not None and c.is_ca]
        for ca in cas:
            if run._verify_with(ca).ok:
                return ca, True
        return (cas[0], False) if cas else (None, False)
    chain = run.chain
    if not chain:
        return None, False
    ca, _origin = _insp.ca_to_export(chain)
    if ca is None:
        store, _where = run._store()
        ca, _origin = _insp.ca_to_export(chain, store)
    if ca is None:
        return None, False
    return ca, run._verify_with(ca).ok


def trust_ca_fix(ctx: Context, report: Report, options: FixOptions) -> Fix | None:
    if "tls.untrusted_issuer" not in report.causes:
        return None
    config = user_dir(ctx.env)
    ca, proven = _ca_for(ctx, options.ca_file)
    if ca is None or config is None:
        return Fix("trust-ca", "tls.untrusted_issuer", "the chain ends in a CA this machine "
                   "does not trust", manual="no CA to trust was found in the chain or the "
                   "system store: ask IT for the root CA (a PEM file), then run "
                   "`runbooks fix --ca-file FILE`")
    fp = _hex(ca.sha256)
    summary = (f"trust {ca.subject!r}, SHA-256 {ca.sha256}: write it to a bundle under "
               f"{config} and set NODE_EXTRA_CA_CERTS to it")
    if not proven:
        return Fix("trust-ca", "tls.untrusted_issuer", summary,
                   manual="not applied: even with this CA the chain does not verify (is it "
                          "the right one?)")
    bundle_path = config / "ca" / f"{_insp.slug(ca.name)}-{fp[:8]}.pem"
    current = ctx.env.get("NODE_EXTRA_CA_CERTS", "").strip()
    kept = b""
    if current and Path(current) != bundle_path:
        try:  # what the current bundle trusts stays trusted
            certs = [_fingerprinted(b) for b in _insp.pem_blocks(read_bytes(current, 16 * MiB))]
            kept = b"".join(c.pem for c in certs if c is not None and c.sha256 != ca.sha256)
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
        fix.blocked = (f"{given}confirm SHA-256 {ca.sha256} with whoever runs the proxy, then "
                       f"run again with --trust-ca {ca.sha256}")
    return fix


def plan_for(ctx: Context, report: Report, options: FixOptions) -> Plan:
    """Every fix for ``report``: the settings fixes, and trusting a CA where one is needed."""
    extra = [f for f in (trust_ca_fix(ctx, report, options),) if f is not None]
    return make_plan(ctx, report, options, extra)
