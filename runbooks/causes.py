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
from dataclasses import dataclass, field, replace

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
    index: bool = True  # an entry of the error index (a generic word or status is not)


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
        """The texts of the signatures that are one part and name something (what the error
        index lists and the cause's heading shows)."""
        return tuple(dict.fromkeys(s.text for s in self.sigs if not s.also and s.index))


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
                              "tls.untrusted_issuer", "network.intermittent", "proxy.bypassed",
                              "proxy.rejected", "proxy.unreachable")),
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
           "unsupported_country_region_territory",
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


_Field = tuple[str, dict[str, int], tuple[str, ...], str, str, bool]


def _w(text: str, causes: dict[str, int], also: tuple[str, ...] = (), seen: str = "",
       note: str = "", index: bool = True) -> _Field:
    return (text, causes, also, seen, note, index)


_OLD_CONN = ("\"API Error (Connection error.)\" is how clients before 2.1.33 reported every "
             "connection failure on screen (the inner line, e.g. \"TypeError (fetch failed)\", "
             "says no more); 2.1.33 and later name the cause (ECONNREFUSED, SSL, …). Debug logs "
             "still say \"Connection error.\" for each attempt (v2.1.332 too): the cause is on "
             "the \"Connection error details: code=…\" line after it.")
_OLD_BANNER = ("\"Unable to connect to Anthropic services / Failed to connect to "
               "api.anthropic.com: X\" is the start-up check of 1.x–2.1.x clients; the code after "
               "the colon is the cause. The country note under it is printed for every failure.")
_GATEWAY = ("\"check your inference gateway\": newer clients (2.1.x) say this when "
            "ANTHROPIC_BASE_URL points at a gateway or relay: the error is the gateway's.")

#: Messages from the field (tests/fixtures/field/: what users paste into issue threads) that
#: point to several causes, with a weight for each: the generic ones (an old client's
#: "Connection error.", a bare status) rank the causes their threads most often showed, the
#: specific ones (a gateway's own words, Bun's codes) lead. Merged into CAUSES below.
FIELD: tuple[_Field, ...] = (
    # -- the old start-up banner and the old generic wording ------------------------------
    # what the threads behind a bare "Connection error." found: a flaky path, or a proxy the
    # API went around (NO_PROXY) or that refused it, more often than a firewall
    _w("Connection error.", {"network.intermittent": 9, "proxy.bypassed": 8, "proxy.rejected": 8,
                             "tcp.timeout": 7, "proxy.unreachable": 6,
                             "proxy.local_not_bypassed": 6, "status.incident": 5}),
    _w("connection error", {"network.intermittent": 8, "proxy.bypassed": 7, "proxy.rejected": 7,
                            "tcp.timeout": 6, "proxy.unreachable": 6,
                            "proxy.local_not_bypassed": 6}),
    _w("fetch failed", {"tcp.timeout": 9, "proxy.unreachable": 8, "gateway.upstream": 7,
                        "dns.nxdomain": 6}, seen="before 2.1.33 (Node's fetch)"),
    _w("Unable to connect to Anthropic services", {"tcp.timeout": 8, "tls.untrusted_issuer": 7,
                                                   "proxy.rejected": 6},
       seen="1.0.x–2.1.x start-up check", note=_OLD_BANNER),
    _w("Failed to connect to api.anthropic.com: ERR_BAD_REQUEST",
       {"region.unsupported": 22, "proxy.rejected": 20, "http.edge_blocked": 18}),
    _w("ERR_SOCKET_CLOSED", {"proxy.bad_url": 20, "tcp.reset": 18, "tls.handshake_failed": 16}),
    _w("ERR_INVALID_IP_ADDRESS", {"auth.login_failed": 20, "proxy.bad_url": 18}),
    _w("Invalid IP address", {"auth.login_failed": 18, "proxy.bad_url": 16}),
    _w("not be available in your country", {"region.unsupported": 6}),
    _w("poor internet connection", {"tcp.timeout": 8, "tls.untrusted_issuer": 7,
                                    "network.intermittent": 7}),
    _w("Unable to connect to API", {"tcp.timeout": 7, "tcp.refused": 6}),
    # -- Bun's spellings (the native client) -------------------------------------------------
    _w("ConnectionRefused", {"tcp.refused": 20, "ipv6.broken": 14, "proxy.unreachable": 12}),
    _w("Unable to connect to API (ConnectionRefused)", {"tcp.refused": 22, "ipv6.broken": 15,
                                                        "proxy.unreachable": 13}),
    _w("FailedToOpenSocket", {"tcp.refused": 18, "dns.nxdomain": 15, "tcp.timeout": 14}),
    _w("ETIMEOUT", {"dns.timeout": 20}),
    _w("EREFUSED", {"dns.timeout": 20}),
    _w("ESERVFAIL", {"dns.timeout": 20}),
    _w("NameResolutionError", {"dns.nxdomain": 18, "dns.timeout": 17}),
    _w("UND_ERR_SOCKET", {"tcp.reset": 18, "http.stream_stall": 16}),
    _w("The socket connection was closed unexpectedly", {"http.stream_stall": 20, "tcp.reset": 19,
                                                          "network.intermittent": 15}),
    _w("OAuth error", {"auth.login_failed": 16}),
    _w("ECONNREFUSED", {"proxy.local_not_bypassed": 6}),
    # -- TLS, as the guided wording and the runtimes say it ---------------------------------
    _w("Self-signed certificate detected", {"tls.untrusted_issuer": 24, "tls.client_store": 14}),
    _w("unable to get issuer certificate", {"tls.untrusted_issuer": 22, "tls.client_store": 14}),
    _w("UNABLE_TO_GET_ISSUER_CERT", {"tls.untrusted_issuer": 20, "tls.client_store": 15}),
    _w("unable to verify the first certificate", {"tls.untrusted_issuer": 22,
                                                  "tls.client_store": 12}),
    _w("self signed certificate", {"tls.untrusted_issuer": 22, "tls.client_store": 12}),
    _w("CERTIFICATE_VERIFY_FAILED", {"tls.untrusted_issuer": 20}),
    _w("unable to get local issuer certificate", {"tls.client_store": 12,
                                                  "install.download_failed": 6}),
    _w("SSL certificate has expired", {"tls.expired": 20, "tls.client_store": 18,
                                       "tls.not_yet_valid": 12}),
    _w("CERT_HAS_EXPIRED", {"tls.client_store": 15}),
    _w("SSL certificate error", {"tls.untrusted_issuer": 16, "tls.client_store": 14}),
    _w("tlsv1 alert", {"tls.handshake_failed": 18}),
    _w("decode error", {"tls.handshake_failed": 14}),
    _w("wrong version number", {"tls.handshake_failed": 18, "proxy.bad_url": 14}),
    # -- the host tells the step: the installer and updater, the login -------------------------
    _w("Failed to fetch version from", {"install.download_failed": 30}),
    _w("Installation failed", {"install.download_failed": 22}),
    _w("Failed to install native update", {"install.download_failed": 26}),
    _w("claude-code-releases", {"install.download_failed": 20}),
    _w("Failed to connect to platform.claude.com", {"auth.login_failed": 13,
                                                    "tls.untrusted_issuer": 12}),
    _w("Failed to connect to console.anthropic.com", {"auth.login_failed": 13,
                                                      "tls.untrusted_issuer": 12}),
    _w("Redirect URI", {"auth.login_failed": 24}),
    _w("Authorization failed", {"auth.login_failed": 20}),
    _w("Press Enter to retry", {"auth.login_failed": 12}),
    # -- the credential ------------------------------------------------------------------------
    _w("Auth conflict", {"auth.conflict": 30}),
    _w("Both a token", {"auth.conflict": 26}, also=("API key",)),
    _w("credit balance", {"auth.billing": 18, "auth.conflict": 16}),
    _w("Credit balance too low", {"auth.billing": 22, "auth.conflict": 20}),
    _w("Insufficient credits", {"auth.billing": 20, "gateway.upstream": 12}),
    _w("insufficient_quota", {"auth.billing": 18, "gateway.upstream": 14}),
    _w("402", {"auth.billing": 10}),
    _w("未提供令牌", {"auth.missing": 24}),
    _w("Missing API key", {"auth.missing": 22}, seen="1.0.x–2.0.x",
       note="\"Missing API key · Run /login\" is the older wording of \"Not logged in · Please "
            "run /login\" (v2.1.332)."),
    _w("Could not resolve authentication method", {"auth.missing": 24}),
    _w("Could not load credentials from any providers", {"auth.missing": 22,
                                                         "config.provider_override": 12}),
    _w("API key not found", {"auth.invalid": 18, "auth.missing": 17}),
    _w("Invalid bearer token", {"auth.invalid": 20, "auth.expired": 12}),
    _w("Invalid API key · Please run /login", {"auth.invalid": 22, "auth.conflict": 18,
                                               "auth.missing": 16},
       seen="1.0.x–2.0.x", note="\"Invalid API key · Please run /login\" is the older wording "
       "of \"Invalid API key · Fix external API key\" (v2.1.332)."),
    _w("Invalid API key", {"auth.invalid": 14, "auth.conflict": 12}),
    _w("Please run /login", {"auth.invalid": 9, "auth.expired": 8, "auth.missing": 8}),
    _w("API Error: 401", {"auth.invalid": 12, "auth.expired": 9, "auth.conflict": 8}),
    _w("proxy server token", {"auth.invalid": 18, "gateway.upstream": 10}),
    _w("OAuth authentication is currently not supported", {"auth.conflict": 18,
                                                           "auth.invalid": 16}),
    _w("disabled Claude subscription access", {"auth.forbidden": 26}),
    _w("apiKeyHelper did not return a valid value", {"auth.helper_failed": 30}),
    _w("Error getting API key from apiKeyHelper", {"auth.helper_failed": 30}),
    _w("apiKeyHelper", {"auth.helper_failed": 12}),
    _w("Request not allowed", {"region.unsupported": 20, "http.edge_blocked": 16,
                               "auth.forbidden": 14}),
    # -- limits --------------------------------------------------------------------------------
    _w("monthly spend limit", {"ratelimit.spend_cap": 26}),
    _w("spend limit", {"ratelimit.spend_cap": 20}),
    _w("usage limits", {"ratelimit.spend_cap": 16, "ratelimit.subscription": 12}),
    _w("session limit", {"ratelimit.subscription": 22}),
    _w("resets", {"ratelimit.subscription": 12}, also=("limit",)),
    _w("Rate limit reached", {"ratelimit.exceeded": 16, "ratelimit.subscription": 14,
                              "ratelimit.extra_usage": 12}),
    _w("Resource has been exhausted", {"ratelimit.exceeded": 18, "gateway.upstream": 16}),
    _w("RESOURCE_EXHAUSTED", {"ratelimit.exceeded": 18, "gateway.upstream": 16}),
    _w("API Error: 429", {"ratelimit.exceeded": 14, "ratelimit.subscription": 9}),
    _w("(429", {"ratelimit.exceeded": 14, "gateway.upstream": 9}),
    _w("model_cooldown", {"gateway.upstream": 24, "ratelimit.exceeded": 16}),
    _w("cooling down", {"gateway.upstream": 22, "ratelimit.exceeded": 16}),
    # -- settings ------------------------------------------------------------------------------
    # the client's heading over a settings file's problems, the file named under it (not the
    # words "proxy settings" at a line's end before "Error: …" on the next)
    _w("Settings Error", {"config.settings_invalid": 26}, also=(".json",)),
    _w("Invalid or malformed JSON", {"config.settings_invalid": 24}),
    _w("Files with errors are skipped", {"config.settings_invalid": 26}),
    _w("Invalid key in record", {"config.settings_invalid": 20}),
    # -- what answers is not the API -------------------------------------------------------------
    _w("404 page not found", {"http.not_api": 24, "model.unavailable": 12}),
    _w("API Error: 404", {"http.not_api": 14, "model.unavailable": 13, "gateway.upstream": 8}),
    _w("Route /v1/messages", {"http.not_api": 24}),
    _w("Invalid URL (POST /v1/messages", {"http.not_api": 24}),
    _w("\"detail\":\"Not Found\"", {"http.not_api": 20}),
    _w("empty or malformed response", {"http.not_api": 26, "gateway.upstream": 20,
                                       "http.stream_buffered": 10}),
    _w("check for a proxy or gateway intercepting the request", {"http.not_api": 20,
                                                                 "gateway.upstream": 18}),
    # -- HTML pages: the status on the page decides ------------------------------------------------
    _w("<!DOCTYPE html>", {"http.server_error": 24}, also=("502",)),
    _w("<!DOCTYPE html>", {"http.server_error": 24}, also=("503",)),
    _w("<!DOCTYPE html>", {"http.server_error": 24, "gateway.upstream": 18}, also=("504",)),
    _w("<!DOCTYPE html>", {"http.server_error": 24, "gateway.upstream": 18}, also=("520",)),
    _w("<!DOCTYPE html>", {"http.server_error": 24, "gateway.upstream": 18}, also=("522",)),
    _w("<!DOCTYPE html>", {"http.server_error": 24, "gateway.upstream": 18}, also=("524",)),
    _w("<!DOCTYPE html>", {"http.edge_blocked": 26, "auth.forbidden": 12}, also=("403",)),
    _w("Gateway time-out", {"http.server_error": 20, "status.incident": 12}),
    _w("Bad Gateway", {"http.server_error": 18, "gateway.upstream": 16}),
    _w("Service Unavailable", {"http.server_error": 18, "overloaded": 12}),
    _w("Cloudflare", {"http.edge_blocked": 8}),
    # -- the server's and the gateway's own failures ----------------------------------------------
    _w("no healthy upstream", {"http.server_error": 22, "status.incident": 18}),
    _w("upstream connect error", {"http.server_error": 22, "status.incident": 18}),
    _w("disconnect/reset before headers", {"http.server_error": 20, "status.incident": 16}),
    _w("Error from provider", {"gateway.upstream": 12, "model.unavailable": 10}),
    _w("Upstream provider", {"gateway.upstream": 12}),
    _w("All providers failed", {"gateway.upstream": 24}),
    _w("All credentials for model", {"gateway.upstream": 24}),
    _w("上游", {"gateway.upstream": 22}),
    _w("请求转发失败", {"gateway.upstream": 24}),
    _w("格式转换错误", {"gateway.upstream": 22, "gateway.request_rejected": 16}),
    _w("proxy_error", {"gateway.upstream": 18}),
    _w("error sending request for url", {"gateway.upstream": 20, "tcp.timeout": 12}),
    _w("status code (no body)", {"gateway.upstream": 20, "http.server_error": 16}),
    _w("check your inference gateway", {"gateway.upstream": 9}, seen="2.1.x", note=_GATEWAY),
    _w("stream disconnected before completion", {"gateway.upstream": 22,
                                                 "http.stream_stall": 18}),
    _w("internal_server_error", {"http.server_error": 12, "gateway.upstream": 11}),
    _w("Provider '", {"model.unavailable": 22, "gateway.upstream": 12}, also=("not found",)),
    _w("model identifier is invalid", {"model.unavailable": 24, "config.provider_override": 14}),
    _w("No endpoints found", {"gateway.upstream": 20, "model.unavailable": 18}),
    _w("Bad Request", {"gateway.request_rejected": 14, "model.unavailable": 9}),
    _w("API Error: 400", {"gateway.request_rejected": 10, "model.unavailable": 9,
                          "ratelimit.spend_cap": 8}),
    _w("API Error: 500", {"http.server_error": 12, "gateway.upstream": 10}),
    _w("API Error: 502", {"gateway.upstream": 14, "http.server_error": 13}),
    _w("API Error: 503", {"http.server_error": 13, "gateway.upstream": 12, "overloaded": 9}),
    _w("(503", {"http.server_error": 13, "gateway.upstream": 12}),
    _w("500 terminated", {"http.stream_stall": 20, "gateway.upstream": 16}),
    # -- what the paste says around a generic error: a proxy, a local router, a VPN, WSL ------
    _w("connection error", {"proxy.unreachable": 11, "proxy.local_not_bypassed": 10,
                            "proxy.auth_required": 9}, also=("proxy",)),
    _w("fetch failed", {"proxy.unreachable": 11, "proxy.local_not_bypassed": 10,
                        "proxy.auth_required": 9}, also=("proxy",)),
    _w("connection error", {"proxy.unreachable": 11, "proxy.local_not_bypassed": 10},
       also=("代理",)),
    _w("127.0.0.1:3456", {"proxy.local_not_bypassed": 10, "tcp.refused": 9}),
    _w("localhost:3456", {"proxy.local_not_bypassed": 10, "tcp.refused": 9}),
    _w("connection error", {"network.intermittent": 10, "dns.timeout": 9}, also=("vpn",)),
    _w("connection error", {"network.intermittent": 10, "dns.timeout": 9}, also=("wsl",)),
    _w("timed out", {"network.intermittent": 10, "dns.timeout": 9}, also=("wsl",)),
    # -- what the runtimes and the gateways' languages (Go, Python, Node's axios) say --------
    _w("connection refused", {"tcp.refused": 14, "proxy.unreachable": 12}),
    _w("EPIPE", {"tcp.reset": 14}),
    _w("ECONNABORTED", {"tcp.reset": 13, "http.first_byte_timeout": 12}),
    _w("other side closed", {"tcp.reset": 14, "http.stream_stall": 13}),
    _w("Premature close", {"http.stream_stall": 16, "tcp.reset": 13}),
    _w("exceeded", {"tcp.timeout": 12, "http.first_byte_timeout": 11, "auth.login_failed": 9},
       also=("timeout of",)),
    _w("Request failed with status code 403", {"region.unsupported": 14, "proxy.rejected": 13,
                                               "http.edge_blocked": 12}),
    _w("Request failed with status code 407", {"proxy.auth_required": 24}),
    _w("getaddrinfo", {"dns.nxdomain": 12}),
    _w("no such host", {"dns.nxdomain": 16}),
    _w("i/o timeout", {"tcp.timeout": 14, "gateway.upstream": 10}),
    _w("dial tcp", {"gateway.upstream": 12, "tcp.timeout": 11}),
    _w("context deadline exceeded", {"gateway.upstream": 14, "http.first_byte_timeout": 13}),
    _w("unknown authority", {"tls.untrusted_issuer": 20}),
    _w("self-signed certificate", {"tls.untrusted_issuer": 22, "tls.client_store": 12}),
    _w("DEPTH_ZERO_SELF_SIGNED_CERT", {"tls.untrusted_issuer": 20}),
    _w("CERT_UNTRUSTED", {"tls.untrusted_issuer": 18}),
    _w("Overloaded", {"overloaded": 14}),
    _w("Too Many Requests", {"ratelimit.exceeded": 16}),
    _w("exceeded your current quota", {"auth.billing": 16, "ratelimit.exceeded": 15}),
    _w("Internal server error", {"http.server_error": 13, "gateway.upstream": 10}),
    _w("upstream request timeout", {"http.server_error": 16, "http.first_byte_timeout": 15}),
    _w("invalid_api_key", {"auth.invalid": 18}),
    _w("Incorrect API key", {"auth.invalid": 18}),
    _w("Invalid token", {"auth.invalid": 16, "auth.expired": 12}),
    _w("token expired", {"auth.expired": 18}),
    _w("Unauthorized", {"auth.invalid": 11, "auth.missing": 9}),
    _w("Forbidden", {"auth.forbidden": 10, "http.edge_blocked": 9}),
    _w("permission denied", {"auth.forbidden": 12}),
    _w("does not exist", {"model.unavailable": 16}, also=("model",)),
    _w("AccessDeniedException", {"auth.forbidden": 18, "model.unavailable": 14}),
    _w("ValidationException", {"model.unavailable": 14, "gateway.request_rejected": 13}),
    _w("ThrottlingException", {"ratelimit.exceeded": 20}),
    _w("ExpiredTokenException", {"auth.expired": 22}),
    _w("UnrecognizedClientException", {"auth.invalid": 20}),
    _w("security token included in the request is invalid", {"auth.invalid": 22}),
    _w("PERMISSION_DENIED", {"auth.forbidden": 16, "model.unavailable": 12}),
    _w("UNAUTHENTICATED", {"auth.invalid": 16, "auth.expired": 12}),
    _w("Could not load the default credentials", {"auth.missing": 22}),
    # proxies and appliances by what they say, and Bun's and Node's own words
    _w("Proxy Authentication Required", {"proxy.auth_required": 24}),
    _w("statusCode=407", {"proxy.auth_required": 22}),
    _w("tunneling socket could not be established", {"proxy.unreachable": 18,
                                                     "proxy.rejected": 16}),
    _w("ERR_PROXY_CONNECTION_FAILED", {"proxy.unreachable": 20}),
    _w("from proxy after CONNECT", {"proxy.rejected": 20, "proxy.auth_required": 14}),
    _w("CONNECT tunnel failed", {"proxy.rejected": 20, "proxy.auth_required": 14}),
    _w("Zscaler", {"tls.untrusted_issuer": 12, "proxy.rejected": 10}),
    _w("Netskope", {"tls.untrusted_issuer": 12, "proxy.rejected": 10}),
    _w("Is the computer able to access the url", {"tcp.refused": 12, "tcp.timeout": 11,
                                                  "dns.nxdomain": 10}),
    _w("EAI_NONAME", {"dns.nxdomain": 18}),
    _w("ENETDOWN", {"tcp.unreachable": 18}),
    _w("EADDRNOTAVAIL", {"tcp.unreachable": 16}),
    _w("No route to host", {"tcp.unreachable": 18}),
    _w("Network is unreachable", {"tcp.unreachable": 18}),
    _w("Connection reset by peer", {"tcp.reset": 18}),
    _w("Broken pipe", {"tcp.reset": 14}),
    _w("ERR_STREAM_PREMATURE_CLOSE", {"http.stream_stall": 18}),
    _w("operation was aborted", {"http.first_byte_timeout": 14, "config.timeout_too_low": 12}),
    _w("The operation timed out", {"http.first_byte_timeout": 14, "tcp.timeout": 13}),
    _w("Invalid API Key format", {"auth.malformed": 22}),
    _w("only authorized for use with Claude Code", {"auth.forbidden": 18,
                                                    "gateway.upstream": 14}),
    _w("limit reached", {"ratelimit.subscription": 12, "ratelimit.exceeded": 10}),
    _w("rate limit", {"ratelimit.exceeded": 13}),
    _w("per-minute rate limit", {"ratelimit.exceeded": 20}),
    _w("usage limit", {"ratelimit.subscription": 10, "ratelimit.spend_cap": 10}),
    # HTML pages by the words on them (a CDN's or a WAF's)
    _w("Temporarily Unavailable", {"http.server_error": 16, "overloaded": 10}),
    _w("Web server is returning an unknown error", {"http.server_error": 18,
                                                    "gateway.upstream": 14}),
    _w("A timeout occurred", {"http.server_error": 18, "gateway.upstream": 14}),
    _w("connection timed out", {"http.server_error": 16, "gateway.upstream": 14},
       also=("<!DOCTYPE html>",)),
    _w("you have been blocked", {"http.edge_blocked": 24}),
    _w("Access denied", {"http.edge_blocked": 12, "auth.forbidden": 10}),
    _w("captive portal", {"http.not_api": 16}),
    # gateways by their own error classes
    _w("litellm.APIConnectionError", {"gateway.upstream": 18, "tcp.timeout": 10}),
    _w("litellm.AuthenticationError", {"auth.invalid": 18, "gateway.upstream": 12}),
    _w("litellm.RateLimitError", {"ratelimit.exceeded": 18, "gateway.upstream": 12}),
    _w("litellm.BadRequestError", {"gateway.request_rejected": 16, "model.unavailable": 12}),
    _w("litellm.NotFoundError", {"model.unavailable": 18, "http.not_api": 12}),
    _w("litellm.Timeout", {"http.first_byte_timeout": 16, "gateway.upstream": 14}),
    _w("litellm.ServiceUnavailableError", {"gateway.upstream": 18}),
    _w("Provider returned error", {"gateway.upstream": 16}),
    _w("已用尽", {"auth.billing": 18, "ratelimit.spend_cap": 14}),
    _w("无权访问", {"auth.forbidden": 18}),
    _w("Invalid model", {"model.unavailable": 18}),
    # relays' Chinese messages: the token, the balance, the channel, the model, the timeout
    _w("令牌", {"auth.invalid": 14, "auth.missing": 13}),
    _w("无效的令牌", {"auth.invalid": 22}),
    _w("余额不足", {"auth.billing": 22}),
    _w("额度", {"auth.billing": 16, "ratelimit.spend_cap": 12}),
    _w("渠道", {"gateway.upstream": 18}),
    _w("分组", {"gateway.upstream": 16}),
    _w("账号", {"gateway.upstream": 14}),
    _w("无可用", {"gateway.upstream": 20}),
    _w("不存在", {"model.unavailable": 14}, also=("模型",)),
    _w("超时", {"http.first_byte_timeout": 14, "tcp.timeout": 12}),
    _w("限流", {"ratelimit.exceeded": 18}),
    _w("负载", {"overloaded": 14, "gateway.upstream": 13}),
    # -- batch two of the field: newer wordings, the providers' own ---------------------------
    _w("Connection closed mid-response", {"http.stream_stall": 26, "network.intermittent": 16,
                                          "tcp.reset": 14}),
    _w("The response above may be incomplete", {"http.stream_stall": 20,
                                                "network.intermittent": 14}),
    _w("The response stopped arriving", {"http.stream_stall": 26, "http.stream_buffered": 16}),
    _w("No response from API", {"http.first_byte_timeout": 20, "network.intermittent": 14}),
    _w("SSO session", {"auth.expired": 24}, also=("expired",)),
    _w("aws sso login", {"auth.expired": 22}),
    _w("Session token not found or invalid", {"auth.invalid": 22, "auth.expired": 14}),
    _w("UnauthorizedException", {"auth.invalid": 20}),
    _w("not available on your vertex deployment", {"model.unavailable": 26}),
    _w("Resource not found", {"http.not_api": 16, "model.unavailable": 12}),
    _w("cannot be parsed as a URL", {"proxy.bad_url": 24}),
    _w("Failed to check for updates", {"install.download_failed": 22}),
    _w("Unable to fetch latest version", {"install.download_failed": 24}),
    _w("更新失败", {"install.download_failed": 22}),
    _w("no available accounts", {"gateway.upstream": 24}),
    _w("No available channel", {"model.unavailable": 22, "gateway.upstream": 20}),
    _w("Publisher Model", {"model.unavailable": 24}),
    _w("OAuth token revoked", {"auth.invalid": 24, "auth.expired": 16}),
    _w("Extra usage is required", {"ratelimit.extra_usage": 26}),
    _w("OAuth authentication is currently not supported", {"auth.invalid": 20}),
    # -- what clients, browsers, resolvers and clouds say, in the words they use -----------------
    _w("Unable to connect to Anthropic services", {"proxy.rejected": 16, "region.unsupported": 14},
       also=("400",)),
    _w("Connection dropped", {"tcp.reset": 20, "ipv6.broken": 14, "network.intermittent": 13}),
    _w("Connection timed out", {"tcp.timeout": 14, "http.first_byte_timeout": 10}),
    _w("Can't reach the API server", {"dns.nxdomain": 12, "tcp.timeout": 11}),
    _w("DNS lookup failed", {"dns.nxdomain": 18, "dns.timeout": 16}),
    _w("Could not resolve host", {"dns.nxdomain": 18, "dns.timeout": 14}),
    _w("Name or service not known", {"dns.nxdomain": 18}),
    _w("nodename nor servname provided", {"dns.nxdomain": 18}),
    _w("Temporary failure in name resolution", {"dns.timeout": 20, "dns.nxdomain": 14}),
    _w("certificate verify failed", {"tls.untrusted_issuer": 18, "tls.client_store": 12}),
    _w("handshake failure", {"tls.handshake_failed": 18}),
    _w("socket disconnected", {"tls.handshake_failed": 12, "tcp.reset": 11}),
    _w("EHOSTDOWN", {"tcp.unreachable": 16}),
    _w("ERR_NETWORK", {"tcp.timeout": 10, "network.intermittent": 9}),
    _w("ERR_CONNECTION_REFUSED", {"tcp.refused": 18, "auth.login_failed": 10}),
    _w("ERR_CONNECTION_TIMED_OUT", {"tcp.timeout": 18}),
    _w("ERR_NAME_NOT_RESOLVED", {"dns.nxdomain": 18}),
    _w("ERR_CERT_AUTHORITY_INVALID", {"tls.untrusted_issuer": 20}),
    _w("ERR_CERT_DATE_INVALID", {"tls.expired": 18, "tls.not_yet_valid": 16}),
    _w("refused to connect", {"auth.login_failed": 14, "tcp.refused": 12}, also=("localhost",)),
    _w("callback", {"auth.login_failed": 16}, also=("oauth",)),
    _w("invalid_grant", {"auth.expired": 18, "auth.login_failed": 14}),
    _w("invalid_client", {"auth.login_failed": 16}),
    _w("state mismatch", {"auth.login_failed": 16}),
    _w("Run /login", {"auth.missing": 9, "auth.invalid": 8}),
    _w("billing", {"auth.billing": 10}),
    _w("credit", {"auth.billing": 9}),
    _w("payment", {"auth.billing": 9}),
    _w("Opus", {"ratelimit.subscription": 12}, also=("limit",)),
    _w("rate limited", {"ratelimit.exceeded": 14}),
    _w("tokens per minute", {"ratelimit.exceeded": 16}),
    _w("Too many tokens", {"ratelimit.exceeded": 16}),
    _w("Quota exceeded", {"ratelimit.exceeded": 16, "auth.billing": 10}),
    _w("server is busy", {"overloaded": 14, "gateway.upstream": 12}),
    _w("upstream", {"gateway.upstream": 10, "http.server_error": 9}),
    _w("gateway", {"gateway.upstream": 7}),
    _w("Unable to locate credentials", {"auth.missing": 20}),
    _w("security token", {"auth.expired": 22}, also=("expired",)),
    _w("not authorized to perform", {"auth.forbidden": 20}),
    _w("on-demand throughput", {"model.unavailable": 22}),
    _w("inference profile", {"model.unavailable": 18}),
    _w("model identifier", {"model.unavailable": 16}),
    _w("aiplatform", {"auth.forbidden": 12, "model.unavailable": 10}, also=("permission",)),
    _w("invalid_request_error", {"gateway.request_rejected": 7, "ratelimit.spend_cap": 6,
                                 "model.unavailable": 6}),
    # other languages: Chinese relays, Japanese and Korean terminals
    _w("服务器繁忙", {"overloaded": 14, "gateway.upstream": 13}),
    _w("中转", {"gateway.upstream": 8}),
    _w("请求失败", {"gateway.upstream": 8, "network.intermittent": 7}),
    _w("网络", {"network.intermittent": 8, "tcp.timeout": 7}),
    _w("连接", {"tcp.timeout": 7, "tcp.refused": 6}),
    _w("证书", {"tls.untrusted_issuer": 12}),
    _w("代理", {"proxy.unreachable": 8, "proxy.bypassed": 6}),
    _w("认证", {"auth.invalid": 10}),
    _w("鉴权", {"auth.invalid": 10}),
    _w("无效", {"auth.invalid": 8}),
    _w("过期", {"auth.expired": 12}),
    _w("限制", {"ratelimit.subscription": 8, "ratelimit.exceeded": 8}),
    _w("频率", {"ratelimit.exceeded": 12}),
    _w("封禁", {"auth.account_disabled": 16}),
    _w("封号", {"auth.account_disabled": 16}),
    _w("地区", {"region.unsupported": 14}),
    _w("模型", {"model.unavailable": 8}),
    _w("タイムアウト", {"http.first_byte_timeout": 10, "tcp.timeout": 9}),
    _w("接続", {"tcp.timeout": 7}),
    _w("시간 초과", {"http.first_byte_timeout": 10, "tcp.timeout": 9}),
    _w("연결", {"tcp.timeout": 7}),
    # -- batch three of the field ----------------------------------------------------------------
    _w("insufficient balance", {"auth.billing": 22}),
    _w("余额", {"auth.billing": 14}),
    _w("No deployments available", {"gateway.upstream": 22}),
    _w("Invalid Authentication", {"auth.invalid": 20}),
    _w("invalid_authentication_error", {"auth.invalid": 20}, index=False),  # a token of its own
    _w("Input should be 'user' or 'assistant'", {"gateway.request_rejected": 24}),
    _w("literal_error", {"gateway.request_rejected": 16}),
    _w("fetch failed", {"gateway.upstream": 16, "tcp.timeout": 14}, also=("api_error",)),
    # -- batch four of the field ---------------------------------------------------------------
    _w("请求参数错误", {"gateway.request_rejected": 22}),
    _w("参数", {"gateway.request_rejected": 12}),
    _w("只允许", {"gateway.request_rejected": 18, "auth.forbidden": 16}),
    _w("Either ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN is required", {"auth.missing": 26}),
    _w("returned HTTP 404", {"model.unavailable": 14, "http.not_api": 12}),
    _w("API_TIMEOUT_MS=", {"http.first_byte_timeout": 14, "config.timeout_too_low": 13}),
    _w("try increasing it", {"http.first_byte_timeout": 12, "config.timeout_too_low": 11}),
    _w("Received message_stop without a current message", {"http.not_api": 20,
                                                           "gateway.upstream": 18}),
    _w("terminated", {"http.stream_stall": 12, "tcp.reset": 9}),
    # -- models, as providers and local servers word an unknown one --------------------------------
    _w("not supported", {"model.unavailable": 16, "gateway.request_rejected": 12},
       also=("model",)),
    _w("not support", {"model.unavailable": 14, "gateway.request_rejected": 12},
       also=("model",)),
    _w("不支持", {"model.unavailable": 14, "gateway.request_rejected": 12}),
    _w("Unsupported parameter", {"gateway.request_rejected": 22}),
    _w("unsupported_parameter", {"gateway.request_rejected": 22}),
    _w("Extra inputs are not permitted", {"gateway.request_rejected": 22}),
    _w("Unknown parameter", {"gateway.request_rejected": 20}),
    _w("unknown field", {"gateway.request_rejected": 18}),
    _w("无权", {"auth.forbidden": 14}),
    _w("Could not resolve the foundation model", {"model.unavailable": 22}),
    _w("foundation model", {"model.unavailable": 14}),
    _w("access to the model", {"model.unavailable": 20, "auth.forbidden": 14}),
    _w("does not have access to it", {"model.unavailable": 20, "auth.forbidden": 13}),
    _w("try pulling it", {"model.unavailable": 24}),
    _w("No models loaded", {"model.unavailable": 20}),
    _w("not exist", {"model.unavailable": 16}, also=("model",)),
    _w("Not found the model", {"model.unavailable": 18}),
    # -- TLS, proxies, logins, limits, streams and networks in more of their words ------------------
    _w("SSL_ERROR_SYSCALL", {"tls.handshake_failed": 16, "tcp.reset": 14}),
    _w("unable to verify leaf signature", {"tls.untrusted_issuer": 20}),
    _w("unable to verify", {"tls.untrusted_issuer": 14}),
    _w("certificate chain", {"tls.untrusted_issuer": 14}),
    _w("Proxy-Authorization", {"proxy.auth_required": 14}),
    _w("NTLM", {"proxy.auth_required": 18}),
    _w("Kerberos", {"proxy.auth_required": 14}),
    _w("OAuth", {"auth.login_failed": 16}, also=("timeout",)),
    _w("authorization code", {"auth.login_failed": 14}),
    _w("limit will reset", {"ratelimit.subscription": 18}),
    _w("Stream closed", {"http.stream_stall": 14}),
    _w("stream error", {"http.stream_stall": 14, "gateway.upstream": 10}),
    _w("IPv6", {"ipv6.broken": 12}),
    _w("2607:6bc0", {"ipv6.broken": 18}),  # the API's IPv6 addresses
    _w("Tailscale", {"dns.timeout": 10, "network.intermittent": 9}),
    _w("WARP", {"network.intermittent": 10, "tls.untrusted_issuer": 9}),
    _w("Clash", {"proxy.bypassed": 8, "proxy.unreachable": 8}),
    # -- batch five of the field ----------------------------------------------------------------
    _w("API key authentication is not sufficient", {"auth.conflict": 22, "auth.billing": 12}),
    _w("No API key available", {"auth.missing": 22}),
    _w("Failed to get auth headers", {"auth.missing": 18, "auth.helper_failed": 14}),
    _w("Cannot read properties of undefined", {"http.not_api": 18, "gateway.upstream": 16}),
    _w("Invalid request sent to provider", {"gateway.request_rejected": 22}),
    _w("Your gateway couldn't serve", {"http.not_api": 18, "gateway.upstream": 16,
                                        "model.unavailable": 14}),
    # -- streams -------------------------------------------------------------------------------
    _w("Stream idle timeout - partial response received", {"http.stream_stall": 28,
                                                           "http.stream_buffered": 18}),
    _w("Stream idle timeout - no chunks received", {"http.first_byte_timeout": 28,
                                                    "http.stream_stall": 20}),
    _w("Stream idle timeout", {"http.stream_stall": 16, "http.first_byte_timeout": 15}),
    _w("Request timed out.", {"http.first_byte_timeout": 13}),
    _w("Request timed out", {"http.first_byte_timeout": 12, "tcp.timeout": 11,
                             "config.timeout_too_low": 9, "proxy.bad_url": 7}),
)


#: An HTTP status, however a client, a gateway or a log spells it, points to the causes that
#: status most often means in the field (weak: any specific words outrank it).
_STATUS_CAUSES: dict[int, dict[str, int]] = {
    400: {"gateway.request_rejected": 9, "model.unavailable": 8, "ratelimit.spend_cap": 7},
    422: {"gateway.request_rejected": 12},
    401: {"auth.invalid": 10, "auth.expired": 8, "auth.missing": 7},
    402: {"auth.billing": 10},
    403: {"auth.forbidden": 9, "http.edge_blocked": 8, "region.unsupported": 7},
    404: {"http.not_api": 9, "model.unavailable": 8},
    407: {"proxy.auth_required": 12},
    408: {"http.first_byte_timeout": 9, "gateway.upstream": 8},
    429: {"ratelimit.exceeded": 10, "ratelimit.subscription": 7},
    500: {"http.server_error": 9, "gateway.upstream": 8},
    502: {"gateway.upstream": 9, "http.server_error": 9},
    503: {"http.server_error": 9, "gateway.upstream": 8, "overloaded": 7},
    504: {"http.server_error": 9, "gateway.upstream": 8, "http.first_byte_timeout": 7},
    529: {"overloaded": 10},
}
_STATUS_SPELLINGS = ("API Error: {n}", "API Error ({n}", "status code {n}", "HTTP {n}",
                     "returned {n}", "\"code\":{n}", "\"status\":{n}", "Error: {n}")
#: Single words that say where to look when nothing more specific occurs (weaker still).
_WORDS: dict[str, dict[str, int]] = {
    "network error": {"tcp.timeout": 8, "network.intermittent": 8, "proxy.unreachable": 7},
    "timed out": {"http.first_byte_timeout": 8, "tcp.timeout": 8},
    "timeout": {"http.first_byte_timeout": 7, "tcp.timeout": 7},
    "offline": {"network.intermittent": 7, "tcp.timeout": 6},
    "certificate": {"tls.untrusted_issuer": 8, "tls.client_store": 6},
    "ssl": {"tls.untrusted_issuer": 8, "tls.handshake_failed": 7},
    "tls": {"tls.handshake_failed": 7, "tls.untrusted_issuer": 7},
    "proxy": {"proxy.unreachable": 6, "proxy.bypassed": 5},
    "quota": {"ratelimit.exceeded": 8, "auth.billing": 7},
    "balance": {"auth.billing": 9},
    "expired": {"auth.expired": 8, "tls.expired": 7},
    "login": {"auth.login_failed": 7, "auth.missing": 6},
    "limit": {"ratelimit.subscription": 7, "ratelimit.exceeded": 7},
    "not found": {"http.not_api": 8, "model.unavailable": 7},
    "refused": {"tcp.refused": 9},
    "reset": {"tcp.reset": 8},
    "closed": {"http.stream_stall": 6, "tcp.reset": 6},
    "dns": {"dns.timeout": 8, "dns.nxdomain": 7},
    "vpn": {"network.intermittent": 7},
    "model": {"model.unavailable": 5},
    "unavailable": {"http.server_error": 7, "overloaded": 6},
}
FIELD += tuple(_w(word, weights, index=False) for word, weights in _WORDS.items())
FIELD += tuple(_w(spelling.format(n=n), weights, index=False)
               for n, weights in _STATUS_CAUSES.items() for spelling in _STATUS_SPELLINGS)

_PINNED = "2.1.332 (captured from the pinned client)"
#: The client versions that print each wording, and for an older one what the client says
#: now: from the pinned client's captures (tests/test_client_api.py), the changelog (facts §7)
#: and the versions the field corpus's threads give (a range is the lowest and highest seen;
#: the wording may be older or live longer). Laid over every signature with that text. (The
#: whole messages of :data:`MESSAGES` are the pinned client's: the error index says so.)
SEEN: dict[str, tuple[str, str]] = {
    "Unable to connect to Anthropic services": ("0.2.36–2.1.220 (threads), start-up check",
                                                _OLD_BANNER),
    "Connection error.": ("on screen 1.0.24–1.0.90 (threads; the changelog: before 2.1.33); in "
                          "debug logs of every version, " + _PINNED, _OLD_CONN),
    "fetch failed": ("1.0.38–1.0.90 (threads), the inner line of \"Connection error.\"", ""),
    "Unable to connect to API": ("2.1.17–2.1.220 (threads), " + _PINNED, ""),
    "Unable to connect to API (ConnectionRefused)": (
        "2.1.x before 2.1.227 (2.1.17–2.1.220 in threads)",
        "\"Unable to connect to API (ConnectionRefused)\": 2.1.x before 2.1.227 name the "
        "runtime's code; 2.1.227 and later word a refusal as guidance (\"Connection refused — a "
        "firewall or proxy may be blocking it (ECONNREFUSED)\", " + _PINNED + ")."),
    "Connection refused — a firewall or proxy may be blocking it": (
        "2.1.227 and later (the changelog; 2.1.233 in threads; " + _PINNED + ")", ""),
    "Self-signed certificate detected": ("2.1.201 (threads), " + _PINNED, ""),
    "SSL certificate verification failed": ("2.1.59 (threads), " + _PINNED, ""),
    "Missing API key": ("1.0.98–2.1.206 (threads)",
                        "\"Missing API key · Run /login\" is the older wording of \"Not logged "
                        "in · Please run /login\" (" + _PINNED + ")."),
    "Invalid API key · Please run /login": (
        "0.2.69–1.0.96 (threads)",
        "\"Invalid API key · Please run /login\" is the older wording of \"Invalid API key · "
        "Fix external API key\" (" + _PINNED + ")."),
    "Claude AI usage limit reached": (
        "1.0.31–2.0.1 (threads)",
        ("\"Claude AI usage limit reached|<time>\" is how 1.x clients report a plan's usage "
        "limit; 2.1.x say \"You've hit your limit · resets …\" (2.1.37–2.1.143 in threads).")),
    "You've hit your limit": ("2.1.37–2.1.143 (threads)", ""),
    "Connection closed mid-response": ("2.1.186 (threads)", ""),
    "The response stopped arriving": ("2.1.246 (threads)", ""),
    "check your inference gateway": ("2.1.161 (threads)", _GATEWAY),
    "empty or malformed response": ("2.1.118–2.1.220 (threads), " + _PINNED, ""),
    "API returned an empty or malformed response": ("2.1.118–2.1.220 (threads), " + _PINNED, ""),
    "OAuth token has expired": ("2.0.30–2.1.72 (threads), " + _PINNED, ""),
    "Credit balance is too low": ("1.0.6–2.1.227 (threads), " + _PINNED, ""),
    "Stream idle timeout - partial response received": (("2.1.x (threads; the idle watchdog "
                                                        "since 2.1.84)"), ""),
    "No data arrived for more than": (_PINNED, ""),
    "Request timed out.": ("1.0.9–1.0.60 (threads), " + _PINNED, ""),
    "SSL certificate hostname mismatch": (_PINNED, ""),
}

def _names(text: str, weights: dict[str, int]) -> bool:
    """A field message names a cause (and is an entry of the error index) when it weighs as
    much as a specific signature and is more than one common word (``billing``, ``代理``)."""
    one_word = " " not in text.strip() and (text.islower() or not text.isascii())
    return max(weights.values()) >= 12 and not (one_word and len(text) < 12)


def _merge(causes: dict[str, Cause]) -> dict[str, Cause]:
    """The catalogue with :data:`FIELD`'s messages added to each cause they point to."""
    extra: dict[str, list[Sig]] = {}
    for text, weights, also, seen, note, index in FIELD:
        for code, weight in weights.items():
            if code not in causes:
                raise KeyError(f"FIELD names an unknown cause {code!r}")
            extra.setdefault(code, []).append(
                Sig(text, also, weight, seen, note, index and _names(text, weights)))
    def dated(sig: Sig) -> Sig:
        seen, note = SEEN.get(sig.text, (sig.seen, sig.note))
        return replace(sig, seen=seen or sig.seen, note=note or sig.note)

    return {code: replace(c, sigs=tuple(dated(s) for s in c.sigs + tuple(extra.get(code, ()))))
            for code, c in causes.items()}


CAUSES = _merge(CAUSES)


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
