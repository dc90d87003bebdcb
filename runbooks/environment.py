"""Facts about this machine recorded with every report: versions, proxy variables."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping

from .masking import mask_proxy

__all__ = ["ClaudeVersion", "proxy_settings", "PROXY_VARS"]

#: Claude Code reads the first one set, in this order.
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")


class ClaudeVersion:
    """``claude --version``, asked in the background so it never slows a run."""

    def __init__(self, timeout_s: float = 3.0) -> None:
        self.value: str | None = None
        self._timeout = timeout_s
        self._exe = shutil.which("claude")
        self._thread = threading.Thread(target=self._ask, daemon=True)
        if self._exe:
            self._thread.start()

    def _ask(self) -> None:
        try:
            out = subprocess.run([self._exe, "--version"], capture_output=True, text=True,
                                 timeout=self._timeout, stdin=subprocess.DEVNULL)
            self.value = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError, IndexError):
            self.value = None

    def get(self) -> str | None:
        if self._exe:
            self._thread.join(self._timeout)
        return self.value


def describe(claude: ClaudeVersion | None = None) -> dict[str, str | None]:
    from . import __version__

    return {
        "runbooks": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()}",
        "claude_code": claude.get() if claude else None,
        "executable": os.path.basename(sys.executable),
    }


def proxy_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables that are set, passwords masked."""
    out = {k: mask_proxy(env[k]) for k in PROXY_VARS if env.get(k, "").strip()}
    for k in ("no_proxy", "NO_PROXY"):
        if env.get(k, "").strip():
            out[k] = env[k]
    return out
