"""The command line: ``runbooks doctor | run | triage | list | lab``.

Exit codes: 0 everything passed, 1 findings, 2 usage error (one line, no traceback,
nothing written), 130/143 interrupted (Ctrl-C / SIGTERM).

Every input is checked before any work starts: parameters through the runbooks' own
tables (the options are :mod:`runbooks.options`), output paths by creating or probing them
(``--json [PATH|-]`` is :mod:`runbooks.jsonout`'s).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import UsageError
from .jsonout import check_json_path, emit, write_atomically
from .options import PLUGGED, _plugged, _version, build_parser

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
#: How many causes ``triage`` explains in full (the rest it names as "also fits").
TRIAGE_TOP = 3
#: The most text ``triage`` reads from a file or stdin (a whole debug log fits).
TRIAGE_CAP = 16 * 1024 * 1024


# -- output -------------------------------------------------------------------------------------
def _emit_report(report, args: argparse.Namespace, json_file: Path | None) -> int:
    from .render import json_report, terminal_report, use_color

    emit(args, json_file, lambda: terminal_report(report, color=use_color(sys.stdout)),
         json_report(report))
    return report.exit_code


# -- commands ------------------------------------------------------------------------------------
def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import DOCTOR_PARAMETERS, run_doctor

    json_file = check_json_path(args.json_path)
    values = {name: getattr(args, name, p.default) for name, p in DOCTOR_PARAMETERS.items()}
    values["resolve"] = ",".join(values["resolve"])
    return _emit_report(run_doctor(values), args, json_file)


def _fix_values(args: argparse.Namespace) -> dict[str, Any]:
    from .doctor import DOCTOR_PARAMETERS

    values = {name: getattr(args, name, p.default) for name, p in DOCTOR_PARAMETERS.items()}
    values["resolve"] = ",".join(values["resolve"]) if isinstance(values["resolve"], list) \
        else values["resolve"]
    return values


def cmd_fix(args: argparse.Namespace) -> int:
    from .client.settings import user_dir
    from .doctor import run_doctor
    from .fixing.plan import apply_plan, interrupted, recover
    from .fixing.remedies import FixOptions, allowed_targets, check_home
    from .fixing.tls_fix import plan_for
    from .probes.context import Context
    from .render import printable

    json_file = check_json_path(args.json_path)
    if args.trust_ca and not _is_fingerprint(args.trust_ca):
        raise UsageError(f"--trust-ca {args.trust_ca!r}: expected a SHA-256 fingerprint "
                         "(64 hex digits, colons allowed)")
    if args.proxy:
        from .client.target import check_url

        try:
            check_url(args.proxy, credentials=True)
        except ValueError as exc:
            raise UsageError(f"--proxy: {exc}") from None
    values = _fix_values(args)
    ctx = Context.build(values)
    if args.ca_file:
        from .files import FileProblem, read_bytes

        try:
            if b"-----BEGIN CERTIFICATE-----" not in read_bytes(args.ca_file, 16 * 1024 * 1024):
                raise UsageError(f"--ca-file {args.ca_file!r} holds no PEM certificate")
        except FileProblem as exc:
            raise UsageError(f"--ca-file {args.ca_file!r} {exc.reason}") from None
    _check_fix_names(args.only)  # before the checks run, not after
    options = FixOptions(args.target, args.trust_ca.replace(":", "").lower(), args.proxy,
                         tuple(args.only), os.path.abspath(args.ca_file) if args.ca_file else "",
                         args.shell)
    config = user_dir(ctx.env)
    recovered = note = None
    if args.apply:  # before any check: where it writes exists, and what a killed run left
        check_home(ctx, args.shell)
        recovered = recover(config, allowed_targets(ctx), forward=True)
    elif config is not None:
        note = interrupted(config)
    report = run_doctor(values, context=ctx)
    plan = plan_for(ctx, report, options)
    applied = None
    if args.apply and plan.edits:
        applied = apply_plan(plan, config, allowed_targets(ctx))
    if args.json_path == "-":
        out = {"plan": plan.to_dict(), "applied": None if applied is None else
               {"backup": str(applied.folder), "files": [str(p) for p in applied.files]},
               "recovered": None if recovered is None else
               {"what": recovered.recovered, "backup": str(recovered.folder),
                "files": [str(p) for p in recovered.files]},
               "interrupted": note, "report": report.to_dict()}
        print(json.dumps(out, indent=2))
    else:
        if recovered is not None:
            print(f"{recovered.recovered[:1].upper()}{recovered.recovered[1:]} (backup in "
                  f"{recovered.folder}).\n")
        if note:
            print(f"Note: {note}.\n")
        print(printable(plan.render()))  # diff context lines are the user's files
        if args.apply and not plan.edits and plan.fixes:
            print("\nNothing applied: nothing here can be changed automatically.")
        elif applied is not None:
            print(f"\nApplied ({len(applied.files)} file(s)); backup in {applied.folder}.\n"
                  "Undo with `runbooks undo`.")
        elif plan.edits:
            print("\nNothing written. Apply this plan with `runbooks fix --apply` (same "
                  "options).")
        if json_file is not None:
            write_atomically(json_file, json.dumps(plan.to_dict(), indent=2) + "\n")
    pending = any(not f.applicable for f in plan.fixes) or (plan.edits and applied is None) \
        or note is not None
    return EXIT_FINDINGS if pending else EXIT_OK


def _check_fix_names(names: Sequence[str]) -> None:
    """``--only``: a fix that can be applied, or a finding's step by hand (its cause code with
    dashes, as the plan names it)."""
    from .causes import CAUSES
    from .fixing.remedies import FIX_IDS

    known = set(FIX_IDS) | {code.replace(".", "-") for code in CAUSES}
    for name in names:
        if name not in known:
            raise UsageError(f"unknown fix {name!r}; fixes: {', '.join(FIX_IDS)}")


def _is_fingerprint(text: str) -> bool:
    hexed = text.replace(":", "").lower()
    return len(hexed) == 64 and all(c in "0123456789abcdef" for c in hexed)


def cmd_undo(args: argparse.Namespace) -> int:
    from .client.settings import user_dir
    from .fixing.plan import undo_last
    from .fixing.remedies import allowed_targets
    from .probes.context import Context
    from .render import printable

    json_file = check_json_path(args.json_path)
    ctx = Context.build({}, ask_claude=False)
    config = user_dir(ctx.env)
    if config is None:
        raise UsageError("no home folder (HOME/USERPROFILE): nowhere to find backups")
    done = undo_last(config, allowed_targets(ctx))
    what = f"{done.recovered[:1].upper()}{done.recovered[1:]}: r" if done.recovered else "R"
    text = f"{what}estored {len(done.files)} file(s) from {done.folder}."
    if done.diff:
        text = printable(done.diff.rstrip("\n")) + "\n\n" + text
    emit(args, json_file, text,
         json.dumps({"restored": [str(p) for p in done.files], "backup": str(done.folder),
                     "diff": done.diff, "recovered": done.recovered or None}, indent=2))
    return EXIT_OK


def _yaml_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """``-f FILE`` then ``-y YAML``, later ones overriding earlier, as papermill reads them:
    a mapping of NAME: value, each value one scalar. Aliases (``*name``) are refused before
    anything is expanded (a kilobyte of them is a billion values), and so are lists and
    mappings as values; dates stay the text they are (what papermill hands the notebook)."""
    import yaml

    from .books.params import shown
    from .files import FileProblem, read_text

    texts: list[tuple[str, str]] = []
    for path in args.parameters_file:
        try:
            texts.append((f"-f {shown(path)}", read_text(path, 1024 * 1024)))
        except FileProblem as exc:
            raise UsageError(f"parameters file {shown(path)} {exc.reason}") from None
    texts += [(f"-y {shown(raw)}", raw) for raw in args.parameters_yaml]
    out: dict[str, Any] = {}
    for label, raw in texts:
        try:
            data = yaml.load(raw, Loader=_parameters_loader()) or {}  # a SafeLoader
        except _NotAParameter as exc:
            raise UsageError(f"{label}: {exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark else ""
            raise UsageError(f"{label} is not valid YAML{where}") from None
        if not isinstance(data, dict):
            raise UsageError(f"{label} is not a mapping of NAME: value")
        out.update({str(k): v for k, v in data.items()})
    return out


class _NotAParameter(Exception):
    pass


@functools.cache
def _parameters_loader():
    import yaml

    class Loader(yaml.SafeLoader):
        """PyYAML's safe loader, refusing at the event, before anything is built: an alias,
        and a list or mapping below the top-level mapping."""

        def compose_node(self, parent, index):
            event = self.peek_event()
            line = f" (line {event.start_mark.line + 1})"
            if isinstance(event, yaml.AliasEvent):
                raise _NotAParameter(f"YAML aliases (*{event.anchor}) are not accepted in "
                                     f"parameters{line}")
            if parent is not None and isinstance(event, (yaml.SequenceStartEvent,
                                                         yaml.MappingStartEvent)):
                kind = "a list" if isinstance(event, yaml.SequenceStartEvent) else "a mapping"
                raise _NotAParameter(f"a parameter is one value, not {kind}{line}")
            return super().compose_node(parent, index)

    # a date stays text: what papermill writes into the notebook for one, and what `since` reads
    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return Loader


def cmd_run(args: argparse.Namespace) -> int:
    from .books.params import shown
    from .render import shown as outside
    from .runner.execute import available, check_output_dir, coerce, notebook_path, run_notebooks

    names = list(available()) if args.runbook == "all" else [args.runbook]
    for name in names:
        notebook_path(name)  # unknown runbook: fail before anything else
    raw: dict[str, str] = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"bad parameter {shown(item)}: expected NAME=VALUE")
        raw[name.strip()] = value
    for name in ("base_url", "settings", "trust_ca"):
        if getattr(args, name) is not None:
            raw[name] = getattr(args, name)
    if args.apply:
        raw["apply"] = "true"
    typed = _yaml_parameters(args)
    jobs = {name: coerce(name, *_declared_by(name, raw, typed, len(names) > 1))
            for name in names}
    if len(names) > 1:
        _all_known(names, raw, typed)
    _check_context(names[0], jobs[names[0]])
    json_file = check_json_path(args.json_path)
    output_dir = check_output_dir(args.output_dir)
    results = run_notebooks(jobs, output_dir, group="all" if args.runbook == "all" else None)
    report = results[0].report if len(results) == 1 else _aggregate(results)
    emit(args, json_file, lambda: "\n".join(run_summary(results, report)),
         json.dumps(report, indent=2))
    for result in results:
        if result.error:
            print(f"runbooks: {outside(result.error)} (see {result.output})", file=sys.stderr)
    return EXIT_OK if all(r.verdict in ("pass", "skip") for r in results) else EXIT_FINDINGS


def run_summary(results, report: dict[str, Any]) -> list[str]:
    """``runbooks run``'s text: per runbook its verdict, then each finding as the doctor
    prints it (the check, its cause, its fix, the page that explains it), then where the
    notebook and the report are."""
    from .render import shown, terminal_check, use_color

    color = use_color(sys.stdout)
    out: list[str] = []
    for result in results:
        causes = ", ".join(result.report.get("causes", [])) or "none"
        out.append(f"runbook {result.runbook}: verdict {result.verdict}; causes: {causes}")
        findings = [c for c in result.report.get("checks", [])
                    if c.get("status") in ("fail", "warn", "error")]
        width = max((len(str(c.get("title", ""))) for c in findings), default=0)
        out += [terminal_check(_check_of(c), color, width) for c in findings]
        if result.error:
            out.append(f"error:    {shown(result.error)}")
        out.append(f"notebook: {result.output}")
        out.append(f"report:   {result.report_path}")
        out.append(f"time:     {result.wall_s:.2f} s (kernel start {result.kernel_start_s:.2f} "
                   f"s, work {result.work_s:.2f} s)")
    if len(results) > 1:
        out.append(f"all: verdict {report['verdict']}; causes: "
                   f"{', '.join(report['causes']) or 'none'}")
    return out


def _check_of(d: dict[str, Any]):
    """A check of a report's JSON, to render as the doctor does (a code this version does
    not know is shown, not linked)."""
    from .result import Check, Status

    try:
        status = Status(d.get("status"))
    except ValueError:
        status = Status.ERROR
    fields: dict[str, Any] = {
        "id": str(d.get("id", "")), "title": str(d.get("title", "")), "status": status,
        "summary": str(d.get("summary", "")), "fix": d.get("fix"),
        "details": {"lines": (d.get("details") or {}).get("lines") or []}}
    try:
        return Check(cause=d.get("cause"), **fields)
    except KeyError:
        check = Check(**fields)
        check.summary += f" ({d.get('cause')})"
        return check


def _check_context(name: str, params: dict[str, Any]) -> None:
    """What the notebook's first cell will build, built here first: a malformed
    ANTHROPIC_BASE_URL (in the shell or a settings file) is a usage error before any kernel
    starts, not a crashed cell."""
    from .books import get
    from .books.params import check_all
    from .probes.context import Context

    Context.build(check_all(get(name).PARAMETERS, params, name), ask_claude=False)


def _declared_by(name: str, raw: dict[str, str], typed: dict[str, Any], several: bool):
    """The parameters runbook ``name`` declares (all of them when it runs alone, so an
    unknown one is an error naming it)."""
    if not several:
        return raw, typed
    from .books import get

    table = get(name).PARAMETERS
    return ({k: v for k, v in raw.items() if k in table},
            {k: v for k, v in typed.items() if k in table})


def _all_known(names: list[str], raw: dict[str, str], typed: dict[str, Any]) -> None:
    from .books import get
    from .books.params import shown

    known = {p for n in names for p in get(n).PARAMETERS}
    for key in (*raw, *typed):
        if key not in known:
            raise UsageError(f"unknown parameter {shown(key)} for any runbook; valid: "
                             f"{', '.join(sorted(known))}")


def _aggregate(results) -> dict[str, Any]:
    """One report over several runbook runs: the worst verdict, every cause once."""
    from .result import SCHEMA_VERSION

    order = {"skip": -1, "pass": 0, "warn": 1, "fail": 2, "error": 3}  # skip: nothing checked
    verdict = max((r.verdict for r in results), key=lambda v: order.get(v, 3))
    causes = list(dict.fromkeys(c for r in results for c in r.report.get("causes", [])))
    return {"schema_version": SCHEMA_VERSION, "runbook": "all",
            "verdict": "fail" if verdict == "error" else verdict, "causes": causes,
            "runbooks": {r.runbook: {"verdict": r.verdict, "error": r.error,
                                     "report": str(r.report_path), "notebook": str(r.output),
                                     "causes": r.report.get("causes", [])} for r in results}}


def cmd_list(args: argparse.Namespace) -> int:
    from .books import RUNBOOKS
    from .runner.execute import available

    json_file = check_json_path(args.json_path)
    books = available()
    data = json.dumps({"runbooks": [
        {"id": rid, "title": cls.title,
         "notebook": str(books[rid]) if rid in books else None, "offline": cls.OFFLINE,
         "parameters": [{"name": p.name, "type": p.type.__name__, "default": p.default,
                         "expect": p.expect or p.type.__name__, "help": p.help}
                        for p in cls.PARAMETERS.values()]}
        for rid, cls in RUNBOOKS.items()]}, indent=2)
    emit(args, json_file, lambda: "\n".join(list_lines(RUNBOOKS, books)), data)
    return EXIT_OK


def list_lines(runbooks: dict[str, Any], books: dict[str, Path]) -> list[str]:
    """``runbooks list``: the parameters several runbooks take, once each, then every runbook
    with the names of the shared ones it takes and its own in full."""
    import textwrap

    takers: dict[str, list[str]] = {}
    for rid, cls in runbooks.items():
        for name in cls.PARAMETERS:
            takers.setdefault(name, []).append(rid)
    shared = [name for name, rids in takers.items() if len(rids) > 1]

    def line(p) -> str:
        return (f"  -p {p.name + '=' + repr(p.default):<26} {p.expect or p.type.__name__}: "
                f"{p.help}")

    out = ["Parameters several runbooks take (-p NAME=VALUE; each runbook below says which):"]
    out += [line(runbooks[takers[name][0]].PARAMETERS[name]) for name in shared]
    for rid, cls in runbooks.items():
        where = "" if rid in books else "  (no notebook)"
        out += ["", f"{rid}: {cls.title}{where}"]
        common = [n for n in cls.PARAMETERS if n in shared]
        if common:
            out += textwrap.wrap(", ".join(common), 96, initial_indent="  shared: ",
                                 subsequent_indent="          ")
        out += [line(p) for n, p in cls.PARAMETERS.items() if n not in shared]
    return out


def _triage_text(args: argparse.Namespace) -> str:
    from .files import FileProblem, read_bytes

    if args.file is not None:
        if args.message:
            raise UsageError("give the message or --file, not both")
        if not args.file.strip():
            raise UsageError("--file is empty: give a path")
        try:
            data = read_bytes(args.file, TRIAGE_CAP)
        except FileProblem as exc:
            raise UsageError(f"--file {args.file!r} {exc.reason}") from None
    elif args.message == ["-"]:
        data = sys.stdin.buffer.read(TRIAGE_CAP + 1)
        if len(data) > TRIAGE_CAP:
            raise UsageError(f"standard input is over the {TRIAGE_CAP:,}-byte limit: pass the "
                             "part with the error")
    else:
        data = " ".join(args.message).encode("utf-8", "surrogateescape")
    text = data.decode("utf-8", "replace").replace("\x00", " ")
    if not text.strip():
        raise UsageError("no error text given: runbooks triage \"API Error: …\" (or - to read "
                         "standard input, or --file PATH)")
    return text


def cmd_triage(args: argparse.Namespace) -> int:
    from .causes import doc_url
    from .runner.execute import NOTEBOOK_DIR
    from .triage import SPECIFIC, rank

    if not args.message and args.file is None and args.json_value is not None:
        # `triage --json "message"` / `triage --json -`, from when --json took no value: with
        # no message given, what follows --json is the message, and the JSON goes to stdout
        args.message, args.json_path = [args.json_value], "-"
    json_file = check_json_path(args.json_path)
    result = rank(_triage_text(args))
    found = result.ranked

    def runbook_of(c) -> str | None:  # a runbook one can run: its notebook ships
        return c.runbook if (NOTEBOOK_DIR / f"{c.runbook}.ipynb").is_file() else None

    def lines() -> str:
        if not found:
            return ("No known signature in that message. Run `runbooks doctor` to test the "
                    "connection itself.")
        top, rest = found[:TRIAGE_TOP], found[TRIAGE_TOP:]
        out = []
        if found[0].matched and all(i.best < SPECIFIC for i in found):
            out.append("Only general words matched: nothing in this text names one cause, so "
                       "these are where to look first (`runbooks doctor` checks the connection).")
        out.append(f"Most likely first ({len(top)} of {len(found)} that fit):" if len(found) > 1
                   else "The cause that fits:")
        for n, item in enumerate(top, 1):
            c = item.cause
            book = runbook_of(c)
            runbook = f"runbooks run {book}" if book else "none yet: follow the docs page"
            out.append(f"{n}. {c.code}: {c.title}")
            said = [f'"{r.text}"' + (f" ({r.seen})" if r.seen else "") for r in item.matched[:3]]
            if said:
                out.append(f"    matched: {', '.join(said)}")
            if len(found) > 1 and c.check:
                out.append(f"    tells it apart: {c.check}")
            out.append(f"    fix:  {c.fix}\n    docs: {doc_url(c.code)}\n    runbook: {runbook}")
        if rest:
            out.append("Also fits: " + ", ".join(i.cause.code for i in rest))
        if result.version:
            out.append(f"Client version in the paste: {result.version}")
        out += [f"Note: {note}" for note in result.notes]
        return "\n".join(out)

    emit(args, json_file, lines, json.dumps(
        {"causes": [{"cause": i.cause.code, "title": i.cause.title, "page": doc_url(i.cause.code),
                     "runbook": runbook_of(i.cause), "check": i.cause.check, "best": i.best,
                     "score": i.score, "matched": [r.text for r in i.matched]}
                    for i in found],
         "version": result.version, "notes": result.notes}, indent=2))
    return EXIT_OK if found else EXIT_FINDINGS


def cmd_lab(args: argparse.Namespace) -> int:
    from .lab import SCENARIOS, start

    if args.lab_command in (None, "list"):
        from .lab.history_scenarios import RECORD_SCENARIOS

        every = {**SCENARIOS, **RECORD_SCENARIOS}
        width = max(map(len, every))
        for s in every.values():
            print(f"{s.name:<{width}}  {s.expect or 'healthy':<24} {s.summary}")
        return EXIT_OK
    json_file = check_json_path(args.json_path)
    with _stop_on_signals():
        lab = start(args.scenario)
        try:
            data = json.dumps({"scenario": lab.scenario.name, "base_url": lab.base_url,
                               "expect": lab.scenario.expect, "params": lab.params,
                               "env": lab.env, "client_env": lab.client_env})
            if args.json_path == "-":
                print(data, flush=True)
            else:
                if json_file is not None:  # before the text: a script waits for the file
                    write_atomically(json_file, data + "\n")
                _print_lab(lab)
            _wait_forever()
        except (KeyboardInterrupt, SystemExit, EOFError):
            pass
        finally:
            lab.stop()
            if args.json_path != "-":
                with contextlib.suppress(OSError):
                    print("\nlab stopped.", flush=True)
    return EXIT_OK


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP (a closed terminal) stop the lab as Ctrl-C does: its temporary
    folder, private keys included, is removed on every one of them."""
    caught = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]
    old = {s: signal.signal(s, lambda *_: sys.exit(0)) for s in caught}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _wait_forever() -> None:
    if hasattr(signal, "pause"):
        while True:
            signal.pause()
    else:  # Windows: no pause(); sleep in slices so Ctrl-C is seen
        import time

        while True:
            time.sleep(0.5)


def _print_lab(lab) -> None:
    import shlex

    s = lab.scenario
    print(f"lab scenario {s.name}: {s.summary}")
    print(f"  listening: {lab.base_url}")
    print(f"  expected diagnosis: {s.expect or 'healthy'}")
    extra = "".join(f" --{k.replace('_', '-')} {shlex.quote(str(v))}"
                    for k, v in lab.params.items() if k != "base_url")
    print("\nDiagnose it:")
    env = " ".join(f"{k}={shlex.quote(v)}" for k, v in lab.env.items())
    print(f"  {env} runbooks doctor{extra}")
    print("\nPoint the real Claude Code at it (temporary HOME, nothing else contacted):")
    cenv = " ".join(f"{k}={shlex.quote(v)}" for k, v in lab.client_env.items())
    home = "" if "HOME" in lab.client_env else "HOME=$(mktemp -d) "  # helper-fails has its own
    print(f"  {home}{cenv} claude -p hello")
    if s.client_message:
        print(f"  → expect: {s.client_message}")
    for note in lab.notes:
        print(f"\nnote: {note}")
    print("\nCtrl-C stops the lab.", flush=True)


def cmd_retry(args: argparse.Namespace) -> int:
    import shutil

    from .retry import run_with_retries

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise UsageError("no command given: runbooks retry -- claude -p \"…\"")
    if shutil.which(command[0]) is None:
        raise UsageError(f"command not found: {command[0]!r}")
    return run_with_retries(command, args.max, args.base, args.cap,
                            buffer=args.buffer).exit_code


COMMANDS = {"doctor": cmd_doctor, "fix": cmd_fix, "undo": cmd_undo, "run": cmd_run,
            "list": cmd_list, "triage": cmd_triage, "lab": cmd_lab, "retry": cmd_retry,
            **{name: (lambda args, n=name: _plugged(n).main(args)) for name in PLUGGED}}


def _quiet_stdout() -> None:
    """stdout is gone (``| head`` closed the pipe): point it at devnull so the interpreter's
    final flush does not print a traceback."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    from .runner.execute import Interrupted

    for stream in (sys.stdout, sys.stderr):  # a Windows pipe's code page cannot fail a run
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="replace")
    given = list(sys.argv[1:] if argv is None else argv)
    if given in (["--version"], ["-V"]):
        print(f"runbooks {_version()}")
        return EXIT_OK
    first = next((a for a in given if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    try:
        try:
            args = parser.parse_args(given)
        except SystemExit as exit_:  # --help, --version: argparse printed and exits
            sys.stdout.flush()
            return int(exit_.code or 0)
        if not args.command:
            parser.print_help()
            return EXIT_USAGE
        code = COMMANDS[args.command](args)
        sys.stdout.flush()
        return code
    except UsageError as exc:
        print(f"runbooks: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as exc:
        print(f"runbooks: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("runbooks: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_FINDINGS
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EPIPE):
            _quiet_stdout()
            with contextlib.suppress(OSError):
                print(f"runbooks: cannot write the output: {exc.strerror}", file=sys.stderr)
            return EXIT_FINDINGS
        raise


def _one_line(exc: BaseException) -> str:
    from .render import shown

    return shown(" ".join(str(exc).split()))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
