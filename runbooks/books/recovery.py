"""The recovery runbook: what Claude Code's own records say went wrong, which sessions ended on an
API error, and how to pick each one up.

failures (mapped to causes) → the pattern over time → sessions to resume → what ``claude -c``
will do here.

Everything comes from the transcripts Claude Code keeps (:mod:`runbooks.records.history`: error records
only, never the conversation). What the pinned client does on resuming was checked in the lab
(tests/test_history_client.py): ``claude -r <id>`` reloads that conversation and sends only the
new prompt; ``claude -c`` reloads the most recent conversation *of the current directory* (from
another directory it silently starts a new one); interactive ``claude --continue`` does not
offer a session made by ``claude -p``. Nothing re-sends the failed request by itself.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..files import shown_path
from ..masking import clip
from ..records import history as _history
from ..result import Check, Status
from .base import APPLY, Context, Runbook
from .params import Param, flag, merge, text

__all__ = ["HISTORY", "PastEvidence", "RecoveryRun"]


def _since(value: str) -> None:
    _history.parse_since(value)  # raises ValueError naming what is accepted


#: How far back the records are read (shared with the debugging runbook).
HISTORY: tuple[Param, ...] = (
    text("since", _history.DEFAULT_SINCE, "how far back to read Claude Code's records: 7d, "
         "12h, 30m, an ISO date (UTC) or all", _since, "WHEN"),
)

SCOPE: tuple[Param, ...] = (
    flag("all_projects", False, "every project's sessions, not only this directory's"),
    text("project", "", "the project directory whose sessions to read (empty: "
         "$CLAUDE_PROJECT_DIR, else the current directory)", None, "DIR"),
)

#: How many failures a check shows, newest last.
_SHOWN = 8


class PastEvidence(Runbook):
    """A runbook whose checks read the past (Claude Code's records, its debug log).

    Run on its own (``runbooks run recovery``, the notebook) a past failure is a finding. Inside
    the doctor, which checks the connection *now* (one context shared by every runbook, so it
    holds parameters of the others), past evidence is informational, as an unreachable status
    page is: the check is recorded as skipped with its cause, and never makes a finding, so the
    doctor's verdict and exit code say only what is wrong now."""

    #: the checks that read the past (others, such as a broken settings file, are present)
    PAST: tuple[str, ...] = ()
    OFFLINE = True  # Claude Code's records and debug log: files only

    @property
    def in_doctor(self) -> bool:
        return self.ctx.role == "doctor"

    def record(self, check: Check) -> Check:
        if self.in_doctor and check.id in self.PAST and check.status in (Status.WARN,
                                                                          Status.FAIL):
            check.status = Status.SKIP
            check.summary = f"in Claude Code's records (past, informational): {check.summary}"
        return super().record(check)


class RecoveryRun(PastEvidence):
    id = "recovery"
    title = "Recovery: the sessions that ended on an API error, and how to pick them up"
    PARAMETERS = merge(HISTORY, SCOPE, (APPLY,))  # no trust_ca: it trusts no CA
    STEPS = ("check_failures", "check_pattern", "check_sessions", "check_continue")
    PAST = ("recovery.failures", "recovery.pattern", "recovery.sessions", "recovery.continue")

    def __init__(self, context: Context, since: str = _history.DEFAULT_SINCE,
                 all_projects: bool = False, project: str = "", **options: Any) -> None:
        super().__init__(context, **options)
        self.since_text = since
        self.since = _history.parse_since(since)
        self.all_projects, self.project = all_projects, project
        self._hist: _history.History | None = None
        self._problem: str | None = None

    @property
    def history(self) -> _history.History | None:
        """The records, read once per run (None when Claude Code's folder cannot be read:
        :attr:`problem` says why)."""
        if self._hist is None and self._problem is None:
            try:
                self._hist = _history.read_history(
                    env=dict(self.ctx.shell), project=self.project or None,
                    all_projects=self.all_projects, since=self.since)
            except UsageError as exc:
                self._problem = str(exc)
        return self._hist

    @property
    def where(self) -> str:
        h = self.history
        if h is None or h.project is None:
            return "every project"
        return shown_path(h.project)

    @property
    def window(self) -> str:
        return f"since {_history.iso(self.since)}" if self.since is not None else "in all"

    def _nothing(self, check_id: str, title: str) -> Check | list[Check] | None:
        """What to record when there is nothing to read (None when there is): a skip saying
        why, or, inside the doctor, nothing at all (no records is not news there)."""
        h = self.history
        if h is not None and h.files_read:
            return None
        if self.in_doctor:
            return []
        if check_id != "recovery.failures":
            return self.skip(check_id, title, "no records to read (see Failures)")
        if h is None:
            return self.skip(check_id, title, f"no records to read: {self._problem}")
        return self.skip(check_id, title, f"no transcript of {self.where} {self.window} in "
                         f"{shown_path(h.config_dir / 'projects')}")

    # -- steps ---------------------------------------------------------------------------------
    def check_failures(self) -> Check | list[Check]:
        """Every failed API attempt on record, mapped to the catalogue as ``triage`` maps a
        message; a warning when the last of them came after the last successful answer."""
        title = "Failures"

        def run() -> Check | list[Check]:
            empty = self._nothing("recovery.failures", title)
            if empty is not None:
                return empty
            h = self.history
            assert h is not None
            details = _summary(h)
            if not h.failures:
                return Check("recovery.failures", title, Status.PASS,
                             f"no failed API attempt recorded {self.window} "
                             f"({h.files_read} transcripts of {self.where})", details=details)
            sessions = len({f.session for f in h.failures})
            counts = ", ".join(f"{c} {n}" for c, n in h.causes().most_common()) or "no known cause"
            last = h.failures[-1]
            answered = h.answers[-1] if h.answers else None
            line = (f"{len(h.failures)} failed attempts in {sessions} session"
                    f"{'s' if sessions != 1 else ''} {self.window}: {counts}")
            if answered is not None and answered > last.at:
                return Check("recovery.failures", title, Status.PASS,
                             f"{line}; the last at {_history.iso(last.at)}, followed by a "
                             f"successful answer at {_history.iso(answered)}", details=details)
            after = (f", after the last successful answer ({_history.iso(answered)})"
                     if answered is not None else ", and no successful answer on record")
            cause = last.cause or "no known cause"
            return Check("recovery.failures", title, Status.WARN,
                         f"{line}; the last at {_history.iso(last.at)} ({cause}){after}",
                         cause=last.cause, details=details)
        return self.guard("recovery.failures", title, run)

    def check_pattern(self) -> Check | list[Check]:
        """The same phase of the path failing on and off: ``network.intermittent`` (the rule:
        :func:`runbooks.records.history.intermittent`)."""
        title = "Pattern"

        def run() -> Check | list[Check]:
            empty = self._nothing("recovery.pattern", title)
            if empty is not None:
                return empty
            h = self.history
            assert h is not None
            if not h.failures:
                return self.skip("recovery.pattern", title, "no failures to look at")
            found = _history.intermittent(h)
            if found is None:
                phases = sorted({f.phase for f in h.failures if f.phase})
                why = (f"each phase that failed ({', '.join(phases)}) did so in one episode"
                       if phases else "no failure on the path itself (limits, load or "
                       "credentials only)")
                return Check("recovery.pattern", title, Status.PASS,
                             f"{why}: no sign of a path that fails now and then",
                             details={"phases": phases})
            return Check(
                "recovery.pattern", title, Status.WARN,
                f"{found.phase} failed in {found.episodes} separate episodes ({found.failures} "
                f"attempts, {_history.iso(found.first)} → {_history.iso(found.last)}) with "
                f"successful answers between them: the path fails now and then ({found.cause})",
                cause="network.intermittent",
                details={"phase": found.phase, "cause": found.cause, "episodes": found.episodes,
                         "failures": found.failures, "first": _history.iso(found.first),
                         "last": _history.iso(found.last)},
                fix=(f"The path fails now and then in {found.phase} ({found.cause}): sample it "
                     "while it happens (`runbooks doctor --samples 60 --duration 300`), and "
                     "compare networks (VPN on/off, Wi-Fi/wired)."))
        return self.guard("recovery.pattern", title, run)

    def check_sessions(self) -> Check | list[Check]:
        """Sessions whose last turn failed, each with the exact command that reopens it."""
        title = "Sessions"

        def run() -> Check | list[Check]:
            empty = self._nothing("recovery.sessions", title)
            if empty is not None:
                return empty
            h = self.history
            assert h is not None
            ended = h.ended_on_error
            details = {"sessions": [_session_brief(s) for s in ended],
                       "lines": [_session_line(s) for s in ended[-_SHOWN:]]}
            if not ended:
                return Check("recovery.sessions", title, Status.PASS,
                             f"no session ended on an API error {self.window}")
            latest = h.latest
            older = [s for s in ended if s is not latest]
            more = (f"; {len(older)} older session{'s' if len(older) != 1 else ''} ended on "
                    "an API error too (below)") if older else ""
            if latest is not None and latest.ended_on_error:
                e = latest.last_error
                return Check(
                    "recovery.sessions", title, Status.WARN,
                    f"the last session of {self.where} ({_history.iso(latest.last_at)}) ended "
                    f"on an API error ({e.cause if e and e.cause else 'no known cause'}): "
                    f"`{latest.resume}` reopens it{more}", details=details,
                    fix=f"Fix the cause first (above), then `{latest.resume}` and type a new "
                        "prompt such as `continue`: resuming reloads the conversation, it "
                        "does not re-send the failed request.")
            when = _history.iso(latest.last_at) if latest else "?"
            return Check("recovery.sessions", title, Status.PASS,
                         f"{len(ended)} older session{'s' if len(ended) != 1 else ''} ended on "
                         f"an API error; the last session ({when}) ended on an answer",
                         details=details)
        return self.guard("recovery.sessions", title, run)

    def check_continue(self) -> Check | list[Check]:
        """What ``claude -c`` / ``--continue`` will reload here, and whether that is the
        conversation that failed."""
        title = "claude -c"

        def run() -> Check | list[Check]:
            if self.all_projects:
                return self.skip("recovery.continue", title, "claude -c works per directory: "
                                 "run this without all_projects, in the project's directory")
            empty = self._nothing("recovery.continue", title)
            if empty is not None:
                return empty
            h = self.history
            assert h is not None
            latest = h.latest
            failed = h.ended_on_error[-1] if h.ended_on_error else None
            if latest is None:
                return self.skip("recovery.continue", title, "no session to continue")
            what = (f"`claude -c` reloads the most recent conversation of {self.where}: "
                    f"session {latest.id[:8]} ({_history.iso(latest.last_at)}, "
                    f"{'ended on an API error' if latest.ended_on_error else 'ended on an answer'})")
            details = {"latest": _session_brief(latest),
                       "failed": _session_brief(failed) if failed else None}
            if failed is not None and failed is not latest:
                return Check("recovery.continue", title, Status.WARN,
                             f"{what}, not {failed.id[:8]}, the last one that failed: use "
                             f"`{failed.resume}`", details=details,
                             fix=f"`{failed.resume}` reopens the conversation that failed; "
                                 "`claude -c` would reload a later one.")
            if latest.headless:
                return Check("recovery.continue", title, Status.WARN,
                             f"{what}; it was made by `claude -p`, and interactive `claude "
                             "--continue` does not offer such a session (\"No conversation found "
                             "to continue\", 2.1.332)", details=details,
                             fix=f"`{latest.resume}` (interactive), or `claude -c -p \"continue\"` "
                                 "(headless, in this directory).")
            return Check("recovery.continue", title, Status.PASS,
                         f"{what}. It sends nothing by itself: you type the next prompt "
                         "(`continue` will do)", details=details)
        return self.guard("recovery.continue", title, run)


def _summary(h: _history.History) -> dict[str, Any]:
    shown = h.failures[-_SHOWN:]
    lines = [f"{_history.iso(f.at)}  {f.attempt_label:<5}  {f.cause or 'unknown':<20}  "
             f"{_short(f.text)}" for f in shown]
    if len(h.failures) > _SHOWN:
        lines.insert(0, f"(the last {_SHOWN} of {len(h.failures)}: runbooks history --json "
                        "has every one)")
    lines += [f"{where}: nested too deeply to read as JSON; skipped, the rest read"
              for where in h.too_deep[:3]]
    return {"causes": dict(h.causes().most_common()), "failures": len(h.failures),
            "sessions": len(h.sessions), "transcripts": h.files_read,
            "malformed_lines": h.malformed_lines, "too_deep_lines": h.too_deep,
            "complete": h.complete, "lines": lines}


def _short(text: str, width: int = 80) -> str:
    return clip(text, width)


def _session_brief(s: _history.Session) -> dict[str, Any]:
    e = s.last_error
    return {"id": s.id, "last_at": _history.iso(s.last_at), "ended_on_error": s.ended_on_error,
            "cause": e.cause if e and s.ended_on_error else None,
            "made_by": "claude -p" if s.headless else "claude", "resume": s.resume}


def _session_line(s: _history.Session) -> str:
    e = s.last_error
    return (f"{_history.iso(s.last_at)}  {(e.cause if e and e.cause else 'unknown'):<20}  "
            f"{s.resume or '(no resumable id)'}")
