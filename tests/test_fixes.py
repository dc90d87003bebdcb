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

from runbooks.errors import UsageError
from runbooks.fixing import shellblock as sb
from runbooks.fixing.jsonedit import EditError, set_env, unset_env
from runbooks.fixing.plan import FileEdit, Fix, Plan, apply_plan, check_target, undo_last


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
    from runbooks.fixing.plan import Fix
    from runbooks.fixing.remedies import _shell_fix
    from runbooks.probes.context import Context

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


# -- secrets: reprs, diff context lines, the manifest -------------------------------------------
CANARY = "CANARYzz9Qsecret"  # every planted secret contains this


def _secret_settings() -> str:
    return json.dumps({"model": "opus", "env": {
        "GITHUB_TOKEN": f"ghp_{CANARY}", "DB_PASSWORD": f"{CANARY}-db",
        "ANTHROPIC_API_KEY": f'"sk-ant-api03-{CANARY}-0000"',
        "API_TIMEOUT_MS": "10min"}}, indent=2) + "\n"


def _secret_bashrc() -> str:
    return (f"# mine\nexport OPENAI_API_KEY=sk-{CANARY}\nDB_URL='postgres://u:{CANARY}@db/x'\n"
            f"set -gx FISH_TOKEN {CANARY}\nalias deploy='curl -H \"X-Key: {CANARY}\"'\n")


def _secret_plan(tmp_path: Path) -> Plan:
    settings, bashrc = tmp_path / "settings.json", tmp_path / ".bashrc"
    settings.write_text(_secret_settings())
    bashrc.write_text(_secret_bashrc())
    after = set_env(settings.read_text(), "API_TIMEOUT_MS", "600000")
    rc = sb.with_block(bashrc.read_text(), "bash", {"API_TIMEOUT_MS": "600000"})
    return Plan([Fix("api-timeout", "config.timeout_invalid", "set it", edits=[
        FileEdit(settings, settings.read_bytes(), after.encode()),
        FileEdit(bashrc, bashrc.read_bytes(), rc.encode())])])


def test_reprs_of_plans_and_edits_hold_no_content(tmp_path, config):
    """What a notebook stores for `display(plan)` (text/plain is the repr) and what a
    traceback or a log would print: names, sizes and hashes, the masked rendering."""
    from IPython.core.formatters import DisplayFormatter

    plan = _secret_plan(tmp_path)
    bundle, _meta = DisplayFormatter().format(plan)
    assert bundle["text/plain"] == plan.render() and "API_TIMEOUT_MS" in bundle["text/plain"]
    applied = apply_plan(plan, config, [tmp_path])
    for shown in (repr(plan), str(plan), repr(plan.fixes), repr(plan.edits), repr(applied),
                  str(applied), *bundle.values(), plan.to_dict(), plan.fixes[0].to_dict()):
        assert CANARY not in str(shown), shown
    assert "settings.json" in repr(plan.edits[0]) and "sha256" in repr(plan.edits[0])


def test_a_diff_shows_only_what_the_fix_changes(tmp_path):
    """Every other value in the diff's lines is masked, named at most: the settings file's
    neighbouring variables (in context and on a changed line), the user's shell lines."""
    plan = _secret_plan(tmp_path)
    diff = plan.diff()
    assert CANARY not in diff, diff
    assert '+    "API_TIMEOUT_MS": "600000"' in diff and '-    "API_TIMEOUT_MS": "10min"' in diff
    assert '"GITHUB_TOKEN": "****"' in diff  # named, never printed
    assert "+export API_TIMEOUT_MS=600000" in diff and sb.BEGIN in diff
    # one line, the whole file: the changed line carries the neighbours
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"env": {"GITHUB_TOKEN": CANARY, "API_TIMEOUT_MS": "1"}}))
    after = set_env(one.read_text(), "API_TIMEOUT_MS", "600000").encode()
    shown = FileEdit(one, one.read_bytes(), after).diff()
    assert CANARY not in shown and '"API_TIMEOUT_MS": "600000"' in shown, shown
    # a shell file without its last newline: that line changes, and is shown masked
    rc = tmp_path / ".zshrc"
    rc.write_text(f"export OPENAI_API_KEY=sk-{CANARY}")
    edit = FileEdit(rc, rc.read_bytes(),
                    sb.with_block(rc.read_text(), "zsh", {"API_TIMEOUT_MS": "1"}).encode())
    assert CANARY not in edit.diff() and "OPENAI_API_KEY" in edit.diff(), edit.diff()


def test_fix_and_undo_print_no_other_secret_in_text_json_or_the_manifest(lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"model": "opus", "env": {
        "GITHUB_TOKEN": f"ghp_{CANARY}", "DB_PASSWORD": f"{CANARY}-db"}}, indent=2) + "\n")
    (home / ".bashrc").write_text(_secret_bashrc())
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    outs = []
    for args in (["fix", "--shell", "bash"], ["fix", "--shell", "bash", "--json", "-"],
                 ["fix", "--apply", "--shell", "bash"], ["undo", "--json"]):
        proc = run_cli(*args, env=env)
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
        outs.append(proc.stdout + proc.stderr)
        if args[0] == "undo":  # apply again, for the text undo
            run_cli("fix", "--apply", "--shell", "bash", env=env)
            outs.append(run_cli("undo", env=env).stdout)
    manifests = [m.read_text() for m in home.rglob("manifest.json")]
    assert manifests and all(CANARY not in m for m in manifests)
    for out in outs:
        assert CANARY not in out, out
        assert "API_TIMEOUT_MS" in out and "GITHUB_TOKEN" in out
    json.loads(outs[1])  # masking keeps it valid JSON
    assert CANARY in settings.read_text()  # the file itself: as it was


@pytest.mark.notebook
def test_a_notebook_that_shows_a_plan_holds_no_secret_of_the_file(lab, tmp_path):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(_secret_settings())
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    env.pop("API_TIMEOUT_MS")  # set in the settings file: the fix edits that file
    proc = run_cli("run", "timeouts", "--output-dir", str(tmp_path / "out"), env=env,
                   timeout=120)
    stored = [p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any("API_TIMEOUT_MS" in s and "600000" in s for s in stored), proc.stdout
    for text in stored + [proc.stdout + proc.stderr]:
        assert CANARY not in text


# -- modes -------------------------------------------------------------------------------------
def test_a_new_file_a_fix_creates_is_0600_in_a_new_0700_folder(lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    proc = run_cli("fix", "--apply", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    settings = home / ".claude" / "settings.json"
    assert stat.S_IMODE(settings.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.parent.stat().st_mode) == 0o700


def test_an_existing_file_keeps_its_mode_and_a_new_one_is_0600(config):
    old, new = config / "old.json", config / "sub" / "new.json"
    old.write_text("{}\n")
    old.chmod(0o640)
    apply_plan(Plan([Fix("api-timeout", "c", "s", edits=[
        FileEdit(old, b"{}\n", b'{"env": {}}\n'), FileEdit(new, None, b"{}\n")])]),
        config, [config])
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    assert stat.S_IMODE(new.stat().st_mode) == 0o600


# -- symlinks (dotfile managers) --------------------------------------------------------------
def test_a_symlinked_settings_file_and_bashrc_are_edited_through_their_links(lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    dotfiles = home / "dotfiles"
    (dotfiles / "claude").mkdir(parents=True)
    real_settings, real_rc = dotfiles / "claude" / "settings.json", dotfiles / "bashrc"
    real_settings.write_text('{\n  "model": "opus"\n}\n')
    real_rc.write_text("# mine\n")
    (home / ".claude").mkdir()
    link, rc_link = home / ".claude" / "settings.json", home / ".bashrc"
    link.symlink_to(real_settings)
    rc_link.symlink_to(real_rc)
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    proc = run_cli("fix", "--apply", "--shell", "bash", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert link.is_symlink() and rc_link.is_symlink()  # the links are kept
    assert json.loads(real_settings.read_text())["env"]["API_TIMEOUT_MS"] == "600000"
    assert "API_TIMEOUT_MS=600000" in real_rc.read_text()
    assert "~/.claude/settings.json → ~/dotfiles/claude/settings.json" in proc.stdout, \
        proc.stdout
    assert not list(dotfiles.rglob(".*"))  # no temporary file left in the dotfiles
    undone = run_cli("undo", env=env)
    assert undone.returncode == 0, undone.stderr
    assert link.is_symlink() and rc_link.is_symlink()
    assert real_settings.read_text() == '{\n  "model": "opus"\n}\n'
    assert real_rc.read_text() == "# mine\n"


@pytest.mark.parametrize("kind, why", [("dangling", "does not exist"),
                                       ("folder", "not a regular file"),
                                       ("fifo", "not a regular file"),
                                       ("loop", "loop")])
def test_a_link_that_cannot_be_edited_is_refused_in_one_line(kind, why, config, tmp_path):
    link = config / "settings.json"
    target = tmp_path / "elsewhere"
    if kind == "folder":
        target.mkdir()
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "loop":
        target = config / "settings.json"
    link.symlink_to(target)
    with pytest.raises(UsageError, match=why) as err:
        apply_plan(_plan_new(link), config, [config])
    assert "\n" not in str(err.value)
    assert link.is_symlink() and os.readlink(link) == str(target)


def _plan_new(path: Path) -> Plan:
    return Plan([Fix("api-timeout", "config.timeout_too_low", "set it",
                     edits=[FileEdit(path, None, b'{"env": {}}\n')])])


def test_a_dangling_link_makes_the_fix_a_step_by_hand(lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").symlink_to(home / "dotfiles" / "gone.json")
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    proc = run_cli("fix", "--apply", env=env)
    assert proc.returncode == 1 and "[by hand] api-timeout" in proc.stdout, proc.stdout
    assert "does not exist" in proc.stdout and "Traceback" not in proc.stderr
    assert (home / ".claude" / "settings.json").is_symlink()


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


# -- refusals: one line, exit 2, nothing changed ---------------------------------------------------
def _one_line_refusal(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_refused_write_is_one_line_and_the_files_written_before_it_are_restored(lab):
    """`chattr +i` on ~/.bashrc: the settings file, written first, is put back."""
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    rc = home / ".bashrc"
    rc.write_text("# mine\n")
    if os.geteuid() != 0 or subprocess.run(["chattr", "+i", str(rc)], capture_output=True,
                                           check=False).returncode != 0:
        pytest.skip("chattr +i needs root and a file system that supports it")
    try:
        env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
        proc = run_cli("fix", "--apply", "--shell", "bash", env=env)
        _one_line_refusal(proc, "~/.bashrc cannot be written")
        assert "nothing was changed" in proc.stderr
        assert not (home / ".claude" / "settings.json").exists()
        assert rc.read_text() == "# mine\n"
        _one_line_refusal(run_cli("undo", env=env), "nothing to undo")
    finally:
        subprocess.run(["chattr", "-i", str(rc)], check=False)


def test_a_read_only_home_is_one_line_and_nothing_written(lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if os.geteuid() != 0 or probe.returncode != 0:
        pytest.skip("a read-only bind mount needs root and unshare -m")
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    script = (f"mount --bind -o ro {shlex.quote(str(home))} {shlex.quote(str(home))} && "
              f"exec {shlex.quote(sys.executable)} -m runbooks \"$@\"")
    for args in (["fix", "--apply"], ["undo"]):
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        _one_line_refusal(proc, "Read-only file system" if args[0] == "fix" else "nothing to")
    assert list(home.iterdir()) == []


def test_undo_with_its_backup_deleted_is_one_line(config):
    target = config / "settings.json"
    target.write_text("{}\n")
    done = apply_plan(_plan(target, b'{"env": {"A": "1"}}\n'), config, [config])
    (done.folder / "file-0").unlink()
    with pytest.raises(UsageError, match="backup .* is missing") as err:
        undo_last(config, [config])
    assert "\n" not in str(err.value) and "nothing was restored" in str(err.value)
    assert target.read_text() == '{"env": {"A": "1"}}\n'


def test_undo_with_its_backup_deleted_from_the_command_line(lab):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text("{}\n")
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    assert run_cli("fix", "--apply", env=env).returncode == 0
    for backup in (home / ".claude" / "runbooks-backups").rglob("file-*"):
        backup.unlink()
    _one_line_refusal(run_cli("undo", env=env), "is missing")


def test_a_home_that_does_not_exist_is_not_created(lab, tmp_path):
    run = lab("timeout-10min")
    home = tmp_path / "nonexistent"
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    proc = run_cli("fix", "--apply", env=env)
    _one_line_refusal(proc, "does not exist")
    assert not home.exists()
    assert run.parts[0].seen == []  # refused before the checks ran


#: fills a small tmpfs HOME to leave k pages free, then applies a two-file plan, for each k
_FULL_DISK = r"""
import json, os, shutil, sys
from pathlib import Path
from runbooks.errors import UsageError
from runbooks.fixing.plan import FileEdit, Fix, Plan, apply_plan, undo_last
home = Path(sys.argv[1])
out = []
for k in range(12):
    for p in home.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    config = home / ".claude"
    config.mkdir()
    before = {config / "settings.json": b'{\n  "model": "opus"\n}\n', home / ".bashrc": b"# mine\n"}
    after = {config / "settings.json": b'{\n  "model": "opus",\n  "env": {"A": "1"}\n}\n',
             home / ".bashrc": b"# mine\nexport A=1\n" + b"#" * 5000 + b"\n"}  # one page more
    for p, data in before.items():
        p.write_bytes(data)
    fd = os.open(home / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    os.close(fd)
    os.truncate(home / "filler", max(0, (home / "filler").stat().st_size // 4096 - k) * 4096)
    plan = Plan([Fix("api-timeout", "c", "s",
                     edits=[FileEdit(p, before[p], after[p]) for p in before])])
    try:
        apply_plan(plan, config, [home])
        outcome = "applied"
    except UsageError as exc:
        outcome = str(exc)
    whole = all(p.read_bytes() in (before[p], after[p]) for p in before)
    (home / "filler").unlink()  # space again: undo gets back to the start
    try:
        undo_last(config, [home])
    except UsageError as exc:
        assert "nothing to undo" in str(exc), exc
    out.append([outcome, whole, all(p.read_bytes() == before[p] for p in before)])
print(json.dumps(out))
"""


def test_a_disk_that_fills_up_mid_apply_is_one_line_and_changes_nothing(tmp_path):
    """A full disk at every stage of an apply (a 128 KiB tmpfs as HOME, filled to leave 0, 1,
    2 … pages): the backups, the manifest, the first file, the second (the first is put
    back). One line each; every file whole; with space again, undo gets back to the start."""
    home = tmp_path / "full"
    home.mkdir()
    script = f"mount -t tmpfs -o size=128k tmpfs {shlex.quote(str(home))} && exec \"$@\""
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", sys.executable, "-c",
                           _FULL_DISK, str(home)], capture_output=True, text=True, timeout=60,
                          check=False)
    if os.geteuid() != 0 or "mount" in proc.stderr or "unshare" in proc.stderr:
        pytest.skip(f"a tmpfs HOME needs root and unshare -m: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    for outcome, whole, back in rows:
        assert whole and back, outcome
        assert outcome == "applied" or ("No space left on device" in outcome and
                                        "\n" not in outcome), outcome
    outcomes = " ".join(r[0] for r in rows)
    assert "cannot back up" in outcomes and ".bashrc cannot be written" in outcomes
    assert rows[-1][0] == "applied"
