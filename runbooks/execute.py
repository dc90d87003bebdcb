"""Running runbook notebooks headless with papermill: checked first, one folder per run,
and nothing left behind when interrupted.

- **Checked first.** Every parameter goes through the runbook's own table
  (:mod:`runbooks.params`), the same rules as the doctor's options, and the output folder
  is created, before any kernel starts: a typo fails in milliseconds with one line.
- **One folder per run.** Each run writes ``<output-dir>/<runbook>-<time>-<random>/``
  (``<runbook>.ipynb``, the executed notebook, and ``<runbook>.json``, its report), created
  atomically, so two runs at once never share a file, and the verdict a run prints is read
  from its own report.
- **Interrupted cleanly.** Ctrl-C or SIGTERM kills the kernel (its own process group),
  removes its connection file and the run's folder, and exits 130/143 with one line.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import RunbooksError, UsageError
from .params import Param

__all__ = ["NOTEBOOK_DIR", "Interrupted", "NotebookRun", "available", "check_output_dir",
           "coerce", "notebook_path", "parameters", "run_notebook", "run_notebooks"]


def _notebook_dir() -> Path:
    # installed (wheel): runbooks/notebooks/; from a clone: notebooks/ beside the package
    if os.environ.get("RUNBOOKS_NOTEBOOKS"):
        return Path(os.environ["RUNBOOKS_NOTEBOOKS"])
    here = Path(__file__).resolve().parent
    inside = here / "notebooks"
    return inside if inside.is_dir() else here.parent / "notebooks"


NOTEBOOK_DIR = _notebook_dir()

_DECL = re.compile(r"^(?P<name>[A-Za-z_]\w*)\s*:\s*(?P<type>\w+)\s*=\s*(?P<default>.+?)"
                   r"\s*(?:#\s*(?P<help>.*))?$")
_KEY_SHAPED = re.compile(r"sk-ant-|^(sk|key|token)[-_]", re.IGNORECASE)


class Interrupted(RunbooksError):
    """The run was stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ \
            else str(signum)
        super().__init__(f"interrupted ({name}): the kernel was stopped and the partial run "
                         "removed")


def available() -> dict[str, Path]:
    """Runbook id → notebook path, for every runbook that has both a class and a notebook."""
    from .books import RUNBOOKS

    return {rid: NOTEBOOK_DIR / f"{rid}.ipynb" for rid in RUNBOOKS
            if (NOTEBOOK_DIR / f"{rid}.ipynb").is_file()}


def notebook_path(name: str) -> Path:
    books = available()
    if name not in books:
        raise UsageError(f"unknown runbook {name!r}; available: {', '.join(books) or 'none'}")
    return books[name]


def parameters(name: str) -> dict[str, Param]:
    """What runbook ``name``'s notebook declares in its parameters cell (``name: type =
    default  # help`` per line, what ``papermill --help-notebook`` reads). The parity test
    holds these against the runbook's own table."""
    import ast

    nb = json.loads(notebook_path(name).read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            out = {}
            for line in src.splitlines():
                m = _DECL.match(line.strip())
                if m:
                    kind = {"str": str, "float": float, "int": int, "bool": bool}.get(m["type"],
                                                                                       str)
                    out[m["name"]] = Param(m["name"], kind, ast.literal_eval(m["default"]),
                                           (m["help"] or "").strip())
            return out
    return {}


def _refuse_secrets(values: Mapping[str, Any]) -> None:
    settings = values.get("settings")
    if isinstance(settings, str) and settings.lstrip().startswith("{"):
        raise UsageError("inline settings JSON as a parameter would be stored in the notebook "
                         "(it can hold keys): put it in a file and pass its path")
    for key, value in values.items():
        if isinstance(value, str) and _KEY_SHAPED.search(value):
            raise UsageError(f"parameter {key!r} looks like a credential: secrets are never "
                             "parameters (they are read from the environment, never stored)")


def coerce(name: str, raw: Mapping[str, str], typed: Mapping[str, Any] | None = None
           ) -> dict[str, Any]:
    """Check ``raw`` (``-p name=value`` strings) and ``typed`` (values from ``-y``/``-f``
    YAML) against runbook ``name``'s table; return the values to hand to papermill."""
    from .books import get
    from .params import parse_all

    table = get(name).PARAMETERS
    _refuse_secrets({**raw, **(typed or {})})
    out: dict[str, Any] = {}
    for key, value in (typed or {}).items():
        if key not in table:
            raise UsageError(f"unknown parameter {key!r} for runbook {name!r}; "
                             f"valid: {', '.join(table)}")
        out[key] = table[key].check(value)
    out.update(parse_all(table, raw, name))
    return out


def check_output_dir(path: str) -> Path:
    """The folder runs are written under: created if missing, checked writable, before any
    work starts. Raises UsageError naming what is wrong."""
    if not path.strip():
        raise UsageError("--output-dir is empty: name a folder")
    out = Path(path)
    probe = out
    while not probe.exists():  # the nearest existing ancestor decides
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise UsageError(f"--output-dir {path!r}: {str(probe)!r} is a file, not a folder")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--output-dir {path!r}: {str(probe)!r} is not writable")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--output-dir {path!r}: cannot create it ({exc.strerror})") from None
    return out


def _run_folder(output_dir: Path, name: str | None) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    try:
        return Path(tempfile.mkdtemp(prefix=f"{name}-{stamp}-", dir=output_dir))
    except OSError as exc:
        raise UsageError(f"cannot create a run folder in {str(output_dir)!r}: "
                         f"{exc.strerror}") from None


@dataclass
class NotebookRun:
    runbook: str
    folder: Path
    output: Path
    report_path: Path
    report: dict[str, Any]
    wall_s: float
    kernel_start_s: float
    work_s: float
    error: str | None = None  # a cell that raised: which, and what

    @property
    def verdict(self) -> str:
        return "error" if self.error else str(self.report.get("verdict", "error"))


@dataclass
class _Kernels:
    """The kernels one run started, so an interrupt can stop them from the main thread."""

    managers: list[Any] = field(default_factory=list)

    def manager_class(self):
        from jupyter_client.manager import AsyncKernelManager

        box = self.managers

        class Tracked(AsyncKernelManager):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                box.append(self)

            async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
                # the kernel's own stderr (ipykernel's start-up and shutdown notices) is not
                # for users: cell errors still reach the notebook and the run's verdict
                kw.setdefault("stderr", subprocess.DEVNULL)
                await super()._async_launch_kernel(_without_debugger(kernel_cmd), **kw)

        return Tracked

    def kill(self) -> None:
        for km in self.managers:
            proc = getattr(getattr(km, "provisioner", None), "process", None)
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(OSError):
                    if hasattr(os, "killpg"):  # the kernel leads its own session
                        os.killpg(proc.pid, signal.SIGKILL)
                    else:
                        proc.kill()
                with contextlib.suppress(Exception):
                    proc.wait(5)
            with contextlib.suppress(Exception):
                km.cleanup_connection_file()


def _without_debugger(cmd: list[str]) -> list[str]:
    """This interpreter's IPython kernel, started by :mod:`runbooks.kernel` (no debugger, and
    so without ``-Xfrozen_modules=off``, which only a debugger needs); any other kernel
    command as it is."""
    for i in range(1, len(cmd) - 1):
        if cmd[i:i + 2] == ["-m", "ipykernel_launcher"]:
            break
    else:
        return cmd
    if os.path.abspath(cmd[0]) != os.path.abspath(sys.executable):  # this venv, not another
        return cmd
    flags = [a for a in cmd[1:i] if a != "-Xfrozen_modules=off"]
    return [cmd[0], *flags, "-m", "runbooks.kernel", *cmd[i + 2:]]


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """SIGTERM (and SIGHUP) raise like Ctrl-C does, in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Interrupted(signum)

    caught = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]
    old = {s: signal.signal(s, handler) for s in caught}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def run_notebook(name: str, params: Mapping[str, Any], output_dir: Path) -> NotebookRun:
    """Execute runbook ``name`` with papermill in a fresh run folder under ``output_dir``."""
    return run_notebooks({name: params}, output_dir)[0]


def run_notebooks(jobs: Mapping[str, Mapping[str, Any]], output_dir: Path,
                  group: str | None = None) -> list[NotebookRun]:
    """Execute several runbooks at once, each in its own kernel and run folder (under one
    folder named ``group`` when given).

    papermill runs in worker threads; the main thread waits, so Ctrl-C and SIGTERM reach
    it and it stops every kernel itself (:class:`Interrupted`)."""
    base = _run_folder(Path(output_dir), group) if group else Path(output_dir)
    plans = []
    for name, params in jobs.items():
        path = notebook_path(name)
        folder = _run_folder(base, name) if not group else base / name
        folder.mkdir(exist_ok=True)
        plans.append((name, path, folder, params, _Kernels(), {}))

    def work(name: str, path: Path, folder: Path, params: Mapping[str, Any], kernels: _Kernels,
             box: dict[str, Any]) -> None:
        import papermill

        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(path), str(folder / f"{name}.ipynb"),
                parameters={**params, "report_path": str(folder / f"{name}.json")},
                kernel_name="python3", progress_bar=False, log_output=False,
                # written once, at the end (or at the cell that failed), not after every cell:
                # a runbook takes seconds, and seven notebooks saved per cell cost a core
                request_save_on_cell_execute=False,
                cwd=None,  # here: Claude Code's project settings are read from it
                kernel_manager_class=kernels.manager_class(),
                # the kernel talks to us over loopback only; its "TCP without encryption"
                # notice is not for users
                extra_arguments=["--IPKernelApp.log_level=ERROR",
                                 "--HistoryManager.enabled=False"])
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc
        box["wall"] = time.perf_counter() - t0

    workers = [threading.Thread(target=work, args=plan, name=f"papermill-{plan[0]}",
                                daemon=True) for plan in plans]
    try:
        with _signals_raise():
            for w in workers:
                w.start()
            while any(w.is_alive() for w in workers):
                for w in workers:
                    w.join(0.1)
    except (KeyboardInterrupt, Interrupted) as exc:
        for plan in plans:
            plan[4].kill()
        for w in workers:
            w.join(10)
        for plan in plans:
            shutil.rmtree(plan[2], ignore_errors=True)
        if group:
            shutil.rmtree(base, ignore_errors=True)
        raise (exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)) from None
    out = []
    for name, _path, folder, _params, _k, box in plans:
        out_nb, report_path = folder / f"{name}.ipynb", folder / f"{name}.json"
        wall = box.get("wall", 0.0)
        error = _describe_failure(box.get("error"), name, out_nb)
        kernel_s, work_s = _split_times(out_nb, wall) if out_nb.exists() else (wall, 0.0)
        out.append(NotebookRun(name, folder, out_nb, report_path, _read_report(report_path),
                               wall, kernel_s, work_s, error))
    return out


def _describe_failure(exc: BaseException | None, name: str, out_nb: Path) -> str | None:
    if exc is None:
        return None
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        evalue = exc.evalue.strip().splitlines()[0] if exc.evalue else ""
        return f"runbook {name!r} failed in cell {exc.exec_count}: {exc.ename}: {evalue}"
    return f"runbook {name!r} could not run: {type(exc).__name__}: {exc}"


def _read_report(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _split_times(out_nb: Path, wall: float) -> tuple[float, float]:
    """Kernel start-up vs the cells' own work, from papermill's per-cell timestamps."""
    from datetime import datetime

    try:
        nb = json.loads(out_nb.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return wall, 0.0
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

