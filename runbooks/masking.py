"""Masking for anything secret-shaped: keys, tokens, passwords and query values in URLs.

The rule: a secret is never printed, logged or stored; at most its masked form
(``sk-ant-…abcd``, ``http://bob:****@proxy:8080``) appears. Masking never depends on a
value parsing: a URL too broken for the client's parser (a password with ``/``, ``#`` or
``?`` in it, a bad port) is masked by pattern, the same way.

A whole value (a proxy variable, a base URL) is split where the URL parser Node uses
splits it (WHATWG URL: the user info runs to the *last* ``@`` before the host, so a user
name may hold ``@``; every character of it is user name or password, quotes, spaces and
``%40`` included; ``\\`` is ``/`` for http and https; tabs and newlines are dropped; the
slashes after ``http:`` are optional). A proxy value is masked as both readings the client
has of it (as written, and with ``http://`` in front when it has no ``scheme://``). In free
text, every run of non-space characters that holds an ``@`` is masked from the first
``scheme:user:`` or ``user:`` to its last ``@``: more than the parser would, never less.

Three layers, each enough on its own:

1. values are masked where they are first put into words (:func:`mask_url`,
   :func:`mask_proxy`);
2. the secrets of the environment a run uses are registered (:func:`register_secret`) and
   every renderer passes its text through :func:`redact`, which masks them wherever they
   turn up, along with any key-shaped text and any URL credentials or query values;
3. the tests plant canaries in every input and look for them in every output.

Text is masked before it is cut (:func:`clip`), so a cut never leaves part of a secret.
Every pattern is linear in the length of the text: a long line costs its length, not its
square.
"""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import quote, unquote

__all__ = ["SECRET_VARS", "clip", "mask_key", "mask_proxy", "mask_secrets_in", "mask_url",
           "redact", "redact_data", "register_env", "register_secret"]

#: Environment variables whose values are secrets, wherever they come from.
SECRET_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
               "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE", "AWS_SECRET_ACCESS_KEY",
               "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "ANTHROPIC_FOUNDRY_API_KEY")

_KEY_RE = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")
#: A scheme starts only where a run of scheme characters starts (after any non-letters of
#: that run): a pattern that may start inside such a run rescans it from every position.
_SCHEME = r"(?<![A-Za-z0-9+.\-])[0-9+.\-]*([A-Za-z][A-Za-z0-9+.\-]*:)"
# scheme:[//]user: — the password runs from here to the run's last "@"
_USERINFO_HEAD = re.compile(_SCHEME + r"[/\\]*([^\s:/\\?#]*):")
# scheme://token@ (no colon): a user name that is a token (GitHub-style) is masked too
_USERONLY_RE = re.compile(_SCHEME + r"([/\\]*)([^\s:@/\\?#]{16,})@")
# user:password@host with no scheme (how proxy values are often written)
_BARE_HEAD = re.compile(r"(?<![\w/\\:@.\-%+~])(?!(?:https?|wss?|ftp|file):)"
                        r"([\w.\-%+~]+(?:@[\w.\-%+~]+)*):(?![/\\])")
_URL_START = re.compile(_SCHEME + r"//")
_QUERY_RE = re.compile(r"([?&;][^=&#\s]+=)([^&#\s]*)")
_QUERY_WHOLE = re.compile(r"([?&;][^=&#]+=)([^&#]*)")  # one value: spaces are part of it
_RUN = re.compile(r"\S+")
_CLOSERS = {"'": "'", '"': '"', "(": ")", "<": ">", "[": "]", "`": "`"}
#: Query parameters that are never secret and help a reader (``/v1/messages?beta=true``).
_PLAIN_QUERY = {"beta", "continue"}
_MASK = "****"
#: WHATWG's special schemes (``file`` carries no credentials).
_SPECIAL = frozenset({"http", "https", "ws", "wss", "ftp"})
_SCHEME_COLON = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HAS_AUTHORITY = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://")
_FORBIDDEN_HOST = set("\x00\t\n\r #/:<>?@[\\]^|%") | {chr(c) for c in range(0x20)} | {"\x7f"}

_registry: set[str] = set()
_registry_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so :func:`redact` masks it wherever it appears. Values
    shorter than 6 characters are not registered (they would mask ordinary words)."""
    if not value:
        return
    for v in {value, value.strip()}:
        if len(v) >= 6:
            with _registry_lock:
                _registry.add(v)


def _register_forms(value: str) -> None:
    """A password as written, as the client decodes it and as a URL spells it."""
    register_secret(value)
    register_secret(unquote(value))
    register_secret(quote(value, safe="!$%&'()*+,-.~"))  # WHATWG's userinfo set, roughly


def register_env(env: dict[str, str] | object) -> None:
    """Register every secret an environment holds: the secret variables, the passwords and
    query values of URLs (proxies, the base URL), and ``ANTHROPIC_CUSTOM_HEADERS`` values."""
    get = getattr(env, "get", None)
    if get is None:
        return
    for name in SECRET_VARS:
        register_secret(get(name))
    for name, value in list(getattr(env, "items", list)()):
        if not isinstance(value, str) or "@" not in value and "?" not in value:
            continue
        proxy = name.lower().endswith("_proxy")
        if proxy or name == "ANTHROPIC_BASE_URL":
            found: list[str] = []
            _mask_value(value, proxy, found)
            for secret in found:
                _register_forms(secret)
            query = value.partition("?")[2]
            for m in _QUERY_WHOLE.finditer("?" + query if query else ""):
                register_secret(m.group(2))
    for line in str(get("ANTHROPIC_CUSTOM_HEADERS") or "").splitlines():
        register_secret(line.partition(":")[2].strip())


def mask_key(value: str | None) -> str:
    """``sk-ant-api03-…`` → ``sk-ant-…abcd``; anything else → ``…abcd`` (or ``…`` if short)."""
    if not value:
        return ""
    value = value.strip()
    tail = value[-4:] if len(value) >= 12 else ""
    head = "sk-ant-" if value.startswith("sk-ant-") else ""
    return f"{head}…{tail}"


def _user(name: str) -> str:
    return mask_key(name) if name.startswith("sk-ant-") else name


def _token_user(name: str) -> bool:
    """A user name without a password that is a token (16 characters or more, no ``@``)."""
    return name.startswith("sk-ant-") or len(name.strip()) >= 16 and "@" not in name


# -- a whole value, split as Node's URL parser splits it -----------------------------------------
def _host_ok(hostport: str, special: bool) -> bool:
    """The host and port after the user info would parse (roughly as WHATWG's host parser:
    enough to tell a URL the client reads from one it refuses)."""
    if hostport.startswith("["):
        inside, close, after = hostport[1:].partition("]")
        port = after[1:] if after.startswith(":") else None
        if not close or not inside or (after and port is None):
            return False
    else:
        host, colon, port = hostport.partition(":")
        if (special and not host) or set(host) & _FORBIDDEN_HOST:
            return False
        port = port if colon else None
    return not port or (port.isascii() and port.isdigit() and int(port) <= 65535)


def _userinfo(value: str) -> tuple[int, int, int, int] | None:
    """Where Node's URL parser (WHATWG URL) finds the user info of ``value``: ``(start,
    colon, at, end)`` as offsets into ``value`` (``colon`` is -1 without a password;
    ``end``: where the host ends). None: no user info, or a URL the parser refuses."""
    keep = [i for i, c in enumerate(value) if c not in "\t\n\r"]  # the parser drops these
    lo, hi = 0, len(keep)
    while lo < hi and value[keep[lo]] <= " ":
        lo += 1
    while hi > lo and value[keep[hi - 1]] <= " ":
        hi -= 1
    keep = keep[lo:hi]
    s = "".join(value[i] for i in keep)
    m = _SCHEME_COLON.match(s)
    if m is None:
        return None
    scheme, pos = m.group()[:-1].lower(), m.end()
    special = scheme in _SPECIAL
    if special:
        while pos < len(s) and s[pos] in "/\\":
            pos += 1
        stops = "/\\?#"
    elif s.startswith("//", pos) and scheme != "file":
        pos += 2
        stops = "/?#"
    else:
        return None
    end = next((i for i in range(pos, len(s)) if s[i] in stops), len(s))
    at = s.rfind("@", pos, end)
    if at < 0 or not _host_ok(s[at + 1:end], special):
        return None
    colon = s.find(":", pos, at)
    close = keep[end] if end < len(keep) else len(value)
    return keep[pos], keep[colon] if colon >= 0 else -1, keep[at], close


def _infos(value: str, proxy: bool) -> list[tuple[int, int, int, int]]:
    """The user info of each reading of ``value``: as written, and for a proxy without
    ``scheme://`` also as the runtime reads it, with ``http://`` in front."""
    out = []
    info = _userinfo(value)
    if info:
        out.append(info)
    lead = len(value) - len(value.lstrip("".join(map(chr, range(0x21)))))
    if proxy and not _HAS_AUTHORITY.match(value[lead:]):
        other = _userinfo("http://" + value[lead:])
        if other:
            shift = lead - len("http://")
            start, colon, at, end = other
            out.append((start + shift, colon + shift if colon >= 0 else -1, at + shift,
                        end + shift))
    return out


def _mask_value(value: str, proxy: bool, found: list[str] | None = None) -> str:
    """``value`` (one URL or proxy setting) with its credentials masked; ``found`` collects
    what was masked."""
    found = [] if found is None else found
    spans: list[tuple[int, int, str]] = []
    infos = _infos(value, proxy)
    for start, colon, at, _end in infos:
        if colon >= 0:
            spans.append((colon + 1, at, _MASK))
            found.append(value[colon + 1:at])
            if value[start:colon].startswith("sk-ant-"):
                spans.append((start, colon, mask_key(value[start:colon])))
                found.append(value[start:colon])
        elif _token_user(value[start:at]):
            spans.append((start, at, _MASK))
            found.append(value[start:at])
    if spans:  # the rest (path, query) by pattern: a credential-shaped URL may be in it
        auth_end = max(i[3] for i in infos)
        head = _apply(value[:auth_end], spans)
        rest = _RUN.sub(lambda m: _mask_run(m.group(), found, query=False), value[auth_end:])
        text = head + rest
    else:  # not a URL the parser reads: by pattern, the whole value as one run
        text = _mask_run(value, found, query=False)
    return _KEY_RE.sub(lambda m: mask_key(m.group(0)), _mask_query(text, _QUERY_WHOLE))


def _apply(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Replace each span (merged where they overlap: ``****`` wins)."""
    merged: list[list[Any]] = []
    for a, b, rep in sorted(spans):
        if merged and a < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], b)
            last[2] = _MASK if _MASK in (rep, last[2]) else last[2]
        else:
            merged.append([a, b, rep])
    for a, b, rep in reversed(merged):
        text = text[:a] + rep + text[b:]
    return text


# -- free text -----------------------------------------------------------------------------------
def _mask_query(url: str, pattern: re.Pattern[str] = _QUERY_RE) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)[1:-1].lower()
        return m.group(0) if name in _PLAIN_QUERY or not m.group(2) else m.group(1) + _MASK
    if "?" not in url:
        return url
    head, _, tail = url.partition("?")
    return head + pattern.sub(one, "?" + tail)


def _last_at_before_host(run: str) -> int:
    """The last ``@`` of ``run`` that a host could follow, or -1."""
    at = run.rfind("@")
    while at >= 0 and not (at + 1 < len(run) and (run[at + 1].isalnum() or run[at + 1] in "_[")):
        at = run.rfind("@", 0, at)
    return at


def _mask_run(run: str, found: list[str] | None = None, query: bool = True) -> str:
    """One run of non-space characters: credentials from the first ``scheme:user:`` (or
    ``user:``) to its last ``@``, a token as a user name, and (``query``) the query values
    of the URLs in it. Linear: each pattern is searched once, never from every position."""
    found = [] if found is None else found
    if "@" in run:
        at = run.rfind("@")
        m = _USERINFO_HEAD.search(run, 0, at)
        if m:
            found.append(run[m.end():at])
            run = run[:m.start(2)] + _user(m.group(2)) + ":" + _MASK + run[at:]
        m = _USERONLY_RE.search(run)
        if m:
            found.append(m.group(3))
            run = run[:m.start(3)] + _MASK + run[m.end(3):]
        at = _last_at_before_host(run)
        m = _BARE_HEAD.search(run, 0, at) if at > 0 else None
        if m:
            found.append(run[m.end():at])
            run = run[:m.start(1)] + _user(m.group(1)) + ":" + _MASK + run[at:]
    if query and "?" in run:
        m = _URL_START.search(run)
        if m:
            start = m.start(1)
            url = run[start:]
            closer = _CLOSERS.get(run[start - 1]) if start else None
            cut = url.rfind(closer) if closer else -1
            tail = url[cut:] if cut > 0 else ""
            run = run[:start] + _mask_query(url[:len(url) - len(tail)]) + tail
    return run


def mask_url(url: str) -> str:
    """``http://bob:hunter2@proxy:8080/?key=abc`` → ``http://bob:****@proxy:8080/?key=****``:
    split as Node's URL parser splits it, and by pattern where it does not parse."""
    return _mask_value(url, proxy=False)


def mask_proxy(raw: str) -> str:
    """A proxy variable's value fit to print: the password masked as both readings of the
    client split it (as written; with ``http://`` in front when it has no ``scheme://``),
    even where the value does not parse at all."""
    return _mask_value(raw, proxy=True)


def redact(text: str) -> str:
    """Mask every secret in free text: registered secrets, key-shaped strings, and the
    credentials and query values of URLs."""
    with _registry_lock:
        secrets = sorted(_registry, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, mask_key(s) if len(s) >= 20 else _MASK)
    if "@" in text or "?" in text:
        text = _RUN.sub(lambda m: _mask_run(m.group()), text)
    return _KEY_RE.sub(lambda m: mask_key(m.group(0)), text)


def redact_data(value: Any) -> Any:
    """Every string in a JSON-shaped value (keys too) through :func:`redact`: masking each
    string before it is serialised keeps the document valid JSON whatever a secret holds
    (a ``"`` or ``\\`` in a password is escaped in the JSON text, where a pattern would not
    find it)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value


def mask_secrets_in(value: str) -> str:
    """A user-supplied value fit for an error message."""
    return redact(value)


# -- mask first, cut after -----------------------------------------------------------------------
#: The masked forms a cut must not split (it cuts before them instead).
_MARKERS = re.compile(r"\*{4}|sk-ant-…[A-Za-z0-9_\-]{0,4}|…[A-Za-z0-9_\-]{4}")


def _drop_partial(text: str) -> str:
    """The end of a text that is only the head of something longer: its last word may be
    the start of a secret (a token, a key, a URL's password) and goes, and so does any
    start of a registered secret that spans words."""
    text = re.sub(r"\S+\Z", "", text)
    with _registry_lock:
        secrets = list(_registry)
    for s in secrets:
        for k in range(len(s) - 1, 1, -1):
            if text.endswith(s[:k]):
                text = text[:-k]
                break
    return text


def clip(text: str, width: int, whole: bool = True) -> str:
    """``text`` masked (:func:`redact`), then cut to at most ``width`` characters, the cut
    marked with ``…``. The cut never splits a mask (it falls before one), and ``whole=False``
    (``text`` is only the head of something longer: a line a reader cut) drops its
    partial last word first, which may be the start of a secret."""
    if not whole:
        text = _drop_partial(text) + "…"
    masked = redact(text)
    if len(masked) <= width:
        return masked
    cut = max(width - 1, 0)
    for m in _MARKERS.finditer(masked, max(0, cut - 16), cut + 16):
        if m.start() < cut < m.end():
            cut = m.start()
    return masked[:cut] + "…"
