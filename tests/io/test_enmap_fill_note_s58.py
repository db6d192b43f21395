"""`hsi info` on an EnMAP L2A product whose -32768 sits in only some bands: the line says it is the format's fill,
not a value to unset. The reader takes -32768 as no-data even when the spectral image declares no no-data value, so
the fix other files get (``gdal_edit.py -unsetnodata``) changes nothing here (audit s58, found with the fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio

from fixture_loader import fixture_module
from hsi_app.io import open_cube
from hsi_app.io.summary import format_summary, summarize

fx = fixture_module("enmap_l2a")
H, W = 40, 30


def _partial(folder: Path) -> int:
    """Pixels holding -32768 in some good bands and a value in another, counted from the file with numpy."""
    with rasterio.open(folder / f"{fx.PRODUCT}-QL_QUALITY_CLASSES.TIF") as ds:
        background = ds.read(1) == 3
    with rasterio.open(folder / f"{fx.PRODUCT}-SPECTRAL_IMAGE.TIF") as ds:
        miss = (ds.read() == fx.NODATA) | background[None]
    miss = miss[~miss.all(axis=(1, 2))]
    return int((miss.any(0) & ~miss.all(0)).sum())


def test_unsetting_the_no_data_value_is_not_offered(tmp_path: Path) -> None:
    folder = fx.make(tmp_path, height=H, width=W, seed=0)
    pixels = _partial(folder)
    assert pixels >= 1
    note = summarize(open_cube(folder))["nodata_in_some_bands"]["note"]
    assert f"({pixels} of {H * W:,}) hold the no-data value -32768 in only some bands" in note
    assert "unset" not in note and "gdal_edit" not in note
    assert "-32768 is EnMAP L2A's fill value, never a reflectance" in note
    # the fix the line used to give, applied: the same pixels are still no-data
    with rasterio.open(folder / f"{fx.PRODUCT}-SPECTRAL_IMAGE.TIF", "r+") as ds:
        ds.nodata = None
    info = summarize(open_cube(folder))
    assert info["nodata_in_some_bands"]["pixels"] == pixels
    assert "never a reflectance" in format_summary(info)


def test_other_files_keep_the_fix(tmp_path: Path) -> None:
    """An int16 GeoTIFF with no-data -32768 in some bands: unsetting its no-data value is the fix, still said."""
    v = np.full((3, 4, 5), 100, dtype=np.int16)
    v[1, 0, 0] = -32768
    path = tmp_path / "g.tif"
    with rasterio.open(path, "w", driver="GTiff", width=5, height=4, count=3, dtype="int16", nodata=-32768,
                       crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 0, 30, 30)) as ds:
        ds.write(v)
    note = summarize(open_cube(path))["nodata_in_some_bands"]["note"]
    assert "gdal_edit.py -unsetnodata FILE" in note and "EnMAP" not in note
