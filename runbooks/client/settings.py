"""Claude Code's settings files, and the environment they give the client.

The ``env`` block of a settings file **overrides** the same variable exported in the shell,
spelled the same (facts.md §2). Precedence, highest first, as Claude Code 2.1.332 applies it
(checked against the real client in tests/test_client_rules.py):

1. managed: ``/etc/claude-code/managed-settings.json`` (Linux, WSL),
   ``/Library/Application Support/ClaudeCode/managed-settings.json`` (macOS),
   ``C:\\Program Files\\ClaudeCode\\managed-settings.json`` (Windows);
2. ``--settings FILE`` (or inline JSON: ``--settings '{"env": {…}}'``), scope "flag";
3. local: ``.claude/settings.local.json`` in the root of the git repository the client is
   launched in (the nearest directory above it with a ``.git``; not the home directory),
   then the same file in the launch directory;
4. project: ``.claude/settings.json`` in the launch directory only (never a parent's);
5. user: ``$CLAUDE_CONFIG_DIR/settings.json`` when ``CLAUDE_CONFIG_DIR`` is set (then
   ``~/.claude/settings.json`` is not read), else ``~/.claude/settings.json``;
6. the shell's environment.

A file that cannot be used (missing ``--settings`` file, not a regular file, too big, not
UTF-8, not JSON, nested too deeply, the wrong shape) is one ``error`` on its
:class:`SettingsFile`; its ``env`` block is not applied, as the client ignores it.

Only the variables the network path depends on are ever shown, and URLs with their
password masked; any other variable (a key, say) is named at most, never printed.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import FileProblem, MiB, read_text, shown_path
from ..masking import mask_proxy, mask_url
from .environment import NO_PROXY_VARS, PROXY_VARS

__all__ = ["NETWORK_VARS", "Effective", "ProxyShadow", "SettingsEnv", "SettingsFile", "load",
           "managed_path"]

#: Variables that change where and how Claude Code connects; their values may be shown.
NETWORK_VARS = ("ANTHROPIC_BASE_URL", *PROXY_VARS, *NO_PROXY_VARS,
                "NODE_EXTRA_CA_CERTS", "CLAUDE_CODE_CERT_STORE")
#: Settings files are small; a bigger one is refused rather than read.
SETTINGS_CAP = MiB
#: Deeper JSON is refused before parsing (Python's parser would raise RecursionError).
MAX_DEPTH = 512
INLINE = "(inline JSON)"


@dataclass
class SettingsFile:
    scope: str  # user, project, local, flag, managed
    path: Path
    env: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # a phrase that reads after "<path> is …"
    inline: bool = False  # ``--settings '{…}'``: no file at all
    #: the whole parsed object, for keys beyond ``env`` (``apiKeyHelper``…); never shown
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def shown(self) -> str:
        return f"--settings {INLINE}" if self.inline else shown_path(self.path)

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "path": INLINE if self.inline else str(self.path),
                "error": self.error,
                "env": {k: shown_value(k, v) for k, v in self.env.items()}}


def shown_value(name: str, value: str) -> str:
    """A settings variable's value fit for a report: network values (masked), else hidden."""
    if name not in NETWORK_VARS:
        return "(set; value not shown)"
    if name in PROXY_VARS:
        return mask_proxy(value)
    return mask_url(value) if "://" in value else value


@dataclass(frozen=True)
class ProxyShadow:
    """A proxy variable set in a settings file that Claude Code does not use, because a shell
    variable of another spelling comes first in its lookup (a shell ``https_proxy`` beats a
    settings ``HTTPS_PROXY``; a shell ``no_proxy`` hides a settings ``NO_PROXY`` from the full
    NO_PROXY rules)."""

    variable: str  # in the settings file's env block
    file: SettingsFile
    value: str  # masked
    winner: str  # the shell variable used instead
    winner_value: str  # masked

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.variable, "file": self.file.shown, "scope": self.file.scope,
                "value": self.value, "winner": self.winner, "winner_value": self.winner_value}


class SettingsEnv(dict):
    """The effective environment: a plain ``dict`` that also remembers which variables a
    settings file set (``from_settings``), since the client treats a few of them differently
    (a ``host:port`` proxy value is repaired only when it comes from the shell)."""

    from_settings: frozenset[str] = frozenset()


@dataclass
class Effective:
    """The environment Claude Code would run with, and where each override came from."""

    env: dict[str, str]
    files: list[SettingsFile]
    origin: dict[str, SettingsFile]  # variable → the file whose env block set it
    shadowed: dict[str, str]  # variable → the shell's value that a settings file replaced

    def source_of(self, name: str) -> str:
        f = self.origin.get(name)
        return f"{name} in {f.shown}" if f else name

    def shadowed_proxies(self) -> list[ProxyShadow]:
        """Proxy variables that settings files set in vain: a non-empty shell variable that
        the client reads first wins over them."""
        out = []
        for order in (PROXY_VARS, NO_PROXY_VARS):
            winner = next((v for v in order if self.env.get(v)), None)
            if winner is None or winner in self.origin:
                continue  # no proxy, or the winner is a settings file's own
            for var in order[order.index(winner) + 1:]:
                if var in self.origin and self.env.get(var):
                    out.append(ProxyShadow(var, self.origin[var], _masked(var, self.env[var]),
                                           winner, _masked(winner, self.env[winner])))
        return out


def _masked(name: str, value: str) -> str:
    return mask_proxy(value) if name in PROXY_VARS else value


def managed_path(system: str | None = None) -> Path:
    """Where Claude Code reads managed settings on this OS (``platform.system()`` names)."""
    system = system or platform.system()
    if system == "Darwin":
        return Path("/Library/Application Support/ClaudeCode/managed-settings.json")
    if system == "Windows":
        return Path("C:\\Program Files\\ClaudeCode\\managed-settings.json")
    return Path("/etc/claude-code/managed-settings.json")


def _home(env: Mapping[str, str]) -> Path | None:
    home = env.get("HOME") or env.get("USERPROFILE")
    if home:
        return Path(home)
    try:
        return Path.home()
    except RuntimeError:  # no home directory at all
        return None


def user_dir(env: Mapping[str, str]) -> Path | None:
    """``$CLAUDE_CONFIG_DIR`` if set, else ``~/.claude``: it replaces the whole folder."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(os.path.expanduser(env["CLAUDE_CONFIG_DIR"]))
    home = _home(env)
    return None if home is None else home / ".claude"


def repository_root(start: Path) -> Path | None:
    """The nearest directory from ``start`` up that holds a ``.git`` (file or folder)."""
    for d in (start, *start.parents):
        if os.path.lexists(d / ".git"):
            return d
    return None


def _locations(env: Mapping[str, str], project: Path) -> list[tuple[str, Path]]:
    """Settings files, lowest precedence first (without --settings and managed)."""
    out: list[tuple[str, Path]] = []
    user = user_dir(env)
    if user is not None:
        out.append(("user", user / "settings.json"))
    out.append(("project", project / ".claude" / "settings.json"))
    out.append(("local", project / ".claude" / "settings.local.json"))
    root, home = repository_root(project), _home(env)
    if root is not None and root != project and not _same_dir(root, home):
        out.append(("local", root / ".claude" / "settings.local.json"))
    return out


def _same_dir(a: Path, b: Path | None) -> bool:
    if b is None:
        return False
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _problem(exc: FileProblem) -> str:
    reason = exc.reason
    return reason[3:] if reason.startswith("is ") else f"unreadable ({reason})"


def _too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """More than ``limit`` nested arrays/objects, counted outside strings, in one pass."""
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def parse(scope: str, path: Path, text: str, inline: bool = False) -> SettingsFile:
    """A settings file's content → its env block, or the error that keeps it from applying."""
    def bad(error: str) -> SettingsFile:
        return SettingsFile(scope, path, error=error, inline=inline)

    if _too_deep(text):
        return bad(f"nested too deeply (more than {MAX_DEPTH} levels of [ and {{)")
    try:
        data = json.loads(text)
    except RecursionError:  # belt and braces: _too_deep should have caught it
        return bad("nested too deeply")
    except json.JSONDecodeError as exc:
        return bad(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        return bad(f"not valid JSON ({exc})")
    if not isinstance(data, dict):
        return bad("not a JSON object")
    block = data.get("env", {})
    if not isinstance(block, dict):
        return bad('of the wrong shape: "env" is not an object of NAME: "value"')
    env = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in block.items() if isinstance(v, (str, int, float, bool))}
    return SettingsFile(scope, path, env=env, inline=inline, data=data)


def read(scope: str, path: Path, required: bool = False) -> SettingsFile | None:
    """One settings file, or None when it does not exist (and is not ``required``)."""
    try:
        text = read_text(path, SETTINGS_CAP)
    except FileProblem as exc:
        if exc.missing and not required:
            return None
        if exc.missing:
            return SettingsFile(scope, path, error="missing: Claude Code stops with "
                                f"`Error: Settings file not found: {path}`")
        return SettingsFile(scope, path, error=_problem(exc))
    return parse(scope, path, text)


def _flag(value: str | os.PathLike, project: Path) -> SettingsFile:
    """``--settings``: inline JSON when the value parses as a JSON object (leading white space
    allowed), else a path, relative to the launch directory."""
    text = os.fspath(value)
    if text.lstrip().startswith("{"):
        inline = parse("flag", Path(INLINE), text, inline=True)
        if inline.error is None:
            return inline
    path = Path(text)
    if not path.is_absolute():
        path = project / path
    return read("flag", path, required=True)  # type: ignore[return-value]


def load(env: Mapping[str, str] | None = None, project_dir: Path | None = None,
         flag_settings: str | os.PathLike | None = None) -> Effective:
    """The effective environment: ``env`` (the shell's) overlaid by every settings file's
    ``env`` block, in precedence order. ``project_dir`` is the directory the client is
    launched in (default: the current one). ``flag_settings`` is what ``claude --settings``
    (``runbooks doctor --settings``) is given: a file, or inline JSON."""
    base = dict(os.environ if env is None else env)
    project = Path.cwd() if project_dir is None else Path(project_dir)
    files = [f for scope, path in _locations(base, project) if (f := read(scope, path))]
    if flag_settings is not None and os.fspath(flag_settings) != "":
        files.append(_flag(flag_settings, project))
    managed = read("managed", Path(base.get("RUNBOOKS_MANAGED_SETTINGS") or managed_path()))
    if managed is not None:
        files.append(managed)
    effective, origin, shadowed = SettingsEnv(base), {}, {}
    for f in files:  # lowest precedence first: later files win
        for k, v in f.env.items():
            if k in base and base[k] != v and k not in shadowed:
                shadowed[k] = base[k]
            effective[k] = v
            origin[k] = f
    effective.from_settings = frozenset(origin)
    return Effective(effective, files, origin, shadowed)
