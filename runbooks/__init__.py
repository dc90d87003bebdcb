"""Executable runbooks for Claude Code connection failures.

The public face is small on purpose; everything else is internal::

    from runbooks import diagnose, NetworkRun, Check, Report, Status, Budget, CAUSES
"""

from __future__ import annotations

__version__ = "0.1.0"

from .budget import Budget
from .causes import CAUSES, Cause
from .errors import RunbooksError, UsageError
from .books.network import NetworkRun, diagnose
from .result import SCHEMA_VERSION, Check, Report, Status
from .target import Target, resolve_target

__all__ = [
    "__version__",
    "Budget",
    "CAUSES",
    "Cause",
    "Check",
    "NetworkRun",
    "Report",
    "RunbooksError",
    "SCHEMA_VERSION",
    "Status",
    "Target",
    "UsageError",
    "diagnose",
    "resolve_target",
]
