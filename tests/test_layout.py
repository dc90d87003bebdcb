"""The house in wings: the import contract holds, names both modules when it breaks, and the
README's layout names every module (README: Layout, Design notes)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_LINT = ("import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(no_cache=True, no_logo=True))")


def _lint(where: Path) -> subprocess.CompletedProcess:
    # lint-imports finds the package from the folder it runs in (a copy, in the tests below)
    return subprocess.run([sys.executable, "-c", _LINT], cwd=where, capture_output=True,
                          text=True, timeout=120, check=False, env={"PATH": "/usr/bin:/bin",
                                                                    "PYTHONPATH": str(where)})


@pytest.fixture(scope="module")
def house(tmp_path_factory) -> Path:
    """A copy of the package and its contract, to break on purpose."""
    where = tmp_path_factory.mktemp("house")
    shutil.copytree(ROOT / "runbooks", where / "runbooks",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", where)
    return where


def test_the_contract_is_kept():
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("module, line, named", [
    # a probe that imports a runbook: upward
    ("probes/dns.py", "from ..books import base",
     ["runbooks.probes is not allowed to import runbooks.books",
      "runbooks.probes.dns -> runbooks.books.base"]),
    # the model importing its renderer: the circle this layout broke
    ("result.py", "from . import render",
     ["runbooks.result is not allowed to import runbooks.render",
      "runbooks.result -> runbooks.render"]),
    # the lab reaching into a wing
    ("lab/api.py", "from ..client import settings",
     ["runbooks.lab is not allowed to import runbooks.client"]),
    # a new room at the top, in no layer
    ("newroom.py", "", ["runbooks.newroom"]),
])
def test_a_broken_rule_fails_naming_both_modules(house, module, line, named):
    path = house / "runbooks" / module
    before = path.read_text(encoding="utf-8") if path.exists() else None
    path.write_text((before or "") + f"\n{line}  # noqa\n", encoding="utf-8")
    try:
        proc = _lint(house)
    finally:
        if before is None:
            path.unlink()
        else:
            path.write_text(before, encoding="utf-8")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for text in named:
        assert text in proc.stdout, proc.stdout


def test_the_readme_layout_names_every_module():
    """Regenerated from the tree: each module is named in the Layout table, in its wing's row
    (the lab is one row: a house of its own)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):readme.index("## Tests")]
    rows = [line for line in layout.splitlines() if line.startswith("| `runbooks/")]
    missing = []
    for path in sorted((ROOT / "runbooks").rglob("*.py")):
        rel = path.relative_to(ROOT / "runbooks")
        if rel.parts[0] == "lab" or rel.name in ("__init__.py", "__main__.py"):
            continue
        if len(rel.parts) > 1:  # in its wing's row
            row = next((r for r in rows if r.startswith(f"| `runbooks/{rel.parent}/`")), "")
            named = f"`{rel.name}`" in row
        else:  # a top-level module: in a row of top-level modules
            named = any(f"`runbooks/{rel.name}`" in r or f"`{rel.name}`" in r.split(" | ")[0]
                        for r in rows)
        if not named:
            missing.append(str(rel))
    assert not missing, f"README's layout does not name: {missing}"
