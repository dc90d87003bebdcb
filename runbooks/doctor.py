"""``runbooks doctor``: every runbook's checks in one report, on one shared context.

The context (environment, settings, endpoint, budgets) is built once; then, at the same
time, the network runbook walks the path and the other runbooks run their independent
steps (which credential, which timeouts). Steps that need a working path to the API (a live
request) run afterwards, and are skipped with a reason when the network runbook found the
path broken: one cause is reported once, where it is.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from .books import RUNBOOKS
from .books.base import Context, Runbook
from .books.params import Param
from .client.environment import describe
from .result import Check, Report, Status

__all__ = ["DOCTOR_PARAMETERS", "run_doctor"]


def _union() -> dict[str, Param]:
    out: dict[str, Param] = {}
    for cls in RUNBOOKS.values():
        for name, p in cls.PARAMETERS.items():
            out.setdefault(name, p)
    return out


#: The doctor's options: every runbook's parameters, once each (``--connect-timeout``…).
DOCTOR_PARAMETERS: dict[str, Param] = _union()


def _own(cls: type[Runbook], values: Mapping[str, Any]) -> dict[str, Any]:
    from .books.base import _SHARED

    return {k: values[k] for k in cls.PARAMETERS if k not in _SHARED and k in values}


def _in_thread(fn) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)
    t.start()
    return t


def run_doctor(values: Mapping[str, Any], env: Mapping[str, str] | None = None,
               project_dir: os.PathLike | None = None, context: Context | None = None
               ) -> Report:
    """Run every runbook against one context (``context``, or one built from ``values``,
    the checked parameter values)."""
    t0 = time.perf_counter()
    started = time.time()
    ctx = context or Context.build(values, env, project_dir)
    ctx.role = "doctor"
    books = [cls(ctx, **_own(cls, values)) for cls in RUNBOOKS.values()]
    crashed: dict[str, BaseException] = {}

    def phase(book: Runbook, steps: tuple[str, ...]) -> None:
        try:
            for step in steps:
                getattr(book, step)()
        except Exception as exc:  # noqa: BLE001 - guard() catches per step; this is a bug net
            crashed[book.id] = exc

    first = [_in_thread(lambda b=b: phase(b, b.STEPS)) for b in books]
    for t in first:
        t.join()
    path_ok, why = _path_state(books)
    second = []
    for b in books:
        if not b.LIVE_STEPS:
            continue
        if path_ok:
            second.append(_in_thread(lambda b=b: phase(b, b.LIVE_STEPS)))
        else:
            b.skip_live(f"skipped: {why} (see the network checks)")
    for t in second:
        t.join()
    checks: list[Check] = []
    for b in books:
        b.finish()
        checks += b.checks.values()
        if b.id in crashed:
            exc = crashed[b.id]
            checks.append(Check(f"{b.id}.crash", b.id, Status.ERROR,
                                f"the runbook itself failed: {type(exc).__name__}: {exc}"))
    return Report(runbook="doctor", target=ctx.target.to_dict(), checks=checks,
                  environment=describe(ctx.claude), budget=ctx.budget.to_dict(),
                  started_at=started, duration_s=time.perf_counter() - t0)


def _path_state(books: list[Runbook]) -> tuple[bool, str]:
    """Whether the path to the API works, from the network runbook's HTTP step."""
    net = next((b for b in books if b.id == "network"), None)
    http = net.checks.get("http") if net else None
    if http is None:
        return True, ""
    if http.status == Status.PASS:
        return True, ""
    if http.cause in ("overloaded", "http.server_error"):
        return False, f"the API itself is failing ({http.cause})"
    first = next((c for c in net.checks.values() if c.cause and c.is_finding), None)
    return False, f"the API is not reachable ({(first or http).cause or 'see HTTP'})"
