"""The API layer's faults: what the API (or a gateway or an edge in front of it) answers
once the connection works. Added to :data:`~runbooks.lab.scenarios.SCENARIOS`.

A keyless probe (the network runbook's) sees only what comes before authentication: an
edge's 504, service-wide trouble, a slow first byte. 401/402/403/429 and what happens to a
stream need a request that carries a key; for those ``expect`` is None and the summary
names the runbook that sees them.
"""

from __future__ import annotations

from .api import LAB_REPLY
from .scenario import CLIENT_TIMEOUT_MS, LAB_API_KEY, Running, Scenario, _api, _with_env

__all__ = ["API_SCENARIOS", "BUFFERED_S", "CAPTURED", "HELPER_COMMAND", "SLOW_FIRST_BYTE_S"]

#: slow-first-byte: above the client's API_TIMEOUT_MS (5 s) and the doctor's 10 s read budget.
SLOW_FIRST_BYTE_S = 12.0
#: buffered: how long the gateway holds the stream before delivering it in one burst.
BUFFERED_S = 3.0
#: The tail v2.1.332 adds to a 5xx message: the same for every server-side error.
_SERVER_SIDE = "This is a server-side issue, usually temporary — try again in a moment."
#: helper-fails: an apiKeyHelper that fails the way a token service that is down does.
HELPER_COMMAND = "echo lab: the token service is unreachable 1>&2 && exit 1"


def _behaviour(name: str, delay: float | None = None):
    def build(run: Running, pki) -> None:
        api = _api(run, pki, behaviour=name)
        if delay is not None:
            api.delay = delay
    return build


def _slow_first_byte(run: Running, pki) -> None:
    _behaviour("slow_first_byte", SLOW_FIRST_BYTE_S)(run, pki)
    run.notes.append(
        f"Nothing, not even the headers, comes back for {SLOW_FIRST_BYTE_S:g} s. With the "
        f"printed API_TIMEOUT_MS={CLIENT_TIMEOUT_MS} the client gives up first; set "
        f"API_TIMEOUT_MS={int(SLOW_FIRST_BYTE_S * 1000) + 5000} and it gets its answer.")


def _no_key(run: Running, pki) -> None:
    _api(run, pki)
    run.client_unset.add("ANTHROPIC_API_KEY")


def _buffered(run: Running, pki) -> None:
    _behaviour("buffered", BUFFERED_S)(run, pki)
    run.notes.append(
        f"The headers come at once; the stream's events are held for {BUFFERED_S:g} s and "
        "arrive together in one burst, as behind a proxy that buffers text/event-stream.")


def _helper_fails(run: Running, pki) -> None:
    import json

    _api(run, pki, behaviour="strict")
    assert run.workdir is not None
    home = run.workdir / "home"
    (home / ".claude").mkdir(parents=True)
    settings = home / ".claude" / "settings.json"
    settings.write_text(json.dumps({"apiKeyHelper": HELPER_COMMAND}, indent=2) + "\n",
                        encoding="utf-8")
    run.env["HOME"] = str(home)  # runbooks and the client both read this settings file
    run.client_unset.add("ANTHROPIC_API_KEY")  # the helper is the only credential
    run.notes.append(
        f"HOME is {home}: its .claude/settings.json sets apiKeyHelper to `{HELPER_COMMAND}` "
        "and ANTHROPIC_API_KEY is not set. Claude Code runs the helper, prints "
        "`apiKeyHelper failed: exited 1: …` and still sends the request with an empty "
        f"x-api-key and a bare `Authorization: Bearer`; the lab accepts only {LAB_API_KEY}. "
        "With ANTHROPIC_API_KEY set beside it, the key fills x-api-key (the Bearer stays "
        "bare), the lab answers, and the doctor reports only auth.helper_failed. "
        f"The fix: make the helper print the key (`\"apiKeyHelper\": \"echo {LAB_API_KEY}\"`).")


API_SCENARIOS = [
    Scenario("auth-invalid", "401 authentication_error for every key, as for a revoked one "
             "(a keyless probe sees the usual 401: the auth runbook, which sends the key, "
             "sees auth.invalid)", None, _behaviour("auth_invalid"),
             "Invalid API key · Fix external API key", doctor=("auth.invalid",)),
    Scenario("auth-forbidden", "403 permission_error for every key (keyless: the usual 401; "
             "the auth runbook sees auth.forbidden)", None, _behaviour("auth_forbidden"),
             "Failed to authenticate. API Error: 403 Your API key does not have permission to "
             "use the specified resource.", doctor=("auth.forbidden",)),
    Scenario("auth-billing", "402 billing_error for every key (keyless: the usual 401; the "
             "auth runbook sees auth.billing)", None, _behaviour("auth_billing"),
             "Credit balance is too low", doctor=("auth.billing",)),
    Scenario("edge-504", "an edge answers an HTML 504 Gateway Time-out page, no request-id",
             "http.server_error", _behaviour("edge_504"),
             f"API Error: 504 Gateway Time-out. {_SERVER_SIDE}"),
    Scenario("sse-error", "a 200 event stream whose first event is an error "
             "(overloaded_error); the client's non-streaming retry gets 529", "overloaded",
             _behaviour("sse_error"), f"API Error: 529 Overloaded. {_SERVER_SIDE}"),
    Scenario("buffered", f"a gateway that holds the event stream and delivers it in one burst "
             f"after {BUFFERED_S:g} s (keyless: the usual 401; a streamed request with a key "
             "sees http.stream_buffered)", None, _buffered,
             LAB_REPLY,  # late, but whole: API_TIMEOUT_MS ends at the headers
             doctor=("http.stream_buffered",)),
    Scenario("slow-first-byte", f"headers only after {SLOW_FIRST_BYTE_S:g} s, above "
             f"API_TIMEOUT_MS={CLIENT_TIMEOUT_MS} and the doctor's read budget",
             "http.first_byte_timeout", _slow_first_byte,
             "Request timed out. If the API is slow to answer, or a proxy or gateway holds "
             f"responses, set API_TIMEOUT_MS above {CLIENT_TIMEOUT_MS}."),
    Scenario("timeout-10min", "a gateway that answers in 0.3 s, and API_TIMEOUT_MS=10min: "
             "the client reads the leading number, 10 ms", None,
             _with_env(_behaviour("slow_first_byte", 0.3), API_TIMEOUT_MS="10min"),
             "Request timed out. If the API is slow to answer, or a proxy or gateway holds "
             "responses, set API_TIMEOUT_MS above 10.",
             doctor=("config.timeout_invalid", "config.timeout_too_low")),
    Scenario("auth-conflict", "the healthy API, with ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN "
             "both set: the client sends both headers", None,
             _with_env(_behaviour("healthy"), ANTHROPIC_AUTH_TOKEN="lab-token-not-a-secret"),
             LAB_REPLY, doctor=("auth.conflict",)),  # the lab takes either: it answers
    Scenario("auth-missing", "the healthy API, and no credential at all", None,
             _no_key, "Not logged in · Please run /login", doctor=("auth.missing",)),
    Scenario("timeout-disabled", "the healthy API, with API_TIMEOUT_MS=0: no request timeout "
             "at all", None, _with_env(_behaviour("healthy"), API_TIMEOUT_MS="0"),
             LAB_REPLY, doctor=("config.timeout_disabled",)),
    Scenario("helper-fails", "apiKeyHelper (in a temporary HOME's settings) exits 1 and no "
             "ANTHROPIC_API_KEY is set; the API accepts only the lab key (keyless: the usual "
             "401; the credentials check sees auth.helper_failed)", None, _helper_fails,
             "Your apiKeyHelper script is failing · This usually means you need to "
             "re-authenticate with your provider · Run /status to see the script's error "
             "output", doctor=("auth.helper_failed",)),
]

#: What v2.1.332 prints against the API scenarios of .scenarios (which applies it).
CAPTURED = {
    "ratelimited": "API Error: Request rejected (429) · Number of requests has exceeded your "
                   "per-minute rate limit",
    "spend-cap": "API Error: Request rejected (429) · You have reached your specified API "
                 "usage limits.",
    "overloaded": f"API Error: 529 Overloaded. {_SERVER_SIDE}",
    "server-error": f"API Error: 500 Internal server error. {_SERVER_SIDE}",
}
