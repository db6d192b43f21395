"""Compute lazy (dask-backed) reads in the calling thread, whatever dask's default scheduler is.

Inside a ``distributed`` worker, or in a client process with a default ``Client``, dask's default
scheduler is the cluster, so every small lazy read (a window, a probe, a sample) would be a graph
submitted to the cluster. Window reads, probes and samples use :func:`reads_in_this_thread` instead.

hsi's own reads of a scene (:meth:`read_masked`'s one read, summaries, windows written out) go through
:func:`compute_here`, which never asks the default scheduler: a notebook with a ``Client`` open (or one
closed while still registered, or ``scheduler: dask.distributed`` left in dask's configuration by a
client that is gone) reads its windows in this process all the same.
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


_IN_PROCESS = frozenset({"synchronous", "sync", "single-threaded", "threads", "threading"})
"""Names of dask's schedulers that run in this process; any other (a cluster, "processes") is not used for reads."""


def local_scheduler() -> str:
    """The scheduler for a read: dask's configured one when it runs in this process, else ``"threads"``.

    Inside :func:`reads_in_this_thread` that is ``"synchronous"``; with a cluster (or a stale
    ``dask.distributed`` setting) as the default it is the local thread pool, never the cluster.
    """
    import dask

    name = dask.config.get("scheduler", None)
    return name if isinstance(name, str) and name.lower() in _IN_PROCESS else "threads"


def compute_here(*objs: Any) -> tuple[Any, ...]:
    """``dask.compute(*objs)`` on :func:`local_scheduler`: shared chunks read once, in this process.

    Args:
        objs: dask arrays (numpy arrays pass through); an xarray object computes with
            ``obj.compute(scheduler=local_scheduler())`` instead.

    Returns:
        The computed objects, in order.
    """
    import dask

    return dask.compute(*objs, scheduler=local_scheduler())


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
