"""The cause-code catalogue: the vocabulary of every diagnosis.

Every finding names exactly one code from ``CAUSES``. The code is the stable
public name (``"tls.untrusted_issuer"``); titles and wording may change, codes
never do: add, never rename. The site's error index, the anchors on each page,
and ``runbooks triage`` are generated from this table, so it is the one place
to edit.

The tree below is how the codes group by where in a connection they strike;
lower-level exceptions (socket, ssl, httpx) are translated into these codes
at one boundary, :mod:`runbooks.probes.classify`::

    connection
    ├── dns.*        name → address            (dns.nxdomain, dns.timeout)
    ├── tcp.*        address → connected socket (refused, timeout, unreachable, reset)
    │   └── ipv6.broken   one family fails while the other works
    ├── proxy.*      the configured proxy       (bad_url, unreachable, auth_required, rejected,
    │                                             bypassed, shadowed)
    ├── tls.*        socket → trusted channel   (untrusted_issuer, hostname_mismatch, expired,
    │                                             not_yet_valid, handshake_failed)
    ├── http.*       channel → API answer       (not_api, first_byte_timeout, stream_stall,
    │                                             stream_buffered, server_error)
    ├── network.intermittent  some attempts fail while others succeed (sampled)
    ├── auth.*       the credential             (missing, malformed, invalid, expired, forbidden,
    │                                             conflict, helper_failed, billing)
    ├── ratelimit.*, overloaded                  the service says "not now"
    ├── config.*     Claude Code's own settings (timeout_too_low, timeout_invalid, timeout_disabled,
    │                                             ca_file_invalid, settings_invalid)
    └── status.*     the public status page     (incident, unreachable)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

__all__ = ["CAUSES", "MESSAGES", "PAGES", "SITE_URL", "Cause", "cause", "doc_url", "match_message",
           "site_url"]


@dataclass(frozen=True)
class Cause:
    code: str
    title: str
    page: str  # the site page (relative to docs/) that explains it; the anchor is the code
    runbook: str  # the runbook that diagnoses (and, where it can, fixes) it
    fix: str  # the one-line fix hint shown under a failing check
    signatures: tuple[str, ...] = field(default=())  # messages users see that point here

    @property
    def anchor(self) -> str:
        return self.code


#: The knowledge base's public address. The one setting both the site (mkdocs ``site_url``,
#: set from here by the site hooks) and every ``docs:`` link the CLI prints are built from.
SITE_URL = "https://claude-code-runbooks.github.io/runbooks/"

#: The site's fix pages, in reading order.
PAGES: dict[str, str] = {
    "network.md": "Network",
    "auth.md": "Authentication",
    "timeouts.md": "Timeouts",
    "proxy-tls.md": "Proxy & TLS",
    "rate-limits.md": "Rate limits & server errors",
    "recovery.md": "Recovery",
    "debugging.md": "Debugging",
    "prevention.md": "Prevention",
}


def _c(code, title, page, runbook, fix, *signatures) -> Cause:
    return Cause(code, title, page, runbook, fix, tuple(signatures))


_NET, _PROXY, _AUTH, _TIME, _RATE, _DEBUG = (
    "network.md",
    "proxy-tls.md",
    "auth.md",
    "timeouts.md",
    "rate-limits.md",
    "debugging.md",
)

CAUSES: dict[str, Cause] = {
    c.code: c
    for c in [
        _c("dns.nxdomain", "The API host name does not resolve", _NET, "network",
           "Check the host name in ANTHROPIC_BASE_URL, then your resolver: "
           "`nslookup api.anthropic.com`; on a VPN, check its DNS settings.",
           "getaddrinfo ENOTFOUND api.anthropic.com", "ENOTFOUND",
           "Can't reach the API server — check your internet or DNS (ENOTFOUND)"),
        _c("dns.timeout", "The resolver does not answer in time", _NET, "network",
           "Your resolver is slow or unreachable: check /etc/resolv.conf (or the OS DNS "
           "settings), the VPN's DNS, or try another resolver.",
           "getaddrinfo EAI_AGAIN api.anthropic.com", "EAI_AGAIN"),
        _c("tcp.refused", "The connection is actively refused", _NET, "network",
           "Nothing accepts connections there: check the port in ANTHROPIC_BASE_URL, "
           "or a firewall/proxy that rejects outbound HTTPS.",
           "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)",
           "connect ECONNREFUSED", "ECONNREFUSED",
           # Claude Code's --debug log: `[ERROR] Connection error details: code=ECONNREFUSED`
           "code=ECONNREFUSED"),
        _c("tcp.timeout", "Connection attempts go unanswered", _NET, "network",
           "SYNs are dropped: a firewall, a dead route, or a network that needs a proxy. "
           "Allow outbound 443 to the API host, or set HTTPS_PROXY.",
           "connect ETIMEDOUT", "ETIMEDOUT",
           # a popular guide's headline: v2.1.332 prints it for no timeout the lab reproduces,
           # and 120000 ms is the Bash tool's command limit; read as the connection timeout its
           # words name (the doctor confirms or clears the network), explained under this code
           "Connection timeout after 120000ms",
           # what v2.1.332 prints when SYNs are dropped: it cannot tell this from a silent server
           "Request timed out."),
        _c("tcp.unreachable", "No route to the API host", _NET, "network",
           "The OS has no route there: check the default route and any VPN "
           "(`ip route get <addr>` / `route -n get default`).",
           "EHOSTUNREACH", "ENETUNREACH"),
        _c("tcp.reset", "The connection is reset", _NET, "network",
           "Something on the path kills the connection: a firewall, a proxy, or a "
           "security agent. Compare with another network.",
           "ECONNRESET", "socket hang up"),
        _c("ipv6.broken", "IPv6 fails while IPv4 works", _NET, "network",
           "Fix IPv6 on this network or VPN, or turn IPv6 off on the interface; "
           "confirm with `curl -6 -I https://api.anthropic.com`.",
           "ECONNRESET", "connect EHOSTUNREACH 2607:6bc0::10:443"),
        _c("tls.untrusted_issuer", "The certificate chain ends in an untrusted CA", _PROXY,
           "network",
           "A TLS-inspecting proxy re-signs traffic: trust its root CA. `runbooks fix` finds it "
           "(in the chain or the system store) and trusts it with `--trust-ca SHA256` once IT "
           "confirms the fingerprint; with no copy on this machine, ask IT for it and run "
           "`runbooks fix --ca-file ca.pem`. Never set NODE_TLS_REJECT_UNAUTHORIZED=0.",
           "SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
           "unable to get local issuer certificate", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
           "SSL certificate verification failed"),
        _c("tls.hostname_mismatch", "The certificate is not valid for the host name", _PROXY,
           "network",
           "The server presents a certificate for another name: check ANTHROPIC_BASE_URL's "
           "host, or a proxy that intercepts without re-signing for the right name.",
           "ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match certificate's altnames",
           "SSL certificate hostname mismatch"),  # v2.1.332's words
        _c("tls.expired", "The certificate has expired", _PROXY, "network",
           "The server (or an inspecting proxy) presents an expired certificate; check the "
           "system clock, then the gateway's certificate.",
           "CERT_HAS_EXPIRED", "certificate has expired"),
        _c("tls.not_yet_valid", "The certificate is not valid yet", _PROXY, "network",
           "Usually this machine's clock is wrong: enable NTP "
           "(`timedatectl set-ntp true` / `sntp -sS time.apple.com` / `w32tm /resync`).",
           "CERT_NOT_YET_VALID", "certificate is not yet valid"),
        _c("tls.handshake_failed", "The TLS handshake fails", _PROXY, "network",
           "The server or something in between does not complete TLS: check for plain "
           "HTTP on an https URL, a port that is not TLS, or an appliance that resets it.",
           "EPROTO", "ERR_SSL_WRONG_VERSION_NUMBER",
           "Client network socket disconnected before secure TLS connection was established"),
        _c("proxy.bad_url", "A proxy variable is not a usable URL", _PROXY, "network",
           "Write the proxy as a full URL: HTTPS_PROXY=http://proxy.corp:8080 "
           "(scheme included; no SOCKS).",
           "ERR_INVALID_URL", "Invalid proxy URL", "UnsupportedProxyProtocol"),
        _c("proxy.unreachable", "The configured proxy cannot be reached", _PROXY, "network",
           "Check the proxy host and port, or unset the proxy variables if you are off "
           "the corporate network.",
           # v2.1.332 says the same for a refusing proxy as for a refusing API host
           "Connection refused — a firewall or proxy may be blocking it"),
        _c("proxy.auth_required", "The proxy wants credentials (407)", _PROXY, "network",
           "Put basic credentials in the URL (http://user:pass@proxy:8080); for NTLM or "
           "Kerberos run a local auth proxy (cntlm, px) or an LLM gateway.",
           "407 Proxy Authentication Required",
           # v2.1.332 says this for 407 and 403 alike
           "ERR_PROXY_TUNNEL"),
        _c("proxy.rejected", "The proxy refuses to tunnel to the API", _PROXY, "network",
           "Ask for api.anthropic.com (and claude.ai, platform.claude.com) to be allowed "
           "through the proxy.",
           "ERR_PROXY_TUNNEL"),
        _c("proxy.bypassed", "NO_PROXY sends the API around the proxy", _PROXY, "network",
           "Remove the API host (or `*`) from NO_PROXY if this network only reaches the "
           "internet through the proxy."),
        _c("proxy.shadowed", "A shell proxy variable shadows the settings file's", _PROXY,
           "network",
           "Claude Code reads https_proxy before HTTPS_PROXY: unset the lowercase shell "
           "variable, or set the same spelling in the settings file's env block."),
        _c("http.not_api", "Something answers, but it is not the API", _NET, "network",
           "A captive portal, a web page or a wrong ANTHROPIC_BASE_URL answers instead of "
           "the API: log in to the network, or fix the base URL.",
           "Unexpected token '<'", "<!DOCTYPE html>",
           # v2.1.332, for any 200 that is not a message: empty, HTML, text, other JSON
           "API returned an empty or malformed response"),
        _c("http.first_byte_timeout", "Connected, but no answer arrives", _TIME, "network",
           "The connection is made but nothing comes back: a proxy or gateway holding the "
           "request, or an overloaded server. Check the path; raise API_TIMEOUT_MS only for "
           "slow gateways.",
           "Request timed out.", "API Error: Request timed out",
           # the stream idle watchdog's words (v2.1.332): a silent server or a held stream
           "No data arrived for more than"),
        _c("http.stream_stall", "A streaming answer starts, then stops", _TIME, "timeouts",
           "A middlebox drops long-lived streams or the server stalls: upgrade Claude Code "
           "(stream retries), then `claude -c` to pick the conversation up.",
           "API Error: terminated", "Socket is closed", "No data arrived for more than"),
        _c("http.stream_buffered", "A proxy or gateway buffers the streamed answer", _TIME,
           "timeouts",
           "Something on the path holds the event stream and delivers it at the end: turn off "
           "response buffering for text/event-stream on the proxy or gateway.",
           "No data arrived for more than"),
        _c("http.server_error", "The API answers with a server error (5xx)", _RATE,
           "rate-limits",
           "Usually transient: Claude Code retries; check https://status.claude.com.",
           "API Error: 500", "504 Gateway Time-out", "api_error"),
        _c("auth.missing", "No credential is configured", _AUTH, "auth",
           "Run `claude` and /login, or set ANTHROPIC_API_KEY (or apiKeyHelper).",
           "Not logged in · Please run /login", "x-api-key header is required"),
        _c("auth.malformed", "The credential has a visible defect", _AUTH, "auth",
           "Re-copy the key without quotes, spaces or newlines; keys start with sk-ant-.",
           # v2.1.332 refuses a key with an ellipsis or zero-width character before sending
           # (the long forms outrank "Invalid API key", which the same message contains)
           "Invalid X-Api-Key header value from ANTHROPIC_API_KEY",
           "Invalid Authorization header value from ANTHROPIC_AUTH_TOKEN",
           "Invalid Authorization header value from CLAUDE_CODE_OAUTH_TOKEN",
           "Invalid X-Api-Key header value", "Invalid Authorization header value"),
        _c("auth.invalid", "The API rejects the credential (401)", _AUTH, "auth",
           "The key is revoked or wrong: create a new one in the Console, or remove a stale "
           "ANTHROPIC_API_KEY so your login is used.",
           "Invalid API key · Fix external API key", "authentication_error", "invalid x-api-key",
           "Failed to authenticate. API Error: 401",
           # v2.1.332: a Bearer token the API rejects reads like no credential at all
           "Not logged in · Please run /login"),
        _c("auth.expired", "The login's OAuth token has expired (401)", _AUTH, "auth",
           "Sign in again: run `claude`, then /login (or `claude auth login`); a login's "
           "token is renewed by signing in, not in the Console. A CLAUDE_CODE_OAUTH_TOKEN "
           "from `claude setup-token` does not renew: make a new one with `claude "
           "setup-token`, or unset it to use the /login.",
           # the API's message; v2.1.332 tells it from other 401s by these words
           "OAuth token has expired", "OAuth access token has expired"),
        _c("auth.forbidden", "The credential lacks permission (403)", _AUTH, "auth",
           "The key's workspace or organisation may not use this model or endpoint.",
           "permission_error", "API Error: 403"),
        _c("auth.conflict", "An unexpected credential wins", _AUTH, "auth",
           "A stray ANTHROPIC_API_KEY beats your subscription login: `unset ANTHROPIC_API_KEY`, "
           "then check /status."),
        _c("auth.helper_failed", "apiKeyHelper fails or prints no usable key", _AUTH, "auth",
           "Run the apiKeyHelper command by hand: it must exit 0 and print only the key.",
           "apiKeyHelper failed", "Your apiKeyHelper script is failing"),
        _c("auth.billing", "The account cannot be billed (402)", _AUTH, "auth",
           "Add credit or set up billing in the Console (Plans & Billing).",
           "billing_error", "credit balance is too low"),
        _c("ratelimit.exceeded", "Rate limited (429)", _RATE, "rate-limits",
           "Wait for retry-after; for unattended runs set CLAUDE_CODE_RETRY_WATCHDOG=1.",
           "rate_limit_error", "429 Too Many Requests", "Request rejected (429)"),
        _c("ratelimit.spend_cap", "A spend or usage cap is reached (429, no retry-after)", _RATE,
           "rate-limits", "Raise the spend limit in the Console or wait for the period to reset.",
           "You have reached your specified API usage limits"),
        _c("overloaded", "The service is overloaded (529)", _RATE, "rate-limits",
           "Load on Anthropic's side, not your quota: wait, check status.claude.com, or "
           "switch model with /model.",
           "overloaded_error", "Repeated 529 Overloaded errors", "529"),
        _c("config.timeout_too_low", "API_TIMEOUT_MS is too low", _TIME, "timeouts",
           "API_TIMEOUT_MS is in milliseconds (default 600000): `export API_TIMEOUT_MS=600000`.",
           "set API_TIMEOUT_MS above"),
        _c("config.timeout_invalid", "A timeout or retry setting is not a valid number", _TIME,
           "timeouts",
           "Use plain milliseconds, e.g. API_TIMEOUT_MS=600000 (max 2147483647)."),
        _c("config.timeout_disabled", "API_TIMEOUT_MS turns the request timeout off", _TIME,
           "timeouts",
           "0, negative, hex and values above 2147483647 mean no request timeout at all: use "
           "plain milliseconds, e.g. API_TIMEOUT_MS=600000."),
        _c("config.ca_file_invalid", "NODE_EXTRA_CA_CERTS names an unusable file", _PROXY,
           "network",
           "Point NODE_EXTRA_CA_CERTS at a readable PEM file (-----BEGIN CERTIFICATE-----).",
           "Warning: Ignoring extra certs from"),
        _c("config.settings_invalid", "A Claude Code settings file is invalid", _DEBUG,
           "debugging",
           "Fix the JSON in the named settings file (a trailing comma is the usual culprit)."),
        _c("status.incident", "The status page reports an incident", _RATE, "rate-limits",
           "Nothing to fix locally: follow https://status.claude.com."),
        _c("status.unreachable", "The status page cannot be reached", _RATE, "rate-limits",
           "Informational: the status page itself is blocked or down from here."),
        _c("network.intermittent", "Some attempts fail while others succeed", _TIME, "timeouts",
           "The path fails now and then: the report names the failing phase; compare "
           "networks (VPN on/off, Wi-Fi/wired) and see the page for that phase."),
    ]
}


#: What users see, whole, where a signature above is only a part of it: the error index shows
#: each of these once (with every cause triage ranks for it) instead of its parts, and a part
#: nobody sees printed on its own (``set API_TIMEOUT_MS above``) is not an entry of its own.
#: As Claude Code v2.1.332 (and Node, for the CA file) prints them; every lab scenario's
#: ``client_message`` is here, and the client tests check those against the real client.
#: ``N`` is a number that varies; ``…`` a path or a reason.
MESSAGES: tuple[str, ...] = (
    "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)",
    ("Request timed out. If the API is slow to answer, or a proxy or gateway holds responses, "
     "set API_TIMEOUT_MS above N."),
    "Request timed out. No data arrived for more than 5 minutes.",
    ("API Error: Unable to connect to API: SSL certificate verification failed "
     "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)"),
    ("API Error: Unable to connect to API: Self-signed certificate detected "
     "(SELF_SIGNED_CERT_IN_CHAIN)"),
    "API Error: Unable to connect to API: SSL certificate has expired",
    "API Error: Unable to connect to API: SSL certificate hostname mismatch",
    "API Error: Unable to connect to API (EPROTO)",
    "API Error: Unable to connect to API (UnsupportedProxyProtocol)",
    "API Error: Couldn't connect through your proxy (ERR_PROXY_TUNNEL)",
    ("API Error: API returned an empty or malformed response (HTTP 200) — check for a proxy or "
     "gateway intercepting the request."),
    "Warning: Ignoring extra certs from `…`, load failed: …",
    "Invalid API key · Fix external API key",
    "Not logged in · Please run /login",
    ("Failed to authenticate. API Error: 403 Your API key does not have permission to use the "
     "specified resource."),
    "Credit balance is too low",
    ("Your apiKeyHelper script is failing · This usually means you need to re-authenticate with "
     "your provider · Run /status to see the script's error output"),
    ("API Error: Request rejected (429) · Number of requests has exceeded your per-minute rate "
     "limit"),
    "API Error: Request rejected (429) · You have reached your specified API usage limits.",
    ("API Error: 529 Overloaded. This is a server-side issue, usually temporary — try again in a "
     "moment."),
    ("API Error: 500 Internal server error. This is a server-side issue, usually temporary — try "
     "again in a moment."),
    ("API Error: 504 Gateway Time-out. This is a server-side issue, usually temporary — try again "
     "in a moment."),
)


def cause(code: str) -> Cause:
    """The catalogue entry for ``code``; a KeyError names the unknown code."""
    try:
        return CAUSES[code]
    except KeyError:
        raise KeyError(f"unknown cause code {code!r}") from None


def site_url() -> str:
    """The knowledge base's public address, ending in ``/``: :data:`SITE_URL`, or
    ``RUNBOOKS_DOCS_URL`` where a fork, a mirror or a local ``mkdocs serve`` lives."""
    return (os.environ.get("RUNBOOKS_DOCS_URL", "").strip() or SITE_URL).rstrip("/") + "/"


def doc_url(code: str) -> str:
    """Where the site explains ``code``: the site's address + page + ``#code``."""
    c = cause(code)
    return f"{site_url()}{c.page.removesuffix('.md')}/#{c.anchor}"


def match_message(text: str) -> list[Cause]:
    """Causes whose known error-message signatures occur in ``text`` (case-insensitive),
    best first: the cause with the longest (most specific) matching signature leads, then
    the one with more matches; ties keep the catalogue's order. A cause code given on its
    own (from a report, say) is that cause."""
    code = text.strip()
    if code in CAUSES:
        return [CAUSES[code]]
    low = text.lower()
    scored = []
    for i, c in enumerate(CAUSES.values()):
        hits = [len(s) for s in c.signatures if _occurs(s.lower(), low)]
        if hits:
            scored.append((-max(hits), -len(hits), i, c))
    ranked = [c for *_, c in sorted(scored, key=lambda t: t[:3])]
    return _quoted_timeout(text, ranked)


_QUOTED_TIMEOUT = re.compile(r"API_TIMEOUT_MS above (\d+)")
#: How a timeout message's quoted API_TIMEOUT_MS reorders the timeout causes: a tiny value
#: is a unit mistake or a number the client read leniently ("10min" is 10); a value under a
#: minute is too low whatever the network; a larger one points at the network or the server.
_TIMEOUT_ORDER = [
    (1_000, ("config.timeout_invalid", "config.timeout_too_low", "http.first_byte_timeout",
             "tcp.timeout")),
    (60_000, ("config.timeout_too_low", "tcp.timeout", "http.first_byte_timeout",
              "config.timeout_invalid")),
    (None, ("http.first_byte_timeout", "tcp.timeout", "config.timeout_too_low")),
]


def _quoted_timeout(text: str, ranked: list[Cause]) -> list[Cause]:
    """Claude Code's timeout message quotes the API_TIMEOUT_MS it used: read the number."""
    m = _QUOTED_TIMEOUT.search(text)
    if not m:
        return ranked
    quoted = int(m.group(1))
    order = next(o for limit, o in _TIMEOUT_ORDER if limit is None or quoted < limit)
    lead = [CAUSES[code] for code in order]
    return lead + [c for c in ranked if c.code not in order]


def _occurs(signature: str, text: str) -> bool:
    """A signature occurs in text; a bare status code only as a word ("529", not "15291")."""
    if signature.isdigit():
        return re.search(rf"(?<![\w.]){signature}(?![\w.])", text) is not None
    return signature in text
