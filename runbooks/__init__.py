"""Executable runbooks for Claude Code connection failures.

The public face is small on purpose; everything else is internal::

    from runbooks import diagnose, NetworkRun, Check, Report, Status, Budget, CAUSES
"""

from __future__ import annotations

__version__ = "0.1.0"

from .books.network import NetworkRun, diagnose
from .budget import Budget
from .causes import CAUSES, Cause
from .errors import RunbooksError, UsageError
from .result import SCHEMA_VERSION, Check, Report, Status
from .target import Target, resolve_target

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
