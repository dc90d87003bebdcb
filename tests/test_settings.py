"""Claude Code's settings files: their env blocks override the shell, and the doctor sees
what the client sees. HOME and the project directory are temporary (conftest)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import clean_subprocess_env, run_cli
from runbooks.books.network import diagnose
from runbooks.settings import load

FAST = dict(dns_timeout=1.0, connect_timeout=1.0, tls_timeout=1.0, read_timeout=1.0)
CANARY = "sk-ant-api03-SETTINGS0canary0SETTINGS0canary0SETTINGS0can-zz9Q"


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def user_settings(data) -> Path:
    return _write(Path(os.environ["HOME"]) / ".claude" / "settings.json", data)


def test_precedence_user_project_local_managed(tmp_path):
    home, proj = tmp_path / "h", tmp_path / "p"
    _write(home / ".claude" / "settings.json", {"env": {"A": "user", "B": "user", "C": "user"}})
    _write(proj / ".claude" / "settings.json", {"env": {"B": "project", "C": "project"}})
    _write(proj / ".claude" / "settings.local.json", {"env": {"C": "local"}})
    managed = _write(tmp_path / "managed.json", {"env": {"D": "managed"}})
    eff = load({"HOME": str(home), "A": "shell", "RUNBOOKS_MANAGED_SETTINGS": str(managed)},
               proj)
    assert [eff.env[k] for k in "ABCD"] == ["user", "project", "local", "managed"]
    assert eff.shadowed == {"A": "shell"}
    assert [f.scope for f in eff.files] == ["user", "project", "local", "managed"]


def test_base_url_from_settings_overrides_the_shell(lab):
    good, shell = lab("healthy"), lab("refused")
    user_settings({"env": {"ANTHROPIC_BASE_URL": good.base_url}})
    report = diagnose(env={**os.environ, **shell.env}, **FAST)
    assert report.causes == []
    target = next(c for c in report.checks if c.id == "target")
    assert "from ANTHROPIC_BASE_URL in ~/.claude/settings.json" in target.summary
    settings = next(c for c in report.checks if c.id == "settings")
    assert "overrides the shell's" in settings.summary


def test_proxy_from_settings_is_the_path_taken(lab):
    run = lab("proxy-auth")
    user_settings({"env": {"HTTPS_PROXY": run.env["HTTPS_PROXY"]}})
    env = {**os.environ, **{k: v for k, v in run.env.items() if k != "HTTPS_PROXY"}}
    report = diagnose(env=env, **FAST)
    assert report.causes == ["proxy.auth_required"]


def test_malformed_settings_are_reported_and_left_alone():
    path = user_settings('{"env": {"HTTPS_PROXY": "http://127.0.0.1:9",}}')
    before = path.read_bytes()
    report = diagnose("http://127.0.0.1:9", env=dict(os.environ), **FAST)
    settings = next(c for c in report.checks if c.id == "settings")
    assert settings.cause == "config.settings_invalid" and "line 1" in settings.summary
    assert path.read_bytes() == before


@pytest.mark.parametrize("data", [[1, 2], {"env": ["HTTPS_PROXY"]}])
def test_settings_of_the_wrong_shape(data):
    user_settings(data)
    report = diagnose("http://127.0.0.1:9", env=dict(os.environ), **FAST)
    assert "config.settings_invalid" in report.causes


def test_a_key_in_settings_is_never_shown(lab):
    """Settings env blocks hold keys too: only network variables are ever shown."""
    run = lab("proxy-auth-ok")
    user_settings({"env": {"ANTHROPIC_API_KEY": CANARY, "HTTPS_PROXY": run.env["HTTPS_PROXY"]}})
    proc = run_cli("doctor", "--json", "-", env=clean_subprocess_env(
        **{k: v for k, v in run.env.items() if k != "HTTPS_PROXY"}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert CANARY not in proc.stdout + proc.stderr and "lab-proxy-pass" not in proc.stdout
    checks = {c["id"]: c for c in json.loads(proc.stdout)["checks"]}
    assert checks["settings"]["details"]["files"][0]["env"]["ANTHROPIC_API_KEY"] == \
        "(set; value not shown)"


def test_malformed_base_url_in_settings_names_the_file():
    user_settings({"env": {"ANTHROPIC_BASE_URL": "htp:/nowhere"}})
    proc = run_cli("doctor")
    assert proc.returncode == 2
    assert "ANTHROPIC_BASE_URL in ~/.claude/settings.json" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_settings_example_on_the_site_is_real():
    """docs/debugging.md quotes the doctor on a settings file with a trailing comma."""
    from conftest import ROOT

    page = (ROOT / "docs" / "debugging.md").read_text()
    shown = page.split("$ cat ~/.claude/settings.json\n", 1)[1].split("$ runbooks doctor", 1)
    user_settings(shown[0])
    proc = run_cli("doctor", "--base-url", "http://127.0.0.1:9", "--connect-timeout", "1",
                   env=clean_subprocess_env(NO_COLOR="1"))
    quoted = shown[1].split("```", 1)[0].splitlines()[2:]
    assert len(quoted) == 4
    for line in quoted:
        assert line in proc.stdout.splitlines(), line


@pytest.mark.notebook
def test_runbook_reads_project_settings_from_where_it_is_run(lab, tmp_path):
    """`runbooks run` reads .claude/settings*.json from the directory it is run in (as
    Claude Code does), not from its output directory."""
    run = lab("healthy")
    _write(Path.cwd() / ".claude" / "settings.local.json",
           {"env": {"ANTHROPIC_BASE_URL": run.base_url}})
    proc = run_cli("run", "network", "--output-dir", str(tmp_path / "out"), timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [path] = (tmp_path / "out").glob("network-*/network.json")  # the run's own folder
    report = json.loads(path.read_text())
    assert report["target"]["url"] == run.base_url
