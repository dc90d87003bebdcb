"""The built site in a real browser: Debian's Chromium driven by Playwright.

What a reader does: land on a page, search for the message they see, follow the error index
to the fix, switch the OS tabs once for every page, download the runbook. The site is served
from 127.0.0.1; every request to anywhere else is blocked and fails the test (the site makes
no third-party requests: no web fonts, no CDNs).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("site")]  # one site build

#: Chromium without its background traffic (this machine's network is closed, and tests
#: talk to loopback only).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    path = os.environ.get("RUNBOOKS_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium for the browser layer: `make browser` installs Debian's "
                    "(or set RUNBOOKS_CHROMIUM)")
    return path


@functools.cache
def _bench_search_field():
    """bench/search_field.py, the one copy of how the site is served and searched."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / "search_field.py"
    spec = importlib.util.spec_from_file_location("bench_search_field", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The built site on 127.0.0.1, served as bench/search_field.py serves it."""
    with _bench_search_field().serve(site) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _new_page(browser, **context):
    """A page that records console errors and blocks (and records) any request that is not to
    the local server."""
    ctx = browser.new_context(accept_downloads=True, **context)
    pg = ctx.new_page()
    pg.errors, pg.outside = [], []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))

    def guard(route):
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1",):
            return route.continue_()
        pg.outside.append(route.request.url)
        return route.abort()

    pg.route("**/*", guard)
    pg.set_default_timeout(15_000)
    return ctx, pg


@pytest.fixture
def page(browser, served):
    ctx, pg = _new_page(browser)
    yield pg
    ctx.close()


@pytest.fixture
def phone(browser, served):
    """A 375 px wide phone (an iPhone's width), touch, mobile viewport."""
    ctx, pg = _new_page(browser, viewport={"width": 375, "height": 812}, is_mobile=True,
                        has_touch=True, device_scale_factor=2)
    yield pg
    ctx.close()


@pytest.fixture(scope="module")
def search_page(browser, served):
    """One page for all the searches (the index loads once), as a reader searching again."""
    ctx, pg = _new_page(browser)
    pg.goto(served, wait_until="networkidle")
    yield pg
    ctx.close()


@pytest.mark.parametrize("path", ["", "network/", "proxy-tls/", "timeouts/", "auth/",
                                  "rate-limits/", "errors/", "notebooks/network/",
                                  "notebooks/auth/", "notebooks/timeouts/",
                                  "notebooks/rate-limits/", "reference/cli/", "reference/json/", "paste/",
                                  "reference/lab/", "reference/publishing/", "reference/fixes/",
                                  "long-tasks/", "getting-help/"])
def test_pages_load_clean_and_stay_local(page, served, path):
    page.goto(served + path, wait_until="networkidle")
    assert page.locator("h1").first.is_visible()
    assert page.errors == [], page.errors
    assert page.outside == [], f"third-party requests: {page.outside}"


#: What readers paste into the search box (facts §4–5, the catalogue) → where the first result
#: must take them: the page that fixes it, and the section there (any of several where Claude
#: Code prints the same words for several causes; the doctor tells them apart).
SEARCHES = [
    ("ETIMEDOUT", "network/", {"tcp.timeout"}),
    ("ENOTFOUND", "network/", {"dns.nxdomain"}),
    ("ECONNREFUSED", "network/", {"tcp.refused"}),
    ("ECONNRESET", "network/", {"tcp.reset", "ipv6.broken"}),
    ("EHOSTUNREACH", "network/", {"tcp.unreachable"}),
    ("EAI_AGAIN", "network/", {"dns.timeout"}),
    ("API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)",
     "network/", {"tcp.refused"}),
    ("Unexpected token '<'", "network/", {"http.not_api"}),
    ("Connection timeout after 120000ms", "network/", {"connection-timeout-after-120000ms"}),
    ("SELF_SIGNED_CERT_IN_CHAIN", "proxy-tls/", {"tls.untrusted_issuer"}),
    ("unable to get local issuer certificate", "proxy-tls/", {"tls.untrusted_issuer"}),
    ("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "proxy-tls/", {"tls.untrusted_issuer"}),
    ("SSL certificate verification failed", "proxy-tls/", {"tls.untrusted_issuer"}),
    # tls.client_store too: the client's own trust store rejecting a chain prints the same code
    # (the field's threads), and `runbooks triage CERT_HAS_EXPIRED` ranks it first; its
    # section quotes the code twice
    ("CERT_HAS_EXPIRED", "proxy-tls/", {"tls.expired", "tls.client_store"}),
    ("NODE_EXTRA_CA_CERTS", "proxy-tls/", {"tls.untrusted_issuer", "config.ca_file_invalid"}),
    ("ERR_PROXY_TUNNEL", "proxy-tls/", {"proxy.auth_required", "proxy.rejected"}),
    ("407 Proxy Authentication Required", "proxy-tls/", {"proxy.auth_required"}),
    ("Invalid proxy URL", "proxy-tls/", {"proxy.bad_url"}),
    ("UnsupportedProxyProtocol", "proxy-tls/", {"proxy.bad_url"}),
    ("Request timed out", "timeouts/", {"http.first_byte_timeout"}),
    ("API Error: terminated", "timeouts/", {"http.stream_stall"}),
    ("Invalid API key", "auth/", {"auth.invalid"}),
    ("overloaded_error", "rate-limits/", {"overloaded"}),
    ("Repeated 529 Overloaded errors", "rate-limits/", {"overloaded"}),
    ("rate_limit_error", "rate-limits/", {"ratelimit.exceeded"}),
    # the API layer, as v2.1.332 prints it (tests/test_client_api.py)
    ("Request rejected (429)", "rate-limits/", {"ratelimit.exceeded"}),
    ("You have reached your specified API usage limits", "rate-limits/",
     {"ratelimit.spend_cap"}),
    ("API Error: 529 Overloaded", "rate-limits/", {"overloaded"}),
    ("504 Gateway Time-out", "rate-limits/", {"http.server_error"}),
    ("Credit balance is too low", "auth/", {"auth.billing"}),
    ("Not logged in · Please run /login", "auth/", {"auth.missing", "auth.invalid"}),
    ("apiKeyHelper failed", "auth/", {"auth.helper_failed"}),
    ("Your apiKeyHelper script is failing", "auth/", {"auth.helper_failed"}),
    ("Invalid X-Api-Key header value from ANTHROPIC_API_KEY", "auth/", {"auth.malformed"}),
    ("Failed to authenticate. API Error: 403", "auth/", {"auth.forbidden"}),
    ("set API_TIMEOUT_MS above", "timeouts/", {"config.timeout_too_low"}),
    # the stream idle watchdog: explained with the limits, and where a silent server or a
    # buffering proxy trips it
    ("No data arrived for more than 5 minutes", "timeouts/",
     {"limits", "http.first_byte_timeout", "http.stream_buffered"}),
]


def search(page, text: str) -> list[list[str]]:
    """Type ``text`` into the search box as a reader does; the results, grouped by page as
    Material shows them: each group's links, the page first, then its sections by rank."""
    page.locator("label.md-search__icon, .md-search__input").first.click()
    box = page.locator("input.md-search__input")
    box.fill("")
    page.wait_for_function("""() => !/matching/.test(
        document.querySelector('.md-search-result__meta').textContent)""")
    box.fill(text[:-1])  # a paste, then the last key: Material searches on key events
    box.press_sequentially(text[-1])
    page.wait_for_function("""() => {
        const m = document.querySelector('.md-search-result__meta');
        return m && /matching/.test(m.textContent) }""")
    page.wait_for_timeout(300)  # the last keystroke's query, not an earlier one
    return page.evaluate("""() => [...document.querySelectorAll('.md-search-result__item')]
        .map(li => [...li.querySelectorAll('a.md-search-result__link')].map(a => {
            const u = new URL(a.href); return u.pathname + u.hash }))""")


@pytest.mark.parametrize("text, fix_page, anchors", SEARCHES, ids=[s[0][:40] for s in SEARCHES])
def test_search_takes_a_pasted_message_to_its_fix(search_page, text, fix_page, anchors):
    groups = search(search_page, text)
    assert search_page.errors == [] and search_page.outside == []
    assert groups, f"no result for {text!r}"
    first = groups[0]
    assert first[0] == "/" + fix_page, f"{text!r}: first result {first[0]}, not /{fix_page}"
    best = next((link.split("#", 1)[1] for link in first[1:] if "#" in link), None)
    assert best in anchors, f"{text!r}: best section #{best}, not one of {sorted(anchors)}"


def test_search_for_runbooks_undo_lands_on_the_fixes_reference(search_page):
    """Every fix section says `runbooks undo`; the page that explains it (when it refuses,
    going further back) is the fixes reference, and its section on undo comes first."""
    groups = search(search_page, "runbooks undo")
    assert search_page.errors == [] and search_page.outside == []
    assert groups and groups[0][0] == "/reference/fixes/", groups[:3]
    best = next((link.split("#", 1)[1] for link in groups[0][1:] if "#" in link), None)
    assert best == "undo", groups[0]


def test_error_index_leads_to_the_fix(page, served):
    page.goto(served + "errors/", wait_until="networkidle")
    page.locator("a[href$='#tls.untrusted_issuer']").first.click()
    page.wait_for_url("**/proxy-tls/#tls.untrusted_issuer")
    heading = page.locator("[id='tls.untrusted_issuer']")
    assert heading.is_visible() and heading.evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }")


@pytest.mark.parametrize("path", ["network/", "auth/", "timeouts/", "rate-limits/"])
def test_choosing_an_os_once_switches_every_tab_set(page, served, path):
    page.goto(served + path, wait_until="networkidle")
    windows = page.locator(".tabbed-labels label").filter(has_text=re.compile(r"^Windows$"))
    assert windows.count() >= 2
    windows.first.click()
    chosen = page.evaluate("""() => [...document.querySelectorAll('.tabbed-set')]
        .filter(s => [...s.querySelectorAll('label')].some(l => l.textContent.trim() === 'Windows'))
        .map(s => { const i = s.querySelector('input:checked');
                    return s.querySelector(`label[for="${i.id}"]`).textContent.trim(); })""")
    assert chosen and set(chosen) == {"Windows"}, chosen


def test_rendered_runbook_shows_its_output_and_downloads(page, served, tmp_path):
    page.goto(served + "notebooks/network/", wait_until="networkidle")
    assert page.get_by_text("Lab TLS Inspection CA").first.is_visible()
    link = page.get_by_role("link", name="Download this notebook").first
    with page.expect_download() as dl:
        link.click(modifiers=["Alt"])  # Alt-click: download rather than display the JSON
    path = tmp_path / "network.ipynb"
    dl.value.save_as(path)
    nb = json.loads(Path(path).read_text())
    assert nb["nbformat"] == 4
    assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb["cells"])


def test_error_index_shows_html_in_messages_as_text(page, served):
    page.goto(served + "errors/", wait_until="networkidle")
    assert page.get_by_text("<!DOCTYPE html>", exact=True).first.is_visible()
    assert "&lt;" not in page.locator("article").inner_text()


def test_runbook_links_lead_to_the_fix_inside_the_site(page, served):
    page.goto(served + "notebooks/network/", wait_until="networkidle")
    page.locator("a:has-text('tls.untrusted_issuer')").first.click()
    page.wait_for_url(served + "proxy-tls/#tls.untrusted_issuer")
    assert page.locator("[id='tls.untrusted_issuer']").is_visible()
    assert page.outside == []


def test_runbook_styles_come_from_one_stylesheet(page, served):
    page.goto(served + "notebooks/network/", wait_until="networkidle")
    sheets = page.evaluate("() => [...document.styleSheets].map(s => s.href || 'inline')")
    assert sum("/notebook." in s for s in sheets) == 1, sheets
    # JupyterLab's rules apply: its variables are defined, its prompts laid out
    assert page.evaluate("""() => getComputedStyle(document.querySelector('.jupyter-wrapper'))
        .getPropertyValue('--jp-cell-prompt-width').trim()""")


def test_runbook_verdict_is_readable_on_a_phone(phone, served):
    phone.goto(served + "notebooks/network/", wait_until="networkidle")
    rows = phone.evaluate("""() => {
        const h = [...document.querySelectorAll('h3')].find(e => e.textContent.includes('Verdict'));
        const table = h.closest('.jp-OutputArea-output').querySelector('table');
        table.scrollIntoView();
        return [...table.tBodies[0].rows].map(tr => [...tr.cells].filter(td => td.textContent.trim())
            .map(td => { const r = td.getBoundingClientRect();
                         return {text: td.textContent.trim(), left: r.left, right: r.right,
                                 shown: r.width > 0 && r.height > 0}; })) }""")
    width = phone.evaluate("() => document.documentElement.clientWidth")
    assert width == 375
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= width
    assert len(rows) >= 5
    for cells in rows:
        status, check, result = cells[0], cells[1], cells[2]
        assert re.search(r"\b(pass|warn|fail|skip|error)$", status["text"]), status
        for cell in (status, check, result):
            assert cell["shown"] and 0 <= cell["left"] and cell["right"] <= width, (cells, cell)
    tls = next(cells for cells in rows if cells[1]["text"] == "TLS")
    assert tls[0]["text"].endswith("fail") and "Lab TLS Inspection CA" in tls[2]["text"]



def test_error_index_reads_on_a_phone(phone, served, tmp_path):
    """At 375 px: nothing wider than the screen, each message and cause on it, and every cause
    code whole on one line (never broken mid-word, as the table's narrow columns did)."""
    phone.goto(served + "errors/", wait_until="networkidle")
    width = phone.evaluate("() => document.documentElement.clientWidth")
    assert width == 375
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= width
    boxes = phone.evaluate("""() => [...document.querySelectorAll(
        'article dt, article dd, article code.cause')].map(e => { const r = e.getBoundingClientRect();
            return {tag: e.tagName, text: e.textContent.trim().slice(0, 60), left: r.left,
                    right: r.right, lines: e.getClientRects().length} })""")
    assert sum(b["tag"] == "DT" for b in boxes) >= 40 and any(b["tag"] == "CODE" for b in boxes)
    for b in boxes:
        assert 0 <= b["left"] and b["right"] <= width, b
        if b["tag"] == "CODE":
            assert b["lines"] == 1, f"a cause code is broken across lines: {b}"
    phone.screenshot(path=str(tmp_path / "errors-375.png"))


def test_transcripts_wrap_on_a_phone_and_fold(phone, served):
    """On the Timeouts page at 375 px: every transcript (the findings shown, the wholes folded)
    wraps its long lines instead of clipping them; commands to copy keep their lines."""
    phone.goto(served + "timeouts/", wait_until="networkidle")
    assert phone.evaluate("() => document.querySelectorAll('details .transcript').length") >= 5
    phone.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    blocks = phone.evaluate("""() => [...document.querySelectorAll('article pre > code')].map(c =>
        ({transcript: !!c.closest('.transcript'), clipped: c.scrollWidth > c.clientWidth + 1,
          space: getComputedStyle(c).whiteSpace, text: c.textContent.slice(0, 50)}))""")
    transcripts = [b for b in blocks if b["transcript"]]
    assert len(transcripts) >= 10
    assert not [b for b in transcripts if b["clipped"]], [b for b in transcripts if b["clipped"]]
    assert {b["space"] for b in blocks if not b["transcript"]} == {"pre"}


# -- the "paste your error" box: the same answer as `runbooks triage` ---------------------------
FIELD = Path(__file__).parent / "fixtures" / "field"


def _box_texts() -> list[str]:
    """Every paste of the field corpus, the catalogue's whole messages and every signature;
    then texts built from the normaliser's own tables (each mark, dash, quote, space and
    entity, escapes, HTML, numbers in other scripts), so a table changed on one side only
    shows."""
    from runbooks import triage
    from runbooks.causes import CAUSES, MESSAGES

    texts = [json.loads(line)["message"] for f in sorted(FIELD.glob("*.jsonl"))
             for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts += [*MESSAGES, *(s.text for c in CAUSES.values() for s in c.sigs),
              *(" ".join((s.text, *s.also)) for c in CAUSES.values() for s in c.sigs if s.also),
              *CAUSES, f"  {next(iter(CAUSES))}\n"]
    marks = triage._MARKS.pattern[1:-1]
    texts += [f"{marks} connect ETIMEDOUT {marks}",
              "".join(a + "x" for a, _ in triage._PLAIN) + " ECONNRESET",
              " ".join(e for e, _ in triage._ENTITIES) + " &amp;lt; Invalid API key",
              "\x1c\x1d\x1e\x1f\x85 ENOTFOUND \x85\x1f\u2028\ufeff\u00a0\u3000",
              "\ufeffcert_has_expired\ufeff", "tcp.timeout\x1c", "\u0130STANBUL \u03a3\u039f\u03a3",
              r'{\"error\":{\"type\":\"overloaded_error\"}} \\\\u00b7 \\n \ud83d\ude00 \\ud83d\\ude00',
              "\\" * 3000 + "u0041",
              ("<html><SCRIPT src=x>ECONNREFUSED</script ><style>429</STYLE>"
               "<scripts>529</scripts><script>never <b>closed</b>"),
              "<!DOCTYPE\x85HTML><p>ETIMEDOUT</p>", "<Title>x</tiTLE> EAI_AGAIN", "<\u0130tle>",
              "set API_TIMEOUT_MS above \u0663\u0660",
              "set API_TIMEOUT_MS above \uff13\uff10\uff10\uff10\uff10",
              "request timed out. set api_timeout_ms above " + "0" * 5000 + "7",
              "claude code v\u0662.\u0660.\u0661\u0664 connection error.",
              "claude-code@2.1." + "9" * 5000 + " econnreset", '"version" : "1.0.35" ECONNREFUSED',
              "Claude Code version 2.0.14 socket hang up", "x" * 1000]
    return texts


def _py_answer(text: str) -> dict:
    from runbooks.triage import normalise, rank

    t = rank(text)
    return {"ranked": [{"code": r.cause.code, "best": r.best, "score": r.score,
                        "matched": [m.text for m in r.matched]} for r in t.ranked],
            "version": t.version, "notes": t.notes, "normalised": normalise(text)}


@pytest.fixture(scope="module")
def paste_page(browser, served):
    ctx, pg = _new_page(browser)
    pg.goto(served + "paste/", wait_until="networkidle")
    yield pg
    ctx.close()


def test_paste_box_ranks_every_message_as_triage_does(paste_page):
    """Python's rank() and the page's window.runbooksTriage on every text, in one evaluate:
    the same normalised text, the same ranking (codes, weights, rules), version and notes."""
    texts = _box_texts()
    assert len(texts) > 500
    got = paste_page.evaluate("texts => texts.map(t => window.runbooksTriage(t))", texts)
    differ = []
    for text, js in zip(texts, got, strict=True):
        py = _py_answer(text)
        if js != py:
            differ.append((text[:80], {k: (py[k], js[k]) for k in py if py[k] != js[k]}))
    assert not differ, f"{len(differ)} of {len(texts)} differ; first: {differ[:3]}"
    assert paste_page.errors == [] and paste_page.outside == []


def test_paste_box_shows_the_top_cause_and_its_link_leads_there(page, served):
    paste = next(json.loads(line) for line in (FIELD / "proxytls.jsonl").read_text(
        encoding="utf-8").splitlines() if json.loads(line)["id"] == "cc-8054-1")["message"]
    top = _py_answer(paste)["ranked"][0]["code"]
    page.goto(served + "paste/", wait_until="networkidle")
    box = page.get_by_label("What Claude Code printed")
    box.fill(paste[:-1])  # a paste, then the last key
    box.press_sequentially(paste[-1])
    first = page.locator(".triage-results ol.triage-causes > li").first
    first.wait_for()
    assert page.locator(".triage-results").get_attribute("aria-live") == "polite"
    assert first.locator("code.cause").inner_text() == top
    assert "Fix:" in first.inner_text() and "Tells it apart:" in first.inner_text()
    assert page.locator(".triage-results ol.triage-causes > li").count() <= 3
    link = first.locator("a").first
    assert link.get_attribute("href") == f"../proxy-tls/#{top}"
    link.click()
    page.wait_for_url(f"{served}proxy-tls/#{top}")
    assert page.locator(f"[id='{top}']").is_visible()
    assert page.errors == [] and page.outside == []


def test_paste_box_shows_an_html_paste_as_text(page, served):
    html = ('<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>'
            '<body><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
            '<b id="injected">ECONNREFUSED</b></body></html>')
    page.goto(served + "paste/", wait_until="networkidle")
    page.get_by_label("What Claude Code printed").fill(html)
    results = page.locator(".triage-results")
    results.locator("li").first.wait_for()
    assert "<!DOCTYPE html>" in results.inner_text()  # a rule's text, shown as text
    assert results.locator("img, b#injected, script").count() == 0
    assert page.evaluate("() => window.__pwned === undefined && !document.getElementById('injected')")
    assert page.errors == [] and page.outside == []


def test_paste_box_says_run_the_doctor_when_nothing_fits(page, served):
    page.goto(served + "paste/", wait_until="networkidle")
    page.get_by_label("What Claude Code printed").fill("my cat walked on the keyboard")
    page.get_by_text("No known message in this paste.").wait_for()
    assert "runbooks doctor" in page.locator(".triage-results").inner_text()
    assert page.outside == []


def test_paste_box_says_when_only_general_words_matched(page, served):
    """As `runbooks triage` does: a hint ("not found", "proxy") is where to look, not a known
    message, and the box says so above the causes."""
    page.goto(served + "paste/", wait_until="networkidle")
    page.get_by_label("What Claude Code printed").fill("it says not found behind our proxy")
    page.get_by_text("Only general words matched:").wait_for()
    assert page.locator(".triage-causes li").count() >= 1
    page.get_by_label("What Claude Code printed").fill("connect ECONNREFUSED 127.0.0.1:443")
    page.wait_for_function("""() => !document.querySelector('.triage-results')
        .innerText.includes('Only general words')""")
    assert "tcp.refused" in page.locator(".triage-results").inner_text()


def test_paste_box_works_from_a_copy_opened_from_disk(browser, site):
    """file://: no server, no fetch; the data is a script that sets a global."""
    ctx = browser.new_context()
    pg = ctx.new_page()
    try:
        pg.goto((site / "paste" / "index.html").as_uri())
        pg.get_by_label("What Claude Code printed").fill("connect ECONNREFUSED 127.0.0.1:443")
        first = pg.locator(".triage-results ol.triage-causes > li").first
        first.wait_for()
        assert first.locator("code.cause").inner_text() == "tcp.refused"
        assert first.locator("a").first.get_attribute("href") == \
            "../network/index.html#tcp.refused"
    finally:
        ctx.close()


def test_paste_box_reads_on_a_phone(phone, served):
    phone.goto(served + "paste/", wait_until="networkidle")
    phone.get_by_label("What Claude Code printed").fill(
        "API Error (Connection error.) · Retrying in 4 seconds… (attempt 4/10) "
        "SELF_SIGNED_CERT_IN_CHAIN claude-code@2.0.14")
    phone.locator(".triage-results li").first.wait_for()
    width = phone.evaluate("() => document.documentElement.clientWidth")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= width
    box = phone.evaluate("""() => { const r = document.querySelector('#triage-text')
        .getBoundingClientRect(); return [r.left, r.right] }""")
    assert 0 <= box[0] and box[1] <= width


# -- the field corpus through the search box (issue 14) -------------------------------------------
@pytest.fixture(scope="module")
def field_search(browser, served):
    """bench/search_field.py's measurement, on this build: every held-out paste of the field
    corpus typed into one page's search box, whole and by its longest line (the tune part is
    the bench's: `python bench/search_field.py`)."""
    bench = _bench_search_field()
    ctx, pg = _new_page(browser)
    try:
        bench.open_search(pg, served)
        held = [r for r in bench.corpus() if r["split"] == "held"]
        result = bench.measure(bench.searcher(pg), held)
        assert pg.errors == [] and pg.outside == [], (pg.errors, pg.outside)
    finally:
        ctx.close()
    return result["figures"]


#: What the held split reaches now (of 252: whole 82.9 %, longest line 79.4 %; without the
#: paste pre-processor, docs/javascripts/search-paste.js, about a third): a fall below this is a
#: regression of the search tuning, the pre-processor or the pages.
HELD_FLOOR = {"whole": 0.82, "line": 0.78}


def test_search_puts_a_fixing_page_first_for_the_field_corpus(field_search):
    """Issue 14: a fixing page first for at least 80 % of the held-out pastes, pasted whole
    (what a user pastes); and neither figure below its floor. (One test: the measurement is
    a minute of typing, and a module fixture is built again whenever the worker comes back to
    this module.)"""
    held = field_search["held"]
    assert held["line"]["n"] == held["whole"]["n"] > 0
    for mode, floor in HELD_FLOOR.items():
        assert held[mode]["share"] >= floor, (mode, held[mode])
    assert held["whole"]["share"] >= _bench_search_field().BAR, held["whole"]


# -- the paste pre-processor (docs/javascripts/search-paste.js) ---------------------------------
#: Before any script of the page: every query message (Material's SearchMessageType.QUERY, 2)
#: as the search worker receives it, after the site's own scripts had their say.
_RECORD_QUERIES = """(() => { window.__queries = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message, ...rest) {
        if (message && message.type === 2) window.__queries.push(message.data);
        return post.call(this, message, ...rest) } })()"""


@pytest.fixture
def query_page(browser, served):
    """A page that records the queries its search worker receives, and every console line
    (the worker's "Invalid query" warnings too)."""
    ctx, pg = _new_page(browser)
    pg.console = []
    pg.on("console", lambda m: pg.console.append(m.text))
    pg.add_init_script(_RECORD_QUERIES)
    pg.goto(served, wait_until="networkidle")
    yield pg
    ctx.close()


def _field_entry(entry_id: str) -> dict:
    for f in sorted(FIELD.glob("*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip() and json.loads(line)["id"] == entry_id:
                return json.loads(line)
    raise LookupError(entry_id)


@pytest.mark.parametrize("text", ["runbooks undo", "ETIMEDOUT", "+ECONNRESET -proxy",
                                  "title:undo", "a-b:c"])
def test_search_sends_a_typed_query_as_it_is(query_page, text):
    """What a reader types (short, no quotes, braces, angle brackets or line breaks) reaches
    Material's worker unchanged, lunr's operators and all; a query lunr cannot parse
    (`a-b:c`) is still Material's to answer, and the console shows its warning (what the
    paste test below relies on to see none)."""
    search(query_page, text)
    assert query_page.evaluate("window.__queries.at(-1)") == text
    invalid = [line for line in query_page.console if "Invalid query" in line]
    assert bool(invalid) == (text == "a-b:c"), query_page.console


@pytest.mark.parametrize("text", ["after", "before", "a"])
def test_search_answers_a_prefix_of_every_indexed_word(query_page, text):
    """Typed words that begin `after_sha256` and `before_sha256` (docs/reference/json.md):
    lunr's token set once merged two of its nodes (runbooks/site/hooks.py
    `fix_search_worker`), the query threw and "Connection timeout after 120000ms" found
    nothing."""
    groups = search(query_page, text)
    assert not [line for line in query_page.console if "Invalid query" in line]
    assert groups, f"no result for {text!r}"


def test_search_cleans_a_pasted_json_body(query_page):
    """A JSON body escaped twice, with a request id and a timestamp (cc-85675-1): sent as its
    words (each with a boost, `word^N`), no quotes, no other lunr operator, no id or time;
    lunr parses it and the fixing page comes first (before the pre-processor: every quoted
    word required, the request id and timestamp unknown to the site, "No matching documents"
    and lunr's warning)."""
    entry = _field_entry("cc-85675-1")
    assert '"request_id' in entry["message"] and "2026-08-11T00:48" in entry["message"]
    groups = search(query_page, entry["message"])
    sent = query_page.evaluate("window.__queries.at(-1)")
    assert sent != entry["message"]
    assert not re.search(r'["{}<>\\:+~*]|(?:^|\s)-', sent), sent
    assert "req_" not in sent and "2026" not in sent and "38979" not in sent, sent
    assert "credit^1" in sent and "invalid_request_error^20" in sent, sent
    assert not [line for line in query_page.console if "Invalid query" in line]
    assert query_page.errors == [] and query_page.outside == []
    assert groups and groups[0][0] == "/auth/", groups[:3]
