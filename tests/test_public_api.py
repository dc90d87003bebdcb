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
