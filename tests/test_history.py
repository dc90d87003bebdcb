"""`runbooks history` on recorded real transcripts (tests/fixtures/history, laid out as the lab's
`history` scenario does): what is read, what is never read, and the bounds.

The same reader on records the client writes during the test run: test_history_client.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.lab.history_scenarios import PROJECT, RECORDS, lay_out
from runbooks.records.history import (
    LINE_CAP,
    History,
    folder_for,
    intermittent,
    parse_since,
    read_history,
    resume_command,
)

CANARY = "FIXTURECANARY"
LAST = "c8ab9600-1430-40dd-82b4-857e3712cbd0"  # the session refused, recovered, refused again
TLS = "fbc0d0a2-51ea-49b9-80a9-ab3d6539defb"
OVERLOADED = "19fd5c29-2b5c-478d-aa4a-8a5694a9bd68"


@pytest.fixture
def config(tmp_path) -> Path:
    """Claude Code's folder with the recorded story, ending an hour ago."""
    cfg = tmp_path / "claude"
    lay_out(cfg)
    return cfg


def _env(config: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "CLAUDE_CONFIG_DIR": str(config), "CLAUDE_PROJECT_DIR": PROJECT,
            **extra}


def _cli(config: Path, *args: str, **extra: str):
    return run_cli("history", *args, env=clean_subprocess_env(
        CLAUDE_CONFIG_DIR=str(config), CLAUDE_PROJECT_DIR=PROJECT, **extra))


# -- where the client keeps them -------------------------------------------------------------------
@pytest.mark.parametrize("path, folder", [
    # every non-alphanumeric ASCII character becomes "-": dots, underscores, spaces, slashes
    ("/home/dev/acme-app", "-home-dev-acme-app"),
    ("/tmp/hx/hx-epgtgbi1/my.proj_v2 x/Ünïcödé-日本", "-tmp-hx-hx-epgtgbi1-my-proj-v2-x--n-c-d----"),
    # one "-" per UTF-16 unit: an emoji (a surrogate pair) makes two
    ("/tmp/hx/hx2-2cplaxoz/real😀dir", "-tmp-hx-hx2-2cplaxoz-real--dir"),
    # over 200 characters: cut at 200, then "-" and the client's 32-bit string hash, base 36
    ("/tmp/hx/hx-uwigk38l/long" + "x" * 250,
     "-tmp-hx-hx-uwigk38l-long" + "x" * 176 + "-wkgzoq"),
])
def test_the_project_folder_name_as_the_client_makes_it(path, folder):
    """Each row was read off a folder the real client (2.1.332) created."""
    assert folder_for(path) == folder


@pytest.mark.parametrize("text, seconds", [
    ("7d", 7 * 86400), ("12h", 12 * 3600), ("30m", 1800), ("90s", 90), ("2w", 14 * 86400),
    ("1.5h", 5400), (" 7D ", 7 * 86400),
])
def test_since_durations(text, seconds):
    assert parse_since(text, now=1_000_000.0) == 1_000_000.0 - seconds


def test_since_dates_and_all():
    assert parse_since("2026-11-20") == parse_since("2026-11-20T00:00:00Z")
    assert parse_since("2026-11-20T10:00+02:00") == parse_since("2026-11-20T08:00Z")
    assert parse_since("all") is None


@pytest.mark.parametrize("bad", ["", "7", "7x", "-3d", "0d", "yesterday", "2026-13-01"])
def test_since_refuses_what_it_cannot_read(bad):
    with pytest.raises(ValueError, match="expected"):
        parse_since(bad)


def test_resume_command():
    sid = LAST
    assert resume_command(sid) == f"claude -r {sid}"
    assert resume_command(sid, "/home/dev/my app", "/elsewhere") == (
        f"cd '/home/dev/my app' && claude -r {sid}")
    assert resume_command("not-a-uuid; rm -rf ~") is None  # it goes into a shell command


# -- what is read ------------------------------------------------------------------------------------
def test_the_recorded_story(config):
    h = read_history(env=_env(config), since=None)
    assert h.files_read == 4 and h.malformed_lines == 0 and h.complete
    assert [(f.kind, f.cause) for f in h.failures] == [
        ("final", "tls.untrusted_issuer"), ("retry", "tcp.refused"), ("final", "tcp.refused"),
        ("retry", "overloaded"), ("final", "overloaded"), ("retry", "tcp.refused"),
        ("final", "tcp.refused")]
    assert dict(h.causes()) == {"tcp.refused": 4, "overloaded": 2, "tls.untrusted_issuer": 1}
    assert [s.id for s in h.ended_on_error] == [TLS, OVERLOADED, LAST]
    assert h.latest.id == LAST and h.latest.headless
    assert len(h.answers) >= 3
    found = intermittent(h)
    assert (found.phase, found.cause, found.episodes, found.failures) == (
        "connect", "tcp.refused", 2, 4)


def test_a_window_leaves_older_records_out(config):
    h = read_history(env=_env(config), since=time.time() - 2 * 3600)
    assert [f.session for f in h.failures] == [LAST, LAST]
    assert [s.id for s in h.all_sessions] == [LAST]


def test_the_json_report(config):
    proc = _cli(config, "--json", "--since", "all")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) >= {"failures", "causes", "sessions", "schema_version", "scanned"}
    assert report["causes"] == {"tcp.refused": 4, "overloaded": 2, "tls.untrusted_issuer": 1}
    first = report["failures"][1]
    assert first == {**first, "kind": "retry", "attempt": 1, "max_retries": 1,
                     "connection_code": "ECONNREFUSED", "ssl": False, "entrypoint": "sdk-cli",
                     "version": "2.1.332", "cause": "tcp.refused"}
    assert first["at"].endswith("Z") and first["session"] == LAST
    sessions = {s["id"]: s for s in report["sessions"]}
    assert sessions[LAST]["resume"].endswith(f"claude -r {LAST}")
    assert sessions[LAST]["ended_on_error"] and sessions[LAST]["failures"] == 4


def test_no_prompt_answer_or_tool_output_is_ever_shown(config):
    files = list(config.rglob("*.jsonl"))
    assert any(CANARY in p.read_text(encoding="utf-8") for p in files)  # it is there to find
    for args in ([], ["--json"], ["--all-projects"], ["--all-projects", "--json"],
                 ["--since", "all", "--json"]):
        proc = _cli(config, *args)
        assert CANARY not in proc.stdout + proc.stderr, args
        assert "I have read the file" not in proc.stdout  # Claude's answers neither
        assert "Q4 roadmap" not in proc.stdout


def test_exit_codes_and_usage_errors(config, tmp_path):
    assert _cli(config).returncode == 1
    empty = tmp_path / "empty-config"
    empty.mkdir()
    proc = run_cli("history", env=clean_subprocess_env(CLAUDE_CONFIG_DIR=str(empty)))
    assert proc.returncode == 0 and "No failed API attempt recorded" in proc.stdout
    for args, fragment in [(["--since", "soon"], "--since 'soon'"),
                           (["--project", "x", "--all-projects"], "not both"),
                           (["--config-dir", str(tmp_path / "missing")], "does not exist"),
                           (["--max-files", "0"], "--max-files")]:
        proc = _cli(config, *args)
        assert proc.returncode == 2 and fragment in proc.stderr, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    proc = run_cli("history", env=clean_subprocess_env(CLAUDE_CONFIG_DIR=str(a_file)))
    assert proc.returncode == 2 and "not a folder" in proc.stderr
    proc = run_cli("history", env=clean_subprocess_env(CLAUDE_CONFIG_DIR=str(tmp_path / "nope")))
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_without_claude_config_dir_the_home_folder_is_read(config, tmp_path):
    home = Path(os.environ["HOME"])
    (home / ".claude").mkdir()
    os.symlink(config / "projects", home / ".claude" / "projects")
    proc = run_cli("history", "--project", PROJECT, "--json")
    assert proc.returncode == 1 and json.loads(proc.stdout)["causes"]["tcp.refused"] == 4


# -- bounds ------------------------------------------------------------------------------------------
def _folder(config: Path) -> Path:
    return config / "projects" / folder_for(PROJECT)


def _record(sid: str, when: float, text: str = "API Error: Connection refused — a firewall "
            "or proxy may be blocking it (ECONNREFUSED)") -> str:
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(when))
    return json.dumps({"parentUuid": None, "isSidechain": False, "type": "assistant",
                       "timestamp": ts, "message": {"role": "assistant", "content": [
                           {"type": "text", "text": text}]}, "isApiErrorMessage": True,
                       "apiError": "connection_failed", "sessionId": sid, "entrypoint": "cli"},
                      separators=(",", ":"))


def test_malformed_lines_are_skipped_and_counted(config):
    path = next(_folder(config).glob(f"{LAST}.jsonl"))
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"type":"system","subtype":"api_error", broken\nnot json at all\n[1, 2]\n')
        fh.write('{"type":"assistant","isApiErrorMessage":true}\n')  # no time: not a failure
    h = read_history(env=_env(config), since=None)
    assert h.malformed_lines == 3 and len(h.failures) == 7


def test_an_overlong_line_is_skipped_without_losing_what_follows(config):
    sid = "00000000-0000-4000-8000-000000000001"
    path = _folder(config) / f"{sid}.jsonl"
    huge = json.dumps({"type": "user", "message": {"role": "user", "content": "x" * (
        LINE_CAP + 10)}, "sessionId": sid})
    path.write_text(huge + "\n" + _record(sid, time.time() - 60) + "\n", encoding="utf-8")
    h = read_history(env=_env(config), since=None)
    assert h.long_lines == 1
    assert [f.session for f in h.failures if f.session == sid] == [sid]


def test_a_long_answer_still_counts_as_a_recovery(config):
    """A successful answer too long to parse (a big tool call) is seen from its head: the
    session no longer ends on its error."""
    sid = "00000000-0000-4000-8000-000000000002"
    answer = json.dumps({"parentUuid": None, "isSidechain": False, "message": {
        "role": "assistant", "content": [{"type": "text", "text": "y" * (LINE_CAP + 10)}]},
        "type": "assistant", "sessionId": sid}, separators=(",", ":"))
    (_folder(config) / f"{sid}.jsonl").write_text(
        _record(sid, time.time() - 120) + "\n" + answer + "\n", encoding="utf-8")
    h = read_history(env=_env(config), since=None)
    mine = next(s for s in h.all_sessions if s.id == sid)
    assert mine.failures == 1 and not mine.ended_on_error


def test_a_big_transcript_is_read_from_its_end(config):
    sid = "00000000-0000-4000-8000-000000000003"
    path = _folder(config) / f"{sid}.jsonl"
    filler = json.dumps({"type": "user", "message": {"content": "z" * 1000}}) + "\n"
    path.write_text(_record(sid, time.time() - 600) + "\n" + filler * 200
                    + _record(sid, time.time() - 60) + "\n", encoding="utf-8")
    h = read_history(env=_env(config), since=None, file_cap=100_000)
    assert h.bytes_skipped > 0 and not h.complete
    assert len([f for f in h.failures if f.session == sid]) == 1  # the newest one


def test_at_most_max_files_newest_first(config):
    h = read_history(env=_env(config), since=None, max_files=1)
    assert h.files_read == 1 and h.files_over_limit == 3
    assert {f.session for f in h.failures} == {LAST}


def test_a_time_budget(config):
    h = read_history(env=_env(config), since=None, budget_s=0.0)
    assert h.out_of_time and h.files_read == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_only_regular_files_are_read(config):
    folder = _folder(config)
    os.mkfifo(folder / "pipe.jsonl")  # opening it for reading would wait forever
    (folder / "dir.jsonl").mkdir()
    if Path("/dev/zero").exists():
        os.symlink("/dev/zero", folder / "zero.jsonl")
    t0 = time.monotonic()
    h = read_history(env=_env(config), since=None)
    assert time.monotonic() - t0 < 5
    skipped = " ".join(h.files_skipped)
    assert "FIFO" in skipped and "directory" in skipped
    assert len(h.failures) == 7


def test_intermittent_needs_an_answer_between_two_episodes():
    from runbooks.records.history import Failure

    def fail(at: float, cause: str = "tcp.refused") -> Failure:
        return Failure(at=at, session="s", kind="final", text="", cause=cause)

    def hist(failures, answers) -> History:
        return History(config_dir=Path("."), project=None, since=None, failures=failures,
                       answers=answers)

    # one burst, however long: an outage, not a path that fails now and then
    assert intermittent(hist([fail(1), fail(2), fail(3)], [0.5, 10])) is None
    # fail, answer, fail: two episodes of the same phase
    assert intermittent(hist([fail(1), fail(3)], [2])).episodes == 2
    # DNS and connect are separate phases: one episode each is not a pattern
    assert intermittent(hist([fail(1), fail(3, "dns.nxdomain")], [2])) is None
    # the service's answers (limits, load) never count
    assert intermittent(hist([fail(1, "overloaded"), fail(3, "overloaded")], [2])) is None


def test_the_fixtures_hold_nothing_secret():
    text = "".join(p.read_text(encoding="utf-8") for p in RECORDS.rglob("*") if p.is_file())
    for secret in ("lab-key-not-a-secret", "sk-ant-", "/root/", "/tmp/acme-"):
        assert secret not in text, secret


# -- masked before cut, and lines the parser cannot read ---------------------------------------------
TOKEN = "TOKENCANARYzz9Q-bearer-token-0123456789"  # ANTHROPIC_AUTH_TOKEN: registered, not key-shaped


def test_a_token_at_the_cut_is_masked_whole(config):
    """An error text is cut at 1,000 characters, after it is masked: a token across the cut
    used to show its first 20 characters (the cut part no longer matched the registered
    token)."""
    sid = "00000000-0000-4000-8000-000000000004"
    text = "API Error: Connection refused (ECONNREFUSED) " + "x" * 935 + " " + TOKEN + " end" * 30
    assert text.index(TOKEN) == 981  # 19 characters of it before the cut
    (_folder(config) / f"{sid}.jsonl").write_text(_record(sid, time.time() - 60, text) + "\n",
                                                  encoding="utf-8")
    proc = _cli(config, "--json", "--since", "all", ANTHROPIC_AUTH_TOKEN=TOKEN)
    assert proc.returncode == 1, proc.stderr
    kept = next(f["text"] for f in json.loads(proc.stdout)["failures"] if f["session"] == sid)
    assert kept.startswith("API Error: Connection refused") and kept.endswith("…")
    assert "TOKENCANARY" not in proc.stdout and "TOKENCAN" not in kept


def test_a_deeply_nested_line_is_named_and_the_rest_read(config):
    """One line of 200 KB that is [[[[… (inside an assistant record, so it is parsed) used to
    end the command with a RecursionError traceback."""
    sid = "00000000-0000-4000-8000-000000000005"
    deep = '{"type":"assistant","message":' + "[" * 100_000 + "]" * 100_000 + "}"
    (_folder(config) / f"{sid}.jsonl").write_text(
        _record(sid, time.time() - 120) + "\n" + deep + "\n" + _record(sid, time.time() - 60)
        + "\n", encoding="utf-8")
    proc = _cli(config, "--json", "--since", "all")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert [line.rsplit("/", 1)[-1] for line in report["scanned"]["too_deep_lines"]] == [
        f"{sid}.jsonl: line 2"]
    assert len([f for f in report["failures"] if f["session"] == sid]) == 2  # the rest read
    assert report["causes"]["tcp.refused"] == 6
    proc = _cli(config, "--since", "all")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{sid}.jsonl: line 2: nested too deeply to read as JSON" in proc.stdout
