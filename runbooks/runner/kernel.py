"""The kernel a headless run starts: IPython's, without a debugger, and quick to leave.

- ipykernel imports debugpy at start-up so that Jupyter can attach a debugger (and its kernel
  spec turns frozen modules off for it). A run nobody attaches to pays for that in every
  kernel: blocking the import makes ipykernel start as it does where debugpy is missing.
- Once ipykernel has shut down (the run is over, the notebook written), the interpreter's own
  finalisation can stall for seconds on the messaging library's clean-up (measured: 2.6 s in
  one run of three); `runbooks run` waits for the kernel to exit, so the kernel exits at once.

Jupyter keeps its own kernel, debugger and all: this one is only what `runbooks run` starts.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # `import debugpy` → ImportError
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    os._exit(0)


if __name__ == "__main__":
    main()
