"""A georeferenced GeoTIFF trains from tiles streamed off the file only while the cube holds the file's values.

torchgeo reads the file on disk; a cube changed in Python after it was opened (scaled, ``where``,
a band subset, a crop) must train on its own values, the ones its mean/std come from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.data.splits import Split
from hsi_app.io.geotiff import holds_file_values
from hsi_app.io.open import open_cube
from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

T = from_origin(500000.0, 4200000.0, 10.0, 10.0)
SHAPE = (6, 32, 30)


def _write(path: Path, data: np.ndarray, **extra: Any) -> Path:
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=data.dtype, crs="EPSG:32631",
                       transform=T, **extra) as ds:
        ds.write(data)
    return path


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """(6, 32, 30) int16 values around 2000-4000 and labels 1..4 in four blocks."""
    rng = np.random.default_rng(3)
    labels = np.zeros(SHAPE[1:], np.int32)
    for k, (r, c) in enumerate([(0, 0), (0, 15), (16, 0), (16, 15)], start=1):
        labels[r:r + 16, c:c + 15] = k
    base = 2000 + 500 * labels[None] + 40 * np.arange(SHAPE[0])[:, None, None]
    return (base + rng.integers(-50, 50, SHAPE)).astype(np.int16), labels


@pytest.fixture()
def geotiff(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    values, labels = _scene()
    return _write(tmp_path / "scene.tif", values), values, labels


@pytest.fixture()
def tile_spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Records which tile source training built ("memory" or "file") and the in-memory tiles' image."""
    import hsi_app.data.geo_tiles as geo_tiles
    import hsi_app.tasks.classification as classification

    seen: dict[str, Any] = {}

    class MemoryTiles(classification.SceneTiles):  # type: ignore[misc, name-defined]
        def __init__(self, image: Any, *args: Any, **kwargs: Any) -> None:
            seen["source"], seen["image"] = "memory", np.array(image, dtype=np.float32)
            super().__init__(image, *args, **kwargs)

    class FileTiles(geo_tiles.GeoRasterTiles):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            seen["source"] = "file"
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(classification, "SceneTiles", MemoryTiles)
    monkeypatch.setattr(geo_tiles, "GeoRasterTiles", FileTiles)
    return seen


def _train(cube: Any, out: Path) -> dict[str, Any]:
    train_classifier(cube, out, TrainOptions(model="test_ssfcn", split="random:0.3", epochs=1, val_fraction=0.0,
                                             progress=False))
    return json.loads((out / "config.json").read_text())


def _expected_stats(values: np.ndarray, out: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean/std of the run's training pixels, from the values in float64."""
    train = Split.load(out / "split.npz").train > 0
    px = values[:, train].astype(np.float64)
    return px.mean(axis=1), px.std(axis=1)


def test_a_scaled_cube_trains_on_its_scaled_values(geotiff: tuple[Path, np.ndarray, np.ndarray],
                                                    tile_spy: dict[str, Any], tmp_path: Path,
                                                    one_torch_thread: None) -> None:
    """``cube * 0.0001``: mean/std are those of the scaled training pixels, and the tiles are cut from the scaled
    scene normalised by them (in memory), not read from the file's raw integers."""
    path, values, labels = geotiff
    cube = open_cube(path).hsi.with_labels(labels)
    scaled = cube * 0.0001
    cfg = _train(scaled, tmp_path / "run")
    want = values.astype(np.float64) * 0.0001
    mean, std = _expected_stats(want, tmp_path / "run")
    np.testing.assert_allclose(cfg["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(cfg["std"], std, rtol=1e-4)
    assert tile_spy["source"] == "memory"
    np.testing.assert_allclose(tile_spy["image"], (want - mean[:, None, None]) / std[:, None, None], atol=1e-3)
    assert not (tmp_path / "run" / "train_labels.tif").exists()


def test_a_band_subset_trains_on_its_own_bands(geotiff: tuple[Path, np.ndarray, np.ndarray],
                                                tile_spy: dict[str, Any], tmp_path: Path,
                                                one_torch_thread: None) -> None:
    """``isel(band=[1, 3, 5])``: torchgeo would read the file's bands 0, 1, 2 for the cube's 0, 1, 2."""
    path, values, labels = geotiff
    sub = open_cube(path).hsi.with_labels(labels).isel(band=[1, 3, 5])
    cfg = _train(sub, tmp_path / "run")
    mean, std = _expected_stats(values[[1, 3, 5]], tmp_path / "run")
    np.testing.assert_allclose(cfg["mean"], mean, rtol=1e-5)
    assert tile_spy["source"] == "memory"
    want = (values[[1, 3, 5]].astype(np.float64) - mean[:, None, None]) / std[:, None, None]
    np.testing.assert_allclose(tile_spy["image"], want, atol=1e-3)


def test_the_cube_as_read_still_streams_from_the_file(geotiff: tuple[Path, np.ndarray, np.ndarray],
                                                      tile_spy: dict[str, Any], tmp_path: Path,
                                                      one_torch_thread: None) -> None:
    path, values, labels = geotiff
    cfg = _train(open_cube(path).hsi.with_labels(labels), tmp_path / "run")
    assert tile_spy["source"] == "file" and "image" not in tile_spy
    assert (tmp_path / "run" / "train_labels.tif").is_file()
    np.testing.assert_allclose(cfg["mean"], _expected_stats(values, tmp_path / "run")[0], rtol=1e-5)


def test_which_cubes_hold_the_files_values(geotiff: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    path, _, labels = geotiff
    cube = open_cube(path)
    kept = [cube, cube.hsi.with_labels(labels), cube.isel(band=slice(None)), cube.copy()]
    assert all(holds_file_values(c) for c in kept)
    changed = [cube * 0.0001, cube.where(cube > 2500), cube.isel(band=[0, 2]), cube.isel(x=slice(0, 20)),
               cube.rio.clip_box(500000.0, 4199800.0, 500200.0, 4200000.0), open_cube(path).load(),
               cube.astype(np.float32)]
    assert not any(holds_file_values(c) for c in changed)
    values, _ = _scene()
    scaled = _write(tmp_path / "scaled.tif", values)  # read as physical values raw * 0.5 + 1: not the file's raw
    with rasterio.open(scaled, "r+") as ds:
        ds.scales, ds.offsets = [0.5] * SHAPE[0], [1.0] * SHAPE[0]
    assert not holds_file_values(open_cube(scaled))
    from hsi_app.tasks.train_classifier import _geo_tiles_factory

    assert _geo_tiles_factory(open_cube(scaled), tmp_path, np.arange(SHAPE[0]), 0) is None  # tiled in memory
    assert _geo_tiles_factory(cube, tmp_path, np.arange(SHAPE[0]), 0) is not None
    gray, alpha = rasterio.enums.ColorInterp.gray, rasterio.enums.ColorInterp.alpha
    opaque = np.full((1, *SHAPE[1:]), 255, np.int16)
    alpha_last = _write(tmp_path / "alpha_last.tif", np.concatenate([values, opaque]))
    alpha_first = _write(tmp_path / "alpha_first.tif", np.concatenate([opaque, values]))
    for path, interp in ((alpha_last, [gray] * SHAPE[0] + [alpha]), (alpha_first, [alpha] + [gray] * SHAPE[0])):
        with rasterio.open(path, "r+") as ds:
            ds.colorinterp = interp
    assert open_cube(alpha_last).sizes["band"] == SHAPE[0] and holds_file_values(open_cube(alpha_last))
    assert open_cube(alpha_first).sizes["band"] == SHAPE[0] and not holds_file_values(open_cube(alpha_first))
