"""The cause catalogue: stable public names, each explained on the site."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.causes import CAUSES, PAGES, doc_url
from runbooks.triage import match_message

ROOT = Path(__file__).resolve().parent.parent

#: The public codes as first published. Add to the catalogue; never remove or rename.
PUBLISHED = ["dns.nxdomain", "dns.timeout", "tcp.refused", "tcp.timeout", "tcp.unreachable", "tcp.reset", "ipv6.broken", "tls.untrusted_issuer", "tls.hostname_mismatch", "tls.expired", "tls.not_yet_valid", "tls.handshake_failed", "proxy.bad_url", "proxy.unreachable", "proxy.auth_required", "proxy.rejected", "proxy.bypassed", "http.not_api", "http.first_byte_timeout", "http.stream_stall", "http.server_error", "auth.missing", "auth.malformed", "auth.invalid", "auth.forbidden", "auth.conflict", "ratelimit.exceeded", "ratelimit.spend_cap", "overloaded", "config.timeout_too_low", "config.timeout_invalid", "config.ca_file_invalid", "config.settings_invalid", "status.incident", "status.unreachable", "proxy.shadowed", "http.stream_buffered", "auth.helper_failed", "auth.billing", "config.timeout_disabled", "network.intermittent"]


def test_every_published_code_still_exists():
    assert set(PUBLISHED) <= set(CAUSES)


@pytest.mark.parametrize("code", sorted(CAUSES))
def test_each_code_is_an_anchor_on_its_page(code):
    c = CAUSES[code]
    assert c.page in PAGES
    page = (ROOT / "docs" / c.page).read_text()
    assert f"{{ #{code} }}" in page, f"docs/{c.page} has no heading anchored {{ #{code} }}"
    assert c.fix and c.title


def test_doc_url_is_the_public_site_unless_overridden(monkeypatch):
    from runbooks.causes import SITE_URL

    assert doc_url("tls.expired") == SITE_URL + "proxy-tls/#tls.expired"
    monkeypatch.setenv("RUNBOOKS_DOCS_URL", "https://kb.example")
    assert doc_url("tls.expired") == "https://kb.example/proxy-tls/#tls.expired"


@pytest.mark.parametrize("message, code", [
    # the real client against a private CA (facts §5)
    (("API Error: Unable to connect to API: SSL certificate verification failed "
      "(UNABLE_TO_VERIFY_LEAF_SIGNATURE)"), "tls.untrusted_issuer"),
    # a refused port
    ("API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)",
     "tcp.refused"),
    # the seed guide's headline
    ("Claude Code API request failed: connect ETIMEDOUT", "tcp.timeout"),
    # claude doctor with no network
    (("API (api.anthropic.com): failed after 2 ms: Can't reach the API server — check your "
      "internet or DNS (ENOTFOUND)"), "dns.nxdomain"),
    ("Invalid API key · Fix external API key", "auth.invalid"),
    ("Repeated 529 Overloaded errors", "overloaded"),
    # the bare code, as a reader pastes it (`runbooks triage ECONNREFUSED`)
    ("ECONNREFUSED", "tcp.refused"),
])
def test_messages_users_see_point_to_their_cause(message, code):
    assert code in [c.code for c in match_message(message)]


@pytest.mark.parametrize("text, found", [
    ("API Error: 529 {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}", True),
    ("HTTP 529", True),
    ("Connection timeout after 15290ms", False),  # a number that merely contains 529
])
def test_a_bare_status_code_matches_only_as_a_word(text, found):
    assert ("overloaded" in [c.code for c in match_message(text)]) is found
