"""Which endpoint, and with which trust, Claude Code would connect.

Resolved as Claude Code does: ``ANTHROPIC_BASE_URL``, else
``https://api.anthropic.com``; an explicit parameter overrides both. The
trust is what the real client uses: the bundled Mozilla roots plus the
system store (``CLAUDE_CODE_CERT_STORE``, default ``bundled,system`` since
v2.1.101), plus ``NODE_EXTRA_CA_CERTS``.
"""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..addr import is_ip_literal, url_host
from ..errors import UsageError
from ..files import FileProblem, MiB, read_bytes
from ..masking import mask_url

__all__ = ["DEFAULT_BASE_URL", "Target", "Trust", "check_host", "check_url", "load_trust",
           "parse_base_url", "resolve_target"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
#: The largest CA bundle or client certificate read (the system bundles are ~0.2 MiB).
CA_FILE_CAP = 16 * MiB


@dataclass(frozen=True)
class Target:
    url: str  # as given, password masked
    scheme: str
    host: str  # without brackets for IPv6 literals
    port: int
    path: str
    source: str  # "parameter", "ANTHROPIC_BASE_URL" or "default"

    @property
    def is_ip(self) -> bool:
        return is_ip_literal(self.host)

    @property
    def authority(self) -> str:
        host = url_host(self.host)
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "scheme": self.scheme,
            "host": self.host,
            "port": self.port,
            "path": self.path,
            "source": self.source,
        }


_ENCODED_HOST = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?"
                           r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?)*")


def check_host(host: str) -> str:
    """A host name or IP literal as a URL carries it; ValueError says which part is bad."""
    if is_ip_literal(host):
        return host
    if any(ch.isspace() or ch in "/\\@[]<>\"'`{}|^%" for ch in host):
        return _bad(f"host name {host!r} has a character host names cannot have")
    name = host.removesuffix(".")
    labels = name.split(".")
    for label in labels:
        if not label:
            return _bad(f"host name {host!r} has an empty label (two dots in a row?)")
        if len(label) > 63:
            return _bad(f"host name label {label[:16]}… is {len(label)} characters long "
                        "(at most 63)")
    try:
        encoded = name.encode("idna")
    except UnicodeError as exc:
        why = str(exc).split(": ")[-1] or "not a valid international name"
        return _bad(f"host name {host!r} cannot be encoded for DNS ({why})")
    for label in encoded.decode("ascii").split("."):
        if label.lower().startswith("xn--") and not _good_a_label(label):
            return _bad(f"host name label {label!r} is not valid punycode")
    if len(encoded) > 253:
        return _bad(f"host name is {len(encoded)} characters long (at most 253)")
    if not _ENCODED_HOST.fullmatch(encoded.decode("ascii")):
        return _bad(f"host name {host!r} is not a valid host name")
    return host


def _good_a_label(label: str) -> bool:
    """An ``xn--`` label that decodes to a name with non-ASCII in it, and encodes back."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
        return bool(decoded) and not decoded.isascii() and \
            decoded.encode("idna").decode("ascii").lower() == label.lower()
    except (UnicodeError, ValueError):
        return False


def _bad(reason: str) -> str:
    raise ValueError(reason)


def check_url(url: str, *, credentials: bool = True) -> tuple[str, str, int, str]:
    """Split an http(s) URL into (scheme, host, port, path); ValueError says what is wrong.
    With ``credentials=False`` a user name, password or query string is refused too."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        hostname = parts.hostname
    except ValueError as exc:
        # urllib's own message quotes the bad "port", which can be a password: never echo it
        said = str(exc)
        why = ("the port is not a number in 0-65535" if "port" in said.lower() else
               "invalid IPv6 address in [ ]" if "ipv6" in said.lower() else "not a URL")
        raise ValueError(why) from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("expected http:// or https://")
    if not hostname:
        raise ValueError("no host name")
    if "[" in parts.netloc and not is_ip_literal(hostname):
        raise ValueError(f"[{hostname}] is not an IPv6 address")
    check_host(hostname)
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if port == 0:
        raise ValueError("port 0")
    if any(ch in url for ch in "\u200c\u200d"):
        raise ValueError("a zero-width joiner in the host name (an invisible pasted character)")
    from .proxy import _parse_url  # the WHATWG parser, as Node (Claude Code) parses URLs

    if _parse_url(url.strip()) is None:
        raise ValueError("Claude Code's URL parser refuses it (a bad IPv4 address, bad "
                         "punycode, or characters after ']')")
    if not credentials and (parts.username is not None or parts.query):
        raise ValueError("credentials or a query string in a parameter would be stored in the "
                         "notebook: set ANTHROPIC_BASE_URL (or a settings file's env block) "
                         "instead")
    return parts.scheme, hostname, port, parts.path.rstrip("/")


def parse_base_url(url: str, what: str = "base URL") -> tuple[str, str, int, str]:
    """Split and validate an http(s) URL; raise UsageError naming the bad value (masked)."""
    try:
        return check_url(url)
    except ValueError as exc:
        raise UsageError(f"malformed {what} {mask_url(url.strip())!r}: {exc}") from None


def resolve_target(base_url: str | None = None, env: Mapping[str, str] | None = None,
                   where: str | None = None) -> Target:
    """The endpoint Claude Code would use: the parameter, ``ANTHROPIC_BASE_URL``, or the default.
    ``where`` names ANTHROPIC_BASE_URL's origin in errors (a settings file, say)."""
    env = os.environ if env is None else env
    if base_url:
        url, source, what = base_url, "parameter", "base URL"
    elif env.get("ANTHROPIC_BASE_URL", "").strip():
        url, source, what = env["ANTHROPIC_BASE_URL"].strip(), "ANTHROPIC_BASE_URL", (
            where or "ANTHROPIC_BASE_URL"
        )
    else:
        url, source, what = DEFAULT_BASE_URL, "default", "base URL"
    scheme, host, port, path = parse_base_url(url, what)
    return Target(mask_url(url), scheme, host, port, path, source)


@dataclass
class Trust:
    """The CA roots the real client trusts, and what went into them."""

    context: ssl.SSLContext
    sources: list[str] = field(default_factory=list)
    extra_ca_file: str | None = None
    extra_ca_error: str | None = None  # why NODE_EXTRA_CA_CERTS could not be used
    extra_ca_count: int = 0
    client_cert: str | None = None  # CLAUDE_CODE_CLIENT_CERT, presented to servers that ask
    client_cert_error: str | None = None  # why the client certificate could not be loaded


def load_trust(env: Mapping[str, str] | None = None) -> Trust:
    """Build an SSLContext with the roots Claude Code would trust in this environment."""
    env = os.environ if env is None else env
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and host name
    stores = {s.strip() for s in env.get("CLAUDE_CODE_CERT_STORE", "bundled,system").split(",")}
    sources: list[str] = []
    if "bundled" in stores:
        import certifi  # the Mozilla roots, the same list Node bundles

        ctx.load_verify_locations(cafile=certifi.where())
        sources.append("bundled (Mozilla roots)")
    if "system" in stores:
        ctx.set_default_verify_paths()
        paths = ssl.get_default_verify_paths()
        sources.append(f"system ({paths.cafile or paths.capath or 'OpenSSL default'})")
    trust = Trust(ctx, sources)
    extra = env.get("NODE_EXTRA_CA_CERTS", "").strip()
    if extra:
        trust.extra_ca_file = extra
        try:
            pem = read_bytes(extra, CA_FILE_CAP)
            if b"-----BEGIN CERTIFICATE-----" not in pem:
                raise ValueError("no PEM certificate in it")
            before = ctx.cert_store_stats()["x509_ca"]
            ctx.load_verify_locations(cadata=pem.decode("ascii", "replace"))
            trust.extra_ca_count = ctx.cert_store_stats()["x509_ca"] - before
            sources.append(f"NODE_EXTRA_CA_CERTS ({extra})")
        except (FileProblem, OSError, ValueError, ssl.SSLError) as exc:
            trust.extra_ca_error = _why(exc)
    _load_client_cert(trust, env)
    return trust


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileProblem):
        return f"the file {exc.reason}"
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, ssl.SSLError):
        return exc.strerror
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason
    return str(exc)


def _load_client_cert(trust: Trust, env: Mapping[str, str]) -> None:
    """mTLS: the certificate Claude Code presents (CLAUDE_CODE_CLIENT_CERT / _KEY, the key's
    passphrase in CLAUDE_CODE_CLIENT_KEY_PASSPHRASE, which is never shown)."""
    cert = env.get("CLAUDE_CODE_CLIENT_CERT", "").strip()
    key = env.get("CLAUDE_CODE_CLIENT_KEY", "").strip()
    if not cert and not key:
        return
    trust.client_cert = cert or None
    if not cert:
        trust.client_cert_error = "CLAUDE_CODE_CLIENT_KEY is set without CLAUDE_CODE_CLIENT_CERT"
        return
    passphrase = env.get("CLAUDE_CODE_CLIENT_KEY_PASSPHRASE") or None
    try:
        for path in filter(None, (cert, key)):
            read_bytes(path, CA_FILE_CAP)  # a regular file, within the cap: never a FIFO
        trust.context.load_cert_chain(cert, key or None, password=passphrase)
    except (FileProblem, OSError, ssl.SSLError, ValueError) as exc:
        trust.client_cert_error = _why(exc)
        return
    trust.sources.append(f"client certificate ({cert})")
