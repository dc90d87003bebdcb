"""Truth tables against the real client: how it reads API_TIMEOUT_MS, which credential
headers it sends, and what it prints against each of the lab's API faults.

Each real-client row runs the pinned `claude -p` (tests/test_real_client.py says how it is
installed) against a lab server started once for the module, and the same set-up through
`runbooks.client.client_env` / `runbooks.client.credentials`: the two must agree. Header values are
compared in memory and never printed, not even when a row fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import CLEARED, CLEARED_PREFIXES, ROOT

from runbooks.causes import CAUSES
from runbooks.client import settings
from runbooks.client.client_env import (
    ClientNumber,
    api_timeout,
    js_trim,
    max_retries,
    read_int,
    stream_idle_timeout,
)
from runbooks.client.credentials import (
    HELPER_FAILING,
    find_credentials,
    headers_for_request,
    refusal,
)
from runbooks.lab import LAB_API_KEY, SCENARIOS, start
from runbooks.lab.api import LAB_REPLY, FakeAPI
from runbooks.lab.api_scenarios import API_SCENARIOS
from runbooks.triage import match_message

client = pytest.mark.client
#: the module fixtures run every row in batches once: keep the module on one worker
pytestmark = pytest.mark.xdist_group("client-api")


def ask(claude: str, env: dict[str, str], cwd: Path | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([claude, "-p", "hello"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def clean_env(**extra: str) -> dict[str, str]:
    """What conftest's ``isolated_env`` gives each test, for the module-scoped batches below
    (they start before it): none of this machine's proxies, CAs or Anthropic settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in CLEARED and not k.startswith(CLEARED_PREFIXES)}
    env.update(extra)
    return env


def lab_env(url: str, home: Path, **extra: str) -> dict[str, str]:
    """A clean environment pointed at ``url``, with its own HOME and no retries."""
    return clean_env(ANTHROPIC_BASE_URL=url, CLAUDE_CODE_MAX_RETRIES="0", HOME=str(home),
                     CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1", **extra)


#: Real-client rows run this many at a time (each waits on a server more than on the CPU).
WORKERS = 4


_mktemp_lock = threading.Lock()


def mktemp(factory: pytest.TempPathFactory, name: str) -> Path:
    """``factory.mktemp`` from worker threads (its first call sets up the base folder)."""
    with _mktemp_lock:
        return factory.mktemp(name)


def batch(rows: list, one) -> dict:
    """``one(row)`` for every row, ``WORKERS`` at a time: {row key: result or exception}."""
    def safe(row):
        try:
            return one(row)
        except Exception as exc:  # noqa: BLE001  (re-raised by the row's own test)
            return row[0] if isinstance(row, tuple) else row, exc
    with ThreadPoolExecutor(WORKERS) as pool:
        return dict(pool.map(safe, rows))


def result(results: dict, key):
    got = results[key]
    if isinstance(got, Exception):
        raise got
    return got


# -- how the client reads its numbers: unit rows --------------------------------------------------
@pytest.mark.parametrize("raw, value, form", [
    ("3000", 3000, "integer"), ("+3000", 3000, "integer"), (" 3000\t", 3000, "integer"),
    ("2e3", 2000, "exponent"), ("2.5E2", 250, "exponent"), (".5e3", 500, "exponent"),
    ("1e-3", None, "none"),  # an exponent form that is not a whole number is not read at all
    ("64_000", 64000, "grouped"), ("1,000,000", 1000000, "grouped"), ("1 000", 1000, "grouped"),
    ("1\u00a0000", 1000, "grouped"), ("1,000_000", 1, "leading"),  # one separator throughout
    ("1,00", 1, "leading"), ("1234,567", 1234, "leading"),
    ("10min", 10, "leading"), ("3000.5", 3000, "leading"), ("0x1000", 0, "leading"),
    ("abc", None, "none"), ("Infinity", None, "none"), ("", None, "none"), ("\u0663", None, "none"),
    ("0" * 29 + "1e3", 1000, "exponent"), ("0" * 30 + "1e3", 1, "leading"),  # > 32 characters
])
def test_the_clients_integer_reader(raw, value, form):
    assert read_int(raw) == (value, form)


@pytest.mark.parametrize("raw, value, kind", [
    (None, 600000, "default"),
    ("5000", 5000, "number"), ("10min", 10, "lenient"), ("3000.5", 3000, "lenient"),
    ("0", None, "disabled"), ("-5", None, "disabled"), ("0x1000", None, "disabled"),
    ("0.5", None, "disabled"), ("2147483648", None, "disabled"),
    ("2147483647", 2147483647, "number"),
    ("abc", 600000, "ignored"), ("Infinity", 600000, "ignored"), ("", 600000, "ignored"),
])
def test_api_timeout_kinds(raw, value, kind):
    env = {} if raw is None else {"API_TIMEOUT_MS": raw}
    n = api_timeout(env, source="~/.claude/settings.json")
    assert (n.value, n.kind) == (value, kind) and n.note
    assert n.source == (None if raw is None else "~/.claude/settings.json")
    assert isinstance(n, ClientNumber) and n.to_dict()["name"] == "API_TIMEOUT_MS"


@pytest.mark.parametrize("env, value, kind", [
    ({}, 10, "default"),
    ({"CLAUDE_CODE_MAX_RETRIES": "0"}, 0, "number"),
    ({"CLAUDE_CODE_MAX_RETRIES": "3x"}, 3, "lenient"),
    ({"CLAUDE_CODE_MAX_RETRIES": "20"}, 15, "number"),  # capped at 15
    ({"CLAUDE_CODE_MAX_RETRIES": "-1"}, 10, "ignored"),  # negative: the default
    ({"CLAUDE_CODE_MAX_RETRIES": "many"}, 10, "ignored"),
    ({"CLAUDE_CODE_RETRY_WATCHDOG": "1"}, 300, "default"),
    ({"CLAUDE_CODE_RETRY_WATCHDOG": "yes", "CLAUDE_CODE_MAX_RETRIES": "40"}, 40, "number"),
    ({"CLAUDE_CODE_RETRY_WATCHDOG": "1", "CLAUDE_CODE_RETRY_WATCHDOG_SCOPE": "capacity",
      "CLAUDE_CODE_MAX_RETRIES": "40"}, 15, "number"),
])
def test_max_retries(env, value, kind):
    n = max_retries(env)
    assert (n.value, n.kind) == (value, kind), n.note


@pytest.mark.parametrize("env, value, kind", [
    ({}, 300000, "default"),
    ({"CLAUDE_STREAM_IDLE_TIMEOUT_MS": "600000"}, 600000, "number"),
    ({"CLAUDE_STREAM_IDLE_TIMEOUT_MS": "60_000"}, 300000, "number"),  # raised to the minimum
    ({"CLAUDE_STREAM_IDLE_TIMEOUT_MS": "3e6"}, 1800000, "number"),  # capped
    ({"CLAUDE_STREAM_IDLE_TIMEOUT_MS": "10min"}, 300000, "ignored"),  # no units here
    ({"CLAUDE_STREAM_IDLE_TIMEOUT_MS": "0"}, 300000, "ignored"),
    ({"CLAUDE_ENABLE_STREAM_WATCHDOG": "0"}, None, "disabled"),
])
def test_stream_idle_timeout(env, value, kind):
    n = stream_idle_timeout(env)
    assert (n.value, n.kind) == (value, kind), n.note


# -- (a) API_TIMEOUT_MS against the real client ---------------------------------------------------
#: Headers come this late from the slow server, unless a row needs it later still.
SLOW_S = 0.5
TIMEOUT_ROWS = [
    ("10min", "units are not read: the leading 10 is, in milliseconds"),
    ("3s", "3 ms"),
    ("3e2ms", "not an exponent form: the leading 3"),
    ("300", "a plain number"),
    ("500.9", "decimals cut: 500"),
    ("\t700\n", "edge whitespace trimmed"),
    ("1,000", "a thousands group: 1000, not 1"),
    ("1_000", "an underscore group"),
    ("1 000", "a space group"),
    ("1,00", "not a group: the leading 1"),
    ("1e3", "an exponent form"),
    ("2.5e2", "an exponent form with decimals, whole: 250"),
    ("1.5e3", "1500"),
    ("2e3", "2000: the answer comes in time"),
    ("3000.5", "3000"),
    ("+3000", "a sign"),
    (" 3000 ", "spaces around"),
    ("64_000", "64000"),
    ("0", "0 turns the timeout off"),
    ("-5", "so does a negative value"),
    ("-0", "and minus zero"),
    ("0.5", "the leading 0: off"),
    ("0x1000", "hex is not read: the leading 0, off"),
    ("2147483648", "above 2^31-1 the timer never fires"),
    ("1e10", "far above, in exponent form"),
    ("abc", "not a number: the default"),
    ("Infinity", "not read either"),
    ("NaN", "nor this"),
    ("1e-3", "a fraction in exponent form: not read at all, the default"),
    ("", "empty: the default"),
]


@pytest.fixture(scope="module")
def timeout_runs(claude, tmp_path_factory) -> dict:
    """Every row against its own slow server: (our reading, times out?, exit code, output)."""
    def one(raw: str):
        ours = api_timeout({"API_TIMEOUT_MS": raw})
        # a value we read as 1500 ms or less must time out: its server answers 0.7 s later
        # (a strong check: "1,000" read as 1 or as the default would not quote 1000);
        # anything else must get its answer from a server 0.5 s slow
        times_out = ours.value is not None and ours.value <= 1500
        api = FakeAPI(behaviour="slow_first_byte",
                      delay=ours.value / 1000 + 0.7 if times_out else SLOW_S)
        try:
            proc = ask(claude, lab_env(api.url, mktemp(tmp_path_factory, "home"),
                                       ANTHROPIC_API_KEY=LAB_API_KEY, API_TIMEOUT_MS=raw))
        finally:
            api.close()
        return raw, (ours, times_out, proc.returncode, proc.stdout, proc.stderr)
    return batch([raw for raw, _ in TIMEOUT_ROWS], one)


@client
@pytest.mark.parametrize("raw, why", TIMEOUT_ROWS, ids=[repr(r) for r, _ in TIMEOUT_ROWS])
def test_the_client_times_out_exactly_where_we_say(timeout_runs, raw, why):
    ours, times_out, code, stdout, stderr = result(timeout_runs, raw)
    out = stdout + stderr
    if times_out:
        assert code != 0, (ours, out)
        assert f"set API_TIMEOUT_MS above {ours.value}." in out, (ours, out)
    else:
        assert code == 0 and stdout.strip() == LAB_REPLY, (ours, out)


# -- (b) credential headers against the real client -----------------------------------------------
K, T, O = "lab-key-not-a-secret", "lab-token-not-a-secret", "lab-oauth-not-a-secret"
H, FOUNDRY_KEY = "lab-helper-not-a-secret", "lab-foundry-not-a-secret"
PY = f'"{sys.executable}"'


def prints(text: str) -> str:
    return f"{PY} -c \"print('{text}')\""


FAILS = f"{PY} -c \"import sys; print('lab: no token', file=sys.stderr); sys.exit(3)\""
#: (row, shell env, user settings, project settings). "{url}" is the recording server.
CRED_ROWS = [
    ("api key", {"ANTHROPIC_API_KEY": K}, None, None),
    ("auth token", {"ANTHROPIC_AUTH_TOKEN": T}, None, None),
    ("key and token: both headers", {"ANTHROPIC_API_KEY": K, "ANTHROPIC_AUTH_TOKEN": T},
     None, None),
    ("oauth token", {"CLAUDE_CODE_OAUTH_TOKEN": O}, None, None),
    ("oauth token dropped for a key", {"CLAUDE_CODE_OAUTH_TOKEN": O, "ANTHROPIC_API_KEY": K},
     None, None),
    ("helper alone: both headers", {}, {"apiKeyHelper": prints(H)}, None),
    ("helper with a key", {"ANTHROPIC_API_KEY": K}, {"apiKeyHelper": prints(H)}, None),
    ("helper with a token", {"ANTHROPIC_AUTH_TOKEN": T}, {"apiKeyHelper": prints(H)}, None),
    ("helper unused", {"ANTHROPIC_API_KEY": K, "ANTHROPIC_AUTH_TOKEN": T},
     {"apiKeyHelper": prints(H)}, None),
    ("helper in project settings", {}, None, {"apiKeyHelper": prints(H)}),
    ("quotes kept", {"ANTHROPIC_API_KEY": f'"{K}"'}, None, None),
    ("edge whitespace trimmed", {"ANTHROPIC_API_KEY": f" {K}\r\n",
                                 "ANTHROPIC_AUTH_TOKEN": f"\t{T} "}, None, None),
    ("Bearer prefix doubled", {"ANTHROPIC_AUTH_TOKEN": f"Bearer {T}"}, None, None),
    ("ellipsis refused", {"ANTHROPIC_API_KEY": "lab-key-not\u2026secret"}, None, None),
    ("zero-width refused", {"ANTHROPIC_AUTH_TOKEN": "lab-token\u200b-not-a-secret"}, None, None),
    ("nothing at all", {}, None, None),
    ("failing helper", {}, {"apiKeyHelper": FAILS}, None),
    ("silent helper", {}, {"apiKeyHelper": f"{PY} -c \"pass\""}, None),
    ("failing helper beside a token", {"ANTHROPIC_AUTH_TOKEN": T}, {"apiKeyHelper": FAILS}, None),
    ("failing helper beside a key", {"ANTHROPIC_API_KEY": K}, {"apiKeyHelper": FAILS}, None),
    ("silent helper beside a key", {"ANTHROPIC_API_KEY": K},
     {"apiKeyHelper": f"{PY} -c \"pass\""}, None),
    ("key in settings only", {}, {"env": {"ANTHROPIC_API_KEY": K}}, None),
    ("settings key over the shell's", {"ANTHROPIC_API_KEY": "lab-shell-key-not-a-secret"},
     None, {"env": {"ANTHROPIC_API_KEY": K}}),
    ("cloud provider: none of ours", {"CLAUDE_CODE_USE_FOUNDRY": "1",
                                      "ANTHROPIC_FOUNDRY_BASE_URL": "{url}",
                                      "ANTHROPIC_FOUNDRY_API_KEY": FOUNDRY_KEY,
                                      "ANTHROPIC_API_KEY": K, "ANTHROPIC_AUTH_TOKEN": T},
     None, None),
]
_CREDENTIAL_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")


def _labels(headers: dict[str, str], candidates: dict[str, str]) -> dict[str, str]:
    """Which credential each header carried (by name, never by value)."""
    out = {}
    for name in ("x-api-key", "authorization"):
        if name not in headers:
            continue
        value = headers[name]
        if name == "authorization":
            value = value[7:] if value.startswith("Bearer ") else value.removeprefix("Bearer")
        out[name] = candidates.get(value, "something else")
    return out


@pytest.fixture(scope="module")
def credential_runs(claude, tmp_path_factory) -> dict:
    """Every row with its own HOME, project folder and recording server: (our report, the
    effective environment, the headers of each request the server saw, the output)."""
    def one(row_spec):
        row, shell, user, project = row_spec
        home, work = mktemp(tmp_path_factory, "home"), mktemp(tmp_path_factory, "work")
        for path, data in ((home / ".claude" / "settings.json", user),
                           (work / ".claude" / "settings.json", project)):
            if data is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(data), encoding="utf-8")
        api = FakeAPI()
        try:
            shell = {k: v.replace("{url}", api.url) for k, v in shell.items()}
            env = lab_env(api.url, home, API_TIMEOUT_MS="5000", **shell)
            effective = settings.load({**env, "RUNBOOKS_MANAGED_SETTINGS": str(
                home / "no-managed.json")}, work)
            ours = find_credentials(effective, work)
            proc = ask(claude, env, cwd=work)
            seen = [s["headers"] for s in api.seen]
        finally:
            api.close()
        return row, (ours, effective, shell, seen, proc.stdout + proc.stderr)
    return batch(CRED_ROWS, one)


@client
@pytest.mark.parametrize("row", [r[0] for r in CRED_ROWS])
def test_the_client_sends_the_headers_we_predict(credential_runs, row):
    ours, effective, shell, seen, out = result(credential_runs, row)
    if ours.refused:  # the client must send nothing, and say what our finding quotes
        assert seen == [], f"{row}: the client sent {len(seen)} requests"
        says = [f.client_says for f in ours.findings if f.refused]
        assert says and says[0] in out, (row, says, out)
        return
    assert seen, (row, out)
    got = {h: v for h, v in seen[0].items() if h in ("x-api-key", "authorization")}
    if "CLAUDE_CODE_USE_FOUNDRY" in shell:  # the provider's own key is not one of ours
        assert got.pop("x-api-key", None) == FOUNDRY_KEY and ours.provider
    # names, and which credential each carried
    candidates = {js_trim(effective.env[n]): n for n in _CREDENTIAL_VARS if n in effective.env}
    if ours.helper is not None:
        candidates[H if ours.helper.ok else ""] = "apiKeyHelper"
    assert _labels(got, candidates) == {h: v["from"] for h, v in ours.headers.items()}, row
    # and the very values, compared here, never shown
    same = got == headers_for_request(ours)
    assert same, f"{row}: a header value differs from the prediction (values not shown)"
    for finding in ours.findings:  # what we quote of the client is what it says
        if finding.client_says:
            assert finding.client_says in out, (row, finding.client_says, out)


@client
@pytest.mark.parametrize("row", [r[0] for r in CRED_ROWS])
def test_two_credentials_conflict_only_where_the_client_sends_two(credential_runs, row):
    """`Two credentials travel together` exactly where the client's request carries two
    credentials: a failed helper's empty x-api-key or bare `Bearer` is none."""
    ours, effective, _shell, seen, _out = result(credential_runs, row)
    if not seen or ours.provider:
        return  # nothing sent, or the provider's own authentication
    got = seen[0]
    carried = [h for h, v in (("x-api-key", got.get("x-api-key", "")),
                              ("authorization", got.get("authorization", "").removeprefix(
                                  "Bearer").strip())) if v.strip()]
    candidates = {js_trim(effective.env[n]): n for n in _CREDENTIAL_VARS if n in effective.env}
    if ours.helper is not None and ours.helper.ok:
        candidates[H] = "apiKeyHelper"
    sources = set(_labels({h: got[h] for h in carried}, candidates).values())
    says_two = any(f.kind == "conflict" and f.message.startswith("Two credentials travel")
                   for f in ours.findings)
    assert says_two == (len(sources) == 2), (row, sorted(sources), ours.kinds)


# -- (c) what the client prints against each API fault --------------------------------------------
MESSAGE_SCENARIOS = [s.name for s in API_SCENARIOS if s.client_message] + [
    "ratelimited", "spend-cap", "overloaded", "server-error", "tls-wrong-host",
    "captive-portal"]
#: Scenarios whose client message points at one cause: triage must name it first.
NAMED_FIRST = {"tls-wrong-host": "tls.hostname_mismatch", "captive-portal": "http.not_api"}


def needs_signature(cause: str, signature: str) -> None:
    assert signature in CAUSES[cause].signatures, f"the catalogue's {cause} lacks {signature!r}"


@pytest.fixture(scope="module")
def outputs(claude, tmp_path_factory) -> dict:
    """Each API scenario's client output, with the environment `lab start` prints; retries
    off: the message is the same, without the ratelimited row's 30 s retry-after."""
    def one(name: str):
        run = start(name)
        try:
            env = {"HOME": str(mktemp(tmp_path_factory, "home")), **run.client_env}
            env["CLAUDE_CODE_MAX_RETRIES"] = "0"
            proc = ask(claude, clean_env(**env), cwd=mktemp(tmp_path_factory, "work"),
                       timeout=90)
        finally:
            run.stop()
        return name, proc.stdout + proc.stderr
    return batch(MESSAGE_SCENARIOS, one)


@client
@pytest.mark.parametrize("name", MESSAGE_SCENARIOS)
def test_the_scenarios_client_message_is_what_the_client_prints(outputs, name):
    assert SCENARIOS[name].client_message in result(outputs, name)


@client
@pytest.mark.parametrize("name", [n for n in MESSAGE_SCENARIOS if SCENARIOS[n].doctor_causes
                                  and SCENARIOS[n].client_message != LAB_REPLY])
def test_the_clients_message_ranks_the_doctors_cause_in_triages_top_three(outputs, name):
    """What the client printed, fed to `runbooks triage`, ranks the cause the doctor finds
    for the same scenario among its first three."""
    out = result(outputs, name)
    top = [c.code for c in match_message(out)][:3]
    assert SCENARIOS[name].doctor_causes[0] in top, (out, top)


@client
@pytest.mark.parametrize("name, cause", list(NAMED_FIRST.items()))
def test_the_clients_message_names_the_doctors_cause_first(outputs, name, cause):
    """A certificate for another name, and a 200 that is not a message (the captive portal's
    sign-in page): what the client prints, fed to `runbooks triage`, names first the cause
    the doctor finds for the same scenario."""
    out = result(outputs, name)
    assert SCENARIOS[name].doctor_causes[:1] == (cause,)
    codes = [c.code for c in match_message(out)]
    assert codes[:1] == [cause], (out, codes)


@pytest.mark.parametrize("message, cause, signature", [
    (refusal("ANTHROPIC_API_KEY", "a\u2026b"), "auth.malformed",
     "Invalid X-Api-Key header value from ANTHROPIC_API_KEY"),
    (refusal("ANTHROPIC_AUTH_TOKEN", "a\u200bb"), "auth.malformed",
     "Invalid Authorization header value from ANTHROPIC_AUTH_TOKEN"),
    ("Not logged in · Please run /login", "auth.missing", "Not logged in · Please run /login"),
    ("Not logged in · Please run /login", "auth.invalid", "Not logged in · Please run /login"),
    ("apiKeyHelper failed: exited 3", "auth.helper_failed", "apiKeyHelper failed"),
    (f"{HELPER_FAILING} · Run /status to see the script's error output", "auth.helper_failed",
     "Your apiKeyHelper script is failing"),
])
def test_the_clients_credential_messages_triage(message, cause, signature):
    """The messages `runbooks.client.credentials` quotes (checked against the client above)."""
    needs_signature(cause, signature)
    assert cause in [c.code for c in match_message(message)]


@client
@pytest.mark.parametrize("variable", ["ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"])
def test_a_rejected_bearer_token_reads_as_not_logged_in(claude, tmp_path, variable):
    """A 401 for a key reads `Invalid API key · Fix external API key`; for a Bearer token the
    client says what it says when it has no credential at all."""
    api = FakeAPI(behaviour="auth_invalid")
    try:
        proc = ask(claude, lab_env(api.url, tmp_path, **{variable: T}))
        assert api.seen, "the token was sent"
    finally:
        api.close()
    assert proc.returncode != 0
    assert "Not logged in · Please run /login" in proc.stdout + proc.stderr


@client
def test_print_mode_still_streams(claude, tmp_path):
    """`claude -p` is headless, not "streaming off" (the seed's claim; long-tasks.md): every
    message request it sends asks for a stream."""
    api = FakeAPI()
    try:
        proc = ask(claude, lab_env(api.url, tmp_path, ANTHROPIC_API_KEY=K))
        messages = [s for s in api.seen if s["path"].startswith("/v1/messages")]
    finally:
        api.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert messages and all(s["stream"] is True for s in messages), messages


#: The client's own words the site quotes (getting-help.md), as its binary holds them.
QUOTED = ["Report a bug or share your session", "Send feedback to Anthropic or report a bug"]


@client
def test_the_words_the_site_quotes_are_the_clients(claude):
    binary = Path(claude).resolve()
    page = (ROOT / "docs" / "getting-help.md").read_text(encoding="utf-8")
    found = {q: False for q in QUOTED}
    with binary.open("rb") as f:  # ~400 MB: read in pieces, overlapping by a phrase's length
        tail = b""
        while chunk := f.read(1 << 24):
            buf = tail + chunk
            found = {q: seen or q.encode() in buf for q, seen in found.items()}
            tail = buf[-200:]
    for q in QUOTED:
        assert f'"{q}"' in page, q
        assert found[q], f"{q!r} is not in {binary.name}"
