"""Canaries: a secret planted in every input a run reads appears in no output it writes.

Each row is a shape a secret arrives in (a key, a token, a proxy password that breaks URL
parsing, a key in a query string, a custom header, a settings file); every output is
searched for it: the terminal text, the JSON report, usage errors, a notebook run's files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

CANARY = "CANARYzz9Qsecret"  # every planted secret contains this


@pytest.mark.parametrize("var, value", [
    # a password with "/", "#" or "?" makes the URL unparsable: still masked
    ("HTTPS_PROXY", f"http://bob:{CANARY}/x@127.0.0.1:9"),
    ("HTTPS_PROXY", f"http://bob:{CANARY}#x@127.0.0.1:9"),
    ("HTTPS_PROXY", f"http://bob:{CANARY}?x@127.0.0.1:9"),
    ("HTTPS_PROXY", f"http://bob:{CANARY}@127.0.0.1:notaport"),
    ("https_proxy", f"bob:{CANARY}@127.0.0.1:9"),  # no scheme
    ("HTTPS_PROXY", f"socks5://bob:{CANARY}@127.0.0.1:1080"),  # unsupported, reported
    ("ALL_PROXY", f"http://bob:{CANARY}@127.0.0.1:9"),
    ("HTTPS_PROXY", f"http://{CANARY}token0000@127.0.0.1:9"),  # a token as the user name
    # valid URLs as Node's parser splits them: the user info runs to the last "@", and every
    # character of it is user name or password (test_masking.py has the whole table)
    ("HTTPS_PROXY", f"http://jane@corp.example:{CANARY}@127.0.0.1:9"),
    ("HTTPS_PROXY", f"http://bob:it's{CANARY}@127.0.0.1:9"),
    ("HTTPS_PROXY", f'http://bob:pa"ss {CANARY}@127.0.0.1:9'),
    ("HTTP_PROXY", f"HTTP:\\\\bob:p%40ss{CANARY}@127.0.0.1:9"),
    ("https_proxy", f"jane@corp.example:{CANARY}@127.0.0.1:9"),  # no scheme
    # a key in the base URL's query string, and in its user info
    ("ANTHROPIC_BASE_URL", f"http://127.0.0.1:9/?key={CANARY}"),
    ("ANTHROPIC_BASE_URL", f"http://u:{CANARY}@127.0.0.1:9"),
    # credentials the HTTP check never sends, but a report must never show either
    ("ANTHROPIC_API_KEY", f"sk-ant-api03-{CANARY}0000000000"),
    ("ANTHROPIC_AUTH_TOKEN", f"{CANARY}-bearer-token"),
    ("CLAUDE_CODE_OAUTH_TOKEN", f"sk-ant-oat01-{CANARY}"),
    ("ANTHROPIC_CUSTOM_HEADERS", f"X-Gateway-Key: {CANARY}\nX-Other: {CANARY}2"),
])
@pytest.mark.parametrize("as_json", [False, True])
def test_a_secret_in_the_environment_is_in_no_output(var, value, as_json):
    env = clean_subprocess_env(**{var: value})
    env.setdefault("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    args = ["doctor", "--connect-timeout", "1", "--read-timeout", "1"]
    proc = run_cli(*args, *(["--json", "-"] if as_json else []), env=env)
    assert proc.returncode in (1, 2), proc.stdout + proc.stderr  # port 9 refuses: findings
    assert CANARY not in proc.stdout + proc.stderr
    if as_json and proc.returncode == 1:
        json.loads(proc.stdout)  # masking keeps the report valid JSON


@pytest.mark.parametrize("where", ["user", "project", "local"])
def test_a_secret_in_a_settings_file_is_in_no_output(where, tmp_path):
    home = Path(os.environ["HOME"])
    path = {"user": home / ".claude" / "settings.json",
            "project": Path.cwd() / ".claude" / "settings.json",
            "local": Path.cwd() / ".claude" / "settings.local.json"}[where]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"env": {
        "ANTHROPIC_API_KEY": f"sk-ant-api03-{CANARY}000000",
        "ANTHROPIC_CUSTOM_HEADERS": f"X-Key: {CANARY}",
        "HTTPS_PROXY": f"http://bob:{CANARY}/x@127.0.0.1:9",
        "ANTHROPIC_BASE_URL": f"http://127.0.0.1:9/?token={CANARY}"},
        "apiKeyHelper": f"echo {CANARY}"}))
    for extra in ([], ["--json", "-"]):
        proc = run_cli("doctor", "--connect-timeout", "1", *extra)
        assert CANARY not in proc.stdout + proc.stderr, proc.stdout


@pytest.mark.parametrize("param", [
    f"base_url=http://u:{CANARY}@127.0.0.1:9",  # refused: it would be stored in the notebook
    f"base_url=http://127.0.0.1:9/?key={CANARY}",
    f"nameserver={CANARY}",  # any bad value is echoed masked… and this one is not secret-shaped
])
def test_a_credential_never_reaches_a_notebook(param, tmp_path):
    proc = run_cli("run", "network", "-p", param, "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert not (tmp_path / "out").exists()  # refused before anything was written
    if "base_url" in param:
        assert CANARY not in proc.stderr, proc.stderr


def test_masking_never_depends_on_parsing():
    from runbooks.masking import mask_proxy, mask_url, redact

    for raw in (f"http://bob:{CANARY}/x@h:1", f"http://bob:{CANARY}@[::1", f"bob:{CANARY}@h",
                f"http://h/?key={CANARY}&beta=true", f"http://bob:p@ss{CANARY}@h:1"):
        for masked in (mask_url(raw), mask_proxy(raw), redact(f"see {raw} there")):
            assert CANARY not in masked, masked
    assert mask_url("http://h/v1/messages?beta=true") == "http://h/v1/messages?beta=true"
