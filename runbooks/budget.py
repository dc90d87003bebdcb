"""Time budgets: one value, passed to every probe, so nothing waits on an OS default.

Each phase has its budget (:class:`Budget`), and each whole exchange a deadline
(:class:`Deadline`): the sum of the budgets of the phases it goes through. A per-phase
timeout bounds one wait; a server that sends one byte a second satisfies every wait and
never finishes. The deadline is what ends it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

__all__ = ["Budget", "Deadline", "DeadlineExceeded"]


@dataclass(frozen=True)
class Budget:
    """Seconds each phase may take. Like ``httpx.Timeout``: one default, overridable per phase.

    ``connect`` bounds one TCP connect (both address families run at once, so a
    black hole costs about ``connect`` seconds in all, not twice). ``read`` is
    how long to wait for the first byte of an answer.
    """

    dns: float = 3.0
    connect: float = 3.0
    tls: float = 4.0
    read: float = 4.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not (
                0 < value <= 600
            ):
                raise ValueError(f"budget {name}={value!r}: expected seconds in (0, 600]")

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def request_s(self, tls: bool, proxy: str | None = None, read: float | None = None,
                  dns: bool = False, tunnel: bool | None = None) -> float:
        """The deadline of one HTTP request: the sum of the budgets of its phases. Connect and
        first byte (``read``, default the read budget); a name lookup (``dns``) when it
        connects to a name; TLS for an https:// target; through a ``proxy`` (its URL), its
        own TLS for an https:// proxy and, for a tunnel (``tunnel``, default: an https://
        target), its answer to CONNECT (one more read budget)."""
        first = self.read if read is None else read
        total = self.connect + first + (self.tls if tls else 0.0) + (self.dns if dns else 0.0)
        if proxy is not None:
            if proxy.lower().startswith("https://"):
                total += self.tls
            if tls if tunnel is None else tunnel:
                total += self.read
        return total


class DeadlineExceeded(Exception):
    """An exchange's deadline passed while it was still going on (the other side still
    sending, or sending too little): ``deadline`` says how long it had, and in which phase."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        super().__init__(deadline.describe())


class Deadline:
    """A point in time (monotonic) by which a whole exchange must be over, ``seconds`` after
    it was made. Every wait of the exchange is capped by :meth:`cap`; ``phase`` is what the
    exchange is doing (``head``: up to the answer's headers; ``body``: after them), and
    ``received`` counts the bytes that arrived, for the message."""

    def __init__(self, seconds: float, phase: str = "head") -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.phase = phase
        self.received = 0

    def left(self) -> float:
        return self.at - time.monotonic()

    def cap(self, timeout: float | None) -> tuple[float, bool]:
        """(seconds to wait, whether the deadline is what limits it) for a wait whose own
        timeout is ``timeout`` (None: none). DeadlineExceeded when no time is left."""
        left = self.left()
        if left <= 0:
            raise DeadlineExceeded(self)
        if timeout is None or left < timeout:
            return left, True
        return timeout, False

    def describe(self) -> str:
        said = f" ({self.received} bytes had come)" if self.received else ""
        what = "its answer's headers" if self.phase == "head" else "the answer's body"
        return f"still receiving {what} when the {self.seconds:g} s deadline passed{said}"
