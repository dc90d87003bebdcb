"""The one boundary where exceptions become cause codes: nothing left unmapped."""

from __future__ import annotations

import errno
import socket
import ssl

import httpx
import pytest

from runbooks.causes import CAUSES
from runbooks.probes.classify import (
    TLS_VERIFY_CODES,
    classify_connect,
    classify_gai,
    classify_http,
    classify_tls,
)


@pytest.mark.parametrize("exc, cause", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "tcp.refused"),  # RST to SYN
    (TimeoutError("timed out"), "tcp.timeout"),  # SYNs dropped until our budget
    (OSError(errno.ETIMEDOUT, "timed out"), "tcp.timeout"),  # the kernel gave up first
    (OSError(errno.EHOSTUNREACH, "no route"), "tcp.unreachable"),  # ICMP host unreachable
    (OSError(errno.ENETUNREACH, "no network"), "tcp.unreachable"),  # no route at all
    (ConnectionResetError(errno.ECONNRESET, "reset"), "tcp.reset"),  # RST after setup
    (OSError(errno.EACCES, "denied"), "tcp.unreachable"),  # a local firewall says no
])
def test_connect_errors(exc, cause):
    assert classify_connect(exc, 5).cause == cause


@pytest.mark.parametrize("code", sorted(TLS_VERIFY_CODES))
def test_every_known_verify_code_maps_to_a_tls_cause(code):
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_code, exc.verify_message = code, "x"
    assert classify_tls(exc, 5).cause == TLS_VERIFY_CODES[code][0]


@pytest.mark.parametrize("exc, cause", [
    (TimeoutError("timed out"), "http.first_byte_timeout"),  # server never says hello
    (ssl.SSLEOFError(8, "EOF"), "tls.handshake_failed"),  # closed mid-handshake
    (ConnectionResetError(errno.ECONNRESET, "reset"), "tls.handshake_failed"),  # reset in it
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "tcp.refused"),  # never got there
])
def test_tls_errors(exc, cause):
    assert classify_tls(exc, 5).cause == cause


def _all_subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


@pytest.mark.parametrize("cls", sorted(set(_all_subclasses(httpx.HTTPError)), key=lambda c: c.__name__))
def test_no_httpx_exception_is_left_unmapped(cls):
    try:
        exc = cls("boom")
    except TypeError:
        exc = cls("boom", request=httpx.Request("GET", "http://127.0.0.1/"),
                  response=httpx.Response(500))
    assert classify_http(exc, 5).cause in CAUSES


@pytest.mark.parametrize("code, outcome", [
    (socket.EAI_NONAME, "nxdomain"),
    (socket.EAI_AGAIN, "timeout"),
    (socket.EAI_FAIL, "timeout"),
])
def test_getaddrinfo_errors(code, outcome):
    assert classify_gai(socket.gaierror(code, "x"))[0] == outcome
