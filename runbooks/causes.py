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
from dataclasses import dataclass, field

__all__ = ["CAUSES", "CHANGES", "MESSAGES", "PAGES", "SITE_URL", "Cause", "Sig", "cause",
           "doc_url", "site_url"]


@dataclass(frozen=True)
class Sig:
    """A signature: a part of a message users see that points to a cause. ``also``: further
    parts that must occur too. ``weight``: what it adds to the cause's score (default: 10, plus
    one for each 8 characters up to 80: the longer, the more specific). ``seen``: the client
    versions that print it (captured from the pinned client, the changelog, or issue threads);
    ``note``: for an older wording, what the client says now and since when."""

    text: str
    also: tuple[str, ...] = ()
    weight: int | None = None
    seen: str = ""
    note: str = ""


@dataclass(frozen=True)
class Cause:
    code: str
    title: str
    page: str  # the site page (relative to docs/) that explains it; the anchor is the code
    runbook: str  # the runbook that diagnoses (and, where it can, fixes) it
    fix: str  # the one-line fix hint shown under a failing check
    sigs: tuple[Sig, ...] = field(default=())  # the messages users see that point here
    check: str = ""  # the one check that tells this cause from the others a message fits

    @property
    def anchor(self) -> str:
        return self.code

    @property
    def signatures(self) -> tuple[str, ...]:
        """The texts of the signatures that are one part (what the error index lists)."""
        return tuple(s.text for s in self.sigs if not s.also)


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


#: For each cause, the one check that tells it from the others a message also fits: what
#: ``runbooks triage`` prints under each of its top causes, and the site's box too.
CHECKS: dict[str, str] = {
    "dns.nxdomain": "`runbooks doctor`: does the DNS row say the name does not exist? "
                    "(`nslookup api.anthropic.com`)",
    "dns.timeout": "`runbooks doctor`: does the DNS row time out? Does `nslookup "
                   "api.anthropic.com` answer from each nameserver in /etc/resolv.conf?",
    "tcp.refused": "`runbooks doctor`: is the TCP row refused at the API host (not the proxy)? "
                   "Is the port in ANTHROPIC_BASE_URL right?",
    "tcp.timeout": "`runbooks doctor`: does the TCP row time out? (`curl -v "
                   "https://api.anthropic.com` stops at \"Trying …\")",
    "tcp.unreachable": "`ip route get $(getent hosts api.anthropic.com | cut -d' ' -f1)`: is "
                       "there a route? Is a VPN up or half down?",
    "tcp.reset": "Does it fail on another network (phone hotspot) too? `runbooks doctor` says "
                 "at which step the connection is reset.",
    "ipv6.broken": "Does `curl -6 -I https://api.anthropic.com` fail while `curl -4 -I …` "
                   "works? (`runbooks doctor` tests both families)",
    "tls.untrusted_issuer": "Who issued the certificate? `runbooks doctor` names the issuer: a "
                            "corporate CA (Zscaler, Netskope, your company) means TLS inspection.",
    "tls.hostname_mismatch": "Which name is the certificate for? `runbooks doctor` shows it; "
                             "compare with the host in ANTHROPIC_BASE_URL.",
    "tls.expired": "Is the system clock right (`date`)? Then which certificate has expired: "
                   "`runbooks doctor` names it.",
    "tls.not_yet_valid": "Is the system clock right? `date` against a clock you trust.",
    "tls.handshake_failed": "Is the URL https on a port that speaks TLS? `runbooks doctor` "
                            "shows where the handshake stops.",
    "proxy.bad_url": "`env | grep -i _proxy`: is each value a full http:// URL?",
    "proxy.unreachable": "`env | grep -i _proxy` and the settings' env block: is a proxy set, "
                         "and does `runbooks doctor` reach it? (refused at the proxy, not the API)",
    "proxy.auth_required": "Does the proxy answer 407? `runbooks doctor` shows the proxy's "
                           "answer; NTLM/Kerberos proxies need a local auth proxy.",
    "proxy.rejected": "Does the proxy answer 403 to CONNECT api.anthropic.com:443? `runbooks "
                      "doctor` shows the proxy's answer.",
    "proxy.bypassed": "Is api.anthropic.com (or `*`) in NO_PROXY while this network only "
                      "reaches out through the proxy? (`runbooks doctor`)",
    "proxy.shadowed": "Is a lowercase https_proxy set in the shell next to a settings "
                      "HTTPS_PROXY? (`runbooks doctor` shows which one the client uses)",
    "http.not_api": "What answers? `curl -i $ANTHROPIC_BASE_URL/v1/messages`: an HTML page, a "
                    "login portal or a 404 is not the API (check ANTHROPIC_BASE_URL).",
    "http.first_byte_timeout": "Connected but no answer: does `runbooks doctor` connect and "
                               "then wait? A gateway or proxy in between is the usual holder.",
    "http.stream_stall": "Did the answer start and then stop? Does it happen only on long "
                         "answers? (`runbooks doctor --live` streams one)",
    "http.stream_buffered": "Does a streamed answer arrive all at once at the end? A proxy or "
                            "gateway that buffers text/event-stream (`runbooks doctor --live`)",
    "http.server_error": "Is status.claude.com reporting an incident? A 5xx from a gateway "
                         "names the gateway (its HTML title or JSON).",
    "http.edge_blocked": "Is the 403 an HTML page (Cloudflare, \"Access denied\", \"Just a "
                         "moment...\")? Then the network or IP is blocked, not the key: try "
                         "another network or VPN exit.",
    "auth.missing": "`claude /status` (or `runbooks run auth`): is any credential configured?",
    "auth.malformed": "`runbooks run auth`: does the key have quotes, spaces, a newline or a "
                      "wrong prefix?",
    "auth.invalid": "`runbooks run auth`: does the API reject this exact key? Is a stale "
                    "ANTHROPIC_API_KEY set in the shell?",
    "auth.expired": "Does the message say the OAuth token has expired? Sign in again with "
                    "/login.",
    "auth.forbidden": "Does the key's workspace allow this model? (403 permission_error, not a "
                      "CDN's HTML page)",
    "auth.conflict": "`echo ${ANTHROPIC_API_KEY:+set}`: is a key set while you meant to use "
                     "your subscription login? `claude /status` shows which one is used.",
    "auth.helper_failed": "Run the apiKeyHelper command by hand: does it exit 0 and print only "
                          "the key?",
    "auth.billing": "Console → Plans & Billing: is there credit? On a subscription, is a stray "
                    "ANTHROPIC_API_KEY making the client bill the API instead?",
    "auth.login_failed": "Does the browser login finish? Can this machine reach "
                         "platform.claude.com and claude.ai (`runbooks doctor --hosts`)?",
    "ratelimit.exceeded": "Does the 429 carry retry-after? (`runbooks run rate-limits`)",
    "ratelimit.spend_cap": "Console → Limits: is the spend limit reached? (429 or 400 with no "
                           "retry-after)",
    "ratelimit.subscription": "Does the message give a reset time? A plan's usage limit resets "
                              "at that time; `/status` shows the plan.",
    "overloaded": "Is it 529 overloaded_error? That is Anthropic's load: status.claude.com.",
    "model.unavailable": "Does the provider or gateway know this model name? Check "
                         "ANTHROPIC_MODEL / --model and the gateway's model list.",
    "gateway.upstream": "The gateway or relay names its own failure: check its logs or status "
                        "and its upstream accounts; `runbooks doctor --base-url` reaches it?",
    "install.download_failed": "Can this machine reach downloads.claude.ai (and "
                               "storage.googleapis.com) through its proxy? `curl -I "
                               "https://downloads.claude.ai`",
    "region.unsupported": "Does the same fail through a proxy or TLS-inspecting network? This "
                          "message is also printed for proxy and TLS failures: run `runbooks "
                          "doctor` first.",
    "config.timeout_too_low": "`echo $API_TIMEOUT_MS`: milliseconds, under 60000?",
    "config.timeout_invalid": "`echo $API_TIMEOUT_MS`: a plain number of milliseconds?",
    "config.timeout_disabled": "`echo $API_TIMEOUT_MS`: 0, negative, hex or above 2147483647?",
    "config.ca_file_invalid": "`head -1 \"$NODE_EXTRA_CA_CERTS\"`: a readable PEM file "
                              "(-----BEGIN CERTIFICATE-----)?",
    "config.settings_invalid": "`runbooks run debugging`: which settings file does not parse?",
    "tls.client_store": "Does `curl https://api.anthropic.com` succeed while Claude Code "
                        "reports a certificate error? Which version (`claude --version`), and "
                        "is NODE_OPTIONS=--use-system-ca or CLAUDE_CODE_CERT_STORE set?",
    "proxy.local_not_bypassed": "Is ANTHROPIC_BASE_URL on localhost or 127.0.0.1 while "
                                "HTTP(S)_PROXY is set and NO_PROXY leaves it out?",
    "gateway.request_rejected": "Did it start after a Claude Code upgrade? Does the "
                                "gateway's error name a header, field or role?",
    "auth.account_disabled": "Does the message say the organisation or account is disabled?",
    "ratelimit.extra_usage": "Is the model a 1M-context one (`/model`)? Is extra usage on?",
    "config.provider_override": "`env | grep CLAUDE_CODE_USE_` and the settings files' env "
                                "blocks: is a provider switch set?",
    "status.incident": "status.claude.com: is there an incident now?",
    "status.unreachable": "Can this machine open status.claude.com?",
    "network.intermittent": "Does it fail only sometimes? `runbooks doctor --samples 20` "
                            "names the failing phase and rate.",
}

#: Connection-relevant changes by client version (the public changelog; facts §7), with the
#: causes each one bears on: triage tells a paste from an older client what changed since.
CHANGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1.0.93", "NO_PROXY is honoured", ("proxy.bypassed",)),
    ("2.1.33", ("connection errors name their cause (ECONNREFUSED, SSL) instead of "
     "\"Connection error.\""), ("tcp.refused", "tcp.timeout", "dns.nxdomain", "tcp.reset",
                              "tls.untrusted_issuer")),
    ("2.1.84", "CLAUDE_STREAM_IDLE_TIMEOUT_MS sets the stream idle timeout",
     ("http.stream_stall", "http.stream_buffered")),
    ("2.1.85", "a persistent ECONNRESET gets a fresh TCP connection on retry",
     ("tcp.reset", "ipv6.broken")),
    ("2.1.101", ("the OS certificate store is trusted by default (CLAUDE_CODE_CERT_STORE="
     "bundled opts out), and API_TIMEOUT_MS is no longer overridden by a 5-minute limit"),
     ("tls.untrusted_issuer", "config.timeout_too_low", "http.first_byte_timeout")),
    ("2.1.105", "a stalled stream aborts after 5 minutes and is retried without streaming",
     ("http.stream_stall",)),
    ("2.1.117", "NO_PROXY works under the native (Bun) client", ("proxy.bypassed",)),
    ("2.1.126", ("login works on slow, proxied and IPv6-only networks; a paste-code login for "
     "WSL2 and SSH"), ("auth.login_failed",)),
    ("2.1.144", "start-up no longer hangs 75 s when api.anthropic.com is unreachable",
     ("tcp.timeout", "dns.timeout")),
    ("2.1.198", "an ECONNRESET mid-answer is retried with backoff", ("tcp.reset",
                                                                       "http.stream_stall")),
    ("2.1.199", "certificate failures are no longer retried (they fail fast with a hint)",
     ("tls.untrusted_issuer", "tls.expired", "tls.hostname_mismatch")),
    ("2.1.214", "\"Socket is closed\" is retried, and a stale keep-alive pool dropped",
     ("http.stream_stall", "tcp.reset")),
    ("2.1.222", "the start-up connectivity check goes through the proxy",
     ("proxy.unreachable", "proxy.rejected", "tcp.timeout")),
    ("2.1.227", ("connection errors are worded as guidance (\"Connection refused — a firewall "
     "or proxy may be blocking it\")"), ("tcp.refused", "proxy.unreachable")),
    ("2.1.238", "a proxy's refusal is named; --proxy-authorization-command",
     ("proxy.rejected", "proxy.auth_required")),
)


def _c(code, title, page, runbook, fix, *signatures: str | Sig) -> Cause:
    sigs = tuple(s if isinstance(s, Sig) else Sig(s) for s in signatures)
    return Cause(code, title, page, runbook, fix, sigs, CHECKS.get(code, ""))


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
           "ERR_TLS_CERT_ALTNAME_INVALID", "Hostname/IP does not match certificate's altnames"),
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
           "Unexpected token '<'", "<!DOCTYPE html>"),
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
           Sig("OAuth token has expired", weight=24), Sig("OAuth access token has expired",
                                                          weight=24)),
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
        _c("http.edge_blocked", "A CDN or firewall in front of the API blocks this network",
           _NET, "network",
           "The answer is a CDN's or WAF's page (403 Access denied, a \"Just a moment...\" "
           "challenge, \"Edge IP Restricted\"), not the API's: the IP or network is blocked. "
           "Try another network or VPN exit; through a relay, ask its operator.",
           Sig("<!DOCTYPE html>", also=("403",)), "Edge IP Restricted", "Just a moment...",
           "Attention Required! | Cloudflare", "cf-chl", "error code: 1020"),
        _c("auth.login_failed", "The /login flow cannot complete", _AUTH, "auth",
           "The browser login or its token exchange does not reach Anthropic: allow "
           "claude.ai, platform.claude.com and console.anthropic.com through the proxy; on WSL2 "
           "or SSH paste the code by hand (v2.1.126 and later).",
           Sig("platform.claude.com", also=("oauth",)), Sig("console.anthropic.com",
                                                            also=("oauth",)),
           "OAuth error", "Login failed", "Invalid code", "token exchange failed"),
        _c("ratelimit.subscription", "A plan's usage limit is reached", _RATE, "rate-limits",
           "Your Pro/Max plan's limit resets at the time shown: wait, or switch to an API key "
           "(usage is billed) with /login.",
           Sig("Claude AI usage limit reached", seen="1.0.x (issue threads)",
               note="\"Claude AI usage limit reached|<time>\" is how 1.0.x clients report a "
                    "plan's usage limit; newer ones say \"You've hit your limit · resets …\"."),
           "You've hit your limit", "usage limit reached", "5-hour limit reached",
           "weekly limit reached"),
        _c("model.unavailable", "The model is unknown to or not allowed by the provider",
           _AUTH, "auth",
           "Use a model name the provider or gateway offers: check ANTHROPIC_MODEL, "
           "ANTHROPIC_SMALL_FAST_MODEL and --model against its model list.",
           Sig("not_found_error", also=("model",)), "model not found", "model_not_found",
           "There's an issue with the selected model", "Invalid model name",
           "does not support model", "unknown model"),
        _c("gateway.upstream", "A gateway or relay reports a failure of its own upstream",
           _RATE, "rate-limits",
           "The gateway answered, but its upstream (accounts, keys, the model provider) "
           "failed: check the gateway's logs, accounts and status, not this machine.",
           "No deployments available", "no available accounts", "No available", "upstream_error",
           "litellm.", "new_api_error", "one_api_error", "bad_response_status_code"),
        _c("install.download_failed", "The installer or updater cannot download Claude Code",
           _NET, "network",
           "Allow downloads.claude.ai and storage.googleapis.com (the native installer and "
           "auto-updater) through the proxy, and trust its CA for them too.",
           "downloads.claude.ai", "storage.googleapis.com", "Failed to fetch version",
           "Auto-update failed", "Failed to install"),
        _c("region.unsupported", "The service is not offered in this country or region",
           _NET, "network",
           "Claude is offered in supported countries only; but this message is also printed "
           "for proxy and TLS failures: run `runbooks doctor` before believing it.",
           "not be available in your country", "unsupported_country_region_territory",
           "Unsupported region", "not available in your region"),
        _c("tls.client_store", "Claude Code's own CA store rejects a chain the system trusts",
           _PROXY, "network",
           "The client builds its own trust store (bundled Mozilla roots, plus the OS store "
           "since v2.1.101; NODE_EXTRA_CA_CERTS adds to it): upgrade Claude Code, and do not "
           "replace the bundle (NODE_OPTIONS=--use-system-ca, CLAUDE_CODE_CERT_STORE).",
           "--use-system-ca", "CLAUDE_CODE_CERT_STORE"),
        _c("proxy.local_not_bypassed", "A proxy variable sends a local gateway's traffic to "
           "the proxy", _PROXY, "network",
           "ANTHROPIC_BASE_URL points at this machine (a router or relay on 127.0.0.1), but "
           "HTTP(S)_PROXY catches it: add localhost,127.0.0.1 to NO_PROXY.",
           Sig("127.0.0.1", also=("proxy",), weight=9), Sig("localhost", also=("proxy",),
                                                             weight=9)),
        _c("gateway.request_rejected", "A gateway or its provider rejects the request's format",
           _RATE, "rate-limits",
           "The gateway does not accept what this client version sends (a new anthropic-beta "
           "header, a field, a role): upgrade the gateway, or set "
           "CLAUDE_CODE_DISABLE_EXPERIMENTAL_BETAS=1 where it is the beta header.",
           "anthropic-beta", "Improperly formed request", "invalid beta flag",
           "Unexpected value(s)", "invalid role"),
        _c("auth.account_disabled", "The account or organisation is disabled", _AUTH, "auth",
           "Anthropic has disabled the organisation or account: nothing on this machine fixes "
           "it; contact support (through a relay: its upstream account is disabled).",
           "organization has been disabled", "account has been disabled",
           "This organization has been disabled"),
        _c("ratelimit.extra_usage", "The request needs extra usage on the plan", _RATE,
           "rate-limits",
           "Long-context (1M) models need extra usage turned on, even on Max: enable it in "
           "the plan settings, or pick the standard model with /model.",
           "Extra usage is required", "extra usage"),
        _c("config.provider_override", "A provider switch sends requests to another backend",
           _DEBUG, "debugging",
           "A CLAUDE_CODE_USE_BEDROCK / _VERTEX / _FOUNDRY left in a settings file or the shell "
           "sends requests to that provider: remove it, or configure that provider fully.",
           "CLAUDE_CODE_USE_BEDROCK", "CLAUDE_CODE_USE_VERTEX", "CLAUDE_CODE_USE_FOUNDRY"),
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
    "API Error: Unable to connect to API (EPROTO)",
    "API Error: Unable to connect to API (UnsupportedProxyProtocol)",
    "API Error: Couldn't connect through your proxy (ERR_PROXY_TUNNEL)",
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
