"""MkDocs hooks: the error index is generated from the cause catalogue, and the
runbook notebooks are added to the site from ``notebooks/`` (one source, no copy)."""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

from runbooks.causes import CAUSES, PAGES

ROOT = Path(__file__).resolve().parent.parent


def error_index() -> str:
    """The "find your error" page: every message users see → cause → fix page."""
    rows = []
    for c in CAUSES.values():
        for sig in c.signatures:
            rows.append((sig, c))
    rows.sort(key=lambda r: r[0].lower())
    out = [
        "# Find your error",
        "",
        "Search this page (or the site) for the exact text Claude Code printed. Each message "
        "points to the cause that produces it and the section that fixes it. Not sure? "
        "Run `runbooks doctor`, or `runbooks triage \"<the message>\"`.",
        "",
        "| Message you see | Cause | Fix |",
        "| --- | --- | --- |",
    ]
    for sig, c in rows:
        msg = sig.replace("|", "\\|").replace("<", "&lt;")
        out.append(f"| `{msg}` | `{c.code}` | [{c.title}]({c.page}#{c.code}) |")
    out += ["", "## Every cause code", "",
            "Codes are stable: reports, scripts and this site use the same names.", "",
            "| Code | Meaning | Explained in | Runbook |", "| --- | --- | --- | --- |"]
    from runbooks.execute import available

    books = available()
    for c in CAUSES.values():
        book = f"`runbooks run {c.runbook}`" if c.runbook in books else "`runbooks doctor`"
        out.append(f"| `{c.code}` | {c.title} | [{PAGES[c.page]}]({c.page}#{c.code}) | {book} |")
    return "\n".join(out) + "\n"


@event_priority(100)  # before mkdocs-jupyter looks at the files
def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "errors.md", content=error_index()))
    # Plain Files rooted at the repository (mkdocs-jupyter cannot read generated ones):
    # notebooks/network.ipynb is served at notebooks/network/, from its one source.
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        files.append(File(f"notebooks/{nb.name}", src_dir=str(ROOT), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    return files
