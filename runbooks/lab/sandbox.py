"""Run a command with its own view of ``/etc``, without touching the machine's.

For the lab's host names (``api.lab.test`` → 127.0.0.1) and for a managed settings file at
the system path, the real client must see them where it looks: ``/etc/hosts`` and
``/etc/claude-code/managed-settings.json``. :func:`wrap` runs a command under
``unshare -m`` (a private mount namespace; the network namespace is kept, so the lab on
loopback stays reachable) with

- a private ``/etc/hosts`` (bind mount),
- a private ``/etc/resolv.conf`` naming 127.0.0.1, so that a name missing from the hosts file
  is asked of loopback, never of the machine's resolver,
- optionally ``/etc`` overlaid (tmpfs upper layer) to add ``claude-code/managed-settings.json``.

Linux, as root only: :func:`unavailable` says why not, elsewhere.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["LAB_HOSTS", "overlay_unavailable", "unavailable", "wrap"]

#: Names the lab's hosts file maps to loopback.
LAB_HOSTS = {"localhost": "127.0.0.1", "lab.test": "127.0.0.1", "api.lab.test": "127.0.0.1",
             "pi.lab.test": "127.0.0.1"}
_RESOLV = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"


def _try(script: str) -> str | None:
    try:
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True,
                              text=True, timeout=10, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unshare failed: {exc}"
    if proc.returncode != 0:
        return f"unshare -m / mount failed here: {(proc.stderr or proc.stdout).strip()[:200]}"
    return None


@functools.cache
def unavailable() -> str | None:
    """Why :func:`wrap` cannot work on this machine, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "a private /etc needs Linux mount namespaces"
    if os.geteuid() != 0:
        return "a private /etc needs root (unshare -m and mount --bind)"
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    return _try("mount --bind /etc/hosts /etc/hosts && mount --bind /etc/resolv.conf "
                "/etc/resolv.conf")


@functools.cache
def overlay_unavailable() -> str | None:
    """Why :func:`wrap` cannot add a managed settings file under /etc, or None."""
    why = unavailable()
    if why:
        return why
    return _try("d=$(mktemp -d) && mount -t tmpfs none \"$d\" && mkdir \"$d/u\" \"$d/w\" && "
                "mount -t overlay overlay -o lowerdir=/etc,upperdir=\"$d/u\",workdir=\"$d/w\" "
                "/etc")


def wrap(cmd: Sequence[str], scratch: Path, hosts: Mapping[str, str] | None = None,
         managed: Path | None = None) -> list[str]:
    """``cmd`` run with a private hosts file (name → address; the lab's by default) and, if
    given, ``managed`` as ``/etc/claude-code/managed-settings.json``. ``scratch`` is an
    existing directory for the files this needs."""
    hosts_file, resolv = scratch / "hosts", scratch / "resolv.conf"
    hosts_file.write_text("".join(f"{addr} {name}\n" for name, addr in
                                  (LAB_HOSTS if hosts is None else hosts).items())
                          + "::1 ip6-localhost\n")
    resolv.write_text(_RESOLV)
    q = shlex.quote
    steps = []
    if managed is not None:
        layer = scratch / "etc-layer"
        layer.mkdir(exist_ok=True)
        up, work = q(str(layer / "u")), q(str(layer / "w"))
        steps += [f"mount -t tmpfs none {q(str(layer))}", f"mkdir -p {up}/claude-code {work}",
                  f"cp {q(str(managed))} {up}/claude-code/managed-settings.json",
                  f"mount -t overlay overlay -o lowerdir=/etc,upperdir={up},workdir={work} /etc"]
    steps += [f"mount --bind {q(str(hosts_file))} /etc/hosts",
              f"mount --bind {q(str(resolv))} /etc/resolv.conf", 'exec "$@"']
    return ["unshare", "-m", "sh", "-c", " && ".join(steps), "sh", *cmd]
