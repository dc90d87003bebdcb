"""Run proxy.py for the lab, and stop it when the lab that started it goes away.

``python -m runbooks.lab.proxyrun ARGS…`` is ``python -m proxy ARGS…`` plus one thread
that reads standard input: the lab holds the other end of that pipe, so when the lab's
process ends, however it ends (even SIGKILL), the pipe closes and the proxy exits too.
"""

from __future__ import annotations

import os
import signal
import threading


def _exit_when_orphaned(fd: int) -> None:
    # os.read on a raw descriptor, not sys.stdin: proxy.py forks its acceptors, and a fork
    # while this thread held sys.stdin's lock would hang the child when it closes stdin
    while os.read(fd, 1024):
        pass
    if hasattr(os, "killpg"):  # the proxy's own session (see LabProxy): its acceptors too
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


def main() -> None:
    threading.Thread(target=_exit_when_orphaned, args=(os.dup(0),), daemon=True).start()
    from proxy.proxy import entry_point

    entry_point()


if __name__ == "__main__":
    main()
