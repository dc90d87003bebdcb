"""Three renderings of one result model: terminal, notebook (Markdown), JSON.

Text from outside (a transcript, a debug log, a gateway's error page, the status page)
reaches a terminal only through :func:`printable`: control characters (ESC, BEL, the C1
controls, bidirectional overrides) are shown escaped (``\\x1b``), so a record cannot clear
the screen, write the clipboard (OSC 52) or disguise a link (OSC 8). The renderers apply it
to the data before styling it, so the doctor's own colours still work. JSON keeps every
character and escapes it (:func:`json_text`: ``\\u001b``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import IO, Any

from .causes import CAUSES
from .masking import redact, redact_data
from .result import Check, Report, Status

__all__ = [
    "json_report",
    "json_text",
    "markdown_check",
    "markdown_report",
    "printable",
    "shown",
    "terminal_check",
    "terminal_report",
    "use_color",
]

_MARK = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "-",
         Status.ERROR: "✗"}
_COLOR = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "31", Status.SKIP: "2",
          Status.ERROR: "35"}
#: The notebook's status symbols: characters every font has (DejaVu Sans, what Linux servers
#: and WSL fall back to, has them; emoji render as empty boxes without an emoji font). The
#: status word always follows, for a screen reader and for anyone new to the convention.
_SYMBOL = {Status.PASS: "✓", Status.WARN: "!", Status.FAIL: "✗", Status.SKIP: "–",
           Status.ERROR: "✗"}
#: A report's verdict, as its symbol (``skip``: every check was skipped, nothing checked).
_VERDICT_SYMBOL = {"pass": "✓", "warn": "!", "fail": "✗", "skip": "–"}
_VERDICT_COLOR = {"pass": "32", "warn": "33", "fail": "31", "skip": "2"}


def use_color(stream: IO[str] | None = None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR"):
        return False
    return hasattr(stream, "isatty") and stream.isatty()


#: Characters a terminal acts on rather than shows: C0 (but newline, tab and the CR of a
#: CRLF), DEL, C1, and the bidirectional embeddings, overrides and isolates (they reorder
#: what is shown).
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
                       "|\r(?!\n)")
#: The same, as they appear raw in JSON text written with ``ensure_ascii=False`` (json
#: escapes C0 itself; DEL, C1 and the rest only ever occur inside strings there).
_JSON_RAW = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: str) -> str:
    """Text fit for a terminal: every control character shown escaped (``ESC`` as
    ``\\x1b``, BEL as ``\\x07``, a lone CR as ``\\x0d``), newlines, tabs and CRLF kept."""
    return _CONTROLS.sub(_escaped, text)


def shown(text: object) -> str:
    """Outside text as a terminal gets it: masked (:func:`~runbooks.masking.redact`), then
    its control characters escaped (:func:`printable`)."""
    return printable(redact(str(text)))


def json_text(data: Any, indent: int | None = 2) -> str:
    """``data`` as JSON for a report: every string masked before it is serialised (so the
    document stays valid whatever a secret holds), non-ASCII kept, and the control
    characters JSON itself leaves raw (DEL, C1, U+2028…) escaped as ``\\u009b``."""
    text = json.dumps(redact_data(data), indent=indent, ensure_ascii=False)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _paint(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def terminal_check(check: Check, color: bool = False, width: int = 10) -> str:
    mark = _paint(f"[{_MARK[check.status]}]", _COLOR[check.status], color)
    lines = [f"{mark} {shown(check.title):<{width}} {shown(check.summary)}"]
    lines += [f"    {shown(line)}" for line in check.details.get("lines", [])]
    if check.is_finding:
        if check.cause:
            lines.append(f"    {_paint('cause:', '1', color)} {shown(check.cause)}")
        if check.fix:
            lines.append(f"    {_paint('fix:', '1', color)}   {shown(check.fix)}")
        if check.doc:
            lines.append(f"    {_paint('docs:', '1', color)}  {shown(check.doc)}")
    return "\n".join(lines)


def _summary_line(report: Report) -> str:
    findings = report.findings
    took = f"in {report.duration_s:.1f} s"
    if report.verdict == "skip":
        return (f"Nothing was checked {took}: every check was skipped (each says why), so "
                "this is not a pass.")
    if not findings:
        return f"No issues found {took}."
    causes = ", ".join(report.causes) or "see above"
    noun = "issue" if len(findings) == 1 else "issues"
    return f"{len(findings)} {noun} found {took}: {causes}"


def terminal_report(report: Report, color: bool = False) -> str:
    width = max((len(c.title) for c in report.checks), default=8)
    head = shown(f"Claude Code connection check · {report.runbook} · "
                 f"{report.target.get('url')}")
    body = []
    several = len({c.runbook for c in report.checks}) > 1
    for i, c in enumerate(report.checks):
        if several and (i == 0 or c.runbook != report.checks[i - 1].runbook):
            body.append(_paint(shown(c.runbook), "1;2", color))
        body.append(terminal_check(c, color, width))
    return "\n".join([_paint(head, "1", color), *body, "",
                      _paint(shown(_summary_line(report)), _VERDICT_COLOR[report.verdict], color)])


# -- Markdown (notebooks) -------------------------------------------------------------------------
#: Status words next to the symbols: a symbol alone says nothing to a screen reader, or to
#: someone who does not know the convention.
_WORD = {s: s.value for s in Status}

_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s`<>|]+")


def _code_urls(text: str) -> str:
    """URLs as code spans: Markdown renderers turn a bare URL into a link, and a link to
    ``https://127.0.0.1:57323`` (a lab, a proxy, someone's gateway) is an address to show,
    not to visit. Existing code spans are left alone."""

    def wrap(part: str) -> str:
        def one(m: re.Match) -> str:
            url = m.group(0)
            tail = ""
            while url and url[-1] in ".,:;)'\"":  # sentence punctuation after a URL
                url, tail = url[:-1], url[-1] + tail
            return f"`{url}`{tail}" if url else m.group(0)

        return _URL.sub(one, part)

    out, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        out += [wrap(text[last:m.start()]), m.group(0)]
        last = m.end()
    out.append(wrap(text[last:]))
    return "".join(out)


def _md_text(text: str) -> str:
    """Free text for Markdown: secrets masked, control characters escaped, URLs as code."""
    return _code_urls(shown(text))


def _md_escape(text: str) -> str:
    """Free text for one line of a Markdown table cell."""
    return _md_text(text).replace("|", "\\|").replace("\n", " ")


def _status(status: Status) -> str:
    return f"{_SYMBOL[status]} {_WORD[status]}"


def _doc_link(check: Check) -> str:
    """The page that explains the check's cause, titled by the cause (the address is the
    site's: the built site makes it relative, Jupyter opens the public page)."""
    title = CAUSES[check.cause].title if check.cause in CAUSES else check.cause
    return f"[{title}]({check.doc})"


def markdown_check(check: Check) -> str:
    head = f"**{_SYMBOL[check.status]} {check.title}** ({_WORD[check.status]})"
    rows = [f"{head} — {_md_escape(check.summary)}"]
    if check.is_finding:
        if check.cause:
            rows.append(f"\n- **Cause:** `{check.cause}`")
        if check.fix:
            rows.append(f"- **Fix:** {_md_text(check.fix)}")
        if check.doc:
            rows.append(f"- **Explained:** {_doc_link(check)}")
    lines = check.details.get("lines") or []
    if lines:  # the check's own summary, as the terminal prints it under the check
        rows.append("\n" + _text_block([str(line) for line in lines]))
    table = _details_table({k: v for k, v in check.details.items() if k != "lines"},
                           check.json_only)
    if table:
        rows.append("\n" + table)
    return "\n".join(rows)


def _text_block(lines: list[str]) -> str:
    """Lines as a fenced text block (masked; a fence longer than any run of backticks in
    them, so no line can close it)."""
    text = redact("\n".join(lines))
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def _flat(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            _flat(f"{prefix}[{i}]", v, out)
    elif value not in (None, "", [], {}):
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        out.append((prefix, shown))


def _details_table(details: dict[str, Any], json_only: tuple[str, ...] = ()) -> str:
    pairs: list[tuple[str, str]] = []
    _flat("", {k: v for k, v in details.items() if k not in json_only}, pairs)
    left = [f"{k} ({len(details[k])})" if isinstance(details[k], list) else k
            for k in json_only if details.get(k) not in (None, "", [], {})]
    if left:  # too many rows to read: named here, whole in the JSON report
        pairs.append(("in the JSON report", ", ".join(left)))
    if not pairs:
        return ""
    lines = ["| detail | value |", "| --- | --- |"]
    lines += [f"| {_md_escape(k)} | {_md_escape(v)} |" for k, v in pairs]
    return "\n".join(lines)


def markdown_report(report: Report) -> str:
    lines = [f"### {_VERDICT_SYMBOL[report.verdict]} Verdict: {report.verdict}", "", _md_escape(_summary_line(report)), "",
             "| status | check | result | cause |", "| --- | --- | --- | --- |"]
    for c in report.checks:
        cause = f"[`{c.cause}`]({c.doc})" if c.cause else ""
        lines.append(f"| {_status(c.status)} | {c.title} | {_md_escape(c.summary)} | {cause} |")
    fixes = [c for c in report.findings if c.fix]
    if fixes:
        lines += ["", "#### What to do", ""]
        for c in fixes:  # a finding without a cause has no code and no page to link
            cause = f" (`{c.cause}`)" if c.cause else ""
            link = f" [Why and how]({c.doc})" if c.doc else ""
            lines.append(f"1. **{c.title}**{cause}: {_md_text(c.fix)}{link}")
    return "\n".join(lines)


def json_report(report: Report) -> str:
    return json_text(report.to_dict()) + "\n"


def _show(render: Callable[..., str]) -> Callable[[Any], str]:
    return lambda self: render(self, color=False)


# How a check and a report show themselves: a static table in a notebook, the terminal's lines
# at a prompt. Installed here, where the renderings are; the model (runbooks.result) knows none.
Check._repr_markdown_ = markdown_check
Check.__repr__ = _show(terminal_check)
Report._repr_markdown_ = markdown_report
Report.__repr__ = _show(terminal_report)

