"""Bad input, by class: one line naming it, exit 2, no traceback, nothing written, and no
work started (the lab's API sees no request, no kernel starts).

Each row is a class of mistake found by probing the CLI; the fix is for the class, so the
rows are examples of it, one comment each.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runbooks.cli import main
from runbooks.lab.api import FakeAPI

LONG_LABEL = "a" * 64
LONG_NAME = ".".join(["abcdefghij"] * 26)  # 285 characters


@pytest.fixture(scope="module")
def api():
    server = FakeAPI()
    yield server
    server.close()


@pytest.fixture
def places(tmp_path):
    """A file where a folder is expected, a folder where a file is expected, a FIFO."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    fifo = tmp_path / "fifo"
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo)
    return {"FILE": str(a_file), "DIR": str(a_dir), "FIFO": str(fifo), "TMP": str(tmp_path)}


ROWS = [
    # -- host names: say which part is bad (these crashed from two DNS threads) -----------------
    (["doctor", "--base-url", f"https://{LONG_LABEL}.example"], "at most 63"),  # label > 63
    (["doctor", "--base-url", f"https://{LONG_NAME}"], "at most 253"),  # name > 253
    (["doctor", "--base-url", "https://a..b"], "empty label"),  # two dots
    (["doctor", "--base-url", "https://exa mple.com"], "cannot have"),  # a space
    (["doctor", "--base-url", "https://\u2026.com"], "not a valid host name"),  # an ellipsis
    (["doctor", "--base-url", "http://[::1"], "IPv6"),  # unclosed bracket
    (["doctor", "--base-url", "http://[zz]:80"], "IPv6"),  # not an address in brackets
    (["doctor", "--base-url", "ftp://x"], "expected http:// or https://"),  # scheme
    # what Node's URL parser (the client's) refuses, though Python's accepts it
    (["doctor", "--base-url", "http://1.2.3.4.5"], "URL parser refuses"),  # five-part IPv4
    (["doctor", "--base-url", "http://256.1.1.1"], "URL parser refuses"),  # out of range
    (["doctor", "--base-url", "http://[::1]]"], "URL parser refuses"),  # after the ]
    (["doctor", "--base-url", "http://xn--a.example"], "punycode"),  # not a real A-label
    (["doctor", "--base-url", "https://api\u200c.anthropic.com"], "zero-width"),
    (["doctor", "--base-url", "https://"], "no host name"),
    (["doctor", "--base-url", "http://h:99999"], "--base-url"),  # port out of range
    (["doctor", "--base-url", "http://h:0"], "port 0"),
    (["run", "network", "-p", f"base_url=https://{LONG_LABEL}.x"], "at most 63"),
    # -- budgets: finite seconds in (0, 600], the same rule for -p and --options ----------------
    (["doctor", "--connect-timeout", "abc"], "expected seconds"),
    (["doctor", "--connect-timeout", "-1"], "expected seconds"),
    (["doctor", "--dns-timeout", "0"], "expected seconds"),
    (["doctor", "--read-timeout", "nan"], "expected seconds"),
    (["doctor", "--tls-timeout", "inf"], "expected seconds"),
    (["doctor", "--connect-timeout", "1e309"], "expected seconds"),  # overflows to inf
    (["doctor", "--connect-timeout", "601"], "expected seconds"),
    (["run", "network", "-p", "connect_timeout=-1"], "expected seconds"),
    (["run", "network", "-p", "connect_timeout=0"], "expected seconds"),
    (["run", "network", "-p", "connect_timeout=nan"], "expected seconds"),
    (["run", "network", "-p", "connect_timeout=inf"], "expected seconds"),
    (["run", "network", "-p", "connect_timeout=1e309"], "expected seconds"),
    (["run", "network", "-p", "read_timeout=abc"], "expected seconds"),
    (["run", "network", "-y", "connect_timeout: -3"], "expected seconds"),  # typed, from YAML
    (["run", "network", "-y", "connect_timeout: [1]"], "one value, not a list"),
    # -- resolver options -------------------------------------------------------------------------
    (["doctor", "--nameserver", "dns.example"], "--nameserver"),
    (["doctor", "--nameserver", "[::1"], "unclosed ["),
    (["doctor", "--nameserver", "1.1.1.1:99999"], "65535"),
    (["doctor", "--resolve", "nohost"], "HOST:ADDR"),
    (["doctor", "--resolve", "host:[::1"], "unbalanced"),
    (["doctor", "--resolve", "host:not-an-ip"], "not an IP address"),
    (["run", "network", "-p", "nameserver=garbage"], "nameserver"),
    (["run", "network", "-p", "resolve=garbage"], "resolve"),
    # -- parameters --------------------------------------------------------------------------------
    (["run", "nope"], "unknown runbook 'nope'"),
    (["run", "network", "-p", "bogus=1"], "unknown parameter 'bogus'"),
    (["run", "network", "-p", "novalue"], "expected NAME=VALUE"),
    (["run", "network", "-p", "=x"], "expected NAME=VALUE"),
    (["run", "network", "-y", "bogus: 1"], "unknown parameter 'bogus'"),
    (["run", "network", "-y", "[1, 2]"], "not a mapping"),
    (["run", "network", "-y", "a: 'b"], "not valid YAML"),
    (["run", "network", "-y", "a: &x 1\nb: *x"], "aliases"),  # refused before any expansion
    (["run", "network", "-y", "connect_timeout: 1\n" + "[" * 5000], "-y <text of"),
    (["run", "network", "-p", "base_url=http://127.0.0.1:9/\x00"], "NUL"),  # reached the kernel
    (["run", "recovery", "-y", 'project: "/tmp/a\\0b"'], "NUL"),
    (["run", "network", "-f", "{TMP}/missing.yaml"], "does not exist"),
    (["run", "network", "-f", "{FIFO}"], "FIFO"),  # never blocks on a pipe
    (["run", "network", "-f", "{DIR}"], "directory"),
    (["run", "network", "--base-url", "ftp://x"], "expected http:// or https://"),
    # -- settings files ----------------------------------------------------------------------------
    (["doctor", "--settings", "{TMP}/missing.json"], "does not exist"),
    (["doctor", "--settings", "{DIR}"], "directory"),
    (["doctor", "--settings", "{FIFO}"], "FIFO"),
    (["run", "network", "--settings", "{TMP}/missing.json"], "does not exist"),
    # inline settings JSON can hold keys: never a notebook parameter
    (["run", "network", "--settings", '{{"env": {{"ANTHROPIC_API_KEY": "x"}}}}'], "inline"),
    (["run", "network", "-p", 'settings={{"env": {{}}}}'], "inline settings JSON"),
    # -- output paths: checked before any work ----------------------------------------------------
    (["doctor", "--json", ""], "--json is empty"),
    (["doctor", "--json", "{DIR}"], "is a folder"),
    (["doctor", "--json", "{TMP}/missing/r.json"], "does not exist"),
    (["doctor", "--json", "{FILE}/r.json"], "does not exist"),  # a file where a folder goes
    (["doctor", "--json", "{FIFO}"], "not a regular file"),  # a rename would replace the pipe
    (["doctor", "--json", "/dev/null"], "not a regular file"),  # …or the device
    (["doctor", "--json", "/proc/x.json"], "--json '/proc/x.json'"),  # root may; Linux says no
    (["run", "network", "--json", ""], "--json is empty"),
    (["run", "network", "--json", "{DIR}"], "is a folder"),
    (["run", "network", "--output-dir", ""], "--output-dir is empty"),
    (["run", "network", "--output-dir", "{FILE}"], "is a file"),
    (["run", "network", "--output-dir", "{FILE}/sub/deeper"], "is a file"),
    # -- triage ------------------------------------------------------------------------------------
    (["triage", ""], "no error text"),
    (["triage", "   "], "no error text"),
    (["triage"], "no error text"),
    (["triage", "--file", ""], "--file is empty"),
    (["triage", "--file", "{TMP}/missing.log"], "does not exist"),
    (["triage", "--file", "{FIFO}"], "FIFO"),
    (["triage", "--file", "/dev/zero"], "not a regular file"),  # never reads forever
    (["triage", "x", "--file", "{FILE}"], "not both"),
    # -- the rest ---------------------------------------------------------------------------------
    (["lab", "start", "nope"], "unknown lab scenario 'nope'"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize("args, needle", ROWS, ids=[" ".join(a)[:60] for a, _ in ROWS])
def test_bad_input_is_one_line_exit_2_and_nothing_happens(args, needle, places, api, capsys,
                                                           monkeypatch):
    if "{FIFO}" in " ".join(args) and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    args = [a.format(**places) for a in args]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)  # where work would go, if it started
    before = sorted(os.listdir(Path.cwd())), sorted(os.listdir(places["TMP"]))
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert needle in err, err
    assert err.startswith("runbooks: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + out
    assert api.requests == []  # no work started
    assert (sorted(os.listdir(Path.cwd())), sorted(os.listdir(places["TMP"]))) == before


def test_a_malformed_base_url_in_the_environment_stops_run_before_any_kernel(capsys,
                                                                               monkeypatch,
                                                                               tmp_path):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://u:x@[zz]:1")
    assert main(["run", "network", "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "malformed ANTHROPIC_BASE_URL" in err and "x@" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("url", [
    "http://bob:s3cret/pw@127.0.0.1:notaport",  # a password with "/" that breaks the parse
    "http://bob:s3cret#pw@[::1",
    "https://h:99999/?key=s3cret-in-query",  # a key in the query string
    "http://bob:s3cret?pw@h:80/",
])
def test_usage_errors_never_echo_a_secret(url, capsys):
    assert main(["doctor", "--base-url", url]) == 2
    err = capsys.readouterr().err
    assert "s3cret" not in err and err.count("\n") == 1, err
