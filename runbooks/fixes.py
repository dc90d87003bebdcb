"""Plan, apply, undo: the one mechanism every fix goes through.

A fix is data: the files it changes, each as the exact bytes before and after (a
:class:`FileEdit`), and why. Nothing is written until the user asks (``--apply``, or
``apply=True`` in a notebook), and then exactly the plan that was shown is written:

- **checked first**: every target is a settings file, a file in Claude Code's config folder,
  or a shell start-up file in the home folder; never a path with ``..``, never a file that is
  not a regular file, never a settings file that is not valid JSON;
- **backed up**: the file's previous content goes to ``<config>/runbooks-backups/<time>/``
  with a ``manifest.json`` saying what changed, when and why (mode 0600: a settings file can
  hold a key);
- **written atomically**: a temporary file in the same folder, flushed and fsynced, renamed
  over the target, with the target's mode kept;
- **one at a time**: a lock in the config folder; under it, each target is read again and
  must still be what the plan was made from (else: "changed since the plan", nothing
  written);
- **undoable**: ``runbooks undo`` restores the last applied change set, and refuses, saying
  which file, if any of them changed since.

A second apply of the same plan finds nothing to change and says so.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import secrets
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .files import FileProblem, MiB, read_bytes, shown_path
from .masking import mask_key, redact

__all__ = ["Applied", "FileEdit", "Fix", "Plan", "apply_plan", "backups_dir", "undo_last"]

_LOCK_WAIT_S = 10.0


@dataclass
class FileEdit:
    """One file's content before (None: the file does not exist) and after."""

    path: Path
    before: bytes | None
    after: bytes
    mode: int = 0o644  # for a new file; an existing file keeps its own
    #: values that must never appear in a shown diff (a key whose quotes a fix removes)
    hidden: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        """A unified diff, with every secret masked (a key in a settings file stays hidden)."""
        def lines(b: bytes | None) -> list[str]:
            return [] if b is None else b.decode("utf-8", "replace").splitlines(keepends=True)
        name = shown_path(self.path)
        text = "".join(difflib.unified_diff(lines(self.before), lines(self.after),
                                            "/dev/null" if self.before is None else f"a/{name}",
                                            f"b/{name}"))
        for value in sorted(self.hidden, key=len, reverse=True):
            for form in {value, json.dumps(value)[1:-1]}:  # as typed, and as JSON escapes it
                if form:
                    text = text.replace(form, mask_key(value))
        return redact(text if text.endswith("\n") or not text else text + "\n")


@dataclass
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
    env: dict[str, str] = field(default_factory=dict, repr=False)

    @property
    def applicable(self) -> bool:
        return bool(self.edits) and self.manual is None and self.blocked is None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "cause": self.cause, "summary": redact(self.summary),
                "files": [str(e.path) for e in self.edits], "manual": self.manual,
                "blocked": self.blocked, "applicable": self.applicable, "data": self.data}


@dataclass
class Plan:
    fixes: list[Fix]

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
        return {"fixes": [f.to_dict() for f in self.fixes], "diff": self.diff(),
                "files": [{"path": str(e.path), "before_sha256": _sha(e.before),
                           "after_sha256": _sha(e.after)} for e in self.edits]}


# -- where fixes may write ---------------------------------------------------------------------
def check_target(path: Path, allowed: list[Path]) -> Path:
    """``path`` must sit in one of ``allowed`` (files or folders), with no ``..`` in it, and be
    a regular file if it exists. Raises UsageError naming it."""
    if ".." in Path(path).parts:
        raise UsageError(f"refusing a path with '..' in it: {str(path)!r}")
    resolved = Path(os.path.abspath(path))
    ok = any(resolved == Path(os.path.abspath(a)) or
             Path(os.path.abspath(a)) in resolved.parents for a in allowed)
    if not ok:
        raise UsageError(f"refusing to write {str(path)!r}: outside Claude Code's settings, "
                         "its config folder and the shell's start-up files")
    if resolved.exists() and not resolved.is_file():
        raise UsageError(f"refusing to write {str(path)!r}: not a regular file")
    return resolved


def backups_dir(config_dir: Path) -> Path:
    return Path(config_dir) / "runbooks-backups"


def _sha(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _read_current(path: Path) -> bytes | None:
    try:
        return read_bytes(path, 16 * MiB)
    except FileProblem as exc:
        if exc.missing:
            return None
        raise UsageError(f"cannot read {str(path)!r}: it {exc.reason}") from None


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = stat.S_IMODE(path.stat().st_mode) if path.exists() else mode
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, keep)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # the rename itself, on disk (POSIX)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


@contextlib.contextmanager
def _locked(config_dir: Path) -> Iterator[None]:
    """One apply or undo at a time, across processes (fcntl on POSIX, msvcrt on Windows)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(config_dir / "runbooks-fix.lock", os.O_RDWR | os.O_CREAT, 0o600)
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


@dataclass
class Applied:
    folder: Path | None  # the backup folder (None: nothing was changed)
    files: list[Path]
    diff: str


def apply_plan(plan: Plan, config_dir: Path, allowed: list[Path]) -> Applied:
    """Write exactly ``plan``'s edits (see the module's rules); back up first."""
    edits = plan.edits
    for e in edits:
        check_target(e.path, allowed)
    if not edits:
        return Applied(None, [], "")
    config_dir = Path(config_dir)
    with _locked(config_dir):
        for e in edits:  # still what the plan was made from?
            if _read_current(e.path) != e.before:
                raise UsageError(f"{shown_path(e.path)} changed since the plan was made: run "
                                 "`runbooks fix` again to see the new plan")
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        folder = backups_dir(config_dir) / f"{stamp}-{secrets.token_hex(3)}"
        folder.mkdir(parents=True, mode=0o700)
        manifest: dict[str, Any] = {
            "applied_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "fixes": [{"id": f.id, "cause": f.cause, "why": redact(f.summary)}
                      for f in plan.applicable],
            "files": [], "undone_at": None}
        for i, e in enumerate(edits):
            saved = None
            if e.before is not None:
                saved = f"file-{i}"
                fd = os.open(folder / saved, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(e.before)
            manifest["files"].append({"path": str(e.path), "backup": saved,
                                      "before_sha256": _sha(e.before),
                                      "after_sha256": _sha(e.after)})
        _write_manifest(folder, manifest)
        for e in edits:
            _write_atomically(e.path, e.after, e.mode)
    return Applied(folder, [e.path for e in edits], plan.diff())


def _write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    data = (json.dumps(manifest, indent=2) + "\n").encode()
    _write_atomically(folder / "manifest.json", data, 0o600)


def _last_applied(config_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    root = backups_dir(config_dir)
    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), reverse=True):
        try:
            manifest = json.loads(read_bytes(folder / "manifest.json", MiB))
        except (FileProblem, ValueError):
            continue
        if not manifest.get("undone_at"):
            return folder, manifest
    return None


def undo_last(config_dir: Path, allowed: list[Path]) -> Applied:
    """Restore the last applied change set; refuse, naming the file, if one changed since."""
    config_dir = Path(config_dir)
    if _last_applied(config_dir) is None:  # before the lock: nothing is created for nothing
        raise UsageError("nothing to undo: no change applied by `runbooks fix --apply` is "
                         "left")
    with _locked(config_dir):
        last = _last_applied(config_dir)
        if last is None:
            raise UsageError("nothing to undo: no change applied by `runbooks fix --apply` is "
                             "left")
        folder, manifest = last
        restores = []
        for entry in manifest["files"]:
            path = check_target(Path(entry["path"]), allowed)
            now = _read_current(path)
            if _sha(now) != entry["after_sha256"]:
                raise UsageError(f"not undoing: {shown_path(path)} changed since "
                                 f"{manifest['applied_at']} (the backup is in {folder})")
            before = (read_bytes(folder / entry["backup"], 16 * MiB)
                      if entry["backup"] else None)
            restores.append((path, now, before))
        diffs = []
        for path, now, before in restores:
            if before is None:
                path.unlink()
            else:
                _write_atomically(path, before, 0o644)
            diffs.append(FileEdit(path, now, before or b"").diff())
        manifest["undone_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _write_manifest(folder, manifest)
    return Applied(folder, [p for p, _, _ in restores], "".join(diffs))
