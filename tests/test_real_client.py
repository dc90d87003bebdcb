"""The real Claude Code client against the lab: the fake API is one it accepts, and each
fault's message, fed to `runbooks triage`, names the cause `runbooks doctor` finds.

The client is `@anthropic-ai/claude-code` from npm, pinned in the Makefile (`make client`),
run with a temporary HOME and settings that keep it on loopback.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, clean_subprocess_env
from runbooks.causes import match_message
from runbooks.lab.api import LAB_REPLY

pytestmark = pytest.mark.client


@pytest.fixture(scope="module")
def claude() -> str:
    path = os.environ.get("RUNBOOKS_CLAUDE") or str(
        ROOT / ".venv" / "claude-code" / "node_modules" / ".bin" / "claude")
    path = str(ROOT / path)  # a relative path is the repository's (tests run elsewhere)
    if not Path(path).exists():
        pytest.fail(f"the real client is not installed at {path}: run `make client` "
                    "(or deselect with -m 'not client')")
    return path


def _ask(claude: str, lab, tmp_path: Path) -> subprocess.CompletedProcess:
    home = tmp_path / "claude-home"
    home.mkdir()
    env = clean_subprocess_env(**lab.client_env, HOME=str(home))
    return subprocess.run([claude, "-p", "hello"], env=env, capture_output=True, text=True,
                          timeout=90, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("scenario", ["healthy", "proxy", "proxy-auth-ok"])
def test_the_real_client_accepts_the_fake_api(claude, lab, tmp_path, scenario):
    """Directly, and through the lab's real forward proxy (with and without basic auth)."""
    proc = _ask(claude, lab(scenario), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == LAB_REPLY


@pytest.mark.parametrize("scenario", ["refused", "tls-untrusted", "blackhole", "proxy-auth",
                                      "proxy-denied", "proxy-refused", "proxy-socks",
                                      "proxy-inspected"])
def test_the_real_clients_message_triages_to_the_doctors_cause(claude, lab, tmp_path, scenario):
    run = lab(scenario)
    proc = _ask(claude, run, tmp_path)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    # what `runbooks lab start` tells the user to expect is what the client prints
    assert run.scenario.client_message in message
    found = [c.code for c in match_message(message)]
    # "Request timed out." (black hole) is ambiguous for the client; triage lists every
    # candidate, and the doctor's cause is among them
    assert run.scenario.expect in found, message
