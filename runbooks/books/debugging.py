"""The debugging runbook: are Claude Code's settings files readable, what does its newest debug
log say, and how to hand all of it to a bug report.

settings files → the newest debug log → its errors, mapped to causes → the bundle.

A settings file that is not valid JSON is ignored by the client, ``env`` block and all
(``config.settings_invalid``). The debug log is the one ``claude --debug`` (or ``DEBUG=1``;
not ``DEBUG=claude:*``, which writes nothing) leaves in ``~/.claude/debug/``: only its
``[ERROR]`` and ``[WARN]`` lines are read, masked (:mod:`runbooks.records.debuglog`).
"""

from __future__ import annotations

import os
from typing import Any

from ..files import FileProblem, read_bytes, shown_path
from ..records import debuglog as _debuglog
from ..records import history as _history
from ..result import Check, Status
from .base import COMMON, Context
from .params import Param, merge, text
from .recovery import HISTORY, PastEvidence

__all__ = ["DebuggingRun"]


def _log_file(value: str) -> None:
    try:
        read_bytes(value, 1)  # only whether it is a regular file; the size is handled later
    except FileProblem as exc:
        if "over the" not in exc.reason:
            raise ValueError(f"the debug log {exc.reason}") from None


DEBUG: tuple[Param, ...] = (
    text("debug_log", "", "a debug log to read, as `claude --debug-file` wrote it (empty: the "
         "newest in ~/.claude/debug, or $CLAUDE_CONFIG_DIR/debug)", _log_file, "FILE"),
)
#: Error lines a check shows (the last ones).
_SHOWN = 6


class DebuggingRun(PastEvidence):
    id = "debugging"
    title = "Debugging: settings files, Claude Code's debug log, and a bundle for a bug report"
    # no trust_ca: it reads records and trusts no CA (that is the proxy & TLS runbook's)
    PARAMETERS = merge((p for p in COMMON if p.name != "trust_ca"), HISTORY, DEBUG)
    STEPS = ("check_settings_files", "check_debug_log", "check_logged_errors", "check_bundle")
    PAST = ("debug.log", "debug.errors")  # a broken settings file is broken now

    def __init__(self, context: Context, since: str = _history.DEFAULT_SINCE,
                 debug_log: str = "", **options: Any) -> None:
        super().__init__(context, **options)
        self.since_text, self.since = since, _history.parse_since(since)
        self.debug_log = debug_log
        self._log: _debuglog.DebugLog | None = None
        self._looked = False

    @property
    def log(self) -> _debuglog.DebugLog | None:
        """The newest debug log's error and warning lines (None: no log), read once."""
        if not self._looked:
            self._looked = True
            if self.debug_log:
                path, latest = os.path.abspath(os.path.expanduser(self.debug_log)), None
            else:
                found, latest = _debuglog.find_debug_log(dict(self.ctx.shell))
                path = str(found) if found else None
            if path:
                from pathlib import Path

                self._log = _debuglog.read_debug_log(Path(path), latest)
        return self._log

    def _outside(self, log: _debuglog.DebugLog) -> bool:
        """The log was last written before the window (a log named by ``debug_log`` never
        is: it was asked for)."""
        return bool(self.since is not None and not self.debug_log and log.modified < self.since)

    # -- steps ---------------------------------------------------------------------------------
    def check_settings_files(self) -> Check | list[Check]:
        """Every settings file Claude Code reads here (user, project, local, ``--settings``,
        managed): each must be a JSON object, or the client ignores it. (Inside the doctor the
        network runbook's Settings check says it already.)"""
        title = "Settings files"
        if self.in_doctor:
            return []

        def run() -> Check:
            files = self.ctx.settings.files
            if not files:
                return self.skip("debug.settings", title, "no Claude Code settings file found")
            details = {"files": [{"scope": f.scope, "path": f.shown, "error": f.error,
                                  "keys": sorted(map(str, f.data))} for f in files]}
            bad = [f for f in files if f.error]
            if bad:
                f = bad[0]
                others = f"; {len(bad) - 1} more unusable (below)" if len(bad) > 1 else ""
                details["lines"] = [f"{b.shown} ({b.scope}): {b.error}" for b in bad]
                return Check("debug.settings", title, Status.WARN,
                             f"{f.shown} ({f.scope}) is {f.error}: Claude Code ignores the whole "
                             f"file, its env block too{others}", cause="config.settings_invalid",
                             details=details,
                             fix=f"Fix the JSON in {f.shown} (a trailing comma is the usual "
                                 f"culprit): `python3 -m json.tool {f.shown}` points at it.")
            shown = ", ".join(f"{f.shown} ({f.scope})" for f in files)
            return Check("debug.settings", title, Status.PASS,
                         f"{len(files)} settings file{'s' if len(files) != 1 else ''}, all "
                         f"readable: {shown}", details=details)
        return self.guard("debug.settings", title, run)

    def check_debug_log(self) -> Check | list[Check]:
        """The newest debug log (by when it was written: after ``claude -r <id> --debug``,
        ``latest`` points at a short file and the session's lines go to ``<id>.txt``)."""
        title = "Debug log"

        def run() -> Check | list[Check]:
            log = self.log
            folder = _debuglog.debug_dir(dict(self.ctx.shell))
            where = shown_path(folder) if folder else "~/.claude/debug"
            if self.in_doctor and (log is None or self._outside(log)):
                return []  # no log, or an old one: not news for the doctor
            if log is None:
                return self.skip("debug.log", title, f"no debug log in {where}: `claude "
                                 "--debug` writes one there (not `DEBUG=claude:*`, which writes "
                                 "nothing)")
            if log.problem:
                return Check("debug.log", title, Status.WARN, f"cannot read {log.problem}",
                             details=log.to_dict())
            details = {k: v for k, v in log.to_dict().items() if k != "lines"}
            when = _history.iso(log.modified)
            if self._outside(log):
                return self.skip("debug.log", title, f"the newest debug log, {log.path}, was "
                                 f"written {when}: before the window (since "
                                 f"{_history.iso(self.since)})")
            moved = (f"; `latest` points at {log.latest}, where this run began" if log.latest
                     else "")
            return Check("debug.log", title, Status.PASS,
                         f"{log.path}, written {when}: {log.lines_read} lines, {log.errors} "
                         f"errors, {log.warnings} warnings{moved}", details=details)
        return self.guard("debug.log", title, run)

    def check_logged_errors(self) -> Check | list[Check]:
        """The log's error lines, each mapped to a cause as ``runbooks triage`` would (with
        what the line names: ``code=ECONNREFUSED``, a status, the API's error type)."""
        title = "Logged errors"

        def run() -> Check | list[Check]:
            log = self.log
            if log is None or log.problem or self._outside(log):
                if self.in_doctor:
                    return []
                return self.skip("debug.errors", title, "no debug log to read (see Debug log)")
            shown = [ln for ln in log.lines if "[ERROR]" in ln][-_SHOWN:]
            details = {"causes": dict(log.causes.most_common()), "errors": log.errors,
                       "warnings": log.warnings, "lines": shown}
            if not log.errors:
                return Check("debug.errors", title, Status.PASS,
                             f"no error line in {log.path}", details=details)
            cause = log.cause
            if cause is None:
                return Check("debug.errors", title, Status.PASS,
                             f"{log.errors} error lines, none about the connection (last: "
                             f"{shown[-1].split('] ', 1)[-1] if shown else '?'})",
                             details=details)
            counts = ", ".join(f"{c} {n}" for c, n in log.causes.most_common())
            return Check("debug.errors", title, Status.WARN,
                         f"{log.errors} error lines; the connection ones point to {counts}: "
                         f"{log.last_cause_line}", cause=cause, details=details)
        return self.guard("debug.errors", title, run)

    def check_bundle(self) -> Check | list[Check]:
        """What to attach to a bug report: one command, one archive, every secret masked (an
        offer, not a check: not repeated inside the doctor)."""
        title = "Bug report"
        if self.in_doctor:
            return []
        return self.record(Check(
            "debug.bundle", title, Status.PASS,
            "`runbooks bundle` writes one archive for a bug report: versions, the effective "
            "configuration (secrets masked), the doctor's report, recent failures (Claude Code's "
            "error records only) and the debug log's error lines; nothing is uploaded",
            details={"command": "runbooks bundle --output claude-code-bundle.zip"}))
