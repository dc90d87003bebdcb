"""Masking for anything secret-shaped: keys, tokens, passwords and query values in URLs.

The rule: a secret is never printed, logged or stored; at most its masked form
(``sk-ant-…abcd``, ``http://bob:****@proxy:8080``) appears. Masking never depends on a
value parsing: a URL too broken for :func:`urllib.parse.urlsplit` (a password with ``/``,
``#`` or ``?`` in it, a bad port) is masked by pattern, the same way.

Three layers, each enough on its own:

1. values are masked where they are first put into words (:func:`mask_url`,
   :func:`mask_proxy`);
2. the secrets of the environment a run uses are registered (:func:`register_secret`) and
   every renderer passes its text through :func:`redact`, which masks them wherever they
   turn up, along with any key-shaped text and any URL credentials or query values;
3. the tests plant canaries in every input and look for them in every output.
"""

from __future__ import annotations

import re
import threading

__all__ = ["SECRET_VARS", "mask_key", "mask_proxy", "mask_secrets_in", "mask_url", "redact",
           "register_env", "register_secret"]

#: Environment variables whose values are secrets, wherever they come from.
SECRET_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN",
               "CLAUDE_CODE_CLIENT_KEY_PASSPHRASE", "AWS_SECRET_ACCESS_KEY",
               "AWS_SESSION_TOKEN", "AWS_BEARER_TOKEN_BEDROCK", "ANTHROPIC_FOUNDRY_API_KEY")

_KEY_RE = re.compile(r"sk-ant-[A-Za-z0-9_\-]{4,}")
# scheme://user:password@ — the password runs to the last "@" of the token, so one with
# "/", "#", "?" or "@" in it (which makes the URL unparsable) is still masked whole
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s:@/'\"<>]*):([^\s'\"<>]*)@")
# scheme://token@ (no colon): a user name that is a token (GitHub-style) is masked too
_USERONLY_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^\s:@/'\"<>]{16,})@")
# user:password@host with no scheme (how proxy values are often written)
_BARE_USERINFO_RE = re.compile(r"(?<![\w/:@.\-])([\w.\-]+):(?!//)([^\s'\"<>@]+)@(?=[\w\[])")
_URL_RE = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+")
_QUERY_RE = re.compile(r"([?&;][^=&#\s]+=)([^&#\s]*)")
#: Query parameters that are never secret and help a reader (``/v1/messages?beta=true``).
_PLAIN_QUERY = {"beta", "continue"}
_MASK = "****"

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
        if name.lower().endswith("_proxy") or name == "ANTHROPIC_BASE_URL":
            text = value if "://" in value else "http://" + value
            for m in _USERINFO_RE.finditer(text):
                register_secret(m.group(3))
            for m in _USERONLY_RE.finditer(text):
                register_secret(m.group(2))
            for m in _QUERY_RE.finditer(text.partition("?")[2] and "?" + text.partition("?")[2]):
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


def _mask_query(url: str) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1)[1:-1].lower()
        return m.group(0) if name in _PLAIN_QUERY or not m.group(2) else m.group(1) + _MASK
    if "?" not in url:
        return url
    head, _, tail = url.partition("?")
    return head + _QUERY_RE.sub(one, "?" + tail)


def _mask_userinfo(text: str) -> str:
    text = _USERINFO_RE.sub(lambda m: f"{m.group(1)}{_user(m.group(2))}:{_MASK}@", text)
    text = _USERONLY_RE.sub(lambda m: f"{m.group(1)}{_MASK}@", text)
    return _BARE_USERINFO_RE.sub(lambda m: f"{_user(m.group(1))}:{_MASK}@", text)


def _user(name: str) -> str:
    return mask_key(name) if name.startswith("sk-ant-") else name


def mask_url(url: str) -> str:
    """``http://bob:hunter2@proxy:8080/?key=abc`` → ``http://bob:****@proxy:8080/?key=****``.
    Works on strings that do not parse as URLs."""
    return _KEY_RE.sub(lambda m: mask_key(m.group(0)), _mask_query(_mask_userinfo(url)))


def mask_proxy(raw: str) -> str:
    """A proxy variable's value fit to print: the password masked even where the value
    has no scheme (``bob:pw@proxy:8080``) or does not parse at all."""
    if "://" not in raw and "@" in raw:
        return mask_url("http://" + raw)[len("http://"):]
    return mask_url(raw)


def redact(text: str) -> str:
    """Mask every secret in free text: registered secrets, key-shaped strings, and the
    credentials and query values of URLs."""
    with _registry_lock:
        secrets = sorted(_registry, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, mask_key(s) if len(s) >= 20 else _MASK)
    text = _URL_RE.sub(lambda m: _mask_query(m.group(0)), _mask_userinfo(text))
    return _KEY_RE.sub(lambda m: mask_key(m.group(0)), text)


def mask_secrets_in(value: str) -> str:
    """A user-supplied value fit for an error message."""
    return redact(value)
