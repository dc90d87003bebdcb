"""``NODE_EXTRA_CA_CERTS``, certificate by certificate.

Node reads the file as PEM and adds each ``CERTIFICATE`` block to the roots it trusts; a file
it cannot use is ignored with one warning line (``Warning: Ignoring extra certs from …``),
and TLS then fails as if the file were not there. The shapes that go wrong in practice:

- not a file at all, or unreadable; empty;
- **not PEM**: a DER (binary) ``.cer``, a PKCS#7 ``.p7b``, a PKCS#12 ``.pfx``, or PEM saved as
  UTF-16 (what PowerShell's ``>`` writes);
- a block that does not decode; a certificate that has **expired** or is not valid yet;
- a certificate that is **not a CA** (a server's own certificate, copied from a browser);
- a private key pasted into the bundle;
- and, the file being fine, **not the CA this chain needs**.

:func:`read_bundle` reports each of these, per certificate, with subject, fingerprint and
validity; :meth:`Bundle.anchoring` says which certificates issue a given chain.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..files import FileProblem, read_bytes
from .inspection import CertFacts, issued_by, pem_blocks

__all__ = ["Bundle", "BundleCert", "read_bundle"]

#: The largest bundle read (as for the trust store itself).
BUNDLE_CAP = 16 * 1024 * 1024
_OTHER_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


@dataclass
class BundleCert:
    """One ``CERTIFICATE`` block of the bundle: its facts, or why it is unusable."""

    index: int  # 1-based, in file order
    facts: CertFacts | None
    problem: str | None = None

    @property
    def label(self) -> str:
        return f"certificate {self.index}" + (f" ({self.facts.name})" if self.facts else "")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "problem": self.problem}
        if self.facts is not None:
            out.update(self.facts.to_dict())
        return out


@dataclass
class Bundle:
    """A ``NODE_EXTRA_CA_CERTS`` file as Node would read it."""

    path: str
    error: str | None = None  # the file as a whole cannot be used: why (and how to fix)
    certs: list[BundleCert] = field(default_factory=list)
    other_blocks: list[str] = field(default_factory=list)  # PEM blocks that are not certificates
    #: certificates (by index) that are exact copies of roots Claude Code trusts anyway (the
    #: bundled Mozilla list, the system store): a defect there changes nothing, unless the
    #: chain needs that very root. A system bundle named in NODE_EXTRA_CA_CERTS holds a few
    #: expired roots the distribution has not removed yet.
    copies: set[int] = field(default_factory=set)

    def mark_copies(self, trusted_der: set[bytes]) -> None:
        self.copies = {c.index for c in self.certs
                       if c.facts is not None and c.facts.der in trusted_der}

    @property
    def problems(self) -> list[str]:
        """Every defect, the file's first: one phrase each."""
        return self.problems_for(())

    def problems_for(self, chain: Sequence[CertFacts]) -> list[str]:
        """:attr:`problems`, saying which bad certificate is the CA ``chain`` needs."""
        needed = {c.index for c in self.anchoring(chain)} if chain else set()
        out = [self.error] if self.error else []
        for c in self.certs:
            if c.problem and (c.index not in self.copies or c.index in needed):
                label = (c.label[:-1] + ", the CA this chain needs)"
                         if c.index in needed and c.facts else c.label)
                out.append(f"{label} {c.problem}")
        keys = [b for b in self.other_blocks if "PRIVATE KEY" in b]
        if keys:
            out.append(f"it holds a {keys[0]} block: a CA bundle holds certificates only "
                       "(and a private key must not be shared)")
        return out

    @property
    def usable(self) -> list[CertFacts]:
        """The certificates Node would add and OpenSSL would accept as roots today."""
        return [c.facts for c in self.certs if c.facts is not None and not c.problem]

    def anchoring(self, chain: Sequence[CertFacts]) -> list[BundleCert]:
        """The bundle's certificates that issued a certificate of ``chain`` (a copy of a
        self-signed root in the chain counts: it issued itself)."""
        return [c for c in self.certs if c.facts is not None
                and any(issued_by(link, c.facts) for link in chain)]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": self.error,
                "certificates": [{**c.to_dict(), "copy_of_a_trusted_root": c.index in
                                  self.copies} for c in self.certs],
                "other_blocks": self.other_blocks}


def _not_pem(data: bytes) -> str:
    """Why ``data`` (no PEM certificate in it) is not what Node reads, and the fix."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ("is UTF-16 text (what PowerShell's `>` writes), not the ASCII PEM Node reads: "
                "save it again as ASCII (`Set-Content out.pem -Value (Get-Content in.pem) "
                "-Encoding ascii`)")
    if b"-----BEGIN PKCS7-----" in data:
        return ("is a PKCS#7 bundle (.p7b), not PEM certificates: "
                "`openssl pkcs7 -print_certs -in in.p7b -out out.pem`")
    if data[:1] == b"\x30":  # an ASN.1 SEQUENCE: DER
        try:
            CertFacts(data).cert  # noqa: B018
        except ValueError:
            return ("is binary but not a certificate (a PKCS#12 .pfx/.p12?): export the CA "
                    "as 'Base-64 encoded X.509 (.CER)' instead")
        return ("is a DER (binary) certificate, not PEM: convert it with "
                "`openssl x509 -inform der -in ca.cer -out ca.pem`")
    if not data.strip():
        return "is empty"
    return "has no PEM certificate in it (no -----BEGIN CERTIFICATE----- line)"


def read_bundle(path: str, now: _dt.datetime | None = None) -> Bundle:
    """Read ``path`` as Node reads ``NODE_EXTRA_CA_CERTS``; check every certificate in it."""
    now = now or _dt.datetime.now(_dt.UTC)
    bundle = Bundle(path)
    try:
        data = read_bytes(path, BUNDLE_CAP)
    except FileProblem as exc:
        bundle.error = f"the file {exc.reason}"
        return bundle
    bundle.other_blocks = sorted({m.group(1).decode() for m in _OTHER_BLOCK.finditer(data)}
                                 - {"CERTIFICATE"})
    blocks = pem_blocks(data)
    if not blocks:
        bundle.error = "the file " + _not_pem(data)
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # still list what it holds
            try:
                blocks = pem_blocks(data.decode("utf-16").encode("ascii", "replace"))
            except UnicodeDecodeError:
                blocks = []
    for i, der in enumerate(blocks, 1):
        bundle.certs.append(_check_one(i, der, now))
    return bundle


def _check_one(index: int, der: bytes, now: _dt.datetime) -> BundleCert:
    facts = CertFacts(der) if der else None
    try:
        if facts is not None:
            facts.cert  # noqa: B018 - parsed here: a broken block is a finding, not a crash
    except ValueError:
        facts = None
    if facts is None:
        return BundleCert(index, None, "does not decode as a certificate (a damaged copy?)")
    day = "%Y-%m-%d"
    if facts.expired(now):
        return BundleCert(index, facts, f"expired on {facts.not_after.strftime(day)}: "
                          "export the current one")
    if facts.not_yet_valid(now):
        return BundleCert(index, facts, f"is not valid before "
                          f"{facts.not_before.strftime(day)} (is this machine's clock right?)")
    if not facts.is_ca:
        sans = facts.sans()
        what = f"a server's certificate (for {', '.join(sans[:3])})" if sans else \
            "an end-entity certificate"
        return BundleCert(index, facts, f"is not a CA: {what} cannot vouch for others; "
                          "export the root CA at the top of the chain instead")
    return BundleCert(index, facts)
