"""Record the transcripts in tests/fixtures/history/ with the real, pinned client.

    .venv/bin/python tests/record_history.py

A small project, "acme-app", over three days: a session that reads a file with its Read tool,
fails (connection refused), recovers, and fails again (its last turn: the session ends on an
API error, with a `--debug` log); a session that hits a TLS-inspecting proxy; one that meets
529 overloaded; one that simply works. Every run is a real `claude -p` against the lab, with a
temporary HOME. Afterwards the temporary paths are rewritten to /home/dev (the project to
/home/dev/acme-app) and each step's times are moved to its place in the story (the lab's
`history` scenario moves the whole story to the last few days when it starts). Nothing secret
is in them: the lab's key is not written to transcripts, and the prompt and the file carry a
marker (FIXTURECANARY) that no output may show.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clientrecords import ToolAPI, client_env, run_claude, tool_client_env

from runbooks.lab import start
from runbooks.records.history import folder_for

OUT = Path(__file__).resolve().parent / "fixtures" / "history"
PROJECT = "/home/dev/acme-app"
HOME = "/home/dev"
ANCHOR = datetime(2026, 11, 2, tzinfo=UTC)  # day 0 of the story, a Monday
_TS = re.compile(r'("timestamp":")([0-9T:.\-]+Z)(")')
_MS = re.compile(r'("(?:sentAtMs|startTime)":)(\d{13})')
_LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)", re.MULTILINE)


def _at(day: int, hh: int, mm: int) -> datetime:
    return ANCHOR + timedelta(days=day, hours=hh, minutes=mm)


class Story:
    def __init__(self, tmp: Path) -> None:
        self.home, self.project = tmp / "home", tmp / "acme-app"
        self.home.mkdir()
        self.project.mkdir()
        (self.project / "notes.txt").write_text(
            "Q4 roadmap, internal only: FIXTURECANARY-notes\n", encoding="utf-8")
        self.config = self.home / ".claude"
        self.counts: dict[Path, int] = {}
        self.logs: set[str] = set()  # debug logs already moved in time

    def step(self, when: datetime, args: list[str], scenario: str | None = None,
             tool: bool = False) -> str:
        """One client run, its new transcript lines moved to ``when``; its stdout."""
        t0 = datetime.now(UTC)
        if scenario:
            lab = start(scenario)
            try:
                proc = run_claude(args, client_env(self.home, lab.client_env), self.project)
            finally:
                lab.stop()
        else:
            api = ToolAPI(self.project / "notes.txt" if tool else "")
            try:
                proc = run_claude(args, client_env(self.home, tool_client_env(api)),
                                  self.project)
            finally:
                api.close()
        shift = when - t0
        for path in sorted((self.config / "projects").glob("*/*.jsonl")):
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            done = self.counts.get(path, 0)
            lines[done:] = [_shift_line(line, shift) for line in lines[done:]]
            path.write_text("".join(lines), encoding="utf-8")
            self.counts[path] = len(lines)
        for log in sorted((self.config / "debug").glob("*.txt")):
            if log.name not in self.logs:
                log.write_text(_LOG_TS.sub(lambda m: _fmt(_parse(m.group(1)) + shift),
                                           log.read_text(encoding="utf-8")), encoding="utf-8")
                self.logs.add(log.name)
        print(f"  {when:%a %H:%M} claude {' '.join(args)} → {proc.stdout.strip()[:70]}")
        return proc.stdout

    def session(self, before: set[str]) -> str:
        new = {p.stem for p in (self.config / "projects").glob("*/*.jsonl")} - before
        assert len(new) == 1, new
        return new.pop()

    def sessions(self) -> set[str]:
        return {p.stem for p in (self.config / "projects").glob("*/*.jsonl")}


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def _fmt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _shift_line(line: str, shift: timedelta) -> str:
    line = _TS.sub(lambda m: m.group(1) + _fmt(_parse(m.group(2)) + shift) + m.group(3), line)
    ms = int(shift.total_seconds() * 1000)
    return _MS.sub(lambda m: m.group(1) + str(int(m.group(2)) + ms), line)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="acme-") as tmp:
        s = Story(Path(tmp))
        before = s.sessions()
        s.step(_at(0, 9, 0), ["-p", "summarise notes.txt for the release FIXTURECANARY-prompt"],
               tool=True)
        a = s.session(before)
        before = s.sessions()
        s.step(_at(0, 11, 0), ["-p", "check the release pipeline FIXTURECANARY-prompt"],
               "tls-untrusted")
        s.session(before)
        s.step(_at(0, 14, 0), ["-r", a, "-p", "now the migration plan FIXTURECANARY-prompt"],
               "refused")
        s.step(_at(1, 10, 0), ["-r", a, "-p", "continue"])
        before = s.sessions()
        s.step(_at(1, 12, 0), ["-p", "draft the release notes FIXTURECANARY-prompt"],
               "overloaded")
        s.session(before)
        before = s.sessions()
        s.step(_at(2, 9, 0), ["-p", "list the open issues"])
        s.session(before)
        s.step(_at(2, 16, 30), ["-r", a, "-p", "and the changelog FIXTURECANARY-prompt",
                                "--debug"], "refused")
        if OUT.exists():
            shutil.rmtree(OUT)
        (OUT / "projects").mkdir(parents=True)
        real_folder = folder_for(str(s.project.resolve()))
        for path in (s.config / "projects" / real_folder).glob("*.jsonl"):
            dest = OUT / "projects" / folder_for(PROJECT) / path.name
            dest.parent.mkdir(exist_ok=True)
            dest.write_text(_neutral(path.read_text(encoding="utf-8"), s, real_folder),
                            encoding="utf-8")
        (OUT / "debug").mkdir()
        for log in (s.config / "debug").glob("*.txt"):
            (OUT / "debug" / log.name).write_text(
                _neutral(log.read_text(encoding="utf-8"), s, real_folder), encoding="utf-8")
        # where the client's `latest` link pointed (after `-r <id> --debug`: at the short log
        # the run began in, not at <id>.txt, where the resumed session's errors went)
        latest = (s.config / "debug" / "latest").resolve().name
        (OUT / "debug" / "latest.target").write_text(latest + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


def _neutral(text: str, s: Story, real_folder: str) -> str:
    """This machine's temporary paths → the story's /home/dev/acme-app."""
    for real, neutral in ((str(s.project.resolve()), PROJECT), (str(s.project), PROJECT),
                          (real_folder, folder_for(PROJECT)), (str(s.home.resolve()), HOME),
                          (str(s.home), HOME)):
        text = text.replace(real, neutral)
    return re.sub(r"/tmp/acme-[\w]+", "/home/dev", text)


if __name__ == "__main__":
    sys.exit(main())
