"""What every runbook is: steps that record checks, on one shared context.

A runbook module (``runbooks/books/<id>.py``) holds only its steps. This module holds what
they all do the same way:

- **the context** (:class:`~runbooks.probes.context.Context`, its own module: the probes and the
  fixes read it too): the environment Claude Code would run with, the endpoint, the time
  budgets and the resolver. ``runbooks doctor`` builds it once and hands it to every
  runbook, so they all diagnose the same configuration;
- **the parameter table** (:data:`Runbook.PARAMETERS`): checked the same way for the
  doctor's options, ``runbooks run -p``, and a notebook's parameters cell
  (:mod:`runbooks.books.params`);
- **recording** (a re-run notebook cell replaces its check, never duplicates it),
  **guarding** (a check that crashes becomes an ``error`` result and the run goes on),
  **skipping with a reason**, and **the report**.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .. import render as _render  # noqa: F401 - a check shows itself as a table in a notebook
from ..budget import Budget
from ..client import settings as _settings
from ..client.environment import describe
from ..client.target import Target, check_url
from ..files import FileProblem, read_bytes
from ..probes import dns as _dns
from ..probes.context import Context
from ..result import Check, Report, Status
from .params import Param, check_all, flag, seconds, text

__all__ = ["APPLY", "COMMON", "FIXING", "NETWORK_PATH", "REPORT_PATH", "Context",
           "Runbook"]


def _settings_file(value: str) -> None:
    if value.lstrip().startswith("{"):  # claude --settings also takes the JSON itself
        return
    try:
        read_bytes(value, 1)  # only whether it is a regular file: the size is checked later
    except FileProblem as exc:
        if "over the" not in exc.reason:
            raise ValueError(f"the settings file {exc.reason}") from None


def _fingerprint(value: str) -> None:
    hexed = value.replace(":", "").lower()
    if len(hexed) != 64 or any(c not in "0123456789abcdef" for c in hexed):
        raise ValueError("expected a SHA-256 fingerprint (64 hex digits, colons allowed)")


#: Whether to apply the fixes a runbook's findings call for (every runbook takes it).
APPLY = flag("apply", False, "apply the fixes for this runbook's findings: the plan is shown "
             "first, files are backed up, `runbooks undo` restores them")

#: Applying, and the CA a fix may trust (every runbook that checks a connection takes these;
#: one that only reads records, such as recovery, takes :data:`APPLY` alone).
FIXING: tuple[Param, ...] = (
    APPLY,
    text("trust_ca", "", "the SHA-256 fingerprint of the inspection CA to trust, once "
         "confirmed with whoever runs the proxy", _fingerprint, "SHA256"),
)

#: Parameters every runbook takes: which endpoint, which extra settings file, and whether to
#: apply the fixes its findings call for (the plan is always shown; ``runbooks undo`` undoes).
COMMON: tuple[Param, ...] = (
    text("base_url", "", "API endpoint (empty: ANTHROPIC_BASE_URL, else "
         "https://api.anthropic.com)", lambda v: check_url(v, credentials=False), "URL"),
    text("settings", "", "a settings file (or JSON), as `claude --settings` takes it",
         _settings_file, "FILE"),
    *FIXING,
)

#: Every notebook's own output (not a runbook input): the JSON report, written by its report
#: cell; `runbooks run` sets it to the run folder.
REPORT_PATH = text("report_path", "", "write the JSON report here (empty: do not write)",
                   expect="FILE")

#: How the path to the API is walked: resolver and time budgets (network, timeouts, …).
NETWORK_PATH: tuple[Param, ...] = (
    text("nameserver", "", "ask this DNS server (IP[:port]) instead of the system resolver",
         _dns.check_nameserver, "IP[:PORT]"),
    text("resolve", "", "curl-style pins HOST:ADDR[,HOST:ADDR…]: skip DNS for these hosts",
         lambda v: [_dns.check_resolve(p) for p in _dns.split_pins(v)], "HOST:ADDR[,…]"),
    seconds("dns_timeout", 3.0, "seconds for each DNS lookup (A and AAAA run at once)"),
    seconds("connect_timeout", 3.0, "seconds for a TCP connect (IPv6 and IPv4 race)"),
    seconds("tls_timeout", 4.0, "seconds for the TLS handshake"),
    seconds("read_timeout", 4.0, "seconds to wait for the first byte of an answer (a live "
            "stream may go 3× this between events)"),
)


class Runbook:
    """A runbook: an ordered list of steps, each a method that returns and records checks.

    Subclasses set :attr:`id`, :attr:`title`, :attr:`PARAMETERS` and :attr:`STEPS`, and
    write one ``check_*`` method per step, each guarded with :meth:`guard`."""

    id: ClassVar[str]
    title: ClassVar[str]
    #: every parameter, shared ones (COMMON, …) first; the notebook declares the same
    PARAMETERS: ClassVar[dict[str, Param]]
    #: the step methods, in order; ``run_all`` calls them, the notebook one per cell
    STEPS: ClassVar[tuple[str, ...]]
    #: steps that need a working path to the API (a live request): the doctor runs them
    #: after the network runbook, and skips them with its reason when the path is broken
    LIVE_STEPS: ClassVar[tuple[str, ...]] = ()
    #: its steps read files only, never the network: `runbooks run all` runs such runbooks one
    #: after another in one shared kernel (each waits on nothing, and a kernel costs a core
    #: a third of a second to start)
    OFFLINE: ClassVar[bool] = False

    def __init__(self, context: Context, **options: Any) -> None:
        self.ctx = context
        self.options = options
        self.checks: dict[str, Check] = {}
        self.path_broken: str | None = None  # set by the doctor: why live steps cannot run
        self.started = time.time()
        self._t0 = time.perf_counter()

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_parameters(cls, *, env: Mapping[str, str] | None = None,
                        project_dir: os.PathLike | None = None,
                        context: Context | None = None, **params: Any) -> Runbook:
        """Build a run from the runbook's parameters (its notebook's parameters cell).
        Every value is checked first: a bad one raises UsageError naming it."""
        params.pop("report_path", None)  # the notebook's own output, not a runbook's input
        values = check_all(cls.PARAMETERS, params, cls.id)
        ctx = context or Context.build(values, env, project_dir)
        return cls(ctx, **{k: v for k, v in values.items() if k not in _SHARED})

    @classmethod
    def notebook_parameters(cls, namespace: Mapping[str, Any]) -> dict[str, Any]:
        """The notebook's parameters, read from its namespace (``globals()`` after the
        parameters cell: what papermill injected, or the cell as edited in Jupyter) with the
        same checks as ``runbooks run -p``: ``"false"``, ``"no"``, ``0`` and ``False`` are
        false, ``"3"`` is 3.0 seconds, None is the default (:meth:`Param.check
        <runbooks.books.params.Param.check>`). A value it does not understand raises UsageError,
        one line naming it, before any step runs. Names the namespace lacks take their
        default; its other names are not looked at."""
        table = {**cls.PARAMETERS, REPORT_PATH.name: REPORT_PATH}
        return {name: p.check(namespace.get(name), f"parameter {name}")
                for name, p in table.items()}

    # -- bookkeeping ---------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        return self.ctx.env

    @property
    def target(self) -> Target:
        return self.ctx.target

    @property
    def budget(self) -> Budget:
        return self.ctx.budget

    def record(self, check: Check) -> Check:
        check.runbook = check.runbook or self.id
        self.checks[check.id] = check  # re-running a notebook cell replaces, never duplicates
        return check

    def guard(self, check_id: str, title: str, fn: Callable[[], list[Check] | Check]):
        """Run one check; if it crashes, record an ``error`` result instead and go on."""
        start = time.perf_counter()
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - a crashing check is a result
            out = Check(check_id, title, Status.ERROR,
                        f"the check itself failed: {type(exc).__name__}: {exc}",
                        duration_s=time.perf_counter() - start)
        for c in out if isinstance(out, list) else [out]:
            self.record(c)
        return out

    def skip(self, check_id: str, title: str, why: str) -> Check:
        return self.record(Check(check_id, title, Status.SKIP, why))

    def skip_live(self, why: str) -> None:
        """The path to the API is broken: each live step records itself as skipped."""
        self.path_broken = why
        for step in self.LIVE_STEPS:
            getattr(self, step)()

    def live_blocked(self, check_id: str, title: str) -> Check | None:
        """In a live step, first: a skip record when the doctor found the path broken."""
        if self.path_broken:
            return self.skip(check_id, title, self.path_broken)
        return None

    def passed(self, check_id: str) -> bool:
        c = self.checks.get(check_id)
        return c is not None and c.status == Status.PASS

    # -- the whole run -------------------------------------------------------------------------
    def run_all(self) -> Report:
        for step in self.STEPS + self.LIVE_STEPS:
            getattr(self, step)()
        return self.report()

    def plan(self, trust_ca: str = "", target: str = "user", ca_file: str = ""):
        """The fixes this runbook's findings call for (:class:`runbooks.fixing.plan.Plan`): what
        ``apply`` would write, as diffs. Nothing is written here."""
        from ..fixing.remedies import FixOptions
        from ..fixing.tls_fix import plan_for

        options = FixOptions(target, trust_ca.replace(":", "").lower(), ca_file=ca_file)
        return plan_for(self.ctx, self.report(), options)

    def apply(self, plan):
        """Write exactly ``plan`` (backed up; ``runbooks undo`` restores it)."""
        from ..errors import UsageError
        from ..fixing.plan import apply_plan
        from ..fixing.remedies import allowed_targets, check_home

        check_home(self.ctx)  # a HOME that does not exist is never created
        config = _settings.user_dir(self.env)
        if config is None:
            raise UsageError("no home folder (HOME/USERPROFILE): nowhere to keep backups")
        return apply_plan(plan, config, allowed_targets(self.ctx))

    def finish(self) -> None:
        """Called once before the report is made: late conclusions drawn across steps."""

    def report(self) -> Report:
        self.finish()
        return Report(
            runbook=self.id,
            target=self.target.to_dict(),
            checks=list(self.checks.values()),
            environment=describe(self.ctx.claude),
            budget=self.budget.to_dict(),
            started_at=self.started,
            duration_s=time.perf_counter() - self._t0,
        )


_SHARED = {p.name for p in COMMON + NETWORK_PATH + FIXING}
