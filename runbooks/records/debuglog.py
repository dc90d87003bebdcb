"""Claude Code's debug log: where the newest one is, and its error and warning lines, masked.

``claude --debug`` (or ``DEBUG=1``) writes ``~/.claude/debug/<session id>.txt``
(``$CLAUDE_CONFIG_DIR/debug/…`` when that is set) and points ``debug/latest`` at it;
``--debug-file PATH`` writes to PATH instead (its ``latest`` beside it). Each line reads
``2026-11-26T01:00:09.195Z [ERROR] Connection error details: code=ECONNREFUSED, …``.
Observed in 2.1.332: after ``claude -r <id> --debug`` the log begins in a file named after a
fresh id, where ``latest`` points, and the resumed session's lines (its errors) go on in
``<id>.txt``: so the newest log is the file written last, not always ``latest``.

Only ``[ERROR]`` and ``[WARN]`` lines are ever taken from a log, each masked
(:func:`~runbooks.masking.redact`, the home folder as ``~``) and then cut to a length
(:func:`~runbooks.masking.clip`), the last :data:`MAX_LINES` of them: a debug log also holds
file paths, settings and tool activity. A line too long to hold (over 64 KiB) is read as its
head, which loses its partial last word before it is masked: that word may be the start of
a token. The log is text, never parsed as JSON.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import FileProblem, LineReader, MiB, shown_path
from ..masking import clip

__all__ = ["MAX_LINES", "DebugLog", "debug_dir", "find_debug_log", "line_causes",
           "read_debug_log"]

#: The most error and warning lines kept (the last ones).
MAX_LINES = 200
#: The longest line kept; longer ones are cut, marked with "…".
LINE_WIDTH = 500
#: A line held whole up to this; of a longer one only the first :data:`HEAD` bytes.
LINE_CAP = 64 * 1024
HEAD = 4 * LINE_WIDTH
#: The most of a log read (its end: the newest lines).
LOG_CAP = 16 * MiB
_LEVEL = re.compile(rb"^\S+ \[(ERROR|WARN)\] ")
_CODE = re.compile(r"\bcode=([A-Za-z_]+)")
_STATUS = re.compile(r"\(attempt \d+/\d+\): (\d{3})\b")
_ERROR_TYPE = re.compile(r'"type"\s*:\s*"([a-z_]+_error)"')


def debug_dir(env: dict[str, str] | None = None) -> Path | None:
    from ..client.settings import user_dir

    base = user_dir(dict(os.environ if env is None else env))
    return None if base is None else base / "debug"


def find_debug_log(env: dict[str, str] | None = None) -> tuple[Path | None, Path | None]:
    """(the newest debug log, where ``latest`` points): regular files only, the newest by
    modification time (``latest``'s target among them, wherever the link points)."""
    folder = debug_dir(env)
    if folder is None or not folder.is_dir():
        return None, None
    latest = None
    candidates: list[tuple[float, Path]] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None, None
    for e in entries:
        try:
            if e.name == "latest" and e.is_symlink():
                latest = Path(os.path.realpath(e.path))
                continue
            if e.name.endswith(".txt") and e.is_file(follow_symlinks=False):
                candidates.append((e.stat(follow_symlinks=False).st_mtime, Path(e.path)))
        except OSError:
            continue
    if latest is not None and latest.is_file():
        try:
            candidates.append((latest.stat().st_mtime, latest))
        except OSError:
            pass
    if not candidates:
        return None, latest
    return max(candidates, key=lambda t: t[0])[1], latest


@dataclass
class DebugLog:
    path: str  # shown
    modified: float
    size: int
    lines_read: int = 0
    errors: int = 0
    warnings: int = 0
    lines: list[str] = field(default_factory=list)  # the last error/warning lines, masked
    causes: Counter = field(default_factory=Counter)  # cause → error lines pointing there
    last_cause_line: str | None = None
    latest: str | None = None  # where debug/latest points, when that is another file
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        from .history import iso

        return {"path": self.path, "modified": iso(self.modified), "size": self.size,
                "lines_read": self.lines_read, "errors": self.errors,
                "warnings": self.warnings, "causes": dict(self.causes.most_common()),
                "latest": self.latest, "problem": self.problem, "lines": self.lines}

    @property
    def cause(self) -> str | None:
        """The cause most error lines point to (ties: the one named last)."""
        if not self.causes:
            return None
        top = max(self.causes.values())
        tied = [c for c, n in self.causes.items() if n == top]
        return self._last if self._last in tied else tied[0]

    _last: str | None = field(default=None, repr=False)


def _home_as_tilde(text: str) -> str:
    home = os.path.expanduser("~")
    if home not in ("", "/", "~"):
        text = text.replace(home.rstrip("/") + "/", "~/")
    return text


def line_causes(message: str) -> list[str]:
    """Cause codes for one logged error, best first: its text and what it names (a
    ``code=ECONNREFUSED``, an HTTP status, the API's error type), ranked as
    :func:`runbooks.records.history.rank_causes` ranks a recorded failure."""
    from ..triage import SPECIFIC, rank
    from .history import rank_causes

    code = _CODE.search(message)
    status = _STATUS.search(message)
    kind = _ERROR_TYPE.search(message)
    if not (code or status or kind):
        # every attempt's line says only "Connection error." (v2.1.332 too): the line after it
        # names the cause; a line that fits only generic words counts for none
        ranked = rank(message).ranked
        if not ranked or ranked[0].best < SPECIFIC:
            return []
    return rank_causes(message, code.group(1) if code else None,
                       int(status.group(1)) if status else None,
                       kind.group(1) if kind else None, shown=False)


def read_debug_log(path: Path, latest: Path | None = None,
                   max_lines: int = MAX_LINES) -> DebugLog:
    """The error and warning lines of the log at ``path``, masked, with what they point to."""
    try:
        reader = LineReader(path, cap=LOG_CAP, line_cap=LINE_CAP, head=HEAD)
    except FileProblem as exc:
        return DebugLog(shown_path(path), 0.0, 0, problem=f"{shown_path(path)} {exc.reason}")
    log = DebugLog(shown_path(path), reader.mtime, reader.size)
    if latest is not None and os.path.realpath(latest) != os.path.realpath(path):
        log.latest = shown_path(latest)
    kept: list[str] = []
    with reader:
        try:
            for line, whole in reader:
                log.lines_read += 1
                m = _LEVEL.match(line)
                if not m:
                    continue
                text = line.decode("utf-8", "replace").rstrip("\r")
                if m.group(1) == b"ERROR":
                    log.errors += 1
                    message = text.split("] ", 1)[-1]
                    ranked = line_causes(message)
                    if ranked:
                        log.causes[ranked[0]] += 1
                        log._last = ranked[0]
                        log.last_cause_line = clip(_home_as_tilde(message), 200, whole)
                else:
                    log.warnings += 1
                kept.append(clip(_home_as_tilde(text), LINE_WIDTH, whole))
                if len(kept) > max_lines:
                    del kept[0]
        except FileProblem as exc:
            log.problem = f"{log.path} {exc.reason}"
    log.lines = kept
    return log
