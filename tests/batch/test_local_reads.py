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


def _lazy_scene(tmp_path):  # noqa: ANN001, ANN202
    """A lazily opened int16 GeoTIFF with a no-data value (dask-backed, a ``valid`` coordinate) and its pixels."""
    import numpy as np
    import rasterio

    from hsi_app.io import open_cube

    data = np.arange(4 * 12 * 10, dtype=np.int16).reshape(4, 12, 10)
    data[:, :2, :3] = -9999
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", height=12, width=10, count=4, dtype="int16", crs="EPSG:32633",
                       transform=rasterio.transform.from_origin(500000, 4600000, 30, 30), nodata=-9999) as ds:
        ds.write(data)
    cube = open_cube(path)
    assert not isinstance(cube.data, np.ndarray)  # lazy: every read below is a dask computation
    return cube, data


def _reads(cube, tmp_path):  # noqa: ANN001, ANN202
    """The scene as hsi's own readers see it: a window, the whole masked cube, a denoise window, a summary, a copy."""
    import rasterio

    from hsi_app.infer import Window, read_window
    from hsi_app.io.cog import write_cube
    from hsi_app.io.summary import summarize
    from hsi_app.tasks.denoise_scene import _read

    window, valid = read_window(cube, Window(2, 2, 4, 4, 0, 0, 8, 8))
    whole, _ = cube.hsi.read_masked()
    copy = tmp_path / f"copy{len(list(tmp_path.glob('copy*')))}.tif"
    write_cube(copy, cube, progress=False)
    with rasterio.open(copy) as ds:
        written = ds.read()
    return window, valid, whole, _read(cube, 2, 2, 6, 5), summarize(cube)["valid_pixels"], written


def test_scene_reads_ignore_a_cluster_setting_whose_client_is_gone(tmp_path) -> None:  # noqa: ANN001
    """dask's `scheduler: dask.distributed` with no live client (a closed Client, an interrupted threaded cluster:
    the fresh-clone CI saw `hsi predict` fail on FutureCancelledError after a batch test): hsi's reads run here."""
    import numpy as np

    cube, data = _lazy_scene(tmp_path)
    expected = _reads(cube, tmp_path)
    with dask.config.set(scheduler="dask.distributed"):
        got = _reads(cube, tmp_path)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(expected[2][:, :2, :3]).all() and expected[2][0, 5, 5] == data[0, 5, 5]
    assert expected[4] == 12 * 10 - 6


def test_scene_reads_submit_nothing_to_a_notebooks_open_client(tmp_path) -> None:  # noqa: ANN001
    """A notebook with a distributed Client open: reading windows does not ship them to the cluster."""
    from distributed import Client, LocalCluster

    cube, _ = _lazy_scene(tmp_path)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster):
        _reads(cube, tmp_path)
        assert cluster.scheduler.transition_counter == 0


def test_quicklooks_and_read_valid_read_here_with_a_notebooks_client(tmp_path) -> None:  # noqa: ANN001
    """`rgb_composite`/`save_rgb_png` (an RGB of the scene in a notebook) and `cube.hsi.read_valid(values)` read a lazy
    scene in this process: nothing goes to an open Client, and a stale `dask.distributed` setting does not fail them."""
    import numpy as np
    import rasterio
    from distributed import Client, LocalCluster

    from hsi_app.io import open_cube
    from hsi_app.io.quicklook import rgb_composite, save_rgb_png

    data = (np.arange(5 * 12 * 10, dtype=np.int16).reshape(5, 12, 10) % 700) + 100
    data[:, :2, :3] = -9999
    path = tmp_path / "rgb.tif"
    with rasterio.open(path, "w", driver="GTiff", height=12, width=10, count=5, dtype="int16", crs="EPSG:32633",
                       transform=rasterio.transform.from_origin(500000, 4600000, 30, 30), nodata=-9999) as ds:
        ds.write(data)
        for i in range(5):
            ds.set_band_description(i + 1, f"{450 + 50 * i} nm")
    cube = open_cube(path).where(lambda c: c != 800)  # a mask changed in Python: read_valid ANDs the lazy coordinate
    assert not isinstance(cube.data, np.ndarray) and not isinstance(cube.coords["valid"].data, np.ndarray)

    def reads() -> tuple[np.ndarray, np.ndarray]:
        save_rgb_png(tmp_path / "rgb.png", cube)
        return rgb_composite(cube), cube.hsi.read_valid(np.asarray(cube.data.compute(scheduler="sync")))

    rgb, valid = reads()
    assert (rgb[:2, :3] == 0).all() and rgb[5, 5].any() and not valid[:2, :3].any() and valid[5, 5]
    with dask.config.set(scheduler="dask.distributed"):  # the client that set it is gone
        got = reads()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster):
        got_client = reads()
        assert cluster.scheduler.transition_counter == 0
    for a, b in zip((*got, *got_client), (rgb, valid, rgb, valid), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_envi_classification_reads_here_when_the_client_is_gone(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """`read_class_map` of an ENVI classification (what `evaluate_map` reads in a notebook) computed its lazy band on
    dask's default scheduler: a `dask.distributed` setting left by a closed Client failed it."""
    from pathlib import Path

    import numpy as np

    from hsi_app.io.cog import read_class_map

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "io"))
    from test_envi_class_map import write_envi_classification

    classes = (np.arange(15 * 12).reshape(15, 12) % 4).astype(np.uint8)
    img = write_envi_classification(tmp_path, classes)
    with dask.config.set(scheduler="dask.distributed"):
        got = read_class_map(img)
    np.testing.assert_array_equal(got.classes, classes)
