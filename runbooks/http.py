"""HTTP: one request to the API with httpx, timed phase by phase from httpx's
own trace hooks (connect, TLS, first byte, transfer), and a judgement of the
answer: is it the Anthropic API, or a captive portal, a web page, an error?

The request is ``POST {base}/v1/messages`` with **no credential**: the API
answers 401 ``authentication_error`` in its JSON error shape, which proves
DNS, TCP, TLS and HTTP end to end without sending a key anywhere.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from .addr import url_host
from .budget import Budget
from .classify import Fault, classify_http
from .masking import clip
from .target import Target

__all__ = ["ERROR_CAUSES", "USER_AGENT", "Exchange", "anthropic_shape", "first_sse_event",
           "judge_response", "probe", "read_bounded", "request"]

USER_AGENT = "claude-code-runbooks/0.1 (connection diagnosis; no credential sent)"
_MAX_BODY = 64 * 1024


@dataclass
class Exchange:
    ok: bool
    cause: str | None
    summary: str
    status_code: int | None = None
    fix: str | None = None  # when the cause's own fix is too general
    timings_ms: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class _Trace:
    """Collects httpx/httpcore trace events as perf_counter timestamps, first and last
    occurrence of each (through a proxy, the CONNECT exchange comes first)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def __call__(self, name: str, info: dict) -> None:
        key = name.split(".", 1)[-1] if name.startswith("http") else name
        now = time.perf_counter()
        self.t.setdefault(key, now)
        self.last[key] = now

    def span(self, start: str, end: str, last: bool = False) -> float | None:
        seen = self.last if last else self.t
        if start in seen and end in seen:
            return round((seen[end] - seen[start]) * 1000, 1)
        return None


def _timings(tr: _Trace, t0: float, t_end: float, dns_ms: float | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if dns_ms is not None:
        out["dns"] = round(dns_ms, 1)
    tunnelled = "proxy.start_tls.started" in tr.t  # TLS to the API inside a proxy's tunnel
    phases = [("connect", "connection.connect_tcp.started", "connection.connect_tcp.complete",
               False)]
    if tunnelled:
        phases += [
            ("proxy_tls", "connection.start_tls.started", "connection.start_tls.complete", False),
            ("tunnel", "send_request_headers.started", "receive_response_headers.complete",
             False),
            ("tls", "proxy.start_tls.started", "proxy.start_tls.complete", False)]
    else:
        phases += [("tls", "connection.start_tls.started", "connection.start_tls.complete",
                    False)]
    phases += [
        ("first_byte", "send_request_headers.started", "receive_response_headers.complete", True),
        ("transfer", "receive_response_body.started", "receive_response_body.complete", True)]
    for name, a, b, last in phases:
        v = tr.span(a, b, last)
        if v is not None:
            out[name] = v
    # total runs from the first network event (not client set-up) to the last byte
    first = min(tr.t.values(), default=t0)
    out["total"] = round((t_end - first) * 1000 + (dns_ms or 0.0), 1)
    return out


def _title(body: bytes) -> str:
    """An HTML page's title (else the start of the body), masked before it is cut."""
    m = re.search(rb"<title[^>]*>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
    if m:
        return clip(" ".join(m.group(1).decode("utf-8", "replace").split()), 80)
    return clip(" ".join(body[:400].decode("utf-8", "replace").split()), 80,
                whole=len(body) <= 400)


#: The API's error kinds (facts §3) → the cause a keyless probe reports for them.
ERROR_CAUSES = {"overloaded_error": "overloaded", "rate_limit_error": "ratelimit.exceeded",
                "api_error": "http.server_error", "timeout_error": "http.server_error",
                "billing_error": "auth.billing", "permission_error": "auth.forbidden"}


def first_sse_event(body: bytes) -> tuple[str, dict[str, Any] | None] | None:
    """(event name, data) of the first server-sent event in ``body``, if there is one."""
    text = body.decode("utf-8", "replace").replace("\r\n", "\n")
    block = text.lstrip("\n").split("\n\n", 1)[0]
    event, data_lines = "message", []
    for line in block.split("\n"):
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data_lines.append(line[5:].strip())
    if not data_lines and event == "message":
        return None
    try:
        data = json.loads("\n".join(data_lines)) if data_lines else None
    except (ValueError, RecursionError):  # RecursionError: a deep [[[[…, not the API either
        data = None
    return event, data if isinstance(data, dict) else None


def anthropic_shape(ctype: str, body: bytes) -> tuple[str, str | None] | None:
    """What an answer is, if it is Anthropic-shaped: ``("error", kind)`` for an error (JSON,
    or an SSE ``error`` event), ``("message", None)`` for a message or a message stream.
    HTML and anything else is None: not the API."""
    if ctype == "text/event-stream":
        first = first_sse_event(body)
        if first is None:
            return None
        event, data = first
        if event == "error" or (data or {}).get("type") == "error":
            return "error", ((data or {}).get("error") or {}).get("type") or "error"
        if event == "message_start" or (data or {}).get("type") == "message_start":
            return "message", None
        return None
    try:
        data = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(data, dict) and data.get("type") == "error":
        return "error", (data.get("error") or {}).get("type") or "error"
    if isinstance(data, dict) and data.get("type") == "message" and "content" in data:
        return "message", None
    return None


def judge_response(code: int, headers: httpx.Headers, body: bytes) -> tuple[bool, str | None, str]:
    """(is_ok, cause, summary) for an answer to the credential-less probe.

    Anthropic-shaped answers are the API (or a compatible gateway): its JSON errors, a JSON
    message, or a message stream; so is JSON carrying a ``request-id``. HTML and other bodies
    are not (a captive portal, a web page, a wrong base URL)."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    rid = headers.get("request-id")
    shape = anthropic_shape(ctype, body)
    err_type = shape[1] if shape and shape[0] == "error" else None
    api_shaped = shape is not None or (rid is not None and ctype == "application/json")
    rid_note = f", request-id {rid}" if rid else ""
    if code == 529 or err_type == "overloaded_error":
        return False, "overloaded", f"{code} {err_type or 'overloaded'}: the service is overloaded"
    if code == 429:
        retry = headers.get("retry-after")
        if retry:
            return False, "ratelimit.exceeded", f"429 rate limited; retry-after {retry} s"
        return False, "ratelimit.spend_cap", "429 without retry-after: a spend or usage cap"
    if code == 407:
        return False, "proxy.auth_required", "407: a proxy on the path wants credentials"
    if 300 <= code < 400:
        where = headers.get("location", "?")
        return False, "http.not_api", f"{code} redirect to {where}: a captive portal or wrong base URL"
    if code >= 500:
        shown = err_type or (_title(body) if ctype == "text/html" else ctype or "no body")
        said = shown if shown.startswith(str(code)) else f"{code} {shown}"
        return False, "http.server_error", f"{said}{rid_note}"
    if 200 <= code < 300 and err_type and err_type in ERROR_CAUSES:
        # an error inside a 200 stream (facts §3): the stream's own kind
        return False, ERROR_CAUSES[err_type], f"{code} stream carrying an {err_type} event{rid_note}"
    if shape == ("message", None):
        kind = "message stream" if ctype == "text/event-stream" else "message"
        return True, None, (f"the API answered {code} with a {kind} without a key (an "
                            f"Anthropic-compatible gateway that supplies its own){rid_note}")
    if api_shaped:
        what = f"{code} {err_type}" if err_type else f"{code}"
        expected = " (expected without a key)" if code in (401, 400) else ""
        return True, None, f"the API answered {what}{expected}{rid_note}"
    kind = ctype or "no content-type"
    return False, "http.not_api", f"{code} {kind} that is not the API: {_title(body)!r}"


@contextlib.contextmanager
def request(target: Target, address: str | None, ssl_ctx: ssl.SSLContext | None,
            budget: Budget, method: str = "POST", path: str = "/v1/messages",
            headers: dict[str, str] | None = None, body: bytes | None = b"{}",
            proxy: str | None = None, trace: _Trace | None = None,
            read_s: float | None = None) -> Iterator[httpx.Response]:
    """One request to ``target`` the way Claude Code sends it: over ``address`` (the host's
    own name when None; the certificate is still checked for the host's name), or through
    ``proxy`` (``http(s)://[user:pass@]host:port``). Yields the streaming response, closed on
    exit; every phase is bounded by ``budget`` (``read_s`` overrides its first-byte wait).
    httpx errors propagate (:func:`runbooks.classify.classify_http` names them)."""
    host_in_url = target.host
    extensions: dict[str, Any] = {}
    sent = {"anthropic-version": "2023-06-01", "user-agent": USER_AGENT,
            **({"content-type": "application/json"} if body is not None else {}),
            **(headers or {})}
    if address and address != target.host:
        host_in_url = address
        sent["host"] = target.authority
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
    url = f"{target.scheme}://{url_host(host_in_url)}:{target.port}{target.path}{path}"
    extensions["trace"] = trace or _Trace()
    read = budget.read if read_s is None else read_s
    timeout = httpx.Timeout(connect=budget.connect, read=read, write=read, pool=budget.connect)
    tls_proxy = proxy is not None and proxy.startswith("https://") and ssl_ctx is not None
    via = httpx.Proxy(proxy, ssl_context=ssl_ctx) if tls_proxy else proxy
    with httpx.Client(verify=ssl_ctx if ssl_ctx is not None else True, trust_env=False,
                      timeout=timeout, follow_redirects=False, proxy=via) as client:
        req = client.build_request(method, url, headers=sent, content=body,
                                   extensions=extensions)
        resp = client.send(req, stream=True)
        try:
            yield resp
        finally:
            resp.close()


def read_bounded(resp: httpx.Response, limit: int = _MAX_BODY) -> bytes:
    """The body, up to ``limit`` bytes; of an event stream, only up to its first event."""
    body = b""
    stream = "text/event-stream" in resp.headers.get("content-type", "")
    for chunk in resp.iter_bytes():
        body += chunk
        # a stream may go on for long: its first event says what it is
        if len(body) >= limit or (stream and b"\n\n" in body.lstrip(b"\n")):
            break
    return body


def probe(target: Target, address: str | None, ctx: ssl.SSLContext | None, budget: Budget,
          dns_ms: float | None = None, proxy: str | None = None) -> Exchange:
    """One credential-less ``POST /v1/messages`` to ``target``, timed phase by phase, and
    judged: is it the API that answers?"""
    tr = _Trace()
    t0 = time.perf_counter()
    where = f"{target.url.rstrip('/')}/v1/messages"
    try:
        with request(target, address, ctx, budget, proxy=proxy, trace=tr) as resp:
            body = read_bounded(resp)
    except httpx.HTTPError as exc:
        fault: Fault = classify_http(exc, budget.read)
        return Exchange(False, fault.cause, fault.message, fix=fault.fix,
                        timings_ms=_timings(tr, t0, time.perf_counter(), dns_ms),
                        details={"url": where})
    t_end = time.perf_counter()
    ok, cause, summary = judge_response(resp.status_code, resp.headers, body)
    details = {
        "url": where,
        "status_code": resp.status_code,
        "http_version": resp.http_version,
        "content_type": resp.headers.get("content-type"),
        "request_id": resp.headers.get("request-id"),
    }
    return Exchange(ok, cause, summary, resp.status_code,
                    timings_ms=_timings(tr, t0, t_end, dns_ms), details=details)
