"""Masking, in process: URL credentials split where Node's URL parser splits them (Node itself is
the oracle), text masked before it is cut, every pattern linear in the length of the text.

The same rules through the real commands: test_secrets.py (doctor), test_bundle.py,
test_history.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from urllib.parse import unquote

import pytest

from runbooks import masking
from runbooks.masking import clip, mask_proxy, mask_url, redact, register_env, register_secret

CANARY = "CANARYzz9Qsecret"

#: Proxy values in every shape the WHATWG parser accepts (and some it refuses); each password
#: holds the canary. (value, a password with whitespace: masked in free text only once
#: registered, since a space ends a word there)
SHAPES = [
    (f"http://jane@corp.example:{CANARY}@proxy:8080", False),  # "@" in the user: the last "@"
    (f"http://bob:it's{CANARY}@proxy:8080", False),
    (f"http://bob:p%40ss{CANARY}@proxy:8080", False),  # %40 stays encoded in the password
    (f'http://bob:pa"ss{CANARY}@proxy:8080', False),
    (f"http://bob:pa ss{CANARY}@proxy:8080", True),
    (f"http://bob:pw\t{CANARY}@proxy:8080", True),  # the parser drops the tab
    (f"http:\\\\bob:{CANARY}@proxy:8080", False),  # "\" is "/" for http
    (f"HTTP://bob:{CANARY}@proxy:8080", False),
    (f"https://bob:{CANARY}@proxy:8080", False),
    (f"http:bob:{CANARY}@proxy:8080", False),  # slashes are optional after http:
    (f"http:///bob:{CANARY}@proxy:8080", False),
    (f"http://bob:a:b:{CANARY}@proxy:8080", False),  # the first ":" splits
    (f"http://bob:{CANARY}@@proxy:8080", False),
    (f"http://b<o>b:p<w>{CANARY}@proxy:8080", False),
    (f"http://bob:pw`{{{CANARY}}}|^@proxy:8080", False),
    (f"http://bob:pw%zz{CANARY}@proxy:8080", False),
    (f"http://:{CANARY}@proxy:8080", False),
    (f"http://bob:{CANARY}@[::1]:8080", False),
    (f"  http://bob:{CANARY}@proxy:8080  ", False),
    (f"socks5://bob:{CANARY}@proxy:1080", False),
    (f"http://sk-ant-api03-{CANARY}:{CANARY}@proxy:8080", False),  # a key as the user name
    (f"http://{CANARY}token0000@proxy:8080", False),  # a token as the user name
    # the parser refuses these: masked by pattern all the same
    (f"http://bob:pa#ss{CANARY}@proxy:8080", False),
    (f"http://bob:pa?ss{CANARY}@proxy:8080", False),
    (f"http://bob:pa/ss{CANARY}@proxy:8080", False),
    (f"http://bob:pa\\ss{CANARY}@proxy:8080", False),
    (f"http://bob:{CANARY}@proxy:99999", False),
    (f"http://u@h:pw#{CANARY}@proxy:8080", False),
    # no scheme: the runtime reads http:// in front
    (f"bob:{CANARY}@proxy:8080", False),
    (f"jane@corp.example:{CANARY}@proxy:8080", False),
]

_NODE = r"""
let data = ''; process.stdin.on('data', d => data += d); process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(data).map(s => {
    try { const u = new URL(s); return {username: u.username, password: u.password, host: u.host}; }
    catch (e) { return null; }
  })));
});
"""


def _node(values: list[str]) -> list[dict | None]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: it is the oracle here")
    proc = subprocess.run([node, "-e", _NODE], input=json.dumps(values), capture_output=True,
                          text=True, timeout=30, check=True)
    return json.loads(proc.stdout)


@pytest.fixture
def registry():
    """The process's registry emptied for the test, and given back after it."""
    with masking._registry_lock:
        saved = set(masking._registry)
        masking._registry.clear()
    yield masking._registry
    with masking._registry_lock:
        masking._registry.clear()
        masking._registry.update(saved)


def _secret_forms(password: str) -> list[str]:
    """The password as Node spells it, decoded, and as written (longer pieces only: a
    two-letter fragment such as "pw" is not a leak)."""
    return [p for p in {password, unquote(password)} if len(p) >= 4]


def _as_read(value: str) -> str:
    """The URL the client reads: a value without a scheme gets http:// in front."""
    return value if re.match(r"\s*[A-Za-z][A-Za-z0-9+.-]*:[/\\]", value) or value.lower(
    ).startswith("http:") else "http://" + value


def test_credentials_are_split_where_nodes_url_parser_splits_them(registry):
    """A differential table: Node parses each value and says which part is the password;
    that part is in no masked form we make, and a masked URL parses (Node again) to the same
    user name and host, with the password ****."""
    values = [v for v, _ in SHAPES]
    masked = [(mask_url(v), mask_proxy(v)) for v in values]
    oracle = _node([_as_read(v) for v in values] + [_as_read(m) for pair in masked for m in pair])
    truth, again = oracle[:len(values)], iter(oracle[len(values):])
    for (value, spaced), node, (as_url, as_proxy) in zip(SHAPES, truth, masked, strict=True):
        url_again, proxy_again = next(again), next(again)
        for out in (as_url, as_proxy):
            assert CANARY not in out, (value, out)
        registry.clear()
        free = redact(f"proxy {value} refused")  # by pattern alone
        if not spaced:
            assert CANARY not in free, (value, free)
        register_env({"HTTPS_PROXY": value})  # as every command does with its environment
        assert CANARY not in redact(f"proxy {value} refused"), value
        if node is None:
            continue  # Node refuses it: nothing to compare but the canary
        for secret in _secret_forms(node["password"]):
            for out in (as_url, as_proxy, redact(f"see {value}")):
                assert secret not in out, (value, secret, out)
        user = node["username"]
        expected = {"username": "****" if not node["password"] else
                    "sk-ant-%E2%80%A6" + user[-4:] if user.startswith("sk-ant-") else user,
                    "password": "****" if node["password"] else "", "host": node["host"]}
        assert url_again == expected, (value, as_url)
        if "://" in value:  # with a scheme: one reading, the same split
            assert proxy_again == url_again, (value, as_proxy)


def test_a_value_the_parser_reads_keeps_its_user_and_host(registry):
    assert mask_proxy("http://jane@corp.example:PW@proxy:8080") == (
        "http://jane@corp.example:****@proxy:8080")
    assert mask_proxy("http://bob:it'sPW@proxy:8080") == "http://bob:****@proxy:8080"
    assert mask_proxy("bob:pw@proxy:8080") == "bob:****@proxy:8080"
    assert mask_url("http://bob:pw@proxy:8080/a@b/?key=x&beta=true") == (
        "http://bob:****@proxy:8080/a@b/?key=****&beta=true")  # "@" in the path: not userinfo
    assert redact("see 'http://bob:pw@h:1/?key=abc' there") == "see 'http://bob:****@h:1/?key=****' there"
    assert mask_url("http://127.0.0.1:9/v1/messages?beta=true") == (
        "http://127.0.0.1:9/v1/messages?beta=true")


def test_registered_passwords_are_masked_in_every_spelling(registry):
    register_env({"HTTPS_PROXY": "http://bob:pa ss@wd{x}@proxy:8080"})
    for form in ("pa ss@wd{x}", "pa%20ss%40wd%7Bx%7D"):
        assert "ss@wd" not in redact(f"Proxy-Authorization for {form}") and "wd%7B" not in redact(
            f"url http://bob:{form}@proxy:8080")


@pytest.mark.parametrize("text", [
    "a." * 20_000, "a-" * 20_000, "a+" * 20_000,  # scheme characters: a scheme may start anywhere
    ",a:" * 20_000 + "@", "(a:b" * 15_000 + "@x", ",http://a:" * 6_000 + "@", "a@:" * 20_000,
    "http://h/" + "?a=&" * 15_000,
])
def test_masking_is_linear_in_the_length_of_the_text(text):
    """A 60 KB line (a debug log holds lines up to 64 KiB) is masked in milliseconds: the
    patterns used to start from every position, 27 s for the first of these."""
    t0 = time.perf_counter()
    redact(text)
    clip(text, 500, whole=False)
    assert time.perf_counter() - t0 < 0.5


# -- mask first, cut after ------------------------------------------------------------------------
def test_text_is_masked_before_it_is_cut(registry):
    token = f"{CANARY}-bearer-token-0123456789"
    register_secret(token)
    text = "x" * 980 + " " + token + " and more" * 20
    assert CANARY not in clip(text, 1001) and clip(text, 1001).endswith("…")
    assert CANARY[:8] not in clip(text, 1001)  # not even its start (20 characters before)
    # a cut never splits a mask: it falls before it
    assert clip("see sk-ant-api03-" + "a" * 40 + " now", 12) == "see …"
    assert clip("abc http://bob:pw@h xyz", 13) == "abc http://b…"


@pytest.mark.parametrize("tail", [
    "sk-ant-api03-abc",  # a key's start: too short for a key, still its first characters
    f"{CANARY}-bearer-to",  # a registered token's start
    f"http://bob:{CANARY}",  # a URL cut before the "@" that makes it a password
    f"Authorization: Bearer {CANARY}",
])
def test_a_secret_cut_at_the_end_of_a_head_is_masked(registry, tail):
    """A reader that holds only the head of a long line cut it, not us: its last word may be
    the start of a secret, and goes."""
    register_secret(f"{CANARY}-bearer-token-0123456789")
    head = "2026-11-26T01:00:09.195Z [ERROR] " + "y " * 200 + tail
    for width in (500, 2000):
        out = clip(head, width, whole=False)
        assert CANARY not in out and "api03-abc" not in out, out
        assert out.endswith("…")
