"""Facts about this machine recorded with every report: versions, proxy variables."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping

from ..masking import mask_proxy

__all__ = ["NO_PROXY_VARS", "PROXY_VARS", "ClaudeVersion", "proxy_settings"]

#: Claude Code 2.1.332 takes the first non-empty one, in this order; ``all_proxy`` and
#: ``ALL_PROXY`` only when none of the other four is set (see runbooks/client/proxy.py).
PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy",
              "ALL_PROXY")
#: Its full NO_PROXY rules read ``no_proxy`` if non-empty, else ``NO_PROXY``.
NO_PROXY_VARS = ("no_proxy", "NO_PROXY")


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
                                 timeout=self._timeout, stdin=subprocess.DEVNULL, check=False)
            self.value = out.stdout.strip().splitlines()[0] if out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError, IndexError):
            self.value = None

    def get(self) -> str | None:
        if self._exe:
            self._thread.join(self._timeout)
        return self.value


def describe(claude: ClaudeVersion | None = None) -> dict[str, str | None]:
    from .. import __version__

    return {
        "runbooks": __version__,
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.release()}",
        "claude_code": claude.get() if claude else None,
        "executable": os.path.basename(sys.executable),
    }


def proxy_settings(env: Mapping[str, str]) -> dict[str, str]:
    """The proxy variables that are set (non-empty: a value of spaces counts), passwords
    masked."""
    out = {k: mask_proxy(env[k]) for k in PROXY_VARS if env.get(k)}
    for k in NO_PROXY_VARS:
        if env.get(k):
            out[k] = env[k]
    return out
