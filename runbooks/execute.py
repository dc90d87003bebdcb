"""Running runbook notebooks headless with papermill, parameters checked first.

A notebook's parameters are declared in its cell tagged ``parameters``, one
per line as ``name: type = default  # help`` (what ``papermill
--help-notebook`` reads). Values given as strings on the command line are
checked against those declarations before any kernel starts, so a typo fails
in milliseconds with one line, not after a kernel has booted.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["NOTEBOOK_DIR", "available", "parameters", "coerce", "run_notebook", "NotebookRun"]

NOTEBOOK_DIR = Path(os.environ.get("RUNBOOKS_NOTEBOOKS",
                                   Path(__file__).resolve().parent.parent / "notebooks"))

_DECL = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>\w+)\s*=\s*(?P<default>.+?)"
                   r"\s*(?:#\s*(?P<help>.*))?$")
_TYPES = {"str": str, "float": float, "int": int, "bool": bool}
_KEY_SHAPED = re.compile(r"sk-ant-|^(sk|key|token)[-_]", re.I)


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    help: str


def available() -> dict[str, Path]:
    """Runbook name → notebook path, for every notebook shipped."""
    return {p.stem: p for p in sorted(NOTEBOOK_DIR.glob("*.ipynb"))}


def notebook_path(name: str) -> Path:
    books = available()
    if name not in books:
        raise UsageError(f"unknown runbook {name!r}; available: {', '.join(books) or 'none'}")
    return books[name]


def parameters(name: str) -> dict[str, Param]:
    """The declared parameters of runbook ``name``, read from its parameters cell."""
    import ast

    nb = json.loads(notebook_path(name).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            out = {}
            for line in src.splitlines():
                m = _DECL.match(line.strip())
                if m:
                    out[m["name"]] = Param(m["name"], m["type"], ast.literal_eval(m["default"]),
                                           (m["help"] or "").strip())
            return out
    return {}


def coerce(name: str, raw: dict[str, str]) -> dict[str, Any]:
    """Check ``raw`` (strings from ``-p name=value``) against the declarations; type them."""
    declared = parameters(name)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in declared:
            raise UsageError(f"unknown parameter {key!r} for runbook {name!r}; "
                             f"valid: {', '.join(declared)}")
        if _KEY_SHAPED.search(str(value)):
            raise UsageError(f"parameter {key!r} looks like a credential: secrets are never "
                             "parameters (they are read from the environment, never stored)")
        kind = declared[key].type
        try:
            if kind == "bool":
                low = str(value).strip().lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                out[key] = low in ("true", "1", "yes")
            elif kind in _TYPES:
                out[key] = _TYPES[kind](value)
            else:
                out[key] = value
        except ValueError:
            raise UsageError(f"parameter {key}={value!r}: expected {kind}") from None
    return out


@dataclass
class NotebookRun:
    output: Path
    report_path: Path
    report: dict[str, Any]
    wall_s: float
    kernel_start_s: float
    work_s: float


def run_notebook(name: str, params: dict[str, Any], output_dir: Path) -> NotebookRun:
    """Execute runbook ``name`` with papermill; write ``<name>.ipynb`` and ``<name>.json``."""
    path = notebook_path(name)
    output_dir = Path(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory {str(output_dir)!r}: "
                         f"{exc.strerror}") from None
    out_nb = output_dir / f"{name}.ipynb"
    report_path = output_dir / f"{name}.json"
    report_path.unlink(missing_ok=True)
    params = {**params, "report_path": str(report_path.resolve())}
    import papermill
    from papermill.exceptions import PapermillExecutionError

    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(str(path), str(out_nb), parameters=params,
                                   kernel_name="python3", progress_bar=False,
                                   log_output=False, cwd=None,  # here: Claude Code's project settings are read from it
                                   # the kernel talks to us over loopback only; its
                                   # "TCP without encryption" notice is not for users
                                   extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except PapermillExecutionError as exc:
        raise RuntimeError(f"runbook {name!r} failed in cell {exc.exec_count}: "
                           f"{exc.ename}: {exc.evalue} (see {out_nb})") from None
    wall = time.perf_counter() - t0
    kernel_s, work_s = _split_times(out_nb, wall)
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    return NotebookRun(out_nb, report_path, report, wall, kernel_s, work_s)


def _split_times(out_nb: Path, wall: float) -> tuple[float, float]:
    """Kernel start-up vs the cells' own work, from papermill's per-cell timestamps."""
    from datetime import datetime

    nb = json.loads(out_nb.read_text())
    spans = []
    for cell in nb["cells"]:
        pm = cell.get("metadata", {}).get("papermill", {})
        if pm.get("start_time") and pm.get("end_time"):
            spans.append((datetime.fromisoformat(pm["start_time"].rstrip("Z")),
                          datetime.fromisoformat(pm["end_time"].rstrip("Z"))))
    if not spans:
        return 0.0, wall
    work = (spans[-1][1] - spans[0][0]).total_seconds()
    return max(wall - work, 0.0), work
