"""reads_in_this_thread: overlapping blocks in two threads of one process keep reads local until the last exits."""

from __future__ import annotations

import threading

import dask

from hsi_app.local_reads import reads_in_this_thread


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


def test_a_units_sample_in_another_thread_leaves_a_tasks_block_local(monkeypatch) -> None:  # noqa: ANN001
    """value_range.scene_sample (run by batch tasks and the client) enters first and exits while a task's block is
    open: the task's reads stay local (a plain dask.config.set in the sample restored 'no scheduler' on exit)."""
    import numpy as np

    import hsi_app.infer
    from hsi_app.io.cube import make_cube
    from hsi_app.value_range import scene_sample

    before = dask.config.get("scheduler", None)
    sample_in, task_in, sample_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, object] = {}
    real = hsi_app.infer.read_window

    def slow_read(cube, win):  # noqa: ANN001, ANN202
        sample_in.set()
        task_in.wait(5)
        return real(cube, win)

    monkeypatch.setattr(hsi_app.infer, "read_window", slow_read)
    cube = make_cube(np.ones((3, 8, 8), np.float32))

    def sample() -> None:
        scene_sample(cube, 4, 1)
        sample_out.set()

    def task() -> None:
        sample_in.wait(5)
        with reads_in_this_thread():
            task_in.set()
            sample_out.wait(5)
            seen["task_after_sample_left"] = dask.config.get("scheduler", None)

    threads = [threading.Thread(target=sample), threading.Thread(target=task)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["task_after_sample_left"] == "synchronous"
    assert dask.config.get("scheduler", None) == before
