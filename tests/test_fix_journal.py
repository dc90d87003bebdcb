"""An apply is a journal: killed at any write point (SIGKILL, no clean-up), it is finished by a
second apply or taken back by `runbooks undo`, and `undo` keeps working, older change sets
included. An undo that is killed is finished by the next undo.

Each kill is real: a child process applies (or undoes) a plan and SIGKILLs itself at write
point N (``RUNBOOKS_TEST_CRASH_AT``, inert otherwise), for every N until a run completes; a
few more are killed from outside at a random moment while each write point pauses
(``RUNBOOKS_TEST_WRITE_DELAY``, a slow disk)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.errors import UsageError
from runbooks.fixing.plan import FileEdit, Fix, Plan, apply_plan, recover, undo_last

#: a child that applies (or undoes) the plan in ``spec``: [path, after or None to keep]
_CHILD = r"""
import json, sys
from pathlib import Path
from runbooks.fixing.plan import FileEdit, Fix, Plan, apply_plan, undo_last
spec = json.loads(sys.argv[1])
config, root = Path(spec["config"]), Path(spec["root"])
if spec["undo"]:
    undo_last(config, [root])
else:
    edits = []
    for path, after in spec["files"]:
        p = Path(path)
        edits.append(FileEdit(p, p.read_bytes() if p.exists() else None, after.encode()))
    apply_plan(Plan([Fix("api-timeout", "config.timeout_too_low", "set it", edits=edits)]),
               config, [root])
print("done", flush=True)
"""


class Files:
    """A config folder with a settings file (existing), a shell start-up file (existing) and
    a file the plan creates; an older change set already applied to a fourth file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / ".claude"
        self.config.mkdir(parents=True, exist_ok=True)
        self.settings = self.config / "settings.json"
        self.bashrc = root / ".bashrc"
        self.bundle = self.config / "ca" / "lab.pem"
        self.older = self.config / "settings.local.json"
        self.settings.write_bytes(b'{\n  "model": "opus"\n}\n')
        self.bashrc.write_bytes(b"# mine\n")
        self.older.write_bytes(b"{}\n")
        self.before = {p: self._read(p) for p in (self.settings, self.bashrc, self.bundle)}
        self.after = {self.settings: b'{\n  "model": "opus",\n  "env": {"A": "1"}\n}\n',
                      self.bashrc: b"# mine\nexport A=1\n", self.bundle: b"# a CA\n"}
        apply_plan(Plan([Fix("no-proxy", "proxy.bypassed", "older", edits=[
            FileEdit(self.older, b"{}\n", b'{"env": {"B": "2"}}\n')])]), self.config, [root])

    @staticmethod
    def _read(path: Path) -> bytes | None:
        return path.read_bytes() if path.exists() else None

    def now(self) -> dict[Path, bytes | None]:
        return {p: self._read(p) for p in self.before}

    def spec(self, undo: bool = False) -> str:
        return json.dumps({"config": str(self.config), "root": str(self.root), "undo": undo,
                           "files": [[str(p), a.decode()] for p, a in self.after.items()]})

    def child(self, undo: bool = False, **env: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", _CHILD, self.spec(undo)],
                                env=clean_subprocess_env(**env), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def each_file_whole(self) -> None:
        """Right after a kill: every file is as before or as planned, never half of one."""
        for p, data in self.now().items():
            assert data in (self.before[p], self.after[p]), p

    def no_stray_files(self) -> None:
        strays = [p for p in self.root.rglob(".*") if p.is_file() and ".tmp" in p.name]
        assert strays == []

    def assert_before(self) -> None:
        assert self.now() == self.before

    def assert_after(self) -> None:
        assert self.now() == self.after


def _killed_at(files: Files, n: int, undo: bool = False) -> bool:
    """Run the child with a kill at write point ``n``; False once it completes instead."""
    proc = files.child(undo, RUNBOOKS_TEST_CRASH_AT=str(n))
    out, err = proc.communicate(timeout=30)
    if proc.returncode == 0:
        assert "done" in out
        return False
    assert proc.returncode == -signal.SIGKILL, err
    return True


def _state_left(files: Files) -> str | None:
    """The killed apply's state in its manifest (None: it never got as far as recording its
    intent, so for recovery it never started)."""
    manifests = sorted((files.config / "runbooks-backups").glob("*/manifest.json"))
    return json.loads(manifests[-1].read_text())["state"] if len(manifests) > 1 else None


@pytest.mark.parametrize("then", ["undo", "apply again"])
def test_a_kill_at_every_write_point_of_an_apply_is_recovered(tmp_path, then):
    n = 0
    while True:
        n += 1
        files = Files(tmp_path / f"k{n}")
        if not _killed_at(files, n):
            break
        files.each_file_whole()
        state = _state_left(files)
        if then == "undo":  # takes back exactly what was written
            done = undo_last(files.config, [files.root])
            files.assert_before()
            if state is None:  # nothing was written: this undo was the older set's
                assert files.older.read_bytes() == b"{}\n", n
                continue
            assert ("interrupted" in done.recovered) == (state == "applying"), n
        else:  # finishes the plan that was shown
            recover(files.config, [files.root], forward=True)
            if state is not None:
                files.assert_after()
                undo_last(files.config, [files.root])
            files.assert_before()
        files.no_stray_files()
        undo_last(files.config, [files.root])  # the older change set: not blocked
        assert files.older.read_bytes() == b"{}\n", n
        with pytest.raises(UsageError, match="nothing to undo"):
            undo_last(files.config, [files.root])
    assert n > 8, "fewer write points than a three-file plan has"


def test_a_kill_at_every_write_point_of_an_undo_is_finished_by_undo_again(tmp_path):
    n = 0
    while True:
        n += 1
        files = Files(tmp_path / f"k{n}")
        assert _killed_at(files, 10_000) is False  # applied whole
        files.assert_after()
        if not _killed_at(files, n, undo=True):
            files.assert_before()
            break
        files.each_file_whole()
        state = _state_left(files)
        if state != "undone":  # (else it was killed after its last write: nothing left)
            done = undo_last(files.config, [files.root])  # the killed undo, finished
            assert ("interrupted" in done.recovered) == (state == "undoing"), n
        files.assert_before()
        files.no_stray_files()
        undo_last(files.config, [files.root])  # then the older set
        assert files.older.read_bytes() == b"{}\n", n
    assert n > 4


def test_kills_at_random_moments_from_outside(tmp_path):
    seed = int(os.environ.get("RUNBOOKS_TEST_SEED") or time.time())
    rng = random.Random(seed)
    for i in range(4):
        files = Files(tmp_path / f"r{i}")
        proc = files.child(RUNBOOKS_TEST_WRITE_DELAY="0.01")
        time.sleep(rng.uniform(0.15, 0.45))  # the child's start, then its ~12 write points
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        files.each_file_whole()
        if i % 2:
            undo_last(files.config, [files.root])
            files.assert_before()
        else:  # every file as before (the kill came first) or every file as planned
            recover(files.config, [files.root], forward=True)
            assert files.now() in (files.before, files.after)
        files.no_stray_files()
        # whatever happened, undo gets back to where it all started
        while files.older.read_bytes() != b"{}\n":
            undo_last(files.config, [files.root])
        files.assert_before()
    print(f"seed {seed}")


def test_a_stray_backup_folder_without_a_manifest_is_cleaned(tmp_path):
    """Killed while writing the backups, before the manifest: no file was touched; the
    folder is removed by the next command, and never taken for a change set."""
    files = Files(tmp_path)
    assert _killed_at(files, 1)
    files.assert_before()
    undo_last(files.config, [files.root])  # the older set, as if nothing had happened
    assert files.older.read_bytes() == b"{}\n"
    assert [p.name for p in (files.config / "runbooks-backups").iterdir()
            if not (p / "manifest.json").exists()] == []


def test_a_file_changed_after_an_interrupted_apply_is_a_real_refusal(tmp_path):
    files = Files(tmp_path)
    assert _killed_at(files, 5)  # the settings file written, the rest not yet
    assert files.now()[files.settings] == files.after[files.settings]
    files.settings.write_bytes(b'{"edited": "by hand"}\n')
    for action in (lambda: undo_last(files.config, [files.root]),
                   lambda: recover(files.config, [files.root], forward=True)):
        with pytest.raises(UsageError, match="changed since"):
            action()
    assert files.settings.read_bytes() == b'{"edited": "by hand"}\n'


# -- the command line: `fix --apply --shell bash`, killed between its two files ----------------
def _sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


@pytest.mark.parametrize("then", ["apply again", "undo"])
def test_a_killed_fix_apply_is_finished_or_undone_from_the_command_line(lab, then):
    run = lab("timeout-10min")
    home = Path(os.environ["HOME"])
    settings, bashrc = home / ".claude" / "settings.json", home / ".bashrc"
    bashrc.write_text("# mine\n")
    env = clean_subprocess_env(**{**run.env, "HOME": str(home)})
    # point 5: the backups (1), the manifest (2, 3), the settings file (4, 5): .bashrc not yet
    killed = run_cli("fix", "--apply", "--shell", "bash",
                     env={**env, "RUNBOOKS_TEST_CRASH_AT": "5"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert "API_TIMEOUT_MS" in settings.read_text() and bashrc.read_text() == "# mine\n"
    if then == "apply again":
        again = run_cli("fix", "--apply", "--shell", "bash", env=env)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "interrupted" in again.stdout and "Traceback" not in again.stderr
        assert "API_TIMEOUT_MS=600000" in bashrc.read_text()  # the shell block, written
    undone = run_cli("undo", env=env)
    assert undone.returncode == 0, undone.stderr
    assert not settings.exists() and bashrc.read_text() == "# mine\n"
    nothing = run_cli("undo", env=env)
    assert nothing.returncode == 2 and "nothing to undo" in nothing.stderr
