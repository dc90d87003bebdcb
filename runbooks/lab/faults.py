"""Connection faults made from plain sockets on loopback.

- :class:`Refused`: a port that answers SYN with RST. The port is bound but
  never listened on, so nothing else can take it while the lab runs.
- :class:`BlackHole`: a listener whose accept queue is full and never
  drained: the kernel drops further SYNs, so connects hang as they do behind
  a firewall that drops packets.
- :class:`Silent`: accepts connections and never says a word (first-byte
  timeout; over TLS, a handshake that never starts).
- :class:`Reset`: accepts, then aborts the connection with RST.
- :class:`Trickler`: reads the request, then answers one byte per second, without end (a
  proxy's answer to ``CONNECT`` that never completes, though every read gets a byte).
- :class:`TrickleTLS`: a TLS server whose handshake comes one byte per second.
"""

from __future__ import annotations

import itertools
import socket
import ssl
import struct
import threading

from ..addr import hostport

__all__ = ["BlackHole", "LabUnsupported", "Refused", "Reset", "Silent", "TrickleTLS",
           "Trickler"]


class LabUnsupported(RuntimeError):
    """This operating system cannot reproduce the fault on loopback (say so, and skip)."""


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _Fault:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.sock = socket.socket(_family(host), socket.SOCK_STREAM)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://{hostport(self.host, self.port)}"

    def close(self) -> None:
        self._stop.set()
        for s in self._held:
            s.close()
        self.sock.close()


class Refused(_Fault):
    """Bound, not listening: the kernel answers every SYN with RST."""


class BlackHole(_Fault):
    """A full accept queue: further SYNs are dropped, connects hang until their timeout."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.sock.listen(0)
        # Fill the queue: connect until a connect no longer completes at once. Linux then
        # drops further SYNs; some kernels refuse them instead (Windows), which is no
        # black hole: say so, and the tests that need one skip with that reason.
        for _ in range(16):
            c = socket.socket(_family(host), socket.SOCK_STREAM)
            c.settimeout(0.2)
            try:
                c.connect((host, self.port))
            except TimeoutError:
                c.close()
                break
            except OSError as exc:
                c.close()
                self.close()
                raise LabUnsupported(f"this OS answers a full accept queue with "
                                     f"{type(exc).__name__}, not silence: no SYN black hole "
                                     "on loopback here") from None
            self._held.append(c)
        else:  # pragma: no cover - a kernel that never drops: say so loudly
            self.close()
            raise LabUnsupported("could not fill the accept queue: no black hole on this OS")


class _Acceptor(_Fault):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.on_accept(conn)

    def on_accept(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        super().close()


class Silent(_Acceptor):
    """Accepts and holds every connection without reading or writing."""

    def on_accept(self, conn: socket.socket) -> None:
        self._held.append(conn)


class Reset(_Acceptor):
    """Accepts, waits for the first bytes, then aborts with RST (SO_LINGER 0)."""

    def on_accept(self, conn: socket.socket) -> None:
        conn.settimeout(1.0)
        try:
            conn.recv(1)
        except OSError:
            pass
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


class Trickler(_Acceptor):
    """Reads the request's head, then sends ``head``, then ``repeat`` over and over, one byte
    every ``interval`` seconds: each read the client makes gets a byte in time, the answer
    never ends. Each connection has its own thread."""

    def __init__(self, head: bytes, repeat: bytes = b"", interval: float = 1.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.head, self.repeat, self.interval = head, repeat, interval
        super().__init__(host, port)

    def on_accept(self, conn: socket.socket) -> None:
        self._held.append(conn)
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5.0)
        got = b""
        try:
            while b"\r\n\r\n" not in got and len(got) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                got += chunk
            tail = itertools.cycle(self.repeat) if self.repeat else iter(())
            for byte in itertools.chain(self.head, tail):
                if self._stop.wait(self.interval):
                    return
                conn.sendall(bytes([byte]))
        except OSError:
            return


class TrickleTLS(_Acceptor):
    """A TLS server (``context``, server side) that sends its handshake one byte every
    ``interval`` seconds: the client's reads all succeed, its handshake never completes."""

    def __init__(self, context: ssl.SSLContext, interval: float = 1.0,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.context, self.interval = context, interval
        super().__init__(host, port)

    def on_accept(self, conn: socket.socket) -> None:
        self._held.append(conn)
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        conn.settimeout(self.interval)  # the wait between two bytes
        queue = b""
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                data = None
            except OSError:
                return
            if data == b"":
                return
            if data:
                incoming.write(data)
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLError, OSError):
                return
            queue += outgoing.read()
            if queue:
                try:
                    conn.sendall(queue[:1])
                except OSError:
                    return
                queue = queue[1:]
