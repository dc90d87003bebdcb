"""The real Claude Code client against the lab: the fake API is one it accepts, and each
fault's message, fed to `runbooks triage`, names the cause `runbooks doctor` finds.

The client is `@anthropic-ai/claude-code` from npm, pinned in the Makefile (`make client`),
run with a temporary HOME and settings that keep it on loopback.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import clean_subprocess_env

from runbooks.lab.api import LAB_REPLY
from runbooks.triage import match_message

pytestmark = pytest.mark.client


def _ask(claude: str, lab, tmp_path: Path) -> subprocess.CompletedProcess:
    home = tmp_path / "claude-home"
    home.mkdir()
    env = clean_subprocess_env(**lab.client_env, HOME=str(home))
    return subprocess.run([claude, "-p", "hello"], env=env, capture_output=True, text=True,
                          timeout=90, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize("scenario", ["healthy", "proxy", "proxy-auth-ok", "proxy-tls", "mtls",
                                      "allowlist"])
def test_the_real_client_accepts_the_fake_api(claude, lab, tmp_path, scenario):
    """Directly, and through the lab's real forward proxy (with and without basic auth)."""
    proc = _ask(claude, lab(scenario), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == LAB_REPLY


@pytest.mark.parametrize("scenario", ["refused", "tls-untrusted", "blackhole", "proxy-auth",
                                      "proxy-denied", "proxy-refused", "proxy-socks",
                                      "proxy-inspected", "mtls-missing", "proxy-zscaler",
                                      "bundle-lacks-issuer", "bundle-expired-ca", "proxy-ntlm",
                                      "trickle-head", "tls-trickle"])
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


def test_the_doctors_fix_for_a_bypassed_proxy_works_for_the_client(claude, lab, tmp_path):
    """proxy-bypassed: the client times out; without the NO_PROXY entry the doctor names,
    it answers through the proxy."""
    run = lab("proxy-bypassed")
    assert _ask(claude, run, tmp_path).returncode != 0
    fixed = dict(run.client_env)
    del fixed["NO_PROXY"]
    home = tmp_path / "fixed-home"
    home.mkdir()
    proc = subprocess.run([claude, "-p", "hello"], env=clean_subprocess_env(**fixed, HOME=str(home)),
                          capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == LAB_REPLY, proc.stdout + proc.stderr


def test_the_client_takes_its_proxy_from_the_settings_env_block(claude, lab, tmp_path):
    """What the doctor assumes (settings env overrides the shell) is what the client does."""
    import json

    run = lab("proxy-refused")
    home = tmp_path / "claude-home"
    (home / ".claude").mkdir(parents=True)
    (home / ".claude" / "settings.json").write_text(
        json.dumps({"env": {"HTTPS_PROXY": run.env["HTTPS_PROXY"]}}))
    shell = {k: v for k, v in run.client_env.items() if k != "HTTPS_PROXY"}
    proc = subprocess.run([claude, "-p", "hello"], env=clean_subprocess_env(**shell, HOME=str(home)),
                          capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL, check=False)
    assert proc.returncode != 0  # the API itself is healthy: only the proxy can refuse
    assert "ECONNREFUSED" in proc.stdout + proc.stderr
