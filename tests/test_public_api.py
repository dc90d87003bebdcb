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
