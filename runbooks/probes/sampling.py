"""Sampling the path to the API over time: per-phase timings and which phase fails how often.

The hardest failures in the popular guide are the ones "between API calls in long-running
tasks": the path works when you test it and fails an hour later. One check cannot see that;
``samples`` of them spread over ``duration`` seconds can. Each sample walks the same path as
the client (through the proxy when one applies): a DNS lookup, then one keyless request whose
connect, TLS and first-byte times come from httpx's own trace. A failed sample is charged to
the phase it failed in, with its cause code.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..client.proxy import ProxyChoice
from . import dns as _dns
from . import http as _http
from .context import Context

__all__ = ["PHASES", "Sample", "Sampling", "percentile", "sample_path"]

#: The phases of one request, in order, and the cause prefixes charged to each.
PHASES = ("dns", "connect", "tls", "first_byte")
_PHASE_OF = {"dns": "dns", "tcp": "connect", "ipv6": "connect", "proxy": "connect",
             "tls": "tls", "http": "first_byte", "overloaded": "first_byte",
             "ratelimit": "first_byte", "auth": "first_byte"}


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0–100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Sample:
    at_s: float  # seconds since the first sample started
    ok: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    phase: str | None = None  # where it failed
    cause: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 3), "ok": self.ok, "timings_ms": self.timings_ms,
                "phase": self.phase, "cause": self.cause, "message": self.message}


@dataclass
class Sampling:
    samples: list[Sample]
    duration_s: float

    @property
    def failures(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    @property
    def failure_rate(self) -> float:
        return len(self.failures) / len(self.samples) if self.samples else 0.0

    def phase_failures(self) -> Counter[str]:
        return Counter(s.phase or "unknown" for s in self.failures)

    def cause_counts(self) -> Counter[str]:
        return Counter(s.cause or "unknown" for s in self.failures)

    def stats(self) -> dict[str, dict[str, float | None]]:
        """Per phase (and ``total``): p50, p90, p99 and max, in ms, over successful samples."""
        out = {}
        for phase in (*PHASES, "total"):
            vals = [s.timings_ms[phase] for s in self.samples if s.ok and phase in s.timings_ms]
            out[phase] = {"p50": percentile(vals, 50), "p90": percentile(vals, 90),
                          "p99": percentile(vals, 99), "max": max(vals) if vals else None,
                          "n": len(vals)}
        return out

    def summary_lines(self) -> list[str]:
        """A compact text summary: one line per phase, then the failures."""
        lines = [(f"{len(self.samples)} samples over {self.duration_s:.1f} s, "
                  f"{len(self.failures)} failed ({self.failure_rate:.0%})")]
        for phase, st in self.stats().items():
            if st["n"]:
                lines.append(f"  {phase:<10} p50 {st['p50']:>7.1f}  p90 {st['p90']:>7.1f}  "
                             f"p99 {st['p99']:>7.1f}  max {st['max']:>7.1f} ms")
        for phase, n in self.phase_failures().most_common():
            causes = Counter(s.cause for s in self.failures if (s.phase or "unknown") == phase)
            lines.append(f"  failed in {phase}: {n}× ({', '.join(f'{c} {k}×' for c, k in causes.most_common())})")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"samples": [s.to_dict() for s in self.samples],
                "duration_s": round(self.duration_s, 3),
                "failure_rate": round(self.failure_rate, 4),
                "failed_phases": dict(self.phase_failures()), "causes": dict(self.cause_counts()),
                "stats_ms": self.stats()}


def _one(ctx: Context, proxy: ProxyChoice | None, ssl_ctx, t0: float) -> Sample:
    at = time.perf_counter() - t0
    via = proxy.url if proxy is not None and proxy.in_effect else None
    host = proxy.host if via else ctx.target.host
    timings: dict[str, float] = {}
    address = None
    pins = ctx.resolver.pins.get(host.lower())
    if pins:
        address = pins[0]
    elif not _is_ip(host):
        start = time.perf_counter()
        found = _dns.lookup_both(host, ctx.resolver, ctx.budget.dns)
        timings["dns"] = round((time.perf_counter() - start) * 1000, 1)
        addrs = found["A"].addresses + found["AAAA"].addresses
        if not addrs:
            outcome = {lk.outcome for lk in found.values()}
            cause = "dns.timeout" if "timeout" in outcome else "dns.nxdomain"
            return Sample(at, False, timings, "dns", cause,
                          "; ".join(lk.message for lk in found.values() if lk.message))
        address = addrs[0]
    dns_ms = timings.get("dns")
    if via:  # the client's path: the proxy resolves and connects for us
        ex = _http.probe(ctx.target, None, ssl_ctx, ctx.budget, dns_ms, proxy=via)
    else:
        ex = _http.probe(ctx.target, address, ssl_ctx, ctx.budget, dns_ms)
    timings.update({k: v for k, v in ex.timings_ms.items() if k in (*PHASES, "total")})
    if ex.ok:
        return Sample(at, True, timings)
    # the failed phase is the first one the trace did not see complete
    order = ["connect", "tls", "first_byte"] if ctx.target.scheme == "https" and not via \
        else ["connect", "first_byte"]
    phase = next((p for p in order if p not in timings),
                 _PHASE_OF.get((ex.cause or "").split(".")[0], "first_byte"))
    return Sample(at, False, timings, phase, ex.cause, ex.summary)


def _is_ip(host: str) -> bool:
    from ..addr import is_ip_literal

    return is_ip_literal(host)


def sample_path(ctx: Context, proxy: ProxyChoice | None, ssl_ctx, samples: int,
                duration_s: float, sleep: Callable[[float], None] = time.sleep,
                on_sample: Callable[[Sample], None] | None = None) -> Sampling:
    """``samples`` walks of the path, started every ``duration_s / samples`` seconds (back to
    back when 0). Each is bounded by the context's budgets."""
    interval = duration_s / samples if samples else 0.0
    t0 = time.perf_counter()
    out: list[Sample] = []
    for i in range(samples):
        due = t0 + i * interval
        wait = due - time.perf_counter()
        if wait > 0:
            sleep(wait)
        s = _one(ctx, proxy, ssl_ctx, t0)
        out.append(s)
        if on_sample:
            on_sample(s)
    return Sampling(out, time.perf_counter() - t0)
