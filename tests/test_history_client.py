"""`runbooks history` on records the real client wrote: the pinned Claude Code runs against lab
faults with a temporary HOME (once per session, in parallel), and the tests read what it left.

What these runs establish about 2.1.332 (and the docs say): the project folder's name; which
records a retried and a final failure leave; that certificate errors leave only the final line;
that `claude -r <id>` reloads the failed conversation and sends only the new prompt; that
`claude -c` elsewhere starts afresh and that interactive `claude --continue` does not offer a
`claude -p` session; where `--debug` writes, and what the category filters keep.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from clientrecords import (
    TOOL_REPLY,
    Record,
    ToolAPI,
    claude_path,
    client_env,
    run_claude,
    tool_client_env,
)
from conftest import clean_subprocess_env

from runbooks.lab import start
from runbooks.records.history import folder_for
from runbooks.triage import match_message

pytestmark = pytest.mark.client

#: Never secret-shaped, so only never copying content keeps them out of every output.
PROMPT_CANARY = "PROMPTCANARY4417"
TOOL_CANARY = "TOOLOUTPUTCANARY9923"
PATH_CANARY = "PATHCANARY5150"
#: A project path with what the client's folder naming has to get right.
ODD_PROJECT = "my.proj_v2 x/Ünïcödé-日本 😀"


def _lab_run(tmp: Path, name: str, scenario: str, project: str = "project",
             args: tuple[str, ...] = ("-p", "hello"), config_dir: bool = False,
             **extra: str) -> Record:
    base = tmp / name
    home, proj = base / "home", base / project
    home.mkdir(parents=True)
    proj.mkdir(parents=True)
    cfg = base / "claude-config" if config_dir else home / ".claude"
    lab = start(scenario)
    try:
        env = client_env(home, lab.client_env, **extra,
                         **({"CLAUDE_CONFIG_DIR": str(cfg)} if config_dir else {}))
        proc = run_claude(list(args), env, proj)
    finally:
        lab.stop()
    return Record(name, home, proj, cfg, proc, env)


def _canary_run(tmp: Path) -> Record:
    """A session that reads a file with its Read tool (healthy), then fails (refused): its
    transcript holds the prompt, the tool's input and output, and the failure."""
    base = tmp / "canary"
    home, proj = base / "home", base / "project"
    home.mkdir(parents=True)
    proj.mkdir(parents=True)
    notes = proj / f"notes-{PATH_CANARY}.txt"
    notes.write_text(f"meeting notes: {TOOL_CANARY}\n", encoding="utf-8")
    api = ToolAPI(notes)
    try:
        env = client_env(home, tool_client_env(api))
        first = run_claude(["-p", f"summarise the notes {PROMPT_CANARY}"], env, proj)
        assert first.returncode == 0 and TOOL_REPLY in first.stdout, first.stdout + first.stderr
    finally:
        api.close()
    lab = start("refused")
    try:
        env = client_env(home, lab.client_env)
        proc = run_claude(["-c", "-p", f"and the action items {PROMPT_CANARY}", "--debug"],
                          env, proj)
    finally:
        lab.stop()
    return Record("canary", home, proj, home / ".claude", proc, env)


@pytest.fixture(scope="session")
def records(tmp_path_factory) -> dict[str, Record]:
    if claude_path() is None:
        pytest.fail("the real client is not installed: run `make client` "
                    "(or deselect with -m 'not client')")
    tmp = tmp_path_factory.mktemp("records")
    jobs = {
        "refused": lambda: _lab_run(tmp, "refused", "refused", ODD_PROJECT,
                                    ("-p", f"hello {PROMPT_CANARY}")),
        "tls-untrusted": lambda: _lab_run(tmp, "tls-untrusted", "tls-untrusted"),
        "overloaded": lambda: _lab_run(tmp, "overloaded", "overloaded"),
        "spend-cap": lambda: _lab_run(tmp, "spend-cap", "spend-cap"),
        # a 429 with retry-after: 30 makes the client wait 35 s before its one retry; with
        # no retry, only the final line is written
        "ratelimited": lambda: _lab_run(tmp, "ratelimited", "ratelimited",
                                        CLAUDE_CODE_MAX_RETRIES="0"),
        "slow-first-byte": lambda: _lab_run(tmp, "slow-first-byte", "slow-first-byte",
                                            API_TIMEOUT_MS="2000"),
        "long-path": lambda: _lab_run(tmp, "long-path", "refused", "deep/" + "n" * 230),
        "config-dir": lambda: _lab_run(tmp, "config-dir", "refused", config_dir=True,
                                       args=("-p", "hello", "--debug")),
        "canary": lambda: _canary_run(tmp),
    }
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = {name: pool.submit(job) for name, job in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


def _history(r: Record, *args: str, cwd: Path | None = None,
             **env: str) -> subprocess.CompletedProcess:
    full = clean_subprocess_env(HOME=str(r.home), **env)
    if r.config_dir != r.home / ".claude":
        full["CLAUDE_CONFIG_DIR"] = str(r.config_dir)
    return subprocess.run([sys.executable, "-m", "runbooks", "history", *args],
                          capture_output=True, text=True, timeout=60, env=full,
                          cwd=cwd or r.project, check=False)


def _json(r: Record, *args: str, **env: str) -> dict:
    proc = _history(r, "--json", *args, **env)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


# -- where and what --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["refused", "long-path", "config-dir", "canary"])
def test_the_project_folder_is_named_as_the_client_names_it(records, name):
    r = records[name]
    folders = {p.parent.name for p in r.transcripts}
    assert folders == {folder_for(os.path.realpath(r.project))}, folders


def test_a_long_project_path_is_cut_and_hashed_as_the_client_does(records):
    name = records["long-path"].transcripts[0].parent.name
    assert len(name) > 200 and name[200] == "-" and name[201:].isalnum()


#: scenario → (kinds of record in order, the cause, the doctor's cause among the candidates)
EXPECTED = {
    "refused": (["retry", "final"], "tcp.refused"),
    "tls-untrusted": (["final"], "tls.untrusted_issuer"),  # certificate errors: no retry
    "overloaded": (["retry", "final"], "overloaded"),
    "spend-cap": (["retry", "final"], "ratelimit.spend_cap"),
    "ratelimited": (["final"], "ratelimit.exceeded"),
    "slow-first-byte": (["retry", "final"], "http.first_byte_timeout"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fault_is_read_back_with_its_cause(records, name):
    r = records[name]
    kinds, cause = EXPECTED[name]
    report = _json(r)
    failures = report["failures"]
    assert [f["kind"] for f in failures] == kinds, failures
    assert all(cause in f["candidates"] for f in failures), failures
    final = failures[-1]
    # the last record is the message the client printed, and it ranks as triage ranks it
    assert final["text"].split(" · see ")[0] in r.proc.stdout, (final["text"], r.proc.stdout)
    assert final["cause"] == match_message(r.proc.stdout)[0].code
    sid = r.session_id
    assert all(f["session"] == sid for f in failures)
    assert report["sessions"] == [s for s in report["sessions"] if s["id"] == sid]
    session = report["sessions"][0]
    assert session["ended_on_error"] and session["resume"] == f"claude -r {sid}"
    assert session["entrypoint"] == "sdk-cli"


def test_retry_records_carry_the_attempt_and_the_clients_hints(records):
    refused = _json(records["refused"])["failures"][0]
    assert (refused["attempt"], refused["max_retries"]) == (1, 1)
    assert refused["connection_code"] == "ECONNREFUSED" and refused["ssl"] is False
    overloaded = _json(records["overloaded"])["failures"]
    assert overloaded[0]["status"] == 529 and overloaded[0]["error_type"] == "overloaded_error"
    assert overloaded[-1]["status"] == 529 and overloaded[-1]["request_id"]
    tls = _json(records["tls-untrusted"])["failures"][0]
    assert tls["api_error"] == "tls_untrusted_ca" and tls["ssl"] is True


def test_text_output_and_exit_codes(records):
    r = records["refused"]
    proc = _history(r)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "tcp.refused" in out and f"claude -r {r.session_id}" in out
    assert "Causes: tcp.refused 2" in out
    # another directory has no records: exit 0
    elsewhere = r.home / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    proc = _history(r, cwd=elsewhere)
    assert proc.returncode == 0 and "No failed API attempt recorded" in proc.stdout
    # --all-projects finds them from anywhere, with the cd that resuming needs
    proc = _history(r, "--all-projects", cwd=elsewhere)
    assert proc.returncode == 1
    assert f"&& claude -r {r.session_id}" in proc.stdout


def test_claude_config_dir_replaces_the_home_folder(records):
    r = records["config-dir"]
    assert not (r.home / ".claude" / "projects").exists()
    assert _json(r)["causes"] == {"tcp.refused": 2}
    # without CLAUDE_CONFIG_DIR, ~/.claude holds nothing: the client never wrote there
    proc = subprocess.run([sys.executable, "-m", "runbooks", "history", "--json"],
                          capture_output=True, text=True, timeout=60, cwd=r.project,
                          env=clean_subprocess_env(HOME=str(r.home)), check=False)
    assert proc.returncode == 0 and json.loads(proc.stdout)["failures"] == []
    # --config-dir says the same as the variable
    proc = subprocess.run([sys.executable, "-m", "runbooks", "history", "--json",
                           "--config-dir", str(r.config_dir)], capture_output=True, text=True,
                          timeout=60, cwd=r.project, env=clean_subprocess_env(HOME=str(r.home)),
                          check=False)
    assert json.loads(proc.stdout)["causes"] == {"tcp.refused": 2}


# -- privacy -----------------------------------------------------------------------------------------
def test_the_transcript_really_holds_the_canaries(records):
    """The test below means something: the client wrote the prompt, the tool's input (a path)
    and the tool's output into the very transcript history reads."""
    text = records["canary"].transcripts[0].read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]
    users = [d for d in lines if d.get("type") == "user"]
    assert any(PROMPT_CANARY in json.dumps(d["message"]) for d in users)
    assert any(TOOL_CANARY in json.dumps(d["message"]) and "tool_result" in json.dumps(d)
               for d in users)
    assert any(PATH_CANARY in json.dumps(d.get("message")) and "tool_use" in json.dumps(d)
               for d in lines if d.get("type") == "assistant")
    assert any(d.get("isApiErrorMessage") for d in lines)


def test_no_prompt_or_tool_content_reaches_any_output(records):
    r = records["canary"]
    outputs = [_history(r).stdout, _history(r, "--json").stdout,
               _history(r, "--all-projects").stdout, _history(r, "--all-projects", "--json",
                                                              "--since", "all").stdout]
    report = json.loads(outputs[1])
    assert report["causes"] == {"tcp.refused": 2}
    assert report["sessions"][0]["ended_on_error"]
    for out in outputs:
        for canary in (PROMPT_CANARY, TOOL_CANARY, PATH_CANARY):
            assert canary not in out, canary


# -- what resuming does --------------------------------------------------------------------------
def _copy_home(r: Record, tmp_path: Path) -> Path:
    home = tmp_path / "home-copy"
    shutil.copytree(r.home, home, symlinks=True)
    return home


def test_resume_reloads_the_conversation_and_sends_only_the_new_prompt(records, tmp_path):
    r = records["canary"]
    home = _copy_home(r, tmp_path)
    sid = r.session_id
    api = ToolAPI()
    try:
        proc = run_claude(["-r", sid, "-p", "continue"], client_env(home, tool_client_env(api)),
                          r.project)
        prompts = api.prompts()
    finally:
        api.close()
    assert proc.returncode == 0 and TOOL_REPLY in proc.stdout, proc.stdout + proc.stderr
    assert len(prompts) == 1  # one request: nothing is re-sent on its own
    sent = " ".join(prompts[0])
    assert f"the action items {PROMPT_CANARY}" in sent and prompts[0][-1] == "continue"
    # the conversation now ends on an answer: history no longer lists it as failed
    report = json.loads(subprocess.run(
        [sys.executable, "-m", "runbooks", "history", "--json"], capture_output=True, text=True,
        timeout=60, cwd=r.project, env=clean_subprocess_env(HOME=str(home)),
        check=False).stdout)
    assert [s["ended_on_error"] for s in report["sessions"]] == [False]


def test_continue_elsewhere_starts_a_new_conversation(records, tmp_path):
    """`claude -c` reloads the most recent conversation *of the current directory*: from
    another one it silently starts afresh, without the task it was meant to continue, where
    `claude -r <id>` reloads it from anywhere."""
    r = records["canary"]
    home = _copy_home(r, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    api = ToolAPI()
    try:
        proc = run_claude(["-c", "-p", "continue the previous task"],
                          client_env(home, tool_client_env(api)), other)
        elsewhere = api.prompts()
        same = run_claude(["-c", "-p", "continue the previous task"],
                          client_env(home, tool_client_env(api)), r.project)
        here = api.prompts()[len(elsewhere):]
        # `claude -r <id>` finds the session from anywhere
        by_id = run_claude(["-r", r.session_id, "-p", "continue"],
                           client_env(home, tool_client_env(api)), other)
        resumed = api.prompts()[len(elsewhere) + len(here):]
    finally:
        api.close()
    assert proc.returncode == 0 and same.returncode == 0 and by_id.returncode == 0
    assert elsewhere == [["continue the previous task"]]
    assert PROMPT_CANARY in " ".join(here[0]) and here[0][-1] == "continue the previous task"
    assert PROMPT_CANARY in " ".join(resumed[0]) and resumed[0][-1] == "continue"


# -- interactive --continue (a real terminal) --------------------------------------------------
def _seed_interactive(home: Path, project: Path) -> None:
    """What a first interactive start asks once: onboarding, the lab key, trusting the folder."""
    from runbooks.lab import LAB_API_KEY

    (home / ".claude.json").write_text(json.dumps({
        "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": [LAB_API_KEY[-20:]], "rejected": []},
        "projects": {str(project): {"hasTrustDialogAccepted": True}}}), encoding="utf-8")


def _squeezed(text: str) -> str:
    """The text without blanks: how a terminal draws a gap (a space or a cursor move) depends on
    the terminal's size and what was on screen before."""
    return "".join(text.split())


def _tui(argv: list[str], env: dict[str, str], cwd: Path, until: str, timeout: float = 45
         ) -> str:
    """Run the interactive client in a pseudo-terminal until ``until`` shows (spaces ignored:
    the screen is drawn with cursor moves), then stop it. The screen text, escapes removed."""
    import pty
    import re
    import select
    import signal
    import time

    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        os.execve(str(claude_path()), [str(claude_path()), *argv], {**env, "TERM": "xterm"})
    out, text = b"", ""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
            raw = out.decode("utf-8", "replace")
            # a cursor move to the right draws blanks: keep them as spaces
            raw = re.sub(r"\x1b\[(\d*)C", lambda m: " " * int(m.group(1) or 1), raw)
            text = re.sub(r"\x1b\[[0-9;?<>=]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[78]", "",
                          raw)
            if until.replace(" ", "") in text.replace(" ", ""):
                time.sleep(0.5)
                break
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
                time.sleep(0.5)
            except ProcessLookupError:
                break
        os.waitpid(pid, 0)
        os.close(fd)
    return text


@pytest.mark.skipif(sys.platform != "linux", reason="drives the terminal UI through a Linux pty")
def test_interactive_continue_with_a_prompt_reloads_and_sends_the_prompt(tmp_path):
    """The popular guide's `claude --continue "continue the previous task"`: in the directory
    where the conversation failed, it reloads it and sends that text as a new prompt; the
    failed request is not sent again by itself."""
    home, project = tmp_path / "tui-home", tmp_path / "tui-project"
    home.mkdir()
    project.mkdir()
    _seed_interactive(home, project)
    lab = start("refused")
    try:
        screen = _tui([f"first task {PROMPT_CANARY}"], client_env(home, lab.client_env),
                      project, "ECONNREFUSED")
    finally:
        lab.stop()
    assert _squeezed("API Error: Connection refused") in _squeezed(screen), screen[-800:]
    api = ToolAPI()
    try:
        screen = _tui(["--continue", "continue the previous task"],
                      client_env(home, tool_client_env(api)), project, TOOL_REPLY)
        prompts = api.prompts()
    finally:
        api.close()
    assert len(prompts) == 1, screen[-800:]
    assert " ".join(prompts[0]).count(f"first task {PROMPT_CANARY}") == 1
    assert prompts[0][-1] == "continue the previous task"
    # interactive sessions record the final error only: no retry records
    lines = [json.loads(x) for p in (home / ".claude" / "projects").glob("*/*.jsonl")
             for x in p.read_text(encoding="utf-8").splitlines()]
    assert not [d for d in lines if d.get("subtype") == "api_error"]
    assert [d["entrypoint"] for d in lines if d.get("isApiErrorMessage")] == ["cli"]


@pytest.mark.skipif(sys.platform != "linux", reason="drives the terminal UI through a Linux pty")
def test_interactive_continue_does_not_offer_a_headless_session(records, tmp_path):
    r = records["canary"]
    home = _copy_home(r, tmp_path)
    _seed_interactive(home, r.project)
    api = ToolAPI()
    try:
        screen = _tui(["--continue", "continue"], client_env(home, tool_client_env(api)),
                      r.project, "No conversation found to continue")
    finally:
        api.close()
    assert _squeezed("No conversation found to continue") in _squeezed(screen), screen[-800:]
    assert api.bodies == []


# -- claude --debug ------------------------------------------------------------------------------
def test_where_the_debug_log_goes_and_what_the_filters_keep(tmp_path):
    """`--debug` and `DEBUG=1` write <config>/debug/<session>.txt and a `latest` link;
    `--debug-file` writes where it is told (its `latest` beside it); `DEBUG=claude:*` writes
    nothing; a category filter keeps only lines tagged with it: `--debug=api` keeps none of the
    API error lines, which carry no category."""
    cases = {"debug": (["--debug"], {}), "env1": ([], {"DEBUG": "1"}),
             "file": (["--debug-file", "LOG"], {}), "namespace": ([], {"DEBUG": "claude:*"}),
             "api": (["--debug=api"], {}), "mcp": (["--debug=mcp"], {})}
    lab = start("refused")

    def one(name: str):
        args, extra = cases[name]
        home, proj = tmp_path / name / "home", tmp_path / name / "project"
        home.mkdir(parents=True)
        proj.mkdir()
        log = tmp_path / name / "my.log"
        argv = ["-p", "hello", *[str(log) if a == "LOG" else a for a in args]]
        run_claude(argv, client_env(home, lab.client_env, **extra), proj)
        debug = home / ".claude" / "debug"
        files = sorted(p.name for p in debug.iterdir()) if debug.exists() else []
        text = "".join(p.read_text(encoding="utf-8") for p in debug.glob("*.txt"))
        if name == "file":
            files, text = sorted(p.name for p in log.parent.iterdir() if p.is_file()), (
                log.read_text(encoding="utf-8") if log.exists() else "")
        return name, files, text

    try:
        with ThreadPoolExecutor(len(cases)) as pool:
            seen = {name: (files, text) for name, files, text in pool.map(one, cases)}
    finally:
        lab.stop()
    for name in ("debug", "env1"):
        files, text = seen[name]
        assert "latest" in files and len(files) == 2, files
        assert "[ERROR] Connection error details: code=ECONNREFUSED" in text
    files, text = seen["file"]
    assert files == ["latest", "my.log"] and "code=ECONNREFUSED" in text
    assert seen["namespace"] == ([], "")
    assert "[ERROR]" not in seen["api"][1]
    assert "[ERROR]" not in seen["mcp"][1] and "[MCP]" in seen["mcp"][1]


# -- the canary through the notebook and the bundle ------------------------------------------------
def test_no_canary_in_the_recovery_notebook_or_the_bundle(records, tmp_path):
    """The real canary session (its prompt, the file it read, the file's path) through
    `runbooks run recovery` (papermill: the executed notebook and its JSON report) and
    `runbooks bundle` (every member), with a key in the environment that also turns up in a
    line of the session's real debug log."""
    import zipfile

    r = records["canary"]
    key = "sk-ant-api03-" + "KEYCANARY7" * 4
    log = max((r.home / ".claude" / "debug").glob("*.txt"), key=lambda p: p.stat().st_mtime)
    assert "[ERROR]" in log.read_text(encoding="utf-8")  # the run's own errors are there
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"2026-11-26T01:00:09.195Z [ERROR] API error (attempt 1/2): 401 invalid "
                 f"x-api-key {key}\n")
    env = clean_subprocess_env(HOME=str(r.home), ANTHROPIC_API_KEY=key,
                               ANTHROPIC_BASE_URL="http://127.0.0.1:9")
    run = subprocess.run([sys.executable, "-m", "runbooks", "run", "recovery", "--output-dir",
                          str(tmp_path / "out")], capture_output=True, text=True, timeout=180,
                         env=env, cwd=r.project, check=False)
    assert run.returncode == 1, run.stdout + run.stderr  # findings: the session ended on an error
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").rglob("*")
                      if p.is_file())
    assert "tcp.refused" in written and f"claude -r {r.session_id}" in written
    bundle = tmp_path / "bundle.zip"
    proc = subprocess.run([sys.executable, "-m", "runbooks", "bundle", "--output", str(bundle)],
                          capture_output=True, text=True, timeout=180, env=env, cwd=r.project,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(bundle) as zf:
        members = {n: zf.read(n).decode("utf-8") for n in zf.namelist()}
    assert any("code=ECONNREFUSED" in text for text in members.values())
    for text in [written, run.stdout, proc.stdout, proc.stderr, *members.values()]:
        for canary in (PROMPT_CANARY, TOOL_CANARY, PATH_CANARY, "KEYCANARY7"):
            assert canary not in text, canary
