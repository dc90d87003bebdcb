"""The lab's fake API speaks the API's shapes: what the real client needs."""

from __future__ import annotations

import json
import ssl

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
