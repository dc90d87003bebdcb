"""The project's own exceptions. Network failures are not exceptions here:
they become :class:`runbooks.result.Check` records with a cause code
(see :mod:`runbooks.probes.classify`). What is left are the user's mistakes."""

from __future__ import annotations

__all__ = ["RunbooksError", "UsageError"]


class RunbooksError(Exception):
    """Base of everything this package raises on purpose."""


class UsageError(RunbooksError):
    """Bad input from the user: unknown runbook, bad parameter, malformed URL,
    unreadable file. The CLI prints it as one line and exits 2; a notebook cell shows it as
    one line too (IPython renders :meth:`_render_traceback_` instead of a traceback)."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]
