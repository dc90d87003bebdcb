"""The command line's option tables: every command's options, and how each value is read.

Values are read by the runbooks' own parameter tables (:mod:`runbooks.books.params`: the same
rules for ``doctor --connect-timeout`` and ``run -p connect_timeout=``); a bad one is a
UsageError, one line naming it. ``--json [PATH|-]`` is :mod:`runbooks.jsonout`'s; the
commands themselves are :mod:`runbooks.cli`.
"""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .errors import UsageError
from .jsonout import add_json_option

__all__ = ["PLUGGED", "build_parser"]


#: Commands implemented in a module of their own (:data:`_MODULES`), each with
#: ``add_arguments(parser)`` and ``main(args) -> int``; the order is ``runbooks --help``'s.
PLUGGED = {
    "history": "what went wrong, from Claude Code's own records (error records only)",
    "bundle": "one archive for a bug report, every secret masked",
    "preflight": "is it safe to start a long task? (exit 0, or 1 and one line why)",
}


#: Where each of them lives (imported only when it is the command given).
_MODULES = {"history": "runbooks.records.history", "bundle": "runbooks.bundle",
            "preflight": "runbooks.preflight"}


def _plugged(name: str):
    import importlib

    return importlib.import_module(_MODULES[name])


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, naming the bad value
        raise UsageError(message)


def _param_type(param, option: str):
    def parse(raw: str):
        return param.parse(raw, via=option)
    parse.__name__ = param.expect or param.type.__name__
    return parse


def _count(option: str, low: int, high: int):
    def parse(raw: str) -> int:
        from .books.params import integer

        return integer("n", low, "", low, high).parse(raw, via=option)
    return parse


def _positive(option: str, high: float):
    def parse(raw: str) -> float:
        from .books.params import seconds

        return seconds("s", 1.0, "", high).parse(raw, via=option)
    return parse


def _option_kwargs(param: Any) -> dict[str, Any]:
    """How one doctor parameter looks on the command line (the same for doctor and fix)."""
    if param.type is bool:  # a switch: --live, --all-projects
        return {"action": "store_true", "default": param.default, "help": param.help}
    if param.name == "resolve":  # repeatable on the command line, one string inside
        return {"type": _param_type(param, param.option), "action": "append", "default": [],
                "metavar": "HOST:ADDR", "help": param.help}
    return {"type": _param_type(param, param.option), "default": param.default,
            "metavar": {str: param.expect, int: "N"}.get(param.type, "S"), "help": param.help}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the options of that one command (the others
    are listed, without theirs): a `runbooks triage` need not import every runbook."""
    def wanted(name: str) -> bool:
        return only is None or only == name

    parser = _Parser(prog="runbooks", description="Diagnose and fix Claude Code connection "
                     "failures with executable runbooks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("doctor", help="check the connection Claude Code would make, now")
    if wanted("doctor") or wanted("fix"):
        from .doctor import DOCTOR_PARAMETERS
    for param in DOCTOR_PARAMETERS.values() if wanted("doctor") else ():
        if param.name in ("apply", "trust_ca"):  # the doctor diagnoses; `runbooks fix` fixes
            continue
        d.add_argument(param.option, dest=param.name, **_option_kwargs(param))
    add_json_option(d)

    f = sub.add_parser("fix", help="show the plan that fixes what the doctor finds; --apply "
                       "applies it", description="Run the doctor, then show the fixes for its "
                       "findings as unified diffs. Nothing is written without --apply.")
    for param in DOCTOR_PARAMETERS.values() if wanted("fix") else ():
        if param.name in ("live", "live_model", "samples", "duration", "apply", "trust_ca"):
            continue
        f.add_argument(param.option, dest=param.name, **_option_kwargs(param))
    f.add_argument("--apply", action="store_true", help="apply the plan shown (back up first)")
    f.add_argument("--target", choices=("user", "project", "local"), default="user",
                   help="which settings file a new variable goes to (default: %(default)s)")
    f.add_argument("--trust-ca", default="", metavar="SHA256",
                   help="trust the TLS-inspection CA with this fingerprint (confirm it first)")
    f.add_argument("--ca-file", default="", metavar="PEM",
                   help="the inspection CA you were given (IT's root), when the proxy does not "
                        "present it: checked against the chain, then trusted with --trust-ca")
    f.add_argument("--proxy", default="", metavar="URL",
                   help="a proxy this network needs (http://host:port): checked, then set")
    f.add_argument("--shell", choices=("bash", "zsh", "fish"), default="",
                   help="also export the variables set from this shell's start-up file (a "
                        "marked block; for clients that read only the environment)")
    f.add_argument("--only", action="append", default=[], metavar="FIX",
                   help="only this fix (repeatable): api-timeout, no-proxy, proxy, "
                        "credential-quotes, proxy-spelling, trust-ca")
    add_json_option(f)

    u = sub.add_parser("undo", help="restore what the last `runbooks fix --apply` changed")
    add_json_option(u, 'what was restored as {"restored", "backup", "diff"}')

    r = sub.add_parser("run", help="run a runbook notebook headless (papermill)")
    r.add_argument("runbook", help="runbook name (see `runbooks list`), or all")
    r.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="set a notebook parameter (repeatable)")
    r.add_argument("-y", "--parameters-yaml", action="append", default=[], metavar="YAML",
                   help="parameters as a YAML mapping, as papermill -y takes them")
    r.add_argument("-f", "--parameters-file", action="append", default=[], metavar="FILE",
                   help="parameters from a YAML file, as papermill -f takes them")
    r.add_argument("--base-url", metavar="URL", help="shorthand for -p base_url=URL")
    r.add_argument("--settings", metavar="FILE", help="shorthand for -p settings=FILE")
    r.add_argument("--apply", action="store_true", help="shorthand for -p apply=true: apply "
                   "the fixes the runbook's findings call for (backed up; `runbooks undo`)")
    r.add_argument("--trust-ca", metavar="SHA256", help="shorthand for -p trust_ca=SHA256")
    r.add_argument("--output-dir", default="runbook-output", metavar="DIR",
                   help="each run gets its own folder under DIR (default: %(default)s)")
    add_json_option(r)

    t = sub.add_parser(
        "triage", help="which cause does this error message point to?",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="The causes whose known messages occur in the text, best first.",
        epilog=(
            "The text is normalised first (escapes at any depth and HTML entities decoded, an\n"
            "HTML page read by its title, tree markers, retry lines and line wraps undone);\n"
            "each signature that occurs adds its weight to its causes, ranked by their best\n"
            "signature, then by the sum. The first three are explained: which words matched\n"
            "(and the client versions that print them), the one check that tells each from\n"
            "the others (\"tells it apart\"), the fix, the docs page and the runbook; the\n"
            "rest are named as \"also fits\". A paste that names its client version\n"
            "(\"Claude Code v1.0.35\") is told what changed since; an older wording is told\n"
            "what the client says now. Ranked on real users' pastes: docs reference/triage/."))
    t.add_argument("message", nargs="*", help="the error text Claude Code printed; '-' reads "
                   "standard input")
    t.add_argument("--file", metavar="PATH", help="read the error text from a file (a log)")
    add_json_option(t, '{"causes": [...], "version", "notes"}, ranked best first')

    lst = sub.add_parser("list", help="list the runbooks and their parameters")
    add_json_option(lst, '{"runbooks": [{"id", "title", "notebook", "offline", '
                         '"parameters": [...]}]}')

    rt = sub.add_parser("retry", help="run a command, retrying only failures a retry can fix",
                        usage="runbooks retry [--max N] [--base S] [--cap S] -- COMMAND …")
    rt.add_argument("--max", type=_count("--max", 1, 50), default=5, metavar="N",
                    help="attempts in all (default: %(default)s)")
    rt.add_argument("--base", type=_positive("--base", 600.0), default=2.0, metavar="S",
                    help="backoff base in seconds: waits are random in [0, base × 2ⁿ] "
                         "(default: %(default)s)")
    rt.add_argument("--cap", type=_positive("--cap", 3600.0), default=60.0, metavar="S",
                    help="the longest wait between attempts (default: %(default)s)")
    rt.add_argument("--no-buffer", action="store_false", dest="buffer",
                    help="stream every attempt's standard output as it comes (default: only "
                         "the attempt that counts)")
    rt.add_argument("argv", nargs=argparse.REMAINDER, metavar="COMMAND",
                    help="the command, after --")

    # commands whose whole implementation lives in their own module: add_arguments + main
    for name, help_ in PLUGGED.items():
        if not wanted(name):
            sub.add_parser(name, help=help_)
            continue
        module = _plugged(name)
        p = sub.add_parser(name, help=help_, description=(module.__doc__ or "").split("\n\n")[0])
        module.add_arguments(p)

    lab = sub.add_parser("lab", help="start local servers that reproduce each fault")
    labsub = lab.add_subparsers(dest="lab_command", metavar="ACTION", parser_class=_Parser)
    labsub.add_parser("list", help="list the scenarios")
    ls = labsub.add_parser("start", help="start a scenario until Ctrl-C")
    ls.add_argument("scenario")
    add_json_option(ls, "the scenario's URL and environment, as one JSON line")
    return parser


def _version() -> str:
    from . import __version__

    return __version__
