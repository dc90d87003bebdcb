"""`runbooks retry -- claude -p …`: retries only what retrying can fix, with backoff and
jitter, honours an announced wait, and passes the command's output through untouched."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from conftest import clean_subprocess_env

from runbooks.lab.api import LAB_REPLY, FakeAPI
from runbooks.retry import backoff, decide


@pytest.mark.parametrize("output, retry, cause", [
    # transient: a later attempt can get past these
    ("API Error: 529 Overloaded. This is a server-side issue, usually temporary", True,
     "overloaded"),
    ("API Error: 500 Internal server error.", True, "http.server_error"),
    (("API Error: Request rejected (429) · Number of requests has exceeded your per-minute "
      "rate limit"), True, "ratelimit.exceeded"),
    ("Request timed out. … set API_TIMEOUT_MS above 600000.", True, "http.first_byte_timeout"),
    ("API Error: terminated", True, "http.stream_stall"),
    ("socket hang up", True, "tcp.reset"),
    # not fixed by retrying
    ("Invalid API key · Fix external API key", False, "auth.invalid"),
    ("Failed to authenticate. API Error: 403 …", False, "auth.forbidden"),
    ("Credit balance is too low", False, "auth.billing"),
    ("API Error: Request rejected (429) · You have reached your specified API usage limits.",
     False, "ratelimit.spend_cap"),
    ("SSL certificate verification failed (UNABLE_TO_VERIFY_LEAF_SIGNATURE)", False,
     "tls.untrusted_issuer"),
    ("Request timed out. … set API_TIMEOUT_MS above 300.", False, "config.timeout_invalid"),
    ("Request timed out. … set API_TIMEOUT_MS above 5000.", False, "config.timeout_too_low"),
    ("Error: file not found: notes.md", False, None),  # not a connection error at all
])
def test_what_is_retried(output, retry, cause):
    d = decide(output)
    assert (d.retry, d.cause) == (retry, cause), d.why


def test_an_announced_wait_is_honoured():
    d = decide("API Error: 529 overloaded_error; retry-after: 7")
    assert d.retry and d.not_before_s == 7
    d = decide("rate_limit_error … resets at 2026-01-01T00:00:30Z", now=1767225600.0)
    assert d.retry and d.not_before_s == 30


def test_backoff_is_full_jitter_capped():
    assert backoff(0, 2, 60, rng=lambda: 1.0) == 2
    assert backoff(3, 2, 60, rng=lambda: 1.0) == 16
    assert backoff(10, 2, 60, rng=lambda: 1.0) == 60  # capped
    assert backoff(3, 2, 60, rng=lambda: 0.0) == 0  # anywhere in [0, cap]


def _retry(*args: str, env: dict[str, str], stdin: bytes | None = None):
    return subprocess.run([sys.executable, "-m", "runbooks", "retry", *args], env=env,
                          input=stdin, capture_output=True, timeout=120, check=False)


def test_output_and_stdin_pass_through_untouched():
    data = b"line one\n\x00binary\xff\n"
    proc = _retry("--", sys.executable, "-c",
                  "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())",
                  env=clean_subprocess_env(), stdin=data)
    assert proc.returncode == 0 and proc.stdout == data


def _flip_after(api: FakeAPI, posts: int, behaviour: str) -> threading.Thread:
    """Turn the fake API healthy once it has answered ``posts`` message requests."""
    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(1 for r in api.requests if r.startswith("POST")) >= posts:
                api.server.behaviour = behaviour
                return
            time.sleep(0.01)
    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


@pytest.mark.client
def test_the_real_client_is_retried_past_an_overload(claude, lab, tmp_path):
    run = lab("overloaded")
    api = next(p for p in run.parts if isinstance(p, FakeAPI))
    _flip_after(api, 1, "healthy")
    env = clean_subprocess_env(**{**run.client_env, "CLAUDE_CODE_MAX_RETRIES": "0",
                                  "HOME": str(tmp_path)})
    proc = _retry("--max", "3", "--base", "0.2", "--", claude, "-p", "hello", env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert proc.stdout.decode().strip() == LAB_REPLY  # the answer, untouched
    assert "attempt 1 failed (exit 1): overloaded is transient" in err
    assert "attempt 2 succeeded" in err


@pytest.mark.client
def test_the_real_client_is_not_retried_for_a_rejected_key(claude, lab, tmp_path):
    run = lab("auth-invalid")
    api = next(p for p in run.parts if isinstance(p, FakeAPI))
    env = clean_subprocess_env(**{**run.client_env, "CLAUDE_CODE_MAX_RETRIES": "0",
                                  "HOME": str(tmp_path)})
    proc = _retry("--max", "5", "--base", "0.2", "--", claude, "-p", "hello", env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "not retrying: auth.invalid is not fixed by retrying" in err
    assert sum(1 for r in api.requests if r.startswith("POST")) == 1  # one attempt, no more
