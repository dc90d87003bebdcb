"""What every lab scenario is made of: a started run (:class:`Running`), the scenario
itself (:class:`Scenario`), and the few parts the scenario modules share (the fake API
pointed at, a fault pointed at, the lab CA trusted, variables set).

The scenario modules (:mod:`.scenarios`, :mod:`.api_scenarios`, :mod:`.fix_scenarios`,
:mod:`.tls_scenarios`, :mod:`.history_scenarios`) build on these and know nothing of the
registry: :data:`.scenarios.SCENARIOS` lists them all, in one place.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .api import FakeAPI
from .pki import LabPKI

__all__ = ["CLIENT_TIMEOUT_MS", "LAB_API_KEY", "LAB_HOST", "TRICKLE_S", "Running", "Scenario"]

LAB_HOST = "api.lab.test"  # .test is reserved (RFC 2606): it never resolves outside the lab
#: Not a secret: the lab accepts any key. Deliberately not shaped like a real one.
LAB_API_KEY = "lab-key-not-a-secret"
#: API_TIMEOUT_MS given to the real client against the lab (its message quotes it).
CLIENT_TIMEOUT_MS = 5000
#: The trickle scenarios' pause before each byte: every read succeeds within any per-read
#: timeout of 1 s or more, so only a deadline on the whole exchange ends them.
TRICKLE_S = 0.5


@dataclass
class Running:
    """A started scenario: where it listens and how to point things at it."""

    scenario: Scenario
    base_url: str
    params: dict[str, Any] = field(default_factory=dict)  # runbook parameters
    env: dict[str, str] = field(default_factory=dict)  # for runbooks and Claude Code alike
    notes: list[str] = field(default_factory=list)
    parts: list[Any] = field(default_factory=list)
    workdir: Path | None = None
    #: variables the client must not get (helper-fails: its credential comes from settings)
    client_unset: set[str] = field(default_factory=set)
    #: what the scenario's fake status page reports (None: no status page answers)
    status_state: str | None = "operational"
    #: the status page's pause before each byte of its answer (0: it answers at once)
    status_trickle_s: float = 0.0
    #: facts a fix needs that no variable holds (fix scenarios: the proxy this network needs)
    info: dict[str, str] = field(default_factory=dict)

    @property
    def client_env(self) -> dict[str, str]:
        """What to export so the real ``claude`` talks to the lab, and only to it."""
        env = {
            "API_TIMEOUT_MS": str(CLIENT_TIMEOUT_MS),
            **self.env,  # a scenario's own API_TIMEOUT_MS (timeout-10min) wins
            "ANTHROPIC_API_KEY": LAB_API_KEY,
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "CLAUDE_CODE_MAX_RETRIES": "1",
        }
        return {k: v for k, v in env.items() if k not in self.client_unset}

    def stop(self) -> None:
        for part in reversed(self.parts):
            with contextlib.suppress(Exception):
                part.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    expect: str | None  # the cause the network runbook must report (None: healthy)
    build: Callable[[Running, LabPKI], None]
    client_message: str = ""  # what the real client prints (facts.md §5), where known
    also: tuple[str, ...] = ()  # further causes the same run reports, besides ``expect``
    #: what the whole doctor reports, with the client's credential and --live (None: the
    #: network runbook's ``expect`` and ``also``, as a keyless probe sees it)
    doctor: tuple[str, ...] | None = None

    @property
    def doctor_causes(self) -> tuple[str, ...]:
        if self.doctor is not None:
            return self.doctor
        return (self.expect, *self.also) if self.expect else ()


def _api(run: Running, pki: LabPKI, behaviour: str = "healthy", tls: str | None = None,
         host: str = "127.0.0.1") -> FakeAPI:
    api = FakeAPI(host, behaviour=behaviour, tls=pki.server_context(tls) if tls else None)
    run.parts.append(api)
    run.base_url = api.url
    run.env["ANTHROPIC_BASE_URL"] = api.url
    return api


def _trust_lab_ca(run: Running, pki: LabPKI) -> None:
    run.env["NODE_EXTRA_CA_CERTS"] = str(pki.ca_file)


def _fault(run: Running, part: Any, scheme: str = "http") -> None:
    run.parts.append(part)
    run.base_url = part.url(scheme)
    run.env["ANTHROPIC_BASE_URL"] = run.base_url


def _with_env(build, **env):
    """A scenario plus variables in its environment (what the user has set)."""
    def with_env(run, pki):
        build(run, pki)
        run.env.update(env)
    return with_env
