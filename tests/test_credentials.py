"""Which credentials the client sends, as `runbooks.client.credentials` predicts it: unit tables
(the real client checks the same rows in tests/test_client_api.py), and canaries: no
credential value, nor a helper's output, appears in any repr, str or to_dict."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from runbooks.client import settings
from runbooks.client.credentials import (
    FINDING_KINDS,
    CredentialReport,
    find_credentials,
    headers_for_request,
    refusal,
)
from runbooks.masking import redact

K, T, O = "lab-key-0123456789", "lab-token-0123456789", "lab-oauth-0123456789"
H = "lab-helper-0123456789"
PY = f'"{sys.executable}"'


def helper_printing(text: str) -> str:
    """A helper command that prints ``text`` (through /bin/sh or cmd alike)."""
    return f"{PY} -c \"print('{text}')\""


def write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def report_for(env: dict[str, str] | None = None, user: dict | None = None,
               project: dict | None = None, local: dict | None = None,
               timeout: float = 5.0) -> CredentialReport:
    home, work = Path(os.environ["HOME"]), Path.cwd()
    for path, data in ((home / ".claude" / "settings.json", user),
                       (work / ".claude" / "settings.json", project),
                       (work / ".claude" / "settings.local.json", local)):
        if data is not None:
            write(path, data)
    shell = {**os.environ, "RUNBOOKS_MANAGED_SETTINGS": str(home / "no-managed.json"),
             **(env or {})}
    return find_credentials(settings.load(shell, work), work, helper_timeout_s=timeout)


def sent(report: CredentialReport) -> dict[str, str]:
    return {h: v["from"] for h, v in report.headers.items()}


HEADER_ROWS = [
    # (row, shell env, user settings, expected headers → from, expected finding kinds)
    ("key", {"ANTHROPIC_API_KEY": K}, None, {"x-api-key": "ANTHROPIC_API_KEY"}, []),
    ("token", {"ANTHROPIC_AUTH_TOKEN": T}, None,
     {"authorization": "ANTHROPIC_AUTH_TOKEN"}, []),
    # the client does not pick one: both go, and that is a conflict
    ("key and token", {"ANTHROPIC_API_KEY": K, "ANTHROPIC_AUTH_TOKEN": T}, None,
     {"x-api-key": "ANTHROPIC_API_KEY", "authorization": "ANTHROPIC_AUTH_TOKEN"}, ["conflict"]),
    ("oauth", {"CLAUDE_CODE_OAUTH_TOKEN": O}, None,
     {"authorization": "CLAUDE_CODE_OAUTH_TOKEN"}, []),
    # a key silently drops the OAuth token
    ("oauth and key", {"CLAUDE_CODE_OAUTH_TOKEN": O, "ANTHROPIC_API_KEY": K}, None,
     {"x-api-key": "ANTHROPIC_API_KEY"}, ["conflict"]),
    ("oauth and token", {"CLAUDE_CODE_OAUTH_TOKEN": O, "ANTHROPIC_AUTH_TOKEN": T}, None,
     {"authorization": "ANTHROPIC_AUTH_TOKEN"}, ["conflict"]),
    # a helper alone fills both headers with the same key: no conflict
    ("helper", {}, {"apiKeyHelper": helper_printing(H)},
     {"x-api-key": "apiKeyHelper", "authorization": "apiKeyHelper"}, []),
    ("helper and key", {"ANTHROPIC_API_KEY": K}, {"apiKeyHelper": helper_printing(H)},
     {"x-api-key": "ANTHROPIC_API_KEY", "authorization": "apiKeyHelper"}, ["conflict"]),
    ("helper and token", {"ANTHROPIC_AUTH_TOKEN": T}, {"apiKeyHelper": helper_printing(H)},
     {"x-api-key": "apiKeyHelper", "authorization": "ANTHROPIC_AUTH_TOKEN"}, ["conflict"]),
    ("helper, key and token", {"ANTHROPIC_API_KEY": K, "ANTHROPIC_AUTH_TOKEN": T},
     {"apiKeyHelper": helper_printing(H)},
     {"x-api-key": "ANTHROPIC_API_KEY", "authorization": "ANTHROPIC_AUTH_TOKEN"},
     ["conflict", "conflict"]),
    ("helper and oauth", {"CLAUDE_CODE_OAUTH_TOKEN": O}, {"apiKeyHelper": helper_printing(H)},
     {"x-api-key": "apiKeyHelper", "authorization": "apiKeyHelper"}, ["conflict"]),
    # values: edges trimmed (harmless), quotes and Bearer prefixes sent (malformed)
    ("whitespace", {"ANTHROPIC_API_KEY": f"  {K}\r\n"}, None,
     {"x-api-key": "ANTHROPIC_API_KEY"}, []),
    ("quotes", {"ANTHROPIC_API_KEY": f'"{K}"'}, None,
     {"x-api-key": "ANTHROPIC_API_KEY"}, ["malformed"]),
    ("bearer prefix", {"ANTHROPIC_AUTH_TOKEN": f"Bearer {T}"}, None,
     {"authorization": "ANTHROPIC_AUTH_TOKEN"}, ["malformed"]),
    ("inner space", {"ANTHROPIC_API_KEY": "lab-key 0123456789"}, None,
     {"x-api-key": "ANTHROPIC_API_KEY"}, ["malformed"]),
    # refused before sending: nothing goes out
    ("ellipsis", {"ANTHROPIC_API_KEY": "lab-key-0123\u20266789"}, None, {}, ["malformed"]),
    ("zero-width", {"ANTHROPIC_AUTH_TOKEN": "lab-token\u200b-0123"}, None, {}, ["malformed"]),
    # the key is checked first; once refused, nothing travels and nothing conflicts
    ("ellipsis beside a token", {"ANTHROPIC_API_KEY": "lab\u2026key-0123",
                                 "ANTHROPIC_AUTH_TOKEN": T}, None, {}, ["malformed"]),
    ("none", {}, None, {}, ["missing"]),
    ("empty key", {"ANTHROPIC_API_KEY": "  "}, None, {}, ["missing"]),
    # a failing helper: the request still goes, with empty credentials
    ("failing helper", {}, {"apiKeyHelper": f"{PY} -c \"import sys; sys.exit(3)\""},
     {"x-api-key": "apiKeyHelper", "authorization": "apiKeyHelper"}, ["helper_failed"]),
    ("silent helper", {}, {"apiKeyHelper": f"{PY} -c \"pass\""},
     {"x-api-key": "apiKeyHelper", "authorization": "apiKeyHelper"}, ["helper_failed"]),
    ("helper with two words", {}, {"apiKeyHelper": helper_printing("two words")},
     {"x-api-key": "apiKeyHelper", "authorization": "apiKeyHelper"}, ["helper_failed"]),
    # beside a variable, a failed helper leaves its header empty (a bare `Bearer`, an empty
    # x-api-key): one credential travels, nothing competes with it (v2.1.332 on the wire)
    ("failing helper and key", {"ANTHROPIC_API_KEY": K},
     {"apiKeyHelper": f"{PY} -c \"import sys; sys.exit(3)\""},
     {"x-api-key": "ANTHROPIC_API_KEY", "authorization": "apiKeyHelper"}, ["helper_failed"]),
    ("silent helper and key", {"ANTHROPIC_API_KEY": K}, {"apiKeyHelper": f"{PY} -c \"pass\""},
     {"x-api-key": "ANTHROPIC_API_KEY", "authorization": "apiKeyHelper"}, ["helper_failed"]),
    ("failing helper and token", {"ANTHROPIC_AUTH_TOKEN": T},
     {"apiKeyHelper": f"{PY} -c \"import sys; sys.exit(3)\""},
     {"x-api-key": "apiKeyHelper", "authorization": "ANTHROPIC_AUTH_TOKEN"}, ["helper_failed"]),
    ("settings key", {}, {"env": {"ANTHROPIC_API_KEY": K}},
     {"x-api-key": "ANTHROPIC_API_KEY"}, []),
    # a cloud provider authenticates itself: no Anthropic credential goes
    ("bedrock", {"CLAUDE_CODE_USE_BEDROCK": "1", "ANTHROPIC_API_KEY": K}, None, {},
     ["conflict"]),
    ("foundry", {"CLAUDE_CODE_USE_FOUNDRY": "true", "ANTHROPIC_AUTH_TOKEN": T}, None, {},
     ["conflict"]),
    ("bedrock off", {"CLAUDE_CODE_USE_BEDROCK": "0", "ANTHROPIC_API_KEY": K}, None,
     {"x-api-key": "ANTHROPIC_API_KEY"}, []),
    # with the provider's auth skipped (a gateway signs), the Bearer still travels
    ("vertex, auth skipped", {"CLAUDE_CODE_USE_VERTEX": "1", "CLAUDE_CODE_SKIP_VERTEX_AUTH": "1",
                              "ANTHROPIC_API_KEY": K, "ANTHROPIC_AUTH_TOKEN": T}, None,
     {"x-api-key": "ANTHROPIC_API_KEY", "authorization": "ANTHROPIC_AUTH_TOKEN"}, ["conflict"]),
]


@pytest.mark.parametrize("row, env, user, headers, kinds", HEADER_ROWS,
                         ids=[r[0] for r in HEADER_ROWS])
def test_headers_and_findings(row, env, user, headers, kinds):
    report = report_for(env, user)
    assert sent(report) == headers
    assert sorted(report.kinds) == sorted(kinds), report.findings
    assert all(f.kind in FINDING_KINDS for f in report.findings)
    assert report.refused == (not headers and kinds in (["missing"], ["malformed"]))


def test_the_real_values_are_what_the_client_puts_on_the_wire():
    report = report_for({"ANTHROPIC_API_KEY": f" {K}\n", "ANTHROPIC_AUTH_TOKEN": f"Bearer {T}"})
    assert headers_for_request(report) == {"x-api-key": K, "authorization": f"Bearer Bearer {T}"}
    failed = report_for(user={"apiKeyHelper": f"{PY} -c \"import sys; sys.exit(2)\""})
    assert headers_for_request(failed) == {"x-api-key": "", "authorization": "Bearer"}
    assert headers_for_request(report_for({"ANTHROPIC_API_KEY": "a\u2026b-0123456"})) == {}


@pytest.mark.parametrize("name, value, says", [
    ("ANTHROPIC_API_KEY", "lab-key-not\u2026secret",
     ("Invalid API key · Fix external API key · Invalid X-Api-Key header value from "
     "ANTHROPIC_API_KEY: it contains an ellipsis character (U+2026) at character 12 "
     "(18 characters).")),
    ("ANTHROPIC_API_KEY", "lab-key-not\u200ba-secret",
     ("Invalid API key · Fix external API key · Invalid X-Api-Key header value from "
     "ANTHROPIC_API_KEY: it contains a zero-width character (U+200B) at character 12 "
     "(20 characters).")),
    ("ANTHROPIC_AUTH_TOKEN", "lab-token\u200b-x",
     ("Invalid auth token · Fix external auth token · Invalid Authorization header value "
     "from ANTHROPIC_AUTH_TOKEN: it contains a zero-width character (U+200B) at character "
     "10 (12 characters).")),
    # counted on the trimmed value, code points (an emoji is one character)
    ("ANTHROPIC_API_KEY", "  lab\u2026x", "at character 4 (5 characters)."),
    ("ANTHROPIC_API_KEY", "\ufefflab\u2026x", "at character 4 (5 characters)."),
    ("ANTHROPIC_API_KEY", "lab\U0001F600key", ("it contains a non-ASCII character at character 4 "
     "(7 characters).")),
    ("ANTHROPIC_API_KEY", "a\r\nb\nc", "a line break at character 2 (6 characters on 3 lines)."),
    ("ANTHROPIC_API_KEY", "lab\u201ckey",
     "a typographic quote (U+201C) at character 4 (7 characters)."),
    ("CLAUDE_CODE_OAUTH_TOKEN", "lab-oauth\u2026x", ("Invalid Authorization header value from "
     "CLAUDE_CODE_OAUTH_TOKEN: it contains an ellipsis character (U+2026) at character 10 "
     "(11 characters).")),
    # sent as they are (the API rejects them later): no refusal
    ("ANTHROPIC_API_KEY", "lab-key-n\u00e9t", None),
    ("ANTHROPIC_API_KEY", "lab\tkey", None),
    ("ANTHROPIC_API_KEY", '"lab-key"', None),
])
def test_refusals_use_the_clients_words(name, value, says):
    got = refusal(name, value)
    if says is None:
        assert got is None
    else:
        assert got is not None and got.endswith(says), got


def test_settings_env_beats_the_shell_and_names_its_file():
    report = report_for({"ANTHROPIC_API_KEY": "lab-shell-key-0000"},
                        project={"env": {"ANTHROPIC_API_KEY": K}})
    assert report.headers["x-api-key"]["where"].endswith(os.path.join(".claude", "settings.json"))
    assert headers_for_request(report)["x-api-key"] == K


def test_the_highest_settings_file_sets_the_helper_and_it_runs_in_the_project():
    marker = Path.cwd() / "marker.txt"
    marker.write_text("x")
    check = f"{PY} -c \"import os; print('in-project-' + str(os.path.exists('marker.txt')))\""
    report = report_for(user={"apiKeyHelper": helper_printing("from-user-0000")},
                        local={"apiKeyHelper": check})
    assert report.helper is not None and report.helper.ok
    assert report.helper.where.endswith("settings.local.json")
    assert headers_for_request(report)["x-api-key"] == "in-project-True"


def test_the_helper_sees_the_settings_env():
    probe = f"{PY} -c \"import os; print(os.environ['LAB_FROM_SETTINGS'])\""
    report = report_for(user={"apiKeyHelper": probe, "env": {"LAB_FROM_SETTINGS": H}})
    assert headers_for_request(report)["authorization"] == f"Bearer {H}"


def test_a_slow_helper_is_cut_at_the_time_limit():
    slow = f"{PY} -c \"import time; time.sleep(30)\""
    t0 = time.monotonic()
    report = report_for(user={"apiKeyHelper": slow}, timeout=0.5)
    assert time.monotonic() - t0 < 5
    assert report.helper is not None and report.helper.status == "timed out"
    (finding,) = report.findings
    assert finding.kind == "helper_failed" and "10 minutes" in finding.message


def test_helper_outcomes_read_like_the_client():
    cases = {f"{PY} -c \"import sys; sys.exit(3)\"": "exited 3",
             f"{PY} -c \"pass\"": "did not return a value",
             helper_printing("two words"): "returned output that cannot be used as an API key: "
             "it contains whitespace at character 4 (9 characters). The script must print "
             "only the key to stdout."}
    for command, status in cases.items():
        report = report_for(user={"apiKeyHelper": command})
        assert report.helper is not None and report.helper.status == status
        assert report.findings[0].client_says == f"apiKeyHelper failed: {status}"


def test_a_stray_key_beats_a_stored_login():
    login = Path(os.environ["HOME"]) / ".claude" / ".credentials.json"
    login.parent.mkdir(parents=True)
    login.write_text("{}")
    report = report_for({"ANTHROPIC_API_KEY": K})
    assert report.kinds == ["conflict"] and "/login" in report.findings[0].message
    assert report_for().kinds == []  # the login is used: nothing missing


@pytest.mark.parametrize("base_url, meant", [
    ("", "ANTHROPIC_API_KEY alone"),
    ("https://llm-gateway.corp.example:8443", "ANTHROPIC_AUTH_TOKEN alone, if the gateway"),
])
def test_a_conflict_names_what_was_likely_meant(base_url, meant):
    env = {"ANTHROPIC_API_KEY": K, "ANTHROPIC_AUTH_TOKEN": T}
    if base_url:
        env["ANTHROPIC_BASE_URL"] = base_url
    (finding,) = report_for(env).findings
    assert finding.kind == "conflict" and finding.likely_meant.startswith(meant)


# -- canaries --------------------------------------------------------------------------------------
CANARY = "CANARYzz9Qcredential"


@pytest.mark.parametrize("env, user", [
    ({"ANTHROPIC_API_KEY": f"sk-ant-api03-{CANARY}", "ANTHROPIC_AUTH_TOKEN": f"{CANARY}-tok"},
     None),
    ({"ANTHROPIC_AUTH_TOKEN": f"Bearer {CANARY}-bearer"}, None),
    ({"CLAUDE_CODE_OAUTH_TOKEN": f"sk-ant-oat01-{CANARY}"}, None),
    ({"ANTHROPIC_API_KEY": f'"{CANARY}-quoted"'}, None),
    ({"ANTHROPIC_API_KEY": f"{CANARY}\u2026-refused"}, None),  # refused: in the client's words?
    ({"ANTHROPIC_API_KEY": f"{CANARY} spaced"}, None),
    ({}, {"apiKeyHelper": helper_printing(f"{CANARY}-helper")}),
    ({}, {"apiKeyHelper": helper_printing(f"{CANARY} helper-two-words")}),  # rejected output
    ({}, {"apiKeyHelper": f"{PY} -c \"import sys; print('{CANARY}-err', file=sys.stderr); "
                         "sys.exit(1)\""}),  # its error output is not kept either
    ({"CLAUDE_CODE_USE_BEDROCK": "1", "ANTHROPIC_API_KEY": f"{CANARY}-unused"}, None),
    ({}, {"env": {"ANTHROPIC_API_KEY": f"{CANARY}-in-settings"}}),
])
def test_no_credential_value_appears_in_any_rendering(env, user):
    report = report_for(env, user)
    texts = [repr(report), str(report), json.dumps(report.to_dict(), ensure_ascii=False),
             *(repr(f) + str(f) for f in report.findings), repr(report.helper),
             *(json.dumps(f.to_dict(), ensure_ascii=False) for f in report.findings)]
    for text in texts:
        assert CANARY not in text, text
    # and what a renderer would print anyway is masked
    for value in headers_for_request(report).values():
        assert CANARY not in redact(f"sent {value}")
