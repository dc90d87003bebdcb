"""Runbook parameters: one table per runbook, one set of rules for every way in.

A parameter arrives four ways: as a ``runbooks doctor --connect-timeout 3`` option, as
``runbooks run network -p connect_timeout=3`` or ``-y``/``-f`` YAML (checked before any kernel
starts), and inside a notebook: whatever papermill injected (``-p apply false`` hands the
notebook the string ``"false"``, ``-p samples 3`` the int 3, ``-p x None`` None) or the
parameters cell as edited in Jupyter. All of them go through one function,
:meth:`Param.check`, which reads any of those values by the same rules:

- ``None`` is the parameter's default;
- a string is read as the command line reads it: ``true``/``yes``/``on``/``1`` and
  ``false``/``no``/``off``/``0`` (any case) for a flag, a number for a number;
- a flag also takes a bool, or the int 0 or 1; a number of seconds an int or a float; a whole
  number an int (never a bool, never 3.0); text a string, or an int (the digits papermill read
  as a number);
- text never holds NUL, another control character (tab, newline and carriage return aside)
  or a lone surrogate.

Anything else raises :class:`~runbooks.errors.UsageError` with one line naming the parameter,
at most :data:`SHOWN` characters of its value (masked), and what would be valid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError

__all__ = ["SHOWN", "Param", "check_all", "flag", "integer", "parse_all", "seconds", "shown",
           "text"]

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
#: How a flag may be spelled, besides true and false (any case; a bool, 0 or 1 too).
FLAG_SPELLINGS = "yes/no, on/off, 1/0, any case"
#: The most characters of a value an error message shows (masked first, then cut).
SHOWN = 60
#: Text longer than this is only counted, never shown: no parameter is this long (a path is
#: at most 4,096 bytes), and masking stays cheap.
_MASKED_AT_MOST = 4096
#: Control characters no text parameter may hold: all but tab, newline and carriage return
#: (inline settings JSON has those).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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
        """A command-line string → a checked value (the same rules as :meth:`check`)."""
        return self.check(raw, via)

    def check(self, value: Any, via: str = "") -> Any:
        """Any value a parameter can be handed (a command-line string, a YAML value, what
        papermill injected, a Jupyter edit) → the checked value; None is the default."""
        where = via or f"parameter {self.name}"
        if value is None:
            return self.default
        value = self._typed(value, where)
        if self.validate is None:
            return value
        try:
            return self.validate(value)
        except ValueError as exc:
            raise UsageError(f"{where}={shown(value)}: {exc}") from None

    def _typed(self, value: Any, where: str) -> Any:
        expect = self.expect or self.type.__name__

        def refused(why: str = "") -> UsageError:
            return UsageError(f"{where}={shown(value)}: expected {expect}{why}")

        kind = self.type
        if isinstance(value, str):
            _check_text(value, where)
            if kind is str:
                return value
            raw = value.strip()
            if kind is bool:
                low = raw.lower()
                if low in _TRUE + _FALSE:
                    return low in _TRUE
                raise refused(f" ({FLAG_SPELLINGS})")
            try:
                return kind(raw)
            except (ValueError, OverflowError):  # int() of 5,000 digits, float("1e999") is inf
                raise refused() from None
        if isinstance(value, bool):
            if kind is bool:
                return value
            raise refused(_AS_TEXT if kind is str else "")
        if isinstance(value, int):
            if kind is int or (kind is bool and value in (0, 1)):
                return kind(value)
            try:
                if kind is float:
                    return float(value)
                if kind is str:
                    return str(value)  # the digits papermill's -p read as a number
            except (OverflowError, ValueError):
                pass
            raise refused(f" ({FLAG_SPELLINGS})" if kind is bool else "")
        if isinstance(value, float) and kind is float:
            return value
        raise refused(_AS_TEXT if kind is str and isinstance(value, float) else
                      f" ({FLAG_SPELLINGS})" if kind is bool else "")


#: Why a number is refused as text: papermill's -p made it one.
_AS_TEXT = " as text (papermill's -p reads it as a number or a bool: pass it with -r NAME VALUE)"


def _check_text(value: str, where: str) -> None:
    """NUL (never valid in a path, a URL or an argument), other control characters and lone
    surrogates (which no file name or URL can be encoded from)."""
    bad = _CONTROL.search(value)
    if bad is not None:
        what = "a NUL byte" if bad[0] == "\x00" else f"a control character ({bad[0]!r})"
        raise UsageError(f"{where}={shown(value)}: contains {what}, which no value can hold")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{where}={shown(value)}: is not valid text (a lone surrogate)"
                         ) from None


def shown(value: Any) -> str:
    """A value fit for an error message: secrets masked (before anything is cut), then at
    most :data:`SHOWN` characters, with how long it really is; containers and other objects
    by their kind and size, never expanded."""
    if isinstance(value, str):
        if len(value) > _MASKED_AT_MOST:
            return f"<text of {len(value):,} characters>"
        from ..masking import mask_secrets_in

        masked = mask_secrets_in(value)
        if len(masked) <= SHOWN:
            return repr(masked)
        return f"{masked[:SHOWN]!r}… ({len(value):,} characters)"
    if value is None or isinstance(value, (bool, float)):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() <= 192:  # up to 58 digits
            return repr(value)
        return f"<a whole number of about {int(value.bit_length() * 0.30103) + 1:,} digits>"
    if isinstance(value, dict):
        return f"<a mapping of {_items(len(value))}>"
    if isinstance(value, (list, tuple, set, frozenset)):
        return f"<a list of {_items(len(value))}>"
    return f"<{type(value).__name__}>"


def _items(n: int) -> str:
    return f"{n:,} item{'' if n == 1 else 's'}"


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
            raise UsageError(f"unknown parameter {shown(name)} for runbook {runbook!r}; "
                             f"valid: {', '.join(table)}")
        out[name] = table[name].parse(value)
    return out


def check_all(table: Mapping[str, Param], values: Mapping[str, Any],
              runbook: str) -> dict[str, Any]:
    """Typed values (missing ones take their default) → checked values."""
    unknown = [k for k in values if k not in table]
    if unknown:
        raise UsageError(f"unknown parameter {shown(unknown[0])} for runbook {runbook!r}; "
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
