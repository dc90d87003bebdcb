"""`runbooks bundle`: one archive for a bug report. A canary is planted in every input it reads
(keys and tokens in the environment, a proxy password, custom headers, a key in the base URL,
the settings files' env blocks and apiKeyHelper, prompts and tool output in the transcripts,
secrets inside debug log lines) and searched for in every member of the archive."""

from __future__ import annotations

import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import clean_subprocess_env, run_cli

from runbooks.bundle import MEMBERS
from runbooks.lab.history_scenarios import PROJECT, lay_out

CANARY = "CANARYzz9Qsecret"  # every planted secret contains it
SECRETS = {
    "ANTHROPIC_API_KEY": f"sk-ant-api03-{CANARY}0000000000",
    "ANTHROPIC_AUTH_TOKEN": f"{CANARY}-bearer-token",
    "CLAUDE_CODE_OAUTH_TOKEN": f"sk-ant-oat01-{CANARY}",
    "HTTPS_PROXY": f"http://bob:{CANARY}/x@127.0.0.1:9",  # a password that breaks URL parsing
    "ANTHROPIC_CUSTOM_HEADERS": f"X-Gateway-Key: {CANARY}hdr\nX-Other: {CANARY}2",
    "ANTHROPIC_BASE_URL": f"http://127.0.0.1:9/?key={CANARY}url",
    "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE": f"{CANARY}-passphrase",
}


def _members(path: Path) -> dict[str, str]:
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            return {n.split("/", 1)[1]: zf.read(n).decode("utf-8") for n in zf.namelist()}
    with tarfile.open(path) as tf:
        return {m.name.split("/", 1)[1]: tf.extractfile(m).read().decode("utf-8")
                for m in tf.getmembers()}


@pytest.fixture
def planted(tmp_path) -> tuple[dict[str, str], Path]:
    """A user's machine with a secret in every input the bundle reads."""
    cfg = tmp_path / "claude"
    lay_out(cfg)  # recorded transcripts: prompts and a file's content carry FIXTURECANARY
    (cfg / "settings.json").write_text(json.dumps({
        "env": {"ANTHROPIC_API_KEY": f"sk-ant-api03-{CANARY}settings00",
                "ANTHROPIC_CUSTOM_HEADERS": f"X-Key: {CANARY}settingshdr",
                "HTTP_PROXY": f"http://alice:{CANARY}pw@127.0.0.1:9",
                "SOME_TOKEN": f"{CANARY}-other-variable"},
        "apiKeyHelper": f"echo {CANARY}helper"}), encoding="utf-8")
    log = next((cfg / "debug").glob("c8ab*.txt"))
    with log.open("a", encoding="utf-8") as fh:  # secrets as they turn up in real error lines
        fh.write(f"2026-11-26T01:00:09.195Z [ERROR] API error (attempt 1/2): 401 "
                 f'{{"error":"invalid x-api-key {SECRETS["ANTHROPIC_API_KEY"]}"}}\n'
                 f"2026-11-26T01:00:09.196Z [ERROR] proxy http://bob:{CANARY}/x@127.0.0.1:9 "
                 f"refused; header X-Gateway-Key: {CANARY}hdr\n"
                 f"2026-11-26T01:00:09.197Z [WARN] token {SECRETS['ANTHROPIC_AUTH_TOKEN']} "
                 f"and sk-ant-api03-{CANARY}unregistered99 in a message\n")
    env = clean_subprocess_env(**SECRETS, CLAUDE_CONFIG_DIR=str(cfg),
                               CLAUDE_PROJECT_DIR=PROJECT, SOME_PASSWORD=f"{CANARY}-pw")
    return env, cfg


@pytest.mark.parametrize("name", ["bundle.zip", "bundle.tar.gz"])
def test_no_secret_reaches_the_bundle(planted, tmp_path, name):
    env, _cfg = planted
    out = tmp_path / name
    proc = run_cli("bundle", "--output", str(out), env=env, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    members = _members(out)
    assert list(members) == list(MEMBERS)
    for member, text in members.items():
        assert CANARY not in text, (member, text[text.find(CANARY) - 200:][:400])
        assert "FIXTURECANARY" not in text and "Q4 roadmap" not in text, member
    # …and yet it says what a maintainer needs
    history = json.loads(members["history.json"])
    assert history["causes"]["tcp.refused"] == 4  # the story: three days, all in the window
    assert "Connection error details: code=ECONNREFUSED" in members["debug-log.txt"]
    config = json.loads(members["config.json"])
    assert config["variables"]["HTTPS_PROXY"]["value"] == "http://bob:****@127.0.0.1:9"
    assert "SOME_PASSWORD" not in config["other_variables_set"]  # not Claude's: not listed
    assert "ANTHROPIC_API_KEY" in config["other_variables_set"]  # named, never shown
    user = config["settings_files"][0]
    assert user["keys"] == ["apiKeyHelper", "env"]
    assert user["env"]["ANTHROPIC_API_KEY"] == "(set; value not shown)"
    doctor = json.loads(members["doctor.json"])
    assert doctor["runbook"] == "doctor" and doctor["causes"]  # port 9, a broken proxy URL…
    readme = members["README.txt"]
    assert "What is NOT in it" in readme and "prompts" in readme


def test_the_archive_is_never_written_over_a_file(planted, tmp_path):
    env, _cfg = planted
    out = tmp_path / "exists.zip"
    out.write_bytes(b"mine")
    proc = run_cli("bundle", "--output", str(out), "--no-doctor", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    assert out.read_bytes() == b"mine"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".exists")) == []


def test_the_default_name_and_no_temporary_file_left(planted, tmp_path):
    env, _cfg = planted
    work = tmp_path / "here"
    work.mkdir()
    proc = run_cli("bundle", "--no-doctor", env=env, cwd=work)
    assert proc.returncode == 0, proc.stderr
    files = [p.name for p in work.iterdir()]
    assert len(files) == 1 and files[0].startswith("claude-code-bundle-") and files[0].endswith(
        ".zip"), files
    members = _members(work / files[0])
    assert "doctor.json" not in members and "--no-doctor" in members["README.txt"]


@pytest.mark.parametrize("args, fragment", [
    (["--output", "report.rar"], ".zip, .tar.gz or .tgz"),
    (["--output", "missing/report.zip"], "does not exist"),
    (["--output", ""], "--output is empty"),
    (["--since", "later"], "--since 'later'"),
    (["--all-projects", "--project", "x"], "not both"),
    (["--debug-log", "/nonexistent.log"], "--debug-log"),
])
def test_usage_errors_before_any_work(tmp_path, args, fragment):
    work = tmp_path / "empty"
    work.mkdir()
    proc = run_cli("bundle", *args, cwd=work)
    assert proc.returncode == 2 and fragment in proc.stderr, proc.stderr
    assert not list(work.iterdir())


def test_members_are_made_in_process(planted, tmp_path, monkeypatch):
    """build_members is the library face: the same masking without the command line."""
    from runbooks.bundle import build_members, write_archive

    env, _cfg = planted
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    members = build_members(doctor=False)
    assert set(members) == set(MEMBERS) - {"doctor.json"}
    assert not any(CANARY in text for text in members.values())
    size = write_archive(tmp_path / "b.tgz", members)
    assert size == (tmp_path / "b.tgz").stat().st_size
    with tarfile.open(tmp_path / "b.tgz") as tf:
        assert all(m.mode == 0o600 for m in tf.getmembers())
    assert os.path.exists(tmp_path / "b.tgz")


# -- shapes, cuts and depth --------------------------------------------------------------------------
TOKEN = f"{CANARY}-bearer-token-0123456789"  # ANTHROPIC_AUTH_TOKEN: registered, not key-shaped


def test_config_json_masks_every_proxy_shape(tmp_path):
    """Each proxy value of the masking table (test_masking.py: the user info split where Node's
    URL parser splits it, "@" in the user name, quotes, spaces, %40…) as config.json shows it."""
    from test_masking import SHAPES

    from runbooks.bundle import _json, configuration

    for value, _ in SHAPES:
        for var in ("HTTPS_PROXY", "http_proxy", "ANTHROPIC_BASE_URL"):
            text = _json(configuration({var: value}, tmp_path))
            assert CANARY not in text, (var, value, text)
            assert json.loads(text)["variables"][var]["value"]  # masked, not dropped


def _compact(record: dict) -> str:
    return json.dumps(record, separators=(",", ":"))


@pytest.fixture
def hostile(tmp_path) -> dict[str, str]:
    """Records that used to leak: a token across the 1,000-character cut of an error text, a
    debug log line over 64 KiB with tokens across both cuts (the 500 characters shown, the
    head the reader holds)."""
    import time

    from runbooks.records.history import folder_for

    cfg = tmp_path / "claude"
    lay_out(cfg)
    sid = "00000000-0000-4000-8000-0000000000b1"
    when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 60))
    text = "API Error: Connection refused (ECONNREFUSED) " + "x" * 935 + f" {TOKEN}" + " end" * 30
    record = {"type": "assistant", "timestamp": when, "isApiErrorMessage": True,
              "message": {"role": "assistant", "content": [{"type": "text", "text": text}]},
              "sessionId": sid, "entrypoint": "cli"}
    (cfg / "projects" / folder_for(PROJECT) / f"{sid}.jsonl").write_text(
        _compact(record) + "\n", encoding="utf-8")
    head = f"{when} [ERROR] Connection error details: code=ECONNREFUSED, message="
    line = head + "y" * (470 - len(head)) + f" {TOKEN} " + "z" * 1960 + f" {TOKEN} " + "w" * 70_000
    assert line.index(TOKEN) < 500 < line.index(TOKEN) + len(TOKEN)  # across the old cut
    log = cfg / "debug" / "zz-newest.txt"
    log.write_text(line + "\n", encoding="utf-8")
    return {**clean_subprocess_env(ANTHROPIC_AUTH_TOKEN=TOKEN, CLAUDE_CONFIG_DIR=str(cfg),
                                   CLAUDE_PROJECT_DIR=PROJECT,
                                   HTTPS_PROXY=f"http://jane@corp.example:{CANARY}@127.0.0.1:9",
                                   HTTP_PROXY=f"http://bob:it's{CANARY}@127.0.0.1:9")}


def test_every_member_is_masked_before_it_is_cut(hostile, monkeypatch):
    """history.json showed 20 characters of the token, debug-log.txt 30."""
    from runbooks.bundle import build_members

    for k, v in hostile.items():
        monkeypatch.setenv(k, v)
    members = build_members(env=hostile, doctor=False)
    for name, text in members.items():
        assert CANARY not in text and CANARY[:8] not in text, (name, text[:3000])
    assert "Connection error details: code=ECONNREFUSED" in members["debug-log.txt"]
    config = json.loads(members["config.json"])
    assert config["variables"]["HTTPS_PROXY"]["value"] == "http://jane@corp.example:****@127.0.0.1:9"
    assert config["variables"]["HTTP_PROXY"]["value"] == "http://bob:****@127.0.0.1:9"


def test_a_deeply_nested_transcript_line_is_named_not_a_crash(hostile, monkeypatch):
    """A 200 KB line of [[[[… used to stop the bundle with a RecursionError."""
    from runbooks.bundle import build_members
    from runbooks.records.history import folder_for

    folder = Path(hostile["CLAUDE_CONFIG_DIR"]) / "projects" / folder_for(PROJECT)
    with (folder / "00000000-0000-4000-8000-0000000000b1.jsonl").open("a") as fh:
        fh.write('{"type":"assistant","message":' + "[" * 100_000 + "]" * 100_000 + "}\n")
    members = build_members(env=hostile, doctor=False)
    history = json.loads(members["history.json"])
    assert [line.rsplit("/", 1)[-1] for line in history["scanned"]["too_deep_lines"]] == [
        "00000000-0000-4000-8000-0000000000b1.jsonl: line 2"]
    assert len(history["failures"]) == 8  # the story's seven and the hostile record: read
