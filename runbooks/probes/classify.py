"""The one boundary where low-level failures become cause codes.

Every probe catches what the OS, ``ssl`` or ``httpx`` raise and hands it here;
nothing else in the package inspects errno values or exception classes. A
test walks this table so that no exception a probe can meet is left unmapped.
"""

from __future__ import annotations

import errno
import socket
import ssl
from typing import NamedTuple

import httpx

from ..budget import DeadlineExceeded

__all__ = [
    "TLS_VERIFY_CODES",
    "Fault",
    "classify_connect",
    "classify_deadline",
    "classify_gai",
    "classify_http",
    "classify_tls",
]


class Fault(NamedTuple):
    """The cause code, a short human reason, and a fix when the cause's own is too general."""

    cause: str
    message: str
    fix: str | None = None


_CONNECT_ERRNO = {
    errno.ECONNREFUSED: ("tcp.refused", "connection refused (ECONNREFUSED)"),
    errno.ETIMEDOUT: ("tcp.timeout", "no answer to SYN (ETIMEDOUT)"),
    errno.EHOSTUNREACH: ("tcp.unreachable", "no route to host (EHOSTUNREACH)"),
    errno.ENETUNREACH: ("tcp.unreachable", "network unreachable (ENETUNREACH)"),
    errno.EADDRNOTAVAIL: ("tcp.unreachable", "address not available (EADDRNOTAVAIL)"),
    errno.ECONNRESET: ("tcp.reset", "connection reset (ECONNRESET)"),
    errno.ECONNABORTED: ("tcp.reset", "connection aborted (ECONNABORTED)"),
    errno.EPIPE: ("tcp.reset", "connection closed by peer (EPIPE)"),
}


def classify_connect(exc: BaseException, budget_s: float) -> Fault:
    """A failed TCP connect → tcp.* cause."""
    if isinstance(exc, (socket.timeout, TimeoutError)) and not getattr(exc, "errno", None):
        return Fault("tcp.timeout", f"no answer to SYN within {budget_s:g} s")
    if isinstance(exc, OSError) and exc.errno in _CONNECT_ERRNO:
        return Fault(*_CONNECT_ERRNO[exc.errno])
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        return Fault("tcp.unreachable", f"connect failed ({name}: {exc.strerror or exc})")
    return Fault("tcp.reset", f"connect failed ({type(exc).__name__}: {exc})")


#: OpenSSL X509_V_ERR_* → (cause, the name Node prints for the same failure)
TLS_VERIFY_CODES: dict[int, tuple[str, str]] = {
    2: ("tls.untrusted_issuer", "UNABLE_TO_GET_ISSUER_CERT"),
    18: ("tls.untrusted_issuer", "DEPTH_ZERO_SELF_SIGNED_CERT"),
    19: ("tls.untrusted_issuer", "SELF_SIGNED_CERT_IN_CHAIN"),
    20: ("tls.untrusted_issuer", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"),
    21: ("tls.untrusted_issuer", "UNABLE_TO_VERIFY_LEAF_SIGNATURE"),
    9: ("tls.not_yet_valid", "CERT_NOT_YET_VALID"),
    10: ("tls.expired", "CERT_HAS_EXPIRED"),
    62: ("tls.hostname_mismatch", "ERR_TLS_CERT_ALTNAME_INVALID"),
    64: ("tls.hostname_mismatch", "ERR_TLS_CERT_ALTNAME_INVALID"),
}


#: OpenSSL's names for a server's alert that it wants (another) client certificate.
_CLIENT_CERT_ALERTS = {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE",
                       "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_CERTIFICATE_UNKNOWN"}


MTLS_FIX = ("Set CLAUDE_CODE_CLIENT_CERT and CLAUDE_CODE_CLIENT_KEY to the PEM certificate and "
            "key the gateway expects (and CLAUDE_CODE_CLIENT_KEY_PASSPHRASE for an encrypted key).")


def classify_tls(exc: BaseException, budget_s: float) -> Fault:
    """A failed TLS handshake → tls.* cause (or a timeout / reset)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        cause, node = TLS_VERIFY_CODES.get(exc.verify_code, ("tls.handshake_failed", ""))
        msg = exc.verify_message or str(exc)
        return Fault(cause, f"{msg} ({node})" if node else f"certificate rejected: {msg}")
    if isinstance(exc, (socket.timeout, TimeoutError)) and not getattr(exc, "errno", None):
        return Fault(
            "http.first_byte_timeout",
            f"connected, but the TLS handshake did not complete within {budget_s:g} s (the "
            "server sent none, or too little of it)",
        )
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return Fault("tls.handshake_failed", "the server closed the connection during the handshake")
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or str(exc)
        if reason in _CLIENT_CERT_ALERTS:
            return Fault("tls.handshake_failed", "the server wants a client certificate (mTLS) "
                         f"and refused the connection ({reason})", MTLS_FIX)
        hint = " (is this port plain HTTP?)" if reason == "WRONG_VERSION_NUMBER" else ""
        return Fault("tls.handshake_failed", f"handshake failed: {reason}{hint}")
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return Fault("tls.handshake_failed", "connection reset during the TLS handshake (ECONNRESET)")
    if isinstance(exc, OSError):
        return classify_connect(exc, budget_s)
    return Fault("tls.handshake_failed", f"{type(exc).__name__}: {exc}")


def _overrun(exc: BaseException) -> DeadlineExceeded | None:
    """The deadline that ended the exchange, if a deadline did (in the exception's chain)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None or isinstance(seen, DeadlineExceeded):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def classify_deadline(over: DeadlineExceeded) -> Fault:
    """An exchange still going on when its deadline passed: headers that had not all come
    (``http.first_byte_timeout``) or a body still arriving (``http.stream_stall``)."""
    d = over.deadline
    came = f"{d.received} byte{'s' if d.received != 1 else ''}"
    if d.phase == "body":
        of_it = f"; {came} of it had come" if d.received else ""
        return Fault("http.stream_stall", f"the headers came, but the server was still "
                     f"sending the body after {d.seconds:g} s (the request's deadline{of_it})")
    if d.received:
        return Fault("http.first_byte_timeout", f"connected, but the server was still sending "
                     f"its answer's headers after {d.seconds:g} s (the request's deadline; "
                     f"{came} had come)")
    return Fault("http.first_byte_timeout",
                 f"connected, but no answer within the request's {d.seconds:g} s deadline")


def classify_http(exc: BaseException, read_s: float) -> Fault:
    """A failed httpx request → cause. TCP and TLS were checked before, so what is
    left is mostly the answer itself."""
    over = _overrun(exc)
    if over is not None:
        return classify_deadline(over)
    if isinstance(exc, httpx.ConnectTimeout):
        return Fault("tcp.timeout", "connect timed out")
    if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        return Fault(
            "http.first_byte_timeout", f"connected, but no answer arrived within {read_s:g} s"
        )
    if isinstance(exc, httpx.ProxyError):  # the proxy answered CONNECT with a refusal
        said = str(exc)
        if "407" in said:
            return Fault("proxy.auth_required", f"the proxy wants credentials ({said})")
        return Fault("proxy.rejected", f"the proxy refused the tunnel ({said})")
    if isinstance(exc, httpx.RemoteProtocolError):
        return Fault("tcp.reset", f"the server closed the connection without an answer ({exc})")
    if isinstance(exc, (httpx.ConnectError, httpx.ReadError, httpx.WriteError)):
        inner = exc.__context__ or exc.__cause__
        while inner is not None and not isinstance(inner, (OSError, ssl.SSLError)):
            inner = inner.__context__ or inner.__cause__
        if isinstance(inner, ssl.SSLError):
            return classify_tls(inner, read_s)
        if isinstance(inner, OSError):
            return classify_connect(inner, read_s)
        text = str(exc)
        if "reset" in text.lower():
            return Fault("tcp.reset", f"connection reset ({text})")
        if "refused" in text.lower():
            return Fault("tcp.refused", f"connection refused ({text})")
        return Fault("tcp.reset", f"connection failed ({text})")
    if isinstance(exc, httpx.TimeoutException):
        return Fault("http.first_byte_timeout", f"timed out ({exc})")
    return Fault("http.not_api", f"unexpected failure ({type(exc).__name__}: {exc})")


_EAI_NODATA = getattr(socket, "EAI_NODATA", -5)


def classify_gai(exc: socket.gaierror) -> tuple[str, str]:
    """getaddrinfo errors → ('nxdomain' | 'nodata' | 'timeout', message)."""
    code = exc.args[0] if exc.args else None
    if code == socket.EAI_NONAME:
        return "nxdomain", "no such host (NXDOMAIN)"
    if code == _EAI_NODATA:
        return "nodata", "no record of this type"
    if code == socket.EAI_AGAIN:
        return "timeout", "temporary failure in name resolution (EAI_AGAIN)"
    if code == socket.EAI_FAIL:
        return "timeout", "the resolver failed (EAI_FAIL / SERVFAIL)"
    return "timeout", f"resolver error: {exc}"
