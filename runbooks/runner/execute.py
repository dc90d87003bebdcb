"""Running runbook notebooks headless with papermill: checked first, one folder per run,
and nothing left behind when interrupted.

- **Checked first.** Every parameter goes through the runbook's own table
  (:mod:`runbooks.books.params`), the same rules as the doctor's options, and the output folder
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

from ..books.params import Param
from ..errors import RunbooksError, UsageError

__all__ = ["NOTEBOOK_DIR", "Interrupted", "NotebookRun", "available", "check_output_dir",
           "coerce", "notebook_path", "parameters", "run_notebook", "run_notebooks"]


def _notebook_dir() -> Path:
    # installed (wheel): runbooks/notebooks/; from a clone: notebooks/ beside the package
    if os.environ.get("RUNBOOKS_NOTEBOOKS"):
        return Path(os.environ["RUNBOOKS_NOTEBOOKS"])
    here = Path(__file__).resolve().parent.parent
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
    from ..books import RUNBOOKS

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
    from ..books.params import shown

    settings = values.get("settings")
    if isinstance(settings, str) and settings.lstrip().startswith("{"):
        raise UsageError("inline settings JSON as a parameter would be stored in the notebook "
                         "(it can hold keys): put it in a file and pass its path")
    for key, value in values.items():
        if isinstance(value, str) and _KEY_SHAPED.search(value):
            raise UsageError(f"parameter {shown(key)} looks like a credential: secrets are "
                             "never parameters (they are read from the environment, never stored)")


def coerce(name: str, raw: Mapping[str, str], typed: Mapping[str, Any] | None = None
           ) -> dict[str, Any]:
    """Check ``raw`` (``-p name=value`` strings) and ``typed`` (values from ``-y``/``-f``
    YAML) against runbook ``name``'s table; return the values to hand to papermill."""
    from ..books import get
    from ..books.params import parse_all, shown

    table = get(name).PARAMETERS
    _refuse_secrets({**raw, **(typed or {})})
    out: dict[str, Any] = {}
    for key, value in (typed or {}).items():
        if key not in table:
            raise UsageError(f"unknown parameter {shown(key)} for runbook {name!r}; "
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
    """This interpreter's IPython kernel, started by :mod:`runbooks.runner.kernel` (no debugger, and
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
    return [cmd[0], *flags, "-m", "runbooks.runner.kernel", *cmd[i + 2:]]


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
    """Execute several runbooks at once, each in its own run folder (under one folder named
    ``group`` when given), and in its own kernel, except that runbooks that never touch the
    network (``Runbook.OFFLINE``) take turns in one shared kernel, its namespace reset between
    them: they wait on nothing, so a kernel each would only cost start-up time.

    papermill runs in worker threads, one per kernel; the main thread waits, so Ctrl-C and
    SIGTERM reach it and it stops every kernel itself (:class:`Interrupted`)."""
    base = _run_folder(Path(output_dir), group) if group else Path(output_dir)
    plans = []
    for name, params in jobs.items():
        path = notebook_path(name)
        folder = _run_folder(base, name) if not group else base / name
        folder.mkdir(exist_ok=True)
        plans.append((name, path, folder, params, _Kernels(), {}))

    def work(name: str, path: Path, folder: Path, params: Mapping[str, Any], kernels: _Kernels,
             box: dict[str, Any], shared: _SharedKernel | None = None) -> None:
        import papermill

        how: dict[str, Any] = ({"kernel_manager_class": kernels.manager_class()}
                               if shared is None else
                               {"engine_name": _shared_engine(), "shared": shared})
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                _execute(papermill, name, path, folder, params, how)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                if shared is not None:
                    shared.after_error(exc)
                if attempt == 1 and _never_started(exc):
                    continue  # a new kernel, once: its ports were taken, or it died starting
                box["error"] = exc
            break
        box["wall"] = time.perf_counter() - t0

    def lane(members: list[tuple], kernels: _Kernels) -> None:
        shared = _SharedKernel(kernels) if len(members) > 1 else None
        try:
            for name, path, folder, params, _k, box in members:
                work(name, path, folder, params, kernels, box, shared)
        finally:
            if shared is not None:
                shared.close()

    lanes = _lanes([plan[0] for plan in plans])
    lane_kernels = [_Kernels() for _ in lanes]
    for members, kernels in zip(lanes, lane_kernels, strict=True):
        for i in members:  # an interrupt stops each plan's kernel through its lane's
            plans[i] = (*plans[i][:4], kernels, plans[i][5])
    workers = [threading.Thread(target=lane, args=([plans[i] for i in members], kernels),
                                name=f"papermill-{plans[members[0]][0]}", daemon=True)
               for members, kernels in zip(lanes, lane_kernels, strict=True)]
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


def _execute(papermill: Any, name: str, path: Path, folder: Path,
             params: Mapping[str, Any], how: Mapping[str, Any]) -> None:
    papermill.execute_notebook(
        str(path), str(folder / f"{name}.ipynb"),
        parameters={**params, "report_path": str(folder / f"{name}.json")},
        kernel_name="python3", progress_bar=False, log_output=False,
        # written once, at the end (or at the cell that failed), not after every cell: a
        # runbook takes seconds, and seven notebooks saved per cell cost a core
        request_save_on_cell_execute=False,
        cwd=None,  # here: Claude Code's project settings are read from it
        # the kernel talks to us over loopback only; its "TCP without encryption" notice is
        # not for users
        extra_arguments=["--IPKernelApp.log_level=ERROR", "--HistoryManager.enabled=False"],
        **how)


def _never_started(exc: BaseException) -> bool:
    """The kernel died before it answered its first request: no cell ran, nothing was
    measured, and a new kernel will do (a port jupyter_client chose may have been taken
    meanwhile by another process, on a busy machine)."""
    return isinstance(exc, RuntimeError) and "died before replying to kernel_info" in str(exc)


def _lanes(names: list[str]) -> list[list[int]]:
    """Which runs share a kernel (indices into ``names``): one kernel for each runbook that
    may wait on the network, one for all the offline ones."""
    from ..books import RUNBOOKS

    offline = [i for i, n in enumerate(names) if getattr(RUNBOOKS.get(n), "OFFLINE", False)]
    lanes = [[i] for i in range(len(names)) if i not in offline]
    return lanes + [offline] if offline else lanes


class _SharedKernel:
    """One kernel that several notebooks run in, one after another (papermill's own client,
    handed this kernel and its client instead of starting its own)."""

    #: run between two notebooks: the next one starts from an empty namespace, counting its
    #: cells from 1 (the modules stay imported: that is the point)
    RESET = "get_ipython().reset(new_session=True)"

    def __init__(self, kernels: _Kernels) -> None:
        self.kernels = kernels
        self.km = kernels.manager_class()(kernel_name="python3")
        self.kc: Any = None

    def prepare(self, client: Any) -> None:
        """Give papermill's ``client`` this kernel; between notebooks, reset its namespace."""
        from jupyter_core.utils import run_sync

        if self.kc is not None:
            client.kc = self.kc
            reply = run_sync(self.kc.execute_interactive)(self.RESET, silent=True,
                                                           store_history=False, timeout=30)
            if reply["content"].get("status") != "ok":
                raise RuntimeError("the shared kernel could not be reset between runbooks")

    def after_error(self, exc: BaseException) -> None:
        """A cell that raised leaves the kernel usable; anything else (a dead kernel, a reset
        that failed) gets the next notebook a new one."""
        from papermill.exceptions import PapermillExecutionError

        if not isinstance(exc, PapermillExecutionError):
            self.close()
            self.km = self.kernels.manager_class()(kernel_name="python3")
            self.kc = None

    def close(self) -> None:
        from jupyter_core.utils import run_sync

        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
        if self.km.has_kernel:
            with contextlib.suppress(Exception):
                run_sync(self.km.shutdown_kernel)(now=False)
        self.kc = None


_SHARED_ENGINE = "runbooks-shared-kernel"


def _shared_engine() -> str:
    """papermill's nbclient engine, running in a :class:`_SharedKernel` (registered once)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    if _SHARED_ENGINE in papermill_engines._engines:
        return _SHARED_ENGINE

    class SharedKernelEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None,
                                     start_timeout: int = 60, execution_timeout: Any = None,
                                     shared: _SharedKernel | None = None, **kwargs: Any) -> Any:
            assert shared is not None
            for unused in ("input_path", "timeout", "startup_timeout"):
                kwargs.pop(unused, None)
            client = PapermillNotebookClient(
                nb_man, km=shared.km, timeout=execution_timeout, startup_timeout=start_timeout,
                kernel_name=kernel_name, log=logger, log_output=log_output,
                stdout_file=stdout_file, stderr_file=stderr_file, **kwargs)
            shared.prepare(client)
            try:
                return client.execute()  # not its kernel: it leaves it running
            finally:
                shared.kc = client.kc

    papermill_engines.register(_SHARED_ENGINE, SharedKernelEngine)
    return _SHARED_ENGINE


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

