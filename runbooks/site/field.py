"""The field corpus: real pastes from public issue threads, each labelled with the cause its
thread shows (``tests/fixtures/field/*.jsonl`` in the repository; not in the wheel). The
site shows, under each cause's heading, a few of the pastes labelled with it
(:mod:`runbooks.site.hooks`); ``bench/field.py`` scores triage on them.

One JSON object a line: ``id``, ``split`` (``tune`` or ``held``), ``source`` (the thread's
address), ``cause``, ``alternates``, ``version`` (the client's, or null), ``classes``,
``message`` (the paste, already scrubbed of secrets) and ``evidence`` (what the thread says).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from runbooks.files import FileProblem, read_bytes

__all__ = ["FILE_CAP", "MAX_FILES", "Paste", "by_cause", "figures", "load", "thread_name"]

#: The most one corpus file may hold (the whole corpus is about 200 KB), and the most files read.
FILE_CAP = 4 << 20
MAX_FILES = 64


@dataclass(frozen=True)
class Paste:
    id: str
    source: str  # the thread's address
    cause: str
    message: str
    version: str | None = None
    alternates: tuple[str, ...] = ()
    split: str = ""
    evidence: str = ""


def _paste(row: object) -> Paste | None:
    if not isinstance(row, dict):
        return None
    text = {k: row.get(k) for k in ("id", "source", "cause", "message")}
    if not all(isinstance(v, str) and v.strip() for v in text.values()):
        return None
    if not text["source"].startswith("https://"):
        return None
    version, alternates = row.get("version"), row.get("alternates") or []
    if version is not None and not isinstance(version, str):
        return None
    if not isinstance(alternates, list) or not all(isinstance(a, str) for a in alternates):
        return None
    return Paste(text["id"], text["source"], text["cause"], text["message"], version or None,
                 tuple(alternates), str(row.get("split") or ""), str(row.get("evidence") or ""))


def load(folder: str | Path, cap: int = FILE_CAP) -> tuple[list[Paste], list[str]]:
    """The pastes of every ``*.jsonl`` file in ``folder`` (sorted by name, each a regular
    file of at most ``cap`` bytes), and a line for each file or row that could not be used
    (``auth.jsonl:12: not JSON``). A folder that does not exist has no pastes and no
    problems: an installed package has no corpus."""
    folder = Path(folder)
    if not folder.is_dir():
        return [], []
    pastes: list[Paste] = []
    problems: list[str] = []
    for path in sorted(folder.glob("*.jsonl"))[:MAX_FILES]:
        try:
            data = read_bytes(path, cap)
        except FileProblem as exc:
            problems.append(f"{path.name} {exc.reason}")
            continue
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                problems.append(f"{path.name}:{n}: not JSON")
                continue
            paste = _paste(row)
            if paste is None:
                problems.append(f"{path.name}:{n}: lacks id, source, cause or message")
                continue
            pastes.append(paste)
    return pastes, problems


def by_cause(pastes: list[Paste]) -> dict[str, list[Paste]]:
    """The pastes labelled with each cause (its thread's cause, not an alternate)."""
    out: dict[str, list[Paste]] = {}
    for p in pastes:
        out.setdefault(p.cause, []).append(p)
    return out


_GITHUB = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+)/(?:issues|pull|discussions)/(\d+)")


def thread_name(url: str) -> str:
    """A thread's short name: ``anthropics/claude-code#85675`` for a GitHub issue or pull
    request, else the address's host."""
    m = _GITHUB.match(url)
    if m:
        return f"{m.group(1)}#{m.group(2)}"
    return url.split("/")[2] if url.count("/") >= 2 else url


def figures(pastes: list[Paste]) -> dict[str, dict[str, float | int]]:
    """For each split (``tune``, ``held``, and ``all``): how many pastes, and the share whose
    thread's cause (or an alternate) triage ranks first (``top1``) or in its first three
    (``top3``). What ``bench/field.py`` prints and the triage page states."""
    from runbooks.triage import match_message

    out: dict[str, dict[str, float | int]] = {}
    counts: dict[str, list[int]] = {"tune": [0, 0, 0], "held": [0, 0, 0], "all": [0, 0, 0]}
    for p in pastes:
        ok = {p.cause, *p.alternates}
        got = [c.code for c in match_message(p.message)[:3]]
        hit = (1, int(bool(got) and got[0] in ok), int(bool(ok & set(got))))
        for split in {p.split, "all"} & set(counts):
            counts[split] = [a + b for a, b in zip(counts[split], hit, strict=True)]
    for split, (n, top1, top3) in counts.items():
        out[split] = {"n": n, "top1": top1 / n if n else 0.0, "top3": top3 / n if n else 0.0}
    return out
