"""A CONNECT tunnel through the proxy Claude Code would use, within a budget.

Which proxy that is (its variables, NO_PROXY) is :mod:`runbooks.client.proxy`. The proxy's answer
is read within one deadline (a proxy that trickles its status line costs the read budget,
not hours); a refusal becomes its cause (``proxy.auth_required``, ``proxy.rejected``), a
proxy not reached ``proxy.unreachable``; ``auth_challenges`` reads the schemes a 407 offers.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from dataclasses import dataclass

from ..addr import hostport
from ..budget import Deadline, DeadlineExceeded
from ..client.proxy import ProxyChoice
from .classify import Fault, classify_connect
from .tcp import open_connection

__all__ = ["Tunnel", "auth_challenges", "challenge_schemes", "connect_through", "open_tunnel"]

_MAX_HEAD = 16 * 1024


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


def _connect_request(proxy: ProxyChoice, host: str, port: int) -> bytes:
    """The CONNECT a client sends for ``host:port``, with the URL's Basic credentials (as the
    client sends them; never anything else)."""
    authority = hostport(host, port)
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}",
             "User-Agent: claude-code-runbooks (connection diagnosis)"]
    if proxy.username is not None:
        token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
        lines.append(f"Proxy-Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_head(sock: socket.socket, deadline: Deadline) -> bytes:
    """The proxy's answer to CONNECT, up to its blank line, all of it by ``deadline``
    (DeadlineExceeded, with the bytes that had come counted in it, when it passes)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        seconds, _ = deadline.cap(None)
        sock.settimeout(seconds)
        try:
            chunk = sock.recv(1)  # byte by byte: what follows the head belongs to the tunnel
        except TimeoutError:
            raise DeadlineExceeded(deadline) from None
        if not chunk:
            break
        buf += chunk
        deadline.received = len(buf)
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
    try:
        sock.sendall(_connect_request(proxy, host, port))
        head = _read_head(sock, Deadline(read_s))
    except (DeadlineExceeded, TimeoutError) as exc:  # a send that timed out too
        sock.close()
        came = exc.deadline.received if isinstance(exc, DeadlineExceeded) else 0
        said = (f"was still sending its answer to CONNECT after {read_s:g} s ({came} "
                f"byte{'s' if came != 1 else ''} had come)" if came else
                f"did not answer CONNECT within {read_s:g} s")
        return Tunnel(False, time.perf_counter() - start, fault=Fault(
            "proxy.unreachable", f"the proxy accepted the connection but {said}"))
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
    result.fault = _refusal(proxy, status, reason, headers, hostport(host, port))
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


# -- authentication schemes (a separate probe: connect_through keeps one value per header) ------
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


def challenge_schemes(values: list[str]) -> list[str]:
    """The schemes of ``Proxy-Authenticate`` values, in order and once each:
    ``['Negotiate', 'NTLM']`` from two headers, ``['Basic', 'Digest']`` from
    ``Basic realm="a, b", Digest realm="c", qop="auth"`` (a comma inside quotes, or before an
    ``name=value`` parameter, starts no new challenge)."""
    out: list[str] = []
    for value in values:
        for piece in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', value):
            m = _TOKEN.match(piece.strip())
            if m and not piece.strip()[m.end():].lstrip().startswith("=") and \
                    m.group(0) not in out:
                out.append(m.group(0))
    return out


def auth_challenges(proxy: ProxyChoice, address: str, host: str, port: int,
                    connect_s: float, read_s: float) -> list[str]:
    """Every authentication scheme the proxy offers for a tunnel to ``host:port``, from each
    ``Proxy-Authenticate`` header of its ``407`` (a proxy offering several sends one header
    each; whether ``Basic`` is among them decides the fix). Empty when it does not answer 407.
    Sends the URL's basic credentials, as the client would; never anything else."""
    try:
        sock = open_connection(address, proxy.port, connect_s)
    except OSError:
        return []
    try:
        sock.sendall(_connect_request(proxy, host, port))
        head = _read_head(sock, Deadline(read_s))
    except (OSError, DeadlineExceeded):  # no challenge to read
        return []
    finally:
        sock.close()
    first, *rest = head.decode("iso-8859-1").split("\r\n")
    if first.split(" ")[1:2] != ["407"]:
        return []
    values = [line.split(":", 1)[1] for line in rest
              if ":" in line and line.split(":", 1)[0].strip().lower() == "proxy-authenticate"]
    return challenge_schemes(values)
