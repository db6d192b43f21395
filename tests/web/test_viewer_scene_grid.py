"""The scene line says where the scene lies, as a GIS would: CRS by its short name (never a wall of WKT),
pixel size and map extent, so a user can check the georeference before classifying."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.transform import from_origin

from hsi_app import viewer
from hsi_app.io.open import open_cube

CUSTOM_TM = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=10.3 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m")


def _tif(path: Path, crs: CRS | None, transform: Affine | None, h: int = 30, w: int = 40) -> Path:
    kw = {"crs": crs} if crs is not None else {}
    if transform is not None:
        kw["transform"] = transform
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=4, dtype="int16", nodata=-9999, **kw) as ds:
        ds.write(np.random.default_rng(0).integers(100, 3000, (4, h, w)).astype(np.int16))
        for i, wl in enumerate((480.0, 560.0, 660.0, 840.0)):
            ds.update_tags(i + 1, wavelength=str(wl), wavelength_units="nm")
    return path


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(("crs", "transform", "expected"), [
    # UTM 20 m: left/top are the corner, right = 500000 + 40 * 20, bottom = 4500000 - 30 * 20
    (CRS.from_epsg(32616), from_origin(500000, 4500000, 20, 20),
     "CRS EPSG:32616, 20 m pixels, x 500000–500800, y 4499400–4500000"),
    (CRS.from_epsg(32616), from_origin(500000.5, 4500000, 2.5, 5),
     "CRS EPSG:32616, 2.5 × 5 m pixels, x 500000.5–500100.5, y 4499850–4500000"),
    (CRS.from_epsg(4326), from_origin(11.5, 48.2, 0.0001, 0.0001),
     "CRS EPSG:4326, 0.0001° pixels, lon 11.5–11.504, lat 48.197–48.2"),
    # pixels of 10 m and more keep their fractions: 12.5 m pixels, an origin on a half pixel (UTM 30 m grids)
    (CRS.from_epsg(32633), from_origin(500000, 4200000, 12.5, 12.5),
     "CRS EPSG:32633, 12.5 m pixels, x 500000–500500, y 4199625–4200000"),
    (CRS.from_epsg(32633), from_origin(500007.5, 4200007.5, 15, 15),
     "CRS EPSG:32633, 15 m pixels, x 500007.5–500607.5, y 4199557.5–4200007.5"),
    (None, from_origin(1000, 2000, 10, 10),
     "pixel coordinates (no CRS); map grid without CRS: 10 map units pixels, x 1000–1400, y 1700–2000"),
    (CRS.from_epsg(32616), Affine(20, 5, 500000, 5, -20, 4500000), "CRS EPSG:32616, rotated map grid"),
    # State plane grids in feet: New York Long Island (US survey foot), Arizona East (international foot)
    (CRS.from_epsg(2263), from_origin(980000, 200000, 3, 3),
     "CRS EPSG:2263, 3 US ft pixels, x 980000–980120, y 199910–200000"),
    (CRS.from_epsg(2222), from_origin(700000, 1000000, 2.5, 2.5),
     "CRS EPSG:2222, 2.5 ft pixels, x 700000–700100, y 999925–1000000"),
])
def test_scene_line_gives_crs_pixel_size_and_extent(tmp_path: Path, crs, transform, expected: str) -> None:  # noqa: ANN001
    cube = open_cube(_tif(tmp_path / "field.tif", crs, transform))
    line = viewer.describe_scene(cube, "field.tif")
    assert line == f"**field.tif**: 30 × 40 px, 4 bands (480–840 nm, 0 flagged bad), {expected}"


def test_a_crs_without_epsg_code_is_named_not_dumped(tmp_path: Path) -> None:
    cube = open_cube(_tif(tmp_path / "tm.tif", CUSTOM_TM, from_origin(600000, 5300000, 30, 30)))
    line = viewer.describe_scene(cube, "tm.tif")
    assert "PROJCS" not in line and "[" not in line, line
    assert line.endswith(", CRS Transverse Mercator, no EPSG code, 30 m pixels, x 600000–601200, y 5299100–5300000")


def test_pixel_line_and_area_note_name_a_custom_crs_briefly(tmp_path: Path) -> None:
    cube = open_cube(_tif(tmp_path / "tm.tif", CUSTOM_TM, from_origin(600000, 5300000, 30, 30)))
    # row 2, col 3: centre at x = 600000 + 3.5 * 30, y = 5300000 - 2.5 * 30
    assert viewer.format_location(viewer.pixel_location(cube, 2, 3)) == (
        "row 2, col 3 · x 600105.00, y 5299925.00 (Transverse Mercator, no EPSG code)")
    area, note = viewer.pixel_area(cube)
    assert area == pytest.approx(900.0, rel=1e-3)  # 30 m pixels near the central meridian
    assert "PROJCS" not in note and "Transverse Mercator, no EPSG code" in note, note


@pytest.mark.parametrize(("epsg", "unit"), [(2263, "US ft"), (2222, "ft")])
def test_pixel_line_names_feet(tmp_path: Path, epsg: int, unit: str) -> None:
    """A state plane CRS in feet: the clicked pixel's coordinates say they are feet (metres go unsaid)."""
    cube = open_cube(_tif(tmp_path / "ny.tif", CRS.from_epsg(epsg), from_origin(980000, 200000, 3, 3)))
    # row 2, col 3: centre at x = 980000 + 3.5 * 3, y = 200000 - 2.5 * 3
    assert viewer.describe_pixel(cube, 2, 3) == f"row 2, col 3 · x 980010.50, y 199992.50 (EPSG:{epsg}, {unit})"
