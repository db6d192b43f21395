"""A class map's confidence band is its stored values times the band's own scale plus its offset, as GDAL documents
them: a map written by another tool (confidence in percent, or with an offset) reads in [0, 1] like hsi's own
(mutation audit s57: only maps with scale 1/255 and offset 0 were read in the tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from hsi_app.io.cog import read_class_map, read_confidence

T = from_origin(500000.0, 4200000.0, 10.0, 10.0)


def _two_band_map(path: Path, stored: np.ndarray, scale: float, offset: float) -> Path:
    classes = (np.arange(stored.size).reshape(stored.shape) % 3 + 1).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", height=stored.shape[0], width=stored.shape[1], count=2,
                       dtype="uint8", crs="EPSG:32633", transform=T) as ds:
        ds.write(np.stack([classes, stored]))
        ds.scales = (1.0, scale)
        ds.offsets = (0.0, offset)
    return path


def test_confidence_is_stored_times_scale_plus_offset(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 101, (9, 13)).astype(np.uint8)  # percent
    path = _two_band_map(tmp_path / "percent.tif", stored, 0.01, 0.0)
    np.testing.assert_allclose(read_class_map(path).confidence, stored / 100.0, rtol=1e-6)

    shifted = _two_band_map(tmp_path / "offset.tif", stored, 0.005, 0.25)  # 0.25 .. 0.755
    want = stored.astype(np.float64) * 0.005 + 0.25
    got = read_class_map(shifted).confidence
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with rasterio.open(shifted) as ds:  # a window reads the same values as the whole band there
        np.testing.assert_allclose(read_confidence(ds, Window(4, 2, 5, 3)), want[2:5, 4:9], rtol=1e-6)


def test_a_band_without_scale_reads_as_stored(tmp_path: Path) -> None:
    """No scale or offset in the file (GDAL's 1 and 0): the stored values as they are."""
    stored = np.arange(9 * 13).reshape(9, 13).astype(np.uint8)
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", height=9, width=13, count=2, dtype="uint8", crs="EPSG:32633",
                       transform=T) as ds:
        ds.write(np.stack([np.ones_like(stored), stored]))
    np.testing.assert_array_equal(read_class_map(path).confidence, stored.astype(np.float32))
