"""Plan, apply, undo: the one mechanism every fix goes through.

A fix is data: the files it changes, each as the exact bytes before and after (a
:class:`FileEdit`), and why. Nothing is written until the user asks (``--apply``, or
``apply=True`` in a notebook), and then exactly the plan that was shown is written:

- **checked first**: every target is a settings file, a file in Claude Code's config folder,
  or a shell start-up file in the home folder; never a path with ``..``, never a file that is
  not a regular file, never a settings file that is not valid JSON. A target that is a
  symbolic link (a dotfile manager's) is edited where it points, and the link stays; a link
  to nothing, to a folder or a device, or in a loop, is refused;
- **a journal**: the set of writes is recorded before it starts, in
  ``<config>/runbooks-backups/<time>/manifest.json`` (mode 0600, folder 0700: a settings file
  can hold a key) with each file's previous content (``file-N``) and planned content
  (``after-N``); each file's completion is recorded as it happens (``pending`` →
  ``written``), and the set's state (``applying`` → ``applied`` → ``undoing`` → ``undone``).
  A process killed at any point leaves every file whole (as before, or as planned), and the
  next apply finishes the set, the next undo takes back what was written;
- **written atomically**: a temporary file beside the target, flushed and fsynced, renamed
  over it, with the target's mode kept; a new file is 0600 (it may hold a secret);
- **one at a time**: a lock in the config folder; under it, an interrupted set is recovered
  first, then each target is read again and must still be what the plan was made from
  (else: "changed since the plan", nothing written);
- **undoable**: ``runbooks undo`` restores the last applied change set: a file still as the
  set wrote it is restored, one already as before needs nothing, and any other (changed
  since) makes it refuse, naming the file;
- **shown masked**: a diff shows the values the fix changes; every other value on its lines
  is masked, its name kept (see :meth:`FileEdit.diff`); a certificate bundle shows the
  certificates added and removed, by subject and fingerprint, never their base64. Reprs name
  paths, sizes and hashes.

A second apply of the same plan finds nothing to change and says so. A write the system
refuses (a read-only file system, ``chattr +i``, a full disk) puts back what was written
before it and says so in one line.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import re
import signal
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..files import FileProblem, MiB, read_bytes, shown_path
from ..masking import mask_key, redact

__all__ = ["Applied", "FileEdit", "Fix", "Plan", "apply_plan", "backups_dir", "check_target",
           "current_content", "interrupted", "link_problem", "recover", "undo_last"]

_LOCK_WAIT_S = 10.0
_CAP = 16 * MiB  # a settings file, a start-up file, a CA bundle: never more than this
_MASK = "****"
_TMP = ".runbooks.tmp"  # the temporary file beside a target: .<name>.runbooks.tmp
_STAMP = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")  # (hex: the folders of older versions)
_OURS = re.compile(r"(file|after)-\d+|\.manifest\.json" + re.escape(_TMP))


# -- what a diff and a repr show -------------------------------------------------------------------
def _size(data: bytes | None) -> str:
    return "none" if data is None else f"{len(data)} bytes sha256:{_sha(data)[:12]}"


def _kind(path: Path) -> str:
    """How a file's lines are masked in a diff: a settings file, a certificate bundle, or a
    shell start-up file (anything else is masked like one)."""
    suffix = path.suffix.lower()
    return "json" if suffix == ".json" else "pem" if suffix in (".pem", ".crt", ".cer") \
        else "shell"


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_KEY_END = re.compile(r"\s*:")


def _leaves(data: bytes | None) -> dict[tuple, Any] | None:
    """Every scalar of a JSON document by its path (None: not JSON; no file: empty)."""
    if not data or not data.strip():
        return {}
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    out: dict[tuple, Any] = {}

    def walk(node: Any, where: tuple) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*where, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*where, i))
        else:
            out[where] = node
    walk(doc, ())
    return out


def _changed_names(before: bytes | None, after: bytes | None) -> set[str]:
    """The names whose values differ between the two documents: the values a diff shows."""
    a, b = _leaves(before), _leaves(after)
    if a is None or b is None:
        return set()
    gone = object()
    return {p[-1] for p in set(a) | set(b) if a.get(p, gone) != b.get(p, gone)
            and p and isinstance(p[-1], str)}


def _mask_json_line(line: str, shown: set[str]) -> str:
    """``"NAME": "value"`` → ``"NAME": "****"`` unless NAME is one the fix changes; a string
    that is not a member's value (an array's) is masked too, and so is everything after a
    quote that does not close."""
    out, i, key = [], 0, None
    while i < len(line):
        c = line[i]
        if c != '"':
            if c in ",{}[]":
                key = None
            out.append(c)
            i += 1
            continue
        m = _JSON_STRING.match(line, i)
        if m is None:
            eol = line[len(line.rstrip("\r\n")):]
            out.append(f'"{_MASK}{eol}')
            break
        if _JSON_KEY_END.match(line, m.end()):
            try:
                key = json.loads(m.group(0))
            except ValueError:
                key = None
            out.append(m.group(0))
        else:
            out.append(m.group(0) if key in shown else f'"{_MASK}"')
            key = None
        i = m.end()
    return "".join(out)


_ASSIGN = re.compile(r"^(\s*(?:export\s+|declare\s+-x\s+|typeset\s+-x\s+|readonly\s+)?)"
                     r"([A-Za-z_][A-Za-z0-9_]*)=")
_FISH_SET = re.compile(r"^(\s*set\s+(?:-{1,2}[A-Za-z]+\s+)*)([A-Za-z_][A-Za-z0-9_]*)\b")
_SETENV = re.compile(r"^(\s*setenv\s+)([A-Za-z_][A-Za-z0-9_]*)\b")


def _shell_assignment(text: str) -> tuple[str, str] | None:
    """(what comes before the value, the variable) of an assignment line, else None."""
    for pattern, sep in ((_ASSIGN, "="), (_FISH_SET, " "), (_SETENV, " ")):
        m = pattern.match(text)
        if m:
            return m.group(1) + m.group(2) + sep, m.group(2)
    return None


def _mask_shell_lines(lines: list[str]) -> list[str]:
    """The runbooks block's own lines as they are (never a secret: see :mod:`shellblock`);
    any other line of the user's file masked: an assignment keeps its variable's name."""
    from . import shellblock

    out, inside = [], False
    for line in lines:
        text = line.rstrip("\r\n")
        eol = line[len(text):]
        if text.strip() in (shellblock.BEGIN, shellblock.END):
            inside = text.strip() == shellblock.BEGIN
            out.append(line)
            continue
        assignment = _shell_assignment(text)
        ours = inside and (text == shellblock.COMMENT or
                           assignment is not None and assignment[1] in shellblock.ALLOWED)
        if ours or not text.strip():
            out.append(line)
        elif assignment is not None:
            out.append(assignment[0] + _MASK + eol)
        else:
            out.append("…" + eol)
    return out


def _mask_pem_lines(lines: list[str]) -> list[str]:
    """Certificates are public; any other PEM block (a private key) is not shown."""
    out, hiding = [], False
    for line in lines:
        text = line.strip()
        if text.startswith("-----BEGIN ") and "CERTIFICATE" not in text:
            hiding = True
            out.append(line)
        elif text.startswith("-----END "):
            hiding = False
            out.append(line)
        else:
            out.append(("…" + line[len(line.rstrip("\r\n")):]) if hiding else line)
    return out


#: a run of more certificates than this, added or removed together (a whole system bundle
#: kept in a new one), is shown by its first two and a count
_PEM_RUN = 5


def _pem_items(data: bytes | None) -> list[tuple[str, Any]] | None:
    """A certificate bundle in file order: ``("cert", DER)`` for each ``CERTIFICATE`` block
    (``b""``: one that does not decode), ``("text", line)`` for each other line that is not
    blank, masked as :func:`_mask_pem_lines` masks (a private key's body is never shown).
    None: content with no certificate block (not a bundle: it is diffed line by line)."""
    from ..probes.inspection import pem_spans

    if not data:
        return []
    spans = pem_spans(data)
    if not spans:
        return None
    items: list[tuple[str, Any]] = []

    def text(chunk: bytes) -> None:
        lines = [line + "\n" for line in chunk.decode("utf-8", "replace").splitlines()]
        items.extend(("text", line.rstrip("\n")) for line in _mask_pem_lines(lines)
                     if line.strip())

    pos = 0
    for start, end, der in spans:
        text(data[pos:start])
        items.append(("cert", der))
        pos = end
    text(data[pos:])
    return items


def _cert_facts(der: bytes):
    """(subject, SHA-256 fingerprint) of one block; the subject is None when it does not
    parse."""
    from ..probes.inspection import CertFacts

    digest = hashlib.sha256(der).hexdigest().upper()
    fingerprint = ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))
    try:
        subject = CertFacts(der).subject if der else None
    except ValueError:
        subject = None
    return subject, fingerprint


def _cert_line(der: bytes) -> str:
    if not der:
        return "a certificate block that does not decode (not base64)"
    subject, fingerprint = _cert_facts(der)
    what = "a certificate that does not parse" if subject is None else subject or "(no subject)"
    return f"{what} (SHA-256 {fingerprint[:23]}…)"


def _pem_changes(before: list[tuple[str, Any]], after: list[tuple[str, Any]]
                 ) -> tuple[set[int], set[int]]:
    """Which items of ``before`` are gone and which of ``after`` are new: a certificate by its
    DER (moved is not changed; a second copy is), a text line as a line diff finds it."""
    from collections import Counter

    def gone(items: list[tuple[str, Any]], other: list[tuple[str, Any]]) -> set[int]:
        left = Counter(v for k, v in other if k == "cert")
        out = set()
        for i, (k, v) in enumerate(items):
            if k == "cert":
                if left[v] > 0:
                    left[v] -= 1
                else:
                    out.add(i)
        return out

    removed, added = gone(before, after), gone(after, before)
    bt = [(i, v) for i, (k, v) in enumerate(before) if k == "text"]
    at = [(i, v) for i, (k, v) in enumerate(after) if k == "text"]
    matcher = difflib.SequenceMatcher(None, [v for _, v in bt], [v for _, v in at])
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("delete", "replace"):
            removed |= {bt[x][0] for x in range(i1, i2)}
        if tag in ("insert", "replace"):
            added |= {at[x][0] for x in range(j1, j2)}
    return removed, added


def _pem_lines(sign: str, items: list[tuple[str, Any]], chosen: set[int]) -> list[str]:
    """The chosen items, in file order: a text line as it is, a certificate as its subject
    and fingerprint; a run of more than ``_PEM_RUN`` certificates by its first two and a
    count."""
    out: list[str] = []
    run: list[bytes] = []

    def flush() -> None:
        shown = run if len(run) <= _PEM_RUN else run[:2]
        out.extend(f"{sign} {_cert_line(der)}\n" for der in shown)
        if len(run) > len(shown):
            out.append(f"{sign} … and {len(run) - len(shown)} more certificates\n")
        run.clear()

    for i, (kind, value) in enumerate(items):
        if i not in chosen:
            continue
        if kind == "cert":
            run.append(value)
        else:
            flush()
            out.append(f"{sign}{value}\n")
    flush()
    return out


def _link_note(path: Path) -> str:
    if not path.is_symlink():
        return ""
    return (f"{shown_path(path)} → {shown_path(os.path.realpath(path))} (a link: the file it "
            "points to is written, the link stays)\n")


@dataclass(repr=False)
class FileEdit:
    """One file's content before (None: the file does not exist) and after."""

    path: Path
    before: bytes | None
    after: bytes
    mode: int = 0o600  # for a new file (it may hold a secret); an existing file keeps its own
    #: values that must never appear in a shown diff (a key whose quotes a fix removes)
    hidden: tuple[str, ...] = ()

    def __repr__(self) -> str:  # never the content: a settings file can hold a key
        return (f"FileEdit({shown_path(self.path)!r}, before={_size(self.before)}, "
                f"after={_size(self.after)})")

    @property
    def changes(self) -> bool:
        return self.before != self.after

    def _shown_lines(self, data: bytes | None, kind: str, names: set[str]) -> list[str]:
        lines = [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)
        if kind == "json":
            return [_mask_json_line(line, names) for line in lines]
        if kind == "pem":
            return _mask_pem_lines(lines)
        return _mask_shell_lines(lines)

    def _pem(self) -> tuple[list, list] | None:
        """Both sides as certificate bundles (:func:`_pem_items`), or None when this is no
        edit of one."""
        if _kind(self.path) != "pem":
            return None
        before, after = _pem_items(self.before), _pem_items(self.after)
        if before is None or after is None or not any(k == "cert" for k, _ in before + after):
            return None
        return before, after

    def certificates(self) -> dict[str, list[dict[str, str | None]]] | None:
        """A bundle's certificates added and removed, each by subject and fingerprint (None:
        not a certificate bundle). For the JSON plan: every one, where the diff counts."""
        pem = self._pem()
        if pem is None:
            return None
        before, after = pem
        removed, added = _pem_changes(before, after)

        def rows(items: list, chosen: set[int]) -> list[dict[str, str | None]]:
            out = []
            for i in sorted(chosen):
                if items[i][0] == "cert":
                    der = items[i][1]
                    subject, fingerprint = _cert_facts(der)
                    out.append({"subject": subject, "sha256": fingerprint if der else None})
            return out
        return {"added": rows(after, added), "removed": rows(before, removed)}

    def _pem_diff(self, before: list, after: list) -> list[str]:
        """A certificate bundle's diff: how many certificates before and after, then what is
        gone (``-``) and what is new (``+``), certificates by subject and fingerprint, other
        lines (comments) as they are. Never a line of base64."""
        removed, added = _pem_changes(before, after)
        certs = [sum(k == "cert" for k, _ in side) for side in (before, after)]

        def count(items: list, chosen: set[int]) -> int:
            return sum(items[i][0] == "cert" for i in chosen)
        head = (f"@@ certificates: {certs[0]} before, {certs[1]} after; {count(after, added)} "
                f"added, {count(before, removed)} removed @@\n")
        out = [head]
        out += _pem_lines("-", before, removed) + _pem_lines("+", after, added)
        if not removed and not added:
            out.append(" (only blank lines or line endings differ)\n")
        return out

    def diff(self) -> str:
        """A unified diff of what the fix changes, and nothing else: in a settings file every
        value the fix does not change is masked, its name kept (context lines and changed
        lines alike); in a shell start-up file only the runbooks block's lines are shown (no
        context lines; any other line that changes is masked); a certificate bundle shows the
        certificates added and removed by subject and fingerprint, and their count, never
        base64 (see :meth:`_pem_diff`). Every secret is masked too (a key in a settings file
        stays hidden). A symlinked file says where it points."""
        kind = _kind(self.path)
        names = _changed_names(self.before, self.after) if kind == "json" else set()
        name = shown_path(self.path)
        out = []
        heads = ("/dev/null" if self.before is None else f"a/{name}", f"b/{name}")
        pem = self._pem() if self.changes else None
        if pem is not None:
            out = [f"--- {heads[0]}\n", f"+++ {heads[1]}\n", *self._pem_diff(*pem)]
        for line in [] if pem is not None else difflib.unified_diff(
                self._shown_lines(self.before, kind, names),
                self._shown_lines(self.after, kind, names), *heads,
                n=0 if kind == "shell" else 3):
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
        text = "".join(out)
        for value in sorted(self.hidden, key=len, reverse=True):
            for form in {value, json.dumps(value)[1:-1]}:  # as typed, and as JSON escapes it
                if form:
                    text = text.replace(form, mask_key(value))
        return redact(_link_note(self.path) + text) if text else ""


@dataclass(repr=False)
class Fix:
    """One remedy for one cause: the edits that apply it, or why it is only shown."""

    id: str
    cause: str
    summary: str  # what it does, and why (one line)
    edits: list[FileEdit] = field(default_factory=list)
    manual: str | None = None  # instead of edits: what to do by hand (never applied)
    blocked: str | None = None  # edits exist, but need something first (a confirmation)
    covers: tuple[str, ...] = ()  # other causes that are this one's consequences
    data: dict[str, Any] = field(default_factory=dict)  # facts a caller needs (a fingerprint)
    #: the variables it sets (for ``--shell``); never shown, never in JSON (a proxy password)
    env: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # names and files only: see :meth:`Plan.render` for the rest
        state = "applicable" if self.applicable else "needs" if self.blocked else "by hand"
        return (f"Fix({self.id!r}, {self.cause!r}, {state}, "
                f"files={[shown_path(e.path) for e in self.edits]!r})")

    @property
    def applicable(self) -> bool:
        return bool(self.edits) and self.manual is None and self.blocked is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cause": self.cause, "summary": redact(self.summary),
                "files": [str(e.path) for e in self.edits],
                "manual": None if self.manual is None else redact(self.manual),
                "blocked": None if self.blocked is None else redact(self.blocked),
                "applicable": self.applicable, "data": self.data}


@dataclass(repr=False)
class Plan:
    fixes: list[Fix]

    def __repr__(self) -> str:  # a notebook's text/plain: the masked rendering
        return self.render()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython's text/plain
        p.text(self.render())

    @property
    def applicable(self) -> list[Fix]:
        return [f for f in self.fixes if f.applicable]

    @property
    def edits(self) -> list[FileEdit]:
        """Every file change, merged per file in plan order (one file, one edit)."""
        merged: dict[Path, FileEdit] = {}
        for f in self.applicable:
            for e in f.edits:
                if e.path in merged:
                    prev = merged[e.path]
                    merged[e.path] = FileEdit(e.path, prev.before, e.after, e.mode,
                                              prev.hidden + e.hidden)
                else:
                    merged[e.path] = e
        return [e for e in merged.values() if e.changes]

    def diff(self) -> str:
        return "".join(e.diff() for e in self.edits)

    def render(self) -> str:
        """The plan as the terminal shows it: each fix, then the diff of every file."""
        if not self.fixes:
            return "Nothing to fix: no finding has a fix that can be applied here."
        out = []
        for f in self.fixes:
            if f.applicable:
                out.append(f"[fix] {f.id} ({f.cause}): {redact(f.summary)}")
            elif f.blocked:
                out.append(f"[needs] {f.id} ({f.cause}): {redact(f.summary)}\n"
                           f"    {redact(f.blocked)}")
            else:
                out.append(f"[by hand] {f.id} ({f.cause}): {redact(f.summary)}\n"
                           f"    {redact(f.manual or '')}")
        diff = self.diff()
        if diff:
            out += ["", diff.rstrip("\n")]
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        """In a notebook: each fix, then the diff in a code block."""
        if not self.fixes:
            return "*Nothing to fix: no finding of this runbook has a fix.*"
        lines = []
        for f in self.fixes:
            how = ("will be applied with `apply=True`" if f.applicable else
                   f"needs: {redact(f.blocked)}" if f.blocked else f"by hand: {redact(f.manual or '')}")
            lines.append(f"- **{f.id}** (`{f.cause}`): {redact(f.summary)} — {how}")
        diff = self.diff()
        if diff:
            lines += ["", "```diff", diff.rstrip("\n"), "```"]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        files = []
        for e in self.edits:
            entry: dict[str, Any] = {"path": str(e.path), "before_sha256": _sha(e.before),
                                     "after_sha256": _sha(e.after)}
            certificates = e.certificates()
            if certificates is not None:
                entry["certificates"] = certificates
            files.append(entry)
        return {"fixes": [f.to_dict() for f in self.fixes], "diff": self.diff(), "files": files}


@dataclass(repr=False)
class Applied:
    folder: Path | None  # the backup folder (None: nothing was changed)
    files: list[Path]
    diff: str
    #: what an interrupted apply or undo left, and what was done about it (empty: nothing)
    recovered: str = ""

    def __repr__(self) -> str:
        return (f"Applied(folder={None if self.folder is None else str(self.folder)!r}, "
                f"files={[shown_path(p) for p in self.files]!r})")


# -- where fixes may write ---------------------------------------------------------------------
def link_problem(path: Path) -> str | None:
    """Why the symbolic link at ``path`` cannot be edited through, as a phrase that fits
    after the path (None: not a link, or a link to a regular file)."""
    path = Path(path)
    if not path.is_symlink():
        return None
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return f"is a link to {shown_path(os.path.realpath(path))}, which does not exist"
    except (RuntimeError, OSError):
        return "is a link that loops"
    if not real.is_file():
        return f"is a link to {shown_path(real)}, which is not a regular file"
    return None


def check_target(path: Path, allowed: list[Path]) -> Path:
    """``path`` must sit in one of ``allowed`` (files or folders), with no ``..`` in it, and be
    a regular file if it exists; a link must point to a regular file (anywhere: a dotfiles
    folder is fine, since the link itself is in an allowed place). Raises UsageError naming
    it."""
    if ".." in Path(path).parts:
        raise UsageError(f"refusing a path with '..' in it: {str(path)!r}")
    resolved = Path(os.path.abspath(path))
    ok = any(resolved == Path(os.path.abspath(a)) or
             Path(os.path.abspath(a)) in resolved.parents for a in allowed)
    if not ok:
        raise UsageError(f"refusing to write {str(path)!r}: outside Claude Code's settings, "
                         "its config folder and the shell's start-up files")
    problem = link_problem(resolved)
    if problem:
        raise UsageError(f"refusing to write {shown_path(path)}: it {problem}")
    if resolved.exists() and not resolved.is_file():
        raise UsageError(f"refusing to write {str(path)!r}: not a regular file")
    return resolved


def current_content(path: Path) -> bytes | None:
    """What a plan is made from: the bytes of the file at ``path`` (through a link), None
    when there is none yet. Raises :class:`FileProblem` (a phrase that fits after the path)
    for a link that cannot be edited, a folder, a FIFO, a file over 16 MiB."""
    problem = link_problem(path)
    if problem:
        raise FileProblem(problem)
    try:
        return read_bytes(path, _CAP)
    except FileProblem as exc:
        if exc.missing:
            return None
        raise


def backups_dir(config_dir: Path) -> Path:
    return Path(config_dir) / "runbooks-backups"


def _sha(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _read_current(path: Path) -> bytes | None:
    try:
        return read_bytes(path, _CAP)
    except FileProblem as exc:
        if exc.missing:
            return None
        raise UsageError(f"cannot read {shown_path(path)}: it {exc.reason}") from None


# -- writing ----------------------------------------------------------------------------------
_points = 0


def _point() -> None:
    """A write point of the journal (between two steps that reach the disk). Inert unless a
    test sets ``RUNBOOKS_TEST_CRASH_AT=N`` (this process SIGKILLs itself at the Nth point) or
    ``RUNBOOKS_TEST_WRITE_DELAY=S`` (each point waits S seconds, a slow disk, so that a kill
    from outside lands between writes)."""
    global _points
    crash = os.environ.get("RUNBOOKS_TEST_CRASH_AT", "")
    delay = os.environ.get("RUNBOOKS_TEST_WRITE_DELAY", "")
    if not crash and not delay:
        return
    _points += 1
    with contextlib.suppress(ValueError):
        time.sleep(min(float(delay or 0), 5.0))
    if crash.isdigit() and _points == int(crash):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def _real(path: Path) -> Path:
    """Where a write to ``path`` goes: the file a link points to (the link stays)."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def _tmp_for(real: Path) -> Path:
    return real.parent / f".{real.name}{_TMP}"


def _make_folders(folder: Path) -> None:
    """``folder`` and any missing parent, each 0700 (a new folder of Claude Code's config)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError, AttributeError):  # the rename itself, on disk (POSIX)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _write_atomically(path: Path, data: bytes, mode: int = 0o600) -> None:
    """``data`` into the file at ``path`` (through a link), atomically: a temporary file
    beside it, fsynced, then renamed over it. An existing file keeps its mode; a new one
    gets ``mode``. A stray temporary file from a killed run is replaced."""
    real = _real(path)
    _make_folders(real.parent)
    keep = stat.S_IMODE(real.stat().st_mode) if real.exists() else mode
    tmp = _tmp_for(real)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep)
        _point()  # the temporary file is on disk, the target not replaced yet
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(real.parent)
    _point()  # the target replaced


def _remove(path: Path) -> None:
    """Undo of a file the fix created: it goes (a link put there since: the link only)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    _fsync_dir(path.parent)
    _point()


@contextlib.contextmanager
def _locked(config_dir: Path) -> Iterator[None]:
    """One apply or undo at a time, across processes (fcntl on POSIX, msvcrt on Windows).
    The config folder is created (0700) only inside a folder that exists: a HOME that does
    not exist is never created."""
    try:
        if not config_dir.is_dir():
            if not config_dir.parent.is_dir():
                raise UsageError(f"{shown_path(config_dir.parent)} does not exist: it is not "
                                 "created, and nothing was written")
            config_dir.mkdir(mode=0o700)
        fd = os.open(config_dir / "runbooks-fix.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise UsageError(f"cannot write in {shown_path(config_dir)} ({exc.strerror or exc}): "
                         "nothing was changed") from None
    deadline = time.monotonic() + _LOCK_WAIT_S
    try:
        while True:
            try:
                _try_lock(fd)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise UsageError("another `runbooks fix --apply` or `undo` is running: "
                                     "try again when it is done") from None
                time.sleep(0.05)
        yield
    finally:
        with contextlib.suppress(OSError):
            _unlock(fd)
        os.close(fd)


def _try_lock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


# -- the journal ------------------------------------------------------------------------------
def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _save(folder: Path, manifest: dict[str, Any]) -> None:
    data = (json.dumps(manifest, indent=2) + "\n").encode()
    _write_atomically(folder / "manifest.json", data, 0o600)


def _state(manifest: dict[str, Any]) -> str:
    """``applying``, ``applied``, ``undoing`` or ``undone`` (a manifest from before the
    journal: applied, or undone when it says so)."""
    return manifest.get("state") or ("undone" if manifest.get("undone_at") else "applied")


def _sets(config_dir: Path) -> Iterator[tuple[Path, dict[str, Any] | None]]:
    """Every change set, newest first, with its manifest (None: the folder has none, a run
    killed while it wrote the backups). A manifest that cannot be read is skipped."""
    root = backups_dir(config_dir)
    if not root.is_dir():
        return
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        try:
            manifest = json.loads(read_bytes(folder / "manifest.json", MiB))
        except FileProblem as exc:
            if exc.missing:
                yield folder, None
            continue
        except ValueError:
            continue
        if isinstance(manifest, dict) and isinstance(manifest.get("files"), list):
            yield folder, manifest


def _discard(folder: Path) -> None:
    """A backup folder of ours that holds no change set (nothing of it was written): gone.
    Only its own files are removed; anything else keeps the folder."""
    if not _STAMP.fullmatch(folder.name):
        return
    with contextlib.suppress(OSError):
        (folder / "manifest.json").unlink(missing_ok=True)
        for p in folder.iterdir():
            if _OURS.fullmatch(p.name):
                p.unlink()
        folder.rmdir()


def _clean_temps(folder: Path, manifest: dict[str, Any]) -> None:
    for p in [folder / "manifest.json", *(Path(e["path"]) for e in manifest["files"])]:
        with contextlib.suppress(OSError):
            _tmp_for(_real(p)).unlink(missing_ok=True)


def _where(entry: dict[str, Any]) -> str:
    return shown_path(entry["path"])


def _at(entry: dict[str, Any], allowed: list[Path], refused: str, folder: Path,
        when: str) -> tuple[Path, str, bytes | None]:
    """(the path, ``before`` or ``after``, its content now) for one file of a set; anything
    else than the two is a change made since, and ``refused`` the whole step."""
    path = check_target(Path(entry["path"]), allowed)
    now = _read_current(path)
    sha = _sha(now)
    if sha == entry["after_sha256"]:
        return path, "after", now
    if sha == entry["before_sha256"]:
        return path, "before", now
    raise UsageError(f"{refused}: {_where(entry)} changed since {when} (the backup is in "
                     f"{folder})")


def _copy(folder: Path, name: str | None, sha: str | None, what: str,
          nothing: str = "nothing was restored") -> bytes | None:
    """A stored copy (a backup, a planned content), checked against its hash; ``what``
    names it in the refusal, ``nothing`` says what that leaves."""
    if name is None:
        return None
    try:
        data = read_bytes(folder / name, _CAP)
    except FileProblem as exc:
        why = "missing" if exc.missing else f"unreadable (it {exc.reason})"
        raise UsageError(f"{what} ({folder / name}) is {why}: {nothing}") from None
    if _sha(data) != sha:
        raise UsageError(f"{what} ({folder / name}) is damaged (its SHA-256 is not the one "
                         f"recorded): {nothing}")
    return data


def _take_back(folder: Path, manifest: dict[str, Any], allowed: list[Path],
               refused: str) -> Applied:
    """Restore every file of the set that is as the set wrote it; one already as before needs
    nothing; any other refuses the whole undo, writing nothing (``refused`` says which)."""
    when = manifest.get("applied_at", "?")
    todo = []
    for entry in manifest["files"]:
        path, at, now = _at(entry, allowed, refused, folder, when)
        if at == "after":
            before = _copy(folder, entry.get("backup"), entry["before_sha256"],
                           f"{refused}: the backup of {_where(entry)}")
            todo.append((entry, path, now, before))
    restoring = {id(t[0]) for t in todo}
    for entry in manifest["files"]:  # as before already: nothing to do for those
        if id(entry) not in restoring:
            entry["state"] = "restored"
    manifest["state"] = "undoing"
    _save(folder, manifest)
    diffs, restored = [], []
    for n, (entry, path, now, before) in enumerate(todo):
        if before is None:
            _remove(path)
        else:
            _write_atomically(path, before, entry.get("mode", 0o600))
        entry["state"] = "restored"
        restored.append(path)
        diffs.append(FileEdit(path, now, before or b"").diff())
        if n < len(todo) - 1:
            _save(folder, manifest)
    manifest["state"] = "undone"
    manifest["undone_at"] = _now()
    _save(folder, manifest)
    return Applied(folder, restored, "".join(diffs))


def _finish(folder: Path, manifest: dict[str, Any], allowed: list[Path]) -> Applied:
    """An interrupted apply, finished: each file not written yet gets its planned content."""
    when = manifest.get("applied_at", "?")
    refused = f"cannot finish the apply interrupted at {when}"
    todo = []
    for entry in manifest["files"]:
        path, at, now = _at(entry, allowed, refused, folder, when)
        if at == "before":
            after = _copy(folder, entry.get("planned"), entry["after_sha256"],
                          f"{refused}: the planned content of {_where(entry)}",
                          "nothing was written; `runbooks undo` takes it back")
            todo.append((entry, path, now, after))
        else:
            entry["state"] = "written"
    written, diffs = [], []
    for n, (entry, path, now, after) in enumerate(todo):
        if after is None:
            raise UsageError(f"{refused}: the planned content of {_where(entry)} was not "
                             "recorded; `runbooks undo` takes it back")
        _write_atomically(path, after, entry.get("mode", 0o600))
        entry["state"] = "written"
        written.append(path)
        diffs.append(FileEdit(path, now, after).diff())
        if n < len(todo) - 1:
            _save(folder, manifest)
    manifest["state"] = "applied"
    _save(folder, manifest)
    return Applied(folder, written, "".join(diffs))


def _recover(config_dir: Path, allowed: list[Path], forward: bool) -> Applied | None:
    """Under the lock, before anything else: a set whose apply was interrupted is finished
    (``forward``: a second apply) or taken back (an undo); a set whose undo was interrupted
    is taken back either way. Stray temporary files go, and backup folders without a
    manifest (a run killed before it recorded anything: no file was touched)."""
    done = None
    for folder, manifest in list(_sets(config_dir)):
        if manifest is None:
            _discard(folder)
            continue
        state = _state(manifest)
        if state not in ("applying", "undoing"):
            continue
        _clean_temps(folder, manifest)
        when = manifest.get("applied_at")
        if state == "applying" and forward:
            result = _finish(folder, manifest, allowed)
            result.recovered = (f"finished the apply interrupted at {when}: "
                                f"{_count(result.files)} written")
        else:
            what = "apply" if state == "applying" else "undo"
            result = _take_back(folder, manifest, allowed, f"not undoing the interrupted {what}")
            result.recovered = (f"took back the apply interrupted at {when}" if what == "apply"
                                else f"finished the interrupted undo of the change set of {when}")
        done = done or result
    return done


def _count(files: list[Path]) -> str:
    return f"{len(files)} file(s)" + (f" ({', '.join(shown_path(p) for p in files)})"
                                      if files else "")


def interrupted(config_dir: Path) -> str | None:
    """A line saying an apply or undo was interrupted and is not finished (None: none is);
    nothing is written."""
    for _folder, manifest in _sets(Path(config_dir)):
        if manifest is None:
            continue
        when = manifest.get("applied_at")
        if _state(manifest) == "applying":
            return (f"an apply interrupted at {when} is not finished: `runbooks fix --apply` "
                    "finishes it, `runbooks undo` takes it back")
        if _state(manifest) == "undoing":
            return (f"an undo of the change set of {when} was interrupted: `runbooks undo` "
                    "finishes it")
    return None


def recover(config_dir: Path, allowed: list[Path], forward: bool = True) -> Applied | None:
    """Recover an interrupted apply or undo (see :func:`_recover`), under the lock; None when
    there was nothing to recover. ``runbooks fix --apply`` calls it before it plans."""
    config_dir = Path(config_dir)
    if not any(True for _ in _sets(config_dir)):
        return None
    with _locked(config_dir), _refusals():
        return _recover(config_dir, allowed, forward)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """A write the system refuses (read-only, immutable, no space) is one line, not a
    traceback; the journal stays as it was, for the next run to recover."""
    try:
        yield
    except OSError as exc:
        where = shown_path(exc.filename) if exc.filename else "a file"
        raise UsageError(f"cannot write {where} ({exc.strerror or exc}): stopped; the next "
                         "`runbooks fix --apply` or `runbooks undo` picks up from here") from None


def _begin(config_dir: Path, plan: Plan, edits: list[FileEdit]) -> tuple[Path, dict[str, Any]]:
    """The change set's folder: each file's content before and as planned, then the manifest
    that records the intent (every file ``pending``). Nothing is written to a target yet."""
    now = time.time()  # <UTC time>-<microseconds>: two sets in one second still sort in order
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    folder = backups_dir(config_dir) / f"{stamp}-{int(now * 1e6) % 1_000_000:06d}"
    manifest: dict[str, Any] = {
        "version": 2, "state": "applying", "applied_at": _now(),
        "fixes": [{"id": f.id, "cause": f.cause, "why": redact(f.summary)}
                  for f in plan.applicable],
        "files": [], "undone_at": None}
    try:
        _make_folders(folder.parent)
        folder.mkdir(mode=0o700)
        for i, e in enumerate(edits):
            entry: dict[str, Any] = {"path": str(e.path), "state": "pending", "mode": e.mode,
                                     "backup": None, "planned": f"after-{i}",
                                     "before_sha256": _sha(e.before),
                                     "after_sha256": _sha(e.after)}
            if e.path.is_symlink():
                entry["target"] = str(_real(e.path))
            if e.before is not None:
                entry["backup"] = f"file-{i}"
                _store(folder / entry["backup"], e.before)
            _store(folder / entry["planned"], e.after)
            manifest["files"].append(entry)
        _fsync_dir(folder)
        _point()  # the copies are on disk, the intent not recorded yet
        _save(folder, manifest)
    except OSError as exc:
        _discard(folder)
        raise UsageError(f"cannot back up to {shown_path(folder.parent)} "
                         f"({exc.strerror or exc}): nothing was changed") from None
    return folder, manifest


def _store(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def apply_plan(plan: Plan, config_dir: Path, allowed: list[Path]) -> Applied:
    """Write exactly ``plan``'s edits (see the module's rules), as a journal."""
    edits = plan.edits
    for e in edits:
        check_target(e.path, allowed)
    if not edits:
        return Applied(None, [], "")
    config_dir = Path(config_dir)
    with _locked(config_dir):
        with _refusals():
            recovered = _recover(config_dir, allowed, forward=True)
        for e in edits:  # still what the plan was made from?
            if _read_current(e.path) != e.before:
                first = f"{recovered.recovered} first; " if recovered else ""
                raise UsageError(f"{first}{shown_path(e.path)} changed since the plan was "
                                 "made: run `runbooks fix` again to see the new plan")
        folder, manifest = _begin(config_dir, plan, edits)
        for i, e in enumerate(edits):
            try:
                _write_atomically(e.path, e.after, e.mode)
            except OSError as exc:
                raise _stopped(folder, manifest, e.path, exc, allowed) from None
            manifest["files"][i]["state"] = "written"
            if i == len(edits) - 1:
                manifest["state"] = "applied"
            with _refusals():
                _save(folder, manifest)
    return Applied(folder, [e.path for e in edits], plan.diff(),
                   recovered.recovered if recovered else "")


def _stopped(folder: Path, manifest: dict[str, Any], path: Path, exc: OSError,
             allowed: list[Path]) -> UsageError:
    """A write refused half way: the files written before it are put back and the set is
    discarded (it never happened); if even that fails, the journal stays for the next run."""
    why = f"{shown_path(path)} cannot be written ({exc.strerror or exc})"
    try:
        for entry in manifest["files"]:
            if entry["state"] != "written" and _sha(_read_current(Path(entry["path"]))) != \
                    entry["after_sha256"]:
                continue
            before = _copy(folder, entry.get("backup"), entry["before_sha256"], "the backup",
                           "")
            if before is None:
                _remove(Path(entry["path"]))
            else:
                _write_atomically(Path(entry["path"]), before, entry.get("mode", 0o600))
    except (OSError, UsageError):
        return UsageError(f"{why}; the apply stopped half way: `runbooks undo` takes back "
                          f"what was written, `runbooks fix --apply` finishes it ({folder})")
    _discard(folder)
    return UsageError(f"{why}: nothing was changed")


def _last_applied(config_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    for folder, manifest in _sets(config_dir):
        if manifest is not None and _state(manifest) != "undone":
            return folder, manifest
    return None


def undo_last(config_dir: Path, allowed: list[Path]) -> Applied:
    """Restore the last applied change set (or take back an interrupted one: that is the
    undo); refuse, naming the file, if one changed since."""
    config_dir = Path(config_dir)
    nothing = "nothing to undo: no change applied by `runbooks fix --apply` is left"
    if _last_applied(config_dir) is None:  # before the lock: nothing is created for nothing
        raise UsageError(nothing)
    with _locked(config_dir), _refusals():
        done = _recover(config_dir, allowed, forward=False)
        if done is not None:
            return done
        last = _last_applied(config_dir)
        if last is None:
            raise UsageError(nothing)
        folder, manifest = last
        return _take_back(folder, manifest, allowed, "not undoing")
