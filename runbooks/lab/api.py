"""A fake Anthropic API that the real Claude Code client accepts.

``POST /v1/messages`` answers a minimal streaming reply (message_start,
content_block_start, one text delta, content_block_stop, message_delta,
message_stop) or, with ``"stream": false``, the same as one JSON message.
Without ``x-api-key`` or ``Authorization`` it answers 401 like the API.
Every answer carries a ``request-id``; errors are Anthropic-shaped JSON.

A *behaviour* turns the same server into a fault: rate limited, overloaded,
server error, a stream that stalls mid-way, a captive portal; or into an
Anthropic-compatible gateway that answers keyless requests with a real stream.
"""

from __future__ import annotations

import itertools
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..addr import hostport

__all__ = ["FakeAPI", "BEHAVIOURS", "LAB_REPLY"]

LAB_REPLY = "Hello from the lab."
BEHAVIOURS = ("healthy", "ratelimited", "spend_cap", "overloaded", "server_error", "stall",
              "captive_portal", "gateway")
_ids = itertools.count(1)


def _error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message},
            "request_id": f"req_lab_{next(_ids):06d}"}


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _stream_events(model: str, text: str) -> list[bytes]:
    return [
        _sse("message_start", {"type": "message_start", "message": {
            "id": f"msg_lab_{next(_ids):06d}", "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
        _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": text}}),
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": 5}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # quiet; the lab logs its own way
        self.server.log.append(f"{self.command} {self.path}")

    # -- answers ------------------------------------------------------------------------------
    def _send(self, code: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
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

    def do_GET(self) -> None:
        if self.server.behaviour == "captive_portal":
            return self._portal()
        self._json_error(404, "not_found_error", "Not Found")

    def do_POST(self) -> None:
        body = self._read_body()
        behaviour = self.server.behaviour
        if behaviour == "captive_portal":
            return self._portal()
        path = self.path.split("?")[0]
        if path.rstrip("/") != "/v1/messages":
            return self._json_error(404, "not_found_error", "Not Found")
        # Service-wide trouble comes before authentication, as it does at the edge.
        if behaviour == "overloaded":
            return self._json_error(529, "overloaded_error", "Overloaded")
        if behaviour == "server_error":
            return self._json_error(500, "api_error", "Internal server error")
        keyless = not (self.headers.get("x-api-key") or self.headers.get("authorization"))
        if keyless and behaviour == "gateway":  # a gateway that supplies its own key
            return self._stream(_stream_events("claude-lab", LAB_REPLY))
        if keyless:
            return self._json_error(401, "authentication_error", "x-api-key header is required")
        if behaviour == "ratelimited":
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
            return self._json_error(429, "rate_limit_error", "Number of requests has exceeded "
                                    "your per-minute rate limit", headers={
                                        "retry-after": "30",
                                        "anthropic-ratelimit-requests-limit": "50",
                                        "anthropic-ratelimit-requests-remaining": "0",
                                        "anthropic-ratelimit-requests-reset": reset})
        if behaviour == "spend_cap":
            return self._json_error(429, "rate_limit_error",
                                    "You have reached your specified API usage limits.")
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            return self._json_error(400, "invalid_request_error", "body is not JSON")
        model = str(req.get("model") or "claude-lab")
        if not req.get("stream"):
            msg = {"id": f"msg_lab_{next(_ids):06d}", "type": "message", "role": "assistant",
                   "model": model, "content": [{"type": "text", "text": LAB_REPLY}],
                   "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 1, "output_tokens": 5}}
            return self._send(200, json.dumps(msg).encode())
        self._stream(_stream_events(model, LAB_REPLY))

    def _stream(self, events: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_lab_{next(_ids):06d}")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True
        if self.server.behaviour == "stall":
            events = events[:3]  # start, then stop sending: the body never finishes
        for ev in events:
            self.wfile.write(ev)
            self.wfile.flush()
        if self.server.behaviour == "stall":
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

    def __init__(self, addr, behaviour: str, tls: ssl.SSLContext | None, family: int):
        self.address_family = family
        self.behaviour = behaviour
        self.tls = tls
        self.log: list[str] = []
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
    """A fake API server on loopback, in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, behaviour: str = "healthy",
                 tls: ssl.SSLContext | None = None) -> None:
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; one of {', '.join(BEHAVIOURS)}")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.server = _Server((host, port), behaviour, tls, family)
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

    def close(self) -> None:
        self.server.stopping.set()
        self.server.shutdown()
        self.server.server_close()
