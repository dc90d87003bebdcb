"""Shared fixtures. Two guarantees for every test:

- the environment is clean and HOME is a temporary folder (this machine exports
  NODE_EXTRA_CA_CERTS, SSL_CERT_FILE and friends; a user's config is never touched);
- traffic goes only to loopback: an audit hook fails any connect, sendto or name
  lookup aimed anywhere else, in this process.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runbooks.lab import Running, start
from runbooks.lab.faults import LabUnsupported
from runbooks.site.examples import VOLATILE_ENV

ROOT = Path(__file__).resolve().parent.parent
CLEARED_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_", "SSL_CERT_")
CLEARED = set(VOLATILE_ENV) | {"API_TIMEOUT_MS", "ALL_PROXY", "all_proxy", "NO_COLOR",
                               "RUNBOOKS_DOCS_URL"}


# -- loopback only --------------------------------------------------------------------------------
def _loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.sendto"):
        addr = args[1]
        if isinstance(addr, tuple) and not _loopback(addr[0]):
            raise RuntimeError(f"test traffic must stay on loopback, not {addr!r}")
    elif event == "socket.getaddrinfo" and not _loopback(args[0]) and args[0] is not None:
        raise RuntimeError(f"test looked up {args[0]!r}: only loopback names are allowed")


sys.addaudithook(_audit)

# -- Ctrl-C reaches the processes the tests start -------------------------------------------------
# A shell that starts the suite in the background (`make test &`, some CI runners) leaves
# SIGINT ignored, and an ignored signal stays ignored across exec: the tests that press Ctrl-C
# would then wait on processes that never see it. Python's own handler is reset to the default
# in each child, as a terminal gives it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


# -- a clean environment --------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key in CLEARED or key.startswith(CLEARED_PREFIXES):
            monkeypatch.delenv(key, raising=False)
    # never the real status page: a closed loopback port (unreachable: skipped quietly)
    monkeypatch.setenv("RUNBOOKS_STATUS_URL", "http://127.0.0.1:9")
    # never the real hosts Claude Code needs: only the API host and that status page
    monkeypatch.setenv("RUNBOOKS_HOSTS", "none")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # a project directory of its own: no .claude/ settings from wherever pytest was started
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def clean_subprocess_env(**extra: str) -> dict[str, str]:
    """The test's (already cleaned) environment for a child process, plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch) -> str:
    """This process has the lab's (non-secret) key, as a configured user has one."""
    from runbooks.lab import LAB_API_KEY

    monkeypatch.setenv("ANTHROPIC_API_KEY", LAB_API_KEY)
    return LAB_API_KEY


@pytest.fixture
def lab() -> Iterator:
    """``lab("tls-untrusted")`` starts a scenario that stops at the end of the test."""
    started: list[Running] = []

    def _start(name: str) -> Running:
        try:
            run = start(name)
        except LabUnsupported as exc:
            pytest.skip(f"lab scenario {name!r}: {exc}")
        started.append(run)
        return run

    yield _start
    for run in started:
        run.stop()


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "runbooks", *args], capture_output=True,
                          text=True, timeout=timeout, env=env or clean_subprocess_env(),
                          cwd=cwd, check=False)


def claude_bin() -> str:
    """The pinned real client (:func:`clientrecords.claude_path`); a test that needs it
    fails, saying how to install it."""
    from clientrecords import claude_path

    path = claude_path()
    if path is None:
        pytest.fail("the real client is not installed: run `make client` (or set "
                    "RUNBOOKS_CLAUDE, or deselect with -m 'not client')")
    return str(path)


@pytest.fixture(scope="session")
def claude() -> str:
    return claude_bin()


@pytest.fixture(scope="session")
def site(tmp_path_factory, worker_id) -> Path:
    """The site, built once per run with ``mkdocs build --strict``: under xdist the first
    worker to ask builds it into the run's shared folder and the others wait for it, reading
    the same pages (a build costs about 15 s of CPU: four of them were a minute)."""
    import fcntl

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else \
        tmp_path_factory.getbasetemp().parent
    out, done = shared / "site-built", shared / "site-built.ok"
    with open(shared / "site-built.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the build (or the check) is done
        if not done.exists():
            proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q",
                                   "-d", str(out)], cwd=ROOT, capture_output=True, text=True,
                                  timeout=180, check=False,
                                  env={**clean_subprocess_env(), "NO_MKDOCS_2_WARNING": "1"})
            assert proc.returncode == 0, proc.stderr[-3000:]
            done.write_text("built\n")
    return out


@pytest.fixture
def root_in_os_store(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    """An appliance that presents leaf + intermediate ('Netskope Lab Root' above them); the
    root is in an OS store (SSL_CERT_FILE) that this client does not read
    (CLAUDE_CODE_CERT_STORE=bundled). Yields the environment to run with, and the store."""
    import ssl

    from runbooks.lab.api import FakeAPI
    from runbooks.lab.tls_scenarios import imitation_ca

    root = imitation_ca("Netskope Lab Root", "Netskope Inc")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    root.create_child_ca().issue_cert("127.0.0.1").configure_cert(ctx)
    api = FakeAPI("127.0.0.1", tls=ctx)
    store = tmp_path / "os-store.pem"
    store.write_bytes(root.cert_pem.bytes())
    try:
        yield (clean_subprocess_env(ANTHROPIC_BASE_URL=api.url, SSL_CERT_FILE=str(store),
                                    CLAUDE_CODE_CERT_STORE="bundled", RUNBOOKS_HOSTS="none"),
               store)
    finally:
        api.close()

