"""Reading the user's files safely: only regular files, never more than a cap, never a wait.

Every file a runbook reads (settings files, ``NODE_EXTRA_CA_CERTS``, client certificates,
transcripts) comes through :func:`read_bytes`. A path that names a FIFO would block an
``open()`` forever, ``/dev/zero`` would fill memory, a directory or a socket is not a file:
each is refused with a :class:`FileProblem` whose message says what the path is, so the
caller can report it under its own cause code and go on.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["FileProblem", "MiB", "is_within", "read_bytes", "read_text", "shown_path"]

MiB = 1024 * 1024


class FileProblem(Exception):
    """The path cannot be read as a regular file within the cap; ``str()`` says why, in a
    phrase that fits after the path ("is a FIFO, not a regular file")."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


_KINDS = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket")]


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_bytes(path: str | os.PathLike, cap: int = MiB) -> bytes:
    """The whole content of the regular file at ``path``, if it is at most ``cap`` bytes.

    The file is opened with ``O_NONBLOCK`` (a FIFO then opens at once instead of waiting for
    a writer) and checked with ``fstat`` on the open descriptor, so what is read is what was
    checked. Raises :class:`FileProblem`."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(os.fspath(path), flags)
    except FileNotFoundError:
        raise FileProblem("does not exist", missing=True) from None
    except IsADirectoryError:
        raise FileProblem("is a directory, not a file") from None
    except OSError as exc:
        raise FileProblem(f"cannot be opened: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(f"is {_kind(st.st_mode)}, not a regular file")
        if st.st_size > cap:
            raise FileProblem(f"is {st.st_size:,} bytes, over the {cap:,}-byte limit")
        chunks, total = [], 0
        while True:  # a file that grows while we read is cut at the cap, not followed
            chunk = os.read(fd, min(64 * 1024, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise FileProblem(f"grew past the {cap:,}-byte limit while being read")
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: str | os.PathLike, cap: int = MiB, encoding: str = "utf-8") -> str:
    """:func:`read_bytes`, decoded; undecodable content is a :class:`FileProblem` too."""
    data = read_bytes(path, cap)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileProblem(f"is not {encoding} text (byte {exc.start})") from None


def shown_path(path: str | os.PathLike) -> str:
    """``/home/me/.claude/settings.json`` → ``~/.claude/settings.json``, for reports."""
    home = os.path.expanduser("~")
    p = os.fspath(path)
    if home not in ("", "/", "~") and p.startswith(home.rstrip(os.sep) + os.sep):
        return "~" + p[len(home.rstrip(os.sep)):]
    return p


def is_within(path: Path, root: Path) -> bool:
    """``path`` resolves inside ``root`` (no ``..`` or symlink escapes)."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
