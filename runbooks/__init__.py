"""Executable runbooks for Claude Code connection failures.

The public face is small on purpose; everything else is internal::

    from runbooks import diagnose, NetworkRun, Check, Report, Status, Budget, CAUSES
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import Any

from .errors import RunbooksError, UsageError

#: Where each public name lives: imported on first use, so `runbooks triage` does not pay
#: for httpx, the probes and every runbook (PEP 562).
_LAZY = {"NetworkRun": ".books.network", "diagnose": ".books.network", "Budget": ".budget",
         "CAUSES": ".causes", "Cause": ".causes", "SCHEMA_VERSION": ".result",
         # from render: it installs how a check and a report show themselves
         "Check": ".render", "Report": ".render", "Status": ".result", "Target": ".client.target",
         "resolve_target": ".client.target"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "CAUSES",
    "SCHEMA_VERSION",
    "Budget",
    "Cause",
    "Check",
    "NetworkRun",
    "Report",
    "RunbooksError",
    "Status",
    "Target",
    "UsageError",
    "__version__",
    "diagnose",
    "resolve_target",
]
