"""reads_in_this_thread: overlapping blocks in two threads of one process keep reads local until the last exits."""

from __future__ import annotations

import threading

import dask

from hsi_app.batch.run import reads_in_this_thread


def test_overlapping_blocks_in_two_threads_keep_the_synchronous_scheduler_until_the_last_exits() -> None:
    """Thread A enters, B enters, A exits: B still reads in its own thread; once B exits, the setting is restored.
    (dask.config.set alone restored A's entry value on A's exit, so B's reads went to the cluster.)"""
    before = dask.config.get("scheduler", None)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def a() -> None:
        with reads_in_this_thread():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b() -> None:
        a_in.wait(5)
        with reads_in_this_thread():
            b_in.set()
            a_out.wait(5)
            seen["b_after_a_left"] = dask.config.get("scheduler", None)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["b_after_a_left"] == "synchronous"
    assert dask.config.get("scheduler", None) == before
