"""Never applied unless asked, under plain papermill: every notebook reads its parameters
through :meth:`Runbook.notebook_parameters` (the checks `runbooks run -p` uses), in the cell
right after its parameters cell.

Before, papermill's ``-p apply false`` handed the notebooks the string "false": the network
and proxy-tls notebooks tested ``if apply:`` and applied the fix (``~/.claude/settings.json``
written against ``proxy-bypassed``), the other five refused it with
``apply='false': expected true or false``.

Each run is papermill's own Python API (or its CLI), a kernel each: one notebook gets the whole
spelling matrix; every notebook gets "false", "no" and a value nobody can mean. Every spelling
is held to the same function in-process by test_params.py.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, clean_subprocess_env

from runbooks.books import RUNBOOKS

pytestmark = pytest.mark.notebook

#: Per notebook: the lab scenario its run diagnoses, the parameters that go with it (as
#: strings, as papermill's -p would hand a value it reads as text), and whether its plan
#: there writes a file (the fix a false "apply" must not apply). The other runbooks' plans
#: write nothing anywhere in the lab: their proof is that the apply branch is never taken.
SCENARIOS = {
    "network": ("proxy-bypassed", {"connect_timeout": "0.5"}, True),
    "proxy-tls": ("proxy-zscaler", {"connect_timeout": "2"}, True),  # trust_ca: its CA's
    "auth": ("key-quoted", {}, True),
    "timeouts": ("timeout-10min", {}, True),
    "rate-limits": ("healthy", {"connect_timeout": "2"}, False),
    "recovery": ("history", {"since": "all"}, False),
    "debugging": ("history", {"since": "all"}, False),
}
APPLIED = ("applied to ", "nothing to change")  # what the apply branch prints


def test_every_runbook_is_here():
    assert set(SCENARIOS) == set(RUNBOOKS)


@pytest.fixture
def armed(lab, monkeypatch, isolated_env, tmp_path):
    """``armed(rid)``: the runbook's scenario running, this process's environment (the
    kernel's) pointed at it; returns its parameters and a snapshot function of every file a
    fix could write (the Claude Code config folder, the project's .claude)."""
    def arm(rid: str) -> tuple[dict, callable]:
        scenario, params, _ = SCENARIOS[rid]
        run = lab(scenario)
        for key, value in run.env.items():
            monkeypatch.setenv(key, value)
        params = {**params, **{k: v for k, v in run.params.items()
                               if k in RUNBOOKS[rid].PARAMETERS and k not in params}}
        if rid == "proxy-tls":
            params["trust_ca"] = _fingerprint(params)
        home = Path(os.environ["HOME"])
        config = Path(os.environ.get("CLAUDE_CONFIG_DIR") or home / ".claude")

        def snapshot() -> dict[str, str]:
            return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
                    for root in (config, Path.cwd() / ".claude") if root.is_dir()
                    for p in sorted(root.rglob("*")) if p.is_file()}
        return params, snapshot
    return arm


def _fingerprint(params: dict) -> str:
    """The inspection CA's fingerprint, read from the plan as a user reads it."""
    run = RUNBOOKS["proxy-tls"].from_parameters(**params)
    run.run_all()
    return next(f.data["fingerprint"] for f in run.plan().fixes if f.id == "trust-ca")


def _papermill(rid: str, out: Path, params: dict):
    """Plain papermill, its Python API, as its documentation calls it."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(str(ROOT / "notebooks" / f"{rid}.ipynb"), str(out),
                                   parameters=params, kernel_name="python3",
                                   progress_bar=False)
        error = None
    except PapermillExecutionError as exc:
        error = exc
    return nbformat.read(out, as_version=4), error


def _fix_cell(nb) -> str:
    cell = next(c for c in reversed(nb.cells) if c.cell_type == "code")
    assert 'if params["apply"]' in cell.source
    return "".join(o.get("text", "") + "".join(o.get("data", {}).get("text/markdown", ""))
                   for o in cell.outputs)


def _assert_not_applied(rid: str, nb, error, before: dict, after: dict) -> None:
    assert error is None, error
    shown = _fix_cell(nb)
    assert not any(a in shown for a in APPLIED), shown
    if SCENARIOS[rid][2]:
        assert "+++ b/" in shown, shown  # there was something to write…
    assert after == before  # …and nothing was written


def _flags(rid: str) -> list[str]:
    return [n for n, p in RUNBOOKS[rid].PARAMETERS.items() if p.type is bool]


#: One spelling of false per notebook (a kernel each is what costs): "false" for the first, as
#: the issue reproduced it; every spelling runs in one notebook below.
FALSE_BY_NOTEBOOK = dict(zip(sorted(SCENARIOS), ["false", "no", "0", "off", "False", "NO", "Off"],
                             strict=True))


@pytest.mark.parametrize("rid, value", sorted(FALSE_BY_NOTEBOOK.items()))
def test_false_from_papermill_applies_nothing(rid, value, armed, tmp_path):
    """Every flag of the notebook is given the string (apply, and live or all_projects)."""
    params, snapshot = armed(rid)
    before = snapshot()
    nb, error = _papermill(rid, tmp_path / "out.ipynb",
                           {**params, **dict.fromkeys(_flags(rid), value)})
    _assert_not_applied(rid, nb, error, before, snapshot())
    if rid == "rate-limits":  # and no live message was sent
        assert "not asked for: live=true" in nbformat.writes(nb)


@pytest.mark.parametrize("rid", sorted(SCENARIOS))
def test_a_value_nobody_can_mean_stops_the_run_before_any_step(rid, tmp_path):
    """The cell after the parameters stops the run with one line; no step runs (no lab is
    needed to prove it: nothing after that cell executes). Every flag is given the value; the
    first in the table is named."""
    name = _flags(rid)[0]
    nb, error = _papermill(rid, tmp_path / "out.ipynb", dict.fromkeys(_flags(rid), "maybe"))
    assert error is not None and error.ename == "UsageError"
    injected = next(i for i, c in enumerate(nb.cells)
                    if "injected-parameters" in c.metadata.get("tags", []))
    code = [c for c in nb.cells[injected + 1:] if c.cell_type == "code"]
    check, rest = code[0], code[1:]
    assert "notebook_parameters(globals())" in check.source
    (out,) = check.outputs
    assert out.output_type == "error"
    reason = (f"UsageError: parameter {name}='maybe': expected true or false (yes/no, on/off, "
              "1/0, any case)")
    assert out.traceback == [reason]
    assert all(c.execution_count is None and not c.outputs for c in rest)


#: papermill hands these as they are: its Python API any value, its CLI's -p True/False as
#: bools, digits as ints (the CLI test below), anything else as a string. "false" and "no":
#: above; the rest of the spellings: in-process, test_params.py.
MATRIX = [(True, True), ("true", True), ("True", True), ("1", True), ("yes", True),
          (False, False), ("False", False), ("0", False), ("", None)]  # None: refused


@pytest.mark.parametrize("value, means", MATRIX, ids=[repr(v) for v, _ in MATRIX])
def test_every_spelling_of_apply_in_one_notebook(value, means, armed, tmp_path):
    """The timeouts notebook against timeout-10min (its fix writes API_TIMEOUT_MS into
    ~/.claude/settings.json): true spellings apply it, false ones do not, others stop."""
    params, snapshot = armed("timeouts")
    before = snapshot()
    nb, error = _papermill("timeouts", tmp_path / "out.ipynb", {**params, "apply": value})
    if means is None:
        assert error is not None and error.ename == "UsageError", error
        assert snapshot() == before
    elif means:
        assert error is None, error
        assert "applied to 1 file(s)" in _fix_cell(nb)
        settings = Path(os.environ["HOME"]) / ".claude" / "settings.json"
        assert '"API_TIMEOUT_MS": "600000"' in settings.read_text()
    else:
        _assert_not_applied("timeouts", nb, error, before, snapshot())


@pytest.mark.parametrize("value, applied", [("false", False), ("1", True)])
def test_the_papermill_command_line(value, applied, armed, tmp_path):
    """`papermill IN OUT -p apply false`, as papermill's documentation runs a notebook (its
    -p hands "false" on as a string, "1" as the int 1)."""
    params, snapshot = armed("timeouts")
    before = snapshot()
    args = [a for k, v in {**params, "apply": value}.items() for a in ("-p", k, str(v))]
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" /
                           "timeouts.ipynb"), str(tmp_path / "out.ipynb"), *args,
                           "--no-progress-bar"], capture_output=True, text=True, timeout=120,
                          env=clean_subprocess_env(), check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    if applied:
        assert "applied to 1 file(s)" in _fix_cell(nb) and snapshot() != before
    else:
        _assert_not_applied("timeouts", nb, None, before, snapshot())
