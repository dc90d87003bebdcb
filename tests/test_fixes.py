"""Plan, apply, undo: settings edits that keep the file, backups, atomic writes, a lock, a
refusal when a file changed, and one-line errors for bad input. Temporary HOME and project
folder throughout (conftest)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks import shellblock as sb
from runbooks.errors import UsageError
from runbooks.fixes import FileEdit, Fix, Plan, apply_plan, check_target, undo_last
from runbooks.jsonedit import EditError, set_env, unset_env


# -- settings edits that keep everything else -----------------------------------------------------
@pytest.mark.parametrize("before, name, value, after", [
    # no file yet: a new one, two-space indent
    (None, "API_TIMEOUT_MS", "600000", '{\n  "env": {\n    "API_TIMEOUT_MS": "600000"\n  }\n}\n'),
    # other keys, their order and the user's indentation stay as they were
    ('{\n    "model": "opus",\n    "env": {\n        "A": "1"\n    }\n}\n', "B", "2",
     '{\n    "model": "opus",\n    "env": {\n        "A": "1",\n        "B": "2"\n    }\n}\n'),
    # a value replaced in place
    ('{"env": {"A": "1", "B": "2"}}', "A", "9", '{"env": {"A": "9", "B": "2"}}'),
    # no env block yet: added last, in the file's own style
    ('{"model": "opus"}', "A", "1", '{"model": "opus", "env": {"A": "1"}}'),
    # braces inside strings do not confuse the scanner
    ('{"x": "}{", "env": {}}', "A", "1", '{"x": "}{", "env": {\n  "A": "1"\n}}'),
])
def test_set_env_changes_one_variable_only(before, name, value, after):
    assert set_env(before, name, value) == after
    assert json.loads(after)["env"][name] == value


def test_unset_env_keeps_commas_right():
    text = '{\n  "env": {\n    "A": "1",\n    "B": "2",\n    "C": "3"\n  }\n}\n'
    for name in "ABC":
        out = unset_env(text, name)
        assert name not in json.loads(out)["env"] and len(json.loads(out)["env"]) == 2


@pytest.mark.parametrize("text, why", [
    ("[1, 2]", "not a JSON object"),
    ('{"env": "x"}', "not an object"),
    ('{"a": 1, "a": 2}', "twice"),
    ('{"env": {"A": "1",}}', "not valid JSON"),  # a trailing comma: never overwritten
])
def test_a_file_that_cannot_be_edited_safely_is_refused(text, why):
    with pytest.raises(EditError, match=why):
        set_env(text, "X", "1")


# -- apply and undo ---------------------------------------------------------------------------
@pytest.fixture
def config(tmp_path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    return folder


def _plan(path: Path, after: bytes) -> Plan:
    before = path.read_bytes() if path.exists() else None
    return Plan([Fix("api-timeout", "config.timeout_too_low", "set it",
                     edits=[FileEdit(path, before, after)])])


def test_apply_backs_up_writes_atomically_keeps_the_mode_and_undo_restores(config):
    target = config / "settings.json"
    target.write_text('{"model": "opus"}\n')
    target.chmod(0o600)
    after = set_env(target.read_text(), "API_TIMEOUT_MS", "600000").encode()
    done = apply_plan(_plan(target, after), config, [config])
    assert target.read_bytes() == after
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # its own mode, kept
    manifest = json.loads((done.folder / "manifest.json").read_text())
    assert manifest["fixes"][0]["id"] == "api-timeout" and manifest["files"][0]["backup"]
    assert stat.S_IMODE((done.folder / "file-0").stat().st_mode) == 0o600
    assert not list(config.glob(".settings.json.*"))  # no temporary file left behind
    undone = undo_last(config, [config])
    assert target.read_text() == '{"model": "opus"}\n' and undone.files == [target]
    with pytest.raises(UsageError, match="nothing to undo"):
        undo_last(config, [config])


def test_a_new_file_is_removed_by_undo(config):
    target = config / "settings.json"
    apply_plan(_plan(target, b'{"env": {}}\n'), config, [config])
    assert target.exists()
    undo_last(config, [config])
    assert not target.exists()


def test_apply_refuses_a_file_that_changed_since_the_plan(config):
    target = config / "settings.json"
    target.write_text("{}\n")
    plan = _plan(target, b'{"env": {"A": "1"}}\n')
    target.write_text('{"someone": "else"}\n')  # edited between the plan and the apply
    with pytest.raises(UsageError, match="changed since the plan"):
        apply_plan(plan, config, [config])
    assert target.read_text() == '{"someone": "else"}\n'


def test_undo_refuses_when_the_file_changed_since(config):
    target = config / "settings.json"
    target.write_text("{}\n")
    apply_plan(_plan(target, b'{"env": {"A": "1"}}\n'), config, [config])
    target.write_text('{"edited": "by hand"}\n')
    with pytest.raises(UsageError, match="changed since"):
        undo_last(config, [config])
    assert target.read_text() == '{"edited": "by hand"}\n'


@pytest.mark.parametrize("path, why", [
    ("{config}/../elsewhere.json", "'..'"),  # a path with ..
    ("/etc/claude-code/managed-settings.json", "outside"),  # not a file a fix may write
    ("{home}/.ssh/config", "outside"),
])
def test_targets_are_checked(path, why, config):
    with pytest.raises(UsageError, match=why):
        check_target(Path(path.format(config=config, home=os.environ["HOME"])), [config])


def test_a_folder_is_never_a_target(config):
    (config / "settings.json").mkdir()
    with pytest.raises(UsageError, match="not a regular file"):
        check_target(config / "settings.json", [config])


# -- the command line -----------------------------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["fix", "--only", "bogus"], "unknown fix 'bogus'"),
    (["fix", "--target", "elsewhere"], "invalid choice: 'elsewhere'"),
    (["fix", "--trust-ca", "not-a-fingerprint"], "SHA-256 fingerprint"),
    (["fix", "--proxy", "ftp://x"], "--proxy"),
    (["fix", "--ca-file", "{tmp}/missing.pem"], "does not exist"),
    (["fix", "--json", ""], "--json is empty"),
    (["undo"], "nothing to undo"),
])
def test_bad_fix_input_is_one_line_exit_2(args, needle, tmp_path, lab):
    run = lab("timeout-10min")
    before = sorted(Path(os.environ["HOME"]).rglob("*"))
    proc = run_cli(*[a.format(tmp=tmp_path) for a in args],
                   env=clean_subprocess_env(**{**run.env, "HOME": os.environ["HOME"]}))
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert sorted(Path(os.environ["HOME"]).rglob("*")) == before  # nothing written


def test_a_malformed_settings_file_is_reported_and_never_overwritten(lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"env": {"API_TIMEOUT_MS": "10min",}}\n')  # a trailing comma
    before = settings.read_bytes()
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    proc = run_cli("fix", "--apply", env=env)
    assert settings.read_bytes() == before
    assert "never overwritten" in proc.stdout or "settings_invalid" in proc.stdout, proc.stdout


def test_two_applies_at_once_leave_one_valid_file(lab, tmp_path):
    """The lock: two `fix --apply` started together; the file ends valid JSON with the fix,
    and the one that came second either finds nothing to do or says the file changed."""
    run = lab("timeout-10min")
    env = clean_subprocess_env(**{**run.env, "HOME": os.environ["HOME"]})
    procs = [subprocess.Popen([sys.executable, "-m", "runbooks", "fix", "--apply"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    settings = Path(os.environ["HOME"]) / ".claude" / "settings.json"
    assert json.loads(settings.read_text())["env"]["API_TIMEOUT_MS"] == "600000"
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode in (0, 2) and "Traceback" not in err, (out, err)
    backups = list((settings.parent / "runbooks-backups").iterdir())
    assert len(backups) == 1  # one change set, applied once


@pytest.mark.notebook
def test_runbooks_run_apply_applies_that_runbooks_fixes(lab, tmp_path):
    run = lab("timeout-10min")
    env = clean_subprocess_env(**{**run.env, "HOME": os.environ["HOME"]})
    proc = run_cli("run", "timeouts", "--apply", "--output-dir", str(tmp_path / "out"),
                   env=env, timeout=120)
    settings = Path(os.environ["HOME"]) / ".claude" / "settings.json"
    assert json.loads(settings.read_text())["env"]["API_TIMEOUT_MS"] == "600000", proc.stdout
    assert run_cli("undo", env=env).returncode == 0
    assert not settings.exists()


# -- --shell: a marked block in the shell's start-up file -----------------------------------------
def test_shell_block_replaces_its_own_block_and_merges_what_it_exported():
    first = sb.with_block("alias ll='ls -l'\n", "bash", {"API_TIMEOUT_MS": "600000"})
    assert first.startswith("alias ll='ls -l'\n\n" + sb.BEGIN)
    second = sb.with_block(first + "export EDITOR=vi\n", "bash",
                           {"NODE_EXTRA_CA_CERTS": "/home/a b/ca.pem"})
    assert second.count(sb.BEGIN) == 1 and second.endswith("export EDITOR=vi\n")
    assert sb.block_vars(second) == {"API_TIMEOUT_MS": "600000",
                                     "NODE_EXTRA_CA_CERTS": "/home/a b/ca.pem"}
    fish = sb.with_block(None, "fish", {"API_TIMEOUT_MS": "600000"})
    assert "set -gx API_TIMEOUT_MS 600000" in fish and sb.block_vars(fish)
    for name, value in (("ANTHROPIC_API_KEY", "sk-ant-x"),
                        ("HTTPS_PROXY", "http://u:CANARY@proxy:8080")):
        with pytest.raises(ValueError, match="secret"):
            sb.block_for("bash", {name: value})


@pytest.mark.parametrize("shell, rc", [("bash", ".bashrc"), ("zsh", ".zshrc"),
                                       ("fish", ".config/fish/config.fish")])
def test_fix_shell_writes_a_block_a_second_apply_keeps_and_undo_removes(shell, rc, lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    rcfile = home / rc
    if shell == "bash":
        rcfile.write_text("# mine\nexport PATH=$PATH:/opt/bin\n")
    before = rcfile.read_bytes() if rcfile.exists() else None
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    shown = run_cli("fix", "--shell", shell, env=env)
    assert "shell-profile" in shown.stdout and (rcfile.read_bytes() if before else None) == \
        before, shown.stdout  # a plan only: nothing written
    proc = run_cli("fix", "--apply", "--shell", shell, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = rcfile.read_text()
    assert "API_TIMEOUT_MS" in text and (before is None or text.startswith(before.decode()))
    if shutil.which(shell):  # the real shell reads it
        assert _sourced(shell, rcfile, "API_TIMEOUT_MS") == "600000"
    again = run_cli("fix", "--apply", "--shell", shell, env=env)
    assert rcfile.read_text() == text and "Applied" not in again.stdout, again.stdout
    assert run_cli("undo", env=env).returncode == 0
    assert (rcfile.read_bytes() if rcfile.exists() else None) == before


def _sourced(shell: str, rcfile: Path, name: str) -> str:
    """``name`` as ``shell`` sees it after reading ``rcfile``."""
    script = f"source {shlex.quote(str(rcfile))}; printf %s \"${name}\""  # all three
    out = subprocess.run([shutil.which(shell), "-c", script], capture_output=True, text=True,
                         timeout=10, env={"PATH": "/usr/bin:/bin", "HOME": str(rcfile.parent)},
                         check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_a_shell_block_survives_awkward_values_in_the_real_shell(shell, tmp_path):
    """Spaces, quotes, `$`, backslashes and `~` reach the variable as written (each shell's own
    quoting), and a second block merges into the first in place."""
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed here")
    value = "/tmp/o'brien dir/$HOME/a\\b ~/ca.pem"
    rc = tmp_path / "rc"
    rc.write_text(sb.with_block("# mine\n", shell, {"NODE_EXTRA_CA_CERTS": value}))
    assert _sourced(shell, rc, "NODE_EXTRA_CA_CERTS") == value
    rc.write_text(sb.with_block(rc.read_text(), shell, {"API_TIMEOUT_MS": "600000"}))
    assert rc.read_text().startswith("# mine\n") and rc.read_text().count(sb.BEGIN) == 1
    assert _sourced(shell, rc, "NODE_EXTRA_CA_CERTS") == value
    assert _sourced(shell, rc, "API_TIMEOUT_MS") == "600000"


def test_fix_shell_never_writes_a_proxy_password(lab, tmp_path):
    """A proxy URL with a password goes to the settings file only, never the shell file."""
    from runbooks.fixes import Fix
    from runbooks.remedies import _shell_fix
    from runbooks.runbook import Context

    ctx = Context.build({"target": "https://api.anthropic.com"})
    fix = Fix("proxy", "tcp.timeout", "x", edits=[FileEdit(tmp_path / "s.json", None, b"{}")],
              env={"HTTPS_PROXY": "http://u:CANARY-pw@proxy:8080", "API_TIMEOUT_MS": "600000"})
    shell_fix = _shell_fix(ctx, "bash", [fix])
    written = shell_fix.edits[0].after.decode()
    assert "CANARY" not in written and "API_TIMEOUT_MS" in written
    assert "not HTTPS_PROXY" in shell_fix.summary


@pytest.mark.parametrize("args", [["--only", "bogus"], ["--shell", "tcsh"],
                                  ["--trust-ca", "abc"]])
def test_bad_fix_input_stops_before_any_check(args, lab):
    """Refused before the doctor runs: the lab's API sees no request at all."""
    run = lab("healthy")
    proc = run_cli("fix", *args, env=clean_subprocess_env(**{**run.env,
                                                               "HOME": os.environ["HOME"]}))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert run.parts[0].seen == []


# -- line endings ------------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    '{\r\n  "model": "opus"\r\n}\r\n',  # no env yet
    '{\r\n  "env": {\r\n    "A": "1"\r\n  }\r\n}\r\n',  # a member added
    '{\r\n  "env": {}\r\n}\r\n',  # an empty env
])
def test_a_crlf_settings_file_keeps_crlf(text):
    out = set_env(text, "API_TIMEOUT_MS", "600000")
    assert out.count("\n") == out.count("\r\n") and "API_TIMEOUT_MS" in out, repr(out)
    back = unset_env(out, "API_TIMEOUT_MS")
    assert back.count("\n") == back.count("\r\n"), repr(back)


def test_a_crlf_shell_file_keeps_crlf():
    first = sb.with_block("# mine\r\nexport EDITOR=vi\r\n", "bash", {"API_TIMEOUT_MS": "1"})
    assert first.count("\n") == first.count("\r\n"), repr(first)
    second = sb.with_block(first, "bash", {"NODE_EXTRA_CA_CERTS": "/ca.pem"})
    assert second.count("\n") == second.count("\r\n") and second.count(sb.BEGIN) == 1
    assert sb.block_vars(second) == {"API_TIMEOUT_MS": "1", "NODE_EXTRA_CA_CERTS": "/ca.pem"}
