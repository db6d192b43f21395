"""A (band, y, x) DataArray made outside hsi_app (rioxarray.open_rasterio) has no band coordinates: the API says
how to make a Cube of it in one line, instead of ``KeyError: 'wavelength'`` (s58 Python API audit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray
from rasterio.transform import from_origin

from hsi_app.errors import ConfigError
from hsi_app.io import make_cube


def _tif(path: Path) -> Path:
    data = np.random.default_rng(0).uniform(0.1, 0.5, (4, 12, 14)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=14, height=12, count=4, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500_000, 4_000_000, 30, 30)) as ds:
        ds.write(data)
    return path


def test_band_coordinates_missing_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    da = rioxarray.open_rasterio(_tif(tmp_path / "s.tif"))
    for prop in ("wavelengths", "fwhm"):
        with pytest.raises(ConfigError) as caught:
            getattr(da.hsi, prop)
        text = str(caught.value)
        assert "\n" not in text and "open_cube(path)" in text and "make_cube(" in text


def test_detect_scene_on_an_open_rasterio_array(tmp_path: Path) -> None:
    from hsi_app.tasks.detection import detect_scene

    da = rioxarray.open_rasterio(_tif(tmp_path / "s.tif"), chunks={"x": 7})
    with pytest.raises(ConfigError, match="open_cube"):
        detect_scene(da, "rx")


def test_the_advised_wrap_works(tmp_path: Path) -> None:
    """The fix the line gives, followed: the wrapped array is a Cube on the file's grid."""
    from hsi_app.tasks.detection import detect_scene

    da = rioxarray.open_rasterio(_tif(tmp_path / "s.tif"))
    cube = make_cube(da.values, wavelength=[450.0, 550.0, 650.0, 850.0], crs=da.rio.crs, transform=da.rio.transform())
    assert cube.rio.transform() == da.rio.transform() and cube.rio.crs == da.rio.crs
    res = detect_scene(cube, "rx")
    assert np.isfinite(np.asarray(res.scores)).all()
