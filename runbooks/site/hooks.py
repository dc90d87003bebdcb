"""MkDocs hooks: the site's address, its error index and the messages under each cause's
heading come from the cause catalogue; the runbook notebooks are added to the site from
``notebooks/`` (one source, no copy).

- ``on_config``: ``site_url`` is :func:`runbooks.causes.site_url` (``SITE_URL``, or
  ``RUNBOOKS_DOCS_URL``), the one address the CLI's ``docs:`` links use too.
- ``on_files``: ``errors.md`` is generated (each message users see once, by section → its
  causes, ranked as triage ranks them → the sections that fix them), and so is
  ``javascripts/triage-data.js`` (what the "paste your error" box ranks with); each notebook
  is served at ``notebooks/<name>/``.
- ``on_page_markdown``: under every heading anchored ``{ #code }`` on the code's own page, a
  "Messages that lead here" line lists that cause's signatures, as text search indexes; then,
  folded, a few of the real pastes the field corpus labels with that cause
  (:mod:`runbooks.site.field`, read from the repository; no corpus, no block).
- ``on_page_content``: links to the site's own public address (the notebooks' stored output
  holds them) become relative, so a local build, ``mkdocs serve`` and a fork work; a
  notebook's inline ``<style>`` blocks move to one shared stylesheet; the ``runbooks doctor``
  transcripts and ``runbooks fix`` sessions a page includes are kept out of the search index
  (and marked ``transcript``: docs/stylesheets/extra.css wraps their lines on a phone).
- ``on_post_build``: Material's search worker gets lunr's token-set keys made unambiguous
  (:func:`fix_search_worker`: without it a typed ``after`` found nothing).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import logging
import posixpath
import re
from html import escape, unescape
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

from runbooks.causes import CAUSES, MESSAGES, PAGES, SITE_URL, Cause, Sig, site_url
from runbooks.masking import clip, redact
from runbooks.render import printable
from runbooks.site import field
from runbooks.triage import (
    TIMEOUT_ORDER,
    data,
    match_message,
    normalise,
    occurs,
    rules,
    squashed,
)


def _occurs(part: str, text: str) -> bool:
    """``part`` occurs in ``text`` as triage reads both."""
    t = normalise(text)
    return occurs(normalise(part), t, squashed(t))

ROOT = Path(__file__).resolve().parent.parent.parent
#: The field corpus, in the repository only (an installed package builds no site from it).
FIELD_DIR = ROOT / "tests" / "fixtures" / "field"
#: The Claude Code version the whole messages (``MESSAGES``) were captured from: the pinned
#: client of the Makefile's ``CLAUDE_CODE_VERSION`` (tests/test_error_index.py checks both).
PINNED_CLIENT = "2.1.332"
log = logging.getLogger("mkdocs.hooks.runbooks")

#: A pasted message must find the section that fixes it first: the fix pages (``PAGES``) rank
#: above the pages that only mention messages (the runbook's output, the reference), and the
#: error index, which points to the fix pages, below everything (Material's per-page
#: ``search.boost``; 1 is the default). Of the fix pages, those a cause points to rank first;
#: the others (recovery, prevention) quote error bodies from transcripts while fixing none of
#: them, and rank between them and an ordinary page (bench/search_field.py measures it).
FIX_PAGE_SEARCH_BOOST = 3
GUIDE_PAGE_SEARCH_BOOST = 1.5
CAUSE_PAGES = frozenset(c.page for c in CAUSES.values())
ERRORS_SEARCH_BOOST = 0.1
NOTEBOOK_SEARCH_BOOST = 0.2
REFERENCE_SEARCH_BOOST = 0.3
#: Reference pages a reader searches for by name rather than by a pasted message: how fixes are
#: planned, applied and undone is explained there only, while every fix section mentions
#: `runbooks fix --apply` and `runbooks undo` in passing. They rank as an ordinary page (still
#: below the fix pages for any message those explain).
REFERENCE_PAGE_SEARCH_BOOST = {"reference/fixes.md": 1.0}

#: Where a notebook page's styles go, one file per distinct stylesheet (in practice one).
NOTEBOOK_CSS_DIR = "assets/stylesheets"

#: Added to the notebooks' stylesheet: on a phone the input/output prompts take a third of
#: the width and a four-column table overflows, so prompts go and table rows stack.
NOTEBOOK_CSS_EXTRA = """
/* runbooks: rendered notebooks on a phone */
@media screen and (max-width: 44.9375em) {
  .jupyter-wrapper .jp-InputPrompt, .jupyter-wrapper .jp-OutputPrompt { display: none; }
  .jupyter-wrapper .jp-Notebook, .jupyter-wrapper .jp-Cell { padding-left: 0; padding-right: 0; }
  .md-typeset .jupyter-wrapper .md-typeset__table { padding: 0; }
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]),
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) tbody,
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) tr,
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) td {
    display: block; width: auto; border: none;
  }
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) thead { display: none; }
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) tr {
    padding: 0.4em 0; border-top: 0.05rem solid var(--md-typeset-table-color);
  }
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) td {
    padding: 0.1em 0.4em; text-align: left; overflow-wrap: anywhere;
  }
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) td:nth-child(-n+2) {
    display: inline-block; font-weight: 700;
  }
  .md-typeset .jupyter-wrapper .jp-RenderedMarkdown table:not([class]) td:empty { display: none; }
}
"""

_state: dict = {"command": "build", "css": {}, "anchored": set(), "pasted": []}


# -- the error index ------------------------------------------------------------------------------
def code(text: str) -> str:
    """``text`` as a Markdown code span, shown exactly as written: no HTML escaping (a code
    span is literal), a fence longer than any run of backticks inside, and no ``|``
    escaping (Python-Markdown's tables do not split inside code spans)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cause_code(code: str) -> str:
    """A cause code as HTML ``<code class="cause">``, with a line-break opportunity after each
    dot and none anywhere else (the site's CSS keeps words whole): ``tcp.<wbr>refused``."""
    return f'<code class="cause">{escape(code).replace(".", ".<wbr>")}</code>'


def index_messages() -> list[str]:
    """The messages the error index lists, each once: the whole messages users see
    (:data:`MESSAGES`), then every signature that is not part of one of them. A signature that
    is part of another with the same causes in the same order is that one's (``ETIMEDOUT``
    is in ``connect ETIMEDOUT``); spellings that differ only in case are one."""
    out: list[str] = []
    for text in [*MESSAGES, *(sig for c in CAUSES.values() for sig in c.signatures)]:
        if text.lower() not in {m.lower() for m in out}:
            out.append(text)
    whole = {m.lower() for m in MESSAGES}
    alone = [m for m in out if m.lower() in whole
             or not any(_occurs(m, w) for w in whole)]
    codes = {m: [c.code for c in match_message(m)] for m in alone}
    return [m for m in alone if m.lower() in whole or not any(
        t != m and t.lower() not in whole and _occurs(m, t) and codes[t] == codes[m]
        for t in alone)]


#: ``… set API_TIMEOUT_MS above N.``: triage orders its causes by the N quoted (runbooks.triage
#: ``TIMEOUT_ORDER``); the index shows each range of N with its order.
_QUOTES_TIMEOUT = "API_TIMEOUT_MS above N"


def timeout_bands(message: str) -> list[tuple[str, list[Cause]]]:
    """For a message quoting ``API_TIMEOUT_MS above N``: each range of N, and its causes."""
    out, low = [], 0
    for limit, _ in TIMEOUT_ORDER:
        n = limit - 1 if limit else max(low, 600_000)
        label = (f"N of {low} or more" if not limit else f"N below {limit}" if not low
                 else f"N from {low} to {limit - 1}")
        out.append((label, match_message(message.replace("above N", f"above {n}"))))
        low = limit or low
    return out


def _cause_item(c: Cause, section: str) -> str:
    """One cause in an index entry: its title linked to its section, and its code; the page's
    name too when it is not the section's."""
    where = "" if c.page == section else f" ({PAGES[c.page]})"
    return f"[{c.title}]({c.page}#{c.code}){where} {cause_code(c.code)}"


def _causes_block(causes: list[Cause], section: str) -> list[str]:
    """A definition's body: one cause as a line, several as a ranked list (indented under
    its ``:``)."""
    if len(causes) == 1:
        return [f":   {_cause_item(causes[0], section)}"]
    items = [f"{i}. {_cause_item(c, section)}" for i, c in enumerate(causes, 1)]
    return [f":   {items[0]}", *(f"    {item}" for item in items[1:])]


def index_entries() -> list[tuple[str, list[tuple[list[str], tuple]]]]:
    """The index, by section (the page of each message's most likely cause, in the site's
    order): groups of messages with the same causes in the same order, each group once."""
    groups: dict[tuple, list[str]] = {}
    for m in index_messages():
        if _QUOTES_TIMEOUT in m:
            bands = timeout_bands(m)
            key = ("bands", tuple((label, tuple(c.code for c in cs)) for label, cs in bands))
            lead = next(cs for label, cs in bands if label.startswith("N of"))[0]
        else:
            causes = match_message(m)
            key = ("causes", tuple(c.code for c in causes))
            lead = causes[0]
        groups.setdefault((lead.page, key), []).append(m)
    order = list(CAUSES)
    out = []
    for page in PAGES:
        mine = [(key, sorted(ms, key=str.lower)) for (p, key), ms in groups.items() if p == page]
        if not mine:
            continue

        def rank(item, page=page):
            key = item[0]
            codes = [c for _, cs in key[1] for c in cs] if key[0] == "bands" else key[1]
            leads = [c for c in codes if CAUSES[c].page == page] or codes
            return (order.index(leads[0]), len(codes), item[1][0].lower())

        out.append((page, [(ms, key) for key, ms in sorted(mine, key=rank)]))
    return out


def _dated(sig: Sig) -> bool:
    return bool(sig.seen or sig.note)


def _sig_text(sig: Sig) -> str:
    """A signature as the index writes it: its parts, each as text, joined by "with"."""
    return " with ".join(code(p) for p in (sig.text, *sig.also))


def _sig_line(sig: Sig) -> str:
    """A signature with its versions and its note, in words (no link)."""
    out = _sig_text(sig)
    if sig.seen:
        out += f" · *{escape(sig.seen, quote=False)}*"
    if sig.note:
        out += f" · {escape(sig.note, quote=False)}"
    return out


def wordings(messages: list[str] | None = None) -> tuple[dict[str, list[str]],
                                                        dict[str, list[str]],
                                                        list[tuple[Sig, Cause, str | None]]]:
    """For the error index: each entry's client versions (the whole messages are
    v:data:`PINNED_CLIENT`'s; a signature's ``seen`` is that of the entry it is); the notes
    shown under an entry (a signature with ``seen`` or ``note`` that is part of it, or whose
    only text it is); and every signature with ``seen`` or ``note``, its cause, and the entry
    it is shown under (``None``: none holds all its parts)."""
    messages = index_messages() if messages is None else messages
    by_low = {m.lower(): m for m in messages}
    versions: dict[str, list[str]] = {m: [f"v{PINNED_CLIENT}"] for m in MESSAGES if m in messages}
    notes: dict[str, list[str]] = {}
    dated: list[tuple[Sig, Cause, str | None]] = []
    for c in CAUSES.values():
        for sig in c.sigs:
            if not _dated(sig):
                continue
            home = by_low.get(sig.text.lower()) if not sig.also else None
            if home is not None:
                if sig.seen and sig.seen not in versions.setdefault(home, []):
                    versions[home].append(sig.seen)
                if sig.note and sig.note not in notes.setdefault(home, []):
                    notes[home].append(escape(sig.note, quote=False))
                dated.append((sig, c, home))
                continue
            parts = (sig.text, *sig.also)
            home = next((m for m in messages if all(_occurs(p, m) for p in parts)), None)
            if home is not None:
                line = _sig_line(sig)
                if line not in notes.setdefault(home, []):
                    notes[home].append(line)
            dated.append((sig, c, home))
    return versions, notes, dated


def term(message: str, versions: dict[str, list[str]]) -> str:
    """An index entry's term: the message as text, then the client versions that print it."""
    seen = versions.get(message)
    if not seen:
        return code(message)
    return code(message) + " · " + ", ".join(f"*{escape(v, quote=False)}*" for v in seen)


def _wordings_section(dated: list[tuple[Sig, Cause, str | None]]) -> list[str]:
    """Every wording the catalogue dates (``seen``) or explains (``note``: an older wording
    and what the client says now), once, with the causes triage ranks first for it."""
    out = ["## Wordings by client version { #wordings }", "",
           (f"A message marked *v{PINNED_CLIENT}* is what that version of Claude Code prints, "
            "whole (captured from it against the project's lab). Unmarked messages are parts of "
            "messages, from the API, gateways, Node and issue threads, looked for in a paste "
            "from any version. Other versions word some messages differently: the wordings the "
            "catalogue dates or explains are below, older and newer, with the versions that "
            "print them and the cause each points to."), ""]
    if not dated:
        return out + ["The catalogue dates no wording yet.", ""]
    once: dict[tuple[str, ...], Sig] = {}
    for sig, _c, _home in dated:  # a wording once, however many causes it points to
        once.setdefault((sig.text.lower(), *(a.lower() for a in sig.also)), sig)
    for sig in once.values():
        ranked = match_message(" ".join((sig.text, *sig.also)))[:3]
        causes = ", ".join(f"[{c.title}]({c.page}#{c.code}) {cause_code(c.code)}"
                           for c in ranked)
        out.append(f"- {_sig_line(sig)} → {causes}")
    out.append("")
    return out


def error_index() -> str:
    """The "find your error" page: each message users see once, with the causes that print
    it, most likely first, each linked to the section that fixes it; by section; then every
    cause code."""
    sections = index_entries()
    versions, notes, dated = wordings()
    jump = " · ".join(f"[{PAGES[page]}](#{page.removesuffix('.md')})" for page, _ in sections)
    out = [
        "---",
        "search:",
        f"  boost: {ERRORS_SEARCH_BOOST}",
        "---",
        "# Find your error",
        "",
        ("Find the text Claude Code printed on this page (your browser's find, or the site's "
         "search). Under each message: the causes that print it, most likely first (the order "
         "`runbooks triage \"<the message>\"` gives), each linked to the section that fixes "
         "it. Where several causes print the same words, `runbooks doctor` tells them apart. "
         "Next to a message: the client versions that print it ([wordings by client "
         "version](#wordings))."),
        "",
        (f"By where the most likely cause is explained: {jump} · [wordings by client "
         "version](#wordings) · [every cause code](#every-cause-code)."),
        "",
    ]
    for page, groups in sections:
        out += [f"## {PAGES[page]} {{ #{page.removesuffix('.md')} }}", ""]
        for messages, (kind, ranking) in groups:
            out += [term(m, versions) for m in messages]
            said = [line for m in messages for line in notes.get(m, [])]
            if kind == "causes":
                block = _causes_block([CAUSES[c] for c in ranking], page)
            else:
                block = [(":   N is the `API_TIMEOUT_MS` the client used, in milliseconds; it "
                          "decides the order of the causes, most likely first:"), ""]
                block += [f"    - {label}: " + " › ".join(
                    f"[{cause_code(c)}]({CAUSES[c].page}#{c})" for c in codes)
                    for label, codes in ranking]
            if said:  # the older wordings' notes first, then the causes, in one definition
                block = [f":   {said[0]}", *(f"\n    {line}" for line in said[1:]), "",
                         "    " + block[0].removeprefix(":   "), *block[1:]]
            out += block
            out.append("")
    out += _wordings_section(dated)
    out += ["## Every cause code { #every-cause-code }", "",
            "Codes are stable: reports, scripts and this site use the same names.", ""]
    from runbooks.runner.execute import available

    books = available()
    for c in CAUSES.values():
        book = f"`runbooks run {c.runbook}`" if c.runbook in books else "`runbooks doctor`"
        out.append(f"- {cause_code(c.code)} [{c.title}]({c.page}#{c.code}) ({PAGES[c.page]}) · "
                   f"{book}")
    return "\n".join(out).rstrip("\n") + "\n"


# -- the "paste your error" box -------------------------------------------------------------------
#: Where the box (docs/paste.md, docs/javascripts/triage.js) finds :func:`runbooks.triage.data`.
TRIAGE_DATA = "javascripts/triage-data.js"


def triage_data_js() -> str:
    """:func:`runbooks.triage.data` as a script that sets one global: a script, not JSON to
    fetch, so the box works from a copy of the site opened from disk too (``file://``). ASCII
    only, so no page's or server's charset can change it."""
    return ("// Generated by the site's build from runbooks.triage.data(): not a source file.\n"
            f"window.RUNBOOKS_TRIAGE_DATA = {json.dumps(data(), separators=(',', ':'))};\n")


# -- messages under each cause's heading ----------------------------------------------------------
#: ``## Title { #code }`` (other attributes may follow the anchor); and fenced code, where a
#: line that looks like one is not a heading.
_ANCHORED_HEADING = re.compile(r"^#{1,6}[ \t]+.*\{[ \t]*#([\w.\-]+)(?:[ \t][^}]*)?\}[ \t]*$",
                               re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*(```|~~~).*?^[ \t]*\1", re.MULTILINE | re.DOTALL)


def _leads(c: Cause, sig: str) -> bool:
    """``sig`` points to ``c`` at least as strongly as to any other cause (so a word that many
    causes' field messages share is listed where it weighs most, not under every one)."""
    rule = _rules_by_parts().get((normalise(sig),))
    return rule is None or rule.causes.get(c.code, 0) >= max(rule.causes.values())


@functools.cache
def _rules_by_parts() -> dict:
    """Triage's rules by their normalised parts (built once a build)."""
    return {r.parts: r for r in rules()}


def messages_line(c: Cause) -> str:
    """The cause's signatures as one paragraph, each under the causes it weighs most for; a
    message that other causes share names them, since Claude Code prints it for each (the
    doctor tells them apart)."""
    parts = []
    for sig in dict.fromkeys(c.signatures):
        if not _leads(c, sig):
            continue
        others = [o for o in CAUSES.values() if o.code != c.code and sig in o.signatures]
        also = ", ".join(f"[{o.title}]({_link(c.page, o)})" for o in others)
        parts.append(f"{code(sig)} (also: {also})" if others else code(sig))
    return "**Messages that lead here:** " + " · ".join(parts)


def _link(from_page: str, c: Cause) -> str:
    """A Markdown link from ``from_page`` (a path in docs/) to where ``c`` is explained."""
    if c.page == from_page:
        return f"#{c.code}"
    return f"{posixpath.relpath(c.page, posixpath.dirname(from_page) or '.')}#{c.code}"


#: How many pastes a cause's block shows (one per thread, shortest first), and the most of
#: each that is shown (masked, then cut).
PASTES_SHOWN = 5
PASTE_WIDTH = 200


def paste_text(message: str, width: int = PASTE_WIDTH) -> str:
    """A paste as the site shows it: every secret masked (:func:`runbooks.masking.redact`,
    before anything is cut), control characters escaped, white space one space, cut to
    ``width`` characters (the cut marked ``…``)."""
    text = printable(redact(message))
    return clip(" ".join(text.split()), width)


def pasted_block(code_: str, pastes: list[field.Paste], page_path: str = "") -> str:
    """The folded "What users pasted" block for the cause ``code_``: of the threads whose pastes the
    corpus labels with it, the shortest paste of each, shortest first, at most
    :data:`PASTES_SHOWN`; each as text, with the client version it names and its thread.
    Empty when the corpus has none."""
    threads: dict[str, field.Paste] = {}
    for p in pastes:
        if p.cause != code_:
            continue
        best = threads.get(p.source)
        if best is None or len(p.message.strip()) < len(best.message.strip()):
            threads[p.source] = p
    if not threads:
        return ""
    shown = sorted(threads.values(), key=lambda p: (len(p.message.strip()), p.id))
    n = len(threads)
    about = posixpath.relpath("reference/triage.md", posixpath.dirname(page_path) or ".")
    plural = "s" if n != 1 else ""
    out = [f'??? quote "What users pasted ({n} thread{plural})"',
           (f"    Real pastes from public issue threads whose diagnosis points here, shortest "
            f"first ([the field corpus]({about}#corpus)):"), ""]
    for p in shown[:PASTES_SHOWN]:
        version = f"v{p.version}" if p.version else "version not given"
        out.append(f"    - {code(paste_text(p.message))} · {version} · "
                   f"[{field.thread_name(p.source)}]({p.source})")
    if n > PASTES_SHOWN:
        more = n - PASTES_SHOWN
        out += ["", f"    And {more} more thread{'s' if more != 1 else ''} in the corpus."]
    return "\n".join(out)


def add_messages(markdown: str, page_path: str,
                 pastes: list[field.Paste] | None = None) -> tuple[str, set[str]]:
    """``markdown`` with the messages line under each heading anchored by a cause code that
    this page explains, and the folded block of what users pasted for it (from ``pastes``,
    the field corpus, where given); and the codes found."""
    fences = [m.span() for m in _FENCE.finditer(markdown)]
    found: set[str] = set()

    def under(m: re.Match) -> str:
        c = CAUSES.get(m.group(1))
        if c is None or c.page != page_path or any(a <= m.start() < b for a, b in fences):
            return m.group(0)
        found.add(c.code)
        out = m.group(0)
        if c.signatures:
            out += f"\n\n{messages_line(c)}"
        block = pasted_block(c.code, pastes or [], page_path)
        if block:
            out += f"\n\n{block}\n"
        return out

    return _ANCHORED_HEADING.sub(under, markdown), found


# -- links to the site's own address --------------------------------------------------------------
def own_prefixes(config) -> list[str]:
    """The addresses this site is published at: the configured one and the canonical
    ``SITE_URL`` (stored notebook output links there, whoever builds the site)."""
    out = {site_url(), SITE_URL}
    if config.site_url:
        out.add(config.site_url.rstrip("/") + "/")
    return sorted(out, key=len, reverse=True)


_HREF = re.compile(r'(\shref=")([^"]+)(")')


def relative_links(html: str, page_url: str, prefixes: list[str]) -> str:
    """Absolute links to this site's pages, made relative to ``page_url``."""

    def local(m: re.Match) -> str:
        url = unescape(m.group(2))
        for prefix in prefixes:
            if url.startswith(prefix):
                path, _, fragment = url[len(prefix):].partition("#")
                rel = get_relative_url(path or ".", page_url) + (f"#{fragment}" if fragment else "")
                return m.group(1) + escape(rel) + m.group(3)
        return m.group(0)

    return _HREF.sub(local, html)


# -- runbook transcripts stay out of search --------------------------------------------------------
#: An included ``runbooks doctor`` transcript (``docs/examples/doctor-*.txt``): a ``$ …`` command
#: line, then the doctor's header. Each one holds every check's line, so the words of every
#: page; and Material appends a wildcard to each term searched (``a*`` matches every "API",
#: "auth" and "apiKeyHelper" of it). Indexed, a transcript outranks the prose that explains the
#: message a reader pasted; it is still on the page, only not in the index. The same holds for
#: an included ``runbooks fix`` session (``docs/examples/fix-*.txt``, or its first command): it
#: repeats ``runbooks fix --apply`` and ``runbooks undo`` on every fix page, which would take a
#: search for them away from the page that explains them (``reference/fixes.md``).
_TRANSCRIPT = re.compile(r'<div class="highlight">(?=<pre><span></span><code>(?:'
                         r"(?:\$ [^\n]*\n)?Claude Code connection check · [^\n]+ · [^\n]+\n"
                         r"|\$ [^\n]*\brunbooks (?:fix|undo)\b[^\n]*\n))")


_PASTED = re.compile(r'<details class="quote">(?=\s*<summary>What users pasted)')


def unsearchable_pastes(html: str) -> str:
    """``html`` with each folded "What users pasted" block marked ``data-search-exclude``: the
    corpus's pastes name many causes' words at once (a relay's error around a key's), and the
    held-out part must not find itself."""
    return _PASTED.sub('<details class="quote" data-search-exclude>', html)


def unsearchable_transcripts(html: str) -> str:
    """``html`` with each doctor transcript and fix session marked ``data-search-exclude``,
    and of class ``transcript`` (its long lines wrap on a phone: docs/stylesheets/extra.css)."""
    return _TRANSCRIPT.sub('<div class="highlight transcript" data-search-exclude>', html)


# -- one stylesheet for the notebooks -------------------------------------------------------------
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>\s*", re.DOTALL)


def _css_texts(block: str) -> list[str]:
    """One ``<style>`` block's CSS. mkdocs-jupyter also writes its highlighting CSS a second
    time as a Python list's repr; that is read back as the list it is."""
    text = block.strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return [text]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value]
    return [text]


def shared_stylesheet(html: str) -> tuple[str, str]:
    """``html`` without its ``<style>`` blocks, and their CSS (each distinct block once)."""
    texts: list[str] = []
    for m in _STYLE.finditer(html):
        for css in _css_texts(m.group(1)):
            if css and css not in texts:
                texts.append(css)
    return _STYLE.sub("", html), "\n".join(texts + [NOTEBOOK_CSS_EXTRA.strip()]) + "\n"


def _is_notebook(page) -> bool:
    return page.file.src_uri.endswith(".ipynb")


# -- MkDocs events --------------------------------------------------------------------------------
def on_startup(command: str, dirty: bool) -> None:
    _state["command"] = command


#: Where the triage page states the figures on the field corpus, computed at each build.
FIGURES_MARK = "<!-- field-figures -->"


def field_figures(pastes: list[field.Paste]) -> str:
    """The figures of the catalogue being built, on the field corpus, as a table: each split's
    size and how often triage ranks the thread's cause first and in its first three."""
    if not pastes:
        return "*(The field corpus is not in this build: figures in bench/results.md.)*"
    fig = field.figures(pastes)
    rows = ["| part | pastes | top 1 | top 3 |", "| --- | --- | --- | --- |"]
    for split, label in (("held", "held out (not tuned on)"), ("tune", "tuned on"),
                         ("all", "all")):
        f = fig[split]
        rows.append(f"| {label} | {f['n']} | {f['top1']:.1%} | {f['top3']:.1%} |")
    return "\n".join(rows)


def on_config(config):
    # `mkdocs serve` has already set its own local address; everything else publishes here.
    if _state["command"] != "serve" or not config.site_url:
        config.site_url = site_url()
    _state["css"] = {}
    _state["anchored"] = set()
    pastes, problems = field.load(FIELD_DIR)
    for problem in problems:
        log.warning("field corpus: %s", problem)
    _state["pasted"] = pastes
    return config


@event_priority(100)  # before mkdocs-jupyter looks at the files
def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "errors.md", content=error_index()))
    files.append(File.generated(config, TRIAGE_DATA, content=triage_data_js()))
    # Plain Files rooted at the repository (mkdocs-jupyter cannot read generated ones):
    # notebooks/network.ipynb is served at notebooks/network/, from its one source.
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{nb.name}", src_dir=str(ROOT), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if _is_notebook(page):  # a runbook's stored run repeats the messages its fix page explains
        page.meta.setdefault("search", {}).setdefault("boost", NOTEBOOK_SEARCH_BOOST)
        return markdown
    if page.file.src_uri in PAGES:
        search = page.meta.setdefault("search", {})
        search.setdefault("boost", FIX_PAGE_SEARCH_BOOST if page.file.src_uri in CAUSE_PAGES
                          else GUIDE_PAGE_SEARCH_BOOST)
    elif page.file.src_uri.startswith("reference/"):  # the lab's table quotes every message
        boost = REFERENCE_PAGE_SEARCH_BOOST.get(page.file.src_uri, REFERENCE_SEARCH_BOOST)
        page.meta.setdefault("search", {}).setdefault("boost", boost)
    if page.file.src_uri == "reference/triage.md":
        markdown = markdown.replace(FIGURES_MARK, field_figures(_state["pasted"]))
    markdown, found = add_messages(markdown, page.file.src_uri, _state["pasted"])
    _state["anchored"] |= found
    return markdown


def on_page_content(html: str, page, config, files) -> str:
    html = relative_links(html, page.url, own_prefixes(config))
    html = unsearchable_pastes(unsearchable_transcripts(html))
    if _is_notebook(page):
        html, css = shared_stylesheet(html)
        digest = hashlib.sha256(css.encode()).hexdigest()[:8]
        path = f"{NOTEBOOK_CSS_DIR}/notebook.{digest}.css"
        _state["css"][path] = css
        page.meta["notebook_css"] = path
    return html


def on_post_page(output: str, page, config) -> str:
    path = page.meta.get("notebook_css")
    if path:
        link = f'<link rel="stylesheet" href="{get_relative_url(path, page.url)}">\n'
        output = output.replace("</head>", link + "</head>", 1)
    return output


#: lunr's ``TokenSet.prototype.toString`` in Material's search worker: a node's key is its
#: edges' labels and child ids run together (``"0" + "2" + 1273`` and ``"0" + "2" + 12 + "7" +
#: 3`` are both ``021273``), so building the index can merge two different nodes and a
#: prefix's words come out wrong: ``after*`` gave ``after_sha2``, which no page has, and the
#: query threw (no result for "Connection timeout after 120000ms"). A comma ends each id.
_TOKENSET_KEY = re.compile(r"(TokenSet\.prototype\.toString=function\(\)\{.{0,200}?"
                           r"(\w)=\2\+(\w)\+(\w)\.id)(\})")


def fix_search_worker(site_dir: str) -> None:
    """Material's search worker, built into ``site_dir``, with lunr's token set keys made
    unambiguous (:data:`_TOKENSET_KEY`); a worker without that code is reported."""
    for path in sorted((Path(site_dir) / "assets" / "javascripts" / "workers").glob(
            "search.*.min.js")):
        js = path.read_text(encoding="utf-8")
        fixed, n = _TOKENSET_KEY.subn(r'\1+","\5', js, count=1)
        if n:
            path.write_text(fixed, encoding="utf-8")
        elif '.id+","}' not in js:
            log.warning("%s: lunr's TokenSet.toString not found: its key fix not applied", path)


def on_post_build(config) -> None:
    for path, css in _state["css"].items():
        out = Path(config.site_dir) / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(css, encoding="utf-8")
    fix_search_worker(config.site_dir)
    if _state["command"] == "serve":
        return  # a dirty rebuild sees only the pages that changed
    missing = sorted(set(CAUSES) - _state["anchored"])
    if missing:
        log.warning("cause codes without a heading anchored { #code } on their page: %s",
                    ", ".join(missing))
