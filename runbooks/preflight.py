"""`runbooks preflight`: is it safe to start a long task? Exit 0, or 1 and one line why.

The fast subset of the doctor, for scripts and CI, run before an unattended ``claude -p``:
the path to the API (proxy, DNS, TCP, TLS, one keyless request), the credential the client
would send and whether the API accepts it (free), the timeouts it would use, and the status
page. No live message, no sampling; shorter budgets than the doctor's, so a dead network is
known in about two seconds. A warning (an API_TIMEOUT_MS that turns the timeout off, an
unreachable status page) does not stop a task; a failure, or an incident in progress on the
API, does.

    runbooks preflight && claude -p "…"            # one line on stdout either way
    runbooks preflight --quiet || exit 1            # silent when all is well
"""

from __future__ import annotations

import argparse
import sys

from .errors import UsageError

__all__ = ["BUDGETS", "UNSAFE_WARNINGS", "add_arguments", "main", "verdict"]

#: Shorter than the doctor's: a script wants its answer fast.
BUDGETS = {"dns_timeout": 2.0, "connect_timeout": 2.0, "tls_timeout": 3.0, "read_timeout": 3.0}
#: Warnings that still make a long task a bad idea right now.
UNSAFE_WARNINGS = frozenset({"status.incident"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .doctor import DOCTOR_PARAMETERS
    from .options import _param_type

    for name in ("base_url", "settings", "nameserver", "resolve", "status_url",
                 "connect_timeout", "read_timeout"):
        p = DOCTOR_PARAMETERS[name]
        default = BUDGETS.get(name, p.default)
        metavar = {str: p.expect, int: "N"}.get(p.type, "S")
        parser.add_argument(p.option, dest=name, type=_param_type(p, p.option), default=default,
                            metavar=metavar, help=p.help + (f" (default {default:g})"
                                                            if name in BUDGETS else ""))
    parser.add_argument("--quiet", action="store_true", help="print nothing when it is safe")
    from .jsonout import add_json_option

    add_json_option(parser, "the doctor's JSON report (the line then goes to stderr)")


def verdict(report) -> tuple[bool, str]:
    """(safe, one line) for a doctor report."""
    from .causes import CAUSES, doc_url

    blocking = [c for c in report.checks if c.status in ("fail", "error") or
                (c.status == "warn" and c.cause in UNSAFE_WARNINGS)]
    if not blocking:
        warned = [c.cause for c in report.findings if c.cause]
        extra = f"; warnings: {', '.join(dict.fromkeys(warned))}" if warned else ""
        return True, (f"preflight: ok — the API answers, the credential is accepted"
                      f"{extra} ({report.duration_s:.1f} s)")
    c = blocking[0]
    if c.cause:
        more = f" (+{len(blocking) - 1} more)" if len(blocking) > 1 else ""
        return False, (f"preflight: not safe to start: {c.cause} — {CAUSES[c.cause].title}"
                       f"{more}; {doc_url(c.cause)}")
    return False, f"preflight: not safe to start: {c.title}: {c.summary}"


def main(args: argparse.Namespace) -> int:
    from .doctor import DOCTOR_PARAMETERS, run_doctor
    from .jsonout import check_json_path, write_atomically
    from .render import json_report, shown

    json_file = check_json_path(args.json_path)
    values = {name: p.default for name, p in DOCTOR_PARAMETERS.items()}  # apply stays False
    values.update(BUDGETS)
    for name in ("base_url", "settings", "nameserver", "resolve", "status_url",
                 "connect_timeout", "read_timeout"):
        values[name] = getattr(args, name)
    if values["resolve"] is None:
        raise UsageError("--resolve needs HOST:ADDR")
    report = run_doctor(values)
    safe, line = verdict(report)
    line = shown(line)  # a check's summary can quote a gateway's page
    if args.json_path == "-":
        sys.stdout.write(json_report(report))
        if not (safe and args.quiet):
            print(line, file=sys.stderr)
    else:
        if json_file is not None:
            write_atomically(json_file, json_report(report))
        if not (safe and args.quiet):
            print(line)
    return 0 if safe else 1
