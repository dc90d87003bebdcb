"""Hostile files: whatever a path names (a FIFO, /dev/zero, a folder, a huge or binary file),
the run reads only regular files within a cap, reports anything else under the matching
cause, never hangs, and never changes the file."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from runbooks import diagnose
from runbooks.files import FileProblem, read_bytes

FAST = {"dns_timeout": 1.0, "connect_timeout": 1.0, "tls_timeout": 1.0, "read_timeout": 1.0}


def _make(kind: str, tmp: Path) -> str:
    path = tmp / f"hostile-{kind}"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs here")
        os.mkfifo(path)  # opening it for reading would wait for a writer forever
    elif kind == "zero":
        if not Path("/dev/zero").exists():
            pytest.skip("no /dev/zero here")
        return "/dev/zero"  # reading it would never end
    elif kind == "directory":
        path.mkdir()
    elif kind == "missing":
        pass
    elif kind == "huge":
        with open(path, "wb") as fh:  # sparse: 17 MiB of nothing, over the 16 MiB cap
            fh.truncate(17 * 1024 * 1024)
    elif kind == "binary":
        path.write_bytes(os.urandom(4096))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-pem":
        path.write_text("this is not a certificate\n")
    return str(path)


KINDS = ["fifo", "zero", "directory", "missing", "huge", "binary", "empty", "not-pem"]
REASONS = {"fifo": "FIFO", "zero": "character device", "directory": "directory",
           "missing": "does not exist", "huge": "limit", "binary": "PEM", "empty": "PEM",
           "not-pem": "PEM"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scenario, status", [("healthy-tls", "fail"), ("healthy", "warn")])
def test_node_extra_ca_certs_of_any_kind(kind, scenario, status, lab, tmp_path):
    """https: the bad bundle fails the trust check; http: a warning, since it will bite the
    moment the target is https://."""
    run = lab(scenario)
    path = _make(kind, tmp_path)
    report = diagnose(env={**run.env, "NODE_EXTRA_CA_CERTS": path}, **FAST)
    trust = next(c for c in report.checks if c.id == "trust")
    assert (trust.status, trust.cause) == (status, "config.ca_file_invalid"), trust
    assert REASONS[kind] in trust.summary, trust.summary


@pytest.mark.parametrize("kind", ["fifo", "zero", "directory", "huge"])
@pytest.mark.parametrize("var", ["CLAUDE_CODE_CLIENT_CERT", "CLAUDE_CODE_CLIENT_KEY"])
def test_client_certificate_files_of_any_kind(kind, var, lab, tmp_path):
    run = lab("mtls")
    report = diagnose(env={**run.env, var: _make(kind, tmp_path)}, **FAST)
    trust = next(c for c in report.checks if c.id == "trust")
    assert trust.cause == "config.ca_file_invalid", trust
    assert REASONS[kind] in trust.summary, trust.summary


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file types")
@pytest.mark.parametrize("kind, reason", [("fifo", "FIFO"), ("zero", "character device"),
                                          ("directory", "directory"), ("huge", "limit")])
def test_read_bytes_refuses_what_is_not_a_regular_file(kind, reason, tmp_path):
    with pytest.raises(FileProblem, match=reason):
        read_bytes(_make(kind, tmp_path), 16 * 1024 * 1024)
