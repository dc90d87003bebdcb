"""Which endpoint, and with which trust, Claude Code would connect.

Resolved as Claude Code does: ``ANTHROPIC_BASE_URL``, else
``https://api.anthropic.com``; an explicit parameter overrides both. The
trust is what the real client uses: the bundled Mozilla roots plus the
system store (``CLAUDE_CODE_CERT_STORE``, default ``bundled,system`` since
v2.1.101), plus ``NODE_EXTRA_CA_CERTS``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .addr import is_ip_literal, url_host
from .errors import UsageError
from .masking import mask_url

__all__ = ["DEFAULT_BASE_URL", "Target", "resolve_target", "Trust", "load_trust"]

DEFAULT_BASE_URL = "https://api.anthropic.com"


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


def parse_base_url(url: str, what: str = "base URL") -> tuple[str, str, int, str]:
    """Split and validate an http(s) URL; raise UsageError naming the bad value."""
    shown = mask_url(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"malformed {what} {shown!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UsageError(f"malformed {what} {shown!r}: expected http:// or https://")
    if not parts.hostname:
        raise UsageError(f"malformed {what} {shown!r}: no host name")
    if any(ch in parts.hostname for ch in " /\\"):
        raise UsageError(f"malformed {what} {shown!r}: bad host name")
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if port == 0:
        raise UsageError(f"malformed {what} {shown!r}: port 0")
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


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
            with open(extra, "rb") as fh:
                pem = fh.read()
            if b"-----BEGIN CERTIFICATE-----" not in pem:
                raise ValueError("no PEM certificate in it")
            before = ctx.cert_store_stats()["x509_ca"]
            ctx.load_verify_locations(cadata=pem.decode("ascii", "replace"))
            trust.extra_ca_count = ctx.cert_store_stats()["x509_ca"] - before
            sources.append(f"NODE_EXTRA_CA_CERTS ({extra})")
        except (OSError, ValueError, ssl.SSLError) as exc:
            trust.extra_ca_error = _why(exc)
    _load_client_cert(trust, env)
    return trust


def _why(exc: BaseException) -> str:
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
        trust.context.load_cert_chain(cert, key or None, password=passphrase)
    except (OSError, ssl.SSLError, ValueError) as exc:
        trust.client_cert_error = _why(exc)
        return
    trust.sources.append(f"client certificate ({cert})")
