"""A real forward proxy on loopback: proxy.py (https://github.com/abhinavsingh/proxy.py),
run as its own process, as a corporate proxy is.

It speaks HTTP CONNECT and absolute-form requests, answers ``407`` with
``Proxy-Authenticate: Basic`` when credentials are required, and ``502`` when it
cannot reach the upstream. :class:`DenyTunnels` adds the allow-list refusal
(``403`` to every CONNECT) that corporate proxies give for hosts not on their list.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["LabProxy"]

_START_S = 15.0  # proxy.py starts in ~0.3 s; a loaded CI machine gets slack


class LabProxy:
    """proxy.py listening on 127.0.0.1 (a port of its choosing) until :meth:`close`."""

    def __init__(self, workdir: Path, auth: str | None = None, deny: bool = False,
                 tls: tuple[Path, Path] | None = None, route_to: str | None = None,
                 plugin: str | None = None) -> None:
        data = Path(workdir) / f"proxy-{time.monotonic_ns()}"
        data.mkdir(parents=True)
        port_file = data / "port"
        args = [sys.executable, "-m", "runbooks.lab.proxyrun", "--hostname", "127.0.0.1",
                "--port", "0",
                "--port-file", str(port_file), "--num-acceptors", "1", "--threaded",
                "--log-level", "WARNING", "--log-file", str(data / "proxy.log"),
                # its state goes under the lab's temporary directory, never ~/.proxy
                "--data-dir", str(data), "--ca-cert-dir", str(data / "certificates"),
                "--cache-dir", str(data / "cache")]
        if auth:
            args += ["--basic-auth", auth]
        if deny:
            args += ["--plugins", "runbooks.lab.proxyplugins.DenyTunnels"]
        elif route_to:
            args += ["--plugins", "runbooks.lab.proxyplugins.RouteTo", "--lab-route-to", route_to]
        elif plugin:  # another of runbooks.lab.proxyplugins, by class name
            args += ["--plugins", f"runbooks.lab.proxyplugins.{plugin}"]
        if tls:  # clients then speak TLS to the proxy itself (an https:// proxy URL)
            args += ["--cert-file", str(tls[0]), "--key-file", str(tls[1])]
        self.log = data / "proxy.log"
        with open(data / "stderr.txt", "wb") as err:
            # stdin is a pipe the proxy watches: it exits when this process is gone
            self._proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=err,
                                          start_new_session=True)
        deadline = time.monotonic() + _START_S
        while True:
            text = port_file.read_text().strip() if port_file.exists() else ""
            if text.isdigit():
                break
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                err = (data / "stderr.txt").read_text(errors="replace").strip()[-500:]
                raise RuntimeError(f"the lab proxy (proxy.py) did not start: {err or 'no output'}")
            time.sleep(0.02)
        self.port = int(text)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop the proxy and every process it forked (its acceptors share its session, so
        they go with its process group; a bare terminate() of the parent can orphan them)."""
        with contextlib.suppress(Exception):
            self._proc.stdin.close()
        self._signal_group(signal.SIGTERM)
        try:
            self._proc.wait(3)
        except subprocess.TimeoutExpired:
            pass
        self._signal_group(signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
        with contextlib.suppress(Exception):
            self._proc.wait(3)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(OSError):
            if hasattr(os, "killpg"):
                os.killpg(self._proc.pid, sig)  # its own session: pgid == its pid
            else:
                self._proc.kill()
