"""The runbook notebook, in a real kernel: headless runs against the lab, nbval on the
stored output, and a canary proving no secret reaches any output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, clean_subprocess_env, run_cli

from runbooks.books import RUNBOOKS
from runbooks.site.examples import NOTEBOOK_SCENARIOS, nbval_config

pytestmark = pytest.mark.notebook

CANARY = "sk-ant-api03-CANARY0canary0CANARY0canary0CANARY0canary-zz9Q"


@pytest.mark.parametrize("scenario, causes", [
    ("healthy-tls", []),
    ("refused", ["tcp.refused"]),
    ("tls-untrusted", ["tls.untrusted_issuer"]),
    ("proxy-denied", ["proxy.rejected"]),
])
def test_runbook_runs_headless_against_the_lab(lab, tmp_path, scenario, causes):
    run = lab(scenario)
    env = clean_subprocess_env(**{**run.env, "ANTHROPIC_API_KEY": CANARY})
    proc = run_cli("run", "network", "-p", "connect_timeout=2", "--output-dir",
                   str(tmp_path / "out"), env=env, timeout=120)
    assert proc.returncode == (1 if causes else 0), proc.stdout + proc.stderr
    folder = _run_folder(proc.stdout)
    assert folder.parent == tmp_path / "out" and folder.name.startswith("network-")
    assert (folder / "network.json").is_file(), proc.stdout + proc.stderr
    report = json.loads((folder / "network.json").read_text())
    assert report["causes"] == causes and report["schema_version"] == 1
    assert "kernel start" in proc.stdout
    for cause in causes:  # each finding as the doctor prints it: its cause, fix and page
        assert f"cause: {cause}" in proc.stdout and f"#{cause}" in proc.stdout, proc.stdout
        assert "    fix:   " in proc.stdout, proc.stdout
    assert proc.stderr == ""  # nothing from the kernel's own start-up reaches the user
    executed = (folder / "network.ipynb").read_text()
    assert '"output_type": "error"' not in executed
    # the canary: the key was in the environment, and is nowhere in what was written
    for text in (executed, json.dumps(report), proc.stdout, proc.stderr):
        assert CANARY not in text and "CANARY0canary" not in text


def test_papermill_directly(lab, tmp_path):
    run = lab("healthy")
    out = tmp_path / "out.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" /
                           "network.ipynb"), str(out), "-p", "base_url", run.base_url,
                           "-p", "report_path", str(tmp_path / "r.json"), "--no-progress-bar"],
                          capture_output=True, text=True, timeout=120,
                          env=clean_subprocess_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["verdict"] == "pass"


def _run_folder(stdout: str) -> Path:
    return Path(next(line.split(None, 1)[1] for line in stdout.splitlines()
                     if line.startswith("report:"))).parent


@pytest.mark.parametrize("runbook", sorted(RUNBOOKS))
def test_every_runbook_has_a_notebook_whose_parameters_match_its_table(runbook):
    """The notebook's parameters cell, what papermill reads from it, and the runbook's own
    table (which the CLI checks against) are one and the same."""
    from papermill import inspect_notebook

    from runbooks.runner.execute import parameters

    table = RUNBOOKS[runbook].PARAMETERS
    declared = {n: p for n, p in parameters(runbook).items() if n != "report_path"}
    assert list(declared) == list(table)
    for name, p in table.items():
        assert (declared[name].type, declared[name].default) == (p.type, p.default), name
    theirs = inspect_notebook(str(ROOT / "notebooks" / f"{runbook}.ipynb"))
    assert set(theirs) == set(declared) | {"report_path"}
    for name, p in theirs.items():
        assert p["inferred_type_name"] == (table[name].type.__name__ if name in table else
                                           "str") and p["help"], name


def test_two_runs_at_once_keep_their_own_results(lab, tmp_path):
    """Same --output-dir, at the same time: each run has its own folder, and each prints the
    verdict of its own report."""
    healthy, refused = lab("healthy"), lab("refused")
    procs = [subprocess.Popen([sys.executable, "-m", "runbooks", "run", "network",
                               "--output-dir", str(tmp_path / "out")],
                              env=clean_subprocess_env(**run.env), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for run in (healthy, refused, healthy, refused)]
    outs = [p.communicate(timeout=120) for p in procs]
    verdicts = [next(line for line in out.splitlines() if line.startswith("runbook "))
                for out, _ in outs]
    assert [p.returncode for p in procs] == [0, 1, 0, 1], outs
    assert ["pass" in v for v in verdicts] == [True, False, True, False], verdicts
    folders = [_run_folder(out) for out, _ in outs]
    assert len(set(folders)) == 4
    for folder, expect in zip(folders, ([], ["tcp.refused"]) * 2, strict=True):
        assert json.loads((folder / "network.json").read_text())["causes"] == expect


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_nothing_behind(lab, tmp_path, sig):
    """Ctrl-C or SIGTERM while the kernel works: the kernel dies, its connection file is
    removed, no traceback reaches the user, and the partial run folder is removed."""
    import re
    import signal
    import time

    if not hasattr(signal, sig) or sys.platform == "win32":
        pytest.skip(f"no {sig} to send here")
    run = lab("blackhole")
    proc = subprocess.Popen([sys.executable, "-m", "runbooks", "run", "network", "-p",
                             "connect_timeout=60", "--output-dir", str(tmp_path / "out")],
                            env=clean_subprocess_env(**run.env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        kernel = None
        deadline = time.monotonic() + 60
        while kernel is None and time.monotonic() < deadline:  # its kernel is working
            kernel = _kernel_of(proc.pid)
            time.sleep(0.1)
        assert kernel, "the run never started a kernel"
        pid, connection_file = kernel
        time.sleep(1.0)  # inside the black-holed connect by now
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=30)
    finally:  # a failure here must not leave the run behind for later tests to trip on
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 128 + getattr(signal, sig), (out, err)
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in out + err
    assert not Path(connection_file).exists()
    assert not _alive(pid)
    assert not any((tmp_path / "out").iterdir())  # the partial run is gone
    assert re.fullmatch(r"", out)


def _kernel_of(parent: int) -> tuple[int, str] | None:
    """(pid, connection file) of the ipykernel a process started, from /proc."""
    proc = Path("/proc")
    if not proc.exists():
        pytest.skip("no /proc to find the kernel with")
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            args = (d / "cmdline").read_bytes().split(b"\0")
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if (b"ipykernel_launcher" in args or b"runbooks.runner.kernel" in args) and int(stat[1]) == parent:
            return int(d.name), args[args.index(b"-f") + 1].decode()
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("name", sorted(NOTEBOOK_SCENARIOS))
def test_stored_output_is_honest(lab, tmp_path, name):
    """nbval re-runs the notebook against the same lab scenario it was stored from."""
    run = lab(NOTEBOOK_SCENARIOS[name])
    cfg = nbval_config(tmp_path / "sanitize.cfg")
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                           "--nbval-sanitize-with", str(cfg), "-q", "-W", "ignore",
                           "-o", "addopts=", "-o", "filterwarnings=", str(ROOT / "notebooks" /
                           f"{name}.ipynb")], capture_output=True, text=True, timeout=180,
                          env=clean_subprocess_env(**run.env), cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout


def test_stored_notebook_is_clean():
    text = (ROOT / "notebooks" / "network.ipynb").read_text()
    assert '"output_type": "error"' not in text
    assert "/root/" not in text and "/home/" not in text
    assert "Lab TLS Inspection CA" in text  # it carries a real run's output


def test_the_timeouts_notebook_draws_its_samples(lab, tmp_path):
    """With samples, the timeline plot is really drawn (an image in the executed notebook)."""
    run = lab("flaky")
    proc = run_cli("run", "timeouts", "-p", "samples=9", "--output-dir", str(tmp_path / "out"),
                   env=clean_subprocess_env(**run.env), timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # network.intermittent
    executed = json.loads((_run_folder(proc.stdout) / "timeouts.ipynb").read_text())
    images = [o for c in executed["cells"] for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "no plot in the executed notebook"
    # the check is a summary (percentiles per phase, failures by cause), the samples in the JSON
    shown = next("".join(o["data"]["text/markdown"]) for c in executed["cells"]
                 for o in c.get("outputs", []) if "Sampling**" in
                 "".join(o.get("data", {}).get("text/markdown", "")))
    assert "p50" in shown and len([r for r in shown.splitlines() if r.startswith("|")]) <= 6
    report = json.loads((_run_folder(proc.stdout) / "timeouts.json").read_text())
    sampling = next(c for c in report["checks"] if c["id"] == "timeout.sampling")
    assert len(sampling["details"]["samples"]) == 9


def test_headless_kernels_start_without_the_debugger_only_for_this_interpreter():
    """`runbooks run` starts this interpreter's IPython kernel through runbooks.runner.kernel (no
    debugpy, frozen modules on); a kernel spec naming another interpreter is left as it is."""
    from runbooks.runner.execute import _without_debugger

    spec = [sys.executable, "-Xfrozen_modules=off", "-m", "ipykernel_launcher", "-f", "c.json"]
    assert _without_debugger(spec) == [sys.executable, "-m", "runbooks.runner.kernel", "-f", "c.json"]
    other = ["/opt/other/python3", "-m", "ipykernel_launcher", "-f", "c.json"]
    assert _without_debugger(other) == other
    assert _without_debugger(["julia", "kernel.jl", "c.json"]) == ["julia", "kernel.jl", "c.json"]
    code = ("import sys; sys.modules['debugpy'] = None; "
            "import ipykernel.debugger as d; print(d._is_debugpy_available)")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60, check=True)
    assert probe.stdout.strip() == "False"  # how runbooks.runner.kernel turns the debugger off


def test_notebooks_sharing_a_kernel_start_clean_and_survive_a_failure(tmp_path):
    """The shared kernel of `run all`'s offline runbooks: each notebook starts from an empty
    namespace counting cells from 1, a cell that raises fails only its own notebook, and the
    kernel is gone afterwards."""
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from runbooks.runner.execute import _Kernels, _shared_engine, _SharedKernel

    def notebook(name: str, *sources: str) -> Path:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                     "display_name": "Python 3"}
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    first = notebook("first", "import json\nleak = 1", "print('first')")
    broken = notebook("broken", "raise ValueError('boom')")
    second = notebook("second", "print(sorted(k for k in ('leak', 'json') if k in dir()))")
    kernels = _Kernels()
    shared = _SharedKernel(kernels)
    outputs = {}
    try:
        for path in (first, broken, second):
            out = tmp_path / f"out-{path.name}"
            try:
                papermill.execute_notebook(str(path), str(out), kernel_name="python3",
                                           progress_bar=False, engine_name=_shared_engine(),
                                           shared=shared)
            except PapermillExecutionError as exc:
                shared.after_error(exc)
                assert "boom" in str(exc)
            outputs[path.stem] = nbformat.read(out, as_version=4)
        pid = kernels.managers[0].provisioner.process.pid
    finally:
        shared.close()
    assert len(kernels.managers) == 1  # one kernel for all three
    cells = outputs["second"].cells
    assert cells[0].execution_count == 1 and cells[0].outputs[0]["text"] == "[]\n"
    assert not _alive(pid)


_DIES = """
import sys
from pathlib import Path
from runbooks.runner import execute

real, starts, dies = execute._without_debugger, [], int(sys.argv[2])

def flaky(cmd):
    starts.append(cmd)
    return [sys.executable, "-c", "raise SystemExit(3)"] if len(starts) <= dies else real(cmd)

execute._without_debugger = flaky
(run,) = execute.run_notebooks({"recovery": {"since": "1h"}}, Path(sys.argv[1]))
print(len(starts), run.report_path.is_file(), run.error)
"""


@pytest.mark.parametrize("dies, starts, report, error", [
    (1, 2, True, None),  # a second kernel does the run
    (2, 2, False, "died before replying to kernel_info"),  # once only: then it is the error
])
def test_a_kernel_that_dies_starting_is_replaced_once(tmp_path, dies, starts, report, error):
    """A kernel that dies before answering (its ports taken meanwhile, say) costs a second
    kernel, not the run."""
    proc = subprocess.run([sys.executable, "-c", _DIES, str(tmp_path), str(dies)],
                          capture_output=True, text=True, timeout=120,
                          env=clean_subprocess_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    got_starts, got_report, got_error = proc.stdout.strip().split(" ", 2)
    assert (int(got_starts), got_report == "True") == (starts, report)
    assert (error or "None") in got_error
