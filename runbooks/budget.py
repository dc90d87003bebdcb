"""Time budgets: one value, passed to every probe, so nothing waits on an OS default."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Budget"]


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
