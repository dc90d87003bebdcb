"""How Claude Code reads its numbers: the request timeout, the stream idle timeout and the
retry count, exactly as the pinned client (v2.1.332) parses them.

The client never warns about a value it cannot use, so a diagnosis has to say what it
really does with ``API_TIMEOUT_MS=10min`` (10 ms) or ``API_TIMEOUT_MS=0x1000`` (no
timeout at all). Its integer reader, observed and checked against the real client
(``tests/test_client_api.py``), takes after trimming:

- a plain integer, with an optional sign: ``3000``, ``+3000``, ``" 3000 "``;
- an exponent form whose value is a whole number: ``2e3`` → 2000 (``1e-3`` is not read);
- thousands grouped with one of ``_ , U+00A0 U+202F`` or a space, the same one throughout:
  ``64_000``, ``1,000``, ``1 000`` (``1,00`` is not a group: it reads as 1);
- otherwise the leading decimal digits, the rest ignored (JavaScript's ``parseInt``):
  ``10min`` → 10, ``3000.5`` → 3000, ``0x1000`` → 0; no leading digit at all (``abc``,
  ``Infinity``, empty) is not a number, and the default applies.

``API_TIMEOUT_MS`` then uses any value above 0; 0 or below means 2147483647 ms (no
timeout), and above 2147483647 the timer never fires either. The ``…set API_TIMEOUT_MS
above N.`` message quotes the N it read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "API_TIMEOUT_DEFAULT_MS",
    "KINDS",
    "MAX_RETRIES_DEFAULT",
    "STREAM_IDLE_DEFAULT_MS",
    "ClientNumber",
    "api_timeout",
    "max_retries",
    "read_int",
    "stream_idle_timeout",
]

API_TIMEOUT_DEFAULT_MS = 600_000
STREAM_IDLE_DEFAULT_MS = 300_000
STREAM_IDLE_MAX_MS = 1_800_000
MAX_RETRIES_DEFAULT = 10
MAX_RETRIES_CAP = 15
WATCHDOG_RETRIES = 300
_INT32_MAX = 2_147_483_647

#: What a value can turn out to be.
KINDS = ("default", "number", "lenient", "disabled", "ignored")

# String.prototype.trim's whitespace: Unicode spaces, line terminators and the BOM
_JS_SPACE = ("\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
             "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
_EXPONENT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}([_,\u00a0\u202f ])[0-9]{3}(?:\1[0-9]{3})*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_LEADING = re.compile(r"[+-]?[0-9]+")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class ClientNumber:
    """One number as the client reads it.

    ``value`` is what the client uses (milliseconds or a count), or None when it runs with
    no timeout at all; ``kind`` is one of :data:`KINDS`; ``note`` says it in words.
    """

    name: str
    raw: str | None
    source: str | None  # "shell", a settings file's shown path, or None when unset
    value: int | None
    kind: str
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def js_trim(text: str) -> str:
    """``text.trim()`` as JavaScript does it (the BOM and U+00A0 included)."""
    return text.strip(_JS_SPACE)


def read_int(raw: str) -> tuple[int | None, str]:
    """The client's integer reader: ``(value, form)``. ``form`` is ``integer``,
    ``exponent``, ``grouped`` or ``leading`` (digits taken, the rest ignored); ``value`` is
    None (form ``none``) when there is nothing it can read."""
    text = js_trim(raw)
    if len(text) <= 32:  # the client tries the two special forms only on short values
        if _EXPONENT.fullmatch(text):
            number = float(text)
            return (int(number), "exponent") if number.is_integer() else (None, "none")
        if _GROUPED.fullmatch(text):
            return int(re.sub(r"[_,\u00a0\u202f ]", "", text)), "grouped"
    m = _LEADING.match(text)
    if not m:
        return None, "none"
    return int(m.group(0)), "integer" if m.end() == len(text) else "leading"


def _source(raw: str | None, source: Any) -> str | None:
    if raw is None:
        return None
    if source is None:
        return "shell"
    return getattr(source, "shown", None) or str(source)


def _rest(raw: str) -> str:
    text = js_trim(raw)
    m = _LEADING.match(text)
    return text[m.end():] if m else text


def api_timeout(env: Mapping[str, str], source: Any = None) -> ClientNumber:
    """``API_TIMEOUT_MS``: how long the client waits for an answer's headers, in ms
    (None: no timeout). ``source`` names where the value was set (a string, or a
    settings file with ``.shown``); by default the shell."""
    name = "API_TIMEOUT_MS"
    raw = env.get(name)
    where = _source(raw, source)
    default = API_TIMEOUT_DEFAULT_MS
    if raw is None:
        return ClientNumber(name, None, None, default, "default",
                            f"not set: the client waits {default} ms (10 minutes)")
    value, form = read_int(raw)
    if value is None:
        what = "empty" if not js_trim(raw) else f"{raw!r} is not a number the client reads"
        return ClientNumber(name, raw, where, default, "ignored",
                            f"{what}: the client uses the default {default} ms (10 minutes), "
                            "without a warning")
    read_as = (f"read as {value} (the leading number; {_rest(raw)!r} is ignored)"
               if form == "leading" else f"read as {value}")
    if value <= 0:
        return ClientNumber(name, raw, where, None, "disabled",
                            f"{read_as}: 0 or less turns the request timeout off (the client "
                            "waits 2147483647 ms, about 25 days); only the stream idle "
                            "watchdog still ends a silent request")
    if value > _INT32_MAX:
        return ClientNumber(name, raw, where, None, "disabled",
                            f"{read_as}: above 2147483647 the request timer never fires, so "
                            "there is no request timeout; only the stream idle watchdog "
                            "still ends a silent request")
    if form == "leading":
        return ClientNumber(name, raw, where, value, "lenient",
                            f"{read_as}: the client waits {value} ms, and a timeout says "
                            f"\"set API_TIMEOUT_MS above {value}\"")
    return ClientNumber(name, raw, where, value, "number", f"{read_as}: the client waits "
                        f"{value} ms for an answer's headers")


def stream_idle_timeout(env: Mapping[str, str], source: Any = None) -> ClientNumber:
    """``CLAUDE_STREAM_IDLE_TIMEOUT_MS``: how long a streamed answer may go silent, in ms.
    The client reads only whole numbers here (``10min`` and ``3000.5`` are not read),
    never goes below 300000 and caps at 1800000; ``CLAUDE_ENABLE_STREAM_WATCHDOG=0`` turns
    the watchdog off (None)."""
    name = "CLAUDE_STREAM_IDLE_TIMEOUT_MS"
    raw = env.get(name)
    where = _source(raw, source)
    default = STREAM_IDLE_DEFAULT_MS
    switch = js_trim(env.get("CLAUDE_ENABLE_STREAM_WATCHDOG", "")).lower()
    if switch in _FALSE:
        return ClientNumber(name, raw, where, None, "disabled",
                            "CLAUDE_ENABLE_STREAM_WATCHDOG turns the stream idle watchdog "
                            "off: a stream that goes silent is never given up")
    if raw is None:
        return ClientNumber(name, None, None, default, "default",
                            f"not set: a stream silent for {default} ms (5 minutes) is "
                            "given up")
    text = js_trim(raw)
    value, form = read_int(raw)
    whole = bool(_INTEGER.fullmatch(text)) or form in ("exponent", "grouped")
    if value is None or not whole or value < 1:
        why = ("empty" if not text else f"{raw!r} is not a whole number above 0 (this "
               "variable takes no units or decimals)")
        return ClientNumber(name, raw, where, default, "ignored",
                            f"{why}: the client uses the default {default} ms (5 minutes)")
    if value < default:
        return ClientNumber(name, raw, where, default, "number",
                            f"read as {value}, below the minimum: the client uses {default} "
                            "ms (5 minutes)")
    if value > STREAM_IDLE_MAX_MS:
        return ClientNumber(name, raw, where, STREAM_IDLE_MAX_MS, "number",
                            f"read as {value}, above the maximum: the client uses "
                            f"{STREAM_IDLE_MAX_MS} ms (30 minutes)")
    return ClientNumber(name, raw, where, value, "number",
                        f"read as {value}: a stream silent for {value} ms is given up")


def _watchdog(env: Mapping[str, str]) -> bool:
    on = js_trim(env.get("CLAUDE_CODE_RETRY_WATCHDOG", "")).lower() in _TRUE
    return on and js_trim(env.get("CLAUDE_CODE_RETRY_WATCHDOG_SCOPE", "")) != "capacity"


def max_retries(env: Mapping[str, str], source: Any = None) -> ClientNumber:
    """``CLAUDE_CODE_MAX_RETRIES``: how many times the client retries a failed request.
    Read like ``API_TIMEOUT_MS``; above 15 it is capped at 15 (unless
    ``CLAUDE_CODE_RETRY_WATCHDOG`` is on); negative or unreadable: the default, 10 (300
    with the watchdog)."""
    name = "CLAUDE_CODE_MAX_RETRIES"
    raw = env.get(name)
    where = _source(raw, source)
    watchdog = _watchdog(env)
    default = WATCHDOG_RETRIES if watchdog else MAX_RETRIES_DEFAULT
    why_default = " (CLAUDE_CODE_RETRY_WATCHDOG is on)" if watchdog else ""
    if raw is None:
        return ClientNumber(name, None, None, default, "default",
                            f"not set: the client retries up to {default} times{why_default}")
    value, form = read_int(raw)
    if value is None or value < 0:
        what = ("empty" if not js_trim(raw) else f"{raw!r} is not a number the client reads"
                if value is None else f"read as {value}, below 0")
        return ClientNumber(name, raw, where, default, "ignored",
                            f"{what}: the client uses the default, {default} "
                            f"retries{why_default}")
    read_as = (f"read as {value} (the leading number; {_rest(raw)!r} is ignored)"
               if form == "leading" else f"read as {value}")
    kind = "lenient" if form == "leading" else "number"
    if value > MAX_RETRIES_CAP and not watchdog:
        return ClientNumber(name, raw, where, MAX_RETRIES_CAP, kind,
                            f"{read_as}, capped: the client retries at most "
                            f"{MAX_RETRIES_CAP} times")
    return ClientNumber(name, raw, where, value, kind, f"{read_as}: the client retries up "
                        f"to {value} times" if value else f"{read_as}: the client does not "
                        "retry")
