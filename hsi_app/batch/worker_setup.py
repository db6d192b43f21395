"""Preloaded into every worker process of ``hsi batch``'s LocalCluster (dask's ``preload``).

Ctrl-C in a terminal reaches the whole process group. The batch itself answers it (report,
cleanup, exit 130) and closes the cluster, which stops the workers; a worker that also took
it printed its own ``KeyboardInterrupt`` traceback. Each worker process therefore ignores
SIGINT from its start, including a worker the nanny restarts after an out-of-memory kill.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """Ignore SIGINT in this worker process (only a process's main thread may set handlers)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
