"""Regenerate the real example outputs shown on the site and stored in notebooks.

``python -m runbooks.site.examples`` (or ``make examples``):

- executes every runbook notebook in place against a lab scenario, so the
  notebook in the repository carries real output (nbval keeps it honest);
- writes ``docs/examples/doctor-<scenario>.txt``: the terminal output of
  ``runbooks doctor`` against lab scenarios, included by the site's pages (and
  ``docs/examples/history.txt``: ``runbooks history`` against the recorded records);
- and, beside each, ``docs/examples/findings/doctor-<scenario>.txt``: the lines of it that
  matter (:func:`findings_excerpt`), which a page shows, with the whole output folded under
  them.

Outputs vary in ports, timings and random CA names; :data:`SANITIZE` lists the
replacements that make two runs comparable (used by nbval and the tests).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES_DIR = ROOT / "docs" / "examples"
FINDINGS_DIR = EXAMPLES_DIR / "findings"

#: The lab scenario whose run is stored in each notebook.
NOTEBOOK_SCENARIOS = {"network": "proxy-inspected", "proxy-tls": "proxy-zscaler",
                      "auth": "auth-invalid", "timeouts": "timeout-10min",
                      "rate-limits": "ratelimited",
                      # Claude Code's own records (a temporary CLAUDE_CONFIG_DIR), no fault now
                      "recovery": "history", "debugging": "history"}

#: Scenarios shown on the site as `runbooks doctor` output, with the options used.
DOCTOR_SCENARIOS = {
    "healthy-tls": [],
    "refused": [],
    "blackhole": ["--connect-timeout", "2"],
    "tls-untrusted": [],
    "ipv6-broken": [],
    "captive-portal": [],
    "dns-nxdomain": [],
    "proxy-inspected": [],
    "proxy-auth": [],
    "proxy-bypassed": ["--connect-timeout", "2"],
    # the API layer: the credential, the timeouts, the limits
    "auth-invalid": [],
    "helper-fails": [],
    "timeout-10min": [],
    "flaky": ["--samples", "12"],
    "slow-first-byte": [],
    "ratelimited": [],
    "spend-cap": [],
    "overloaded": [],
    "edge-504": [],
    "buffered": ["--live"],
    "stall": ["--live", "--read-timeout", "1"],
    "status-incident": [],
    "auth-conflict": [],
    "auth-missing": [],
    "key-quoted": [],
    "auth-forbidden": [],
    "auth-billing": [],
    "timeout-disabled": [],
    "timeout-300": [],
    "sse-error": [],
    "server-error": [],
    "proxy-shadowed": [],
    "proxy-required": [],
}

#: Scenarios shown on the site as one runbook's checks (as the doctor prints them), without
#: the other runbooks' lines: ``docs/examples/<runbook>-<scenario>.txt``.
RUNBOOK_SCENARIOS = {"proxy-tls": ["proxy-zscaler", "bundle-expired-ca", "proxy-ntlm"]}

#: (pattern, replacement): what differs between two runs of the same scenario.
SANITIZE: list[tuple[str, str]] = [
    (r"(127\.0\.0\.1|localhost|\[::1\]|api\.lab\.test|(?:platform\.|downloads\.)?claude\.ai|"
     + r"platform\.claude\.com):\d{2,5}", r"\1:PORT"),
    # percentiles first: their padding depends on the figure's width, which varies
    (r"\b(p50|p90|p99|max) +\d+(\.\d+)?", r"\1 N"),
    (r"\b\d+(\.\d+)? ms\b", "N ms"),
    (r"\b(dns|connect|proxy_tls|tunnel|tls|first_byte|transfer|total) \d+(\.\d+)?", r"\1 N"),
    (r"\bin \d+\.\d s\b", "in N s"),
    (r"req_lab_\d+", "req_lab_N"),
    (r"Testing (CA|cert) #[\w\-]+", "Testing CERT #X"),
    (r"(?<=port \| )\d{2,5}\b", "PORT"),
    (r"/tmp/[\w./\-]+", "/tmp/PATH"),
    (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "DATE"),
    (r"runbooks-backups/\d{8}-\d{6}-[0-9a-f]+", "runbooks-backups/STAMP"),
    # a fresh lab CA each run: its fingerprint, its bundle's name, its PEM body
    (r"\b(?:[0-9A-F]{2}:){31}[0-9A-F]{2}\b", "FINGERPRINT"),
    (r"-[0-9a-f]{8}\.pem\b", "-FP.pem"),
    (r"([+\- ]?-----BEGIN CERTIFICATE-----\n)(?:[+\- ]?[A-Za-z0-9+/=]{1,76}\n)+", r"\1…\n"),
    (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", "DATE"),  # Claude Code's own logs
    (r"\b\d{4}-\d\d-\d\d\b", "DAY"),  # a certificate's validity, in the CA export
    (r"\b(?:[0-9A-F]{2}:){7}[0-9A-F]{2}…", "FINGERPRINT…"),  # a fresh lab CA's, each run
]

#: Variables that would change what the runbooks see; cleared for example runs.
VOLATILE_ENV = ("NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
                "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "ANTHROPIC_BASE_URL",
                "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_CERT_STORE",
                "RUNBOOKS_STATUS_URL", "RUNBOOKS_HOSTS")


def sanitize(text: str) -> str:
    for pattern, repl in SANITIZE:
        text = re.sub(pattern, repl, text)
    return text


def nbval_config(path: Path) -> Path:
    """Write :data:`SANITIZE` as an nbval ``--nbval-sanitize-with`` file."""
    lines = []
    for i, (pattern, repl) in enumerate(SANITIZE):
        lines += [f"[rule{i}]", f"regex: {pattern}", f"replace: {repl.replace(chr(92), '')}", ""]
    path.write_text("\n".join(lines))
    return path


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in VOLATILE_ENV}
    env.update(extra or {})
    return env


def parameters_source(runbook: str) -> str:
    """The notebook's parameters cell, written from the runbook's own table (so the two
    cannot drift: ``make examples`` rewrites the cell, the parity test checks it)."""
    from ..books import get
    from ..books.base import REPORT_PATH

    lines = []
    for p in get(runbook).PARAMETERS.values():
        lines.append(f"{p.name}: {p.type.__name__} = {p.default!r}  # {p.help}")
    lines.append(f'{REPORT_PATH.name}: str = ""  # {REPORT_PATH.help}')
    return "\n".join(lines)


def sync_parameters(nb, runbook: str) -> None:
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = parameters_source(runbook)


def execute_in_place(name: str, scenario: str) -> Path:
    """Run notebook ``name`` against lab ``scenario`` and store its outputs in the file."""
    import nbformat
    from nbclient import NotebookClient

    from ..lab import running

    path = ROOT / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    sync_parameters(nb, name)
    with running(scenario) as lab, tempfile.TemporaryDirectory() as home:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(clean_env({"HOME": home, **lab.env}))  # nobody's own settings
        try:
            NotebookClient(nb, kernel_name="python3", timeout=120, record_timing=False,
                           extra_arguments=["--IPKernelApp.log_level=ERROR"],
                           resources={"metadata": {"path": home}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    nb.metadata.pop("widgets", None)
    if _outputs(nb) != _outputs(nbformat.read(path, as_version=4)):
        nbformat.write(nb, path)
    return path


def _outputs(nb) -> str:
    """A notebook's outputs with what varies between runs sanitised away."""
    import json

    return sanitize(json.dumps([c.get("outputs", []) for c in nb.cells], sort_keys=True))


def doctor_output(scenario: str, options: list[str]) -> str:
    """``runbooks doctor`` against ``scenario``, as a terminal shows it (without colour)."""
    import subprocess

    from ..lab import running

    with running(scenario) as lab, tempfile.TemporaryDirectory() as home:
        extra = [f"--{k}={v}" for k, v in lab.params.items() if k != "base_url"]
        cmd = [sys.executable, "-m", "runbooks", "doctor", *options, *extra]
        # an empty HOME and project directory: nobody's own Claude Code settings show up
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=home,
                              env=clean_env({"HOME": home, **lab.env, "NO_COLOR": "1"}), check=False)
        shown_env = " ".join(f"{k}={v}" for k, v in lab.env.items()
                             if k not in ("NODE_EXTRA_CA_CERTS", "ANTHROPIC_API_KEY",
                                          "RUNBOOKS_STATUS_URL")
                             and (k, v) != ("RUNBOOKS_HOSTS", "none"))
        shown = " ".join(["runbooks", "doctor", *options, *extra])
        return f"$ {shown_env} {shown}\n{proc.stdout}(exit {proc.returncode})\n"


#: A check's line in a transcript: its status mark, then the check. A finding is marked ✗ (a
#: failure, or a check that could not run) or ! (a warning); the lines indented under a check
#: (its details, cause, fix and docs) are its.
_CHECK_LINE = re.compile(r"^\[(.)\] ")
_FINDING_MARKS = ("✗", "!")
#: What stands for the lines left out of an excerpt.
OMITTED = "…"


def findings_excerpt(transcript: str) -> str:
    """The lines of a ``runbooks doctor`` transcript that matter: the command and the header,
    each finding with its details, cause, fix and docs (under the name of its runbook), and
    the summary; ``…`` where lines are left out (checks that pass, are skipped, or other
    runbooks'). What a page shows above the whole transcript, which it folds."""
    lines = transcript.rstrip("\n").split("\n")
    head = next(i for i, line in enumerate(lines)
                if line.startswith("Claude Code connection check · "))
    end = len(lines) - 1 - lines[::-1].index("")  # the blank line before the summary
    body = lines[head + 1:end]
    keep = [False] * len(body)
    group, i = None, 0
    while i < len(body):
        mark = _CHECK_LINE.match(body[i])
        if not mark:
            if not body[i].startswith(" "):
                group = i  # a runbook's name, over its checks
            i += 1
            continue
        j = i + 1
        while j < len(body) and body[j].startswith(" "):
            j += 1
        if mark.group(1) in _FINDING_MARKS:
            keep[i:j] = [True] * (j - i)
            if group is not None:
                keep[group] = True
        i = j
    out, left_out = lines[:head + 1], False
    for line, kept in zip(body, keep, strict=True):
        if kept:
            out += [OMITTED] if left_out else []
            out.append(line)
        left_out = not kept
    out += [OMITTED] if left_out else []
    return "\n".join(out + lines[end:]) + "\n"


def store_findings(scenario: str) -> Path:
    """Write the excerpt of the stored ``doctor-<scenario>.txt`` (as stored: the excerpt and
    the whole show the same run)."""
    FINDINGS_DIR.mkdir(parents=True, exist_ok=True)
    out = FINDINGS_DIR / f"doctor-{scenario}.txt"
    text = findings_excerpt((EXAMPLES_DIR / f"doctor-{scenario}.txt").read_text())
    if not out.exists() or out.read_text() != text:
        out.write_text(text)
    return out


#: Scenarios whose `runbooks fix` session (plan, apply, second apply, undo) the site shows.
#: Options are shown to every `fix`; those after "--apply:" only to the applying ones (the
#: confirmation a CA needs). {name} is a fact of the lab run (its proxy, its CA's fingerprint).
FIX_SCENARIOS = {
    "timeout-10min": [],
    "timeout-300": [],
    "proxy-bypassed": ["--connect-timeout", "1"],
    "proxy-required": ["--connect-timeout", "1", "--proxy", "{proxy}"],
    "key-quoted": [],
    "proxy-shadowed": [],
    "proxy-zscaler": ["--apply:", "--trust-ca", "{fingerprint}"],
    "tls-untrusted": ["--ca-file", "{ca_file}", "--apply:", "--trust-ca", "{fingerprint}"],
    # the same fix, also exported from a shell's start-up file (stem: fix-proxy-zscaler-bash)
    "proxy-zscaler+bash": ["--shell", "bash", "--apply:", "--trust-ca", "{fingerprint}"],
}


def fix_facts(lab, env: dict[str, str], cwd: Path, options: list[str]) -> dict[str, str]:
    """What a fix session's options refer to: the lab's facts, and the fingerprint of the CA
    the plan would trust (read from the plan, as a user reads it)."""
    import json
    import subprocess

    facts = dict(lab.info)
    if any("{fingerprint}" in o for o in options):
        base = [o.format(**facts, fingerprint="") for o in options[:options.index("--apply:")]]
        out = subprocess.run([sys.executable, "-m", "runbooks", "fix", *base, "--json", "-"],
                             cwd=cwd, capture_output=True, text=True, timeout=90, env=env,
                             check=False).stdout
        fixes = json.loads(out)["plan"]["fixes"]
        facts["fingerprint"] = next(f["data"]["fingerprint"] for f in fixes
                                    if f["id"] == "trust-ca" and f["data"])
    return facts


def fix_output(scenario: str, options: list[str]) -> str:
    """A `runbooks fix` session against ``scenario``, in a temporary HOME and project: the
    plan, the apply, a second apply, and the undo, as a terminal shows them."""
    import subprocess

    from ..lab import running

    scenario = scenario.split("+")[0]
    with running(scenario) as lab, tempfile.TemporaryDirectory() as tmp:
        home = lab.env.get("HOME") or str(Path(tmp) / "home")
        Path(home).mkdir(exist_ok=True)
        project = Path(tmp) / "project"
        project.mkdir()
        env = clean_env({**lab.env, "HOME": home, "NO_COLOR": "1"})
        facts = fix_facts(lab, env, project, options)
        split = options.index("--apply:") if "--apply:" in options else len(options)
        opts = [o.format(**facts) for o in options[:split]]
        confirm = [o.format(**facts) for o in options[split + 1:]]
        shown_env = " ".join(f"{k}={v}" for k, v in lab.env.items()
                             if k not in ("NODE_EXTRA_CA_CERTS", "ANTHROPIC_API_KEY",
                                          "RUNBOOKS_STATUS_URL", "HOME"))
        out = []
        for args in (["fix", *opts], ["fix", "--apply", *opts, *confirm],
                     ["fix", "--apply", *opts, *confirm], ["undo"]):
            proc = subprocess.run([sys.executable, "-m", "runbooks", *args], cwd=project,
                                  capture_output=True, text=True, timeout=90, env=env,
                                  check=False)
            prefix = f"{shown_env} " if args[0] == "fix" and shown_env else ""
            out.append(f"$ {prefix}runbooks {' '.join(args)}\n{proc.stdout}{proc.stderr}"
                       f"(exit {proc.returncode})\n")
        # paths the tool shows are already ~/…; a path inside a file's content is absolute
        return "\n".join(out).replace(home, "/home/me").replace(str(project), ".")


#: Commands shown on the site as run against a lab scenario: file stem → (scenario, argv).
COMMAND_EXAMPLES = {"history": ("history", ["history"])}


def command_output(scenario: str, argv: list[str]) -> str:
    """``runbooks <argv>`` against ``scenario``, as a terminal shows it (without colour), in
    a directory of its own."""
    import subprocess

    from ..lab import running

    with running(scenario) as lab, tempfile.TemporaryDirectory() as home:
        proc = subprocess.run([sys.executable, "-m", "runbooks", *argv], capture_output=True,
                              text=True, timeout=60, cwd=home, check=False,
                              env=clean_env({"HOME": home, **lab.env, "NO_COLOR": "1"}))
        return f"$ runbooks {' '.join(argv)}\n{proc.stdout}(exit {proc.returncode})\n"


def _store(out: Path, text: str, label: str) -> None:
    # only ports and timings changed: keep the file, so the diff shows real changes
    same = out.exists() and sanitize(out.read_text()) == sanitize(text)
    if not same:
        out.write_text(text)
    print(f"{label}: {out}{' (unchanged)' if same else ''}")


def runbook_output(runbook: str, scenario: str) -> str:
    """One runbook's checks against ``scenario``, as a terminal shows them (in-process, with
    the lab's environment and parameters, an empty HOME; the CA export writes nothing)."""
    from ..books import get
    from ..lab import running
    from ..render import terminal_report

    with running(scenario) as lab, tempfile.TemporaryDirectory() as home:
        cls = get(runbook)
        params = {k: v for k, v in lab.params.items() if k in cls.PARAMETERS}
        run = cls.from_parameters(env=clean_env({"HOME": home, **lab.env}), project_dir=home,
                                  **params)
        return terminal_report(run.run_all()) + "\n"


def allowlist_table(scenario: str = "allowlist") -> str:
    """The proxy & TLS runbook's hosts table (its notebook's last step) against ``scenario``:
    what docs/proxy-tls.md shows under "Hosts to allow"."""
    from ..books.proxy_tls import ProxyTlsRun
    from ..lab import running

    with running(scenario) as lab, tempfile.TemporaryDirectory() as home:
        env = clean_env({"HOME": home, **lab.env})
        run = ProxyTlsRun.from_parameters(env=env, project_dir=home, connect_timeout=2.0,
                                          **{k: v for k, v in lab.params.items()
                                             if k != "base_url"})
        run.run_all()
        return "\n".join(run.allowlist()) + "\n"


def main() -> int:
    EXAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    for name, scenario in NOTEBOOK_SCENARIOS.items():
        print(f"notebook {name} ← lab {scenario}: {execute_in_place(name, scenario)}")
    for stem, (scenario, argv) in COMMAND_EXAMPLES.items():
        _store(EXAMPLES_DIR / f"{stem}.txt", command_output(scenario, argv),
               f"runbooks {' '.join(argv)} ← lab {scenario}")
    for scenario, options in DOCTOR_SCENARIOS.items():
        _store(EXAMPLES_DIR / f"doctor-{scenario}.txt", doctor_output(scenario, options),
               f"doctor ← lab {scenario}")
        store_findings(scenario)
    for scenario, options in FIX_SCENARIOS.items():
        _store(EXAMPLES_DIR / f"fix-{scenario.replace('+', '-')}.txt", fix_output(scenario, options),
               f"fix ← lab {scenario}")
    made = [(EXAMPLES_DIR / "proxy-tls-allowlist.txt", allowlist_table, "allowlist")]
    made += [(EXAMPLES_DIR / f"{rid}-{scenario}.txt",
              lambda rid=rid, scenario=scenario: runbook_output(rid, scenario), scenario)
             for rid, scenarios in RUNBOOK_SCENARIOS.items() for scenario in scenarios]
    for out, make, scenario in made:
        _store(out, make(), f"{out.stem} ← lab {scenario}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
