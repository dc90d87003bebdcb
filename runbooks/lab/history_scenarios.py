"""Record scenarios: Claude Code's own records, laid out for the runbooks that read them.

Nothing is broken on the path here (the healthy fake API answers); what the scenario brings is
the past: a temporary ``CLAUDE_CONFIG_DIR`` holding transcripts and ``--debug`` logs the real
client wrote (``tests/fixtures/history/``, recorded by ``tests/record_history.py`` against
the lab), and ``CLAUDE_PROJECT_DIR`` naming the project they belong to. The records are
moved in time as a whole, so their story (three days of one project) ends an hour before the
scenario starts: a run against it says the same thing every time, dates aside.

They are kept apart from :data:`~runbooks.lab.scenarios.SCENARIOS`, whose every entry is a
fault on the path the doctor must name; :func:`~runbooks.lab.scenarios.start` starts both.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .faults import LabUnsupported
from .scenario import Running, Scenario, _api

__all__ = ["PROJECT", "RECORDS", "RECORD_SCENARIOS", "lay_out"]

#: The recorded transcripts (a clone's; an installed package has no tests/).
RECORDS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "history"
#: The project the recorded sessions were launched in.
PROJECT = "/home/dev/acme-app"
#: How long before the scenario starts its story ends.
_BEFORE_S = 3600
#: A user settings file with a trailing comma: Claude Code cannot read it.
_BROKEN_SETTINGS = """{
  "env": {
    "HTTPS_PROXY": "http://proxy.acme.example:8080",
  }
}
"""
_TS = re.compile(rb'("timestamp":")(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)(")')
_LOG_TS = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)", re.MULTILINE)


def _parse(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode("ascii"))


def _fmt(dt: datetime) -> bytes:
    dt = dt.astimezone(UTC)
    return (dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z").encode()


def _latest(records: Path) -> datetime:
    found = [_parse(m.group(2)) for p in (records / "projects").glob("*/*.jsonl")
             for m in _TS.finditer(p.read_bytes())]
    return max(found)


def lay_out(config_dir: Path, now: float | None = None, records: Path = RECORDS) -> timedelta:
    """Copy the recorded ``projects/`` and ``debug/`` into ``config_dir``, every time moved
    by the same amount so the last record is an hour before ``now``; files get their last
    record's time, and ``debug/latest`` points where the client's link did. The shift."""
    if not (records / "projects").is_dir():
        raise LabUnsupported(f"the recorded transcripts are not here ({records}): they come "
                             "with a clone of the repository (tests/fixtures/history)")
    now = time.time() if now is None else now
    shift = datetime.fromtimestamp(int(now) - _BEFORE_S, UTC) - _latest(records)
    for src in sorted((records / "projects").glob("*/*.jsonl")):
        data = _TS.sub(lambda m: m.group(1) + _fmt(_parse(m.group(2)) + shift) + m.group(3),
                       src.read_bytes())
        dest = config_dir / "projects" / src.parent.name / src.name
        _write(dest, data, [_parse(m.group(2)) for m in _TS.finditer(data)])
    debug = config_dir / "debug"
    for src in sorted((records / "debug").glob("*.txt")):
        data = _LOG_TS.sub(lambda m: _fmt(_parse(m.group(1)) + shift), src.read_bytes())
        _write(debug / src.name, data, [_parse(m.group(1)) for m in _LOG_TS.finditer(data)])
    target = records / "debug" / "latest.target"
    if target.is_file():
        name = target.read_text(encoding="utf-8").strip()
        if (debug / name).is_file():
            os.symlink(debug / name, debug / "latest")
    return shift


def _write(dest: Path, data: bytes, times: list[datetime]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    if times:
        last = max(times).timestamp()
        os.utime(dest, (last, last))


def _history(run: Running, pki) -> None:
    _api(run, pki)
    assert run.workdir is not None
    config = run.workdir / "claude"
    lay_out(config)
    (config / "settings.json").write_text(_BROKEN_SETTINGS, encoding="utf-8")
    shutil.copy2(RECORDS / "README.md", config / "RECORDS.md")
    run.env["CLAUDE_CONFIG_DIR"] = str(config)
    run.env["CLAUDE_PROJECT_DIR"] = PROJECT
    run.notes.append(
        f"CLAUDE_CONFIG_DIR={config} holds three days of real Claude Code records of the "
        f"project {PROJECT} (CLAUDE_PROJECT_DIR), ending an hour ago: a session that failed "
        "(connection refused), recovered, and failed again; a TLS-inspecting proxy; 529 "
        "overloaded. Its settings.json has a trailing comma. Try: runbooks history; "
        "runbooks run recovery; runbooks run debugging; runbooks bundle.")


RECORD_SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario("history", "no fault now: three days of real Claude Code records of one project "
             "(failures, a recovery, a debug log) in a temporary CLAUDE_CONFIG_DIR, and a "
             "settings.json with a trailing comma", None, _history),
]}
