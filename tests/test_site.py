"""The site builds strictly, with every section page, the error index and the notebook; every
internal link and anchor in it resolves; what the hooks add (the messages under each cause, the
site's address, one stylesheet for the notebooks) is there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import ROOT, clean_subprocess_env, run_cli

from runbooks.causes import CAUSES, PAGES
from runbooks.site.examples import DOCTOR_SCENARIOS, FIX_SCENARIOS, fix_output, sanitize

pytestmark = [pytest.mark.site, pytest.mark.xdist_group("site")]  # one site build


def test_every_section_page_is_built(site):
    for page in PAGES:
        assert (site / page.removesuffix(".md") / "index.html").exists(), page


def test_error_index_lists_every_code_with_a_working_anchor(site):
    html = (site / "errors" / "index.html").read_text()
    for code, c in CAUSES.items():
        assert f"{c.page.removesuffix('.md')}/#{code}" in html, code
        target = (site / c.page.removesuffix(".md") / "index.html").read_text()
        assert f'id="{code}"' in target, code


def test_notebook_is_rendered_with_its_output_and_downloadable(site):
    page = site / "notebooks" / "network" / "index.html"
    assert "Lab TLS Inspection CA" in page.read_text()
    assert (site / "notebooks" / "network" / "network.ipynb").exists()


@pytest.mark.parametrize("scenario", sorted(DOCTOR_SCENARIOS))
def test_doctor_examples_on_the_site_are_current(lab, scenario):
    """The terminal output quoted on the site is what `runbooks doctor` prints today."""
    run = lab(scenario)
    stored = (ROOT / "docs" / "examples" / f"doctor-{scenario}.txt").read_text()
    extra = [f"--{k}={v}" for k, v in run.params.items() if k != "base_url"]
    proc = run_cli("doctor", *DOCTOR_SCENARIOS[scenario], *extra,
                   env=clean_subprocess_env(**run.env, NO_COLOR="1"))
    body = stored.split("\n", 1)[1].rsplit("(exit", 1)[0]
    assert _unpadded(sanitize(proc.stdout)) == _unpadded(sanitize(body))
    assert f"(exit {proc.returncode})" in stored


@pytest.mark.parametrize("scenario", sorted(FIX_SCENARIOS))
def test_fix_sessions_on_the_site_are_current(scenario):
    """The `runbooks fix` sessions the site shows (plan, apply, second apply, undo) are what
    they print today, run the same way."""
    stored = (ROOT / "docs" / "examples" / f"fix-{scenario.replace('+', '-')}.txt").read_text()
    fresh = fix_output(scenario, FIX_SCENARIOS[scenario])
    assert _unpadded(sanitize(fresh)) == _unpadded(sanitize(stored))


def _docs_text() -> dict[str, str]:
    return {str(p.relative_to(ROOT / "docs")): p.read_text(encoding="utf-8")
            for p in sorted((ROOT / "docs").rglob("*.md"))}


def _section(markdown: str, code: str) -> str:
    """The part of a page under its ``{ #code }`` heading, up to the next heading."""
    start = re.search(rf"^#{{1,6}} .*\{{[ \t]*#{re.escape(code)}[ \t}}]", markdown, re.MULTILINE)
    assert start, f"no heading anchored #{code}"
    rest = markdown[start.end():]
    nxt = re.search(r"^#{1,6} ", re.sub(r"```.*?```", lambda m: " " * len(m.group(0)), rest,
                                         flags=re.DOTALL), re.MULTILINE)
    return rest[:nxt.start()] if nxt else rest


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "examples").glob("fix-*.txt")),
                         ids=lambda p: p.stem)
def test_each_fix_session_is_shown_in_its_causes_section(path):
    """Every stored `runbooks fix` session is included whole by the section of the page that
    explains the cause it fixes (the cause named on its first `[fix]`/`[needs]`/`[by hand]`
    line), inside a collapsible block or not."""
    cause = re.search(r"^\[(?:fix|needs|by hand)\] [\w-]+ \(([\w.]+)\)", path.read_text(),
                      re.MULTILINE).group(1)
    page = CAUSES[cause].page
    include = f'--8<-- "examples/{path.name}"'
    assert include in _section(_docs_text()[page], cause), f"{page}#{cause} lacks {include}"


def test_fix_sessions_shown_in_part_stop_at_one_command():
    """A line range of a stored session (`fix-x.txt:1:14`) starts at a command and ends with
    its exit status: regenerated output that moves the lines fails here, not on the site."""
    ranges = [(page, m) for page, text in _docs_text().items()
              for m in re.finditer(r'--8<-- "examples/([^":]+):(\d+):(\d+)"', text)]
    assert ranges
    for page, m in ranges:
        lines = (ROOT / "docs" / "examples" / m.group(1)).read_text().splitlines()
        part = lines[int(m.group(2)) - 1:int(m.group(3))]
        assert part[0].startswith("$ ") and re.fullmatch(r"\(exit \d+\)", part[-1]), (page, m[0])
        assert not any(line.startswith("$ ") for line in part[1:]), (page, m[0])


#: The pages added beside the fix pages, and where the nav puts them.
NAV_PLACES = {"long-tasks.md": "Fixes", "getting-help.md": "Fixes",
              "reference/fixes.md": "Reference"}


def _nav() -> list:
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("", lambda *a: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)["nav"]


def test_new_pages_are_in_the_nav_where_they_belong():
    sections = {k: [next(iter(e.values())) for e in v] for item in _nav() if isinstance(item, dict)
                for k, v in item.items() if isinstance(v, list)}
    for page, section in NAV_PLACES.items():
        assert page in sections[section], (page, section)
    fixes = sections["Fixes"]
    assert fixes.index("long-tasks.md") == fixes.index("prevention.md") + 1
    assert fixes.index("getting-help.md") == fixes.index("long-tasks.md") + 1


@pytest.mark.parametrize("page", sorted(NAV_PLACES))
def test_new_pages_are_built_and_in_the_site_nav(site, page):
    url = page.removesuffix(".md") + "/"
    html = _html(site, url.rstrip("/"))
    assert "<h1" in html and "Messages that lead here" not in html  # no cause codes invented
    home = _html(site, "").split('class="md-nav md-nav--primary"', 1)[1]
    assert f'href="{url}"' in home, f"the nav on the home page has no link to {url}"


def test_home_page_table_points_to_the_new_pages():
    home = (ROOT / "docs" / "index.md").read_text()
    table = home.split("## What do you see?", 1)[1].split("\n## ", 1)[0]
    assert "(long-tasks.md)" in table and "(getting-help.md)" in table


@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("bash"), reason="a bash script")
def test_the_chunked_script_on_the_site_resumes_where_it_stopped(lab, tmp_path):
    """docs/examples/chunked-review.sh, as long-tasks.md shows it: real `runbooks` (preflight
    and retry, against the lab), a stand-in `claude -p` that rejects one chunk's key the first
    time. The failed chunk is left for the next run, which sends only that one."""
    run = lab("healthy")
    work, bin_dir = tmp_path / "job", tmp_path / "bin"
    (work / "src" / "app").mkdir(parents=True)
    bin_dir.mkdir()
    for i in range(23):  # three chunks: 10, 10, 3
        (work / "src" / "app" / f"f{i:02}.ts").write_text("export {}\n")
    (bin_dir / "runbooks").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m runbooks "$@"\n')
    (bin_dir / "claude").write_text(
        '#!/bin/sh\n[ "$1" = --version ] && { echo "2.1.332 (Claude Code)"; exit 0; }\n'
        'echo "$*" >> calls.log\n'
        'case "$*" in *f13.ts*) [ -e reject ] && '
        '{ echo "Invalid API key · Fix external API key" >&2; exit 1; };; esac\n'
        'echo "review of $#: $*"\n')
    for exe in bin_dir.iterdir():
        exe.chmod(0o755)
    env = clean_subprocess_env(**run.env, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    script = ROOT / "docs" / "examples" / "chunked-review.sh"

    def once() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(script)], cwd=work, env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    (work / "reject").touch()
    first = once()
    assert first.returncode == 1 and "1 chunk(s) failed" in first.stderr, first.stderr
    assert "not retrying: auth.invalid" in first.stderr  # runbooks retry knew better
    assert sorted(p.name for p in work.glob("chunk.*.md")) == ["chunk.aaa.md", "chunk.aac.md"]
    (work / "reject").unlink()
    second = once()
    assert second.returncode == 0, second.stderr
    calls = (work / "calls.log").read_text().splitlines()
    assert len(calls) == 4 and "f13.ts" in calls[-1]  # 3 chunks, then the failed one alone
    done = "".join((work / f"chunk.{x}.md").read_text() for x in ("aaa", "aab", "aac"))
    assert all(f"f{i:02}.ts" in done for i in range(23))


def _unpadded(text: str) -> str:
    """Sanitized output without the column padding in front of a number: the sampling table
    right-aligns its figures, so `max     9.3 ms` and `max    10.3 ms` differ in spaces once
    both numbers read N."""
    return re.sub(r" +(?=N\b)", " ", text)


def test_no_wrong_commands_are_recommended():
    text = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    # present only inside the corrections, never as advice in a code block
    for wrong in ("export CLAUDE_TIMEOUT", "DEBUG=claude:*", "NODE_TLS_REJECT_UNAUTHORIZED=0\n"):
        for block in re.findall(r"```(?:bash|powershell)\n(.*?)```", text, re.DOTALL):
            assert wrong not in block


def test_every_lab_scenario_is_documented():
    from runbooks.lab import SCENARIOS

    text = (ROOT / "docs" / "reference" / "lab.md").read_text()
    missing = [name for name in SCENARIOS if f"`{name}`" not in text]
    assert not missing, f"docs/reference/lab.md lacks {missing}"


# -- what the hooks add ---------------------------------------------------------------------------
def _html(site: Path, url: str) -> str:
    return (site / url / "index.html").read_text(encoding="utf-8")


def test_error_index_shows_messages_exactly_as_printed(site):
    html = _html(site, "errors")
    # a code span is literal: `<!DOCTYPE html>` is escaped once, for HTML, and shown as written
    assert "<code>&lt;!DOCTYPE html&gt;</code>" in html
    assert "&amp;lt;" not in html and "&amp;gt;" not in html


def test_each_cause_heading_carries_the_messages_that_lead_to_it(site):
    """Each signature under every cause it weighs most for (a field word many causes share,
    ``fetch failed``, under the ones it points to first), and every signature somewhere."""
    from html import escape

    from runbooks.site.hooks import _leads

    listed: set[str] = set()
    for code, c in CAUSES.items():
        mine = [sig for sig in c.signatures if _leads(c, sig)]
        if not mine:
            continue
        html = _html(site, c.page.removesuffix(".md"))
        section = re.split(r"<h[1-6]", html.split(f'id="{code}"', 1)[1], maxsplit=1)[0]
        line = section.split("Messages that lead here:", 1)[1].split("</p>", 1)[0]
        for sig in mine:
            assert f"<code>{escape(sig, quote=False)}</code>" in line, (code, sig)
            listed.add(sig)
    assert {s for c in CAUSES.values() for s in c.signatures} == listed


def test_search_ranks_fix_pages_above_the_error_index(site):
    import json

    docs = json.loads((site / "search" / "search_index.json").read_text())["docs"]
    boost = {d["location"]: d.get("boost", 1) for d in docs}
    assert boost["errors/"] < 1
    for page in PAGES:
        assert boost[page.removesuffix(".md") + "/"] > 1, page


def test_site_url_is_the_catalogues_one_setting(site, monkeypatch):
    import yaml

    from runbooks.causes import site_url
    from runbooks.site import hooks as sitehooks

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("", lambda *a: None)  # !!python/name and friends
    assert "site_url" not in yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_Loader)
    assert f'<link rel="canonical" href="{site_url()}network/">' in _html(site, "network")

    class Config:
        site_url = None

    monkeypatch.setenv("RUNBOOKS_DOCS_URL", "https://kb.example/mirror")
    assert sitehooks.on_config(Config()).site_url == "https://kb.example/mirror/"


def test_links_to_the_sites_own_address_are_relative():
    from runbooks.site.hooks import relative_links

    prefixes = ["https://kb.example/", "https://claude-code-runbooks.github.io/runbooks/"]
    html = ('<a href="https://claude-code-runbooks.github.io/runbooks/proxy-tls/#tls.expired">'
            '<a href="https://kb.example/">'
            '<a href="https://code.claude.com/docs/en/settings">')
    assert relative_links(html, "notebooks/network/", prefixes) == (
        '<a href="../../proxy-tls/#tls.expired"><a href="../..">'
        '<a href="https://code.claude.com/docs/en/settings">')


def test_built_pages_link_to_themselves_relatively(site):
    from runbooks.causes import SITE_URL, site_url

    for page in site.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        for own in {SITE_URL, site_url()}:
            hrefs = re.findall(rf'<(\w+)[^>]*href="{re.escape(own)}[^"]*"', html)
            assert set(hrefs) <= {"link"}, f"{page}: absolute links to {own} in {hrefs}"


def test_notebook_output_shows_lab_addresses_as_code_not_links(site):
    """Stored runs hold the lab's loopback addresses: text to read, never a link."""
    import json

    nb = json.loads((ROOT / "notebooks" / "network.ipynb").read_text())
    md = "\n".join("".join(o.get("data", {}).get("text/markdown", ""))
                   for c in nb["cells"] for o in c.get("outputs", []))
    assert md, "the stored notebook has no Markdown output"
    bare = re.sub(r"(`+).+?\1", "", md)  # outside code spans
    assert not re.search(r"\w+://", bare.replace("](https://", "](")), bare
    for page in site.rglob("*.html"):
        assert not re.search(r'href="\w+://(127\.|\[::1\]|localhost)', page.read_text()), page


def test_notebook_status_column_has_words(site):
    html = _html(site, "notebooks/network")
    for word in ("pass", "fail", "skip"):
        assert re.search(rf"<td>\S+ {word}</td>", html), word


def test_notebook_styles_come_from_one_shared_stylesheet(site):
    html = _html(site, "notebooks/network")
    assert "<style" not in html.split('<div class="jupyter-wrapper">', 1)[0].split("<body", 1)[1]
    sheets = re.findall(r'<link rel="stylesheet" href="\.\./\.\./(assets/stylesheets/'
                        r'notebook\.\w+\.css)">', html)
    assert len(sheets) == 1 and (site / sheets[0]).stat().st_size > 100_000
    assert len(html.encode()) < 150_000, "the notebook page carries its CSS inline again"



def test_doctor_transcripts_are_shown_but_not_searched(site):
    """An included `runbooks doctor` transcript holds every check's words: on the page, out of
    the search index, where it would outrank the prose explaining a pasted message."""
    import json

    docs = json.loads((site / "search" / "search_index.json").read_text())["docs"]
    assert not [d["location"] for d in docs if "Claude Code connection check" in d["text"]]
    html = _html(site, "auth")
    assert "Claude Code connection check · doctor" in html
    included = re.findall(r'--8<-- "examples/(?:findings/)?(?:doctor|fix)-',
                          (ROOT / "docs" / "auth.md").read_text(encoding="utf-8"))
    # two doctor transcripts, each as its findings and whole; a fix session and a part of it
    assert len(included) == 6
    assert html.count('<div class="highlight transcript" data-search-exclude>') == len(included)


def test_only_doctor_transcripts_leave_the_search_index():
    from runbooks.site.hooks import unsearchable_transcripts

    block = '<div class="highlight"><pre><span></span><code>{}</code></pre></div>'
    transcript = block.format("$ runbooks doctor\nClaude Code connection check · doctor · x\n")
    others = [block.format("runbooks doctor\n"), block.format("$ runbooks retry -- claude\nok"),
              block.format("Claude Code connection check · doctor\n")]
    out = unsearchable_transcripts(transcript + "".join(others))
    assert out.count("data-search-exclude") == 1 and out.startswith(
        '<div class="highlight transcript" data-search-exclude><pre>')



# -- the error index and the transcripts, as built -----------------------------------------------
class _Index(HTMLParser):
    """The error index as built: each ``<dl>``'s entries, as (the messages of its ``<dt>``s,
    the links of its ``<dd>``); whether the page has a table; and, by message, what its
    ``<dt>`` says after the message (the client versions that print it)."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: list[tuple[list[str], list[str]]] = []
        self.tables = 0
        self.versions: dict[str, str] = {}
        self._in: str | None = None
        self._text = ""
        self._after = ""
        self._code = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag == "table":
            self.tables += 1
        if tag == "dt":
            if not self.entries or self.entries[-1][1]:
                self.entries.append(([], []))
            self._in, self._text, self._after, self._code = "dt", "", "", 0
        elif tag == "code" and self._in == "dt":
            self._code += 1
        elif tag == "dd":
            self._in = "dd"
        elif tag == "a" and self._in == "dd":
            self.entries[-1][1].append(dict(attrs).get("href", ""))

    def handle_endtag(self, tag) -> None:
        if tag == "dt":
            self.entries[-1][0].append(self._text)
            self.versions[self._text] = self._after.strip(" ·")
            self._in = None
        elif tag == "code" and self._in == "dt":
            self._code = -1  # the message is the first code span; what follows, its versions
        elif tag == "dd":
            self._in = None

    def handle_data(self, data) -> None:
        if self._in == "dt" and self._code > 0:
            self._text += data
        elif self._in == "dt" and self._code < 0:
            self._after += data


def test_error_index_shows_each_message_once_with_its_ranked_causes(site):
    """One entry per message users see (no duplicate, none under two entries, no fragment),
    its causes as triage ranks them, each linking to the anchor that explains it."""
    from runbooks.site.hooks import index_messages
    from runbooks.triage import match_message

    parser = _Index()
    parser.feed(_html(site, "errors"))
    assert parser.tables == 0, "the error index is a table again: it overflows a phone"
    shown = [m for messages, _ in parser.entries for m in messages]
    assert sorted(shown, key=str.lower) == sorted(index_messages(), key=str.lower)
    assert len({m.lower() for m in shown}) == len(shown)
    for fragment in ("set API_TIMEOUT_MS above", "No data arrived for more than"):
        assert fragment not in shown
    from runbooks.causes import MESSAGES
    from runbooks.site.hooks import PINNED_CLIENT

    for m in MESSAGES:  # each whole message with the version it was captured from
        assert f"v{PINNED_CLIENT}" in parser.versions[m], m
    for messages, links in parser.entries:
        codes = [link.rsplit("#", 1)[1] for link in links]
        for m in messages:
            if "API_TIMEOUT_MS above N" not in m:  # its ranges of N: tests/test_error_index.py
                assert codes == [c.code for c in match_message(m)], (m, links)
        for link in links:
            page, _, anchor = link.partition("#")
            target = (site / "errors" / page / "index.html").resolve()
            assert f'id="{anchor}"' in target.read_text(encoding="utf-8"), link


#: The most transcript lines a page shows unfolded: a doctor transcript's findings
#: (docs/examples/findings/), any other block, and all of them on one page.
MAX_DOCTOR_LINES, MAX_BLOCK_LINES, MAX_PAGE_LINES = 20, 30, 180


class _Transcripts(HTMLParser):
    """The transcripts a page shows (marked by the site hooks), each as (folded: inside a
    ``<details>``, its lines)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[bool, list[str]]] = []
        self._details = 0
        self._depth = 0
        self._text: str | None = None

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "details":
            self._details += 1
        if tag == "div" and self._text is not None:
            self._depth += 1
        elif tag == "div" and "data-search-exclude" in a:
            self._text, self._depth, self._folded = "", 1, self._details > 0

    def handle_endtag(self, tag) -> None:
        if tag == "details":
            self._details -= 1
        if tag == "div" and self._text is not None:
            self._depth -= 1
            if not self._depth:
                self.blocks.append((self._folded, self._text.strip("\n").splitlines()))
                self._text = None

    def handle_data(self, data) -> None:
        if self._text is not None:
            self._text += data


@pytest.mark.parametrize("page", sorted(PAGES) + ["getting-help.md", "long-tasks.md"])
def test_fix_pages_show_the_lines_that_matter_and_fold_the_rest(site, page):
    """A fix page read on a phone: each doctor transcript as its findings (the whole folded),
    no long block unfolded, and a bound on what a page shows in all."""
    parser = _Transcripts()
    parser.feed(_html(site, page.removesuffix(".md")))
    shown = [lines for folded, lines in parser.blocks if not folded]
    for lines in shown:
        doctor = any(line.startswith("Claude Code connection check · doctor ·") for line in lines)
        limit = MAX_DOCTOR_LINES if doctor else MAX_BLOCK_LINES
        assert len(lines) <= limit, f"{page}: {len(lines)} lines unfolded: {lines[:2]}"
    total = sum(map(len, shown))
    assert total <= MAX_PAGE_LINES, f"{page}: {total} transcript lines unfolded"

# -- every internal link and anchor resolves ------------------------------------------------------
class _Links(HTMLParser):
    """The ids (and names) a page defines, and the links it makes (href and src)."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key) and (key == "id" or tag == "a"):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) is not None:
                self.links.append(a[key])


def check_links(site: Path, base_path: str = "/") -> tuple[list[str], set[str]]:
    """Every internal link in the built site: (broken ones, external URLs). A link to a
    directory means its index.html; a fragment must be an id on the target page. External
    links are collected, never fetched."""
    pages: dict[Path, _Links] = {}
    for path in site.rglob("*.html"):
        parser = _Links()
        parser.feed(path.read_text(encoding="utf-8"))
        pages[path] = parser
    broken, external = [], set()
    for path, parser in pages.items():
        here = path.parent
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme in ("mailto", "javascript", "data", "tel"):
                continue
            if parts.scheme or parts.netloc:
                external.add(link)
                continue
            if parts.path.startswith("/"):  # 404.html: absolute to the site's address
                target = site / parts.path.removeprefix(base_path).lstrip("/")
            else:
                target = (here / unquote(parts.path)) if parts.path else path
            target = Path(os.path.normpath(target))
            if target.is_dir():
                target = target / "index.html"
            where = f"{path.relative_to(site)}: {link}"
            if site not in target.parents and target != site or not target.is_file():
                broken.append(f"{where} (no file {target})")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where} (no id {parts.fragment!r})")
    return broken, external


def test_every_internal_link_and_anchor_resolves(site):
    from runbooks.causes import site_url

    broken, external = check_links(site, urlsplit(site_url()).path)
    assert not broken, "\n".join(broken)
    # external links are listed, not fetched (this machine talks to loopback only)
    print("\n".join(["external links:", *sorted(external)]))
    for url in external:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname, url
        assert not parts.hostname.startswith(("127.", "localhost")), url


def test_the_link_checker_finds_what_is_broken(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "index.html").write_text(
        '<h2 id="x">x</h2><a href="a/#y">ok</a><a href="a/#nope">bad anchor</a>'
        '<a href="missing/">bad page</a><a href="#x">ok</a><a href="https://e.example/">ext</a>')
    (tmp_path / "a" / "index.html").write_text('<p id="y"></p><a href="../#x">ok</a>')
    broken, external = check_links(tmp_path)
    assert len(broken) == 2 and external == {"https://e.example/"}
    assert "nope" in broken[0] + broken[1] and "missing" in broken[0] + broken[1]


# -- publishing and wording ------------------------------------------------------------------------
def test_pages_workflow_builds_strictly_and_deploys():
    import yaml

    wf = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text())
    steps = [s for job in wf["jobs"].values() for s in job.get("steps", [])]
    uses = " ".join(s.get("uses", "") for s in steps)
    runs = " ".join(s.get("run", "") for s in steps)
    assert "mkdocs build --strict" in runs
    assert "actions/upload-pages-artifact" in uses and "actions/deploy-pages" in uses
    assert wf["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def test_install_section_says_how_to_get_the_tool():
    home = (ROOT / "docs" / "index.md").read_text()
    repo = "git+https://github.com/claude-code-runbooks/runbooks"
    for text in (f"pipx install {repo}", f"uv tool install {repo}", f"pip install {repo}",
                 "uv build", "git clone https://github.com/",
                 ". .venv/bin/activate", ".venv\\Scripts\\activate", "py -3 -m venv .venv"):
        assert text in home, text
    assert "<this repository>" not in home


def test_pages_speak_of_a_popular_guide_not_of_our_seed():
    for page in (ROOT / "docs").rglob("*.md"):
        assert not re.search(r"\bseed\b", page.read_text(), re.IGNORECASE), page


def test_messages_go_under_cause_headings_only():
    from runbooks.site.hooks import add_messages

    md = ("## Reset { #tcp.reset data-toc-label=\"Reset\" }\n\ntext\n\n"
          "```text\n## Not a heading { #tcp.refused }\n```\n\n"
          "## Elsewhere's code { #tls.expired }\n\n## Plain { #hosts-to-allow }\n")
    out, found = add_messages(md, "network.md")
    assert found == {"tcp.reset"}  # tls.expired is explained on proxy-tls.md
    assert out.count("Messages that lead here") == 1
    assert "`ECONNRESET` (also: [IPv6 fails while IPv4 works](#ipv6.broken))" in out


# -- the runbook-backed pages: every cause has a check, every command parses ----------------------
#: The pages of the API layer, each backed by a runbook of the same name.
API_PAGES = ("auth.md", "timeouts.md", "rate-limits.md")
#: Pages without cause codes, and the commands each must show in a ```bash block (so the test
#: below parses them): fixing, long tasks, getting help.
NEW_PAGES = {
    "reference/fixes.md": {"fix", "undo"},
    "long-tasks.md": {"preflight", "retry", "doctor"},
    "getting-help.md": {"history", "bundle"},
}
#: Modules that only describe causes, or fake them: a code named there is not a check's.
_NOT_CHECKS = {"causes.py", "hooks.py", "examples.py"}


def _anchored(page: str) -> set[str]:
    """The cause codes with a ``{ #code }`` heading on ``page`` (fences excluded), as the site
    hooks find them."""
    from runbooks.site.hooks import add_messages

    return add_messages((ROOT / "docs" / page).read_text(encoding="utf-8"), page)[1]


def _reported_codes() -> set[str]:
    """Cause codes a check can report: ``cause="…"`` in a runbook's steps, or a string literal in
    the engine modules that hand causes to the steps (classify, http, live, credentials…)."""
    import ast

    books = ROOT / "runbooks" / "books"
    found = {m for path in books.glob("*.py")
             for m in re.findall(r'cause="([\w.\-]+)"', path.read_text(encoding="utf-8"))}
    for path in (ROOT / "runbooks").rglob("*.py"):
        if path.name in _NOT_CHECKS or "lab" in path.relative_to(ROOT / "runbooks").parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found |= {n.value for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in CAUSES}
    return found


@pytest.mark.parametrize("page", API_PAGES)
def test_api_pages_explain_every_cause_of_their_runbook(page):
    """Each code the catalogue places on the page has its section there (and only those)."""
    placed = {code for code, c in CAUSES.items() if c.page == page}
    assert _anchored(page) == placed


@pytest.mark.parametrize("code", sorted({c for p in API_PAGES for c in _anchored(p)}))
def test_each_cause_on_the_api_pages_is_reported_by_a_check(code):
    """A section promises that `runbooks doctor` can name its cause: some check must report it
    (or, for a check still being added, the catalogue's runbook for it must exist)."""
    from runbooks.runner.execute import available

    if code in _reported_codes():
        return
    assert CAUSES[code].runbook in available(), (
        f"{code}: no check reports it, and its runbook {CAUSES[code].runbook!r} does not exist")


#: ``--8<-- "examples/…"`` (with an optional ``:start:end`` line range), as pymdownx.snippets
#: includes a file from docs/.
_INCLUDE = re.compile(r'^[ \t]*--8<--[ \t]+"([^":]+)(?::(\d+):(\d+))?"[ \t]*$', re.MULTILINE)


def included(text: str) -> str:
    """``text`` with each snippet include replaced by the lines it includes."""
    def expand(m: re.Match) -> str:
        lines = (ROOT / "docs" / m.group(1)).read_text(encoding="utf-8").splitlines()
        if m.group(2):
            lines = lines[int(m.group(2)) - 1:int(m.group(3))]
        return "\n".join(lines)
    return _INCLUDE.sub(expand, text)


def _bash_blocks(text: str) -> list[str]:
    """The body of every ```bash fence, tabs and admonitions included (dedented), with the
    files it includes (a shell script shown from docs/examples/)."""
    from textwrap import dedent

    fence = re.compile(r"^([ \t]*)```bash[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
    return [included(dedent(m.group(2))) for m in fence.finditer(text)]


#: Shell words after which a command starts: ``if runbooks preflight; then``.
_SHELL_KEYWORDS = {"if", "then", "else", "elif", "do", "while", "until", "!", "time"}


def runbooks_commands(text: str) -> list[list[str]]:
    """Every ``runbooks …`` command in the ```bash blocks of ``text`` (included scripts too), as
    argument lists: after a pipe, ``&&``, ``;``, a shell keyword such as ``if``, or variable
    assignments too, up to the next shell operator."""
    import shlex

    out = []
    for block in _bash_blocks(text):
        for line in block.replace("\\\n", " ").splitlines():
            if "runbooks" not in line:
                continue
            lex = shlex.shlex(line, posix=True, punctuation_chars=True)
            lex.whitespace_split = True
            lex.commenters = "#"
            tokens = list(lex)
            operator = re.compile(r"[();<>|&]+")
            for i, tok in enumerate(tokens):
                before = tokens[i - 1] if i else None
                starts = before is None or operator.fullmatch(before) or re.fullmatch(
                    r"[A-Za-z_]\w*=.*", before) or before in _SHELL_KEYWORDS
                if tok != "runbooks" or not starts:
                    continue
                args = []
                for arg in tokens[i + 1:]:
                    if operator.fullmatch(arg):
                        break
                    args.append(arg)
                out.append(args)
    return out


def test_the_command_finder_reads_shell_lines():
    text = ("```bash\nrunbooks doctor --live   # a comment --bogus\n"
            "git diff | runbooks retry -- claude -p \"a b\"\n"
            "X=1 runbooks run auth \\\n  -p samples=3 && claude -p hi\n"
            "echo runbooks is not a command here\n"
            "if runbooks preflight --quiet; then echo go; fi\n```\n"
            "    ```bash\n    runbooks triage -\n    ```\n"
            '```bash\n--8<-- "examples/preflight.sh"\n```\n')
    assert runbooks_commands(text) == [
        ["doctor", "--live"], ["retry", "--", "claude", "-p", "a b"],
        ["run", "auth", "-p", "samples=3"], ["preflight", "--quiet"], ["triage", "-"],
        ["preflight"], ["retry", "--max", "5", "--", "claude", "-p", "$(cat task.md)"]]


def _check_command(args: list[str]) -> None:
    """Parse ``args`` as the CLI does; for ``run``, the parameter names too."""
    import yaml

    from runbooks.books import RUNBOOKS
    from runbooks.cli import build_parser

    ns = build_parser().parse_args(args)
    if ns.command != "run":
        return
    books = list(RUNBOOKS) if ns.runbook == "all" else [ns.runbook]
    assert set(books) <= set(RUNBOOKS), f"unknown runbook {ns.runbook!r}"
    known = {p for b in books for p in RUNBOOKS[b].PARAMETERS}
    names = [item.partition("=")[0] for item in ns.parameter]
    names += [k for raw in ns.parameters_yaml for k in (yaml.safe_load(raw) or {})]
    unknown = [n for n in names if n not in known]
    assert not unknown, f"unknown parameters {unknown} for {ns.runbook!r}"


@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT / "docs"))
                                        for p in (ROOT / "docs").rglob("*.md")))
def test_commands_shown_use_options_the_cli_accepts(page):
    """What a reader copies from a ```bash block parses with `runbooks.cli.build_parser()`."""
    from runbooks.errors import UsageError

    commands = runbooks_commands((ROOT / "docs" / page).read_text(encoding="utf-8"))
    if page in API_PAGES:
        assert commands, f"{page} shows no runbooks command"
    shown = {args[0] for args in commands if args}
    missing = NEW_PAGES.get(page, set()) - shown
    assert not missing, f"{page} shows no `runbooks {' / '.join(sorted(missing))}` command"
    bad = []
    for args in commands:
        try:
            _check_command(args)
        except (UsageError, AssertionError, SystemExit) as exc:
            bad.append(f"runbooks {' '.join(args)}: {exc}")
    assert not bad, "\n".join(bad)


def test_the_paste_box_data_is_what_triage_ranks_with(site):
    """javascripts/triage-data.js, written by the build, is runbooks.triage.data(), whole."""
    import json

    from runbooks.site.hooks import TRIAGE_DATA
    from runbooks.triage import data

    text = (site / TRIAGE_DATA).read_text(encoding="ascii")
    prefix = "window.RUNBOOKS_TRIAGE_DATA = "
    body = next(line for line in text.splitlines() if line.startswith(prefix))
    assert json.loads(body[len(prefix):].removesuffix(";")) == data()
    assert not (ROOT / "docs" / TRIAGE_DATA).exists()  # generated, never a source file
