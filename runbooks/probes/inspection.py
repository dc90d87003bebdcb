"""TLS inspection: who re-signs the traffic, and the CA to trust for it.

A TLS-inspecting proxy (a secure web gateway, a firewall doing "SSL decryption", an
antivirus web shield, a debugging proxy) ends every chain it presents at its own CA. Its
name is in that CA's subject, and the products name themselves: :data:`PRODUCTS` is the
table of issuer patterns, :func:`name_product` reads it.

The CA to trust is the top of the chain the proxy presents when that is a root
(self-signed); when the chain stops below its root, the root is looked up in the system
store by issuer name, key identifier and signature (:func:`ca_to_export`). Either way it
becomes a PEM file for ``NODE_EXTRA_CA_CERTS`` (:func:`write_pem`), with its SHA-256
fingerprint, subject and validity, so a reader can compare it with what IT publishes.

What was found is one :class:`CaFinding` per run (:func:`ca_finding`), and every place that
advises on an untrusted chain (the network TLS check, Issuer, CA export, CA bundle, `runbooks
fix`) tells its story in its words: the CA is on this machine and ``runbooks fix --trust-ca``
trusts it once IT confirms the fingerprint, or it is not, and IT has it.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import ssl
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..files import FileProblem, read_bytes

__all__ = ["NEVER", "PRODUCTS", "CaFinding", "CertFacts", "Product", "ca_finding",
           "ca_to_export", "find_issuer", "name_product", "pem_blocks", "pem_spans",
           "system_store", "write_pem"]

#: The largest store file read (the system bundles are ~0.2 MiB), and how many files of a
#: hashed certificate directory are looked at.
_STORE_CAP = 16 * 1024 * 1024
_DIR_FILES = 4096


@dataclass(frozen=True)
class Product:
    """A product that inspects TLS, and how its CA names itself."""

    name: str
    kind: str
    pattern: str  # a case-insensitive regular expression, matched against subject names

    def matches(self, text: str) -> bool:
        return re.search(self.pattern, text, re.IGNORECASE) is not None


def _p(name: str, kind: str, pattern: str) -> Product:
    return Product(name, kind, pattern)


_GATEWAY = "secure web gateway"
_FIREWALL = "firewall with TLS decryption"
_SHIELD = "antivirus web shield"
_DEBUG = "debugging proxy"

#: Issuer patterns, most specific first: the first match names the product. The default
#: root CA names these products ship with, or their vendor's organization name.
PRODUCTS: tuple[Product, ...] = (
    _p("Zscaler", f"cloud {_GATEWAY}", r"zscaler"),
    _p("Netskope", f"cloud {_GATEWAY}", r"netskope"),
    _p("Palo Alto Networks", _FIREWALL, r"palo\s*alto|\bpan-?os\b|prisma\s*access"),
    _p("Fortinet FortiGate", _FIREWALL, r"forti(gate|net|proxy)"),
    _p("Cisco Umbrella", f"cloud {_GATEWAY}", r"cisco\s*umbrella|opendns"),
    _p("Cisco Secure Web Appliance", _GATEWAY, r"ironport|cisco\s*(secure\s*web|wsa)"),
    _p("Forcepoint", _GATEWAY, r"forcepoint|websense"),
    _p("Blue Coat / Symantec ProxySG", _GATEWAY,
       r"blue\s*coat|proxysg|symantec\s*(web|wss)|broadcom.*(proxy|wss)"),
    _p("Check Point", _FIREWALL, r"check\s*point"),
    _p("Sophos", _FIREWALL, r"sophos"),
    _p("McAfee / Skyhigh Security", _GATEWAY, r"mcafee|skyhigh"),
    _p("iboss", f"cloud {_GATEWAY}", r"\biboss\b"),
    _p("Cloudflare Gateway (WARP)", f"cloud {_GATEWAY}",
       r"cloudflare.*(gateway|for\s*teams|zero\s*trust|warp)|gateway\s*ca\s*-\s*cloudflare"),
    _p("Microsoft Defender / Entra Internet Access", f"cloud {_GATEWAY}",
       r"microsoft\s*defender|defender\s*for\s*(endpoint|cloud)|global\s*secure\s*access|"
       r"entra\s*internet\s*access"),
    _p("Menlo Security", f"cloud {_GATEWAY}", r"menlo\s*security"),
    _p("Barracuda", _FIREWALL, r"barracuda"),
    _p("WatchGuard", _FIREWALL, r"watchguard"),
    _p("SonicWall", _FIREWALL, r"sonic\s*wall"),
    _p("Lightspeed Systems", _GATEWAY, r"lightspeed"),
    _p("Trend Micro", _GATEWAY, r"trend\s*micro"),
    _p("Kaspersky", _SHIELD, r"kaspersky"),
    _p("ESET", _SHIELD, r"\beset\b"),
    _p("Avast / AVG", _SHIELD, r"\bavast\b|\bavg\b"),
    _p("Bitdefender", _SHIELD, r"bitdefender"),
    _p("mitmproxy", _DEBUG, r"mitmproxy"),
    _p("Charles Proxy", _DEBUG, r"charles\s*proxy"),
    _p("Fiddler", _DEBUG, r"fiddler"),
    _p("Burp Suite", _DEBUG, r"portswigger|burp\s*suite"),
)


def name_product(*names: str | None) -> Product | None:
    """The product whose pattern one of ``names`` (subjects, issuers) matches, else None."""
    for product in PRODUCTS:
        if any(n and product.matches(n) for n in names):
            return product
    return None


# -- certificates ---------------------------------------------------------------------------------
def _when(d: _dt.datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(der: bytes):
    from cryptography import x509
    from cryptography.utils import CryptographyDeprecationWarning

    with warnings.catch_warnings():  # an old root's negative serial is not our business
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        cert = x509.load_der_x509_certificate(der)
        cert.serial_number  # noqa: B018 - parsed here, under the filter, not later
        try:  # the extensions too: parsed once (and cached), where the warning is emitted
            cert.extensions  # noqa: B018
        except ValueError:
            pass  # a malformed extension: reported where it is read
    return cert


@dataclass(frozen=True)
class CertFacts:
    """One certificate as a reader checks it: names, fingerprint, validity, CA or not."""

    der: bytes

    @cached_property
    def cert(self):
        return _parse(self.der)

    @property
    def subject(self) -> str:
        return self.cert.subject.rfc4514_string()

    @property
    def issuer(self) -> str:
        return self.cert.issuer.rfc4514_string()

    @property
    def name(self) -> str:
        """The subject's CN, else its O, else OU, else the whole subject."""
        return _friendly(self.cert.subject) or self.subject

    @property
    def issuer_name(self) -> str:
        return _friendly(self.cert.issuer) or self.issuer

    @property
    def sha256(self) -> str:
        import hashlib

        digest = hashlib.sha256(self.der).hexdigest().upper()
        return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))

    @property
    def not_before(self) -> _dt.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> _dt.datetime:
        return self.cert.not_valid_after_utc

    @property
    def self_signed(self) -> bool:
        return self.cert.subject == self.cert.issuer and issued_by(self, self)

    @property
    def is_ca(self) -> bool:
        """A CA certificate: basicConstraints CA:TRUE, or an old v1 root without extensions."""
        from cryptography import x509

        try:
            bc = self.cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            return self.cert.subject == self.cert.issuer
        return bool(bc.ca)

    @property
    def pem(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.cert.public_bytes(Encoding.PEM)

    def expired(self, now: _dt.datetime | None = None) -> bool:
        return self.not_after < (now or _dt.datetime.now(_dt.UTC))

    def not_yet_valid(self, now: _dt.datetime | None = None) -> bool:
        return self.not_before > (now or _dt.datetime.now(_dt.UTC))

    def sans(self) -> list[str]:
        from cryptography import x509

        try:
            ext = self.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        except x509.ExtensionNotFound:
            return []
        return [str(v) for v in ext.value.get_values_for_type(x509.DNSName)] + [
            str(v) for v in ext.value.get_values_for_type(x509.IPAddress)]

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "issuer": self.issuer, "sha256": self.sha256,
                "not_before": _when(self.not_before), "not_after": _when(self.not_after),
                "ca": self.is_ca, "self_signed": self.self_signed}


def _friendly(name) -> str:
    from cryptography.x509.oid import NameOID

    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME,
                NameOID.ORGANIZATIONAL_UNIT_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    return ""


def _key_id(cert, kind: str) -> bytes | None:
    from cryptography import x509

    try:
        if kind == "ski":
            return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        return cert.extensions.get_extension_for_class(
            x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None


def issued_by(child: CertFacts, parent: CertFacts) -> bool:
    """``parent`` signed ``child``: the names match, the key identifiers (when both carry
    one) match, and the signature verifies with ``parent``'s key."""
    if child.cert.issuer != parent.cert.subject:
        return False
    aki, ski = _key_id(child.cert, "aki"), _key_id(parent.cert, "ski")
    if aki is not None and ski is not None and aki != ski:
        return False
    try:
        child.cert.verify_directly_issued_by(parent.cert)
    except Exception:  # noqa: BLE001 - InvalidSignature, ValueError, TypeError: not its issuer
        return False
    return True


def find_issuer(cert: CertFacts, candidates: Iterable[CertFacts]) -> CertFacts | None:
    """The candidate that issued ``cert`` (a currently valid one first), else None."""
    found = [c for c in candidates if c.der != cert.der and issued_by(cert, c)]
    found.sort(key=lambda c: (c.expired() or c.not_yet_valid(), -c.not_after.timestamp()))
    return found[0] if found else None


_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.*?)\s*-----END CERTIFICATE-----",
                       re.DOTALL)


def pem_spans(data: bytes) -> list[tuple[int, int, bytes]]:
    """Each ``CERTIFICATE`` block in ``data``: where it starts and ends, and its DER (``b""``
    for a block that is not valid base64)."""
    import base64
    import binascii

    out = []
    for m in _PEM_CERT.finditer(data):
        try:
            der = base64.b64decode(re.sub(rb"\s+", b"", m.group(1)), validate=True)
        except (binascii.Error, ValueError):
            der = b""
        out.append((m.start(), m.end(), der))
    return out


def pem_blocks(data: bytes) -> list[bytes]:
    """The DER of each ``CERTIFICATE`` block in ``data`` (a block that is not valid base64
    is returned as ``b""``, so positions in the file are kept)."""
    return [der for _start, _end, der in pem_spans(data)]


def system_store(env: Mapping[str, str] | None = None) -> tuple[list[CertFacts], list[str]]:
    """The operating system's CA store as OpenSSL finds it (``SSL_CERT_FILE`` and
    ``SSL_CERT_DIR`` in ``env`` first, then the default paths), plus what the platform adds
    (the Windows store): its certificates, and where they were read. Bounded: files over
    16 MiB and directory entries past the first 4096 are skipped."""
    env = os.environ if env is None else env
    paths = ssl.get_default_verify_paths()
    cafile = env.get("SSL_CERT_FILE") or paths.cafile or paths.openssl_cafile
    capath = env.get("SSL_CERT_DIR") or paths.capath or paths.openssl_capath
    ders: dict[bytes, None] = {}
    where: list[str] = []
    if cafile:
        try:
            ders.update(dict.fromkeys(pem_blocks(read_bytes(cafile, _STORE_CAP))))
            where.append(cafile)
        except FileProblem:
            pass
    if capath and os.path.isdir(capath):
        try:
            names = sorted(os.listdir(capath))[:_DIR_FILES]
        except OSError:
            names = []
        for name in names:
            try:
                ders.update(dict.fromkeys(pem_blocks(read_bytes(os.path.join(capath, name),
                                                                1024 * 1024))))
            except FileProblem:
                continue
        where.append(capath)
    platform = ssl.create_default_context()  # on Windows: the system store itself
    ders.update(dict.fromkeys(platform.get_ca_certs(binary_form=True)))
    out = []
    for der in ders:
        facts = CertFacts(der)
        try:
            facts.cert  # noqa: B018 - parsed now: a broken entry is skipped, not kept
        except ValueError:
            continue
        out.append(facts)
    return out, where


#: where the CA to trust was found, when the server presents it
CHAIN_TOP = "at the top of the chain the server presents"
NEVER = "Never turn certificate checks off (NODE_TLS_REJECT_UNAUTHORIZED=0)."


def ca_to_export(chain: Sequence[CertFacts],
                 store: Sequence[CertFacts] | None = None) -> tuple[CertFacts | None, str]:
    """The CA to trust for ``chain`` (leaf first, as presented) and where it comes from.

    The top of the chain when it is a self-signed CA; else its issuer from ``store`` (the
    system store: IT often installs the inspection root there while the proxy presents only
    the chain below it). None, with the reason, when neither has it."""
    if not chain:
        return None, "the server presented no certificate"
    top = chain[-1]
    if top.self_signed and top.is_ca:
        return top, CHAIN_TOP
    root = find_issuer(top, store or ())
    if root is not None:
        return root, "in the system store"
    return None, (f"the server presents the chain up to {top.name!r}, not its root "
                  f"{top.issuer_name!r}, and no copy of that root is on this machine (nor in "
                  "the system store)")


@dataclass(frozen=True)
class CaFinding:
    """What this machine has of the CA an untrusted chain needs, and the one next step.

    Every place that advises on the chain says :meth:`found` and :meth:`next_step`, so the
    doctor, the runbook, its notebook and ``runbooks fix`` never tell different stories:

    - the CA is in the chain the server presents, or in the system store, and with it the
      chain verifies: it can be exported and trusted, ``runbooks fix --trust-ca SHA256`` once
      IT confirms the fingerprint;
    - it is nowhere on this machine (the chain stops below its root), or the one found does
      not make the chain verify: ask IT for it, then ``runbooks fix --ca-file ca.pem``."""

    needed: str  # the name of the CA the chain needs: the top's issuer
    ca: CertFacts | None = None  # that CA, when it is on this machine
    origin: str = ""  # where it was found (CHAIN_TOP, "in the system store (…)"), else why not
    verifies: bool | None = None  # with it the chain verifies (None: not tried)
    with_it: str = ""  # the handshake with it: its TLS version, or its failure's message
    with_it_cause: str | None = None  # that failure's cause

    @property
    def trustable(self) -> bool:
        """The CA is here, and the chain verifies with it: ``--trust-ca`` is the fix."""
        return self.ca is not None and self.verifies is not False

    def found(self) -> str:
        """What was found, as a clause."""
        if self.ca is None:
            return self.origin
        if self.verifies is False:
            return (f"{self.ca.name!r}, found {self.origin}, does not make the chain verify "
                    f"({self.with_it})")
        return f"{self.ca.name!r}, the CA to trust, is {self.origin}"

    def next_step(self) -> str:
        """The one next step, as a clause."""
        if self.trustable:
            return ("confirm its fingerprint with IT (whoever runs the proxy), then run "
                    f"`runbooks fix --trust-ca {self.ca.sha256}`")
        return (f"ask IT for the root CA {self.needed!r} (or export it from the browser or the "
                "OS store), then run `runbooks fix --ca-file ca.pem`")

    def advice(self) -> str:
        """Both, as a fix line: found, next step, and what never to do."""
        return f"{cap(self.found())}: {self.next_step()}. {NEVER}"

    def to_dict(self) -> dict[str, Any]:
        return {"needed": self.needed, "ca": None if self.ca is None else self.ca.to_dict(),
                "origin": self.origin, "verifies": self.verifies, "with_it": self.with_it,
                "next_step": self.next_step()}


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def ca_finding(ctx: Any, chain: Sequence[CertFacts],
               verify: Callable[[CertFacts], Any] | None = None) -> CaFinding | None:
    """The :class:`CaFinding` for ``chain`` (leaf first, as presented), once per run: ``ctx``
    (a :class:`~runbooks.probes.context.Context`) keeps it, keyed by the top certificate, so the
    network runbook and the proxy & TLS runbook (in the doctor, at the same time) and
    ``runbooks fix`` share it. The system store is read only when the chain stops below
    its root; ``verify(ca)`` (a handshake along the path with the client's trust plus ``ca``:
    a :class:`~runbooks.probes.tls.Handshake`) proves the CA found. None: no chain."""
    if not chain:
        return None
    import hashlib

    top = chain[-1]

    def make() -> CaFinding:
        ca, origin = ca_to_export(chain)
        if ca is None:  # only then read the system store (hundreds of certificates)
            store, where = ctx.once("inspection.system_store", lambda: system_store(ctx.env))
            ca, origin = ca_to_export(chain, store)
            if ca is not None and where:
                origin += f" ({', '.join(where)})"
        if ca is None:
            return CaFinding(top.issuer_name, None, origin)
        if verify is None:
            return CaFinding(top.issuer_name, ca, origin)
        hs = verify(ca)
        return CaFinding(top.issuer_name, ca, origin, bool(hs.ok),
                         hs.version if hs.ok else hs.fault.message,
                         None if hs.ok else hs.fault.cause)

    def guarded() -> CaFinding | None:
        try:
            return make()
        except ValueError:  # a certificate that does not parse: no finding, no crash
            return None

    return ctx.once(f"inspection.ca_finding:{hashlib.sha256(top.der).hexdigest()}", guarded)


def context_with(env: Mapping[str, str], ca: CertFacts) -> ssl.SSLContext:
    """A fresh client context with the client's trust for ``env`` plus ``ca`` (never the run's
    shared one, which must stay as the client has it)."""
    from ..client.target import load_trust

    ctx = load_trust(env).context
    ctx.load_verify_locations(cadata=ca.pem.decode("ascii"))
    return ctx


def slug(text: str) -> str:
    """A file name from a CA's name: ``Zscaler Root CA`` → ``zscaler-root-ca``."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (s or "proxy-ca")[:60]


def write_pem(ca: CertFacts, folder: os.PathLike) -> Path:
    """``<folder>/<ca name>.pem`` with the certificate (and a comment naming it)."""
    path = Path(folder) / f"{slug(ca.name)}.pem"
    head = (f"# {ca.subject}\n# SHA-256 {ca.sha256}\n"
            f"# valid {_when(ca.not_before)} to {_when(ca.not_after)}\n").encode()
    path.write_bytes(head + ca.pem)
    return path
