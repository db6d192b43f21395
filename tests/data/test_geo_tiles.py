"""torchgeo-sampled tiles equal the same windows read directly with rasterio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from hsi_app.data.geo_tiles import GeoRasterTiles

T = from_origin(500000.0, 4200000.0, 10.0, 10.0)


def _tif(path: Path, data: np.ndarray) -> Path:
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=data.dtype, crs="EPSG:32631",
                       transform=T) as ds:
        ds.write(data)
    return path


def test_tiles_match_rasterio_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 1000, size=(6, 64, 48)).astype(np.int16)
    labels = rng.integers(0, 4, size=(1, 64, 48)).astype(np.uint8)
    tiles = GeoRasterTiles(_tif(tmp_path / "img.tif", image), _tif(tmp_path / "lab.tif", labels), tile_size=16,
                           tiles_per_epoch=5, band_indices=[0, 2, 5], mean=np.full(3, 100.0), std=np.full(3, 10.0),
                           wavelengths=np.array([450.0, 550.0, 650.0]), seed=1, augment=False)
    assert len(tiles) == 5
    for i in range(len(tiles)):
        s = tiles[i]
        assert s["image"].shape == (3, 16, 16) and s["image"].dtype.is_floating_point
        assert s["label"].shape == (16, 16) and str(s["label"].dtype) == "torch.int64"
        q = tiles.queries[i]
        col = round((q[0].start - T.c) / 10.0)
        row = round((T.f - q[1].stop) / 10.0)
        np.testing.assert_allclose(s["image"].numpy(), (image[[0, 2, 5], row : row + 16, col : col + 16] - 100.0) / 10.0)
        np.testing.assert_array_equal(s["label"].numpy(), labels[0, row : row + 16, col : col + 16])
    first = [tuple((sl.start, sl.stop) for sl in q[:2]) for q in tiles.queries]
    tiles.set_epoch(1)
    assert first != [tuple((sl.start, sl.stop) for sl in q[:2]) for q in tiles.queries]
    tiles.set_epoch(0)
    assert first == [tuple((sl.start, sl.stop) for sl in q[:2]) for q in tiles.queries]


def _d4_variants(x: np.ndarray) -> list[np.ndarray]:
    """The 8 flips / 90-degree rotations of ``(..., t, t)``."""
    turns = [np.rot90(x, k, axes=(-2, -1)) for k in range(4)]
    return turns + [np.flip(t, axis=-1) for t in turns]


def test_tiles_get_the_seeded_flips_and_rotations_of_in_memory_tiles(tmp_path: Path) -> None:
    """Audit L #5: each tile is its raster window under one of the 8 D4 transforms, the label alike, drawn by the
    same function and seed scheme as SceneTiles ((seed, epoch, i)); the same tile twice is the same array."""
    import torch

    from hsi_app.data.tiles import random_d4

    rng = np.random.default_rng(0)
    image = rng.integers(0, 1000, size=(3, 64, 48)).astype(np.int16)
    labels = rng.integers(0, 4, size=(1, 64, 48)).astype(np.uint8)
    tiles = GeoRasterTiles(_tif(tmp_path / "img.tif", image), _tif(tmp_path / "lab.tif", labels), tile_size=16,
                           tiles_per_epoch=12, band_indices=[0, 1, 2], mean=np.zeros(3), std=np.ones(3), seed=3)
    tiles.set_epoch(2)
    used = set()
    for i in range(len(tiles)):
        s = tiles[i]
        q = tiles.queries[i]
        col, row = round((q[0].start - T.c) / 10.0), round((T.f - q[1].stop) / 10.0)
        window = image[:, row : row + 16, col : col + 16].astype(np.float32)
        lab = labels[:, row : row + 16, col : col + 16].astype(np.int64)
        hits = [j for j, v in enumerate(_d4_variants(window)) if np.array_equal(v, s["image"].numpy())]
        assert hits, i
        assert any(np.array_equal(_d4_variants(lab)[j][0], s["label"].numpy()) for j in hits)
        want = random_d4(np.random.default_rng([3, 2, i]), torch.from_numpy(window), torch.from_numpy(lab))
        assert torch.equal(s["image"], want[0]) and torch.equal(s["label"], want[1][0])
        assert s["image"].is_contiguous() and torch.equal(tiles[i]["image"], s["image"])
        used.add(hits[0])
    assert len(used) > 1  # not all identity


def test_only_north_up_geotiffs_are_tiled_by_torchgeo(tmp_path: Path) -> None:
    """torchgeo would warp a rotated grid to north-up tiles; those scenes are tiled in memory instead."""
    from rasterio.transform import Affine

    from hsi_app.io.open import open_cube
    from hsi_app.tasks.train_classifier import _geo_tiles_factory

    image = np.random.default_rng(0).integers(0, 1000, size=(4, 40, 30)).astype(np.int16)
    north_up = open_cube(_tif(tmp_path / "north.tif", image))
    assert _geo_tiles_factory(north_up, tmp_path, np.arange(4), 0) is not None
    rotated_path = tmp_path / "rot.tif"
    t = Affine.translation(500000.0, 4100000.0) * Affine.rotation(-30.0) * Affine.scale(10.0, -10.0)
    with rasterio.open(rotated_path, "w", driver="GTiff", height=40, width=30, count=4, dtype="int16",
                       crs="EPSG:32631", transform=t) as ds:
        ds.write(image)
    assert _geo_tiles_factory(open_cube(rotated_path), tmp_path, np.arange(4), 0) is None


def test_a_small_scene_in_degrees_gets_tiles_that_fit(tmp_path: Path) -> None:
    """40 x 40 px of 0.001 deg: a whole-scene tile did not fit the rounded extent (torch.multinomial failed)."""
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.train_classifier import _geo_tiles_factory

    image = np.random.default_rng(0).integers(0, 1000, size=(4, 40, 40)).astype(np.int16)
    path = tmp_path / "geo.tif"
    with rasterio.open(path, "w", driver="GTiff", height=40, width=40, count=4, dtype="int16", crs="EPSG:4326",
                       transform=from_origin(-87.0, 40.02, 0.001, 0.001)) as ds:
        ds.write(image)
    build = _geo_tiles_factory(open_cube(path), tmp_path, np.arange(4), 0)
    assert build is not None
    train = np.zeros((40, 40), np.int32)
    train[5:30, 5:30] = 1
    tiles = build(train, np.zeros(4, np.float32), np.ones(4, np.float32))
    sample = tiles[0]
    assert sample["image"].shape == (4, 39, 39) and sample["label"].shape == (39, 39)
