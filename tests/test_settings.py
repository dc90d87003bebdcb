"""Claude Code's settings files: their env blocks override the shell, and the doctor sees
what the client sees. HOME and the project directory are temporary (conftest)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.books.network import diagnose
from runbooks.client.settings import load, managed_path

FAST = {"dns_timeout": 1.0, "connect_timeout": 1.0, "tls_timeout": 1.0, "read_timeout": 1.0}
CANARY = "sk-ant-api03-SETTINGS0canary0SETTINGS0canary0SETTINGS0can-zz9Q"


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def user_settings(data) -> Path:
    return _write(Path(os.environ["HOME"]) / ".claude" / "settings.json", data)


def test_precedence_user_project_local_flag_managed(tmp_path):
    home, proj = tmp_path / "h", tmp_path / "p"
    _write(home / ".claude" / "settings.json",
           {"env": {"A": "user", "B": "user", "C": "user", "D": "user", "E": "user"}})
    _write(proj / ".claude" / "settings.json", {"env": {"B": "project", "C": "project",
                                                        "D": "project", "E": "project"}})
    _write(proj / ".claude" / "settings.local.json", {"env": {"C": "local", "D": "local",
                                                              "E": "local"}})
    flag = _write(tmp_path / "flag.json", {"env": {"D": "flag", "E": "flag"}})
    managed = _write(tmp_path / "managed.json", {"env": {"E": "managed"}})
    eff = load({"HOME": str(home), "A": "shell", "F": "shell",
                "RUNBOOKS_MANAGED_SETTINGS": str(managed)}, proj, flag)
    assert [eff.env[k] for k in "ABCDEF"] == ["user", "project", "local", "flag", "managed",
                                              "shell"]
    assert eff.shadowed == {"A": "shell"}
    assert [f.scope for f in eff.files] == ["user", "project", "local", "flag", "managed"]


LAYOUTS = {
    # name: files (relative to a temporary root) → their env values of X
    "user": {"home/.claude/settings.json": "user"},
    "config-dir": {"cfg/settings.json": "config-dir", "home/.claude/settings.json": "user"},
    "config-dir-empty": {"home/.claude/settings.json": "user"},
    "project-over-user": {"home/.claude/settings.json": "user",
                          "repo/sub/.claude/settings.json": "project"},
    "local-over-project": {"repo/sub/.claude/settings.json": "project",
                           "repo/sub/.claude/settings.local.json": "local"},
    "parent-project": {"repo/.claude/settings.json": "parent-project"},
    "parent-local": {"repo/.claude/settings.local.json": "parent-local"},
    "git-root-project": {"repo/.git/HEAD": "", "repo/.claude/settings.json": "root-project"},
    "git-root-local": {"repo/.git/HEAD": "", "repo/.claude/settings.local.json": "root-local"},
    "git-root-local-over-local": {"repo/.git/HEAD": "",
                                  "repo/.claude/settings.local.json": "root-local",
                                  "repo/sub/.claude/settings.local.json": "local"},
    "git-file": {"repo/.git": "gitdir: elsewhere",
                 "repo/.claude/settings.local.json": "root-local"},
    "git-at-home": {"home/.git/HEAD": "", "home/.claude/settings.local.json": "home-local"},
}


@pytest.mark.parametrize("layout, config_dir, cwd, value", [
    # ~/.claude/settings.json is the user file
    ("user", None, "repo/sub", "user"),
    # CLAUDE_CONFIG_DIR replaces ~/.claude: its settings.json is the user file …
    ("config-dir", "cfg", "repo/sub", "config-dir"),
    # … and ~/.claude/settings.json is not read, even when the folder has none
    ("config-dir-empty", "cfg", "repo/sub", "shell"),
    # project beats user
    ("project-over-user", None, "repo/sub", "project"),
    # local beats project
    ("local-over-project", None, "repo/sub", "local"),
    # a parent's project settings are not read
    ("parent-project", None, "repo/sub", "shell"),
    # … nor its local settings, outside a git repository
    ("parent-local", None, "repo/sub", "shell"),
    # in a git repository, the root's settings.json is not read either …
    ("git-root-project", None, "repo/sub", "shell"),
    # … but its settings.local.json is
    ("git-root-local", None, "repo/sub", "root-local"),
    # … and beats the launch directory's own
    ("git-root-local-over-local", None, "repo/sub", "root-local"),
    # a .git file (worktree, submodule) marks the root as well
    ("git-file", None, "repo/sub", "root-local"),
    # the home directory is never a repository root for this
    ("git-at-home", None, "home/sub", "shell"),
])
def test_which_settings_file_is_read(tmp_path, layout, config_dir, cwd, value):
    for rel, x in LAYOUTS[layout].items():
        path = tmp_path / rel
        data = {"env": {"X": x}} if rel.endswith(".json") else x
        _write(path, data)
    (tmp_path / cwd).mkdir(parents=True, exist_ok=True)
    env = {"HOME": str(tmp_path / "home"), "X": "shell",
           "RUNBOOKS_MANAGED_SETTINGS": str(tmp_path / "no-managed.json")}
    if config_dir:
        (tmp_path / config_dir).mkdir(exist_ok=True)
        env["CLAUDE_CONFIG_DIR"] = str(tmp_path / config_dir)
    assert load(env, tmp_path / cwd).env["X"] == value


def test_home_falls_back_to_userprofile(tmp_path):
    _write(tmp_path / ".claude" / "settings.json", {"env": {"X": "user"}})
    eff = load({"USERPROFILE": str(tmp_path), "RUNBOOKS_MANAGED_SETTINGS": str(tmp_path / "m")},
               tmp_path / "nowhere")
    assert eff.env["X"] == "user"


@pytest.mark.parametrize("system, path", [
    # Linux and WSL
    ("Linux", "/etc/claude-code/managed-settings.json"),
    # macOS
    ("Darwin", "/Library/Application Support/ClaudeCode/managed-settings.json"),
    # Windows
    ("Windows", "C:\\Program Files\\ClaudeCode\\managed-settings.json"),
])
def test_managed_path_per_os(system, path):
    assert str(managed_path(system)) == str(Path(path))


@pytest.mark.parametrize("value, x, error", [
    # a file
    ("flag.json", "file", None),
    # a path relative to the launch directory
    ("rel.json", "relative", None),
    # inline JSON
    ('{"env": {"X": "inline"}}', "inline", None),
    # inline JSON after white space
    (' \n{"env": {"X": "inline"}}', "inline", None),
    # text that is not JSON is a path, and a missing one stops the client
    ('{"env":', "shell", "Settings file not found"),
    # a missing file likewise
    ("missing.json", "shell", "Settings file not found"),
])
def test_the_settings_flag(tmp_path, value, x, error):
    _write(tmp_path / "flag.json", {"env": {"X": "file"}})
    _write(tmp_path / "proj" / "rel.json", {"env": {"X": "relative"}})
    if value == "flag.json":
        value = str(tmp_path / "flag.json")
    eff = load({"HOME": str(tmp_path / "h"), "X": "shell",
                "RUNBOOKS_MANAGED_SETTINGS": str(tmp_path / "m")}, tmp_path / "proj", value)
    assert eff.env["X"] == x
    flag = eff.files[-1]
    assert flag.scope == "flag"
    assert (flag.error is None) if error is None else (error in flag.error)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.timeout(10)
@pytest.mark.parametrize("make, error", [
    # a FIFO would block open() forever: refused at once
    (_fifo, "FIFO"),
    # a device that never ends
    (lambda p: p.symlink_to("/dev/zero"), "character device"),
    # a directory
    (lambda p: p.mkdir(), "directory"),
    # 100000 nested arrays
    (lambda p: p.write_text("[" * 100_000), "nested too deeply"),
    # as many objects
    (lambda p: p.write_text('{"a":' * 100_000), "nested too deeply"),
    # an integer beyond Python's digit limit
    (lambda p: p.write_text('{"env": {"X": ' + "1" * 5000 + "}}"), "not valid JSON"),
    # not UTF-8
    (lambda p: p.write_bytes(b'{"env": {"X": "\xff"}}'), "not utf-8"),
    # too big
    (lambda p: p.write_text(" " * (2 * 1024 * 1024) + "{}"), "limit"),
    # a trailing comma
    (lambda p: p.write_text('{"env": {"X": "y",}}'), "not valid JSON"),
    # the wrong shape
    (lambda p: p.write_text('{"env": ["X"]}'), "wrong shape"),
])
def test_a_bad_settings_file_is_one_error_never_a_hang(tmp_path, make, error):
    if make is _fifo and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this OS")
    path = tmp_path / "home" / ".claude" / "settings.json"
    path.parent.mkdir(parents=True)
    make(path)
    eff = load({"HOME": str(tmp_path / "home"), "X": "shell",
                "RUNBOOKS_MANAGED_SETTINGS": str(tmp_path / "m")}, tmp_path)
    [f] = eff.files
    assert error in f.error and f.env == {} and eff.env["X"] == "shell"


@pytest.mark.parametrize("shell, settings, shadows", [
    # the classic: a shell https_proxy beats a settings HTTPS_PROXY
    ({"https_proxy": "http://a:1"}, {"HTTPS_PROXY": "http://b:2"},
     [("HTTPS_PROXY", "https_proxy")]),
    # the same spelling: the settings file wins, nothing is shadowed
    ({"HTTPS_PROXY": "http://a:1"}, {"HTTPS_PROXY": "http://b:2"}, []),
    # https comes before http, whatever the spelling
    ({"HTTPS_PROXY": "http://a:1"}, {"http_proxy": "http://b:2"},
     [("http_proxy", "HTTPS_PROXY")]),
    # the settings file's own variable comes first: no shadow
    ({"http_proxy": "http://a:1"}, {"HTTPS_PROXY": "http://b:2"}, []),
    # an empty shell variable shadows nothing
    ({"https_proxy": ""}, {"HTTPS_PROXY": "http://b:2"}, []),
    # a settings value that empties the shell's lets the next one through
    ({"https_proxy": "http://a:1", "HTTPS_PROXY": "http://c:3"}, {"https_proxy": ""}, []),
    # all_proxy is a fallback: any shell proxy shadows it
    ({"HTTP_PROXY": "http://a:1"}, {"ALL_PROXY": "http://b:2"}, [("ALL_PROXY", "HTTP_PROXY")]),
    # a shell no_proxy hides a settings NO_PROXY from the full rules
    ({"no_proxy": "localhost"}, {"NO_PROXY": "127.0.0.0/8"}, [("NO_PROXY", "no_proxy")]),
])
def test_shadowed_proxies(tmp_path, shell, settings, shadows):
    _write(tmp_path / ".claude" / "settings.json", {"env": settings})
    eff = load({"HOME": str(tmp_path), "RUNBOOKS_MANAGED_SETTINGS": str(tmp_path / "m"),
                **shell}, tmp_path / "proj")
    found = eff.shadowed_proxies()
    assert [(s.variable, s.winner) for s in found] == shadows
    for s in found:
        assert s.file.scope == "user" and s.to_dict()["file"] == s.file.shown


def test_the_environment_remembers_what_settings_set(tmp_path):
    _write(tmp_path / ".claude" / "settings.json", {"env": {"HTTPS_PROXY": "127.0.0.1:3128"}})
    eff = load({"HOME": str(tmp_path), "NO_PROXY": "x",
                "RUNBOOKS_MANAGED_SETTINGS": str(tmp_path / "m")}, tmp_path / "proj")
    assert eff.env.from_settings == {"HTTPS_PROXY"} and isinstance(eff.env, dict)
    from runbooks.client.proxy import choose_proxy

    assert "cannot be parsed" in choose_proxy(eff.env, "api.anthropic.com", 443).error


def test_shadow_values_are_masked(tmp_path):
    _write(tmp_path / ".claude" / "settings.json",
           {"env": {"HTTPS_PROXY": "http://bob:settingsPW@b:2"}})
    eff = load({"HOME": str(tmp_path), "https_proxy": "http://al:shellPW@a:1",
                "RUNBOOKS_MANAGED_SETTINGS": str(tmp_path / "m")}, tmp_path / "proj")
    [shadow] = eff.shadowed_proxies()
    shown = json.dumps(shadow.to_dict())
    assert "settingsPW" not in shown and "shellPW" not in shown and "****" in shown


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
    out = [" ".join(o.split()) for o in proc.stdout.splitlines()]  # column widths vary
    for line in quoted:
        if line.lstrip().startswith("docs:"):  # the page may shorten the site's address
            link = line.split("docs:", 1)[1].strip()
            assert any(o.startswith("docs:") and o.endswith(link) for o in out), line
        else:
            assert " ".join(line.split()) in out, line


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
