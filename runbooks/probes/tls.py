"""TLS: the handshake, the chain the server presents, and whether the client's
trust accepts it. On failure the cause names what is wrong, and for an
untrusted chain, who issued it: a TLS-inspecting product (Zscaler, Netskope,
Palo Alto…) usually shows its name there.
"""

from __future__ import annotations

import datetime as _dt
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .classify import Fault, classify_tls
from .tcp import open_connection

__all__ = ["CertInfo", "Handshake", "friendly_name", "handshake", "presented_der"]


@dataclass
class CertInfo:
    subject: str
    issuer: str
    not_before: str
    not_after: str
    sans: list[str]
    self_signed: bool

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def friendly_name(rfc4514: str) -> str:
    """``CN=Zscaler Root CA,OU=…,O=Zscaler Inc.`` → ``Zscaler Root CA`` (else O, else all)."""
    parts = dict(p.split("=", 1) for p in rfc4514.split(",") if "=" in p)
    return parts.get("CN") or parts.get("O") or rfc4514


@dataclass
class Handshake:
    ok: bool
    duration_s: float
    version: str | None = None
    cipher: str | None = None
    chain: list[CertInfo] = field(default_factory=list)
    fault: Fault | None = None
    #: the same chain, DER-encoded (to find the CA to trust: :func:`runbooks.probes.inspection.ca_finding`)
    chain_der: list[bytes] = field(default_factory=list, repr=False)

    @property
    def top_issuer(self) -> str | None:
        """The issuer at the top of the presented chain: the CA the client must trust."""
        return friendly_name(self.chain[-1].issuer) if self.chain else None


def _describe(der: bytes) -> CertInfo:
    from cryptography import x509

    from .inspection import _parse

    cert = _parse(der)  # quietly: a proxy's old root may carry a zero serial
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
            str(v) for v in ext.get_values_for_type(x509.IPAddress)
        ]
    except x509.ExtensionNotFound:
        sans = []

    def when(d: _dt.datetime) -> str:
        return d.strftime("%Y-%m-%dT%H:%M:%SZ")

    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=when(cert.not_valid_before_utc),
        not_after=when(cert.not_valid_after_utc),
        sans=sans,
        self_signed=cert.subject == cert.issuer,
    )


def _presented_chain(sock: ssl.SSLSocket) -> list[CertInfo]:
    return [_describe(d) for d in _presented_der(sock)]


def _presented_der(sock: ssl.SSLSocket) -> list[bytes]:
    # Python 3.13 makes this public (get_unverified_chain); 3.11/3.12 have it on _sslobj.
    getter = getattr(sock, "get_unverified_chain", None) or getattr(
        getattr(sock, "_sslobj", None), "get_unverified_chain", None
    )
    ders: list[bytes] = []
    if getter is not None:
        for cert in getter() or []:
            ders.append(cert if isinstance(cert, bytes) else cert.public_bytes(ssl._ssl.ENCODING_DER))
    else:  # pragma: no cover - very old Python: the leaf alone
        leaf = sock.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    return ders


Opener = Callable[[], socket.socket]


def _shake(address: str, port: int, server_name: str, ctx: ssl.SSLContext,
           connect_s: float, tls_s: float, opener: Opener | None = None) -> ssl.SSLSocket:
    raw = opener() if opener else open_connection(address, port, connect_s)
    raw.settimeout(tls_s)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise


def handshake(address: str, port: int, server_name: str, ctx: ssl.SSLContext,
              connect_s: float, tls_s: float, opener: Opener | None = None) -> Handshake:
    """Handshake with ``server_name`` at ``address``; verify against ``ctx``.

    ``opener`` supplies the connected socket instead (a tunnel through a proxy).
    On a verification failure a second, unverified handshake fetches the chain
    so the report can say who signed it.
    """
    start = time.perf_counter()
    try:
        sock = _shake(address, port, server_name, ctx, connect_s, tls_s, opener)
    except (OSError, ssl.SSLError) as exc:
        fault = classify_tls(exc, tls_s)
        result = Handshake(False, time.perf_counter() - start, fault=fault)
        if isinstance(exc, ssl.SSLCertVerificationError):
            result.chain_der = presented_der(address, port, server_name, connect_s, tls_s,
                                             opener)
            result.chain = [_describe(d) for d in result.chain_der]
        return result
    with sock:
        cipher = sock.cipher()
        return Handshake(
            True,
            time.perf_counter() - start,
            version=sock.version(),
            cipher=cipher[0] if cipher else None,
            chain=_presented_chain(sock),
        )


def presented_der(address: str, port: int, server_name: str, connect_s: float, tls_s: float,
                  opener: Opener | None = None) -> list[bytes]:
    """The certificates the server presents, DER-encoded, leaf first, without verifying them:
    what an inspecting proxy sends, to name and export its CA. Empty if no handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with _shake(address, port, server_name, ctx, connect_s, tls_s, opener) as sock:
            return _presented_der(sock)
    except (OSError, ssl.SSLError):
        return []
