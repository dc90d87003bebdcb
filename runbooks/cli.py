"""The command line: ``runbooks doctor | run | triage | lab | list``.

Exit codes: 0 everything passed, 1 findings, 2 usage error (one line, no
traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from .errors import UsageError

__all__ = ["main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, naming the bad value
        raise UsageError(message)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seconds in (0, 600]")
    return value


def _add_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base-url", metavar="URL",
                   help="API endpoint (default: ANTHROPIC_BASE_URL, else https://api.anthropic.com)")
    p.add_argument("--json", metavar="PATH", dest="json_path",
                   help="also write the JSON report to PATH ('-' for stdout, replacing the text)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="runbooks", description="Diagnose and fix Claude Code connection "
                     "failures with executable runbooks.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("doctor", help="check the connection Claude Code would make, now")
    _add_target_options(d)
    d.add_argument("--settings", default="", metavar="FILE",
                   help="a settings file, as `claude --settings FILE` takes it")
    d.add_argument("--nameserver", default="", metavar="IP[:PORT]",
                   help="ask this DNS server instead of the system resolver")
    d.add_argument("--resolve", action="append", default=[], metavar="HOST:ADDR",
                   help="curl-style pin: skip DNS for HOST (repeatable)")
    d.add_argument("--dns-timeout", type=_seconds, default=3.0, metavar="S")
    d.add_argument("--connect-timeout", type=_seconds, default=5.0, metavar="S")
    d.add_argument("--tls-timeout", type=_seconds, default=5.0, metavar="S")
    d.add_argument("--read-timeout", type=_seconds, default=10.0, metavar="S")

    r = sub.add_parser("run", help="run a runbook notebook headless (papermill)")
    r.add_argument("runbook", help="runbook name (see `runbooks list`)")
    r.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                   help="set a notebook parameter (repeatable)")
    r.add_argument("--output-dir", default="runbook-output", metavar="DIR",
                   help="where the executed notebook and JSON report go (default: %(default)s)")
    _add_target_options(r)

    t = sub.add_parser("triage", help="which cause does this error message point to?")
    t.add_argument("message", nargs="+", help="the error text Claude Code printed")

    sub.add_parser("list", help="list the runbooks and their parameters")

    lab = sub.add_parser("lab", help="start local servers that reproduce each fault")
    labsub = lab.add_subparsers(dest="lab_command", metavar="ACTION", parser_class=_Parser)
    labsub.add_parser("list", help="list the scenarios")
    ls = labsub.add_parser("start", help="start a scenario until Ctrl-C")
    ls.add_argument("scenario")
    ls.add_argument("--json", action="store_true", dest="as_json",
                    help="print the scenario's URL and environment as one JSON line")
    return parser


def _version() -> str:
    from . import __version__

    return __version__


# -- commands ------------------------------------------------------------------------------------
def _emit_report(report, json_path: str | None) -> int:
    from .render import json_report, terminal_report, use_color

    if json_path == "-":
        sys.stdout.write(json_report(report))
    else:
        print(terminal_report(report, color=use_color(sys.stdout)))
        if json_path:
            _write_text(Path(json_path), json_report(report))
    return report.exit_code


def _write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}") from None


def cmd_doctor(args: argparse.Namespace) -> int:
    from .network import NetworkRun

    run = NetworkRun.from_parameters(
        base_url=args.base_url or "", nameserver=args.nameserver, resolve=args.resolve,
        settings_file=args.settings,
        dns_timeout=args.dns_timeout, connect_timeout=args.connect_timeout,
        tls_timeout=args.tls_timeout, read_timeout=args.read_timeout)
    return _emit_report(run.run_all(), args.json_path)


def cmd_run(args: argparse.Namespace) -> int:
    from .execute import coerce, notebook_path, run_notebook
    from .target import parse_base_url

    notebook_path(args.runbook)  # unknown runbook: fail before anything else
    raw: dict[str, str] = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"bad parameter {item!r}: expected NAME=VALUE")
        raw[name.strip()] = value
    if args.base_url:
        raw["base_url"] = args.base_url
    params = coerce(args.runbook, raw)
    if params.get("base_url"):
        parse_base_url(params["base_url"])
    result = run_notebook(args.runbook, params, Path(args.output_dir))
    report = result.report
    if args.json_path == "-":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        if args.json_path:
            _write_text(Path(args.json_path), json.dumps(report, indent=2) + "\n")
        verdict = report.get("verdict", "unknown")
        causes = ", ".join(report.get("causes", [])) or "none"
        print(f"runbook {args.runbook}: verdict {verdict}; causes: {causes}")
        print(f"notebook: {result.output}")
        print(f"report:   {result.report_path}")
        print(f"time:     {result.wall_s:.2f} s (kernel start {result.kernel_start_s:.2f} s, "
              f"work {result.work_s:.2f} s)")
    return EXIT_OK if report.get("verdict") == "pass" else EXIT_FINDINGS


def cmd_list(args: argparse.Namespace) -> int:
    from .execute import available, parameters

    for name in available():
        print(name)
        for p in parameters(name).values():
            if p.name == "report_path":
                continue
            print(f"  -p {p.name + '=' + repr(p.default):<24} ({p.type}) {p.help}")
    return EXIT_OK


def cmd_triage(args: argparse.Namespace) -> int:
    from .causes import doc_url, match_message

    text = " ".join(args.message)
    from .causes import CAUSES

    # a cause code (from a report, say) is looked up directly
    found = [CAUSES[text.strip()]] if text.strip() in CAUSES else match_message(text)
    if not found:
        print("No known signature in that message. Run `runbooks doctor` to test the "
              "connection itself.")
        return EXIT_FINDINGS
    from .execute import available

    books = available()
    for c in found:
        runbook = (f"runbooks run {c.runbook}" if c.runbook in books
                   else f"none yet for {c.runbook}: follow the docs page")
        print(f"{c.code}: {c.title}\n    fix:  {c.fix}\n    docs: {doc_url(c.code)}"
              f"\n    runbook: {runbook}")
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from .lab import SCENARIOS, start

    if args.lab_command in (None, "list"):
        width = max(map(len, SCENARIOS))
        for s in SCENARIOS.values():
            print(f"{s.name:<{width}}  {s.expect or 'healthy':<24} {s.summary}")
        return EXIT_OK
    lab = start(args.scenario)
    try:
        if args.as_json:
            print(json.dumps({"scenario": lab.scenario.name, "base_url": lab.base_url,
                              "expect": lab.scenario.expect, "params": lab.params,
                              "env": lab.env, "client_env": lab.client_env}), flush=True)
        else:
            _print_lab(lab)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.pause() if hasattr(signal, "pause") else input()
    except (KeyboardInterrupt, SystemExit, EOFError):
        pass
    finally:
        lab.stop()
        if not args.as_json:
            print("\nlab stopped.")
    return EXIT_OK


def _print_lab(lab) -> None:
    import shlex

    s = lab.scenario
    print(f"lab scenario {s.name}: {s.summary}")
    print(f"  listening: {lab.base_url}")
    print(f"  expected diagnosis: {s.expect or 'healthy'}")
    extra = "".join(f" --{k} {shlex.quote(str(v))}" for k, v in lab.params.items()
                    if k != "base_url")
    print("\nDiagnose it:")
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in lab.env.items())
    print(f"  {env} runbooks doctor{extra}")
    print("\nPoint the real Claude Code at it (temporary HOME, nothing else contacted):")
    cenv = " ".join(f"{k}={shlex.quote(v)}" for k, v in lab.client_env.items())
    print(f"  HOME=$(mktemp -d) {cenv} claude -p hello")
    if s.client_message:
        print(f"  → expect: {s.client_message}")
    for note in lab.notes:
        print(f"\nnote: {note}")
    print("\nCtrl-C stops the lab.", flush=True)


COMMANDS = {"doctor": cmd_doctor, "run": cmd_run, "list": cmd_list, "triage": cmd_triage,
            "lab": cmd_lab}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"runbooks: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("runbooks: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"runbooks: {exc}", file=sys.stderr)
        return EXIT_FINDINGS


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
