"""A real DNS server on loopback (UDP), with dnslib doing the wire format.

Zones are a plain mapping: name → {"A": [...], "AAAA": [...]}. Names listed
in ``drop`` get no answer at all (``dns.timeout``); any other name answers
NXDOMAIN (``dns.nxdomain``).
"""

from __future__ import annotations

import socket
import threading

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord

from ..addr import hostport

__all__ = ["LabDNS"]


class LabDNS:
    def __init__(self, zones: dict[str, dict[str, list[str]]] | None = None,
                 drop: set[str] | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.zones = {k.lower().rstrip("."): v for k, v in (zones or {}).items()}
        self.drop = {d.lower().rstrip(".") for d in (drop or set())}
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return hostport(self.host, self.port)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = self.answer(DNSRecord.parse(data))
            except Exception:  # noqa: BLE001, S112 - a malformed query gets no answer, as from a real server
                continue
            if reply is not None:
                self.sock.sendto(reply.pack(), peer)

    def answer(self, query: DNSRecord) -> DNSRecord | None:
        name = str(query.q.qname).lower().rstrip(".")
        qtype = QTYPE[query.q.qtype]
        self.queries.append((name, qtype))
        if name in self.drop:
            return None
        reply = query.reply()
        zone = self.zones.get(name)
        if zone is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for addr in zone.get(qtype, []):
            rdata = A(addr) if qtype == "A" else AAAA(addr)
            reply.add_answer(RR(query.q.qname, QTYPE.reverse[qtype], rdata=rdata, ttl=60))
        return reply

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()
