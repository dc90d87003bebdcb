"""The proxy Claude Code would use, and a CONNECT tunnel through it within a budget.

Claude Code reads ``https_proxy``, ``HTTPS_PROXY``, ``http_proxy``, ``HTTP_PROXY``
(the first one set wins, in that order) and ``NO_PROXY``/``no_proxy`` (entries
separated by commas or spaces, ``*`` for everything). It speaks HTTP ``CONNECT``
to the proxy, with basic credentials taken from the URL; SOCKS is not supported
(facts.md §3). v2.1.332 accepts a value without a scheme (``proxy:8080``) as
``http://``; a value that is not a URL at all stops it at launch.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from .addr import hostport
from .classify import Fault, classify_connect
from .environment import PROXY_VARS
from .masking import mask_proxy
from .tcp import open_connection

__all__ = ["ProxyChoice", "Tunnel", "choose_proxy", "no_proxy_entry", "open_tunnel",
           "connect_through"]

_NO_PROXY_VARS = ("no_proxy", "NO_PROXY")
_MAX_HEAD = 16 * 1024


@dataclass
class ProxyChoice:
    """The proxy in effect for one target, as Claude Code would pick it."""

    var: str  # the variable it came from
    shown: str  # its value, password masked
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None
    error: str | None = None  # not usable: why
    note: str | None = None  # usable, but worth saying (no scheme, …)
    bypass: str | None = None  # the NO_PROXY entry that sends this target direct
    scheme: str = "http"  # https: the connection to the proxy itself is TLS

    @property
    def url(self) -> str:
        """``http(s)://[user:pass@]host:port`` for httpx; credentials unmasked, never shown."""
        auth = ""
        if self.username is not None:
            from urllib.parse import quote

            auth = quote(self.username, safe="") + ":" + quote(self.password or "", safe="") + "@"
        return f"{self.scheme}://{auth}{self.endpoint}"

    @property
    def endpoint(self) -> str:
        return hostport(self.host, self.port)

    @property
    def in_effect(self) -> bool:
        return self.error is None and self.bypass is None

    @property
    def tls(self) -> bool:
        """A TLS (``https://``) proxy: its tunnel is checked by the HTTP step (httpx)."""
        return self.scheme == "https"

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.var, "value": self.shown, "host": self.host or None,
                "port": self.port or None, "basic_auth": self.username is not None,
                "scheme": self.scheme, "error": self.error, "note": self.note,
                "bypassed_by": self.bypass}


def choose_proxy(env: Mapping[str, str], host: str, port: int) -> ProxyChoice | None:
    """The proxy Claude Code would use to reach ``host:port``, or None if none is set."""
    for var in PROXY_VARS:
        raw = env.get(var, "").strip()
        if raw:
            break
    else:
        return None
    choice = _parse(var, raw)
    if choice.error is None:
        no_proxy = next((env[v] for v in _NO_PROXY_VARS if env.get(v, "").strip()), "")
        choice.bypass = no_proxy_entry(no_proxy, host, port)
    return choice


def _parse(var: str, raw: str) -> ProxyChoice:
    shown = mask_proxy(raw)
    choice = ProxyChoice(var, shown)
    value = raw
    if "://" not in raw:
        value = "http://" + raw
        choice.note = (f"{var} has no scheme: Claude Code 2.1.332 reads it as http://, other "
                       "tools may not; write it as http://host:port")
    try:
        parts = urlsplit(value)
        port = parts.port
        host = parts.hostname
    except ValueError as exc:
        choice.error = f"{var}={shown} is not a URL ({exc})"
        return choice
    scheme = parts.scheme.lower()
    if scheme.startswith("socks"):
        choice.error = f"{var}={shown}: Claude Code does not support SOCKS proxies"
        return choice
    if scheme not in ("http", "https"):
        choice.error = f"{var}={shown}: scheme {scheme}:// is not an HTTP proxy"
        return choice
    if not host:
        choice.error = f"{var}={shown} has no host"
        return choice
    choice.scheme = scheme
    choice.host, choice.port = host, port or (443 if scheme == "https" else 80)
    if parts.username is not None:
        choice.username = unquote(parts.username)
        choice.password = unquote(parts.password or "")
    return choice


def no_proxy_entry(no_proxy: str, host: str, port: int) -> str | None:
    """The NO_PROXY entry that matches ``host:port``, as Node's proxy-from-env reads it:
    ``*`` matches all; ``example.com``, ``.example.com`` and ``*.example.com`` match the
    domain and its subdomains; an entry with ``:port`` matches that port only."""
    host = host.lower().strip("[]")
    for entry in no_proxy.replace(",", " ").split():
        if entry == "*":
            return entry
        name, _, eport = entry.rpartition(":") if _has_port(entry) else (entry, "", "")
        if eport and eport != str(port):
            continue
        name = name.lower().strip("[]").lstrip("*")
        if not name:
            continue
        if name.startswith("."):
            if host.endswith(name) or host == name[1:]:
                return entry
        elif host == name or host.endswith("." + name):
            return entry
    return None


def _has_port(entry: str) -> bool:
    if entry.startswith("["):
        return "]:" in entry
    if entry.count(":") == 1:
        return True
    return False  # a bare IPv6 address


@dataclass
class Tunnel:
    """The proxy's answer to ``CONNECT host:port``."""

    ok: bool
    duration_s: float
    status: int | None = None
    reason: str = ""
    headers: dict[str, str] | None = None
    fault: Fault | None = None
    sock: socket.socket | None = None

    @property
    def agent(self) -> str | None:
        h = self.headers or {}
        return h.get("proxy-agent") or h.get("server") or h.get("via")


def _read_head(sock: socket.socket, deadline: float) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        left = deadline - time.perf_counter()
        if left <= 0:
            raise TimeoutError("no answer to CONNECT")
        sock.settimeout(left)
        chunk = sock.recv(1)  # byte by byte: what follows the head belongs to the tunnel
        if not chunk:
            break
        buf += chunk
        if len(buf) > _MAX_HEAD:
            break
    return buf


def connect_through(proxy: ProxyChoice, address: str, host: str, port: int,
                    connect_s: float, read_s: float) -> Tunnel:
    """Connect to the proxy at ``address`` and ask it for a tunnel to ``host:port``.

    On success the tunnel's socket is in ``sock`` (the caller closes it)."""
    start = time.perf_counter()
    try:
        sock = open_connection(address, proxy.port, connect_s)
    except OSError as exc:
        return Tunnel(False, time.perf_counter() - start,
                      fault=_proxy_fault(classify_connect(exc, connect_s)))
    authority = hostport(host, port)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}",
             "User-Agent: claude-code-runbooks (connection diagnosis)"]
    if proxy.username is not None:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = _read_head(sock, time.perf_counter() + read_s)
    except (TimeoutError, socket.timeout):
        sock.close()
        return Tunnel(False, time.perf_counter() - start, fault=Fault(
            "proxy.unreachable",
            f"the proxy accepted the connection but did not answer CONNECT within {read_s:g} s"))
    except OSError as exc:
        sock.close()
        fault = classify_connect(exc, connect_s)
        return Tunnel(False, time.perf_counter() - start, fault=Fault(
            "proxy.unreachable", f"the proxy dropped the CONNECT: {fault.message}"))
    took = time.perf_counter() - start
    status, reason, headers = _parse_head(head)
    if status is None:
        sock.close()
        what = "closed the connection" if not head else f"answered {head[:40]!r}"
        return Tunnel(False, took, fault=Fault(
            "proxy.unreachable",
            f"{proxy.endpoint} {what} instead of an HTTP answer to CONNECT: is it an HTTP proxy?"))
    result = Tunnel(200 <= status < 300, took, status, reason, headers)
    if result.ok:
        result.sock = sock
        return result
    sock.close()
    result.fault = _refusal(proxy, status, reason, headers, authority)
    return result


def open_tunnel(proxy: ProxyChoice, address: str, host: str, port: int,
                connect_s: float, read_s: float) -> socket.socket:
    """A connected tunnel socket, or OSError (for the TLS step's opener)."""
    t = connect_through(proxy, address, host, port, connect_s, read_s)
    if not t.ok or t.sock is None:
        raise ConnectionError(t.fault.message if t.fault else "tunnel refused")
    return t.sock


def _parse_head(head: bytes) -> tuple[int | None, str, dict[str, str]]:
    try:
        text = head.decode("iso-8859-1")
        first, *rest = text.split("\r\n")
        version, code, *reason = first.split(" ", 2)
        if not version.startswith("HTTP/"):
            return None, "", {}
        headers = {}
        for line in rest:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        return int(code), (reason[0] if reason else ""), headers
    except (ValueError, UnicodeDecodeError):
        return None, "", {}


def _proxy_fault(fault: Fault) -> Fault:
    """A TCP failure to reach the proxy is the proxy's cause, whatever the TCP detail."""
    return Fault("proxy.unreachable", f"proxy {fault.message}")


def _refusal(proxy: ProxyChoice, status: int, reason: str, headers: dict[str, str],
             authority: str) -> Fault:
    said = f"{status} {reason}".strip()
    if status == 407:
        schemes = headers.get("proxy-authenticate", "")
        wants = schemes.split()[0] if schemes else "credentials"
        if proxy.username is not None:
            msg = f"the proxy rejected the credentials in the URL ({said}; it asks for {wants})"
        else:
            msg = f"the proxy wants credentials ({said}; it asks for {wants})"
        if wants.lower() in ("ntlm", "negotiate", "kerberos"):
            msg += ": Claude Code only does Basic, so use a local auth proxy (cntlm, px)"
        return Fault("proxy.auth_required", msg)
    if status in (502, 503, 504):
        return Fault("proxy.rejected",
                     f"the proxy could not reach {authority} ({said}): it is blocked or down "
                     "beyond the proxy")
    return Fault("proxy.rejected", f"the proxy refused to tunnel to {authority} ({said})")
