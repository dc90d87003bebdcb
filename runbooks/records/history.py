"""`runbooks history`: what went wrong, from Claude Code's own records (error records only).

Claude Code keeps every session as a JSONL transcript in
``~/.claude/projects/<project folder>/<session id>.jsonl`` (``$CLAUDE_CONFIG_DIR/projects/…``
when that is set). Observed in 2.1.332 (tests/test_history_client.py runs the real client
against the lab and reads what it wrote):

- a failed attempt that the client retries is a line ``"type": "system", "subtype":
  "api_error"`` with an ``error`` object (``formatted``: what the user saw; ``connection``:
  ``code``, ``message``, ``isSSLError``; ``status``, ``requestId``) and ``retryAttempt``,
  ``maxRetries``, ``retryInMs``. Only headless (``claude -p``) sessions write these:
  interactive sessions show the retries on screen and record none of them;
- the attempt that ends the turn is an assistant line with ``"isApiErrorMessage": true``
  (``apiError`` such as ``connection_failed``, ``apiErrorStatus``, ``apiErrorType``): its text
  is the error the user saw. Certificate errors are not retried: they leave only this line;
- the project folder is the launch directory (symbolic links resolved) with every character
  that is not an ASCII letter or digit replaced by ``-`` (one per UTF-16 unit: an emoji makes
  two); a name over 200 characters is cut there and ends with ``-`` and a hash.

**Privacy.** Transcripts hold the user's prompts, code and tool output. Every line is looked
at for its kind only; a line is parsed in full only when it carries an error marker or is an
assistant line, and from those only the whitelisted fields below are kept (never message
content beyond the error text, never tool input or output), each string through
:func:`~runbooks.masking.redact`. Reading is bounded: regular files only, the newest
``max_files``, the last 64 MiB of each, lines over 1 MiB skipped without being held, and a
time budget. Malformed lines are skipped and counted; a line nested too deeply for the JSON
parser (a deep ``[[[[…``) is named in the report and the rest of the file is read. Every
kept string is masked before it is cut (:func:`~runbooks.masking.clip`), so a cut never
leaves part of a token.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import FileProblem, LineReader, MiB, shown_path
from ..masking import clip

__all__ = ["FILE_CAP", "LINE_CAP", "MAX_FILES", "Failure", "History", "Intermittent", "Session",
           "add_arguments", "checked_since", "folder_for", "intermittent", "iso", "main",
           "parse_since", "project_of", "rank_causes", "read_history", "resume_command",
           "text_report"]

SCHEMA_VERSION = 1
#: The most of one transcript read (its last part: the newest records are at the end).
FILE_CAP = 64 * MiB
#: Error records are a few KiB; a longer line is content (a tool's output): never held.
LINE_CAP = MiB
#: Transcripts read at most, newest first.
MAX_FILES = 200
#: Seconds the whole scan may take.
BUDGET_S = 10.0
#: The longest kept string (an error text); longer ones are cut, marked with "…".
TEXT_CAP = 1000
#: The default window: the last week.
DEFAULT_SINCE = "7d"
#: Claude Code cuts a project folder name at this length and appends a hash.
_FOLDER_MAX = 200

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_MARKERS = (b'"subtype":"api_error"', b'"isApiErrorMessage":true')
#: Lines worth parsing: error records, and answers (to tell a session that recovered). The
#: client writes JSON without spaces; inside a string these would be escaped (\").
_CANDIDATES = (*_MARKERS, b'"type":"assistant"', b'"role":"assistant"')
_TIMESTAMP = re.compile(rb'"timestamp"\s*:\s*"([0-9T:.+\-Z]{10,40})"')
_SIDECHAIN = re.compile(rb'"isSidechain"\s*:\s*true')
_ERROR_TYPE = re.compile(r'"type"\s*:\s*"([a-z_]+_error)"')
#: The API's error type for a status, when the record does not name it (facts §3).
_STATUS_TYPES = {401: "authentication_error", 402: "billing_error", 403: "permission_error",
                 429: "rate_limit_error", 529: "overloaded_error"}


# -- where the client keeps them ----------------------------------------------------------------
def _utf16_units(text: str) -> list[int]:
    data = text.encode("utf-16-le", "surrogatepass")
    return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]


def folder_for(project: str | os.PathLike) -> str:
    """The folder under ``projects/`` where Claude Code 2.1.332 keeps the transcripts of
    sessions launched in ``project`` (an absolute path, as the client's ``process.cwd()``:
    symbolic links resolved). Checked against the real client, paths with dots,
    underscores, spaces, non-ASCII and over 200 characters included."""
    path = os.fspath(project)
    units = _utf16_units(path)
    name = "".join(chr(u) if u < 128 and chr(u).isalnum() else "-" for u in units)
    if len(name) <= _FOLDER_MAX:
        return name
    h = 0  # the client's simple string hash (JavaScript's 32-bit arithmetic), base 36
    for u in units:
        h = (h * 31 + u) & 0xFFFFFFFF
    h = abs(h - (1 << 32) if h >= 1 << 31 else h)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        h, r = divmod(h, 36)
        out = digits[r] + out
        if not h:
            break
    return f"{name[:_FOLDER_MAX]}-{out}"


def project_of(env: dict[str, str] | None = None, project: str | os.PathLike | None = None
               ) -> Path:
    """The project whose sessions to read: ``project`` if given, else ``$CLAUDE_PROJECT_DIR``
    (Claude Code sets it for hooks), else the current directory; symbolic links resolved, as
    the client resolves them."""
    env = os.environ if env is None else env
    chosen = os.fspath(project) if project else env.get("CLAUDE_PROJECT_DIR") or os.getcwd()
    return Path(os.path.realpath(os.path.expanduser(chosen)))


def resume_command(session_id: str, project: str | None = None,
                   here: str | os.PathLike | None = None) -> str | None:
    """``claude -r <id>``, the exact command that reopens a session (with a ``cd`` first when
    it was launched elsewhere: the resumed session's tools work in the current directory).
    None for an id that is not a UUID (it goes into a shell command)."""
    if not _UUID.match(session_id or ""):
        return None
    cmd = f"claude -r {session_id}"
    if project and here is not None and os.path.realpath(here) != os.path.realpath(project):
        cmd = f"cd {shlex.quote(project)} && {cmd}"
    return cmd


# -- the window ---------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float | None:
    """``7d``, ``12h``, ``30m`` (also ``s``, ``w``), an ISO date or time (UTC unless it says
    otherwise: ``2026-11-20``, ``2026-11-20T09:00``, ``…Z``, ``…+02:00``), or ``all`` (None:
    no limit) → the earliest time (epoch seconds) to include. Raises ValueError naming what
    is accepted."""
    now = time.time() if now is None else now
    raw = (text or "").strip()
    if raw.lower() in ("all", "0"):
        return None
    m = _DURATION.match(raw)
    if m:
        amount = float(m.group(1))
        if amount <= 0:
            raise ValueError("expected a positive duration")
        return now - amount * _UNITS[m.group(2).lower()]
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("expected a duration (7d, 12h, 30m), an ISO date (2026-11-20) or "
                         "all") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def iso(ts: float | None) -> str:
    """Epoch seconds → ``2026-11-26T00:58:58Z`` (UTC, to the second)."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _epoch(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


# -- what is kept -------------------------------------------------------------------------------
def _text(value: Any, cap: int = TEXT_CAP) -> str | None:
    """A kept string: whitespace folded, masked, then cut to ``cap`` characters."""
    if not isinstance(value, str) or not value:
        return None
    return clip(" ".join(value.split()), cap + 1)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass
class Failure:
    """One failed API attempt, as Claude Code recorded it (whitelisted fields, masked)."""

    at: float
    session: str
    kind: str  # "retry" (retried: a system api_error record) or "final" (the turn failed)
    text: str  # what the user saw
    cause: str | None = None  # the best-ranked cause in the catalogue
    candidates: list[str] = field(default_factory=list)  # ranked, best first (≤ 3)
    attempt: int | None = None
    max_retries: int | None = None
    retry_in_ms: int | None = None
    status: int | None = None
    request_id: str | None = None
    connection_code: str | None = None
    ssl: bool | None = None
    network_down: bool | None = None
    error_type: str | None = None  # the API's error type: overloaded_error, rate_limit_error…
    api_error: str | None = None  # the client's own label: connection_failed, tls_untrusted_ca…
    version: str | None = None
    entrypoint: str | None = None  # cli (interactive) or sdk-cli (claude -p)
    sidechain: bool = False

    @property
    def phase(self) -> str | None:
        """Where on the path it failed, for causes on the path (dns, connect, tls, proxy,
        http); None for the service's answers (limits, load, credentials)."""
        if not self.cause:
            return None
        head = self.cause.split(".")[0]
        return {"dns": "dns", "tcp": "connect", "ipv6": "connect", "tls": "tls",
                "proxy": "proxy", "http": "http"}.get(head) or (
            "http" if self.cause.startswith("config.timeout") else None)

    @property
    def attempt_label(self) -> str:
        if self.kind == "final":
            return "final"
        if self.attempt is not None and self.max_retries is not None:
            return f"{self.attempt}/{self.max_retries}"
        return "retry"

    def to_dict(self) -> dict[str, Any]:
        return {"at": iso(self.at), "session": self.session, "kind": self.kind,
                "text": self.text, "cause": self.cause, "candidates": self.candidates,
                "attempt": self.attempt, "max_retries": self.max_retries,
                "retry_in_ms": self.retry_in_ms, "status": self.status,
                "request_id": self.request_id, "connection_code": self.connection_code,
                "ssl": self.ssl, "network_down": self.network_down,
                "error_type": self.error_type, "api_error": self.api_error,
                "version": self.version, "entrypoint": self.entrypoint,
                "sidechain": self.sidechain}


@dataclass
class Session:
    """One transcript: when it was last active, and whether it ended on an API error."""

    id: str
    file: str  # shown path
    project: str | None = None  # the launch directory, as the records say (shown path)
    entrypoint: str | None = None
    last_at: float | None = None  # the last record with a time
    last_answer_at: float | None = None  # the last successful answer
    failures: int = 0
    #: the last assistant line of the main conversation is an API error
    ended_on_error: bool = False
    last_error: Failure | None = None
    resume: str | None = None

    @property
    def headless(self) -> bool:
        """Made by ``claude -p``: interactive ``claude --continue`` does not offer it."""
        return self.entrypoint == "sdk-cli"

    def to_dict(self) -> dict[str, Any]:
        e = self.last_error
        return {"id": self.id, "project": self.project, "file": self.file,
                "entrypoint": self.entrypoint, "last_at": iso(self.last_at),
                "last_answer_at": iso(self.last_answer_at), "failures": self.failures,
                "ended_on_error": self.ended_on_error,
                "last_error": e.text if e else None, "cause": e.cause if e else None,
                "resume": self.resume}


@dataclass
class History:
    """What the scan found, and how much it read."""

    config_dir: Path
    project: Path | None  # None: every project
    since: float | None
    failures: list[Failure] = field(default_factory=list)
    #: every session seen in the window (with or without failures), newest last
    all_sessions: list[Session] = field(default_factory=list)
    answers: list[float] = field(default_factory=list)  # times of successful answers
    files_read: int = 0
    files_skipped: list[str] = field(default_factory=list)  # "path: why", shown paths
    files_over_limit: int = 0  # over max_files: not read
    malformed_lines: int = 0
    #: lines the JSON parser cannot read for their depth ("path: line N"), shown paths
    too_deep: list[str] = field(default_factory=list)
    long_lines: int = 0
    bytes_skipped: int = 0  # beyond the per-file cap
    out_of_time: bool = False
    elapsed_s: float = 0.0

    @property
    def sessions(self) -> list[Session]:
        """Sessions with failures in the window."""
        return [s for s in self.all_sessions if s.failures]

    @property
    def ended_on_error(self) -> list[Session]:
        return [s for s in self.all_sessions if s.ended_on_error]

    @property
    def latest(self) -> Session | None:
        """The most recently active session (what ``claude -c -p`` reloads here)."""
        dated = [s for s in self.all_sessions if s.last_at is not None]
        return max(dated, key=lambda s: s.last_at or 0.0) if dated else None

    def causes(self) -> Counter:
        return Counter(f.cause for f in self.failures if f.cause)

    @property
    def complete(self) -> bool:
        return not (self.out_of_time or self.files_over_limit or self.bytes_skipped)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "config_dir": shown_path(self.config_dir),
            "project": shown_path(self.project) if self.project else None,
            "since": iso(self.since) or None,
            "failures": [f.to_dict() for f in self.failures],
            "causes": dict(self.causes().most_common()),
            "sessions": [s.to_dict() for s in self.sessions],
            "scanned": {"files_read": self.files_read, "files_skipped": self.files_skipped,
                        "files_over_limit": self.files_over_limit,
                        "malformed_lines": self.malformed_lines,
                        "too_deep_lines": self.too_deep,
                        "long_lines_skipped": self.long_lines,
                        "bytes_not_read": self.bytes_skipped,
                        "out_of_time": self.out_of_time,
                        "elapsed_s": round(self.elapsed_s, 3)},
        }


# -- mapping a record to a cause ----------------------------------------------------------------
def rank_causes(text: str, code: str | None = None, status: int | None = None,
                error_type: str | None = None, ssl: bool | None = None,
                shown: bool = True) -> list[str]:
    """Cause codes for one recorded failure, best first: the text through
    :func:`runbooks.triage.match_message` (the ``triage`` catalogue), with the record's own
    hints added the way Node and the API spell them (``connect ECONNREFUSED``, the API's
    error type for the status); a certificate error (``isSSLError``) puts the TLS causes
    first. ``shown``: the text is a message as the client prints it, where a retried
    attempt's text gets the ``API Error:`` the final message starts with (so both rank
    alike)."""
    from ..triage import match_message

    parts = [text if not shown or text.startswith("API Error") or not text
             else f"API Error: {text}"]
    if code:
        parts.append(f"connect {code}")
    kind = error_type or (_STATUS_TYPES.get(status) if status else None)
    if kind:
        parts.append(kind)
    elif status and status >= 500:
        parts.append(f"API Error: {status}")
    codes = [c.code for c in match_message(" · ".join(parts))]
    if ssl:
        tls = [c for c in codes if c.startswith("tls.")] or ["tls.handshake_failed"]
        codes = tls + [c for c in codes if c not in tls]
    return codes


def _failure_from_system(d: dict[str, Any]) -> Failure | None:
    err = d.get("error") if isinstance(d.get("error"), dict) else {}
    at = _epoch(d.get("timestamp"))
    if at is None:
        return None
    conn = err.get("connection") if isinstance(err.get("connection"), dict) else {}
    text = _text(err.get("formatted")) or _text(err.get("message")) or "(no message recorded)"
    # the API's error type, from the raw answer the record quotes ("529 {…overloaded_error…}"):
    # only the type is kept, never the rest of that text
    m = _ERROR_TYPE.search(err.get("message") or "") if isinstance(err.get("message"),
                                                                  str) else None
    f = Failure(at=at, session=_session_id(d), kind="retry", text=text,
                attempt=_int(d.get("retryAttempt")), max_retries=_int(d.get("maxRetries")),
                retry_in_ms=_int(d.get("retryInMs")), status=_int(err.get("status")),
                request_id=_text(err.get("requestId"), 100),
                connection_code=_text(conn.get("code"), 80), ssl=_bool(conn.get("isSSLError")),
                network_down=_bool(err.get("isNetworkDown")),
                error_type=m.group(1) if m else None, version=_text(d.get("version"), 40),
                entrypoint=_text(d.get("entrypoint"), 40),
                sidechain=d.get("isSidechain") is True)
    _classify(f)
    return f


def _failure_from_assistant(d: dict[str, Any]) -> Failure | None:
    at = _epoch(d.get("timestamp"))
    if at is None:
        return None
    msg = d.get("message") if isinstance(d.get("message"), dict) else {}
    content = msg.get("content")
    # only the text the user saw: the message's text blocks (an error message has no other)
    if isinstance(content, list):
        texts = [c.get("text") for c in content
                 if isinstance(c, dict) and c.get("type") == "text" and isinstance(c.get("text"),
                                                                                   str)]
    else:
        texts = [content] if isinstance(content, str) else []
    f = Failure(at=at, session=_session_id(d), kind="final",
                text=_text(" ".join(texts)) or "(no message recorded)",
                status=_int(d.get("apiErrorStatus")), request_id=_text(d.get("requestId"), 100),
                error_type=_text(d.get("apiErrorType"), 60), api_error=_text(d.get("apiError"), 60),
                version=_text(d.get("version"), 40), entrypoint=_text(d.get("entrypoint"), 40),
                sidechain=d.get("isSidechain") is True)
    if f.api_error and f.api_error.startswith("tls_"):
        f.ssl = True
    _classify(f)
    return f


def _classify(f: Failure) -> None:
    ranked = rank_causes(f.text, f.connection_code, f.status, f.error_type, f.ssl)
    f.candidates = ranked[:3]
    f.cause = ranked[0] if ranked else None


def _session_id(d: dict[str, Any]) -> str:
    sid = d.get("sessionId")
    return sid if isinstance(sid, str) and _UUID.match(sid) else ""


# -- reading ------------------------------------------------------------------------------------
@dataclass
class _Budget:
    deadline: float

    def over(self) -> bool:
        return time.monotonic() > self.deadline


def _transcripts(projects: Path, folders: list[Path], since: float | None, max_files: int,
                 hist: History) -> list[tuple[float, Path]]:
    """The ``*.jsonl`` files of ``folders``, newest first, at most ``max_files``; those last
    written before ``since`` cannot hold anything newer and are left out."""
    found: list[tuple[float, Path]] = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        except OSError as exc:
            hist.files_skipped.append(f"{shown_path(folder)}: cannot be listed "
                                      f"({exc.strerror or exc})")
            continue
        for e in entries:
            if not e.name.endswith(".jsonl"):
                continue
            try:
                mtime = e.stat().st_mtime  # follows a link; the file itself is checked on open
            except OSError:
                continue
            if since is not None and mtime < since:
                continue
            found.append((mtime, Path(e.path)))
    found.sort(key=lambda t: t[0], reverse=True)
    hist.files_over_limit = max(0, len(found) - max_files)
    return found[:max_files]


def _scan_file(path: Path, hist: History, since: float | None, budget: _Budget,
               file_cap: int, line_cap: int) -> None:
    shown = shown_path(path)
    try:
        reader = LineReader(path, cap=file_cap, line_cap=line_cap)
    except FileProblem as exc:
        hist.files_skipped.append(f"{shown}: {exc.reason}")
        return
    session = Session(id=path.stem if _UUID.match(path.stem) else "", file=shown)
    failures: list[Failure] = []
    last_assistant_error: Failure | None = None
    seen_assistant = False
    with reader:
        hist.files_read += 1
        hist.bytes_skipped += reader.skipped
        try:
            for n, (line, whole) in enumerate(reader):
                if n % 512 == 0 and budget.over():
                    hist.out_of_time = True
                    break
                at = _time_in_head(line)
                if at is not None:
                    session.last_at = max(session.last_at or at, at)
                if not whole:
                    # a line too long to hold is content (a long tool call or its output),
                    # never an error record; its head still says whether it was an answer
                    if _answer_head(line):
                        seen_assistant, last_assistant_error = True, None
                        t = at if at is not None else session.last_at
                        if t is not None:
                            session.last_answer_at = t
                            hist.answers.append(t)
                    continue
                stripped = line.strip()
                if not stripped:
                    continue
                if not (stripped.startswith(b"{") and stripped.endswith(b"}")):
                    hist.malformed_lines += 1
                    continue
                # only error records and answers are parsed; the user's lines never are
                if not any(m in line for m in _CANDIDATES):
                    continue
                try:
                    d = json.loads(line)
                except ValueError:
                    hist.malformed_lines += 1
                    continue
                except RecursionError:  # a deep [[[[…: the parser's recursion, not ours
                    part = " of the part read" if reader.skipped else ""
                    hist.too_deep.append(f"{shown}: line {n + 1}{part}")
                    continue
                if not isinstance(d, dict):
                    hist.malformed_lines += 1
                    continue
                _note_session(session, d)
                if d.get("type") == "system" and d.get("subtype") == "api_error":
                    f = _failure_from_system(d)
                    if f:
                        failures.append(f)
                elif d.get("type") == "assistant":
                    is_main = d.get("isSidechain") is not True
                    if d.get("isApiErrorMessage") is True:
                        f = _failure_from_assistant(d)
                        if f:
                            failures.append(f)
                            if is_main:
                                seen_assistant, last_assistant_error = True, f
                    elif is_main:
                        seen_assistant, last_assistant_error = True, None
                        t = _epoch(d.get("timestamp"))
                        if t is not None:
                            session.last_answer_at = t
                            hist.answers.append(t)
        except FileProblem as exc:
            hist.files_skipped.append(f"{shown}: {exc.reason}")
        hist.long_lines += reader.long_lines
    if not session.id:
        session.id = next((f.session for f in failures if f.session), "")
    kept = [f for f in failures if since is None or f.at >= since]
    for f in kept:
        f.session = f.session or session.id
    session.failures = len(kept)
    session.ended_on_error = seen_assistant and last_assistant_error is not None and (
        since is None or last_assistant_error.at >= since)
    session.last_error = last_assistant_error if session.ended_on_error else (
        kept[-1] if kept else None)
    hist.failures.extend(kept)
    if session.last_at is not None and (since is None or session.last_at >= since):
        hist.all_sessions.append(session)


def _time_in_head(line: bytes) -> float | None:
    t = _TIMESTAMP.search(line[:2048])
    return _epoch(t.group(1).decode("ascii", "replace")) if t else None


def _answer_head(head: bytes) -> bool:
    """The head of a line too long to parse is an answer on the main conversation: the
    client writes an answer's ``message`` (role assistant) before its ``type``."""
    head = head[:1024]
    return (b'"role":"assistant"' in head and b'"type":"user"' not in head
            and _SIDECHAIN.search(head) is None)


def _note_session(session: Session, d: dict[str, Any]) -> None:
    at = _epoch(d.get("timestamp"))
    if at is not None:  # an answer's time comes after its message, past the head
        session.last_at = max(session.last_at or at, at)
    if session.entrypoint is None and isinstance(d.get("entrypoint"), str):
        session.entrypoint = _text(d["entrypoint"], 40)
    if session.project is None and isinstance(d.get("cwd"), str):
        session.project = _text(shown_path(d["cwd"]), 500)
    if not session.id:
        session.id = _session_id(d)


def projects_dir(env: dict[str, str] | None = None, config_dir: str | os.PathLike | None = None
                 ) -> tuple[Path, bool]:
    """Claude Code's folder (``--config-dir``, ``$CLAUDE_CONFIG_DIR``, else ``~/.claude``) and
    whether it was named explicitly (then it must exist)."""
    from ..client.settings import user_dir

    env = dict(os.environ if env is None else env)
    if config_dir:
        return Path(os.path.expanduser(os.fspath(config_dir))), True
    base = user_dir(env)
    if base is None:
        raise UsageError("no home directory, and CLAUDE_CONFIG_DIR is not set: give "
                         "--config-dir")
    return base, bool(env.get("CLAUDE_CONFIG_DIR"))


def read_history(*, env: dict[str, str] | None = None, config_dir: str | os.PathLike | None = None,
                 project: str | os.PathLike | None = None, all_projects: bool = False,
                 since: float | None = None, max_files: int = MAX_FILES,
                 file_cap: int = FILE_CAP, line_cap: int = LINE_CAP,
                 budget_s: float = BUDGET_S) -> History:
    """Claude Code's records of failed API attempts: the current project's (``project``, else
    ``$CLAUDE_PROJECT_DIR``, else the current directory) or, with ``all_projects``, every
    project's; those at or after ``since`` (epoch seconds; None: all). Raises UsageError when
    a folder named explicitly (``config_dir``, ``$CLAUDE_CONFIG_DIR``) is missing or not a
    folder."""
    t0 = time.monotonic()
    env = dict(os.environ if env is None else env)
    base, explicit = projects_dir(env, config_dir)
    if base.exists() and not base.is_dir():
        raise UsageError(f"Claude Code's folder {shown_path(base)!r} is not a folder")
    if explicit and not base.is_dir():
        raise UsageError(f"Claude Code's folder {shown_path(base)!r} does not exist")
    if base.is_dir() and not os.access(base, os.R_OK | os.X_OK):
        raise UsageError(f"Claude Code's folder {shown_path(base)!r} is not readable")
    proj = None if all_projects else project_of(env, project)
    hist = History(config_dir=base, project=proj, since=since)
    projects = base / "projects"
    if not projects.is_dir():
        hist.elapsed_s = time.monotonic() - t0
        return hist
    if proj is None:
        try:
            folders = [Path(e.path) for e in os.scandir(projects) if e.is_dir()]
        except OSError as exc:
            raise UsageError(f"{shown_path(projects)!r} cannot be listed: "
                             f"{exc.strerror or exc}") from None
    else:
        folders = [projects / folder_for(proj)]
    budget = _Budget(time.monotonic() + budget_s)
    for _mtime, path in _transcripts(projects, folders, since, max_files, hist):
        if budget.over():
            hist.out_of_time = True
            break
        _scan_file(path, hist, since, budget, file_cap, line_cap)
    here = os.getcwd()
    for s in hist.all_sessions:
        raw_project = _raw_project(s, proj)
        s.resume = resume_command(s.id, raw_project, here if raw_project else None)
    hist.failures.sort(key=lambda f: f.at)
    hist.all_sessions.sort(key=lambda s: s.last_at or 0.0)
    hist.answers.sort()
    hist.elapsed_s = time.monotonic() - t0
    return hist


def _raw_project(s: Session, proj: Path | None) -> str | None:
    """The launch directory to ``cd`` to before resuming: the one scanned, or the records'."""
    if proj is not None:
        return str(proj)
    if s.project:
        return os.path.expanduser(s.project) if s.project.startswith("~") else s.project
    return None


# -- intermittency ------------------------------------------------------------------------------
@dataclass
class Intermittent:
    phase: str
    cause: str
    episodes: int
    failures: int
    first: float
    last: float


def intermittent(hist: History) -> Intermittent | None:
    """The rule for ``network.intermittent`` from history: one phase of the path (DNS,
    connect, proxy, TLS, HTTP) fails in at least two separate episodes with a successful
    answer between them. An episode is a run of that phase's failures with no successful
    answer in between: one burst is an outage (offline for ten minutes), failing, working,
    then failing again is a path that fails now and then. Limits, load and credentials are
    the service's answers, not the path's, and never count."""
    best: Intermittent | None = None
    for phase in sorted({f.phase for f in hist.failures if f.phase}):
        fails = [f for f in hist.failures if f.phase == phase]
        episodes, prev = 0, None
        for f in fails:
            if prev is None or any(prev < a < f.at for a in hist.answers):
                episodes += 1
            prev = f.at
        if episodes >= 2:
            cause = Counter(f.cause for f in fails).most_common(1)[0][0]
            found = Intermittent(phase, cause or "", episodes, len(fails), fails[0].at,
                                 fails[-1].at)
            if best is None or (found.episodes, found.failures) > (best.episodes, best.failures):
                best = found
    return best


# -- the command --------------------------------------------------------------------------------
def add_scope_arguments(parser: argparse.ArgumentParser, what: str = "sessions") -> None:
    """--since, --all-projects, --project: which of Claude Code's records to read (`history`,
    `bundle`); :func:`checked_scope` checks them."""
    parser.add_argument("--since", default=DEFAULT_SINCE, metavar="WHEN",
                        help="how far back: 7d, 12h, 30m, an ISO date (UTC) or all "
                             "(default: %(default)s)")
    parser.add_argument("--all-projects", action="store_true",
                        help=f"every project's {what}, not only this directory's")
    parser.add_argument("--project", metavar="DIR",
                        help=f"the {what} of the project launched in DIR (default: "
                             "$CLAUDE_PROJECT_DIR, else the current directory)")


def checked_scope(args: argparse.Namespace) -> float | None:
    """The options of :func:`add_scope_arguments`, checked (one line, exit 2 on a bad one);
    the ``since`` cut-off."""
    since = checked_since(args.since)
    if args.all_projects and args.project:
        raise UsageError("give --project or --all-projects, not both")
    if args.project is not None and not args.project.strip():
        raise UsageError("--project is empty: give a directory")
    return since


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scope_arguments(parser)
    parser.add_argument("--config-dir", metavar="DIR",
                        help="Claude Code's folder (default: $CLAUDE_CONFIG_DIR, else ~/.claude)")
    parser.add_argument("--max-files", type=int, default=MAX_FILES, metavar="N",
                        help="read at most N transcripts, newest first (default: %(default)s)")
    from ..jsonout import add_json_option

    add_json_option(parser, '{"failures": [...], "causes": {...}, "sessions": [...]}')


def checked_since(raw: str, option: str = "--since") -> float | None:
    try:
        return parse_since(raw)
    except ValueError as exc:
        raise UsageError(f"{option} {raw!r}: {exc}") from None


def main(args: argparse.Namespace) -> int:
    from ..jsonout import check_json_path, emit
    from ..masking import register_env

    since = checked_scope(args)
    if not 1 <= args.max_files <= 100_000:
        raise UsageError(f"--max-files {args.max_files}: expected a whole number in [1, 100000]")
    json_file = check_json_path(args.json_path)
    register_env(os.environ)
    _register_settings_secrets()
    hist = read_history(config_dir=args.config_dir, project=args.project,
                        all_projects=args.all_projects, since=since, max_files=args.max_files)
    from ..render import json_text, shown

    emit(args, json_file, lambda: shown(text_report(hist)), json_text(hist.to_dict()))
    return 1 if hist.failures else 0


def _register_settings_secrets() -> None:
    """Secrets the settings files' env blocks hold are masked too, wherever they turn up."""
    from ..client import settings as _settings
    from ..masking import register_env

    with contextlib.suppress(Exception):  # a second layer: a bad file must not stop a run
        register_env(_settings.load().env)


def text_report(hist: History, rows: int = 40) -> str:
    """The terminal rendering: a compact table, counts per cause, and the sessions that
    ended on an API error with the command that resumes each."""
    where = (f"every project in {shown_path(hist.config_dir / 'projects')}"
             if hist.project is None else shown_path(hist.project))
    window = f"since {iso(hist.since)}" if hist.since is not None else "all time"
    lines = [f"Claude Code's records of failed API attempts · {where} · {window}"]
    if not hist.failures:
        lines.append(f"No failed API attempt recorded ({_scanned(hist)}).")
        return "\n".join(lines + _notes(hist))
    shown = hist.failures[-rows:]
    if len(hist.failures) > rows:
        lines.append(f"(the last {rows} of {len(hist.failures)}; --json has every one)")
    cause_w = max(len(f.cause or "unknown") for f in shown)
    lines.append(f"{'when':<20}  {'session':<8}  {'attempt':<7}  {'cause':<{cause_w}}  "
                 "what you saw")
    for f in shown:
        text = clip(f.text, 90)
        lines.append(f"{iso(f.at):<20}  {f.session[:8]:<8}  {f.attempt_label:<7}  "
                     f"{f.cause or 'unknown':<{cause_w}}  {text}")
    counts = ", ".join(f"{c} {n}" for c, n in hist.causes().most_common())
    unknown = sum(1 for f in hist.failures if not f.cause)
    lines += ["", f"Causes: {counts or 'none known'}"
              + (f" (+{unknown} with no known signature)" if unknown else "")]
    ended = hist.ended_on_error
    if ended:
        lines += ["", ("Sessions that ended on an API error (resuming reloads the conversation; "
                       "it does not re-send the failed request: type a new prompt, e.g. "
                       "`continue`):")]
        for s in ended:
            e = s.last_error
            cmd = s.resume or "(not a session id Claude Code can resume)"
            how = " (made by claude -p)" if s.headless else ""
            lines.append(f"  {iso(e.at if e else s.last_at)}  {e.cause if e and e.cause else '?':<22}"
                         f"  {cmd}{how}")
    lines.append("")
    lines.append(f"Read {_scanned(hist)}. Triage any message: runbooks triage \"…\"")
    return "\n".join(lines + _notes(hist))


def _scanned(hist: History) -> str:
    n = hist.files_read
    return f"{n} transcript{'s' if n != 1 else ''} in {hist.elapsed_s:.1f} s"


def _notes(hist: History) -> list[str]:
    out = []
    if hist.out_of_time:
        out.append(f"note: stopped after {BUDGET_S:g} s; older transcripts were not read")
    if hist.files_over_limit:
        out.append(f"note: {hist.files_over_limit} older transcripts not read (--max-files)")
    if hist.bytes_skipped:
        out.append(f"note: only the last {FILE_CAP // MiB} MiB of very large transcripts read")
    if hist.malformed_lines:
        out.append(f"note: {hist.malformed_lines} malformed lines skipped")
    out += [f"note: {where}: nested too deeply to read as JSON; skipped, the rest read"
            for where in hist.too_deep[:5]]
    out += [f"note: skipped {s}" for s in hist.files_skipped[:5]]
    return out
