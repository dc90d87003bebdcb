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
from typing import Self

__all__ = ["FileProblem", "LineReader", "MiB", "is_within", "read_bytes", "read_text",
           "shown_path"]

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


def _open_regular(path: str | os.PathLike) -> tuple[int, os.stat_result]:
    """An open descriptor on the regular file at ``path`` and its ``fstat``; raises
    :class:`FileProblem` for anything else (the descriptor is closed then)."""
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
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_bytes(path: str | os.PathLike, cap: int = MiB) -> bytes:
    """The whole content of the regular file at ``path``, if it is at most ``cap`` bytes.

    The file is opened with ``O_NONBLOCK`` (a FIFO then opens at once instead of waiting for
    a writer) and checked with ``fstat`` on the open descriptor, so what is read is what was
    checked. Raises :class:`FileProblem`."""
    fd, st = _open_regular(path)
    try:
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


class LineReader:
    """The lines of a regular file, one at a time, within two caps: a file too big to read
    whole (a long transcript) and lines too long to hold (a tool's output).

    ``with LineReader(path) as lines: for line, whole in lines: …`` yields each line without
    its newline and ``whole=True``; a line over ``line_cap`` bytes is never held: only its
    first ``head`` bytes are yielded, with ``whole=False``, and the rest is skipped. A file
    over ``cap`` bytes is read from its last ``cap`` bytes (``tail``, where the newest
    records are; the first, partial line is dropped) or its first. Memory stays within
    ``line_cap`` plus one 64 KiB chunk. Opening raises :class:`FileProblem` (the same
    semantics as :func:`read_bytes`: only regular files, never a wait on a FIFO)."""

    CHUNK = 64 * 1024

    def __init__(self, path: str | os.PathLike, cap: int = 64 * MiB, line_cap: int = MiB,
                 head: int = 1024, tail: bool = True) -> None:
        self.fd, st = _open_regular(path)
        self.size, self.mtime = st.st_size, st.st_mtime
        self.cap, self.line_cap, self.head, self.tail = cap, line_cap, head, tail
        #: bytes of the file that were not read (over ``cap``)
        self.skipped = max(0, self.size - cap)
        #: lines over ``line_cap`` (yielded as their head only)
        self.long_lines = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _start(self) -> bool:
        """Seek to where reading starts; True when the first line read is partial."""
        if not (self.skipped and self.tail):
            return False
        os.lseek(self.fd, self.skipped - 1, os.SEEK_SET)
        return os.read(self.fd, 1) != b"\n"

    def __iter__(self):
        try:
            yield from self._lines()
        except OSError as exc:
            raise FileProblem(f"cannot be read: {exc.strerror or exc}") from None

    def _lines(self):
        dropping = self._start()
        remaining = min(self.size, self.cap)  # a file that grows meanwhile is not followed
        buf, head, long = bytearray(), b"", False
        while remaining > 0:
            chunk = os.read(self.fd, min(self.CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            start = 0
            while start <= len(chunk):
                nl = chunk.find(b"\n", start)
                end = nl if nl >= 0 else len(chunk)
                if dropping or long:
                    if nl < 0:
                        break
                    if long:
                        yield head, False
                    dropping = long = False
                    start = nl + 1
                    continue
                if len(buf) + end - start > self.line_cap:
                    head = bytes((buf + chunk[start:start + self.head])[:self.head])
                    buf.clear()
                    long = True
                    self.long_lines += 1
                    continue  # the same position: skip to its newline
                buf += chunk[start:end]
                if nl < 0:
                    break
                yield bytes(buf), True
                buf.clear()
                start = nl + 1
        if long:
            yield head, False
        elif buf and not dropping:
            yield bytes(buf), True  # the last line, without a newline (perhaps being written)


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
