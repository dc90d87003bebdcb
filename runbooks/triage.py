"""From a pasted message to its causes, ranked: what ``runbooks triage`` and the site's
"paste your error" box both do.

Real pastes are not the clean line a client prints in a lab: they come wrapped in retry lines
and tree markers (``⎿  API Error (Connection error.) · Retrying in 4 seconds… (attempt 4/10)``),
inside JSON bodies escaped once or twice by a ``/bug`` report, as whole HTML pages from a CDN,
split across lines by the terminal, from clients of every version. So a paste is first
*normalised* (:func:`normalise`), then every *rule* that occurs in it adds its weight to the
causes it points to (:func:`rank`).

- **Normalising**: escapes (``\\n``, ``\\"``, ``\\u00b7``, at any depth) and HTML entities
  decoded; an HTML page's tags, scripts and styles dropped (its ``<title>`` text kept) and
  the page marked ``<!doctype html>``; tree markers and box lines dropped; dashes, quotes and spaces
  made plain; lower case; runs of white space one space.
- **A rule** is a signature of the catalogue (:data:`runbooks.causes.CAUSES`): one or more
  parts that must all occur, and for each cause it points to, a weight. A part that is one
  token (``ECONNRESET``, ``529``, ``permission_error``) occurs only as a whole word, and no part
  occurs inside a word (``stream error`` is not in ``upstream error``); a longer part also
  occurs across a terminal's line wrap (white space ignored).
- **Ranking**: a cause's best rule that occurs ranks it (its weight), then the sum of the
  weights of its rules that occur (more evidence), leaving out of the sum a rule whose text is
  part of another of the cause's that occurs (``ECONNREFUSED`` in the whole refused message
  counts once); ties keep the catalogue's order.
  A timeout message that quotes ``API_TIMEOUT_MS above N`` is then ordered by ``N``.

The site's box runs the same steps in JavaScript (``docs/javascripts/triage.js``) from
:func:`data` (written to ``javascripts/triage-data.js`` by the site's build); a browser test
runs both on the whole field corpus (``tests/fixtures/field/``), the catalogue's messages and
every signature, and requires the same normalised text, ranking, version and notes. So every
step here is one JavaScript can take the same way: an escaped surrogate pair becomes the one
character it spells (a JavaScript string cannot hold the pair apart), and numbers (a quoted
``API_TIMEOUT_MS``, a version) are compared by their digits, of any length.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from .causes import CAUSES, CHANGES, Cause, Sig

__all__ = ["Ranked", "Triage", "client_version", "data", "match_message", "normalise", "rank",
           "rules"]

#: The most of a paste that is read (a whole debug log fits; the CLI caps its input too).
CAP = 1 << 20

#: Each escape is tried from the start of its run of backslashes only: inside the run every try
#: fails as the one before it did (1 MB of backslashes was three hours of retries).
_ESC_U = re.compile(r"(?<!\\)\\+u([0-9a-fA-F]{4})")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESC_WS = re.compile(r"(?<!\\)\\+[nrt]")
_ESC_CHAR = re.compile(r"(?<!\\)\\+([\"'/])")
_ENTITIES = (("&quot;", '"'), ("&#34;", '"'), ("&#39;", "'"), ("&#x27;", "'"), ("&apos;", "'"),
             ("&lt;", "<"), ("&gt;", ">"), ("&nbsp;", " "), ("&middot;", "·"),
             ("&mdash;", "—"), ("&ndash;", "–"), ("&hellip;", "…"), ("&amp;", "&"))
_HTML = re.compile(r"<(?:!doctype\s+html|html[\s>]|head>|body[\s>]|title>)", re.IGNORECASE)
_BLOCK_OPEN = re.compile(r"<([sS][cC][rR][iI][pP][tT]|[sS][tT][yY][lL][eE])(?!\w)")
_BLOCK_CLOSE = {"script": re.compile(r"</[sS][cC][rR][iI][pP][tT]\s*>"),
                "style": re.compile(r"</[sS][tT][yY][lL][eE]\s*>")}
_TAG = re.compile(r"<[a-zA-Z!/][^<>]{0,2000}>")
#: Tree markers, spinners and box lines the terminal draws around a message.
_MARKS = re.compile("[⎿●✻✶✳✢✽✺⏺⎯│┃┆╎╭╮╰╯─━═⋯▐▛▜▌▝▘█]")
_PLAIN = (("—", "-"), ("–", "-"), ("‐", "-"), ("‑", "-"), ("‒", "-"), ("−", "-"),
          ("“", '"'), ("”", '"'), ("„", '"'), ("‘", "'"), ("’", "'"), ("′", "'"))
_SPACE = re.compile("[ \t\r\n\f\v\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_TOKEN = re.compile(r"[a-z0-9_]+")
#: A rule this heavy names a cause; lighter ones (an old client's "Connection error.", a bare
#: status) only say where to look.
SPECIFIC = 10
#: What a paste that holds an HTML page starts with once normalised (its tags are gone).
HTML_MARK = "<!doctype html>"
#: A part this long (white space removed) also occurs where a terminal wrapped it.
SQUASH_MIN = 10


def normalise(text: str) -> str:
    """A paste as the rules read it (see the module's docstring); the JavaScript twin in
    ``docs/javascripts/triage.js`` must give the same string for the same text."""
    t = text[:CAP]
    t = _ESC_U.sub(lambda m: chr(int(m.group(1), 16)), t)
    if _SURROGATE.search(t):  # a pair escaped as two (JSON's spelling of an emoji) is one
        t = t.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    t = _ESC_WS.sub(" ", t)
    t = _ESC_CHAR.sub(lambda m: m.group(1), t)
    for entity, char in _ENTITIES:
        t = t.replace(entity, char)
    html = _HTML.search(t) is not None
    if html:
        t = HTML_MARK + " " + _TAG.sub(" ", _drop_blocks(t))
    t = _MARKS.sub(" ", t)
    for fancy, plain in _PLAIN:
        t = t.replace(fancy, plain)
    return _SPACE.sub(" ", t.lower()).strip()


def _drop_blocks(t: str) -> str:
    """``t`` with each ``<script …>…</script>`` and ``<style …>…</style>`` block one space,
    left to right, tag names in any ASCII case (as HTML reads them): what
    ``re.sub(r"<(script|style)\\b[^>]*>[\\s\\S]*?</\\1\\s*>", " ", t, flags=re.I)`` did, in
    linear time. That regex looked for the closing tag again from every opening that has
    none (800 KB of ``<script>`` took ten minutes); here a name found unclosed once stays
    unclosed, and the first ``>`` and each name's next closing tag are found once."""
    out, last, pos, gt = [], 0, 0, -1
    close: dict[str, re.Match | None] = {}
    while (m := _BLOCK_OPEN.search(t, pos)) is not None:
        if gt < m.end():
            gt = t.find(">", m.end())  # where the opening tag ends
            if gt == -1:
                break
        name = m.group(1).lower()
        c = close.get(name)
        if name not in close or (c is not None and c.start() <= gt):
            c = close[name] = _BLOCK_CLOSE[name].search(t, gt + 1)
        if c is None:
            pos = m.start() + 1
            continue
        out += [t[last:m.start()], " "]
        last = pos = c.end()
    out.append(t[last:])
    return "".join(out)


def _squash(t: str) -> str:
    return t.replace(" ", "")


@dataclass(frozen=True)
class Rule:
    """One signature as matched: its normalised parts, and the weight it adds to each cause
    it points to (the catalogue's order kept)."""

    text: str  # the first part as the catalogue writes it (for display)
    parts: tuple[str, ...]  # normalised; all must occur
    causes: dict[str, int]
    seen: str = ""
    note: str = ""


def _weight(sig: Sig) -> int:
    return sig.weight if sig.weight is not None else 10 + min(len(sig.text), 80) // 8


def rules() -> list[Rule]:
    """Every signature of the catalogue as one rule; the same parts under several causes are
    one rule pointing to each (in the catalogue's order), a cause given the same parts twice
    keeping the higher weight."""
    by_key: dict[tuple[str, ...], Rule] = {}
    for c in CAUSES.values():
        for sig in c.sigs:
            parts = tuple(normalise(p) for p in (sig.text, *sig.also))
            rule = by_key.get(parts)
            if rule is None:
                rule = by_key[parts] = Rule(sig.text, parts, {}, sig.seen, sig.note)
            rule.causes[c.code] = max(rule.causes.get(c.code, 0), _weight(sig))
    return list(by_key.values())


_RULES: list[Rule] | None = None


def _rules() -> list[Rule]:
    global _RULES
    if _RULES is None:
        _RULES = rules()
    return _RULES


def _is_word_char(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("0" <= ch <= "9") or ch == "_"


def squashed(text: str) -> tuple[str, list[bool]]:
    """A normalised text without its spaces, and for each of its characters (and its end)
    whether a space or the start stood before it: where a word began."""
    chars: list[str] = []
    cuts: list[bool] = []
    cut = True
    for ch in text:
        if ch == " ":
            cut = True
            continue
        chars.append(ch)
        cuts.append(cut)
        cut = False
    cuts.append(True)
    return "".join(chars), cuts


def _find_word(part: str, text: str, cuts: list[bool] | None = None) -> bool:
    """``part`` in ``text``, not inside a word: where the part begins (ends) with a letter,
    digit or ``_``, the text has none just before (after) it (an ``s`` after it, a plural,
    is allowed), or a space stood there (``cuts``, in a squashed text)."""
    need_start, need_end = _is_word_char(part[0]), _is_word_char(part[-1])
    start = text.find(part)
    while start != -1:
        end = start + len(part)
        if text[end:end + 1] == "s" and (cuts is None or not cuts[end]):
            end += 1  # a plural ("connection errors") is the word still
        if (not need_start or start == 0 or not _is_word_char(text[start - 1])
                or (cuts is not None and cuts[start])) and \
                (not need_end or end >= len(text) or not _is_word_char(text[end])
                 or (cuts is not None and cuts[end])):
            return True
        start = text.find(part, start + 1)
    return False


def occurs(part: str, text: str, flat: tuple[str, list[bool]]) -> bool:
    """A normalised part occurs in a normalised text, never inside a word (``stream error`` is
    not in ``upstream error``); a part of more than one token also where a terminal wrapped it
    (from :data:`SQUASH_MIN` characters on, white space ignored: ``flat`` is
    :func:`squashed` of the text)."""
    if _find_word(part, text):
        return True
    if _TOKEN.fullmatch(part):
        return False
    bare = _squash(part)
    return len(bare) >= SQUASH_MIN and _find_word(bare, flat[0], flat[1])


@dataclass
class Ranked:
    """One cause that fits, with its score and the rules that gave it."""

    cause: Cause
    best: int  # the weight of its best rule
    score: int  # the sum of its rules' weights
    matched: list[Rule] = field(default_factory=list)


@dataclass
class Triage:
    """What a paste says: the causes that fit, best first; the client version it names; notes
    on older wordings and on what changed since that version."""

    ranked: list[Ranked]
    version: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def causes(self) -> list[Cause]:
        return [r.cause for r in self.ranked]


_QUOTED_TIMEOUT = re.compile(r"api_timeout_ms above (\d+)")
#: How a timeout message's quoted API_TIMEOUT_MS reorders the timeout causes: a tiny value
#: is a unit mistake or a number the client read leniently ("10min" is 10); a value under a
#: minute is too low whatever the network; a larger one points at the network or the server.
TIMEOUT_ORDER = [
    (1_000, ("config.timeout_invalid", "config.timeout_too_low", "http.first_byte_timeout",
             "tcp.timeout")),
    (60_000, ("config.timeout_too_low", "tcp.timeout", "http.first_byte_timeout",
              "config.timeout_invalid")),
    (None, ("http.first_byte_timeout", "tcp.timeout", "config.timeout_too_low")),
]

_VERSION = re.compile(
    r"(?:claude[ -]code(?:[ /@]|\s+version\s*|\s+v)|\"version\"\s*:\s*\"|current version:\s*|"
    r"claude\s+v|@anthropic-ai/claude-code@)v?(\d+\.\d+\.\d+)")


def client_version(text: str) -> str | None:
    """The Claude Code version a paste names (``Claude Code v1.0.35``, ``"version":
    "2.0.14"``, ``claude-code@2.1.227``), if any: the first one."""
    m = _VERSION.search(normalise(text))
    return m.group(1) if m else None


def _number(digits: str) -> tuple[int, str]:
    """Decimal digits (any script's: ``\\d`` matches them all) as a key that orders as their
    value, however many there are (``int()`` refuses more than 4,300)."""
    if not digits.isascii():
        digits = "".join(str(unicodedata.decimal(d)) for d in digits)
    digits = digits.lstrip("0")
    return len(digits), digits


def _vkey(v: str) -> tuple[tuple[int, str], ...]:
    return tuple(_number(x) for x in v.split("."))


def rank(text: str) -> Triage:
    """The causes that fit ``text``, best first (see the module's docstring). A cause code
    given on its own (from a report, say) is that cause."""
    code = text.strip()
    if code in CAUSES:
        return Triage([Ranked(CAUSES[code], 0, 0)])
    norm = normalise(text)
    flat = squashed(norm)
    hit = [r for r in _rules() if all(occurs(p, norm, flat) for p in r.parts)]
    order = list(CAUSES)
    found: dict[str, Ranked] = {}
    for r in hit:
        for c in r.causes:
            found.setdefault(c, Ranked(CAUSES[c], 0, 0)).matched.append(r)
    for item in found.values():
        mine = item.matched
        kept = [r for r in mine
                if not any(o is not r and r.parts[0] != o.parts[0] and r.parts[0] in o.parts[0]
                           for o in mine)]
        item.matched = kept
        item.best = max(r.causes[item.cause.code] for r in mine)
        item.score = sum(r.causes[item.cause.code] for r in kept)
    ranked = sorted(found.values(),
                    key=lambda i: (-i.best, -i.score, order.index(i.cause.code)))
    m = _QUOTED_TIMEOUT.search(norm)
    if m:
        quoted = _number(m.group(1))
        lead_codes = next(o for limit, o in TIMEOUT_ORDER
                          if limit is None or quoted < _number(str(limit)))
        lead = [found.get(c) or Ranked(CAUSES[c], 0, 0) for c in lead_codes]
        ranked = lead + [r for r in ranked if r.cause.code not in lead_codes]
    version = client_version(text)
    return Triage(ranked, version, _notes(ranked, version))


def _notes(ranked: list[Ranked], version: str | None) -> list[str]:
    """An older wording's note, once each; then, for a paste that names its client version,
    what changed since that version for the leading causes."""
    out: list[str] = []
    for item in ranked[:3]:
        for r in item.matched:
            if r.note and r.note not in out:
                out.append(r.note)
    if version:
        lead = {i.cause.code for i in ranked[:3]}
        for v, text, codes in CHANGES:
            if _vkey(v) > _vkey(version) and lead & set(codes):
                line = f"since {v}: {text}"
                if line not in out:
                    out.append(line)
    return out


def match_message(text: str) -> list[Cause]:
    """The causes that fit ``text``, best first (:func:`rank` without the detail)."""
    return rank(text).causes


def data() -> dict:
    """Everything the site's box needs to rank exactly as :func:`rank` does: the rules, the
    causes (title, page, anchor, the question that decides, the fix), the timeout order and
    the changes by version. Written to ``triage.json`` by the site's build."""
    return {
        "squash_min": SQUASH_MIN,
        "specific": SPECIFIC,
        "order": list(CAUSES),
        "causes": {c.code: {"title": c.title, "page": c.page.removesuffix(".md") + "/",
                            "check": c.check, "fix": c.fix} for c in CAUSES.values()},
        "rules": [{"text": r.text, "parts": list(r.parts), "causes": r.causes, "seen": r.seen,
                   "note": r.note} for r in _rules()],
        "timeout_order": [[limit, list(codes)] for limit, codes in TIMEOUT_ORDER],
        "changes": [[v, text, list(codes)] for v, text, codes in CHANGES],
    }
