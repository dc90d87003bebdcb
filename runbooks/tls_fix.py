"""Trusting a TLS-inspection CA: the one fix that is a security decision.

Until the proxy-tls runbook's CA export is in, this module only passes the other fixes
through (:func:`plan_for`)."""

from __future__ import annotations

from .fixes import Plan
from .remedies import FixOptions, make_plan
from .result import Report
from .runbook import Context

__all__ = ["plan_for"]


def plan_for(ctx: Context, report: Report, options: FixOptions) -> Plan:
    return make_plan(ctx, report, options)
