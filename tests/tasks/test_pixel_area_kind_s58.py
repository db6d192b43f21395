"""``measure_pixel_area`` says which pixel area a map's areas use, the same value (and warnings) as
``pixel_area_m2``: the map-unit area of a projection that keeps area at the centre, or the ground area of the centre
pixel (a geographic CRS, Web Mercator), and whether that one value does not hold across the map. Expected areas
come from pyproj's Geod, independently of the code under test."""

from __future__ import annotations

import warnings

import pytest
from pyproj import Geod, Transformer
from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin

from hsi_app.errors import HSIWarning
from hsi_app.tasks.map_accuracy import measure_pixel_area, pixel_area_m2


def _both(transform: Affine, crs: CRS, shape: tuple[int, int]):  # noqa: ANN202
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", HSIWarning)
        measured = measure_pixel_area(transform, crs, shape, source="m.tif")
    with warnings.catch_warnings(record=True) as caught_old:
        warnings.simplefilter("always", HSIWarning)
        area = pixel_area_m2(transform, crs, shape, source="m.tif")
    assert measured.m2 == area
    assert [str(w.message) for w in caught] == [str(w.message) for w in caught_old]
    return measured, [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]


def test_utm_is_the_map_unit_area_without_warning() -> None:
    measured, said = _both(from_origin(500_000, 5_000_000, 30, 30), CRS.from_epsg(32633), (100, 100))
    assert measured == (900.0, "map-unit", False) and said == []


def test_web_mercator_is_the_centre_pixels_ground_area() -> None:
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(10.0, 50.0)
    t = from_origin(x - 15, y + 15, 30, 30)
    measured, said = _both(t, CRS.from_epsg(3857), (1, 1))
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(
        [x - 15, x + 15, x + 15, x - 15], [y + 15, y + 15, y - 15, y - 15])
    ground = abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])
    assert measured.kind == "centre-ground" and measured.varies
    assert measured.m2 == pytest.approx(ground, rel=1e-6)
    assert len(said) == 1 and said[0].startswith("m.tif: ") and "does not keep area" in said[0]


def test_a_map_true_to_scale_only_at_its_centre_keeps_the_map_unit_area_and_says_it_varies() -> None:
    greenland = Affine(50000, 0, -650000, 0, -50000, -600000)  # 50 km pixels from 83° N down to 60° N
    measured, said = _both(greenland, CRS.from_epsg(3413), (56, 31))
    assert measured == (50000.0 ** 2, "map-unit", True)
    assert len(said) == 1 and "corner pixels" in said[0]


def test_a_small_geographic_map_is_the_centre_pixels_ground_area() -> None:
    measured, said = _both(from_origin(10.0, 50.0, 0.001, 0.001), CRS.from_epsg(4326), (4, 4))
    lon = [10.002, 10.003, 10.003, 10.002]
    lat = [49.998, 49.998, 49.997, 49.997]
    assert measured.kind == "centre-ground" and not measured.varies and said == []
    assert measured.m2 == pytest.approx(abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0]), rel=1e-6)


def test_without_a_crs_there_is_no_area() -> None:
    assert measure_pixel_area(from_origin(0, 0, 1, 1), None, (4, 4)) == (None, "none", False)
