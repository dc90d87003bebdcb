"""Performance, measured as ratios against peers in one run (never asserted in tests).

    python bench/run.py            # or: make bench
    
0. `runbooks doctor` against `claude doctor` (API check on), paired A B A B runs, on the
   healthy lab, a SYN black hole and a silent server: medians and the median ratio.
1. `runbooks doctor` against a SYN black hole: wall time vs its connect budget, and vs
   `curl -I` with its defaults (capped).
   `runbooks doctor` vs `claude doctor` (the pinned client `make client` installs) on the
   same lab faults: wall time, and what each names as the problem.
2. `runbooks doctor` against the healthy lab: wall time from process start, vs `curl`
   doing one request to the same server.
3. `runbooks run all` (every runbook at once) against the slowest single runbook.

Everything runs against the lab on loopback. Results go to bench/results.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooks.lab import running
from runbooks.site.examples import clean_env

CURL_CAP_S = 30.0  # curl's own connect default is minutes; we stop waiting here


def timed(cmd: list[str], env: dict[str, str], cap: float = 120.0) -> tuple[float, int, str]:
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=cap, check=False)
        return time.perf_counter() - t, p.returncode, p.stdout
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t, -1, "(still waiting at the cap)"


def median_of(n: int, cmd: list[str], env: dict[str, str]) -> float:
    return statistics.median(timed(cmd, env)[0] for _ in range(n))


def paired(a: list[str], env_a: dict[str, str], b: list[str], env_b: dict[str, str],
           n: int = 5) -> tuple[float, float, float]:
    """A and B in turn (A B A B …, after one warm-up each): the medians of each, and the
    median of the pair-by-pair ratios A/B, which holds when the machine's speed drifts."""
    timed(a, env_a)
    timed(b, env_b)
    ta, tb = [], []
    for _ in range(n):
        ta.append(timed(a, env_a)[0])
        tb.append(timed(b, env_b)[0])
    return (statistics.median(ta), statistics.median(tb),
            statistics.median(x / y for x, y in zip(ta, tb, strict=True)))


#: What the issue asks of the doctor against `claude doctor` (API check on), by scenario.
TARGETS = {"healthy-tls": 0.5, "blackhole": 0.35, "silent": 0.5}


def doctor_vs_claude(runbooks: list[str], claude: str | None, n: int) -> list[str]:
    rows = [("| lab scenario | runbooks doctor (median) | claude doctor (median) | ratio "
             "(median of pairs) | target |"), "| --- | --- | --- | --- | --- |"]
    if not claude:
        return ["claude not installed here (`make client` installs the pinned version)."]
    for scenario, target in TARGETS.items():
        with running(scenario) as lab:
            env = clean_env(lab.env)
            a, b, r = paired([*runbooks, "doctor"], env, *claude_doctor_cmd(claude, env),
                             n=n if scenario == "healthy-tls" else 3)
            ok = "✓" if r <= target else "✗"
            rows.append(f"| {scenario} | {a:.2f} s | {b:.2f} s | {r:.2f}× | ≤ {target}× {ok} |")
    return rows


def main() -> int:
    import compileall

    # byte-compiled first, as a user's second run finds it (PYTHONDONTWRITEBYTECODE, set on
    # some machines, would otherwise make every timed run compile the package again)
    compileall.compile_dir(str(ROOT / "runbooks"), quiet=1)
    runbooks = [sys.executable, "-m", "runbooks"]
    rows: list[str] = []
    curl = shutil.which("curl")
    claude = find_claude()

    versus_ratios = doctor_vs_claude(runbooks, claude, 5)

    with running("blackhole") as lab:
        env = clean_env(lab.env)
        budget = 3.0
        doc, _rc, _ = timed([*runbooks, "doctor", "--connect-timeout", str(budget)], env)
        rows.append(f"| doctor vs black hole (connect budget {budget:g} s, the default) | "
                    f"{doc:.2f} s | budget + {doc - budget:.2f} s |")
        if curl:
            c, crc, _ = timed([curl, "-sS", "-I", lab.base_url + "/"], env, cap=CURL_CAP_S)
            shown = f"≥ {c:.1f} s (cap)" if crc == -1 else f"{c:.2f} s"
            rows.append(f"| curl -I, defaults, same black hole | {shown} | "
                        f"{c / doc:.1f}× doctor |")

    with running("healthy") as lab:
        env = clean_env(lab.env)
        doc = median_of(5, [*runbooks, "doctor"], env)
        rows.append(f"| doctor vs healthy lab, every runbook (median of 5, from process "
                    f"start) | {doc:.2f} s | target ≤ 0.5 s |")
        imp = median_of(5, [sys.executable, "-c", "import runbooks.cli, runbooks.doctor"], env)
        rows.append(f"| … of which interpreter start + imports | {imp:.2f} s | "
                    f"{imp / doc:.0%} of doctor |")
        if curl:
            c = median_of(5, [curl, "-sS", "-o", "/dev/null", "-X", "POST",
                              lab.base_url + "/v1/messages"], env)
            rows.append(f"| curl, one request to the same lab (median of 5) | {c:.3f} s | "
                        f"doctor = {doc / c:.0f}× curl (the doctor sends 3 requests and "
                        "checks 24 things) |")

    run_rows = run_all_vs_slowest(runbooks)
    versus = claude_doctor_rows(runbooks, claude)
    table = "\n".join(["| measurement | wall | comparison |", "| --- | --- | --- |", *rows])
    text = (f"# Benchmark results\n\nMachine: {os.cpu_count()} cores, Python "
            f"{sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}. Every figure is a whole "
            "process, timed from outside, on loopback against the lab.\n\n"
            "## `runbooks doctor` against `claude doctor` (2.1.332, API check on), paired runs"
            f"\n\n" + "\n".join(versus_ratios) + f"\n\n## Single figures\n\n{table}\n\n"
            "## `runbooks run all` against the slowest single runbook\n\n"
            + "\n".join(run_rows) +
            f"\n\n## What each names, same lab faults\n\n{versus}\n")
    (ROOT / "bench" / "results.md").write_text(text)
    print(text)
    return 0


def run_all_vs_slowest(runbooks: list[str]) -> list[str]:
    """Every runbook headless at once (`run all`, one kernel each) against each alone."""
    from runbooks.runner.execute import available

    rows = ["| what | wall (median of 3) |", "| --- | --- |"]
    walls = {}
    with running("healthy") as lab:
        env = clean_env(lab.env)
        for name in [*available(), "all"]:
            with tempfile.TemporaryDirectory() as out:
                walls[name] = median_of(3, [*runbooks, "run", name, "--output-dir", out], env)
            rows.append(f"| runbooks run {name} | {walls[name]:.2f} s |")
    slowest = max(v for k, v in walls.items() if k != "all")
    ratio = walls["all"] / slowest
    rows.append(f"| all ÷ slowest single | {ratio:.2f}× (target ≤ 2× "
                f"{'✓' if ratio <= 2 else '✗'}) |")
    return rows


def claude_doctor_cmd(claude: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """`claude doctor` under a pseudo-terminal (it wants one), its sign-in host sent to a
    closed loopback port through HTTPS_PROXY so nothing leaves the machine."""
    home = tempfile.mkdtemp()
    keep = {} if "HTTPS_PROXY" in env else {
        "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost,::1"}
    env = {**env, "HOME": home, "ANTHROPIC_API_KEY": "lab-key-not-a-secret",
           "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
           **keep}
    script = shutil.which("script")
    cmd = [script, "-qec", f"'{claude}' doctor", "/dev/null"] if script else [claude, "doctor"]
    return cmd, env


def find_claude() -> str | None:
    """The pinned client the Makefile installs, else RUNBOOKS_CLAUDE, else PATH."""
    pinned = ROOT / ".venv" / "claude-code" / "node_modules" / ".bin" / "claude"
    for c in (os.environ.get("RUNBOOKS_CLAUDE"), str(pinned) if pinned.exists() else None,
              shutil.which("claude")):
        if c:
            return c
    return None


VERSUS = ["healthy-tls", "blackhole", "silent", "refused", "tls-untrusted", "captive-portal",
          # proxies that refuse every tunnel, so the sign-in host never leaves loopback either
          "proxy-auth", "proxy-denied", "proxy-refused",
    # the API layer
    "auth-invalid", "ratelimited", "overloaded", "slow-first-byte", "timeout-10min"]
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def claude_doctor_api_line(claude: str, env: dict[str, str]) -> tuple[float, str]:
    """`claude doctor`'s wall time and its "API connectivity" verdict for the lab host."""
    cmd, env = claude_doctor_cmd(claude, env)
    wall, _, out = timed(cmd, env, cap=60)
    out = ANSI.sub("", out)
    line = next((x.strip("- ").strip() for x in out.splitlines() if x.lstrip("- ").startswith("API")
                 and "connectivity" not in x), "(no API line)")
    return wall, line if len(line) <= 140 else line[:139] + "…"


def claude_doctor_rows(runbooks: list[str], claude: str | None) -> str:
    if not claude:
        return "claude not installed here (`make client` installs the pinned version)."
    rows = ["| lab scenario | runbooks doctor | names | claude doctor | says |",
            "| --- | --- | --- | --- | --- |"]
    for scenario in VERSUS:
        with running(scenario) as lab:
            env = clean_env(lab.env)
            extra = [f"--{k}={v}" for k, v in lab.params.items() if k != "base_url"]
            t, _, out = timed([*runbooks, "doctor", "--json", "-", *extra], env)
            causes = ", ".join(json.loads(out)["causes"]) or "all pass"
            c, said = claude_doctor_api_line(claude, clean_env(lab.env))
            rows.append(f"| {scenario} | {t:.2f} s | `{causes}` | {c:.2f} s | {said} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
