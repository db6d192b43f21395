"""reads_in_this_thread: overlapping blocks in two threads of one process keep reads local until the last exits."""

from __future__ import annotations

import threading
from collections.abc import Callable

import dask

from hsi_app.local_reads import reads_in_this_thread

First = Callable[[threading.Event, threading.Event], None]
"""``first(entered, go_on)``: sets ``entered`` once inside its block, then waits for ``go_on`` before leaving it."""


def _seen_after_the_first_left(first: First) -> object:
    """dask's scheduler as a :func:`reads_in_this_thread` block in a second thread sees it after ``first``, run in
    a first thread, entered before that block opened and left while it was open."""
    entered, go_on, left = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def run_first() -> None:
        first(entered, go_on)
        left.set()

    def second() -> None:
        entered.wait(5)
        with reads_in_this_thread():
            go_on.set()
            left.wait(5)
            seen["after_first_left"] = dask.config.get("scheduler", None)

    threads = [threading.Thread(target=run_first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return seen["after_first_left"]


def test_overlapping_blocks_in_two_threads_keep_the_synchronous_scheduler_until_the_last_exits() -> None:
    """Thread A enters, B enters, A exits: B still reads in its own thread; once B exits, the setting is restored.
    (dask.config.set alone restored A's entry value on A's exit, so B's reads went to the cluster.)"""
    before = dask.config.get("scheduler", None)

    def block(entered: threading.Event, go_on: threading.Event) -> None:
        with reads_in_this_thread():
            entered.set()
            go_on.wait(5)

    assert _seen_after_the_first_left(block) == "synchronous"
    assert dask.config.get("scheduler", None) == before


def test_a_units_sample_in_another_thread_leaves_a_tasks_block_local(monkeypatch) -> None:  # noqa: ANN001
    """value_range.scene_sample (run by batch tasks and the client) enters first and exits while a task's block is
    open: the task's reads stay local (a plain dask.config.set in the sample restored 'no scheduler' on exit)."""
    import numpy as np

    import hsi_app.infer
    from hsi_app.io.cube import make_cube
    from hsi_app.value_range import scene_sample

    before = dask.config.get("scheduler", None)
    real = hsi_app.infer.read_window
    cube = make_cube(np.ones((3, 8, 8), np.float32))

    def sample(entered: threading.Event, go_on: threading.Event) -> None:
        def slow_read(cube, win):  # noqa: ANN001, ANN202
            entered.set()
            go_on.wait(5)
            return real(cube, win)

        monkeypatch.setattr(hsi_app.infer, "read_window", slow_read)
        scene_sample(cube, 4, 1)

    assert _seen_after_the_first_left(sample) == "synchronous"
    assert dask.config.get("scheduler", None) == before
