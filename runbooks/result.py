"""The result model: what every check returns and every renderer reads.

A check is data (status, cause, summary, details, fix); the terminal, the
notebook and the JSON report are three renderings of the same record
(:mod:`runbooks.render`, which also installs how a check and a report show themselves in a
notebook and at a prompt: the model knows none of its renderings). A check that crashes becomes an ``error`` result and
the run goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .causes import cause as _cause
from .causes import doc_url
from .masking import redact

__all__ = ["SCHEMA_VERSION", "Check", "Report", "Status"]

SCHEMA_VERSION = 1


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


@dataclass
class Check:
    """One check's outcome. ``cause`` is a code from :mod:`runbooks.causes` or None."""

    id: str
    title: str
    status: Status
    summary: str
    cause: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None
    duration_s: float = 0.0
    runbook: str | None = None  # the runbook that made it (set when recorded)
    #: detail keys too long to read as rows (a sampling's every sample): in the JSON report,
    #: named in one line of the notebook's details table (not part of the JSON itself)
    json_only: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        if self.cause is not None:
            c = _cause(self.cause)  # unknown codes fail loudly, here, not in a renderer
            if self.fix is None:
                self.fix = c.fix

    @property
    def doc(self) -> str | None:
        return doc_url(self.cause) if self.cause else None

    @property
    def is_finding(self) -> bool:
        return self.status in (Status.FAIL, Status.WARN, Status.ERROR)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status.value,
            "cause": self.cause,
            "summary": self.summary,
            "details": self.details,
            "fix": self.fix,
            "doc": self.doc,
            "duration_s": round(self.duration_s, 4),
            "runbook": self.runbook,
        }

    # The notebook's table and the prompt's lines are installed by runbooks.render (the model
    # knows no rendering); until it is imported, a plain line, masked all the same.
    def __repr__(self) -> str:
        return redact(f"Check({self.id!r}, {self.status.value}, {self.summary!r})")


@dataclass
class Report:
    """A runbook's run: the target, every check in order, and when."""

    runbook: str
    target: dict[str, Any]
    checks: list[Check] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, float] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    duration_s: float = 0.0

    @property
    def verdict(self) -> str:
        """``pass`` (nothing found), ``warn`` (only warnings), ``fail``, or ``skip``: every
        check was skipped, so nothing was checked (not a pass)."""
        statuses = {c.status for c in self.checks}
        if statuses & {Status.FAIL, Status.ERROR}:
            return "fail"
        if Status.WARN in statuses:
            return "warn"
        if statuses <= {Status.SKIP}:
            return "skip"
        return "pass"

    @property
    def causes(self) -> list[str]:
        """Every cause code found (by a finding: a skipped check's informational cause, such
        as ``status.unreachable``, is not one), in check order, once each."""
        return list(dict.fromkeys(c.cause for c in self.checks if c.cause and c.is_finding))

    @property
    def findings(self) -> list[Check]:
        return [c for c in self.checks if c.is_finding]

    @property
    def exit_code(self) -> int:
        """0 without a finding (``pass``, or ``skip``: nothing found, nothing checked)."""
        return 0 if self.verdict in ("pass", "skip") else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "runbook": self.runbook,
            "verdict": self.verdict,
            "target": self.target,
            "causes": self.causes,
            "checks": [c.to_dict() for c in self.checks],
            "environment": self.environment,
            "budget": self.budget,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "duration_s": round(self.duration_s, 4),
        }

    def __repr__(self) -> str:  # replaced by runbooks.render, as Check's
        return redact(f"Report({self.runbook!r}, {self.verdict}, {len(self.checks)} checks)")
