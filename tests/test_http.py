"""Is the answer the API? Anthropic-shaped answers (JSON or SSE) are; HTML and other bodies
are not. One row per shape, each a real answer's headers and body."""

from __future__ import annotations

import json

import httpx
import pytest

from runbooks.probes.http import judge_response


def _sse(*events: tuple[str, dict]) -> bytes:
    return b"".join(f"event: {e}\ndata: {json.dumps(d)}\n\n".encode() for e, d in events)


START = ("message_start", {"type": "message_start", "message": {"id": "msg_1", "content": []}})
ERR = {"type": "error", "error": {"type": "authentication_error", "message": "x"}}


@pytest.mark.parametrize("code, ctype, body, rid, ok, cause", [
    # the API without a key: its JSON 401, with a request-id
    (401, "application/json", json.dumps(ERR).encode(), "req_1", True, None),
    # a gateway that adds its own key: a real message stream, no request-id needed
    (200, "text/event-stream", _sse(START), None, True, None),
    # the same stream with CRLF line ends and a charset parameter
    (200, "text/event-stream; charset=utf-8", _sse(START).replace(b"\n", b"\r\n"), None, True,
     None),
    # a gateway answering a JSON message
    (200, "application/json", json.dumps({"type": "message", "content": []}).encode(), None,
     True, None),
    # an error event inside a 200 stream is that error's cause (facts §3)
    (200, "text/event-stream", _sse(("error", {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}})), None, False, "overloaded"),
    (200, "text/event-stream", _sse(("error", {"type": "error", "error": {
        "type": "api_error", "message": "boom"}})), None, False, "http.server_error"),
    # a captive portal: HTML, whatever the status
    (200, "text/html", b"<!DOCTYPE html><title>Guest Wi-Fi</title>", None, False, "http.not_api"),
    # some other web server's JSON (no request-id, not Anthropic-shaped)
    (200, "application/json", b'{"status": "ok"}', None, False, "http.not_api"),
    # an event stream that is not Anthropic's
    (200, "text/event-stream", b"event: ping\ndata: {}\n\n", None, False, "http.not_api"),
    # plain text
    (404, "text/plain", b"Not Found", None, False, "http.not_api"),
    # an edge's HTML 504
    (504, "text/html", b"<html><title>504 Gateway Time-out</title></html>", None, False,
     "http.server_error"),
    (529, "application/json", json.dumps({"type": "error", "error": {
        "type": "overloaded_error"}}).encode(), "req_2", False, "overloaded"),
])
def test_what_is_the_api(code, ctype, body, rid, ok, cause):
    headers = httpx.Headers({"content-type": ctype, **({"request-id": rid} if rid else {})})
    got_ok, got_cause, summary = judge_response(code, headers, body)
    assert (got_ok, got_cause) == (ok, cause), summary


def test_a_gateway_is_the_api_end_to_end(lab):
    from runbooks import diagnose

    report = diagnose(env=lab("gateway").env)
    assert report.verdict == "pass", report
    http = next(c for c in report.checks if c.id == "http")
    assert "message stream" in http.summary


def test_a_deeply_nested_answer_is_a_finding_not_a_crash():
    """A 120 KB [[[[… from a gateway (as its 5xx page) and from the status page: the HTTP
    check said "the check itself failed: RecursionError", with no cause."""
    import os

    from runbooks.doctor import DOCTOR_PARAMETERS, run_doctor
    from runbooks.lab.api import FakeAPI
    from runbooks.lab.statuspage import FakeStatusPage

    deep = b"[" * 60_000 + b"]" * 60_000
    api, page = FakeAPI(behaviour="edge_504"), FakeStatusPage()
    api.edge_page = page.body = deep
    try:
        values = {k: p.default for k, p in DOCTOR_PARAMETERS.items()}
        report = run_doctor(values, env={**os.environ, "ANTHROPIC_BASE_URL": api.url,
                                         "RUNBOOKS_STATUS_URL": page.url})
    finally:
        api.close()
        page.close()
    checks = {c.id: c for c in report.checks}
    assert checks["http"].cause == "http.server_error", checks["http"].summary
    assert checks["http"].summary.startswith("504") and "Recursion" not in checks[
        "http"].summary
    assert checks["status"].cause == "status.unreachable"
    assert "nested too deeply" in checks["status"].summary
