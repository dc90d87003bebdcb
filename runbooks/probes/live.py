"""Requests that carry the user's credential, along the client's path, only when they are free
or asked for.

- :func:`models` — ``GET /v1/models`` with the headers Claude Code would send: free (it runs
  no model), and the API's answer says whether the key is accepted (401/403/402), whether the
  account is rate limited (429, with ``anthropic-ratelimit-*`` headers), and whether the
  service is up (5xx, 529).
- :func:`message` — only with ``--live``: one streamed ``POST /v1/messages`` with a
  one-line prompt and ``max_tokens`` ≤ 20 on the cheapest model. It costs a few input
  tokens and at most 20 output tokens (a fraction of a cent), and shows what no free request
  can: the rate-limit headers of message requests, and how the event stream arrives (events
  spread over the answer, a stream that starts and stops, or one burst at the end).

The header values are the real ones (:func:`runbooks.client.credentials.headers_for_request`);
they are handed to httpx and never printed: the results hold statuses, header *names*,
rate-limit figures, and timings.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..client.proxy import ProxyChoice, choose_proxy
from . import http as _http
from .classify import classify_http
from .context import Context

__all__ = ["LIVE_MODEL", "Answer", "StreamRun", "judge_answer", "message", "models",
           "path_of", "ratelimit_figures"]

#: The cheapest current model, for the one live message (a parameter overrides it).
LIVE_MODEL = "claude-haiku-4-5"
LIVE_PROMPT = "Count from 1 to 12, one number per line, nothing else."
_RATELIMIT_PREFIX = "anthropic-ratelimit-"


@dataclass
class Answer:
    """An authenticated answer: what came back, never what was sent."""

    ok: bool
    status: int | None
    cause: str | None
    summary: str
    headers: dict[str, str] = field(default_factory=dict)  # response headers (no secrets)
    error_type: str | None = None
    request_id: str | None = None
    duration_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "cause": self.cause,
                "error_type": self.error_type, "request_id": self.request_id,
                "ratelimit": ratelimit_figures(self.headers),
                "retry_after": self.headers.get("retry-after"),
                "duration_ms": round(self.duration_ms, 1)}


def ratelimit_figures(headers: dict[str, str]) -> dict[str, dict[str, str]]:
    """``anthropic-ratelimit-requests-remaining: 0`` … → ``{"requests": {"remaining": "0"}}``."""
    out: dict[str, dict[str, str]] = {}
    for name, value in headers.items():
        if name.startswith(_RATELIMIT_PREFIX):
            kind, _, field_ = name[len(_RATELIMIT_PREFIX):].rpartition("-")
            if kind and field_ in ("limit", "remaining", "reset"):
                out.setdefault(kind, {})[field_] = value
    return out


def _limits_line(headers: dict[str, str]) -> str:
    """``requests 49/50 left, tokens 99990/100000 left (reset 2026-…)``: the two figures
    that matter; the rest are in the details."""
    figs = ratelimit_figures(headers)
    parts = [f"{kind} {figs[kind].get('remaining', '?')}/{figs[kind].get('limit', '?')} left"
             for kind in ("requests", "tokens") if kind in figs]
    reset = next((f["reset"] for f in figs.values() if f.get("reset")), None)
    return ", ".join(parts) + (f" (reset {reset})" if parts and reset else "")


#: The API's words for an expired OAuth token (what the pinned client matches too).
_EXPIRED = re.compile(rb"OAuth (?:access )?token has expired")


def judge_answer(status: int, headers: dict[str, str], body: bytes, what: str) -> Answer:
    """An authenticated request's answer → cause. The free check's and the live message's
    classification: 401/403/402 are the credential's, 429 with and without ``retry-after``,
    529, other 5xx (an edge's HTML 504 too), an SSE ``error`` event inside a 200 stream."""
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    shape = _http.anthropic_shape(ctype, body)
    err = shape[1] if shape and shape[0] == "error" else None
    rid = headers.get("request-id")
    note = f", request-id {rid}" if rid else ""
    limits = _limits_line(headers)

    def ans(ok: bool, cause: str | None, summary: str) -> Answer:
        return Answer(ok, status, cause, summary, headers, err, rid)

    if status == 401 and _EXPIRED.search(body[:65536]):  # a login's token, not a bad key
        return ans(False, "auth.expired", f"{what}: 401 {err or 'unauthorized'}: the OAuth "
                   f"token has expired{note}")
    if status == 401:
        return ans(False, "auth.invalid", f"{what}: 401 {err or 'unauthorized'}: the API "
                   f"rejects the credential{note}")
    if status == 403:
        return ans(False, "auth.forbidden", f"{what}: 403 {err or 'forbidden'}: the "
                   f"credential lacks permission{note}")
    if status == 402 or err == "billing_error":
        return ans(False, "auth.billing", f"{what}: {status} {err or 'payment required'}: "
                   f"the account cannot be billed{note}")
    if status == 429:
        retry = headers.get("retry-after")
        if retry:
            more = f"; {limits}" if limits else ""
            return ans(False, "ratelimit.exceeded", f"{what}: 429 rate limited, retry-after "
                       f"{retry} s{more}{note}")
        return ans(False, "ratelimit.spend_cap", f"{what}: 429 without retry-after: a spend "
                   f"or usage cap{note}")
    if status == 529 or err == "overloaded_error":
        return ans(False, "overloaded", f"{what}: {status} overloaded: load on Anthropic's "
                   f"side, not your quota{note}")
    if status >= 500 or err in ("api_error", "timeout_error"):
        shown = err or (_http._title(body) if ctype == "text/html" else ctype or "no body")
        said = shown if shown.startswith(str(status)) else f"{status} {shown}"
        return ans(False, "http.server_error", f"{what}: {said}{note}")
    if 200 <= status < 300 and err:
        cause = _http.ERROR_CAUSES.get(err, "http.server_error")
        return ans(False, cause, f"{what}: {status} stream carrying an {err} event{note}")
    if 200 <= status < 300 and (shape is not None or ctype == "application/json"):
        more = f"; {limits}" if limits else ""
        return ans(True, None, f"{what}: {status} OK{more}{note}")
    if shape is None and ctype != "application/json":
        return ans(False, "http.not_api", f"{what}: {status} {ctype or 'no content-type'} "
                   f"that is not the API: {_http._title(body)!r}")
    return ans(False, "http.server_error" if status >= 500 else "http.not_api",
               f"{what}: {status} {err or ''}{note}".rstrip())


def path_of(ctx: Context) -> tuple[ProxyChoice | None, Any]:
    """The proxy in effect and the TLS context, shared by every live request of a run."""
    def make():
        proxy = choose_proxy(ctx.env, ctx.target.host, ctx.target.port, ctx.target.scheme)
        trust = ctx.trust if ctx.target.scheme == "https" else None
        return (proxy if proxy is not None and proxy.in_effect else None,
                trust.context if trust is not None else None)
    return ctx.once("live.path", make)


def _address(ctx: Context, proxy: ProxyChoice | None) -> str | None:
    """A pinned or looked-up address when the runbook's resolver is not the system's."""
    if proxy is not None:
        return None
    pins = ctx.resolver.pins.get(ctx.target.host.lower())
    if pins:
        return pins[0]
    if ctx.resolver.nameserver and not ctx.target.is_ip:
        from .dns import lookup_both

        found = lookup_both(ctx.target.host, ctx.resolver, ctx.budget.dns)
        addrs = found["A"].addresses + found["AAAA"].addresses
        return addrs[0] if addrs else None
    return None


def models(ctx: Context, headers: dict[str, str]) -> Answer:
    """``GET /v1/models`` with the client's credential headers: free, no model runs."""
    proxy, ssl_ctx = path_of(ctx)
    t0 = time.perf_counter()
    try:
        with _http.request(ctx.target, _address(ctx, proxy), ssl_ctx, ctx.budget, "GET",
                           "/v1/models", headers, None,
                           proxy.url if proxy else None) as resp:
            body = _http.read_bounded(resp)
    except httpx.HTTPError as exc:
        fault = classify_http(exc, ctx.budget.read)
        return Answer(False, None, fault.cause, f"GET /v1/models: {fault.message}",
                      duration_ms=(time.perf_counter() - t0) * 1000)
    out = judge_answer(resp.status_code, dict(resp.headers), body, "GET /v1/models")
    out.duration_ms = (time.perf_counter() - t0) * 1000
    return out


@dataclass
class StreamRun:
    """One live streamed message: its answer, and when each event arrived."""

    answer: Answer
    headers_ms: float | None = None  # request sent → response headers
    events: list[tuple[float, str]] = field(default_factory=list)  # (ms after headers, name)
    ended: bool = False  # message_stop arrived
    stalled_after_ms: float | None = None  # the last event before the silence

    @property
    def first_event_ms(self) -> float | None:
        return self.events[0][0] if self.events else None

    @property
    def spread_ms(self) -> float:
        return self.events[-1][0] - self.events[0][0] if len(self.events) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**self.answer.to_dict(), "headers_ms": self.headers_ms,
                "first_event_ms": self.first_event_ms, "events": len(self.events),
                "spread_ms": round(self.spread_ms, 1), "ended": self.ended,
                "stalled_after_ms": self.stalled_after_ms}


def message(ctx: Context, headers: dict[str, str], model: str = LIVE_MODEL,
            max_tokens: int = 20, idle_s: float | None = None) -> StreamRun:
    """One minimal streamed message request (``--live``): at most ``max_tokens`` output
    tokens. Waits at most ``idle_s`` (default: the read budget) for the first byte and between
    two events; the whole exchange has the request's deadline (``idle_s`` as its first-byte
    budget) plus ``idle_s`` for the stream: one that trickles in ends there
    (``http.stream_stall``)."""
    proxy, ssl_ctx = path_of(ctx)
    idle = ctx.budget.read if idle_s is None else idle_s
    body = json.dumps({"model": model, "max_tokens": max_tokens, "stream": True,
                       "messages": [{"role": "user", "content": LIVE_PROMPT}]}).encode()
    t0 = time.perf_counter()
    run = StreamRun(Answer(False, None, None, ""))
    try:
        with _http.request(ctx.target, _address(ctx, proxy), ssl_ctx, ctx.budget, "POST",
                           "/v1/messages", headers, body, proxy.url if proxy else None,
                           read_s=idle, stream_s=idle) as resp:
            t_headers = time.perf_counter()
            run.headers_ms = round((t_headers - t0) * 1000, 1)
            ctype = resp.headers.get("content-type", "")
            if resp.status_code != 200 or "text/event-stream" not in ctype:
                run.answer = judge_answer(resp.status_code, dict(resp.headers),
                                          _http.read_bounded(resp), "live message")
                return run
            first = b""
            try:
                for line in resp.iter_lines():
                    if line.startswith("event:"):
                        name = line[6:].strip()
                        run.events.append((round((time.perf_counter() - t_headers) * 1000, 1),
                                           name))
                        if name == "message_stop":
                            run.ended = True
                            break
                    elif line.startswith("data:") and len(run.events) == 1 and not first:
                        first = f"event: {run.events[0][1]}\n{line}\n\n".encode()
            except httpx.ReadTimeout:
                run.stalled_after_ms = run.events[-1][0] if run.events else 0.0
            run.answer = judge_answer(resp.status_code, dict(resp.headers), first or
                                      b"event: message_start\ndata: {}\n\n", "live message")
    except httpx.HTTPError as exc:
        fault = classify_http(exc, idle)
        run.answer = Answer(False, None, fault.cause, f"live message: {fault.message}")
    run.answer.duration_ms = (time.perf_counter() - t0) * 1000
    return run
