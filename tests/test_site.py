"""The site builds strictly, with every section page, the error index and the notebook."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, clean_subprocess_env, run_cli
from runbooks.causes import CAUSES, PAGES
from runbooks.examples import DOCTOR_SCENARIOS, sanitize

pytestmark = pytest.mark.site


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
    assert sanitize(proc.stdout) == sanitize(body)
    assert f"(exit {proc.returncode})" in stored


def test_no_wrong_commands_are_recommended():
    text = "\n".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    # present only inside the corrections, never as advice in a code block
    for wrong in ("export CLAUDE_TIMEOUT", "DEBUG=claude:*", "NODE_TLS_REJECT_UNAUTHORIZED=0\n"):
        for block in re.findall(r"```(?:bash|powershell)\n(.*?)```", text, re.S):
            assert wrong not in block


def test_every_lab_scenario_is_documented():
    from runbooks.lab import SCENARIOS

    text = (ROOT / "docs" / "reference" / "lab.md").read_text()
    missing = [name for name in SCENARIOS if f"`{name}`" not in text]
    assert not missing, f"docs/reference/lab.md lacks {missing}"
