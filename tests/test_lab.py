"""The lab's fake API speaks the API's shapes: what the real client needs."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest

from runbooks.lab import LAB_API_KEY
from runbooks.lab.api import LAB_REPLY

HEADERS = {"x-api-key": LAB_API_KEY, "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-lab", "max_tokens": 16, "stream": True,
        "messages": [{"role": "user", "content": "hello"}]}


def _events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_streaming_reply_is_the_minimal_sse_sequence(lab):
    run = lab("healthy")
    r = httpx.post(run.base_url + "/v1/messages?beta=true", headers=HEADERS, json=BODY)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    assert r.headers["request-id"].startswith("req_lab_")
    names = [e for e, _ in _events(r.text)]
    assert names == ["message_start", "content_block_start", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    delta = _events(r.text)[2][1]
    assert delta["delta"] == {"type": "text_delta", "text": LAB_REPLY}


def test_errors_are_anthropic_shaped(lab):
    run = lab("healthy")
    r = httpx.post(run.base_url + "/v1/messages", json=BODY)  # no key
    assert r.status_code == 401 and r.headers["request-id"]
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert httpx.get(run.base_url + "/").status_code == 404


def test_non_streaming_reply(lab):
    run = lab("healthy")
    r = httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json={**BODY, "stream": False})
    assert r.json()["content"][0]["text"] == LAB_REPLY


@pytest.mark.parametrize("name, code, retry_after", [
    ("ratelimited", 429, "30"),  # rate limit: retry information
    ("spend-cap", 429, None),  # spend cap: no retry-after
    ("overloaded", 529, None),
    ("server-error", 500, None),
])
def test_fault_behaviours_carry_real_headers(lab, name, code, retry_after):
    run = lab(name)
    r = httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json=BODY)
    assert r.status_code == code
    assert r.headers.get("retry-after") == retry_after
    if name == "ratelimited":
        assert r.headers["anthropic-ratelimit-requests-remaining"] == "0"


def test_stall_starts_then_stops(lab):
    run = lab("stall")
    with httpx.stream("POST", run.base_url + "/v1/messages", headers=HEADERS, json=BODY,
                      timeout=httpx.Timeout(2, read=0.5)) as r:
        got = b""
        with pytest.raises(httpx.ReadTimeout):
            for chunk in r.iter_raw():
                got += chunk
    assert b"message_start" in got and b"message_stop" not in got


def test_https_lab_requires_its_ca(lab):
    run = lab("healthy-tls")
    with pytest.raises(httpx.ConnectError):
        httpx.get(run.base_url + "/", verify=True)
    ctx = ssl.create_default_context(cafile=run.env["NODE_EXTRA_CA_CERTS"])
    assert httpx.get(run.base_url + "/", verify=ctx).status_code == 404


def test_the_lab_proxy_dies_with_the_lab_however_it_ends():
    """proxy.py runs as its own process; if the lab is killed outright (SIGKILL: no clean-up
    runs), the proxy notices its pipe close and exits, acceptors and all."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    code = ("from runbooks.lab import start; import time; r = start('proxy'); "
            "print(r.env['HTTPS_PROXY'], flush=True); time.sleep(120)")
    lab = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(lab.stdout.readline().strip().rsplit(":", 1)[1])
        socket.create_connection(("127.0.0.1", port), timeout=2).close()  # it is up
    finally:
        lab.send_signal(signal.SIGKILL)
        lab.wait()
        lab.stdout.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return  # refused: the proxy is gone
        time.sleep(0.1)
    raise AssertionError(f"the lab proxy still listens on {port} after its lab was killed")


# -- the API layer's faults (runbooks/lab/api_scenarios.py) ---------------------------------------
def test_every_request_is_recorded_with_its_headers(lab):
    run = lab("healthy")
    api = run.parts[0]
    httpx.post(run.base_url + "/v1/messages?beta=true", headers=HEADERS, json=BODY)
    httpx.get(run.base_url + "/v1/models", headers={"authorization": "Bearer t0ken-value"})
    first, second = api.seen
    assert (first["method"], first["path"]) == ("POST", "/v1/messages?beta=true")
    assert first["headers"]["x-api-key"] == LAB_API_KEY and first["stream"] is True
    assert (second["method"], second["headers"]["authorization"]) == ("GET", "Bearer t0ken-value")


def test_models_lists_models_with_a_key_and_wants_the_version(lab):
    run = lab("healthy")
    r = httpx.get(run.base_url + "/v1/models", headers=HEADERS)
    assert r.status_code == 200 and r.headers["request-id"]
    assert r.headers["anthropic-version"] == "2023-06-01"
    body = r.json()
    assert [m["type"] for m in body["data"]] == ["model", "model"] and body["has_more"] is False
    assert body["first_id"] == body["data"][0]["id"]
    assert r.headers["anthropic-ratelimit-requests-limit"] == "50"
    keyless = httpx.get(run.base_url + "/v1/models", headers={"anthropic-version": "2023-06-01"})
    assert keyless.status_code == 401
    assert keyless.json()["error"]["type"] == "authentication_error"
    unversioned = httpx.get(run.base_url + "/v1/models", headers={"x-api-key": LAB_API_KEY})
    assert unversioned.status_code == 400
    assert unversioned.json()["error"]["type"] == "invalid_request_error"


def test_successful_answers_carry_ratelimit_headers(lab):
    run = lab("healthy")
    r = httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json=BODY)
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        for part in ("limit", "remaining", "reset"):
            assert f"anthropic-ratelimit-{kind}-{part}" in r.headers
    assert r.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")  # RFC 3339


@pytest.mark.parametrize("headers, code", [
    ({"x-api-key": LAB_API_KEY}, 200),
    ({"authorization": f"Bearer {LAB_API_KEY}"}, 200),  # a Bearer token is honoured too
    ({"x-api-key": "another-key"}, 401),
    ({"authorization": "Bearer another-key"}, 401),
    ({"x-api-key": "", "authorization": "Bearer"}, 401),  # what a failed apiKeyHelper sends
    ({}, 401),
])
def test_strict_accepts_only_the_lab_key(headers, code):
    from runbooks.lab.api import FakeAPI

    api = FakeAPI(strict=True)
    try:
        r = httpx.post(api.url + "/v1/messages", headers={**headers, "anthropic-version": "x"},
                       json=BODY)
    finally:
        api.close()
    assert r.status_code == code
    if code == 401:
        assert r.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("name, code, kind", [
    ("auth-invalid", 401, "authentication_error"),
    ("auth-forbidden", 403, "permission_error"),
    ("auth-billing", 402, "billing_error"),
])
def test_auth_faults_answer_a_key_and_leave_keyless_requests_alone(lab, name, code, kind):
    run = lab(name)
    r = httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json=BODY)
    assert r.status_code == code and r.json()["error"]["type"] == kind
    keyless = httpx.post(run.base_url + "/v1/messages", json=BODY)
    assert keyless.status_code == 401  # what the network runbook's probe sees: as healthy


def test_edge_504_is_an_html_page_without_a_request_id(lab):
    run = lab("edge-504")
    r = httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json=BODY)
    assert r.status_code == 504 and r.headers["content-type"] == "text/html"
    assert "request-id" not in r.headers and b"504 Gateway Time-out" in r.content


def test_sse_error_is_a_200_stream_whose_first_event_is_an_error(lab):
    run = lab("sse-error")
    r = httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json=BODY)
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    (event, data), = _events(r.text)
    assert event == "error" and data["error"]["type"] == "overloaded_error"
    # a request that asks for JSON gets the JSON error (the client's non-streaming retry)
    plain = httpx.post(run.base_url + "/v1/messages", headers=HEADERS,
                       json={**BODY, "stream": False})
    assert plain.status_code == 529


def test_buffered_delivers_every_event_at_once_after_the_delay(lab):
    import time

    run = lab("buffered")
    run.parts[0].delay = 0.6
    t0 = time.monotonic()
    arrivals = []
    with httpx.stream("POST", run.base_url + "/v1/messages", headers=HEADERS, json=BODY) as r:
        headers_at = time.monotonic() - t0
        for chunk in r.iter_raw():
            arrivals.append((time.monotonic() - t0, chunk))
    assert headers_at < 0.3  # the headers come at once
    text = b"".join(c for _, c in arrivals).decode()
    names = [e for e, _ in _events(text)]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names.count("content_block_delta") > 1  # the upstream streamed in pieces…
    assert all(t >= 0.6 for t, _ in arrivals)  # …and every one of them arrived at the end
    assert arrivals[-1][0] - arrivals[0][0] < 0.2
    deltas = "".join(d["delta"]["text"] for e, d in _events(text) if e == "content_block_delta")
    assert deltas == LAB_REPLY


def test_slow_first_byte_holds_even_the_headers(lab):
    import time

    run = lab("slow-first-byte")
    run.parts[0].delay = 0.5
    t0 = time.monotonic()
    r = httpx.post(run.base_url + "/v1/messages", json=BODY)  # keyless too: it is the path
    assert r.status_code == 401 and time.monotonic() - t0 >= 0.5
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json=BODY,
                   timeout=httpx.Timeout(2, read=0.2))


def test_helper_fails_gives_the_client_its_own_home_and_no_key(lab):
    import subprocess

    from runbooks.lab.api_scenarios import HELPER_COMMAND

    run = lab("helper-fails")
    env = run.client_env
    assert "ANTHROPIC_API_KEY" not in env and env["HOME"] == run.env["HOME"]
    settings = json.loads((Path(env["HOME"]) / ".claude" / "settings.json").read_text())
    assert settings == {"apiKeyHelper": HELPER_COMMAND}
    proc = subprocess.run(HELPER_COMMAND, shell=True, capture_output=True, text=True, timeout=10,
                          check=False)
    assert proc.returncode == 1 and proc.stdout == "" and "unreachable" in proc.stderr
    assert any("apiKeyHelper" in note for note in run.notes)
    # the server behind it accepts only the lab key
    assert httpx.post(run.base_url + "/v1/messages", headers=HEADERS, json=BODY).status_code == 200
    bad = httpx.post(run.base_url + "/v1/messages", json=BODY,
                     headers={"x-api-key": "", "authorization": "Bearer"})
    assert bad.status_code == 401


def test_every_api_scenario_says_what_the_client_prints():
    from runbooks.lab import SCENARIOS
    from runbooks.lab.api_scenarios import API_SCENARIOS

    for s in API_SCENARIOS:
        assert s.summary and s.client_message, s.name
        assert SCENARIOS[s.name] is s
    for name in ("ratelimited", "spend-cap", "overloaded", "server-error"):
        assert SCENARIOS[name].client_message, name
