"""The package's public face is small and pinned."""

import runbooks
from runbooks.masking import mask_key, mask_url, redact


def test_public_surface_is_pinned():
    assert sorted(runbooks.__all__) == sorted([
        "__version__", "Budget", "CAUSES", "Cause", "Check", "NetworkRun", "Report",
        "RunbooksError", "SCHEMA_VERSION", "Status", "Target", "UsageError", "diagnose",
        "resolve_target",
    ])


def test_masking():
    assert mask_key("sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123") == "sk-ant-…0123"
    assert mask_url("http://bob:hunter2@proxy.corp:8080") == "http://bob:****@proxy.corp:8080"
    assert "hunter2" not in redact("key sk-ant-api03-hunter2hunter2hunter2 here")


def test_the_model_knows_no_rendering():
    """runbooks.result imports no renderer; until runbooks.render installs the terminal and
    notebook renderings, a check's repr is one plain line, masked all the same."""
    import subprocess
    import sys

    code = ("import sys; from runbooks.result import Check; "
            "c = Check('x', 'X', 'pass', 'key sk-ant-api03-hunter2hunter2hunter2hunter2 here'); "
            "assert 'runbooks.render' not in sys.modules, 'result imported render'; "
            "print(repr(c)); import runbooks.render; print(repr(c))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    plain, rendered = out.splitlines()
    assert "hunter2" not in out and plain.startswith("Check('x', pass")
    assert rendered.startswith("[✓] X")


def test_the_runbooks_package_is_pinned():
    """``from runbooks.books import get`` (every notebook's first line), ``RUNBOOKS`` in the
    doctor's order, and each runbook where its notebook and the docs import it from
    (``from runbooks.books.network import NetworkRun``)."""
    from runbooks import books

    assert sorted(books.__all__) == ["RUNBOOKS", "get"]
    assert list(books.RUNBOOKS) == ["network", "proxy-tls", "auth", "timeouts", "rate-limits",
                                    "recovery", "debugging"]
    for rid, cls in books.RUNBOOKS.items():
        assert cls.__module__ == f"runbooks.books.{rid.replace('-', '_')}", cls
        assert books.get(rid) is cls
    assert runbooks.NetworkRun is books.RUNBOOKS["network"]


#: What users type: every command, and every option of it (adding one is fine; this pins that
#: none disappears or is renamed). Positional arguments by name.
CLI = {
    "doctor": {"--all-projects", "--base-url", "--connect-timeout", "--debug-log",
               "--dns-timeout", "--duration", "--hosts", "--json", "--live", "--live-model",
               "--nameserver", "--project", "--read-timeout", "--resolve", "--samples",
               "--settings", "--since", "--status-url", "--tls-timeout"},
    "fix": {"--all-projects", "--apply", "--base-url", "--ca-file", "--connect-timeout",
            "--debug-log", "--dns-timeout", "--hosts", "--json", "--nameserver", "--only",
            "--project", "--proxy", "--read-timeout", "--resolve", "--settings", "--shell",
            "--since", "--status-url", "--target", "--tls-timeout", "--trust-ca"},
    "undo": {"--json"},
    "run": {"--apply", "--base-url", "--json", "--output-dir", "--parameter",
            "--parameters-file", "--parameters-yaml", "--settings", "--trust-ca", "-f", "-p",
            "-y", "runbook"},
    "triage": {"--file", "--json", "message"},
    "list": {"--json"},
    "retry": {"--base", "--cap", "--max", "--no-buffer", "argv"},
    "history": {"--all-projects", "--config-dir", "--json", "--max-files", "--project",
                "--since"},
    "bundle": {"--all-projects", "--debug-log", "--no-doctor", "--output", "--project",
               "--since", "-o"},
    "preflight": {"--base-url", "--connect-timeout", "--json", "--nameserver", "--quiet",
                  "--read-timeout", "--resolve", "--settings", "--status-url"},
    "lab": {"list", "start", "start --json"},
}


def test_the_command_line_is_pinned():
    import argparse

    from runbooks.cli import build_parser, main

    def subparsers(parser):
        return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)),
                    None)

    def names(parser) -> set[str]:
        out = {o for a in parser._actions for o in a.option_strings} - {"-h", "--help"}
        out |= {a.dest for a in parser._actions
                if not a.option_strings and not isinstance(a, argparse._SubParsersAction)}
        sub = subparsers(parser)
        for name, p in (sub.choices.items() if sub else ()):
            out |= {name} | {f"{name} {o}" for o in names(p)}
        return out

    commands = subparsers(build_parser()).choices
    assert list(commands)[:7] == ["doctor", "fix", "undo", "run", "triage", "list", "retry"]
    for command, options in CLI.items():
        assert command in commands, f"runbooks {command} is gone"
        missing = options - names(commands[command])
        assert not missing, f"runbooks {command}: {sorted(missing)} gone"
    assert main(["--version"]) == 0


def test_every_import_a_notebook_makes_resolves():
    """The notebooks import only these names from the package, and each resolves (no kernel:
    an import is an import)."""
    import ast
    import importlib
    import json
    from pathlib import Path

    seen = set()
    for nb in sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        first = None
        for cell in code:
            source = "\n".join(line for line in "".join(cell["source"]).splitlines()
                               if not line.lstrip().startswith(("%", "!")))  # magics
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("runbooks"):
                    names = tuple(a.name for a in node.names)
                    first = first or (node.module, names)
                    seen.add((node.module, names))
                    module = importlib.import_module(node.module)
                    for name in names:
                        assert hasattr(module, name), f"{nb.name}: {node.module}.{name}"
        assert first == ("runbooks.books", ("get",)), nb.name
    assert seen <= {("runbooks.books", ("get",)), ("runbooks.render", ("json_report",)),
                    ("runbooks.records.history", ("iso",))}, seen
