"""A small recording forward proxy: which proxy saw a request, and for what.

The differential tests start several (proxy A, B, C…) and point each proxy variable at a
different one: the proxy whose log holds the request is the variable that won. It speaks
``CONNECT host:port`` (tunnels, for https:// targets) and absolute-form requests
(``POST http://host:port/path``, for http:// targets), one request per connection, and
records ``(method, target)`` for each before forwarding it.

It never leaves loopback: every host name in a target is reached at 127.0.0.1 (or at the
address given in ``hosts``), and a target that is an IP address off loopback is refused
with 403. Every socket operation has a timeout; :meth:`RecordingProxy.close` stops the
accept loop and every open connection.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ..addr import hostport

__all__ = ["RecordingProxy", "Seen"]

_HEAD_MAX = 64 * 1024
_IO_TIMEOUT_S = 10.0  # an idle tunnel is closed after this long


@dataclass(frozen=True)
class Seen:
    """One request the proxy received: ``("CONNECT", "api.lab.test:443")`` or
    ``("POST", "http://127.0.0.1:8080/v1/messages?beta=true")``."""

    method: str
    target: str


class RecordingProxy:
    """A threaded forward proxy on loopback that records what it is asked for."""

    def __init__(self, name: str = "proxy", host: str = "127.0.0.1",
                 hosts: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.hosts = {k.lower().rstrip("."): v for k, v in (hosts or {}).items()}
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"recorder-{name}")
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{hostport(self.host, self.port)}"

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def __repr__(self) -> str:
        return f"RecordingProxy({self.name!r}, {self.url})"

    # -- serving -------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _track(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.add(s)

    def _untrack(self, s: socket.socket) -> None:
        with self._lock:
            self._conns.discard(s)
        s.close()

    def _serve(self, conn: socket.socket) -> None:
        upstream = None
        try:
            conn.settimeout(_IO_TIMEOUT_S)
            head, rest = _read_head(conn)
            if head is None:
                return
            first, _, headers = head.partition(b"\r\n")
            try:
                method, target, version = first.decode("latin-1").split(" ")
            except ValueError:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                return
            with self._lock:
                self._seen.append(Seen(method, target))
            if method == "CONNECT":
                host, port = _split_authority(target, 443)
            else:
                host, port, path = _split_absolute(target)
                if host is None:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    return
            address = self._address_for(host)
            if address is None:
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                return
            try:
                upstream = socket.create_connection((address, port), timeout=2.0)
            except OSError:
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                return
            self._track(upstream)
            upstream.settimeout(_IO_TIMEOUT_S)
            if method == "CONNECT":
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
            else:  # origin-form upstream; one request per connection, then both close
                kept = [line for line in headers.split(b"\r\n") if line and not
                        line.lower().startswith((b"proxy-", b"connection:", b"keep-alive:"))]
                upstream.sendall(b"\r\n".join(
                    [f"{method} {path} {version}".encode("latin-1"), *kept,
                     b"Connection: close", b"", b""]) + rest)
            _pump(conn, upstream)
        except OSError:
            pass
        finally:
            if upstream is not None:
                self._untrack(upstream)
            self._untrack(conn)

    def _address_for(self, host: str) -> str | None:
        """Where to reach ``host``: loopback only, whatever the name."""
        name = host.lower().rstrip(".")
        if name in self.hosts:
            return self.hosts[name]
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return "127.0.0.1"  # any name: the lab's hosts all live on loopback
        return str(ip) if ip.is_loopback else None

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)
        with self._lock:
            conns = list(self._conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _read_head(conn: socket.socket) -> tuple[bytes | None, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk or len(buf) > _HEAD_MAX:
            return None, b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _split_authority(authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    return host, int(port) if port.isdigit() else default_port


def _split_absolute(target: str) -> tuple[str | None, int, str]:
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None, 0, ""
    authority, slash, path = rest.partition("/")
    host, port = _split_authority(authority.rpartition("@")[2],
                                  443 if scheme.lower() == "https" else 80)
    return host, port, "/" + path if slash else "/"


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes or goes idle."""

    def copy(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)  # pass the end on; the other direction goes on
        except OSError:
            pass

    t = threading.Thread(target=copy, args=(b, a), daemon=True)
    t.start()
    copy(a, b)
    t.join(_IO_TIMEOUT_S)  # bounded: each recv times out after _IO_TIMEOUT_S
