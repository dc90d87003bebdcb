"""DNS: A and AAAA looked up separately, each timed and bounded.

The default is the system resolver (``getaddrinfo``), as the real client uses.
Two overrides, for labs and for checking a suspicion: a nameserver to ask
directly (``--nameserver 127.0.0.1:5353``), and curl-style pins
(``--resolve api.anthropic.com:127.0.0.1``) that skip DNS for one host.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..addr import hostport
from ..errors import UsageError
from .classify import classify_gai

__all__ = ["Lookup", "Resolver", "check_nameserver", "check_resolve", "lookup", "lookup_both",
           "parse_nameserver", "parse_resolve", "split_pins", "stream_addresses"]

FAMILIES = {"A": socket.AF_INET, "AAAA": socket.AF_INET6}


@dataclass(frozen=True)
class Resolver:
    """How names are resolved: the system's resolver, one nameserver, plus pins."""

    nameserver: tuple[str, int] | None = None
    pins: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def describe(self) -> str:
        if self.nameserver:
            host, port = self.nameserver
            return f"nameserver {hostport(host, port)}"
        return "system resolver (getaddrinfo)"

    @classmethod
    def from_options(cls, nameserver: str = "", resolve: Sequence[str] | str = ()) -> Resolver:
        pins: dict[str, tuple[str, ...]] = {}
        for spec in split_pins(resolve):
            host, addr = parse_resolve(spec)
            pins[host] = pins.get(host, ()) + (addr,)
        return cls(parse_nameserver(nameserver) if nameserver else None, pins)


def check_nameserver(spec: str) -> tuple[str, int]:
    """``1.1.1.1``, ``127.0.0.1:5353``, ``[::1]:5353``, ``::1`` → (address, port);
    ValueError says what is wrong."""
    s = spec.strip()
    host, port = s, "53"
    if s.startswith("["):
        host, close, rest = s[1:].partition("]")
        if not close:
            raise ValueError("unclosed [ in the address")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"unexpected {rest!r} after ]")
            port = rest[1:]
    elif s.count(":") == 1:
        host, port = s.split(":")
    elif "]" in s:
        raise ValueError("] without [")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError("expected an IP address with optional port, e.g. 127.0.0.1:5353 "
                         "or [::1]:5353") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port {port!r} is not in 1-65535")
    return host, int(port)


def parse_nameserver(spec: str) -> tuple[str, int]:
    try:
        return check_nameserver(spec)
    except ValueError as exc:
        raise UsageError(f"bad nameserver {spec!r}: {exc}") from None


def check_resolve(spec: str) -> tuple[str, str]:
    """curl-style pin: ``HOST:ADDR`` or ``HOST:PORT:ADDR`` (ADDR may be ``[::1]``) →
    (host, address); ValueError says what is wrong."""
    from ..client.target import check_host

    s = spec.strip()
    host, sep, rest = s.partition(":")
    if not sep or not host:
        raise ValueError("expected HOST:ADDR or HOST:PORT:ADDR, e.g. api.anthropic.com:127.0.0.1")
    if rest and ":" in rest and rest.split(":", 1)[0].isdigit() and not rest.startswith("["):
        maybe = rest.split(":", 1)[1]  # curl's HOST:PORT:ADDR; PORT is dropped (pins apply
        if _is_address(maybe.strip("[]")) or maybe.startswith("["):  # to every port here)
            rest = maybe
    if rest.startswith("[") != rest.endswith("]"):
        raise ValueError("unbalanced [ ] around the address")
    addr = rest[1:-1] if rest.startswith("[") else rest
    if not _is_address(addr):
        raise ValueError(f"{addr!r} is not an IP address (expected HOST:ADDR, e.g. "
                         "api.anthropic.com:127.0.0.1)")
    check_host(host)
    return host.lower(), addr


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def parse_resolve(spec: str) -> tuple[str, str]:
    try:
        return check_resolve(spec)
    except ValueError as exc:
        raise UsageError(f"bad --resolve {spec!r}: {exc}") from None


def split_pins(resolve: Sequence[str] | str) -> list[str]:
    """``"a:1.2.3.4,b:::1"`` (the notebook's one string) or a list → one spec per pin."""
    if isinstance(resolve, str):
        return [r for r in resolve.replace(";", ",").split(",") if r.strip()]
    return list(resolve)


@dataclass
class Lookup:
    """One record type's answer."""

    rtype: str  # "A" or "AAAA"
    outcome: str  # "ok", "nxdomain", "nodata", "timeout"
    addresses: list[str]
    message: str
    duration_s: float

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome,
            "addresses": self.addresses,
            "message": self.message,
            "duration_ms": round(self.duration_s * 1000, 1),
        }


def lookup(host: str, rtype: str, resolver: Resolver, budget_s: float) -> Lookup:
    """Look ``host`` up for one record type within ``budget_s`` seconds."""
    start = time.perf_counter()
    if resolver.nameserver:
        outcome, addrs, msg = _ask_nameserver(host, rtype, resolver.nameserver, budget_s)
    else:
        outcome, addrs, msg = _ask_system(host, rtype, budget_s)
    return Lookup(rtype, outcome, addrs, msg, time.perf_counter() - start)


def lookup_both(host: str, resolver: Resolver, budget_s: float) -> dict[str, Lookup]:
    """A and AAAA at the same time: the whole lookup costs at most ``budget_s``."""
    results: dict[str, Lookup] = {}

    def run(rtype: str) -> None:
        results[rtype] = lookup(host, rtype, resolver, budget_s)

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in FAMILIES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {t: results[t] for t in FAMILIES}


def _getaddrinfo(host: str, port: int | None, family: int, budget_s: float) -> dict:
    """getaddrinfo has no timeout of its own: run it in a daemon thread and stop waiting at
    the budget (the thread is abandoned, it cannot hold the exit). The box holds ``infos``,
    ``gai`` (a gaierror) or ``err``; empty when no answer came in time."""
    box: dict = {}

    def work() -> None:
        try:
            box["infos"] = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        except socket.gaierror as exc:
            box["gai"] = exc
        except (OSError, UnicodeError) as exc:
            box["err"] = exc

    t = threading.Thread(target=work, daemon=True, name=f"getaddrinfo-{family}")
    t.start()
    t.join(budget_s)
    return dict(box)


def _ask_system(host: str, rtype: str, budget_s: float) -> tuple[str, list[str], str]:
    box = _getaddrinfo(host, None, FAMILIES[rtype], budget_s)
    if "infos" in box:
        return "ok", list(dict.fromkeys(info[4][0] for info in box["infos"])), ""
    if "gai" in box:
        outcome, msg = classify_gai(box["gai"])
        return outcome, [], msg
    if "err" in box:
        return "nxdomain", [], f"bad host name: {box['err']}"
    return "timeout", [], f"no answer within {budget_s:g} s"


def stream_addresses(host: str, port: int, budget_s: float) -> list[tuple[int, tuple]]:
    """(family, socket address) pairs to connect to ``host:port``, in the order the system
    resolver gives them, within ``budget_s`` seconds (what ``socket.create_connection`` would
    try, bounded). The gaierror on failure; one with EAI_AGAIN when no answer came in time."""
    box = _getaddrinfo(host, port, socket.AF_UNSPEC, budget_s)
    if "infos" in box:
        return [(info[0], info[4]) for info in box["infos"]]
    if "gai" in box:
        raise box["gai"]
    if "err" in box:
        raise socket.gaierror(socket.EAI_NONAME, f"bad host name: {box['err']}")
    raise socket.gaierror(socket.EAI_AGAIN, f"no answer from the system resolver for {host} "
                          f"within {budget_s:g} s")


def _ask_nameserver(
    host: str, rtype: str, server: tuple[str, int], budget_s: float
) -> tuple[str, list[str], str]:
    from dnslib import QTYPE, RCODE, DNSRecord

    query = DNSRecord.question(host, rtype)
    try:
        packet = query.send(server[0], server[1], timeout=budget_s,
                            ipv6=":" in server[0])
        reply = DNSRecord.parse(packet)
    except TimeoutError:
        return "timeout", [], f"no answer from {hostport(*server)} within {budget_s:g} s"
    except ConnectionRefusedError:
        return "timeout", [], f"nameserver {hostport(*server)} refused the query"
    except OSError as exc:
        return "timeout", [], f"nameserver {hostport(*server)} unreachable: {exc}"
    except Exception as exc:  # noqa: BLE001 - dnslib parse errors: a broken answer is no answer
        return "timeout", [], f"unreadable answer from {hostport(*server)}: {exc}"
    rcode = reply.header.rcode
    if rcode == RCODE.NXDOMAIN:
        return "nxdomain", [], "no such host (NXDOMAIN)"
    if rcode != RCODE.NOERROR:
        return "timeout", [], f"the nameserver answered {RCODE.get(rcode)}"
    want = getattr(QTYPE, rtype)
    addrs = [str(rr.rdata) for rr in reply.rr if rr.rtype == want]
    if not addrs:
        return "nodata", [], "no record of this type"
    return "ok", addrs, ""
