"""``runbooks retry -- claude -p …``: retry a command only when retrying can fix its failure.

The popular guide's retry loop sleeps a fixed five seconds and retries everything, three
times: it hammers a rate-limited API at the worst moment and retries a revoked key as if it
might start working. This one reads what the command printed, names the cause through the
same catalogue as ``runbooks triage``, and then:

- retries what is transient (timeouts, resets, dropped streams, 429 with a reset, 529, 5xx),
  with exponential backoff and full jitter (AWS's "full jitter": a random wait between 0 and
  ``min(cap, base × 2ⁿ)``), and never sooner than a reset time the API announced;
- does not retry what retrying cannot fix (401/403/402, a bad request, certificate and
  configuration faults, a spend cap, an ``API_TIMEOUT_MS`` set far too low), saying why;
- passes the command's standard error through as it comes, and its standard output only
  for the attempt that counts (the one that succeeds, or the last one): a script that reads
  ``claude -p``'s answer never gets a failed attempt's error message mixed into it
  (``--no-buffer`` streams every attempt's output instead);
- replays its standard input (read once) to every attempt.

Exit status: the command's own, from its last attempt (2 for a usage error of ours).
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from .errors import UsageError
from .triage import SPECIFIC, rank

__all__ = ["RETRYABLE", "Decision", "backoff", "decide", "run_with_retries"]

#: Causes that a later attempt can get past.
RETRYABLE = frozenset({
    "tcp.timeout", "tcp.reset", "dns.timeout", "http.first_byte_timeout", "http.stream_stall",
    "http.server_error", "overloaded", "ratelimit.exceeded", "network.intermittent",
    "proxy.unreachable",
})
#: A 429 without an announced reset waits at least this long (limits are per minute).
RATE_LIMIT_WAIT_S = 30.0
#: Below this, a timeout is the configuration's fault, not the network's.
TIMEOUT_FLOOR_MS = 10_000
_TAIL = 64 * 1024
_STDIN_CAP = 64 * 1024 * 1024

_QUOTED_TIMEOUT = re.compile(r"API_TIMEOUT_MS above (\d+)")
_RETRY_AFTER = [re.compile(p, re.IGNORECASE) for p in (
    r"retry[- ]after[\"']?\s*[:=]?\s*[\"']?(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)?",
    r"try again in (\d+(?:\.\d+)?)\s*(?:s\b|sec|second)",
)]
_RESET_AT = re.compile(r"reset[s]?(?:[- ]at)?[\"']?\s*[:=]?\s*[\"']?"
                       r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))", re.IGNORECASE)


@dataclass(frozen=True)
class Decision:
    retry: bool
    cause: str | None  # the best-ranked cause found in the output, if any
    why: str  # one line for the user
    not_before_s: float = 0.0  # a wait the API asked for


def _announced_wait(text: str, now: float) -> float:
    waits = [float(m.group(1)) for rx in _RETRY_AFTER for m in rx.finditer(text)]
    for m in _RESET_AT.finditer(text):
        with contextlib.suppress(ValueError):
            at = datetime.fromisoformat(m.group(1))
            waits.append(at.astimezone(UTC).timestamp() - now)
    waits = [w for w in waits if 0 < w <= 3600]
    return max(waits, default=0.0)


def decide(output: str, now: float | None = None) -> Decision:
    """Should a command that failed with ``output`` be retried?"""
    now = time.time() if now is None else now
    # a generic word ("not found", "limit") says where to look, not that this is a connection
    # failure: only a cause a specific signature names counts here
    quoted = _QUOTED_TIMEOUT.search(output)  # the timeout message orders its causes itself
    found = [i.cause.code for i in rank(output).ranked if quoted or i.best >= SPECIFIC]
    if not found:
        return Decision(False, None, "no known connection error in its output: a failure "
                        "retrying cannot be shown to fix")
    if quoted and int(quoted.group(1)) < TIMEOUT_FLOOR_MS:
        return Decision(False, found[0],
                        f"its request timeout is {quoted.group(1)} ms: raise API_TIMEOUT_MS "
                        "(milliseconds) instead of retrying")
    retryable = [c for c in found if c in RETRYABLE]
    # a timeout message names the config cause too; the transient reading wins then
    top = found[0] if found[0] != "config.timeout_too_low" or not retryable else retryable[0]
    if top in RETRYABLE:
        wait = _announced_wait(output, now)
        said = f"; the API asked to wait {wait:.0f} s" if wait else ""
        if not wait and top == "ratelimit.exceeded":
            # Claude Code's 429 message does not carry the reset: per-minute limits refill
            # within a minute, so never come back sooner than half of one
            wait, said = RATE_LIMIT_WAIT_S, (f"; no reset time in the message, so at least "
                                             f"{RATE_LIMIT_WAIT_S:g} s")
        return Decision(True, top, f"{top} is transient{said}", wait)
    return Decision(False, top, f"{top} is not fixed by retrying (`runbooks triage {top}`)")


def backoff(attempt: int, base: float, cap: float, rng: Callable[[], float] = random.random
            ) -> float:
    """Full jitter: uniform in [0, min(cap, base × 2^attempt)]."""
    return rng() * min(cap, base * (2 ** attempt))


@dataclass
class Attempt:
    number: int
    exit_code: int
    duration_s: float
    decision: Decision | None = None
    waited_s: float = 0.0


@dataclass
class Outcome:
    exit_code: int
    attempts: list[Attempt] = field(default_factory=list)


def _pump(src: IO[bytes], dst: IO[bytes], tail: bytearray) -> None:
    for chunk in iter(lambda: src.read1(65536) if hasattr(src, "read1") else src.read(65536), b""):
        with contextlib.suppress(OSError, ValueError):
            dst.write(chunk)
            dst.flush()
        tail += chunk
        del tail[:-_TAIL]


class _Held:
    """A stdout stand-in that keeps an attempt's output until we know whether it counts."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> None:
        self.data += chunk

    def flush(self) -> None:
        pass


def _attempt(cmd: Sequence[str], stdin: bytes | None, out: IO[bytes] | _Held
             ) -> tuple[int, str]:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tails = (bytearray(), bytearray())
    pumps = [threading.Thread(target=_pump, args=(src, dst, tail), daemon=True)
             for src, dst, tail in ((proc.stdout, out, tails[0]),
                                    (proc.stderr, sys.stderr.buffer, tails[1]))]
    for t in pumps:
        t.start()
    try:
        if stdin is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                proc.stdin.write(stdin)
            proc.stdin.close()
        code = proc.wait()
    except BaseException:
        with contextlib.suppress(OSError):
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    for t in pumps:
        t.join(5)
    text = (bytes(tails[0]) + b"\n" + bytes(tails[1])).decode("utf-8", "replace")
    return code, text


def run_with_retries(cmd: Sequence[str], max_attempts: int = 5, base_s: float = 2.0,
                     cap_s: float = 60.0, say: Callable[[str], None] | None = None,
                     sleep: Callable[[float], None] = time.sleep,
                     buffer: bool = True) -> Outcome:
    """Run ``cmd`` until it succeeds, fails for a reason retrying cannot fix, or has had
    ``max_attempts`` attempts."""
    say = say or (lambda line: print(f"runbooks retry: {line}", file=sys.stderr, flush=True))
    stdin = None
    if sys.stdin is not None and not sys.stdin.isatty():  # replayed to every attempt
        stdin = sys.stdin.buffer.read(_STDIN_CAP + 1)
        if len(stdin) > _STDIN_CAP:
            raise UsageError(f"standard input is over {_STDIN_CAP:,} bytes: too much to replay")
    outcome = Outcome(0)
    for n in range(1, max_attempts + 1):
        t0 = time.perf_counter()
        held = _Held() if buffer else sys.stdout.buffer
        code, text = _attempt(cmd, stdin, held)
        att = Attempt(n, code, time.perf_counter() - t0)
        outcome.attempts.append(att)
        outcome.exit_code = code
        d = None if code == 0 else decide(text)
        att.decision = d
        final = d is None or not d.retry or n == max_attempts
        if final and isinstance(held, _Held):  # this attempt's output is the one that counts
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.buffer.write(bytes(held.data))
                sys.stdout.buffer.flush()
        if d is None:
            if n > 1:
                say(f"attempt {n} succeeded")
            return outcome
        if not d.retry:
            say(f"attempt {n} failed (exit {code}); not retrying: {d.why}")
            return outcome
        if n == max_attempts:
            say(f"attempt {n} failed (exit {code}, {d.cause}); giving up after {n} attempts")
            return outcome
        wait = max(backoff(n - 1, base_s, cap_s), d.not_before_s)
        att.waited_s = wait
        say(f"attempt {n} failed (exit {code}): {d.why}; retrying in {wait:.1f} s "
            f"(attempt {n + 1} of {max_attempts})")
        sleep(wait)
    return outcome
