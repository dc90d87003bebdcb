"""`runbooks bundle`: one archive for a bug report, every secret masked.

The archive (``.zip``, or ``.tar.gz``) holds, in one folder:

- ``README.txt``: what is in it and what is not;
- ``system.json``: the OS, Python, this tool's version, ``claude --version`` and
  ``node --version`` when installed (each with a time limit);
- ``config.json``: the effective configuration Claude Code would run with: the network and
  timeout variables with their values masked as the doctor shows them (and what the client
  makes of the timeout numbers), the names only of every other Claude-related variable, and
  each settings file (its path, whether it parses, the names of its keys, its ``env`` block
  masked: values only for network variables);
- ``doctor.json``: ``runbooks doctor``'s report, run in-process;
- ``history.json``: the recent failures from Claude Code's own records (error records only:
  never a prompt, code or tool output);
- ``debug-log.txt``: the ``[ERROR]``/``[WARN]`` lines of the newest debug log, masked, capped.

Secrets never enter it: values are masked where they are put into words, every secret of the
environment and the settings files is registered and every member passes through
:func:`~runbooks.masking.redact` on its way in, and the tests plant canaries in every input.
The archive is written atomically (a temporary file, then a link that refuses to replace an
existing file), and never over an existing one.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError
from .files import shown_path
from .masking import clip, redact, register_env

__all__ = ["MEMBERS", "add_arguments", "build_members", "main", "write_archive"]

#: The members, in the order they are written.
MEMBERS = ("README.txt", "system.json", "config.json", "doctor.json", "history.json",
           "debug-log.txt")
#: Variables whose values the doctor shows (masked): the network path and the timeouts.
TIMEOUT_VARS = ("API_TIMEOUT_MS", "CLAUDE_STREAM_IDLE_TIMEOUT_MS", "CLAUDE_CODE_MAX_RETRIES",
                "CLAUDE_CODE_RETRY_WATCHDOG", "API_FORCE_IDLE_TIMEOUT",
                "CLAUDE_BYTE_STREAM_IDLE_TIMEOUT_MS", "CLAUDE_CODE_PROXY_RESOLVES_HOSTS",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "CLAUDE_CODE_CLIENT_CERT",
                "CLAUDE_CODE_CLIENT_KEY", "CLAUDE_CONFIG_DIR", "MCP_TIMEOUT",
                "MCP_TOOL_TIMEOUT", "BASH_DEFAULT_TIMEOUT_MS", "BASH_MAX_TIMEOUT_MS")
#: Names of other variables worth knowing about (their values are never read into words).
_NAMED_PREFIXES = ("ANTHROPIC_", "CLAUDE_", "AWS_", "GOOGLE_", "VERTEX_", "CLOUD_ML_", "MCP_",
                   "BASH_", "DISABLE_", "OTEL_", "NODE_", "SSL_", "REQUESTS_CA", "CURL_CA")
#: Seconds allowed for each version query.
VERSION_TIMEOUT_S = 5.0
_FORMATS = {".zip": "zip", ".tar.gz": "tar", ".tgz": "tar"}


# -- the members ---------------------------------------------------------------------------------
def _version_of(command: list[str]) -> str | None:
    exe = shutil.which(command[0])
    if not exe:
        return None
    try:
        out = subprocess.run([exe, *command[1:]], capture_output=True, text=True,
                             timeout=VERSION_TIMEOUT_S, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        return f"(no answer within {VERSION_TIMEOUT_S:g} s)"
    except OSError as exc:
        return f"(cannot run: {exc.strerror or exc})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return clip(lines[0], 200) if lines else None


def system_info() -> dict[str, Any]:
    from . import __version__

    return {"created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runbooks": __version__, "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.release()}",
            "machine": platform.machine(),
            "claude_code": _version_of(["claude", "--version"]) or "not installed",
            "node": _version_of(["node", "--version"]) or "not installed"}


def _shown(name: str, value: str) -> str:
    from .client.settings import NETWORK_VARS, PROXY_VARS
    from .masking import mask_proxy, mask_url

    if name in PROXY_VARS:
        return mask_proxy(value)
    if name in NETWORK_VARS or "://" in value:
        return mask_url(value)
    return value


def configuration(shell: Mapping[str, str], project: Path,
                  flag_settings: str | None = None) -> dict[str, Any]:
    """The configuration Claude Code would run with, as a bug report may show it."""
    from .client import client_env as _client_env
    from .client import settings as _settings

    eff = _settings.load(shell, project, flag_settings)
    env = eff.env
    shown_vars = (*_settings.NETWORK_VARS, *TIMEOUT_VARS)
    values = {}
    for name in shown_vars:
        if env.get(name) is not None:
            where = eff.origin[name].shown if name in eff.origin else "shell"
            values[name] = {"value": _shown(name, env[name]), "from": where}
    numbers = {n.name: {"raw": n.raw, "value": n.value, "kind": n.kind, "note": n.note}
               for n in (_client_env.api_timeout(env), _client_env.stream_idle_timeout(env),
                         _client_env.max_retries(env))}
    named = sorted(k for k in env if k.startswith(_NAMED_PREFIXES) and k not in shown_vars)
    files = []
    for f in eff.files:
        d = f.to_dict()
        d["path"] = shown_path(d["path"]) if not f.inline else d["path"]
        d["keys"] = sorted(str(k) for k in f.data)  # names only: apiKeyHelper, permissions…
        files.append(d)
    return {"variables": values, "client_reads": numbers,
            "other_variables_set": named, "settings_files": files,
            "project": shown_path(project)}


def readme(members: Mapping[str, str], since: str, scope: str, notes: list[str]) -> str:
    from . import __version__

    sizes = "\n".join(f"  {name:<15} {len(members[name].encode()):>8,} bytes" for name in MEMBERS
                      if name in members and name != "README.txt")
    extra = "".join(f"\nNote: {n}" for n in notes)
    return f"""A Claude Code connection bundle, made by runbooks {__version__} (`runbooks bundle`)
on {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}. Nothing was uploaded: review it,
then attach it to a bug report.

What is in it
{sizes}

  system.json     OS, Python, runbooks, `claude --version` and `node --version`
  config.json     the variables that steer Claude Code's connection and timeouts (proxy
                  passwords and URL secrets masked), what the client makes of its timeout
                  numbers, the names (only) of other Claude-related variables, and each
                  settings file: path, whether it parses, its key names, its env block
                  (values only for network variables, masked)
  doctor.json     `runbooks doctor --json`: the connection checked now, every cause code
  history.json    failed API attempts from Claude Code's own records: when, the error
                  text shown, the cause, the retry attempt, session ids
                  ({scope}, {since})
  debug-log.txt   the [ERROR] and [WARN] lines of the newest `claude --debug` log, masked

What is NOT in it
  - your prompts, Claude's answers, code, file contents, tool input or output: from the
    transcripts only the error records are read;
  - the transcripts and the debug log themselves (only the error lines of the log);
  - API keys, tokens, OAuth tokens, apiKeyHelper output, proxy passwords, custom header
    values, keys in URLs: masked everywhere (at most sk-ant-…abcd);
  - settings values other than network variables (names only).

Paths are shown with your home folder as ~. Session ids and project paths are included, so
the maintainers can match failures to sessions; remove history.json if you would rather not.{extra}
"""


def build_members(env: Mapping[str, str] | None = None, project: str | None = None,
                  since: str = "7d", all_projects: bool = False, debug_log: str | None = None,
                  doctor: bool = True, progress: Callable[[str], None] | None = None
                  ) -> dict[str, str]:
    """The archive's members, every one masked. ``env`` is the shell's environment."""
    from .records import history as _history
    from .records.debuglog import find_debug_log, read_debug_log
    from .render import printable

    shell = dict(os.environ if env is None else env)
    say = progress or (lambda _msg: None)
    register_env(shell)
    proj = _history.project_of(shell, project)
    cwd = Path.cwd()
    from .client import settings as _settings

    with_settings = _settings.load(shell, cwd)
    register_env(with_settings.env)
    notes: list[str] = []
    out: dict[str, str] = {}
    say("versions")
    out["system.json"] = _json(system_info())
    say("configuration")
    out["config.json"] = _json(configuration(shell, cwd))
    if doctor:
        say("runbooks doctor")
        out["doctor.json"] = _doctor(shell)
    else:
        notes.append("the doctor was not run (--no-doctor)")
    say("history")
    try:
        hist = _history.read_history(env=shell, project=proj, all_projects=all_projects,
                                     since=_history.parse_since(since))
        out["history.json"] = _json(hist.to_dict())
    except UsageError as exc:
        out["history.json"] = _json({"error": str(exc)})
    say("debug log")
    if debug_log:
        path, latest = Path(os.path.expanduser(debug_log)), None
    else:
        path, latest = find_debug_log(shell)
    if path is None:
        out["debug-log.txt"] = ("No debug log found (run `claude --debug` to make one; it lands "
                                "in ~/.claude/debug/).\n")
    else:
        log = read_debug_log(path, latest)
        head = [(f"Debug log: {log.path} ({log.size:,} bytes, {log.lines_read:,} lines read; "
                f"{log.errors} errors, {log.warnings} warnings; the last {len(log.lines)} of "
                "them below, masked)")]
        if log.problem:
            head = [f"Debug log: {log.problem}"]
        out["debug-log.txt"] = printable("\n".join([*head, "", *log.lines]) + "\n")
    scope = "every project" if all_projects else shown_path(proj)
    start = _history.parse_since(since)
    window = "all time" if start is None else f"since {_history.iso(start)}"
    out["README.txt"] = readme(out, window, scope, notes)
    # the JSON members are masked string by string (_json, json_report): the text ones here
    return {name: out[name] if name.endswith(".json") else redact(out[name])
            for name in MEMBERS if name in out}


def _json(data: Any) -> str:
    from .render import json_text

    return json_text(data) + "\n"


def _doctor(shell: Mapping[str, str]) -> str:
    from .doctor import DOCTOR_PARAMETERS, run_doctor
    from .render import json_report

    values = {name: p.default for name, p in DOCTOR_PARAMETERS.items()}
    try:
        return json_report(run_doctor(values, env=shell))
    except Exception as exc:  # noqa: BLE001 - a bundle is still useful without it
        return _json({"error": f"the doctor could not run: {type(exc).__name__}: {exc}"})


# -- writing -------------------------------------------------------------------------------------
def archive_format(path: Path) -> str:
    name = path.name.lower()
    for ext, kind in _FORMATS.items():
        if name.endswith(ext):
            return kind
    raise UsageError(f"--output {str(path)!r}: the name must end in .zip, .tar.gz or .tgz")


def default_output(now: float | None = None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return Path(f"claude-code-bundle-{stamp}.zip")


def check_output(path: Path) -> str:
    """Checked before any work: the format, the folder, and nothing there already."""
    kind = archive_format(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--output {str(path)!r} is a folder: name the archive file")
    if os.path.lexists(path):
        raise UsageError(f"{str(path)!r} already exists: refusing to overwrite it")
    if not parent.is_dir():
        raise UsageError(f"--output {str(path)!r}: the folder {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--output {str(path)!r}: the folder {str(parent)!r} is not writable")
    return kind


def _archive_bytes(members: Mapping[str, str], folder: str, kind: str) -> bytes:
    buf = io.BytesIO()
    stamp = time.localtime()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, text in members.items():
                info = zipfile.ZipInfo(f"{folder}/{name}", date_time=stamp[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16
                zf.writestr(info, text.encode("utf-8"))
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for name, text in members.items():
                data = text.encode("utf-8")
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_archive(path: Path, members: Mapping[str, str]) -> int:
    """Write the archive atomically and only if ``path`` does not exist; its size."""
    kind = check_output(path)
    folder = path.name.split(".")[0] or "claude-code-bundle"
    data = _archive_bytes(members, folder, kind)
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # fails if something appeared there meanwhile: never replaced
        except FileExistsError:
            raise UsageError(f"{str(path)!r} already exists: refusing to overwrite it") from None
        except OSError:
            # no hard links here (some network or FAT file systems): claim the name first
            try:
                claim = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise UsageError(f"{str(path)!r} already exists: refusing to overwrite "
                                 "it") from None
            os.close(claim)
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(data)


# -- the command ---------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", "-o", metavar="PATH",
                        help="the archive to write, .zip or .tar.gz (default: "
                             "claude-code-bundle-<time>.zip here); never overwritten")
    from .records.history import add_scope_arguments

    add_scope_arguments(parser, "failures")
    parser.add_argument("--debug-log", metavar="FILE",
                        help="the debug log to take error lines from, as --debug-file wrote "
                             "it (default: the newest in ~/.claude/debug)")
    parser.add_argument("--no-doctor", action="store_false", dest="doctor",
                        help="do not run the doctor (it checks the connection now: a few "
                             "seconds, longer on a broken network)")


def main(args: argparse.Namespace) -> int:
    from .records.history import checked_scope

    checked_scope(args)
    if args.output is not None and not args.output.strip():
        raise UsageError("--output is empty: name the archive file")
    out = Path(args.output) if args.output else default_output()
    check_output(out)
    if args.debug_log:
        from .files import FileProblem, read_bytes

        try:
            read_bytes(args.debug_log, 1)
        except FileProblem as exc:
            if "over the" not in exc.reason:
                raise UsageError(f"--debug-log {args.debug_log!r} {exc.reason}") from None

    def progress(step: str) -> None:
        print(f"  … {step}", file=sys.stderr, flush=True)

    members = build_members(project=args.project, since=args.since,
                            all_projects=args.all_projects, debug_log=args.debug_log,
                            doctor=args.doctor, progress=progress if sys.stderr.isatty()
                            else None)
    size = write_archive(out, members)
    print(f"wrote {out} ({size:,} bytes): {', '.join(members)}")
    print("Nothing was uploaded. Review it (README.txt says what is and is not in it), then "
          "attach it to your bug report.")
    return 0
