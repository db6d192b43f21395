"""ENVI 'projection info' (older ENVI headers, USGS products in Albers or LCC): the CRS GDAL's ENVI driver builds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from hsi_app.errors import HSIWarning
from hsi_app.io.open import open_cube

ALBERS = ("map info = {Albers Conical Equal Area, 1, 1, -2000000, 3000000, 30, 30, North America 1983, units=Meters}\n"
          "projection info = {9, 6378137.0, 6356752.314140356, 23.0, -96.0, 0.0, 0.0, 29.5, 45.5, North America 1983, "
          "Albers Conical Equal Area, units=Meters}\n")
LCC = ("map info = {Lambert Conformal Conic, 1, 1, 100000, 200000, 30, 30, WGS-84, units=Meters}\n"
       "projection info = {4, 6378137.0, 6356752.314245179, 40.0, -96.0, 0.0, 0.0, 33.0, 45.0, WGS-84, "
       "Lambert Conformal Conic, units=Meters}\n")


def envi(folder: Path, name: str, extra: str) -> Path:
    (folder / f"{name}.img").write_bytes(np.arange(2 * 6 * 4, dtype="<i2").tobytes())
    hdr = folder / f"{name}.hdr"
    hdr.write_text("ENVI\nsamples = 4\nlines = 6\nbands = 2\nheader offset = 0\ndata type = 2\ninterleave = bsq\n"
                   f"byte order = 0\n{extra}")
    return hdr


@pytest.mark.parametrize(("name", "extra"), [("albers", ALBERS), ("lcc", LCC)])
def test_projection_info_gives_gdals_crs(tmp_path: Path, name: str, extra: str) -> None:
    """Only the grid was kept, with a warning to add a coordinate system string."""
    hdr = envi(tmp_path, name, extra)
    cube = open_cube(hdr)
    with rasterio.open(hdr.with_suffix(".img")) as ds:
        assert cube.rio.crs == ds.crs and cube.rio.crs is not None
        assert cube.rio.transform().almost_equals(ds.transform)
    if name == "albers":
        assert cube.rio.crs == CRS.from_epsg(5070)
    else:
        assert "lcc" in cube.rio.crs.to_proj4()


def test_unreadable_projection_info_keeps_the_grid_and_warns(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    extra = ("map info = {Some Projection, 1, 1, 100000, 200000, 30, 30, WGS-84, units=Meters}\n"
             "projection info = {999, 1.0, 2.0, Some Projection}\n")
    with pytest.warns(HSIWarning, match=r"bogus.hdr: map info projection 'Some Projection' and its 'projection info' "
                                        "are not recognised.*coordinate system string"):
        cube = open_cube(envi(tmp_path, "bogus", extra))
    assert cube.rio.crs is None and cube.hsi.transform.a == 30.0
    assert "ERROR" not in capfd.readouterr().err
