"""What real users paste lands on its cause: the field corpus (``tests/fixtures/field/``).

Each entry is a paste from a public issue thread (anthropics/claude-code and the gateways and
relays around it) with the cause its thread shows, the causes that would also be fair, the
client version where the thread gives one, and the evidence. The split is fixed in the files:
the catalogue is tuned on ``tune``; ``held`` is the part it was not tuned on (bench/field.py
reports both; bench/results.md quotes them). Function calls only: no lab, no site.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict

import pytest
from conftest import ROOT

from runbooks.causes import CAUSES
from runbooks.triage import client_version, match_message, normalise, rank

FIELD = ROOT / "tests" / "fixtures" / "field"
ROWS = [json.loads(line) for path in sorted(FIELD.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
BY_ID = {r["id"]: r for r in ROWS}
TUNE = [r for r in ROWS if r["split"] == "tune"]
HELD = [r for r in ROWS if r["split"] == "held"]

#: The held-out figures when the catalogue was last tuned (bench/results.md): they may rise,
#: never fall. Top-3 is the thread's cause or an alternate among the first three.
HELD_TOP1, HELD_TOP3 = 0.79, 0.90


def _top(r: dict, n: int) -> bool:
    return bool({r["cause"], *r["alternates"]} & {c.code for c in match_message(r["message"])[:n]})


def test_the_corpus_is_real_sized_sourced_and_clean():
    assert len(ROWS) >= 150 and len(BY_ID) == len(ROWS)
    for r in ROWS:
        assert set(r) >= {"id", "split", "source", "cause", "alternates", "version", "classes",
                          "message", "evidence"}, r["id"]
        assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/(issues|pull)/\d+", r["source"])
        assert r["cause"] in CAUSES and all(a in CAUSES for a in r["alternates"]), r["id"]
        assert r["message"].strip() and r["evidence"].strip(), r["id"]
        # personal data stripped: no key, no real address
        assert not re.search(r"sk-ant-(?!REDACTED)\w{6,}", r["message"]), r["id"]
        assert all(m.endswith("example.com") for m in
                   re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", r["message"])), r["id"]


def test_the_split_is_fixed_by_the_id():
    """A third held out, by a hash of the id: adding entries never moves an old one."""
    for r in ROWS:
        held = int(hashlib.sha256(r["id"].encode()).hexdigest()[:8], 16) % 3 == 0
        assert r["split"] == ("held" if held else "tune"), r["id"]
    assert len(HELD) >= 50


def test_the_held_out_part_does_not_fall_below_its_figures():
    top1 = sum(_top(r, 1) for r in HELD) / len(HELD)
    top3 = sum(_top(r, 3) for r in HELD) / len(HELD)
    assert (top1, top3) >= (HELD_TOP1, HELD_TOP3) or (top1 >= HELD_TOP1 and top3 >= HELD_TOP3), \
        (top1, top3)


#: Every class of paste the issue names, by the corpus's tag for it.
CLASSES = ["wrapper", "inner", "json-body", "html-body", "double-escaped", "stack", "bun-code",
           "node-code", "old-banner", "guided", "misleading", "host", "gateway", "language",
           "fragment", "wrapped", "login", "install", "usage-limit", "startup"]


@pytest.mark.parametrize("tag", CLASSES)
def test_each_class_of_paste_lands_in_the_top_three(tag):
    rows = [r for r in TUNE if tag in r["classes"]]
    assert rows, f"no tune entry of class {tag}"
    missed = [r["id"] for r in rows if not _top(r, 3)]
    # a fragment or a bare "Connection error." may say too little: three in four at least
    assert len(missed) <= len(rows) // 4, (tag, missed)


def test_every_cause_the_threads_show_is_found_for_one_of_its_pastes():
    """No cause is unreachable: for each cause in the tune part, at least one of its pastes
    ranks it in the top three."""
    firsts: dict[str, bool] = defaultdict(bool)
    for r in TUNE:
        firsts[r["cause"]] |= r["cause"] in [c.code for c in match_message(r["message"])[:3]]
    # their pastes say only "Connection error.", or name the symptom (ETIMEDOUT, ECONNRESET)
    # where the thread found the cause deeper (a TLS version, NO_PROXY)
    generic = {"proxy.shadowed", "proxy.auth_required", "proxy.local_not_bypassed",
               "status.incident", "tls.handshake_failed", "proxy.bypassed",
               "auth.malformed",  # a Kimi key in the wrong variable: the thread says either
               "config.timeout_too_low"}  # its one paste ranks its alternate first
    assert [c for c, ok in firsts.items() if not ok and c not in generic] == []


# -- normalising: real pastes ---------------------------------------------------------------
def test_a_double_escaped_bug_report_reads_as_its_json():
    r = BY_ID["cc-1491-1"]
    assert '\\"' in r["message"] and '\\"' not in normalise(r["message"])
    assert '"type":"invalid_request_error"' in normalise(r["message"])
    assert match_message(r["message"])[0].code == "auth.billing"


def test_an_html_page_is_read_by_its_title_and_marked():
    r = BY_ID["cc-23498-1"]
    n = normalise(r["message"])
    assert n.startswith("<!doctype html>") and "edge ip restricted" in n and "<title>" not in n
    assert match_message(r["message"])[0].code == "http.edge_blocked"


def test_tree_markers_and_retry_lines_do_not_hide_the_inner_line():
    r = BY_ID["cc-8054-1"]
    assert "⎿" in r["message"] and "⎿" not in normalise(r["message"])
    assert match_message(r["message"])[0].code == "tls.untrusted_issuer"


def test_a_message_wrapped_by_the_terminal_still_matches():
    """``OAuth ⏎ token has expired``: the line break is white space like any other."""
    r = BY_ID["cc-6459-1"]
    assert "OAuth \n" in r["message"] or "OAuth\n" in r["message"]
    assert match_message(r["message"])[0].code == "auth.expired"
    # and a word the terminal cut in two
    assert match_message("Unable to connect to API (ConnectionRef\n   used)")[0].code == \
        "tcp.refused"


def test_html_in_a_paste_is_text_and_its_scripts_are_dropped():
    page = ("API Error: 502 <html><head><title>502 Bad Gateway</title><script>var timeout = "
            "'ETIMEDOUT';</script></head><body>nginx</body></html>")
    assert "etimedout" not in normalise(page)
    assert match_message(page)[0].code == "http.server_error"


# -- versions ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, version", [
    ("Claude Code v1.0.35\nAPI Error (Connection error.)", "1.0.35"),
    ('{"version": "2.0.14", "error": "x"}', "2.0.14"),
    ("npm i -g @anthropic-ai/claude-code@2.1.227", "2.1.227"),
    ("API Error: 529 overloaded_error", None),
])
def test_the_client_version_a_paste_names(text, version):
    assert client_version(text) == version


def test_the_corpus_versions_are_read_where_the_paste_names_them():
    named = [r for r in ROWS if client_version(r["message"])]
    assert named and all(client_version(r["message"]) == r["version"] for r in named)


def test_an_old_wording_says_what_the_client_says_now():
    r = BY_ID["cc-4560-1"]  # ⎿ API Error (Connection error.) · Retrying … TypeError (fetch failed)
    notes = rank(r["message"]).notes
    assert any("before 2.1.33" in n and "Debug logs" in n for n in notes), notes


def test_a_paste_from_an_older_client_hears_what_changed_since():
    t = rank("Claude Code v2.1.20\nAPI Error: Connection error.")
    assert t.version == "2.1.20"
    assert any(n.startswith("since 2.1.33:") for n in t.notes), t.notes
    assert not any(n.startswith("since 1.0.93") for n in t.notes)


# -- ranking: the question that tells the causes apart ------------------------------------------
@pytest.mark.parametrize("message", ["Request timed out", "ECONNRESET", "credit balance too low"])
def test_an_ambiguous_message_ranks_several_causes_each_with_its_deciding_check(message):
    ranked = rank(message).ranked
    assert len(ranked) >= 2
    assert all(i.cause.check for i in ranked[:3])
    assert len({i.cause.check for i in ranked[:3]}) == len(ranked[:3])


def test_credit_balance_too_low_names_the_stray_key_too():
    """A stray ANTHROPIC_API_KEY over a subscription login bills the API (cc-14102)."""
    codes = [c.code for c in match_message(BY_ID["cc-14102-1"]["message"])[:2]]
    assert set(codes) == {"auth.billing", "auth.conflict"}


def test_the_country_note_under_the_old_banner_does_not_decide():
    """1.x's start-up check prints "might not be available in your country" under every
    failure: the code after the colon decides."""
    r = BY_ID["cc-2816-1"]
    assert "country" in r["message"]
    assert match_message(r["message"])[0].code != "region.unsupported"


def test_every_check_is_a_question_or_a_command():
    for c in CAUSES.values():
        assert c.check and ("?" in c.check or "`" in c.check), c.code


def test_the_triage_page_states_the_figures_of_the_catalogue_it_is_built_with():
    from runbooks.site import field
    from runbooks.site.hooks import FIGURES_MARK, field_figures

    pastes, problems = field.load(FIELD)
    assert problems == [] and len(pastes) == len(ROWS)
    fig = field.figures(pastes)
    top1 = sum(_top(r, 1) for r in HELD) / len(HELD)
    assert fig["held"]["n"] == len(HELD) and abs(fig["held"]["top1"] - top1) < 1e-9
    table = field_figures(pastes)
    assert f"| held out (not tuned on) | {len(HELD)} | {top1:.1%} |" in table
    assert FIGURES_MARK in (ROOT / "docs" / "reference" / "triage.md").read_text()
    assert "not in this build" in field_figures([])


def test_triage_says_when_only_general_words_matched(capsys):
    from runbooks.cli import main

    assert main(["triage", "it says not found behind our proxy"]) == 0
    assert capsys.readouterr().out.startswith("Only general words matched")
    assert main(["triage", "connect ECONNREFUSED 127.0.0.1:443"]) == 0
    assert "Only general words" not in capsys.readouterr().out
