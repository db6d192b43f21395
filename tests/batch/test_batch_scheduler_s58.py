"""``hsi batch --scheduler ADDRESS`` against a cluster the test starts (``distributed.LocalCluster``): the workers
lines count inputs and workers as a person would write them, and a scheduler with no worker yet says what the batch waits for,
then the scenes finish once a worker connects."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import rasterio

from hsi_app.batch import ClusterOptions, run_batch

WINDOW = 16


def _batch(run_dir: Path, scenes: Path, out: Path, address: str, lines: list[str]):  # noqa: ANN202
    return run_batch("classify", run_dir, [str(scenes)], out, window=WINDOW, progress=False, echo=lines.append,
                     cluster=ClusterOptions(scheduler=address))


def test_one_worker_is_one_worker(run_dir: Path, kit, tmp_path: Path) -> None:  # noqa: ANN001
    from distributed import LocalCluster

    kit.write_scene(tmp_path / "in" / "a.tif", 20, 18, 1)
    lines: list[str] = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        res = _batch(run_dir, tmp_path / "in", tmp_path / "out", cluster.scheduler_address, lines)
    assert [r.status for r in res.rows] == ["done"]
    assert lines[0].startswith("hsi batch: 1 input, 0 already done, 1 to do -> "), lines
    assert any(line.startswith("hsi batch: 1 worker, dashboard") for line in lines), lines


def test_a_scheduler_without_workers_says_it_waits_then_finishes(run_dir: Path, kit, tmp_path: Path) -> None:  # noqa: ANN001
    from distributed import LocalCluster

    scene = kit.write_scene(tmp_path / "in" / "a.tif", 20, 18, 1)
    lines: list[str] = []
    got: dict = {}
    with LocalCluster(n_workers=0, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        worker = threading.Thread(target=lambda: got.update(res=_batch(run_dir, tmp_path / "in", tmp_path / "out",
                                                                       address, lines)))
        worker.start()
        deadline = time.monotonic() + 60
        while not any("workers" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        said = [line for line in lines if "workers" in line]
        assert said and said[0].startswith(f"hsi batch: 0 workers yet: the scenes wait until one connects "
                                           f"(start `dask worker {address}`)"), lines
        assert worker.is_alive()  # waiting, not failed
        cluster.scale(1)
        worker.join(120)
    assert not worker.is_alive()
    assert [r.status for r in got["res"].rows] == ["done"]
    with rasterio.open(tmp_path / "out" / "a_classes.tif") as a, rasterio.open(scene) as b:
        assert a.crs == b.crs and a.transform == b.transform
