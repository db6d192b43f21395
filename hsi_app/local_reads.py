"""Compute lazy (dask-backed) reads in the calling thread, whatever dask's default scheduler is.

Inside a ``distributed`` worker, or in a client process with a default ``Client``, dask's default
scheduler is the cluster, so every small lazy read (a window, a probe, a sample) would be a graph
submitted to the cluster. Window reads, probes and samples use :func:`reads_in_this_thread` instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_LOCAL_READS_LOCK = threading.Lock()
_LOCAL_READS = 0
"""Blocks of :func:`reads_in_this_thread` open in this process (any thread)."""
_LOCAL_READS_SET: Any = None
"""The ``dask.config.set`` the first open block entered; exited by the last one to close."""


@contextmanager
def reads_in_this_thread() -> Iterator[None]:
    """Compute lazy (dask-backed) scene reads in the calling thread, not on the cluster.

    Inside a worker, dask's default scheduler is the cluster itself, so every window read of a
    lazily opened scene would be a small graph submitted from within a task (which secedes and
    waits for it): a scheduler round trip per read (1.28x the batch throughput without it,
    BENCHMARKS.md), and a hang when the worker is paused by dask's memory monitor, since a paused
    worker starts no new task, not even the reads its running task waits for.

    Threads of one process share dask's configuration, and ``dask.config.set`` restores on exit what it
    found on entry: two overlapping blocks in two threads (a threaded cluster's task and the client
    planning a split scene) would leave one of them computing on the cluster after the other exits.
    So the first block of the process sets the synchronous scheduler, and the last one to exit restores it.
    """
    import dask

    global _LOCAL_READS, _LOCAL_READS_SET
    with _LOCAL_READS_LOCK:
        if _LOCAL_READS == 0:
            _LOCAL_READS_SET = dask.config.set(scheduler="synchronous")
        _LOCAL_READS += 1
    try:
        yield
    finally:
        with _LOCAL_READS_LOCK:
            _LOCAL_READS -= 1
            if _LOCAL_READS == 0 and _LOCAL_READS_SET is not None:
                _LOCAL_READS_SET.__exit__(None, None, None)
                _LOCAL_READS_SET = None
