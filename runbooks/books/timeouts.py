"""The timeouts runbook: the limits Claude Code will really use, what this network needs, and
whether the path fails now and then.

request timeout → stream idle watchdog → retries → measured → sampled over time.

The values are read exactly as the pinned client reads them (:mod:`runbooks.client.client_env`,
checked row by row against it): ``10min`` is 10 ms, ``0``/negative/hex/over 2147483647 turn
the request timeout off, ``abc`` is the default, and the client prints no warning for any of
them.
"""

from __future__ import annotations

import math
from typing import Any

from ..client import client_env as _env
from ..probes import http as _http
from ..result import Check, Status
from .base import COMMON, NETWORK_PATH, Context, Runbook
from .params import Param, integer, merge

__all__ = ["TIMEOUT_FLOOR_MS", "TimeoutsRun", "recommended_ms"]

#: Below this a request timeout is too low whatever the network: a long answer's first byte
#: can take over a minute to come (a large context, a busy model), and a timeout then looks
#: like a network fault that is not one.
TIMEOUT_FLOOR_MS = 60_000
#: A measured first byte times this is the least a timeout should allow on this path.
_HEADROOM = 20


def _duration(v: float) -> float:
    if math.isnan(v) or not 0 <= v <= 86_400:
        raise ValueError("expected seconds in [0, 86400]")
    return v


SAMPLING: tuple[Param, ...] = (
    integer("samples", 0, "repeat the path checks this many times (0: once, no sampling)",
            0, 1000),
    Param("duration", float, 0.0, "spread the samples over this many seconds (0: back to "
          "back)", _duration, "seconds in [0, 86400]"),
)


def recommended_ms(first_byte_ms: float) -> int:
    """What API_TIMEOUT_MS should at least be on a path whose keyless first byte took this
    long. That first byte is the path's own overhead (no model runs for it); a real answer
    adds the model's time to its first token, which the default (600000) is sized for. So:
    the default, plus 20× the overhead when the overhead is itself large (over 3 s), rounded
    up to a whole minute."""
    extra = first_byte_ms * _HEADROOM
    if extra < 60_000:
        return _env.API_TIMEOUT_DEFAULT_MS
    return int(math.ceil((_env.API_TIMEOUT_DEFAULT_MS + extra) / 60_000) * 60_000)


class TimeoutsRun(Runbook):
    id = "timeouts"
    title = "Timeouts: the limits Claude Code will use, and what this path needs"
    PARAMETERS = merge(COMMON, NETWORK_PATH, SAMPLING)
    STEPS = ("check_request_timeout", "check_stream_idle", "check_retries")
    LIVE_STEPS = ("check_measured", "check_sampling")

    def __init__(self, context: Context, samples: int = 0, duration: float = 0.0,
                 **options: Any) -> None:
        super().__init__(context, **options)
        self.samples, self.duration = samples, duration
        self.sampling = None  # the Sampling, once check_sampling ran (the notebook plots it)

    def _source(self, name: str):
        return self.ctx.settings.origin.get(name)

    def number(self, which: str) -> _env.ClientNumber:
        reader = {"API_TIMEOUT_MS": _env.api_timeout,
                  "CLAUDE_STREAM_IDLE_TIMEOUT_MS": _env.stream_idle_timeout,
                  "CLAUDE_CODE_MAX_RETRIES": _env.max_retries}[which]
        return reader(self.env, self._source(which))

    # -- steps ---------------------------------------------------------------------------------
    def check_request_timeout(self) -> Check:
        """``API_TIMEOUT_MS`` as the client reads it: the value in force, and from where."""
        title = "API_TIMEOUT_MS"

        def run() -> Check:
            n = self.number("API_TIMEOUT_MS")
            details = {"effective_ms": n.value, "source": n.source or "default", "raw": n.raw,
                       "kind": n.kind, "note": n.note}
            where = f" ({n.source})" if n.source else ""
            if n.kind == "disabled":
                return Check("timeout.request", title, Status.WARN,
                             f"API_TIMEOUT_MS={n.raw!r}{where}: {n.note}",
                             cause="config.timeout_disabled", details=details)
            too_low = n.value is not None and n.value < TIMEOUT_FLOOR_MS
            if n.kind in ("lenient", "ignored"):
                # a value the client reads as a few ms is not a warning: it fails every call
                return Check("timeout.request", title, Status.FAIL if too_low else Status.WARN,
                             f"API_TIMEOUT_MS={n.raw!r}{where} is not a clean number: {n.note}",
                             cause="config.timeout_invalid", details=details)
            if too_low:
                seconds = (" (milliseconds, not seconds: 300 is 0.3 s)" if n.value < 1000
                           else "")
                return Check("timeout.request", title, Status.FAIL,
                             f"API_TIMEOUT_MS={n.value}{where}: {n.value / 1000:g} s is below "
                             f"{TIMEOUT_FLOOR_MS // 1000} s; a long answer's first byte can take "
                             f"longer{seconds}",
                             cause="config.timeout_too_low", details=details,
                             fix="Remove API_TIMEOUT_MS (the default is 600000, 10 minutes) or set "
                                 "it in milliseconds: API_TIMEOUT_MS=600000.")
            return Check("timeout.request", title, Status.PASS, n.note + where, details=details)
        return self.guard("timeout.request", title, run)

    def check_stream_idle(self) -> Check:
        """The second watchdog: a stream (or its first byte) silent for this long is cut."""
        title = "Stream idle"

        def run() -> Check:
            n = self.number("CLAUDE_STREAM_IDLE_TIMEOUT_MS")
            details = {"effective_ms": n.value, "source": n.source or "default", "raw": n.raw,
                       "kind": n.kind, "note": n.note}
            if n.kind in ("lenient", "ignored"):
                return Check("timeout.stream_idle", title, Status.WARN,
                             f"CLAUDE_STREAM_IDLE_TIMEOUT_MS={n.raw!r} is not a clean number: "
                             f"{n.note}", cause="config.timeout_invalid", details=details,
                             fix="Write it as whole milliseconds between 300000 and 1800000, "
                                 "e.g. CLAUDE_STREAM_IDLE_TIMEOUT_MS=600000, or remove it.")
            if n.kind == "disabled":
                return Check("timeout.stream_idle", title, Status.WARN, n.note,
                             cause="config.timeout_disabled", details=details,
                             fix="Remove CLAUDE_ENABLE_STREAM_WATCHDOG=0: without the watchdog "
                                 "a stream that goes silent holds the session forever.")
            return Check("timeout.stream_idle", title, Status.PASS, n.note, details=details)
        return self.guard("timeout.stream_idle", title, run)

    def check_retries(self) -> Check:
        title = "Retries"

        def run() -> Check:
            n = self.number("CLAUDE_CODE_MAX_RETRIES")
            details = {"effective": n.value, "source": n.source or "default", "raw": n.raw,
                       "kind": n.kind, "note": n.note}
            if n.kind in ("lenient", "ignored"):
                return Check("timeout.retries", title, Status.WARN,
                             f"CLAUDE_CODE_MAX_RETRIES={n.raw!r} is not a clean number: {n.note}",
                             cause="config.timeout_invalid", details=details,
                             fix="Write it as a whole number up to 15, e.g. "
                                 "CLAUDE_CODE_MAX_RETRIES=10, or remove it.")
            return Check("timeout.retries", title, Status.PASS, n.note, details=details)
        return self.guard("timeout.retries", title, run)

    def check_measured(self) -> Check:
        """This path's own first byte and total, and the timeout it calls for."""
        title = "Measured"
        blocked = self.live_blocked("timeout.measured", title)
        if blocked:
            return blocked

        def run() -> Check:
            ex = keyless_probe(self.ctx)
            if not ex.ok:
                return Check("timeout.measured", title, Status.SKIP,
                             f"no answer to measure: {ex.summary}",
                             details={"timings_ms": ex.timings_ms})
            first = ex.timings_ms.get("first_byte", ex.timings_ms.get("total", 0.0))
            total = ex.timings_ms.get("total", first)
            rec = recommended_ms(first)
            n = self.number("API_TIMEOUT_MS")
            details = {"first_byte_ms": first, "total_ms": total, "recommended_ms": rec,
                       "effective_ms": n.value, "timings_ms": ex.timings_ms}
            line = (f"first byte {first:.0f} ms, total {total:.0f} ms; recommended "
                    f"API_TIMEOUT_MS ≥ {rec}")
            if n.value is not None and n.value < first * 2:
                return Check("timeout.measured", title, Status.FAIL,
                             f"{line}, but it is {n.value}: shorter than this path takes to "
                             "answer at all", cause="config.timeout_too_low", details=details,
                             fix=f"export API_TIMEOUT_MS={rec}")
            return Check("timeout.measured", title, Status.PASS, line, details=details,
                         duration_s=total / 1000)
        return self.guard("timeout.measured", title, run)

    def check_sampling(self) -> Check:
        """``samples`` walks of the path over ``duration``: per-phase percentiles and which
        phase fails how often (``network.intermittent``)."""
        title = "Sampling"
        if not self.samples:
            return self.skip("timeout.sampling", title, "not asked for: samples=N (and "
                             "duration=S) repeats the path checks to catch intermittent "
                             "failures")
        blocked = self.live_blocked("timeout.sampling", title)
        if blocked:
            return blocked

        def run() -> Check:
            from ..probes.live import path_of
            from ..probes.sampling import sample_path

            proxy, ssl_ctx = path_of(self.ctx)
            self.sampling = s = sample_path(self.ctx, proxy, ssl_ctx, self.samples,
                                            self.duration)
            # the summary (per-phase percentiles, failures by cause) is what a reader reads;
            # every sample is in the JSON report (a row each would flood the notebook)
            details = {**s.to_dict(), "lines": s.summary_lines()[1:]}
            brief = ("samples", "stats_ms", "failed_phases", "causes")
            text = "; ".join(s.summary_lines()[:1])
            if not s.failures:
                st = s.stats()["total"]
                return Check("timeout.sampling", title, Status.PASS,
                             f"{text}; total p50 {st['p50']:.0f} ms, p99 {st['p99']:.0f} ms",
                             details=details, duration_s=s.duration_s, json_only=brief)
            phase, n = s.phase_failures().most_common(1)[0]
            cause = s.cause_counts().most_common(1)[0][0]
            if len(s.failures) == len(s.samples):
                return Check("timeout.sampling", title, Status.FAIL,
                             f"every sample failed, in {phase} ({cause})",
                             cause=None if cause == "unknown" else cause, details=details,
                             duration_s=s.duration_s, json_only=brief)
            return Check("timeout.sampling", title, Status.WARN,
                         f"{len(s.failures)} of {len(s.samples)} samples failed "
                         f"({s.failure_rate:.0%}), mostly in {phase} ({cause} {n}×)",
                         cause="network.intermittent", details=details,
                         duration_s=s.duration_s, json_only=brief,
                         fix=f"The path fails now and then in {phase}: see the page for "
                             f"{cause}; compare with another network (VPN off, wired, a phone "
                             "hotspot) to find whose it is.")
        return self.guard("timeout.sampling", title, run)

    def summary_lines(self) -> list[str]:
        """The sampling's compact text summary (empty without sampling)."""
        return self.sampling.summary_lines() if self.sampling else []


def keyless_probe(ctx: Context) -> _http.Exchange:
    """One keyless request along the client's path (shared within a run)."""
    def make() -> _http.Exchange:
        from ..probes.live import path_of

        proxy, ssl_ctx = path_of(ctx)
        from ..probes.live import _address

        return _http.probe(ctx.target, _address(ctx, proxy), ssl_ctx, ctx.budget,
                           proxy=proxy.url if proxy else None)
    return ctx.once("keyless.probe", make)
