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
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

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


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, served):
    """A fresh page that records console errors and blocks (and records) any request that
    is not to the local server."""
    ctx = browser.new_context(accept_downloads=True)
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
    yield pg
    ctx.close()


@pytest.mark.parametrize("path", ["", "network/", "proxy-tls/", "errors/", "notebooks/network/",
                                  "reference/lab/"])
def test_pages_load_clean_and_stay_local(page, served, path):
    page.goto(served + path, wait_until="networkidle")
    assert page.locator("h1").first.is_visible()
    assert page.errors == [], page.errors
    assert page.outside == [], f"third-party requests: {page.outside}"


def test_search_finds_the_message_a_user_pastes(page, served):
    page.goto(served, wait_until="networkidle")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.locator("input.md-search__input").press_sequentially("ETIMEDOUT", delay=20)
    first = page.locator(".md-search-result__item a").first
    first.wait_for()
    assert any(p in first.get_attribute("href") for p in ("errors/", "network/", "timeouts/"))


def test_error_index_leads_to_the_fix(page, served):
    page.goto(served + "errors/", wait_until="networkidle")
    page.locator("a[href$='#tls.untrusted_issuer']").first.click()
    page.wait_for_url("**/proxy-tls/#tls.untrusted_issuer")
    heading = page.locator("[id='tls.untrusted_issuer']")
    assert heading.is_visible() and heading.evaluate(
        "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; }")


def test_choosing_an_os_once_switches_every_tab_set(page, served):
    page.goto(served + "network/", wait_until="networkidle")
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
