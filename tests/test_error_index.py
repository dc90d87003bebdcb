"""The error index, grouped by what the user sees: one entry per message, its causes ranked as
`runbooks triage` ranks them, no fragment that nobody sees printed on its own. And the lines of
a doctor transcript a fix page shows unfolded: its findings, generated from the stored whole.
Function calls on the catalogue and the stored files: no site build, no lab."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from runbooks.causes import CAUSES, MESSAGES, PAGES
from runbooks.site.examples import DOCTOR_SCENARIOS, EXAMPLES_DIR, FINDINGS_DIR, findings_excerpt
from runbooks.site.hooks import error_index, index_entries, index_messages, timeout_bands
from runbooks.triage import match_message


def _codes(text: str) -> list[str]:
    return [c.code for c in match_message(text)]


def test_each_message_is_one_entry():
    messages = index_messages()
    low = [m.lower() for m in messages]
    assert len(low) == len(set(low)), sorted(m for m in low if low.count(m) > 1)
    listed = [m for _, groups in index_entries() for ms, _ in groups for m in ms]
    assert sorted(listed) == sorted(messages)  # every message under exactly one entry
    # what the raw dump repeated: one entry each now
    for message in ("ECONNRESET", "ERR_PROXY_TUNNEL", "Not logged in · Please run /login"):
        assert sum(message.lower() in m.lower() for m in messages) == 1, message


def test_every_signature_can_be_found_on_the_page():
    """A signature that is not an entry of its own is inside one (a browser's find finds it)."""
    messages = [m.lower() for m in index_messages()]
    for c in CAUSES.values():
        for sig in c.signatures:
            assert any(sig.lower() in m for m in messages), (c.code, sig)


@pytest.mark.parametrize("fragment", ["set API_TIMEOUT_MS above", "No data arrived for more than",
                                      "Request timed out.",
                                      "Connection refused — a firewall or proxy may be blocking it",
                                      "ETIMEDOUT", "ENOTFOUND", "Invalid X-Api-Key header value"])
def test_fragments_are_not_entries(fragment):
    """Advice and parts of a longer message are shown inside the message users see."""
    assert fragment not in index_messages()
    assert any(fragment.lower() in m.lower() for m in index_messages())


def test_no_entry_is_a_part_of_another_that_means_the_same():
    """A message inside another is an entry only where triage ranks the two differently
    (`invalid x-api-key`, the API's 401, is not `Invalid X-Api-Key header value`, the client's
    refusal to send)."""
    messages = index_messages()
    for a in messages:
        for b in messages:
            if a != b and a.lower() in b.lower():
                assert _codes(a) != _codes(b), (a, b)


def test_causes_are_ranked_as_triage_ranks_them():
    for page, groups in index_entries():
        assert page in PAGES
        for messages, (kind, ranking) in groups:
            for m in messages:
                if kind == "causes":
                    assert list(ranking) == _codes(m), m
                    assert CAUSES[ranking[0]].page == page, m  # in its likeliest cause's section
                else:
                    assert [(label, [c.code for c in cs]) for label, cs in timeout_bands(m)] == [
                        (label, list(codes)) for label, codes in ranking]


def test_the_timeout_message_ranks_its_causes_by_the_number_it_quotes():
    (message,) = [m for m in MESSAGES if "API_TIMEOUT_MS above N" in m]
    bands = dict(timeout_bands(message))
    assert list(bands) == ["N below 1000", "N from 1000 to 59999", "N of 60000 or more"]
    assert [c.code for c in bands["N below 1000"]][:2] == ["config.timeout_invalid",
                                                           "config.timeout_too_low"]
    assert bands["N from 1000 to 59999"][0].code == "config.timeout_too_low"
    assert bands["N of 60000 or more"][0].code == "http.first_byte_timeout"
    for n, band in ((10, "N below 1000"), (5000, "N from 1000 to 59999"),
                    (600000, "N of 60000 or more")):
        quoted = message.replace("above N", f"above {n}")
        assert _codes(quoted) == [c.code for c in bands[band]]


def test_every_message_the_lab_gets_from_the_client_is_an_entry():
    """MESSAGES holds what v2.1.332 prints against each lab fault (the client tests check
    each scenario's client_message against the real client)."""
    from runbooks.lab import SCENARIOS
    from runbooks.lab.api import LAB_REPLY

    printed = {re.sub(r"(API_TIMEOUT_MS above )\d+", r"\1N", s.client_message)
               for s in SCENARIOS.values() if s.client_message and s.client_message != LAB_REPLY}
    assert printed, "no lab scenario records what the client prints"
    assert printed <= set(MESSAGES), printed - set(MESSAGES)
    assert set(MESSAGES) <= set(index_messages())


def test_the_index_page_is_stacked_not_a_table():
    """Terms and definitions (one column at any width), no table; cause codes as HTML code
    that may break after a dot only."""
    md = error_index()
    assert "| --- |" not in md
    assert md.count("\n:   ") >= len(CAUSES) // 2
    for code in CAUSES:
        wbr = code.replace(".", ".<wbr>")
        assert f'<code class="cause">{wbr}</code>' in md, code
    assert "runbooks triage" in md and "runbooks doctor" in md


# -- the lines of a transcript a page shows ------------------------------------------------------
TRANSCRIPT = """$ ANTHROPIC_BASE_URL=http://127.0.0.1:1 runbooks doctor
Claude Code connection check · doctor · http://127.0.0.1:1
network
[✓] Target         http://127.0.0.1:1 (from ANTHROPIC_BASE_URL)
[-] DNS            127.0.0.1 is an IP address: no lookup
[✗] TCP IPv4       127.0.0.1:1 refused the connection
    cause: tcp.refused
    fix:   Nothing accepts connections there.
    docs:  https://example.invalid/network/#tcp.refused
[-] TLS            plain http:// target: no TLS
auth
[✓] Credentials    sends x-api-key
timeouts
[✓] API_TIMEOUT_MS not set
[!] Sampling       4 of 12 samples failed
      connect    p50 0.2
    cause: network.intermittent
[✓] Retries        not set

2 issues found in 0.1 s: tcp.refused, network.intermittent
(exit 1)
"""


def test_the_excerpt_keeps_the_findings_and_marks_what_it_leaves_out():
    assert findings_excerpt(TRANSCRIPT) == """$ ANTHROPIC_BASE_URL=http://127.0.0.1:1 runbooks doctor
Claude Code connection check · doctor · http://127.0.0.1:1
network
…
[✗] TCP IPv4       127.0.0.1:1 refused the connection
    cause: tcp.refused
    fix:   Nothing accepts connections there.
    docs:  https://example.invalid/network/#tcp.refused
…
timeouts
…
[!] Sampling       4 of 12 samples failed
      connect    p50 0.2
    cause: network.intermittent
…

2 issues found in 0.1 s: tcp.refused, network.intermittent
(exit 1)
"""


@pytest.mark.parametrize("scenario", sorted(DOCTOR_SCENARIOS))
def test_each_excerpt_is_the_findings_of_its_stored_transcript(scenario):
    """`make examples` writes both; the whole is checked against a fresh run (test_site.py)."""
    whole = (EXAMPLES_DIR / f"doctor-{scenario}.txt").read_text()
    stored = FINDINGS_DIR / f"doctor-{scenario}.txt"
    assert stored.is_file(), f"{stored} is missing: run `make examples`"
    assert stored.read_text() == findings_excerpt(whole), f"{stored} is stale: `make examples`"


_INCLUDE = re.compile(r'^([ \t]*)--8<-- "examples/(findings/)?(doctor-[\w-]+)\.txt"[ \t]*$',
                      re.MULTILINE)


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "docs").glob("*.md")))
def test_a_page_shows_the_findings_and_folds_the_whole_transcript(page):
    """A doctor transcript is included whole only in a collapsible block (``???``); where a
    page shows a transcript's findings, the whole follows, folded, before the next heading."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    lines = text.splitlines()
    for m in _INCLUDE.finditer(text):
        indent, excerpt, stem = m.groups()
        at = text[:m.start()].count("\n")
        if excerpt:
            rest = "\n".join(lines[at + 1:])
            rest = rest.split("\n#", 1)[0]
            fold = re.search(rf'^\?\?\?\+? example "[^"]*"\n(?:[ \t]*\n)*    ```text\n'
                             rf'    --8<-- "examples/{stem}\.txt"\n', rest, re.MULTILINE)
            assert fold, f"{page}: the findings of {stem} are shown without the whole, folded"
            continue
        opener = next((line for line in reversed(lines[:at]) if line.strip()
                       and len(line) - len(line.lstrip()) < len(indent)), "")
        assert indent and opener.lstrip().startswith("???"), (
            f"{page}: {stem} is shown whole, unfolded: show examples/findings/{stem}.txt and "
            "fold the whole under it")
