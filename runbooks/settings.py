"""Claude Code's settings files, and the environment they give the client.

The ``env`` block of a settings file **overrides** the same variable exported in the
shell (facts.md §2; checked with v2.1.332 for ``HTTPS_PROXY``, ``ANTHROPIC_BASE_URL`` and
``NODE_EXTRA_CA_CERTS``). Files, lowest precedence first: user
(``~/.claude/settings.json``), project (``.claude/settings.json``), local
(``.claude/settings.local.json``), managed (a system path per OS). Project and local
``env`` apply only once the workspace is trusted.

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

from .environment import PROXY_VARS
from .masking import mask_proxy, mask_url

__all__ = ["SettingsFile", "Effective", "load", "NETWORK_VARS"]

#: Variables that change where and how Claude Code connects; their values may be shown.
NETWORK_VARS = ("ANTHROPIC_BASE_URL", *PROXY_VARS, "no_proxy", "NO_PROXY",
                "NODE_EXTRA_CA_CERTS", "CLAUDE_CODE_CERT_STORE")


@dataclass
class SettingsFile:
    scope: str  # user, project, local, managed
    path: Path
    env: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    #: the whole parsed object, for keys beyond ``env`` (``apiKeyHelper``…); never shown
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def shown(self) -> str:
        home = os.path.expanduser("~")
        p = str(self.path)
        return "~" + p[len(home):] if home not in ("", "/") and p.startswith(home + os.sep) else p

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "path": str(self.path), "error": self.error,
                "env": {k: shown_value(k, v) for k, v in self.env.items()}}


def shown_value(name: str, value: str) -> str:
    """A settings variable's value fit for a report: network values (masked), else hidden."""
    if name not in NETWORK_VARS:
        return "(set; value not shown)"
    if name in PROXY_VARS:
        return mask_proxy(value)
    return mask_url(value) if "://" in value else value


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


def managed_path() -> Path:
    system = platform.system()
    if system == "Darwin":
        return Path("/Library/Application Support/ClaudeCode/managed-settings.json")
    if system == "Windows":
        return Path(r"C:\Program Files\ClaudeCode\managed-settings.json")
    return Path("/etc/claude-code/managed-settings.json")


def _paths(env: Mapping[str, str], project_dir: Path,
           flag_settings: Path | None = None) -> list[tuple[str, Path]]:
    out = []
    home = env.get("HOME") or env.get("USERPROFILE")
    if home:
        out.append(("user", Path(home) / ".claude" / "settings.json"))
    out += [("project", project_dir / ".claude" / "settings.json"),
            ("local", project_dir / ".claude" / "settings.local.json")]
    if flag_settings is not None:
        out.append(("flag", Path(flag_settings)))
    out += [("managed", Path(env.get("RUNBOOKS_MANAGED_SETTINGS") or managed_path()))]
    return out


def _read(scope: str, path: Path) -> SettingsFile | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return SettingsFile(scope, path, error=f"unreadable: {getattr(exc, 'strerror', exc)}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return SettingsFile(scope, path, error=f"not valid JSON (line {exc.lineno}, column "
                                                f"{exc.colno}: {exc.msg})")
    if not isinstance(data, dict):
        return SettingsFile(scope, path, error="not a JSON object")
    block = data.get("env", {})
    if not isinstance(block, dict):
        return SettingsFile(scope, path, error='"env" is not an object of NAME: "value"')
    env = {str(k): str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in block.items() if isinstance(v, (str, int, float, bool))}
    return SettingsFile(scope, path, env=env, data=data)


def load(env: Mapping[str, str] | None = None, project_dir: Path | None = None,
         flag_settings: Path | None = None) -> Effective:
    """The effective environment: ``env`` (the shell's) overlaid by every settings file's
    ``env`` block, in precedence order. ``flag_settings`` is the file given to
    ``claude --settings`` (``runbooks doctor --settings``)."""
    base = dict(os.environ if env is None else env)
    project = Path.cwd() if project_dir is None else project_dir
    files = [f for scope, path in _paths(base, project, flag_settings)
             if (f := _read(scope, path))]
    effective, origin, shadowed = dict(base), {}, {}
    for f in files:  # lowest precedence first: later files win
        for k, v in f.env.items():
            if k in base and base[k] != v and k not in shadowed:
                shadowed[k] = base[k]
            effective[k] = v
            origin[k] = f
    return Effective(effective, files, origin, shadowed)
