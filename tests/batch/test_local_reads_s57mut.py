"""local_reads.compute_here keeps dask's configured in-process scheduler whatever its spelling: dask takes scheduler
names in any case, so 'Synchronous' runs a read in the calling thread, not on the thread pool (mutation audit s57)."""

from __future__ import annotations

import threading

import dask
import pytest

from hsi_app.local_reads import compute_here, local_scheduler


def _thread_of_a_read() -> int:
    """The thread that computes one lazy task under :func:`compute_here`."""
    return compute_here(dask.delayed(threading.get_ident)())[0]


@pytest.mark.parametrize("name", ["synchronous", "Synchronous", "SYNC", "Single-Threaded"])
def test_a_synchronous_scheduler_in_any_case_reads_in_the_calling_thread(name: str) -> None:
    with dask.config.set(scheduler=name):
        assert local_scheduler() == name
        assert _thread_of_a_read() == threading.get_ident()


@pytest.mark.parametrize("name", ["dask.distributed", "processes", "Processes"])
def test_a_scheduler_outside_this_process_reads_on_the_thread_pool(name: str) -> None:
    with dask.config.set(scheduler=name):
        assert local_scheduler() == "threads"
        assert _thread_of_a_read() != threading.get_ident()
