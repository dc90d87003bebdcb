"""TCP: connect to each address family separately, at the same time, within a budget.

Telling the families apart is the point: Claude Code (Node) may try IPv6
first where curl quietly falls back to IPv4, so "curl works but Claude Code
doesn't" is often a broken IPv6 path (``ipv6.broken``).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from ..addr import hostport
from .classify import Fault, classify_connect

__all__ = ["Attempt", "connect", "connect_families", "open_connection"]


@dataclass
class Attempt:
    family: str  # "IPv4" / "IPv6"
    address: str
    port: int
    ok: bool
    duration_s: float
    fault: Fault | None = None

    @property
    def endpoint(self) -> str:
        return hostport(self.address, self.port)

    def to_dict(self) -> dict:
        return {
            "address": self.address,
            "port": self.port,
            "ok": self.ok,
            "duration_ms": round(self.duration_s * 1000, 1),
            "error": self.fault.message if self.fault else None,
        }


def family_of(address: str) -> str:
    return "IPv6" if ":" in address else "IPv4"


def open_connection(address: str, port: int, budget_s: float) -> socket.socket:
    """A connected socket, or the OSError/timeout the OS gave, never after ``budget_s``."""
    fam = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(fam, socket.SOCK_STREAM)
    sock.settimeout(budget_s)
    try:
        sock.connect((address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def connect(address: str, port: int, budget_s: float, wait_s: float | None = None) -> Attempt:
    """One attempt that waits at most ``wait_s`` (default: the whole ``budget_s``); a
    timeout is reported against ``budget_s``, the figure the user chose."""
    start = time.perf_counter()
    try:
        open_connection(address, port, budget_s if wait_s is None else wait_s).close()
    except OSError as exc:
        return Attempt(family_of(address), address, port, False, time.perf_counter() - start,
                       classify_connect(exc, budget_s))
    return Attempt(family_of(address), address, port, True, time.perf_counter() - start)


def connect_families(addresses: list[str], port: int, budget_s: float) -> dict[str, list[Attempt]]:
    """Per family, try its addresses in order until one connects; the families race in
    parallel, and each family's attempts share one ``budget_s`` deadline."""
    by_family: dict[str, list[str]] = {}
    for a in addresses:
        by_family.setdefault(family_of(a), []).append(a)
    results: dict[str, list[Attempt]] = {}

    def run(family: str, addrs: list[str]) -> None:
        deadline = time.perf_counter() + budget_s
        tries: list[Attempt] = []
        for addr in addrs[:3]:  # like Node's happy eyeballs, a few addresses per family
            left = deadline - time.perf_counter()
            if left <= 0.05:
                break
            attempt = connect(addr, port, budget_s, wait_s=left)
            tries.append(attempt)
            if attempt.ok:
                break
        results[family] = tries

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in by_family.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {f: results[f] for f in ("IPv6", "IPv4") if f in results}
