"""HTTP: one request to the API with httpx, timed phase by phase from httpx's
own trace hooks (connect, TLS, first byte, transfer), and a judgement of the
answer: is it the Anthropic API, or a captive portal, a web page, an error?

The request is ``POST {base}/v1/messages`` with **no credential**: the API
answers 401 ``authentication_error`` in its JSON error shape, which proves
DNS, TCP, TLS and HTTP end to end without sending a key anywhere.

Every request here has a deadline as well as its per-phase timeouts (httpx has only the
latter: a server that sends a byte a second satisfies every read timeout and never
finishes). :func:`client` gives httpx a network backend whose every connect, name lookup,
TLS handshake, read and write is capped by the request's :class:`~runbooks.budget.Deadline`
(the sum of its phases' budgets); the status page, the authenticated requests and the
sampling all send through it.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpcore
import httpx

from ..addr import is_ip_literal, url_host
from ..budget import Budget, Deadline, DeadlineExceeded
from ..client.target import Target
from ..masking import clip
from .classify import Fault, classify_http

__all__ = ["ERROR_CAUSES", "USER_AGENT", "Exchange", "anthropic_shape", "client",
           "first_sse_event", "judge_response", "probe", "read_bounded", "request"]

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


# -- the deadline, enforced on every socket operation httpx makes ------------------------------
class _Overrun(httpcore.TimeoutException, DeadlineExceeded):
    """The deadline passed: httpx turns it into an ``httpx.TimeoutException`` whose cause is
    this (:func:`runbooks.probes.classify.classify_http` reads the deadline from it)."""

    def __init__(self, deadline: Deadline) -> None:
        DeadlineExceeded.__init__(self, deadline)


_T = TypeVar("_T")


def _bounded(deadline: Deadline, sock: socket.socket, timeout: float | None,
             on_timeout: type[Exception], on_error: type[Exception], op: Callable[[], _T]) -> _T:
    """``op()`` on ``sock`` with its timeout capped by ``deadline``; socket errors become
    httpcore's (``on_timeout``, ``on_error``), as httpcore's own backend maps them."""
    try:
        seconds, capped = deadline.cap(timeout)
    except DeadlineExceeded:
        raise _Overrun(deadline) from None
    sock.settimeout(seconds)
    try:
        return op()
    except TimeoutError as exc:  # socket.timeout
        if capped:
            raise _Overrun(deadline) from exc
        raise on_timeout(str(exc) or "timed out") from exc
    except OSError as exc:  # ssl.SSLError included
        raise on_error(str(exc) or type(exc).__name__) from exc


class _Stream(httpcore.NetworkStream):
    """One connection for httpcore: a socket, or a TLS session inside a TLS proxy's tunnel
    (``tunnel``: the SSLObject and its two memory BIOs, read by our own loop so that each of
    its reads is capped too). Every read, write and handshake is capped by the deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline,
                 tunnel: tuple[ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO] | None = None):
        self._sock, self._deadline, self._tunnel = sock, deadline, tunnel

    def _recv(self, n: int, timeout: float | None, to: type[Exception],
              err: type[Exception]) -> bytes:
        return _bounded(self._deadline, self._sock, timeout, to, err, lambda: self._sock.recv(n))

    def _send(self, data: bytes, timeout: float | None, to: type[Exception],
              err: type[Exception]) -> None:
        while data:
            sent = _bounded(self._deadline, self._sock, timeout, to, err,
                            lambda d=data: self._sock.send(d))
            data = data[sent:]

    def _in_tunnel(self, op: Callable[[], _T], timeout: float | None, to: type[Exception],
                   err: type[Exception]) -> _T:
        """``op`` on the tunnelled TLS session: feed it from the socket until it is done."""
        assert self._tunnel is not None
        _, incoming, outgoing = self._tunnel
        while True:
            try:
                result, want = op(), False
            except ssl.SSLWantReadError:
                result, want = None, True
            except ssl.SSLError as exc:
                raise err(str(exc)) from exc
            pending = outgoing.read()
            if pending:
                self._send(pending, timeout, to, err)
            if not want:
                return result  # type: ignore[return-value]
            data = self._recv(16384, timeout, to, err)
            if data:
                incoming.write(data)
            else:
                incoming.write_eof()

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._tunnel is not None:
            tls = self._tunnel[0]
            data = self._in_tunnel(lambda: tls.read(max_bytes), timeout, httpcore.ReadTimeout,
                                   httpcore.ReadError)
        else:
            data = self._recv(max_bytes, timeout, httpcore.ReadTimeout, httpcore.ReadError)
        self._deadline.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._tunnel is not None:
            tls = self._tunnel[0]
            while buffer:
                sent = self._in_tunnel(lambda b=buffer: tls.write(b), timeout,
                                       httpcore.WriteTimeout, httpcore.WriteError)
                buffer = buffer[sent:]
        else:
            self._send(buffer, timeout, httpcore.WriteTimeout, httpcore.WriteError)

    def close(self) -> None:
        self._sock.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        try:
            if isinstance(self._sock, ssl.SSLSocket):  # TLS inside a TLS proxy's tunnel
                incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
                tls = ssl_context.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
                inner = _Stream(self._sock, self._deadline, (tls, incoming, outgoing))
                inner._in_tunnel(tls.do_handshake, timeout, httpcore.ConnectTimeout,
                                 httpcore.ConnectError)
                return inner
            # one blocking handshake: Python bounds all of it by the socket's timeout
            sock = _bounded(self._deadline, self._sock, timeout, httpcore.ConnectTimeout,
                            httpcore.ConnectError,
                            lambda: ssl_context.wrap_socket(self._sock,
                                                            server_hostname=server_hostname))
        except BaseException:
            self.close()
            raise
        return _Stream(sock, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            if self._tunnel is not None:
                return self._tunnel[0]
            return getattr(self._sock, "_sslobj", None) if isinstance(
                self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":  # an idle connection with something to read has been closed
            try:
                return self._sock.fileno() < 0 or bool(select.select([self._sock], [], [], 0)[0])
            except (OSError, ValueError):
                return True
        return None


class _Backend(httpcore.NetworkBackend):
    """httpcore's network backend for one request: a name is looked up within the DNS budget
    (getaddrinfo has no timeout of its own), every address tried within the deadline."""

    def __init__(self, deadline: Deadline, dns_s: float) -> None:
        self.deadline, self.dns_s = deadline, dns_s

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        from .dns import stream_addresses

        if is_ip_literal(host):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            addresses = [(family, (host, port))]
        else:
            try:
                seconds, _ = self.deadline.cap(self.dns_s)
            except DeadlineExceeded:
                raise _Overrun(self.deadline) from None
            try:
                addresses = stream_addresses(host, port, seconds)
            except OSError as exc:  # the lookup failed or did not answer in time
                raise httpcore.ConnectError(str(exc)) from exc
        last: Exception = httpcore.ConnectError(f"no address for {host}")
        for family, sockaddr in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                if local_address:
                    sock.bind((local_address, 0))
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _bounded(self.deadline, sock, timeout, httpcore.ConnectTimeout,
                         httpcore.ConnectError, lambda s=sock, a=sockaddr: s.connect(a))
            except _Overrun:
                sock.close()
                raise
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                sock.close()
                last = exc
                continue
            return _Stream(sock, self.deadline)
        raise last

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("no Unix sockets here")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self.deadline.left())))


class _Transport(httpx.HTTPTransport):
    """httpx's transport over an httpcore pool built with our backend (httpcore takes a
    ``network_backend``; httpx's own constructor has no parameter for it)."""

    def __init__(self, backend: _Backend, verify: ssl.SSLContext | bool,
                 proxy: httpx.Proxy | None) -> None:
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        if proxy is None:
            self._pool = httpcore.ConnectionPool(ssl_context=context, network_backend=backend)
        else:
            self._pool = httpcore.HTTPProxy(
                proxy_url=httpcore.URL(scheme=proxy.url.raw_scheme, host=proxy.url.raw_host,
                                       port=proxy.url.port, target=proxy.url.raw_path),
                proxy_auth=proxy.raw_auth, proxy_headers=proxy.headers.raw,
                ssl_context=context, proxy_ssl_context=proxy.ssl_context,
                network_backend=backend)


def client(deadline: Deadline, budget: Budget, verify: ssl.SSLContext | bool = True,
           proxy: str | None = None, read_s: float | None = None) -> httpx.Client:
    """An httpx client whose every wait is bounded by its phase's budget (``read_s``
    overrides the first-byte wait) and all of them together by ``deadline``; through
    ``proxy`` (``http(s)://[user:pass@]host:port``; an https:// proxy is verified with
    ``verify``, as the client does). No environment is read, no redirect followed."""
    read = budget.read if read_s is None else read_s
    timeout = httpx.Timeout(connect=budget.connect, read=read, write=read, pool=budget.connect)
    via = None
    if proxy is not None:
        tls_proxy = proxy.lower().startswith("https://") and isinstance(verify, ssl.SSLContext)
        via = httpx.Proxy(proxy, ssl_context=verify if tls_proxy else None)
    return httpx.Client(transport=_Transport(_Backend(deadline, budget.dns), verify, via),
                        timeout=timeout, follow_redirects=False, trust_env=False)


@contextlib.contextmanager
def request(target: Target, address: str | None, ssl_ctx: ssl.SSLContext | None,
            budget: Budget, method: str = "POST", path: str = "/v1/messages",
            headers: dict[str, str] | None = None, body: bytes | None = b"{}",
            proxy: str | None = None, trace: _Trace | None = None,
            read_s: float | None = None, stream_s: float = 0.0) -> Iterator[httpx.Response]:
    """One request to ``target`` the way Claude Code sends it: over ``address`` (the host's
    own name when None; the certificate is still checked for the host's name), or through
    ``proxy`` (``http(s)://[user:pass@]host:port``). Yields the streaming response, closed on
    exit; every phase is bounded by ``budget`` (``read_s`` overrides its first-byte wait), and
    the whole exchange, body included, by a deadline: the sum of its phases' budgets
    (:meth:`Budget.request_s`), plus ``stream_s`` for a body that takes time of its own.
    httpx errors propagate (:func:`runbooks.probes.classify.classify_http` names them)."""
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
    # the first hop is looked up by name (within the DNS budget) unless it is an address
    named = not is_ip_literal((urlsplit(proxy).hostname or "") if proxy else host_in_url)
    deadline = Deadline(budget.request_s(tls=target.scheme == "https", proxy=proxy, read=read,
                                         dns=named) + stream_s)
    with client(deadline, budget, ssl_ctx if ssl_ctx is not None else True, proxy,
                read) as http:
        req = http.build_request(method, url, headers=sent, content=body,
                                 extensions=extensions)
        resp = http.send(req, stream=True)
        deadline.phase, deadline.received = "body", 0
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
