"""How the site's own search does on what real users paste: the field corpus in
``tests/fixtures/field/`` typed into Material's search box, in Chromium, on the built site.

    .venv/bin/mkdocs build --strict            # the site to measure, into site/
    .venv/bin/python bench/search_field.py     # figures per split, then the tune split's misses
    .venv/bin/python bench/search_field.py DIR --held   # another build; also the held-out misses

It builds nothing: it serves the built site (``site/`` unless a folder is given) on 127.0.0.1,
opens one Chromium page (Debian's ``chromium``, or ``RUNBOOKS_CHROMIUM``; every request off the
local server is refused) and, for every corpus entry, puts the text into the search box and
presses a key (Material searches on key events), then reads the result groups as the reader
sees them. Two figures per split:

- ``whole``: the whole message pasted;
- ``line``: only its longest line (what many readers paste: the line that looks like the
  error). A one-line message counts the same text in both.

A hit: the first result group's page is a fixing page, the page of the entry's cause or of one
of its alternates (``runbooks.causes.CAUSES[code].page``: ``auth.md`` is ``/auth/``). No
result is a miss. The split is fixed in the corpus (``split``: ``tune`` or ``held``); the
search is tuned on ``tune`` only. The figures go to ``bench/search-field.json`` (``--json
PATH`` for another file); the issue's bar is 80 % (tests/test_browser.py checks the held
split).

Why a paste found nothing in Material's search as it is: every word between double quotes is
required (a JSON body's keys and values, so one request id the site lacks empties the result),
and a chunk with a ``-`` before a ``word:`` (a timestamp, a URL path) leaves lunr a field it
does not know: no result. The site's ``docs/javascripts/search-paste.js`` turns a paste into
its words before Material's worker sees it (tuned here, on ``tune``): held 32.8 % whole and
39.3 % by line without it, 84.4 % and 82.0 % with it (on the 393 entries, 122 held, of the
day it was written); on the whole corpus of 813 (252 held) 82.9 % whole and 79.4 % by line.
A search with no result counts as a miss.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooks.causes import CAUSES

FIELD = ROOT / "tests" / "fixtures" / "field"
SPLITS = ("tune", "held")
MODES = ("whole", "line")
#: The issue's bar: a fixing page first for at least this share.
BAR = 0.80
#: One search's deadline (the worker answers in milliseconds; a query it cannot parse is
#: answered too, with no result).
SEARCH_TIMEOUT_MS = 10_000

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def corpus() -> list[dict]:
    rows = []
    for path in sorted(FIELD.glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    return rows


def longest_line(message: str) -> str:
    """The longest line of ``message``, stripped (the first of equal length)."""
    lines = [line.strip() for line in message.splitlines()] or [""]
    return max(lines, key=len)


def queries(row: dict) -> dict[str, str]:
    return {"whole": row["message"].strip(), "line": longest_line(row["message"])}


def fixing_pages(row: dict) -> set[str]:
    """The site paths of the pages that fix ``row``: its cause's and its alternates'."""
    return {"/" + CAUSES[c].page.removesuffix(".md") + "/"
            for c in (row["cause"], *row["alternates"])}


# -- the browser ----------------------------------------------------------------------------------
#: Before each search: a promise that settles when Material next writes the result count (it
#: writes it, then the first ten groups, in one go, for every answer of the worker).
_ARM = """() => { const meta = document.querySelector('.md-search-result__meta');
    window.__searched = new Promise(done => { const o = new MutationObserver(() => {
        o.disconnect(); done(); }); o.observe(meta, {childList: true, characterData: true,
                                                     subtree: true}); }); }"""
_GROUPS = """async (ms) => {
    const late = new Promise((_, no) => setTimeout(() => no(new Error('no answer')), ms));
    await Promise.race([window.__searched, late]);
    return [...document.querySelectorAll('.md-search-result__item')]
        .map(li => [...li.querySelectorAll('a.md-search-result__link')].map(a => {
            const u = new URL(a.href); return u.pathname + u.hash })) }"""


def open_search(page, url: str) -> None:
    """``page`` on the site's home page, its search open and its index loaded."""
    page.goto(url, wait_until="networkidle")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    box = page.locator("input.md-search__input")
    page.evaluate(_ARM)
    box.fill("ETIMEDOUT")
    box.press("End")
    page.evaluate(_GROUPS, SEARCH_TIMEOUT_MS * 3)  # the first search waits for the index


def searcher(page) -> Callable[[str], list[list[str]]]:
    """A function that types a text into ``page``'s open search box, as a paste and a key, and
    returns the result groups as shown: each group's links, its page first."""
    box = page.locator("input.md-search__input")
    seen: dict[str, list[list[str]]] = {}

    def search(text: str) -> list[list[str]]:
        # Material searches only when the box's value changes: a text searched before is
        # answered as it was (the same index, the same answer).
        if text not in seen:
            page.evaluate(_ARM)
            box.fill(text)
            box.press("End")  # a key: Material reads the box on keyup
            seen[text] = page.evaluate(_GROUPS, SEARCH_TIMEOUT_MS)
        return seen[text]

    return search


def measure(search: Callable[[str], list[list[str]]], rows: list[dict]) -> dict:
    """Every entry of ``rows`` searched whole and by its longest line: per split and mode the
    share with a fixing page first, and each entry's first page."""
    out: dict = {split: {mode: {"n": 0, "hits": 0} for mode in MODES} for split in SPLITS}
    entries = []
    for row in rows:
        want = fixing_pages(row)
        entry = {"id": row["id"], "split": row["split"], "want": sorted(want)}
        for mode, text in queries(row).items():
            groups = search(text)
            first = groups[0][0] if groups and groups[0] else None
            hit = first in want
            cell = out[row["split"]][mode]
            cell["n"] += 1
            cell["hits"] += hit
            entry[mode] = {"first": first, "hit": hit, "results": len(groups)}
        entries.append(entry)
    for split in SPLITS:
        for cell in out[split].values():
            cell["share"] = round(cell["hits"] / cell["n"], 3) if cell["n"] else 0.0
    return {"figures": out, "entries": entries}


def chromium_path() -> str | None:
    return os.environ.get("RUNBOOKS_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(site: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def search_page(url: str, chromium: str) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_()
                       if urlsplit(route.request.url).hostname == "127.0.0.1" else route.abort())
            page.set_default_timeout(15_000)
            open_search(page, url)
            yield page
        finally:
            browser.close()


# -- the command ----------------------------------------------------------------------------------
def report(result: dict, rows: list[dict], held: bool) -> str:
    byid = {r["id"]: r for r in rows}
    lines = []
    for split in SPLITS:
        cells = result["figures"][split]
        lines.append(f"{split:>5}: n={cells['whole']['n']}  " + "  ".join(
            f"{mode} {cells[mode]['share']:.1%}" for mode in MODES))
    for split in ("tune", "held") if held else ("tune",):
        lines.append(f"\n-- {split} misses (W: whole, L: longest line; got the first page) --")
        for e in result["entries"]:
            if e["split"] != split or (e["whole"]["hit"] and e["line"]["hit"]):
                continue
            marks = "".join(m[0].upper() if not e[m]["hit"] else "." for m in MODES)
            r = byid[e["id"]]
            msg = r["message"].replace("\n", " ⏎ ")[:140]
            lines.append(f"[{marks}] {e['id']}: want {' '.join(e['want'])} ({r['cause']}) got "
                         f"{e['whole']['first']} / {e['line']['first']}\n      {msg}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", nargs="?", default=str(ROOT / "site"),
                    help="the built site (default: site/)")
    ap.add_argument("--held", action="store_true", help="also list the held split's misses")
    ap.add_argument("--json", default=str(ROOT / "bench" / "search-field.json"), metavar="PATH",
                    help="where the figures go (default: bench/search-field.json)")
    args = ap.parse_args(argv)
    site = Path(args.site)
    if not (site / "search" / "search_index.json").is_file():
        print(f"search_field: {site} is not a built site (no search/search_index.json): "
              "build it with `.venv/bin/mkdocs build --strict`", file=sys.stderr)
        return 2
    chromium = chromium_path()
    if not chromium:
        print("search_field: no Chromium: install Debian's (`make browser`) or set "
              "RUNBOOKS_CHROMIUM", file=sys.stderr)
        return 2
    rows = corpus()
    started = time.monotonic()
    with serve(site) as url, search_page(url, chromium) as page:
        result = measure(searcher(page), rows)
    took = time.monotonic() - started
    print(report(result, rows, args.held))
    print(f"\n{len(rows)} entries, {took:.1f} s")
    Path(args.json).write_text(json.dumps(
        {"bar": BAR, **{split: {mode: {k: cell[k] for k in ("n", "hits", "share")}
                                for mode, cell in result["figures"][split].items()}
                        for split in SPLITS},
         "tune_misses": {mode: [e["id"] for e in result["entries"]
                                if e["split"] == "tune" and not e[mode]["hit"]]
                         for mode in MODES}},
        indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
