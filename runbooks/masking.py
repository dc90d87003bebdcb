"""Masking for anything secret-shaped: keys, tokens, passwords in URLs.

The rule: a secret is never printed, logged or stored; at most its masked
form (``sk-ant-…abcd``) appears.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["mask_key", "mask_url", "mask_proxy", "redact"]

_KEY_RE = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")


def mask_key(value: str | None) -> str:
    """``sk-ant-api03-…`` → ``sk-ant-…abcd``; anything else → ``…abcd`` (or ``…`` if short)."""
    if not value:
        return ""
    value = value.strip()
    tail = value[-4:] if len(value) >= 12 else ""
    head = "sk-ant-" if value.startswith("sk-ant-") else ""
    return f"{head}…{tail}"


def mask_url(url: str) -> str:
    """Hide the password (and a token-like user name) in a URL: ``http://bob:****@proxy:8080``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (f":{port}" if port else "")
    user = parts.username or ""
    if user.startswith("sk-ant-"):
        user = mask_key(user)
    userinfo = user + (":****" if parts.password is not None else "")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc}"))


def mask_proxy(raw: str) -> str:
    """A proxy variable's value fit to print: the password masked even where the value
    has no scheme (``bob:pw@proxy:8080``) or does not parse at all."""
    if "://" not in raw:
        return mask_proxy("http://" + raw)[len("http://"):]
    try:
        urlsplit(raw).port  # noqa: B018 - raises on an unparsable port or host
        return mask_url(raw)
    except ValueError:
        return re.sub(r"(?<=//)[^@/]*@", "****@", raw)


def redact(text: str) -> str:
    """Mask every key-shaped substring in free text."""
    return _KEY_RE.sub(lambda m: mask_key(m.group(0)), text)
