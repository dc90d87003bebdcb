"""The runbooks, one module each, holding only their steps (the shared shape is
:mod:`runbooks.books.base`; the probes they call are in :mod:`runbooks.probes`, the client's
world they read in :mod:`runbooks.client`).

``RUNBOOKS`` maps each runbook's id (its notebook is ``notebooks/<id>.ipynb``) to its class,
in the order ``runbooks doctor`` runs them.
"""

from __future__ import annotations

from ..errors import UsageError
from .auth import AuthRun
from .base import Runbook
from .debugging import DebuggingRun
from .network import NetworkRun
from .proxy_tls import ProxyTlsRun
from .rate_limits import RateLimitsRun
from .recovery import RecoveryRun
from .timeouts import TimeoutsRun

__all__ = ["RUNBOOKS", "get"]

RUNBOOKS: dict[str, type[Runbook]] = {cls.id: cls for cls in (
    NetworkRun, ProxyTlsRun, AuthRun, TimeoutsRun, RateLimitsRun, RecoveryRun, DebuggingRun)}


def get(runbook_id: str) -> type[Runbook]:
    try:
        return RUNBOOKS[runbook_id]
    except KeyError:
        raise UsageError(f"unknown runbook {runbook_id!r}; available: "
                         f"{', '.join(RUNBOOKS)}") from None
