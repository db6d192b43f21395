"""`hsi predict` / `hsi batch` warn of pixels holding EnMAP's -32768 fill in only some bands with the reader's note,
not with the advice to unset the file's no-data value (which changes nothing for EnMAP: the reader takes -32768 as
no-data whatever the file declares). Other files keep the advice."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio

from fixture_loader import fixture_module
from hsi_app.errors import HSIWarning
from hsi_app.io import open_cube
from hsi_app.predictor import warn_partial_nodata
from hsi_app.value_range import units_sample

fx = fixture_module("enmap_l2a")


def _warned(path: Path) -> list[str]:
    cube = open_cube(path)
    found = units_sample(cube).partial
    assert found is not None and found.pixels >= 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_partial_nodata(cube, found)
    return [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]


def test_enmap_warning_gives_the_fill_note_not_the_unset_advice(tmp_path: Path) -> None:
    folder = fx.make(tmp_path, height=40, width=30, seed=0)
    with rasterio.open(folder / f"{fx.PRODUCT}-SPECTRAL_IMAGE.TIF", "r+") as ds:   # a quarter of the pixels lose band 3
        band = ds.read(3)
        band[:10] = fx.NODATA
        ds.write(band, 3)
    lines = _warned(folder)
    assert len(lines) == 1
    assert "hold the no-data value -32768 in only some bands" in lines[0]
    assert "never a reflectance" in lines[0]
    assert "unset" not in lines[0] and "gdal_edit" not in lines[0]


def test_a_geotiff_keeps_the_unset_advice(tmp_path: Path) -> None:
    v = np.full((3, 20, 20), 100, dtype=np.int16)
    v[1, :5, :] = -32768   # 25 % of pixels: no-data in one band only
    path = tmp_path / "g.tif"
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=3, dtype="int16", nodata=-32768,
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 0, 30, 30)) as ds:
        ds.write(v)
    lines = _warned(path)
    assert len(lines) == 1 and "gdal_edit.py -unsetnodata FILE" in lines[0] and "EnMAP" not in lines[0]
