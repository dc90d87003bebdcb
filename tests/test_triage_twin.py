"""What the site's "paste your error" box relies on: :mod:`runbooks.triage` gives an answer for
every paste (no number too long to read), and the string it ranks is one that JavaScript can
hold the same way (the browser test, ``tests/test_browser.py``, compares the two on the whole
corpus)."""

from __future__ import annotations

from runbooks.causes import CHANGES
from runbooks.triage import client_version, normalise, rank

TIMEOUT = ("Request timed out. If the API is slow to answer, or a proxy or gateway holds "
           "responses, set API_TIMEOUT_MS above {}.")


def test_a_quoted_timeout_of_any_length_orders_the_causes():
    """``int()`` refuses more than 4,300 digits: a long number was a ValueError (a traceback
    from ``runbooks triage``); it is now read by its value, leading zeros and all."""
    huge = rank(TIMEOUT.format("9" * 5000)).ranked
    assert huge[0].cause.code == "http.first_byte_timeout"
    tiny = rank(TIMEOUT.format("0" * 5000 + "5")).ranked
    assert tiny[0].cause.code == "config.timeout_invalid"
    assert rank(TIMEOUT.format("0" * 5000 + "30000")).ranked[0].cause.code == \
        "config.timeout_too_low"


def test_a_quoted_timeout_in_other_digits_is_read_by_its_value():
    assert rank(TIMEOUT.format("٣")).ranked[0].cause.code == "config.timeout_invalid"  # 3
    assert rank(TIMEOUT.format("３００００")).ranked[0].cause.code == "config.timeout_too_low"


def test_a_version_of_any_length_is_compared_by_its_value():
    first = CHANGES[0][0]
    newest = rank("Claude Code v2.1." + "9" * 5000 + " connect ETIMEDOUT")
    assert newest.version == "2.1." + "9" * 5000
    assert not [n for n in newest.notes if n.startswith("since ")]
    oldest = rank("Claude Code v0.0." + "0" * 5000 + "1 connect ETIMEDOUT")
    assert any(n.startswith("since ") for n in oldest.notes), oldest.notes
    assert client_version("claude-code@0" + "0" * 4400 + "1.0.35") == "0" * 4401 + "1.0.35"
    assert first  # the changes exist at all


def test_an_escaped_character_beyond_the_bmp_is_one_character():
    r"""``\ud83d\ude00`` (JSON's spelling of 😀) was two lone surrogates, which JavaScript
    cannot tell from the one character; a lone one stays as it is."""
    assert normalise(r'"\ud83d\ude00 ok"') == '"\U0001f600 ok"'
    assert normalise(r"a \\ud83d\\ude00 b") == "a \U0001f600 b"
    assert normalise(r"lone \ud800 x") == "lone \ud800 x"


def test_a_hostile_paste_is_normalised_in_bounded_time():
    """A megabyte of backslashes was about three hours (each escape retried from every
    backslash of the run); 800 KB of unclosed ``<script>`` ten minutes (the closing tag looked
    for from every opening). Both are now linear."""
    import time

    for text in ("\\" * (1 << 20), "<html>" + "<script>" * 100_000,
                 "<html>" + "<style a" * 100_000, "<html><script>" + "</scrip" * 100_000):
        start = time.monotonic()
        normalise(text)
        assert time.monotonic() - start < 2, text[:20]


def test_script_and_style_blocks_go_as_before():
    page = ("<!DOCTYPE html><html><head><title>Attention Required!</title>"
            "<STYLE type=x>body{}</style ><script>var e='connect ETIMEDOUT'</SCRIPT>"
            "<scripts>kept</scripts><script>never closed <b>x</b></html>")
    assert normalise(page) == ("<!doctype html> attention required! kept never closed x")
    assert normalise(r"<html>\\\\\\u0041 \\\\n \\\\\"q") == "<!doctype html> a \"q"
