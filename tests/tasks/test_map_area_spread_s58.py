"""A projected map whose pixels differ in ground area across it says so, even when its centre is true to scale.

NSIDC polar stereographic north (EPSG:3413) is true to scale at 70° N: a map of Greenland centred there passed the
centre-pixel check, so its areas were map-unit areas without a word, although a pixel at 60° N covers about 7 % more
map area than ground (session 58). The corner pixels' ground areas are checked independently with pyproj (the
pixel's corners to lon/lat, geodesic area on WGS 84).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import Affine

GREENLAND = Affine(1000, 0, -650000, 0, -1000, -600000)  # 1 km pixels from 83° N down to 60° N
SHAPE = (2800, 1550)


def _geodesic_pixel_m2(transform: Affine, crs: str, row: int, col: int) -> float:
    from pyproj import Geod, Transformer

    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xs, ys = zip(*(transform @ (col + dc, row + dr) for dc, dr in ((0, 0), (1, 0), (1, 1), (0, 1))), strict=True)
    lon, lat = to_lonlat.transform(xs, ys)
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])


def test_a_greenland_map_in_polar_stereographic_warns_of_its_corners() -> None:
    from hsi_app.errors import HSIWarning
    from hsi_app.tasks.map_accuracy import pixel_area_m2

    with pytest.warns(HSIWarning, match="does not keep area across the map") as record:
        area = pixel_area_m2(GREENLAND, CRS.from_epsg(3413), SHAPE)
    assert area == 1e6  # the map-unit area stays what the areas use
    quoted = [float(v.replace(",", "")) for v in re.findall(r"cover ([\d.,e+]+) to ([\d.,e+]+) m²",
                                                             str(record[0].message))[0]]
    corners = [_geodesic_pixel_m2(GREENLAND, "EPSG:3413", r, c)
               for r, c in ((0, 0), (0, SHAPE[1] - 1), (SHAPE[0] - 1, 0), (SHAPE[0] - 1, SHAPE[1] - 1))]
    assert quoted == pytest.approx([min(corners), max(corners)], rel=1e-3)
    assert max(abs(np.array(corners) / 1e6 - 1)) > 0.02  # the independent check agrees there is something to say


@pytest.mark.parametrize(("crs", "transform", "shape"), [
    ("EPSG:3413", Affine(30, 0, -200000, 0, -30, -2000000), (1000, 1000)),  # 30 km across near 70° N
    ("EPSG:32633", Affine(30, 0, 200000, 0, -30, 5600000), (20000, 20000)),  # 600 km of UTM: under 1 % apart
])
def test_maps_whose_pixels_keep_their_area_do_not_warn(crs: str, transform: Affine, shape: tuple[int, int]) -> None:
    from hsi_app.errors import HSIWarning
    from hsi_app.tasks.map_accuracy import pixel_area_m2

    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        area = pixel_area_m2(transform, CRS.from_user_input(crs), shape)
    assert area == 900.0


def test_vectorize_shows_the_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import rasterio

    from tests.cli_runner import run_main

    coarse = Affine(50000, 0, -650000, 0, -50000, -600000)  # the same extent in 50 km pixels
    cls = np.ones((56, 31), np.uint8)
    with rasterio.open(tmp_path / "map.tif", "w", driver="GTiff", height=56, width=31, count=1, dtype="uint8",
                       crs="EPSG:3413", transform=coarse) as ds:
        ds.write(cls, 1)
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "p.gpkg"))
    assert code == 0, err
    assert "does not keep area across the map" in err
