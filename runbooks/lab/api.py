"""A fake Anthropic API that the real Claude Code client accepts.

``POST /v1/messages`` answers a minimal streaming reply (message_start,
content_block_start, one text delta, content_block_stop, message_delta,
message_stop) or, with ``"stream": false``, the same as one JSON message.
``GET /v1/models`` answers a small model list (it wants ``anthropic-version`` too).
Without a credential (``x-api-key``, or ``Authorization: Bearer`` with a token) it answers
401 like the API. Every answer carries a ``request-id``; errors are Anthropic-shaped JSON;
successful answers carry ``anthropic-ratelimit-*`` headers.

A *behaviour* turns the same server into a fault: a key the API rejects (401, 403, 402),
rate limited, overloaded, server error, an edge's HTML 504, an error event inside a 200
stream, a stream that stalls mid-way, a gateway that buffers the stream, a slow first
byte, an answer that trickles in one byte at a time (its headers, or only its body), a
captive portal; or into an Anthropic-compatible gateway that answers keyless
requests with a real stream. ``strict`` accepts only the lab's key.

Every request's method, path and headers are kept in :attr:`FakeAPI.seen`, in memory only
(header values are credentials: tests compare them, nothing prints them).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..addr import hostport

__all__ = ["BEHAVIOURS", "EDGE_504_PAGE", "LAB_MODELS", "LAB_REPLY", "FakeAPI",
           "ratelimit_headers"]

LAB_REPLY = "Hello from the lab."
#: Not a secret (same value as ``scenarios.LAB_API_KEY``): what ``strict`` accepts.
_LAB_KEY = "lab-key-not-a-secret"
BEHAVIOURS = ("healthy", "ratelimited", "spend_cap", "overloaded", "server_error", "stall",
              "captive_portal", "gateway", "strict", "auth_invalid", "auth_forbidden",
              "auth_billing", "edge_504", "sse_error", "buffered", "slow_first_byte", "flaky",
              "trickle_head", "trickle_body")
LAB_MODELS = ("claude-lab-1", "claude-lab-mini-1")
#: What an edge (nginx, a CDN) sends when the origin does not answer in time: HTML, no
#: request-id, not the API's JSON.
EDGE_504_PAGE = (b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
                 b"<center><h1>504 Gateway Time-out</h1></center>\r\n"
                 b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
_ids = itertools.count(1)


def _error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message},
            "request_id": f"req_lab_{next(_ids):06d}"}


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _stream_events(model: str, text: str, pieces: int = 1) -> list[bytes]:
    words = text.split(" ")
    step = max(1, -(-len(words) // pieces))
    chunks = [" ".join(words[i:i + step]) for i in range(0, len(words), step)]
    chunks = [c + (" " if i < len(chunks) - 1 else "") for i, c in enumerate(chunks)]
    return [
        _sse("message_start", {"type": "message_start", "message": {
            "id": f"msg_lab_{next(_ids):06d}", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
        *(_sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": c}})
          for c in chunks),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": 5}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]


def _rfc3339(seconds_ahead: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_ahead))


def ratelimit_headers(exhausted: bool = False) -> dict[str, str]:
    """``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,
    reset}`` as the API sends them (reset in RFC 3339); ``exhausted``: requests at 0."""
    limits = {"requests": 50, "tokens": 100000, "input-tokens": 80000, "output-tokens": 20000}
    out = {}
    for name, limit in limits.items():
        remaining = 0 if exhausted and name == "requests" else limit - (1 if name == "requests"
                                                                         else 10)
        out[f"anthropic-ratelimit-{name}-limit"] = str(limit)
        out[f"anthropic-ratelimit-{name}-remaining"] = str(remaining)
        out[f"anthropic-ratelimit-{name}-reset"] = _rfc3339(30 if exhausted else 1)
    return out


def _bearer(value: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header ("" for a bare ``Bearer``)."""
    scheme, _, token = (value or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else (value or "").strip()


class Trickle:
    """A stand-in for a handler's ``wfile`` that sends one byte every ``interval`` seconds
    (until ``stopping`` is set): every read the client makes succeeds, so only a deadline on
    the whole exchange ends it. ``fast`` lets writes through at once while it is set."""

    def __init__(self, raw, interval: float, stopping: threading.Event) -> None:
        self.raw, self.interval, self.stopping = raw, interval, stopping
        self.fast = False

    def write(self, data: bytes) -> int:
        if self.fast:
            return self.raw.write(data)
        for i in range(len(data)):
            if self.stopping.wait(self.interval):
                raise ConnectionAbortedError("the lab is stopping")
            self.raw.write(data[i:i + 1])
            self.raw.flush()
        return len(data)

    def flush(self) -> None:
        self.raw.flush()

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        if self.server.behaviour in ("trickle_head", "trickle_body"):
            # trickle_head: the whole answer, status line first, one byte per `delay`;
            # trickle_body: the headers at once, then the body (or event stream) so
            self.wfile = Trickle(self.wfile, self.server.delay, self.server.stopping)

    def end_headers(self) -> None:
        if self.server.behaviour != "trickle_body":
            return super().end_headers()
        self.wfile.fast = True
        try:
            super().end_headers()
        finally:
            self.wfile.fast = False

    def log_message(self, format: str, *args) -> None:  # quiet; the lab logs its own way
        self.server.log.append(f"{self.command} {self.path}")

    def _record(self) -> None:
        # header values stay in memory: tests compare them, nothing prints them
        self.server.seen.append({"method": self.command, "path": self.path,
                                 "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "time": time.monotonic()})

    # -- answers ------------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None, request_id: bool = True) -> None:
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        if request_id:
            self.send_header("request-id", f"req_lab_{next(_ids):06d}")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json_error(self, code: int, kind: str, message: str,
                    headers: dict[str, str] | None = None) -> None:
        self._send(code, json.dumps(_error(kind, message)).encode(), headers=headers)

    def _read_body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(min(n, 10 * 1024 * 1024)) if n else b""

    def _hold(self) -> None:
        """slow_first_byte: nothing at all (not even headers) until the delay is over."""
        if self.server.behaviour == "slow_first_byte":
            self.server.stopping.wait(self.server.delay)

    def _service_wide(self, streamed: bool = False) -> bool:
        """Answer trouble that comes before authentication, as it does at the edge.
        ``streamed``: the request did not ask for ``"stream": false``."""
        behaviour = self.server.behaviour
        if behaviour == "overloaded":
            self._json_error(529, "overloaded_error", "Overloaded")
        elif behaviour == "server_error":
            self._json_error(500, "api_error", "Internal server error")
        elif behaviour == "edge_504":
            self._send(504, self.server.edge_page, "text/html", request_id=False,
                       headers={"server": "nginx"})
        elif behaviour == "sse_error" and streamed:  # a 200 stream, its first event an error
            self._stream([_sse("error", _error("overloaded_error", "Overloaded"))])
        elif behaviour == "sse_error":  # a request that asked for JSON gets the JSON error
            self._json_error(529, "overloaded_error", "Overloaded")
        else:
            return False
        return True

    def _account_limits(self) -> bool:
        """The account's limits, for any authenticated request (messages and models alike):
        a rate limit (429 with retry-after) or a spend cap (429 without)."""
        behaviour = self.server.behaviour
        if behaviour == "ratelimited":
            self._json_error(429, "rate_limit_error", "Number of requests has exceeded your "
                             "per-minute rate limit",
                             headers={"retry-after": "30", **ratelimit_headers(exhausted=True)})
        elif behaviour == "spend_cap":
            self._json_error(429, "rate_limit_error",
                             "You have reached your specified API usage limits.")
        else:
            return False
        return True

    def _flaky(self) -> bool:
        """flaky: every third keyless request is reset instead of answered (a path that
        fails now and then; the doctor's samples see it)."""
        if self.server.behaviour != "flaky" or any(self._credentials()):
            return False
        if next(self.server.keyless) % 3:
            return False
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()  # linger 0: the peer sees a reset
        self.close_connection = True
        return True

    def _credentials(self) -> tuple[str, str]:
        """(x-api-key, Bearer token) of the request; "" for each that is absent or empty."""
        key = (self.headers.get("x-api-key") or "").strip()
        return key, _bearer(self.headers.get("authorization"))

    def _authenticate(self) -> bool:
        """Answer the request's credential problem, if it has one (True: go on)."""
        behaviour = self.server.behaviour
        key, token = self._credentials()
        if not (key or token):
            if behaviour == "gateway":  # a gateway that supplies its own key
                return True
            self._json_error(401, "authentication_error", "x-api-key header is required")
            return False
        if behaviour == "auth_invalid" or (self.server.strict and _LAB_KEY not in (key, token)):
            self._json_error(401, "authentication_error", "invalid x-api-key")
            return False
        if behaviour == "auth_forbidden":
            self._json_error(403, "permission_error", "Your API key does not have permission "
                             "to use the specified resource.")
            return False
        if behaviour == "auth_billing":
            self._json_error(402, "billing_error", "Your credit balance is too low to access "
                             "the Anthropic API. Please go to Plans & Billing to upgrade or "
                             "purchase credits.")
            return False
        return True

    def do_GET(self) -> None:
        self._record()
        if self.server.behaviour == "captive_portal":
            return self._portal()
        self._hold()
        if self._service_wide():
            return None
        if self.path.split("?")[0].rstrip("/") != "/v1/models":
            return self._json_error(404, "not_found_error", "Not Found")
        if not self._authenticate() or self._account_limits():
            return None
        version = self.headers.get("anthropic-version")
        if not version:
            return self._json_error(400, "invalid_request_error",
                                    "anthropic-version: header is required")
        data = [{"type": "model", "id": m, "display_name": m.replace("-", " ").title(),
                 "created_at": "2026-01-01T00:00:00Z"} for m in LAB_MODELS]
        body = {"data": data, "has_more": False, "first_id": data[0]["id"],
                "last_id": data[-1]["id"]}
        self._send(200, json.dumps(body).encode(),
                   headers={"anthropic-version": version, **ratelimit_headers()})

    def do_POST(self) -> None:
        self._record()
        body = self._read_body()
        behaviour = self.server.behaviour
        if behaviour == "captive_portal":
            return self._portal()
        self._hold()
        path = self.path.split("?")[0]
        if path.rstrip("/") != "/v1/messages":
            return self._json_error(404, "not_found_error", "Not Found")
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = None
        streamed = not isinstance(req, dict) or req.get("stream") is not False
        self.server.seen[-1]["stream"] = isinstance(req, dict) and req.get("stream") is True
        if self._service_wide(streamed) or self._flaky():
            return None
        if behaviour == "gateway" and not any(self._credentials()):  # it supplies its own key
            return self._stream(_stream_events("claude-lab", LAB_REPLY),
                                headers=ratelimit_headers())
        if not self._authenticate():
            return None
        if not isinstance(req, dict):
            return self._json_error(400, "invalid_request_error", "body is not JSON")
        if self._account_limits():
            return None
        model = str(req.get("model") or "claude-lab")
        if not req.get("stream"):
            msg = {"id": f"msg_lab_{next(_ids):06d}", "type": "message", "role": "assistant",
                   "model": model, "content": [{"type": "text", "text": LAB_REPLY}],
                   "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 1, "output_tokens": 5}}
            return self._send(200, json.dumps(msg).encode(), headers=ratelimit_headers())
        pieces = 4 if behaviour == "buffered" else 1
        self._stream(_stream_events(model, LAB_REPLY, pieces), headers=ratelimit_headers())

    def _stream(self, events: list[bytes], headers: dict[str, str] | None = None) -> None:
        behaviour = self.server.behaviour
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_lab_{next(_ids):06d}")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        if behaviour == "stall":
            events = events[:3]  # start, then stop sending: the body never finishes
        if behaviour == "buffered":
            # the upstream streamed for `delay` seconds; the gateway held every event and
            # now delivers them in one burst
            self.wfile.flush()
            self.server.stopping.wait(self.server.delay)
            self.wfile.write(b"".join(events))
            self.wfile.flush()
            return
        for ev in events:
            self.wfile.write(ev)
            self.wfile.flush()
        if behaviour == "stall":
            self.server.stopping.wait()

    def _portal(self) -> None:
        page = (b"<!DOCTYPE html><html><head><title>Guest Wi-Fi - Sign in</title></head>"
                b"<body><form>Accept the terms to continue</form></body></html>")
        if self.path.startswith("/portal"):
            return self._send(200, page, "text/html; charset=utf-8")
        # like a real portal, send the client to a sign-in page on the portal itself
        # (here: this same loopback server, so a client that follows stays on loopback)
        where = hostport(*self.server.server_address[:2])
        self._send(302, page, "text/html; charset=utf-8",
                   headers={"location": f"http://{where}/portal?continue=1"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, addr, behaviour: str, tls: ssl.SSLContext | None, family: int,
                 strict: bool, delay: float):
        self.address_family = family
        self.behaviour = behaviour
        self.tls = tls
        self.strict = strict
        self.delay = delay
        self.edge_page = EDGE_504_PAGE
        self.log: list[str] = []
        self.seen: list[dict[str, Any]] = []
        self.keyless = itertools.count(1)  # flaky: which keyless request this is
        self.stopping = threading.Event()
        super().__init__(addr, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup: skip it, the
        # lab never asks anything beyond loopback.
        import socketserver

        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "localhost", self.server_address[1]

    def finish_request(self, request, client_address) -> None:
        # The TLS handshake runs here, in the connection's own thread, so a client
        # that never speaks cannot block the accept loop.
        # Headers and body go out in separate writes: without NODELAY, Nagle and the
        # client's delayed ACK add ~40 ms to every answer.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            request.settimeout(10)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            request.settimeout(None)
            try:
                super().finish_request(request, client_address)
            finally:
                request.close()  # shutdown_request() only closes the raw socket
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address) -> None:
        pass  # clients hanging up mid-answer are normal here


class FakeAPI:
    """A fake API server on loopback, in a background thread.

    ``strict`` (or the ``strict`` behaviour) accepts only the lab's key, in ``x-api-key`` or
    as a Bearer token, and answers 401 ``authentication_error`` to anything else. ``delay``
    (seconds) is how long ``slow_first_byte`` holds the whole answer and ``buffered`` holds
    the stream's events, and, for ``trickle_head`` and ``trickle_body``, the pause before
    each byte; it can be changed while the server runs (:attr:`delay`).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, behaviour: str = "healthy",
                 tls: ssl.SSLContext | None = None, strict: bool = False,
                 delay: float = 2.0) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; one of {', '.join(BEHAVIOURS)}")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.server = _Server((host, port), behaviour, tls, family,
                              strict or behaviour == "strict", delay)
        self.host = host
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{hostport(self.host, self.port)}"

    @property
    def requests(self) -> list[str]:
        return list(self.server.log)

    @property
    def seen(self) -> list[dict[str, Any]]:
        """Every request so far: ``{"method", "path", "headers", "time"}``, header names in
        lower case. The values include credentials: compare them, never print them."""
        return self.server.seen

    @property
    def strict(self) -> bool:
        return self.server.strict

    @strict.setter
    def strict(self, on: bool) -> None:
        self.server.strict = on

    @property
    def edge_page(self) -> bytes:
        """The HTML page ``edge_504`` answers (a test may give it a hostile title)."""
        return self.server.edge_page

    @edge_page.setter
    def edge_page(self, page: bytes) -> None:
        self.server.edge_page = page

    @property
    def delay(self) -> float:
        return self.server.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self.server.delay = seconds

    def close(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
