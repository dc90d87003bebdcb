"""Minimal edits to a settings file's ``env`` block that keep everything else as it was.

``json.load`` + ``json.dump`` would rewrite the whole file: other keys reordered, the user's
indentation and line breaks gone. Instead the text is scanned once into spans (where each
top-level member and each ``env`` member starts and ends), and an edit splices only the span
it changes, in the file's own line endings (a CRLF file stays CRLF). The result is parsed
again and compared with the intended data: if anything but the one variable differs, the
edit is refused, never written.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["EditError", "line_ending", "set_env", "unset_env"]


class EditError(ValueError):
    """The file cannot be edited safely (not a JSON object, a duplicate key, …)."""


_WS = re.compile(r"[ \t\r\n]*")
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"')


@dataclass
class _Member:
    key: str
    start: int  # the key's opening quote
    value_start: int
    value_end: int  # one past the value


class _Scanner:
    def __init__(self, text: str) -> None:
        self.t = text

    def ws(self, i: int) -> int:
        return _WS.match(self.t, i).end()

    def string(self, i: int) -> int:
        m = _STRING.match(self.t, i)
        if not m:
            raise EditError(f"expected a string at offset {i}")
        return m.end()

    def value(self, i: int) -> int:
        """One past the JSON value starting at ``i`` (depth-tracked, strings skipped)."""
        ch = self.t[i:i + 1]
        if ch == '"':
            return self.string(i)
        if ch in "{[":
            depth, j = 0, i
            while j < len(self.t):
                c = self.t[j]
                if c == '"':
                    j = self.string(j)
                    continue
                if c in "{[":
                    depth += 1
                elif c in "}]":
                    depth -= 1
                    if depth == 0:
                        return j + 1
                j += 1
            raise EditError("unterminated object or array")
        m = re.compile(r"-?[0-9][0-9.eE+-]*|true|false|null").match(self.t, i)
        if not m:
            raise EditError(f"unexpected character at offset {i}")
        return m.end()

    def members(self, open_brace: int) -> tuple[list[_Member], int]:
        """The members of the object whose ``{`` is at ``open_brace``, and its ``}``."""
        out: list[_Member] = []
        i = self.ws(open_brace + 1)
        if self.t[i:i + 1] == "}":
            return out, i
        while True:
            key_end = self.string(i)
            key = json.loads(self.t[i:key_end])
            j = self.ws(key_end)
            if self.t[j:j + 1] != ":":
                raise EditError(f"expected ':' after {key!r}")
            v = self.ws(j + 1)
            v_end = self.value(v)
            out.append(_Member(key, i, v, v_end))
            j = self.ws(v_end)
            if self.t[j:j + 1] == ",":
                i = self.ws(j + 1)
                continue
            if self.t[j:j + 1] == "}":
                return out, j
            raise EditError(f"expected ',' or '}}' after {key!r}")


def line_ending(text: str | None) -> str:
    """A file's line ending, from its first line: ``\r\n`` or ``\n`` (the shell block's
    too)."""
    text = text or ""
    first = text.find("\n")
    return "\r\n" if first > 0 and text[first - 1] == "\r" else "\n"


def _indent_of(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    return re.match(r"[ \t]*", text[line_start:]).group(0)


def _locate(text: str) -> tuple[_Scanner, list[_Member], int]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EditError(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise EditError("not a JSON object")
    sc = _Scanner(text)
    start = sc.ws(0)
    top, close = sc.members(start)
    keys = [m.key for m in top]
    if len(keys) != len(set(keys)):
        raise EditError("a key appears twice at the top level")
    return sc, top, close


def _verify(before: dict[str, Any], new_text: str, name: str, value: str | None) -> None:
    after = json.loads(new_text)
    expect = json.loads(json.dumps(before))
    env = expect.setdefault("env", {})
    if value is None:
        env.pop(name, None)
    else:
        env[name] = value
    if after != expect:
        raise EditError("the edit would change more than the one variable: refused")


def set_env(text: str | None, name: str, value: str) -> str:
    """``text`` (a settings file, or None for none yet) with ``env[name] = value``."""
    if text is None or not text.strip():
        return json.dumps({"env": {name: value}}, indent=2) + "\n"
    sc, top, close = _locate(text)
    before = json.loads(text)
    encoded = json.dumps(value, ensure_ascii=False)
    env = next((m for m in top if m.key == "env"), None)
    if env is None:  # add "env" as the last top-level member
        indent = _indent_of(text, top[0].start) if top else "  "
        one_line = bool(top) and "\n" not in text[top[0].start:close]
        if one_line:
            block = f'"env": {{{json.dumps(name)}: {encoded}}}'
        else:
            inner = indent + "  " if indent else "  "
            nl = line_ending(text)
            block = f'"env": {{{nl}{inner}{json.dumps(name)}: {encoded}{nl}{indent}}}'
        new = _insert_member(text, top, close, block, indent)
    else:
        if text[env.value_start] != "{":
            raise EditError('"env" is not an object')
        members, env_close = sc.members(env.value_start)
        if [m.key for m in members].count(name) > 1:
            raise EditError(f"{name} appears twice in env")
        hit = next((m for m in members if m.key == name), None)
        if hit is not None:
            new = text[:hit.value_start] + encoded + text[hit.value_end:]
        else:
            indent = (_indent_of(text, members[0].start) if members else
                      _indent_of(text, env.start) + "  ")
            new = _insert_member(text, members, env_close, f"{json.dumps(name)}: {encoded}",
                                 indent, opener=env.value_start)
    _verify(before, new, name, value)
    return new


def unset_env(text: str, name: str) -> str:
    """``text`` without ``env[name]`` (unchanged if it is not there)."""
    sc, top, _close = _locate(text)
    before = json.loads(text)
    env = next((m for m in top if m.key == "env"), None)
    if env is None or text[env.value_start] != "{":
        return text
    members, env_close = sc.members(env.value_start)
    idx = next((i for i, m in enumerate(members) if m.key == name), None)
    if idx is None:
        return text
    m = members[idx]
    if len(members) == 1:  # the only member: keep the braces, lose the member
        new = text[:env.value_start + 1] + text[env_close:]
    elif idx < len(members) - 1:  # up to the next member
        new = text[:m.start] + text[members[idx + 1].start:]
    else:  # the last one: from the previous value's end (its comma included)
        new = text[:members[idx - 1].value_end] + text[m.value_end:]
    _verify(before, new, name, None)
    return new


def _insert_member(text: str, members: list[_Member], close: int, member: str, indent: str,
                   opener: int | None = None) -> str:
    """Insert ``member`` as the last member of the object that closes at ``close``."""
    nl = line_ending(text)
    if members:
        last = members[-1]
        multiline = "\n" in text[last.start - len(indent) - 1:last.start] or \
            "\n" in text[last.value_end:close]
        sep = "," + nl + indent if multiline else ", "
        return text[:last.value_end] + sep + member + text[last.value_end:]
    # an empty object: {} → {\n  member\n}
    start = opener if opener is not None else text.rfind("{", 0, close)
    outer = _indent_of(text, start)
    return text[:start + 1] + nl + indent + member + nl + outer + text[close:]
