"""The context of one run: the configuration every runbook, probe and fix of it reads.

The environment Claude Code would run with (the shell's, with the ``env`` blocks of its
settings files laid over it), the endpoint, the time budgets and the resolver.
``runbooks doctor`` builds it once and hands it to every runbook, so they all diagnose the
same configuration; what is costly to learn (the trust store, a walk of the path) is made
once per run (:meth:`Context.once`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..budget import Budget
from ..client import settings as _settings
from ..client.environment import ClaudeVersion
from ..client.target import Target, Trust, load_trust, resolve_target
from ..masking import register_env
from . import dns as _dns

__all__ = ["Context"]


@dataclass
class Context:
    """The configuration every runbook of one run diagnoses."""

    shell: Mapping[str, str]  # the shell's environment, as given
    settings: _settings.Effective  # the settings files read, and what they set
    target: Target
    budget: Budget = field(default_factory=Budget)
    resolver: _dns.Resolver = field(default_factory=_dns.Resolver)
    project_dir: Path = field(default_factory=Path.cwd)
    claude: ClaudeVersion | None = None
    values: dict[str, Any] = field(default_factory=dict)  # the checked parameters
    #: "doctor" when every runbook shares this context (past evidence is then informational)
    role: str = "runbook"
    _once: dict[str, Any] = field(default_factory=dict, repr=False)
    _locks: dict[str, threading.Lock] = field(default_factory=dict, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` the first time ``key`` is asked for, in whichever runbook asks first;
        every later caller (in any thread) gets the same value. The doctor's runbooks share
        one trust store and one live answer this way, instead of asking twice."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._once:
                self._once[key] = make()
            return self._once[key]

    @property
    def env(self) -> dict[str, str]:
        """The environment Claude Code would run with."""
        return self.settings.env

    @property
    def trust(self) -> Trust:
        """The CA roots and client certificate the client would use, loaded once per run
        (parsing the bundled and system stores costs tens of milliseconds)."""
        return self.once("trust", lambda: load_trust(self.env))

    @classmethod
    def build(cls, values: Mapping[str, Any], env: Mapping[str, str] | None = None,
              project_dir: os.PathLike | None = None, settings_final: bool = False,
              ask_claude: bool = True) -> Context:
        """From checked parameter values. ``env`` is the shell's environment (default:
        this process's); ``settings_final`` means it already is the client's final
        environment, and no settings file is read."""
        shell = os.environ if env is None else env
        project = Path.cwd() if project_dir is None else Path(project_dir)
        if settings_final:
            eff = _settings.Effective(dict(shell), [], {}, {})
        else:
            flag = values.get("settings") or None
            eff = _settings.load(shell, project, flag)
        register_env(shell)
        register_env(eff.env)
        target = resolve_target(values.get("base_url") or None, eff.env,
                                eff.source_of("ANTHROPIC_BASE_URL"))
        budget = Budget(**{k: values[f"{k}_timeout"] for k in ("dns", "connect", "tls", "read")
                           if f"{k}_timeout" in values})
        resolver = _dns.Resolver.from_options(values.get("nameserver", ""),
                                              values.get("resolve", ""))
        return cls(shell, eff, target, budget, resolver, project,
                   ClaudeVersion() if ask_claude else None, dict(values))
