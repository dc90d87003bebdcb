"""``--json [PATH|-]``: the one option every command with JSON takes, and where its JSON goes.

Alone (or ``-``) the JSON on standard output instead of the text; with a PATH the text as
usual and the JSON written to PATH, which is checked before any work starts
(:func:`check_json_path`) and replaced atomically (:func:`write_atomically`). The commands
(:mod:`runbooks.cli`) and those in a module of their own (``runbooks history``, in
:mod:`runbooks.records.history`, and ``runbooks preflight``) take it from here, below every
wing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path

from .errors import UsageError

__all__ = ["add_json_option", "check_json_path", "emit", "write_atomically"]


class _JsonOption(argparse.Action):
    """``--json [PATH|-]``: alone (or ``-``) the JSON on standard output instead of the text;
    with a PATH the text as usual, and the JSON written to PATH. ``json_value`` keeps what was
    written after it (None: nothing), for triage's older spelling ``--json MESSAGE``."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, "-" if values is None else values)
        namespace.json_value = values


def add_json_option(p: argparse.ArgumentParser, what: str = "the JSON report") -> None:
    """The one ``--json [PATH|-]`` every command that has JSON takes."""
    p.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                   dest="json_path", action=_JsonOption,
                   help=f"{what}: alone (or '-') on standard output instead of the text; "
                        "with PATH, the text as usual and the JSON written to PATH")
    p.set_defaults(json_value=None)


def emit(args: argparse.Namespace, json_file: Path | None, text, data: str) -> None:
    """The output of a command with ``--json``: ``data`` (JSON text) on standard output, or
    ``text`` (a string, or a function making it) printed and ``data`` written to the file."""
    if args.json_path == "-":
        sys.stdout.write(data if data.endswith("\n") else data + "\n")
        return
    print(text() if callable(text) else text)
    if json_file is not None:
        write_atomically(json_file, data if data.endswith("\n") else data + "\n")


def check_json_path(path: str | None) -> Path | None:
    """``--json PATH``: checked before any work (a folder where a file goes, a missing or
    read-only folder). ``-`` is standard output."""
    if path is None or path == "-":
        return None
    if not path.strip():
        raise UsageError("--json is empty: give a file path, or '-' for standard output")
    out = Path(path)
    if out.is_dir():
        raise UsageError(f"--json {path!r} is a folder, not a file")
    if out.is_symlink() or (out.exists() and not out.is_file()):
        # the report replaces the file by a rename: never a device, a pipe or a link's target
        raise UsageError(f"--json {path!r} is not a regular file (a link, a device or a pipe)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"--json {path!r}: the folder {str(parent)!r} does not exist")
    try:  # really try: os.access says yes to root even where nothing can be created
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError(f"--json {path!r} is not writable ({exc.strerror})") from None
    return out


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename:
    a reader never sees half a report."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}") from None
