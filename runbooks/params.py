"""Runbook parameters: one table per runbook, one set of rules for every way in.

A parameter arrives three ways: as a ``runbooks doctor --connect-timeout 3`` option, as
``runbooks run network -p connect_timeout=3`` (a string, checked before any kernel starts),
and inside a notebook (a typed value papermill injected). All three go through the same
:class:`Param`: ``parse`` turns the command line's string into a value, ``check`` validates a
typed value. Both raise :class:`~runbooks.errors.UsageError` with one line naming the bad
value and what would be valid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

__all__ = ["Param", "check_all", "flag", "integer", "parse_all", "seconds", "text"]

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Param:
    """One runbook parameter: ``name: type = default  # help`` in the notebook."""

    name: str
    type: type
    default: Any
    help: str
    #: validates (and normalises) a typed value; raises ValueError with the reason
    validate: Callable[[Any], Any] | None = field(default=None, compare=False)
    #: shown instead of the type in `runbooks list` and errors ("seconds in (0, 600]")
    expect: str = ""

    @property
    def option(self) -> str:
        """The doctor's spelling: ``connect_timeout`` → ``--connect-timeout``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, raw: str, via: str = "") -> Any:
        """A command-line string → a checked value."""
        where = via or f"parameter {self.name}"
        if self.type is bool:
            low = raw.strip().lower()
            if low not in _TRUE + _FALSE:
                raise UsageError(f"{where}={raw!r}: expected true or false")
            value: Any = low in _TRUE
        elif self.type in (float, int):
            try:
                value = self.type(raw.strip())
            except ValueError:
                raise UsageError(f"{where}={raw!r}: expected {self.expect or self.type.__name__}"
                                 ) from None
        else:
            value = raw
        return self.check(value, where)

    def check(self, value: Any, via: str = "") -> Any:
        """A typed value (from a notebook, or :meth:`parse`) → the checked value."""
        where = via or f"parameter {self.name}"
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is not bool and isinstance(value, bool)):
            raise UsageError(f"{where}={value!r}: expected {self.expect or self.type.__name__}")
        if self.validate is None:
            return value
        try:
            return self.validate(value)
        except ValueError as exc:
            raise UsageError(f"{where}={_shown(value)}: {exc}") from None


def _shown(value: Any) -> str:
    from .masking import mask_secrets_in

    return repr(mask_secrets_in(value)) if isinstance(value, str) else repr(value)


# -- kinds of parameter ---------------------------------------------------------------------------
def _seconds(low: float, high: float) -> Callable[[float], float]:
    def check(v: float) -> float:
        if math.isnan(v) or not low < v <= high:
            raise ValueError(f"expected seconds in ({low:g}, {high:g}]")
        return v
    return check


def seconds(name: str, default: float, help: str, high: float = 600.0) -> Param:
    """A time budget: a finite number of seconds in (0, high]. NaN, inf, 0 and negatives are
    refused (a probe never waits on an OS default, and never forever)."""
    return Param(name, float, default, help, _seconds(0.0, high), f"seconds in (0, {high:g}]")


def integer(name: str, default: int, help: str, low: int, high: int) -> Param:
    def check(v: int) -> int:
        if not low <= v <= high:
            raise ValueError(f"expected a whole number in [{low}, {high}]")
        return v
    return Param(name, int, default, help, check, f"a whole number in [{low}, {high}]")


def flag(name: str, default: bool, help: str) -> Param:
    return Param(name, bool, default, help, None, "true or false")


def text(name: str, default: str, help: str,
         validate: Callable[[str], Any] | None = None, expect: str = "") -> Param:
    """A string; ``validate`` parses it (raising ValueError with the reason) and the string
    itself is kept. An empty string always means "not given"."""

    def check(v: str) -> str:
        if v and validate is not None:
            validate(v)  # raises ValueError with the reason
        return v
    return Param(name, str, default, help, check, expect or "text")


def parse_all(table: Mapping[str, Param], raw: Mapping[str, str], runbook: str) -> dict[str, Any]:
    """``-p name=value`` strings → checked values; unknown names are refused."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in table:
            raise UsageError(f"unknown parameter {name!r} for runbook {runbook!r}; "
                             f"valid: {', '.join(table)}")
        out[name] = table[name].parse(value)
    return out


def check_all(table: Mapping[str, Param], values: Mapping[str, Any],
              runbook: str) -> dict[str, Any]:
    """Typed values (missing ones take their default) → checked values."""
    unknown = [k for k in values if k not in table]
    if unknown:
        raise UsageError(f"unknown parameter {unknown[0]!r} for runbook {runbook!r}; "
                         f"valid: {', '.join(table)}")
    return {name: p.check(values.get(name, p.default)) for name, p in table.items()}


def merge(*tables: Iterable[Param]) -> dict[str, Param]:
    """One table from several (shared parameters first), refusing a name twice."""
    out: dict[str, Param] = {}
    for table in tables:
        for p in table:
            if p.name in out:
                raise ValueError(f"parameter {p.name!r} declared twice")
            out[p.name] = p
    return out
