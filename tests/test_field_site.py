"""What the site shows from the field corpus (tests/fixtures/field/): a few real pastes under
each cause's heading, as text, masked, with version and thread; no corpus, no block. And the
error index's client versions: every dated signature (``Sig.seen``/``note``) next to its
message. Function calls on the hooks and small corpora in a temporary folder: no site build."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import markdown
import pytest
from conftest import ROOT

from runbooks.causes import CAUSES, MESSAGES, Sig
from runbooks.site import field, hooks

#: Key-shaped and URL secrets as they would arrive in a paste that escaped scrubbing.
KEY = "sk-ant-api03-" + "Zq7" * 30 + "AAAA"
PROXY_PASSWORD = "hunter2-canary-pw"


def _row(i: int, cause: str, message: str, source: str | None = None,
         version: str | None = "2.1.100") -> dict:
    return {"id": f"t-{i}", "split": "tune", "cause": cause, "alternates": [],
            "version": version, "classes": [], "message": message, "evidence": "",
            "source": source or f"https://github.com/anthropics/claude-code/issues/{i}"}


def _corpus(folder: Path, rows: list[dict], name: str = "a.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def _render(block: str) -> str:
    return markdown.markdown(block, extensions=["admonition", "pymdownx.details",
                                                "pymdownx.superfences", "attr_list"])


def test_the_block_shows_the_shortest_paste_of_each_thread_shortest_first(tmp_path):
    rows = [_row(1, "tcp.reset", "ECONNRESET " + "x" * 50),
            _row(2, "tcp.reset", "socket hang up", version=None),
            _row(3, "tcp.reset", "ECONNRESET again, longer " + "y" * 80,
                 source="https://github.com/anthropics/claude-code/issues/1"),
            _row(4, "tcp.reset", "read ECONNRESET", source="https://github.com/anthropics/claude-code/issues/1"),
            _row(5, "tcp.refused", "ECONNREFUSED")]
    pastes, problems = field.load(_corpus(tmp_path / "field", rows))
    assert problems == [] and len(pastes) == 5
    block = hooks.pasted_block("tcp.reset", pastes, "network.md")
    assert block.startswith('??? quote "What users pasted (2 threads)"')
    items = [line for line in block.splitlines() if line.startswith("    - ")]
    assert items == [
        ("    - `socket hang up` · version not given · "
         "[anthropics/claude-code#2](https://github.com/anthropics/claude-code/issues/2)"),
        ("    - `read ECONNRESET` · v2.1.100 · "
         "[anthropics/claude-code#1](https://github.com/anthropics/claude-code/issues/1)")]
    assert "(reference/triage.md#corpus)" in block
    assert hooks.pasted_block("dns.timeout", pastes, "network.md") == ""


def test_at_most_a_few_pastes_and_the_rest_counted(tmp_path):
    rows = [_row(i, "overloaded", f"529 overloaded {'z' * i}") for i in range(1, 9)]
    pastes, _ = field.load(_corpus(tmp_path / "field", rows))
    block = hooks.pasted_block("overloaded", pastes)
    assert block.count("\n    - ") == hooks.PASTES_SHOWN
    assert "(8 threads)" in block and "And 3 more threads in the corpus." in block


def test_a_paste_is_shown_as_text_never_as_markup(tmp_path):
    hostile = ("API Error: 403 <script>alert(1)</script><b>bold</b> `tick` ``two`` | pipe "
               "*star* { #tcp.refused } --8<-- \"x.txt\"\x1b[31m red\n    second line")
    pastes, _ = field.load(_corpus(tmp_path / "field", [_row(1, "http.edge_blocked", hostile)]))
    block = hooks.pasted_block("http.edge_blocked", pastes, "network.md")
    html = _render(block)
    assert "<script>" not in html and "<b>" not in html and "<em>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\\x1b[31m" in html and "\x1b" not in html  # a control character shown escaped
    assert "red second line" in html  # one line: the paste's line breaks are spaces
    assert 'id="tcp.refused"' not in html


def test_secrets_in_a_paste_are_masked_before_it_is_cut(tmp_path):
    """A key and a proxy password, one far past the cut and one straddling it: neither
    reaches the block, whole or in part."""
    straddle = "x" * (hooks.PASTE_WIDTH - 20) + " " + KEY
    rows = [_row(1, "auth.invalid", f"401 invalid x-api-key {KEY} via "
                                    f"http://alice:{PROXY_PASSWORD}@proxy.corp:8080"),
            _row(2, "auth.invalid", straddle)]
    pastes, _ = field.load(_corpus(tmp_path / "field", rows))
    block = hooks.pasted_block("auth.invalid", pastes, "auth.md")
    assert block.count("\n    - ") == 2
    assert PROXY_PASSWORD not in block
    assert KEY[:24] not in block and KEY[-12:] not in block
    for shown in (hooks.paste_text(r["message"]) for r in rows):
        assert KEY[12:30] not in shown and len(shown) <= hooks.PASTE_WIDTH


def test_no_corpus_folder_means_no_block_and_no_error(tmp_path):
    assert field.load(tmp_path / "nowhere") == ([], [])
    md = "## Reset { #tcp.reset }\n\ntext\n"
    out, found = hooks.add_messages(md, "network.md", [])
    assert found == {"tcp.reset"} and "What users pasted" not in out
    assert "Messages that lead here" in out


def test_unusable_corpus_files_and_rows_are_named_not_read(tmp_path):
    folder = _corpus(tmp_path / "field", [_row(1, "tcp.reset", "ECONNRESET")])
    (folder / "b.jsonl").write_text('not json\n{"id": "x"}\n\n' + json.dumps(
        _row(2, "tcp.reset", "ok", source="http://insecure.example/1")) + "\n")
    (folder / "c.jsonl").write_bytes(b"x" * 2048)
    os.mkfifo(folder / "d.jsonl")  # would block a plain open() forever
    pastes, problems = field.load(folder, cap=1024)
    assert [p.id for p in pastes] == ["t-1"]
    assert problems == ["b.jsonl:1: not JSON", "b.jsonl:2: lacks id, source, cause or message",
                        "b.jsonl:4: lacks id, source, cause or message",
                        "c.jsonl is 2,048 bytes, over the 1,024-byte limit",
                        "d.jsonl is a FIFO (named pipe), not a regular file"]


def test_the_real_corpus_reads_whole_and_each_labelled_cause_shows_it():
    pastes, problems = field.load(hooks.FIELD_DIR)
    assert problems == [] and len(pastes) >= 262
    assert {p.cause for p in pastes} <= set(CAUSES)
    for code, mine in field.by_cause(pastes).items():
        c = CAUSES[code]
        page = (ROOT / "docs" / c.page).read_text(encoding="utf-8")
        out, _ = hooks.add_messages(page, c.page, pastes)
        threads = len({p.source for p in mine})
        assert f'What users pasted ({threads} thread{"s" if threads != 1 else ""})' in out, code


def test_thread_names():
    assert field.thread_name("https://github.com/jahwag/clem/pull/254") == "jahwag/clem#254"
    assert field.thread_name("https://example.org/forum/t/9") == "example.org"


# -- the error index: client versions next to the messages ---------------------------------------
def test_the_pinned_client_is_the_makefiles():
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^CLAUDE_CODE_VERSION := (\S+)$", make, re.MULTILINE).group(1) == \
        hooks.PINNED_CLIENT


def test_every_whole_message_carries_the_version_it_was_captured_from():
    md = hooks.error_index()
    for m in MESSAGES:
        assert f"{hooks.code(m)} · *v{hooks.PINNED_CLIENT}*\n" in md, m


def _dated(monkeypatch, code: str, *sigs: Sig, replace: str | None = None) -> None:
    c = CAUSES[code]
    kept = tuple(s for s in c.sigs if s.text != replace)
    monkeypatch.setitem(CAUSES, code, dataclasses.replace(c, sigs=kept + sigs))


def test_every_dated_signature_is_shown_with_its_versions_and_note(monkeypatch):
    """An older wording and the newer one both appear, each with its versions: next to the
    entry it is (or is part of), and in the list of wordings by version."""
    old = Sig("ECONNRESET", seen="v0.2.9 to v2.1.84", note="NOTE-RESET: newer clients retry")
    inside = Sig("connect ECONNREFUSED", seen="SEEN-INSIDE")
    banner = Sig("Unable to connect to Anthropic services", also=("ECONNREFUSED",),
                 seen="before 2.1.33 (issue threads)",
                 note="NOTE-BANNER: v2.1.227 and later say \"Connection refused — a firewall "
                      "or proxy may be blocking it\"")
    _dated(monkeypatch, "tcp.reset", old, replace="ECONNRESET")
    _dated(monkeypatch, "tcp.refused", inside, banner, replace="connect ECONNREFUSED")
    md = hooks.error_index()
    entries, wordings = md.split("## Wordings by client version", 1)
    assert "`ECONNRESET` · *v0.2.9 to v2.1.84*\n" in entries
    assert "NOTE-RESET: newer clients retry" in entries
    assert "`connect ECONNREFUSED` · *SEEN-INSIDE*" in entries
    # the banner is two parts no entry holds together: listed with its versions only
    assert "NOTE-BANNER" not in entries
    assert ("- `Unable to connect to Anthropic services` with `ECONNREFUSED` · *before 2.1.33 "
            "(issue threads)* · NOTE-BANNER: v2.1.227 and later say") in wordings
    new = "API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)"
    assert f"`{new}` · *v{hooks.PINNED_CLIENT}*" in entries  # the newer wording, dated too
    for line in wordings.split("## Every cause code", 1)[0].splitlines():
        if line.startswith("- "):
            assert re.search(r"\]\([\w-]+\.md#[\w.]+\)", line), line  # each to its cause


def test_the_dated_signatures_the_catalogue_has_are_on_the_index():
    md = hooks.error_index()
    dated = [s for c in CAUSES.values() for s in c.sigs if s.seen or s.note]
    for s in dated:
        if s.seen:
            assert f"*{s.seen}*" in md, s
        if s.note:
            assert hooks.escape(s.note, quote=False) in md, s


@pytest.mark.parametrize("page", ["network.md", "auth.md", "rate-limits.md", "proxy-tls.md",
                                  "debugging.md"])
def test_pages_that_quote_threads_link_them(page):
    """A section that quotes an issue thread names it as a link (the source of the quote)."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    for m in re.finditer(r"\[([\w.-]+/[\w.-]+)?#(\d+)\]\((https://github\.com/[^)]+)\)", text):
        assert m.group(3).rstrip("/").endswith("/" + m.group(2)), m.group(0)
