"""A batch says once per file that a band holding no data anywhere was flagged bad: not once more for every
worker, thread or window task that opens the scene again (another process, or a cache that let it go)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import rasterio

from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch.inputs import SceneInput
from hsi_app.batch.state import input_fingerprint

WINDOW = 16
DEAD = 2  # 0-based: band 3 holds no data at any pixel


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """No scene opened by another test is in this process's batch cache, before or after."""
    from hsi_app.batch import run

    run._CUBES.clear()
    yield
    run._CUBES.clear()


def _dead_band_scene(kit, path: Path, height: int, width: int, seed: int) -> Path:  # noqa: ANN001
    kit.write_scene(path, height, width, seed)
    with rasterio.open(path, "r+") as ds:
        data = ds.read()
        data[DEAD] = -9999
        ds.write(data)
    return path


def _empty_band_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "holds no data at any pixel" in str(w.message)]


def test_a_split_scene_warns_once_though_its_windows_open_it_again(tmp_path: Path, run_dir: Path, kit) -> None:  # noqa: ANN001
    """The scene task, then a window task in a process whose cache no longer holds the scene (as in another
    worker, or after OPEN_CUBES other scenes): one warning, from the scene task."""
    from hsi_app.batch import run
    from hsi_app.batch.tasks import get_task
    from hsi_app.infer import iter_windows

    scene = _dead_band_scene(kit, tmp_path / "big.tif", 40, 36, 4)
    settings = run.BatchSettings(adapter=get_task("classify"), run_dir=str(run_dir), model_sha="test", window=WINDOW,
                                 resample=True, split_windows=1, client_pid=os.getpid())
    fingerprint = input_fingerprint(scene)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = run.scene_task(settings, SceneInput(scene, Path(scene.name)), str(tmp_path / "out.tif"), fingerprint)
        assert res["status"] == "split", res
        cube = run.cached_cube(str(scene), str(fingerprint), WINDOW)
        plan = settings.adapter.plan(run.cached_model(settings), cube, True)
        for win in list(iter_windows(40, 36, WINDOW, 2))[:3]:
            run._CUBES.clear()  # each window opens the scene anew
            run.window_task(settings, plan, str(scene), str(fingerprint), win)
    assert _empty_band_warnings(caught) == [
        f"{scene}: band 3 (978.6 nm) holds no data at any pixel (no-data or NaN everywhere), so no pixel was valid; "
        f"flagged bad, as a bad-band list would, and the other {kit.BANDS - 1} bands are used"]


def test_a_threaded_batch_warns_once_per_file(tmp_path: Path, run_dir: Path, kit,  # noqa: ANN001
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers of two threads in this process, a split scene and a whole one, a cache of one open scene (so
    the split scene's windows open it again): each named once."""
    from hsi_app.batch import run

    monkeypatch.setattr(run, "OPEN_CUBES", 1)
    scenes = [_dead_band_scene(kit, tmp_path / "scenes" / "big.tif", 40, 36, 4),
              _dead_band_scene(kit, tmp_path / "scenes" / "small.tif", 14, 12, 5)]
    cluster = ClusterOptions(workers=2, threads_per_worker=2, processes=False, dashboard=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_batch("classify", run_dir, [str(tmp_path / "scenes")], tmp_path / "out", cluster=cluster,
                           window=WINDOW, resample=True, progress=False, echo=lambda s: None)
    assert [r.status for r in result.rows] == ["done", "done"], [r.error for r in result.rows]
    said = _empty_band_warnings(caught)
    assert sorted(said) == sorted(set(said)) and {s.split(":")[0] for s in said} == {str(s) for s in scenes}, said
