"""The proxy Claude Code would use: its choice of variable, and its exact NO_PROXY rules.

The tunnel through it is :mod:`runbooks.probes.tunnel`.

How Claude Code 2.1.332 picks its proxy, as observed against the lab (tests/test_client_rules.py
runs every rule against the real client). Two layers decide, one after the other:

1. **The client's own choice**: the first *non-empty* of ``https_proxy``, ``HTTPS_PROXY``,
   ``http_proxy``, ``HTTP_PROXY`` (a value of spaces is not empty: it fails as a URL), for
   http:// and https:// base URLs alike. A value that is not a URL stops the client at once
   (``Invalid proxy URL in HTTPS_PROXY: "…" cannot be parsed as a URL.``), whatever NO_PROXY
   says. In ``-p`` mode an ``https_proxy``/``HTTPS_PROXY`` written ``host:port`` is read as
   ``http://host:port`` (not when a settings file set it); ``http_proxy`` gets no such
   repair. This choice is dropped for the
   target by a *simple* NO_PROXY check that reads ``no_proxy`` and ``NO_PROXY`` together
   (exact host, ``host:port``, ``.domain``; ``*`` only as the whole value).
2. **The runtime's proxy**, when the client's choice is dropped or there is none: by the
   target's scheme, ``http_proxy``/``HTTP_PROXY`` for http://, ``https_proxy``/``HTTPS_PROXY``
   for https://, then ``all_proxy``/``ALL_PROXY`` (a non-HTTP ``all_proxy`` is ignored).

Whatever the layer, the *full* NO_PROXY rules send the target direct; they read ``no_proxy``
if it is non-empty, else ``NO_PROXY``: entries separated by commas or white space (not
``;``), ``*`` anywhere, names matched case-insensitively with their subdomains at a label
boundary (``x``, ``.x``, ``*.x`` alike, one trailing dot ignored, no other globs),
``host:PORT`` for that port only (a URL without a port has its scheme's default), IP
addresses by value (IPv4-mapped IPv6 included), CIDR ranges for IP hosts, never a name for an
IP or the other way round, and nothing for an entry with a scheme. Loopback is not exempted.

A proxy with a scheme other than http/https (``socks5://``) fails only when it is used:
``API Error: Unable to connect to API (UnsupportedProxyProtocol)``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from ..addr import hostport, url_host
from ..masking import mask_proxy
from .environment import NO_PROXY_VARS, PROXY_VARS

__all__ = ["ProxyChoice", "choose_proxy", "no_proxy_entry"]

#: The client's own choice, in its order; all_proxy/ALL_PROXY come only from the runtime.
_CLIENT_VARS = PROXY_VARS[:4]
_ALL_VARS = PROXY_VARS[4:]
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}


@dataclass
class ProxyChoice:
    """The proxy in effect for one target, as Claude Code would pick it."""

    var: str  # the variable it came from
    shown: str  # its value, password masked
    host: str = ""
    port: int = 0
    username: str | None = None
    password: str | None = None
    error: str | None = None  # not usable: why
    note: str | None = None  # usable, but worth saying (no scheme, …)
    bypass: str | None = None  # the NO_PROXY entry that sends this target direct
    scheme: str = "http"  # https: the connection to the proxy itself is TLS
    bypass_var: str | None = None  # no_proxy or NO_PROXY: where ``bypass`` was read
    skipped: str | None = None  # the client's first choice, dropped for this target …
    skipped_by: str | None = None  # … by this NO_PROXY entry (then ``var`` is the fallback)
    ignored: str | None = None  # set, but Claude Code does not use it (why): direct

    @property
    def url(self) -> str:
        """``http(s)://[user:pass@]host:port`` for httpx; credentials unmasked, never shown."""
        auth = ""
        if self.username is not None:
            from urllib.parse import quote

            auth = quote(self.username, safe="") + ":" + quote(self.password or "", safe="") + "@"
        return f"{self.scheme}://{auth}{self.endpoint}"

    @property
    def endpoint(self) -> str:
        return hostport(self.host, self.port)

    @property
    def in_effect(self) -> bool:
        return self.error is None and self.bypass is None and self.ignored is None

    @property
    def tls(self) -> bool:
        """A TLS (``https://``) proxy: its tunnel is checked by the HTTP step (httpx)."""
        return self.scheme == "https"

    def to_dict(self) -> dict[str, Any]:
        return {"variable": self.var, "value": self.shown, "host": self.host or None,
                "port": self.port or None, "basic_auth": self.username is not None,
                "scheme": self.scheme, "error": self.error, "note": self.note,
                "bypassed_by": self.bypass, "bypass_variable": self.bypass_var,
                "skipped_variable": self.skipped, "skipped_by": self.skipped_by,
                "ignored": self.ignored}


# -- the choice ----------------------------------------------------------------------------------
def choose_proxy(env: Mapping[str, str], host: str, port: int, scheme: str | None = None,
                 settings_vars: Collection[str] | None = None) -> ProxyChoice | None:
    """The proxy Claude Code would use to reach ``scheme://host:port``, or None if no proxy
    variable is set.

    ``scheme`` (http or https) matters only in one corner (the runtime's fallback, see the
    module docstring); without it, it is taken from ``ANTHROPIC_BASE_URL`` when that names
    this host and port, else https (http for port 80). ``settings_vars`` names the variables
    a settings file's env block set (default: ``env.from_settings`` when ``env`` comes from
    :func:`runbooks.client.settings.load`): the client repairs a ``host:port`` value only when it
    comes from the shell."""
    scheme = (scheme or _guess_scheme(env, host, port)).lower()
    if settings_vars is None:
        settings_vars = getattr(env, "from_settings", ())
    host = _canonical_host(host)
    first = next((v for v in _CLIENT_VARS if env.get(v)), None)
    rich_var = next((v for v in NO_PROXY_VARS if env.get(v)), None)
    rich_entry = _full_match(env.get(rich_var, "") if rich_var else "", host, port)
    if first is None:
        fallback = _runtime_var(env, scheme)
        if fallback is None:
            return None
        choice = _runtime_choice(fallback, env[fallback])
        if rich_entry is not None:
            _bypass(choice, rich_entry, rich_var)
        return choice
    choice = _client_choice(first, env[first], env, first in settings_vars)
    if choice.error is not None:  # the client stops at launch, NO_PROXY or not
        return choice
    if rich_entry is not None:
        return _bypass(choice, rich_entry, rich_var)
    simple_entry, simple_var = _simple_match(env, host, port, scheme)
    if simple_entry is None:
        return _unsupported(choice)
    fallback = _runtime_var(env, scheme)
    if fallback is None:
        return _bypass(choice, simple_entry, simple_var)
    if fallback == first:  # the runtime picks the same variable: nothing changes
        return _unsupported(choice)
    out = _runtime_choice(fallback, env[fallback])
    out.skipped, out.skipped_by = first, simple_entry
    if out.ignored is None:
        out.note = (f"{simple_var} entry {simple_entry!r} drops {first} for this target, and "
                    f"Claude Code 2.1.332 then uses {fallback} instead (its {scheme}:// "
                    "proxy): set NO_PROXY and no_proxy alike, or only one of them")
    return _unsupported(out)


def _guess_scheme(env: Mapping[str, str], host: str, port: int) -> str:
    base = (env.get("ANTHROPIC_BASE_URL") or "").strip()
    try:
        parts = urlsplit(base)
        if parts.hostname and parts.hostname.lower() == host.lower().strip("[]") and (
                parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())) == port:
            return parts.scheme.lower()
    except ValueError:
        pass
    return "http" if port == 80 else "https"


def _bypass(choice: ProxyChoice, entry: str, var: str | None) -> ProxyChoice:
    choice.bypass, choice.bypass_var = entry, var
    # only a runtime value can carry an error here (the client's own stops it earlier): the
    # runtime never reads its proxy for a target that goes direct
    choice.error = None
    return choice


def _unsupported(choice: ProxyChoice) -> ProxyChoice:
    """A proxy of another scheme fails only once it is used."""
    if choice.error is None and choice.scheme not in ("http", "https") and not choice.ignored:
        kind = "SOCKS proxies" if choice.scheme.startswith("socks") else \
            f"{choice.scheme}:// proxies (not an HTTP proxy)"
        choice.error = (f"{choice.var}={choice.shown}: Claude Code does not support {kind}; it "
                        "stops with `API Error: Unable to connect to API "
                        "(UnsupportedProxyProtocol)`")
    return choice


def _client_choice(var: str, raw: str, env: Mapping[str, str],
                   from_settings: bool) -> ProxyChoice:
    choice = ProxyChoice(var, mask_proxy(raw))
    value = raw
    if var in ("https_proxy", "HTTPS_PROXY") and not from_settings and not env.get(
            "CLAUDE_CODE_DISABLE_PROXY_SCHEME_REPAIR"):
        value = _repair_scheme(raw)
        if value != raw:
            choice.note = (f"{var} has no scheme: Claude Code 2.1.332 reads it as http:// in "
                           "-p mode, other tools may not; write it as http://host:port")
    parsed = _parse_url(value)
    if parsed is None or not parsed.host:
        shown = _CONTROL.sub("", choice.shown)
        choice.error = (f'Invalid proxy URL in {var}: "{shown}" cannot be parsed as a URL. '
                        "(Claude Code 2.1.332 stops at launch with this message.)")
        return choice
    return _fill(choice, parsed)


def _runtime_var(env: Mapping[str, str], scheme: str) -> str | None:
    pair = ("https_proxy", "HTTPS_PROXY") if scheme == "https" else ("http_proxy", "HTTP_PROXY")
    return next((v for v in (*pair, *_ALL_VARS) if env.get(v)), None)


def _runtime_choice(var: str, raw: str) -> ProxyChoice:
    """A proxy as the runtime reads it: no scheme means http://."""
    choice = ProxyChoice(var, mask_proxy(raw))
    parsed = _parse_url(raw if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", raw.strip())
                        else "http://" + raw.strip())
    if parsed is None or not parsed.host:
        choice.error = f'{var}="{_CONTROL.sub("", choice.shown)}" cannot be parsed as a URL'
        return choice
    _fill(choice, parsed)
    if var in _ALL_VARS and choice.scheme not in ("http", "https"):
        choice.ignored = (f"{var} is a {choice.scheme}:// URL, which Claude Code ignores: it "
                          "connects directly")
        choice.note = choice.ignored
    return choice


def _fill(choice: ProxyChoice, parsed: _URL) -> ProxyChoice:
    choice.scheme = parsed.scheme
    choice.host = parsed.host
    choice.port = parsed.port if parsed.port is not None else _DEFAULT_PORTS.get(
        parsed.scheme, 1080 if parsed.scheme.startswith("socks") else 0)
    if parsed.username or parsed.password:
        choice.username = unquote(parsed.username)
        choice.password = unquote(parsed.password)
    return choice


# -- NO_PROXY ------------------------------------------------------------------------------------
def no_proxy_entry(no_proxy: str, host: str, port: int, scheme: str | None = None) -> str | None:
    """The entry of one NO_PROXY list that keeps ``host:port`` from the proxy, under the
    client's full rules (see the module docstring), else under its simple check."""
    host = _canonical_host(host)
    entry = _full_match(no_proxy, host, port)
    if entry is None:
        entry, _ = _simple_match({"NO_PROXY": no_proxy}, host, port,
                                 scheme or ("http" if port == 80 else "https"))
    return entry


def _entries(text: str) -> list[str]:
    return [e for e in re.split(r"[,\s]+", text) if e]


def _full_match(no_proxy: str, host: str, port: int) -> str | None:
    for entry in _entries(no_proxy):
        if entry == "*" or _full_entry_matches(entry.lower(), host, port):
            return entry
    return None


def _full_entry_matches(entry: str, host: str, port: int) -> bool:
    if "://" in entry:
        return False
    eport: str | None = None
    if entry.startswith("["):
        inside, close, rest = entry[1:].partition("]")
        if not close:
            return False
        name = inside + rest if rest.startswith("/") else inside
        if rest.startswith(":"):
            eport = rest[1:]
        elif rest and not rest.startswith("/"):
            return False
    elif entry.count(":") == 1:
        name, eport = entry.split(":")
    else:
        name = entry  # a bare IPv6 address, or a name
    if eport is not None and not (_digits(eport) and int(eport) == port):
        return False
    target = _ip(host)
    if "/" in name:  # a CIDR range: IP hosts only, never with a port
        address, _, prefix = name.partition("/")
        if eport is not None or target is None or not _digits(prefix):
            return False
        try:
            network = ipaddress.ip_network(f"{address}/{int(prefix)}", strict=False)
        except ValueError:
            return False
        return _in_network(target, network)
    ip = _ip(name)
    if ip is not None or target is not None:  # an address matches only the same address
        return ip is not None and target is not None and _unmapped(ip) == _unmapped(target)
    if name.startswith("*."):
        name = name[2:]
    elif name.startswith("."):
        name = name[1:]
    name = name.removesuffix(".")
    if not name or "*" in name:
        return False
    h = host.lower()
    h = h.removesuffix(".")
    return h == name or h.endswith("." + name)


def _simple_match(env: Mapping[str, str], host: str, port: int,
                  scheme: str) -> tuple[str | None, str | None]:
    """The client's own check: ``no_proxy`` and ``NO_PROXY`` read together; exact host,
    ``host:port`` (the host as a URL spells it: ``[::1]:443``), ``.domain``; ``*`` only as
    the whole value of either variable."""
    lower, upper = env.get("no_proxy", ""), env.get("NO_PROXY", "")
    if lower == "*" or upper == "*":
        return "*", "no_proxy" if lower == "*" else "NO_PROXY"
    spelled = url_host(host).lower()
    with_port = f"{spelled}:{port}"
    for var, text in (("no_proxy", lower), ("NO_PROXY", upper)):
        for entry in _entries(text):
            e = entry.lower()
            if ":" in e:
                hit = e == with_port
            elif e.startswith("."):
                hit = spelled == e[1:] or spelled.endswith(e)
            else:
                hit = spelled == e
            if hit:
                return entry, var
    return None, None


def _digits(text: str) -> bool:
    return bool(text) and text.isascii() and text.isdigit()


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _unmapped(ip):
    mapped = getattr(ip, "ipv4_mapped", None)
    return mapped if mapped is not None else ip


def _in_network(ip, network) -> bool:
    ip = _unmapped(ip)
    if ip.version == network.version:
        return ip in network
    if ip.version == 4:  # an IPv4 host inside an IPv4-mapped IPv6 range
        return ipaddress.IPv6Address(f"::ffff:{ip}") in network
    return False


def _canonical_host(host: str) -> str:
    """The host as a URL parser leaves it: lower case, no brackets, ``127.1`` → ``127.0.0.1``."""
    h = host.strip("[]").lower()
    if ":" not in h and _ends_in_number(h):
        v4 = _ipv4(h)
        if v4 is not None:
            return v4
    return h


# -- URLs, as Claude Code's runtime parses them (WHATWG URL Standard, the parts a proxy uses) --
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPECIAL = {"http", "https", "ws", "wss", "ftp", "file"}
_FORBIDDEN_HOST = set("\x00\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN = _FORBIDDEN_HOST | {chr(c) for c in range(0x20)} | {"%", "\x7f"}
#: host:port with nothing else, the shape Claude Code repairs to http://host:port
_HOST_PORT = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?"
                        r"(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*):[1-9]\d{0,4}/?$", re.IGNORECASE)


@dataclass(frozen=True)
class _URL:
    scheme: str
    host: str  # IPv6 without brackets; "" when the URL has none
    port: int | None
    username: str = ""
    password: str = ""


def _repair_scheme(raw: str) -> str:
    m = _HOST_PORT.match(raw) if len(raw) <= 300 else None
    if m is None or _hostname(raw):
        return raw
    fixed = "http://" + raw
    return fixed if _hostname(fixed) == m.group(1).lower() else raw


def _hostname(value: str) -> str:
    """``new URL(value).hostname`` (IPv6 in brackets), or "" when it has none or fails."""
    u = _parse_url(value)
    return url_host(u.host) if u is not None and u.host else ""


def _parse_url(value: str) -> _URL | None:
    """Parse ``value`` as an absolute URL, or None where a WHATWG parser fails."""
    s = value.strip("".join(map(chr, range(0x21))))
    s = re.sub(r"[\t\n\r]", "", s)
    m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", s)
    if m is None:
        return None
    scheme, rest = m.group(1).lower(), s[m.end():]
    special = scheme in _SPECIAL
    if special:
        rest = rest.lstrip("/\\")
        stop = re.search(r"[/\\?#]", rest)
    elif rest.startswith("//"):
        rest = rest[2:]
        stop = re.search(r"[/?#]", rest)
    else:
        return _URL(scheme, "", None)  # no authority: a URL without a host
    authority = rest[:stop.start()] if stop else rest
    userinfo, at, hostport_ = authority.rpartition("@")
    username, _, password = userinfo.partition(":") if at else ("", "", "")
    if hostport_.startswith("["):
        inside, close, after = hostport_[1:].partition("]")
        if not close or (after and not after.startswith(":")):
            return None
        try:
            host = str(ipaddress.IPv6Address(inside))
        except ValueError:
            return None
        port_text = after[1:] if after else ""
        has_port = bool(after)
    else:
        raw_host, colon, port_text = hostport_.partition(":")
        has_port = bool(colon)
        host = _parse_host(raw_host, special)
        if host is None:
            return None
    if special and not host and scheme != "file":
        return None
    port = None
    if has_port and port_text:
        if not _digits(port_text) or int(port_text) > 65535:
            return None
        port = int(port_text)
    return _URL(scheme, host, port, username, password)


def _parse_host(text: str, special: bool) -> str | None:
    if not special:  # an opaque host
        return None if any(c in _FORBIDDEN_HOST for c in text) else text
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError:
        return None
    try:
        labels = [_to_ascii(label) for label in decoded.split(".")]
    except ValueError:
        return None
    host = ".".join(labels).lower()
    if any(c in _FORBIDDEN_DOMAIN for c in host):
        return None
    if _ends_in_number(host):
        return _ipv4(host)
    return host


def _to_ascii(label: str) -> str:
    if label.isascii():
        if label.lower().startswith("xn--") and not (
                label[4:] and label[4:].encode().decode("punycode")):
            raise ValueError("bad punycode")  # UnicodeError (a ValueError) when it fails
        return label
    return label.encode("idna").decode("ascii")


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    return (last != "" and last.isascii() and last.isdigit()) or bool(
        re.fullmatch(r"0[xX][0-9a-fA-F]*", last))


def _ipv4(host: str) -> str | None:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        if re.fullmatch(r"0[xX][0-9a-fA-F]*", part):
            n = int(part[2:] or "0", 16)
        elif re.fullmatch(r"0[0-7]+", part):
            n = int(part, 8)
        elif _digits(part):
            n = int(part)
        else:
            return None
        numbers.append(n)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        return None
    value = numbers[-1] + sum(n * 256 ** (3 - i) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))
