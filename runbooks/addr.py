"""Host and address spelling shared by every module: an IPv6 literal is bracketed in a
URL or a ``host:port``, and an IP literal needs no DNS lookup."""

from __future__ import annotations

import ipaddress

__all__ = ["hostport", "is_ip_literal", "url_host"]


def is_ip_literal(host: str) -> bool:
    """An IPv4 or IPv6 address, not a name to look up."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def url_host(host: str) -> str:
    """``::1`` → ``[::1]``; anything else unchanged."""
    return f"[{host}]" if ":" in host else host


def hostport(host: str, port: int) -> str:
    return f"{url_host(host)}:{port}"
