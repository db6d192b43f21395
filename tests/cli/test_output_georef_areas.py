"""Hectares from ``hsi evaluate``, ``hsi vectorize`` and ``hsi info`` are ground areas on every CRS.

On a geographic CRS (degrees) a pixel's size in degrees squared is no area: the outputs gave none at all (areas in
pixels only). They now use the pixel's ground area on the ellipsoid, checked here against the WGS 84 radii of
curvature and against the polygons' areas after reprojection to UTM; US-feet grids are checked too.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from tests.cli_runner import run_main

H, W = 40, 50
NAMES = ["unlabelled", "water", "crop", "forest"]
A, F = 6378137.0, 1 / 298.257223563  # WGS 84
E2 = F * (2 - F)


def _wgs84_pixel_m2(lat: float, dlat: float, dlon: float) -> float:
    """Ground area of a small lon/lat cell centred on ``lat`` (degrees): M dphi * N cos(phi) dlambda."""
    phi = math.radians(lat)
    w = 1 - E2 * math.sin(phi) ** 2
    m, n = A * (1 - E2) / w**1.5, A / math.sqrt(w)
    return m * math.radians(dlat) * n * math.cos(phi) * math.radians(dlon)


def _classes() -> np.ndarray:
    cls = np.ones((H, W), np.uint8)
    cls[:, 17:34] = 2
    cls[:, 34:] = 3
    cls[:3, :4] = 0
    return cls


def _write_map(path: Path, crs: str, transform) -> np.ndarray:
    from hsi_app.io.cog import write_class_map

    cls = _classes()
    write_class_map(path, cls, np.full(cls.shape, 0.8, np.float32), crs=crs, transform=transform, class_names=NAMES)
    return cls


GEO = from_origin(13.0, 52.0, 1e-4, 1e-4)
GEO_PIXEL = _wgs84_pixel_m2(52.0 - H / 2 * 1e-4 - 0.5e-4, 1e-4, 1e-4)  # the pixel at the map centre (row 20)
FEET = from_origin(980000.0, 200000.0, 10.0, 10.0)
FEET_PIXEL = (10.0 * 1200.0 / 3937.0) ** 2  # US survey feet


def test_geographic_pixel_area_is_on_the_ground() -> None:
    from rasterio.crs import CRS

    from hsi_app.tasks.map_accuracy import pixel_area_m2

    area = pixel_area_m2(GEO, CRS.from_epsg(4326), (H, W))
    assert area == pytest.approx(GEO_PIXEL, rel=1e-4)
    assert 60.0 < area < 90.0  # ~11.1 m x 6.9 m, nowhere near 1e-8 "square degrees"


@pytest.mark.parametrize(("crs", "transform", "pixel"), [("EPSG:4326", GEO, GEO_PIXEL), ("EPSG:2263", FEET, FEET_PIXEL)])
def test_evaluate_reports_ground_hectares(tmp_path: Path, capsys: pytest.CaptureFixture[str], crs: str, transform,
                                          pixel: float) -> None:
    cls = _write_map(tmp_path / "map.tif", crs, transform)
    np.save(tmp_path / "ref.npy", cls.astype(np.int64))
    code, out, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "map.tif"), "--reference",
                              str(tmp_path / "ref.npy"), "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    assert "mapped ha" in out
    rows = {r["id"]: r for r in json.loads((tmp_path / "r.json").read_text())["per_class"]}
    for k in (1, 2, 3):
        assert rows[k]["mapped_area_ha"] == pytest.approx((cls == k).sum() * pixel / 1e4, rel=1e-4)


def test_vectorize_areas_on_a_geographic_map_match_the_polygons_in_utm(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    import geopandas as gpd

    cls = _write_map(tmp_path / "map.tif", "EPSG:4326", GEO)
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "p.gpkg"))
    assert code == 0, err
    gdf = gpd.read_file(tmp_path / "p.gpkg")
    assert gdf.crs.to_epsg() == 4326
    utm_ha = gdf.to_crs(32633).area / 1e4  # UTM keeps area to 0.1 % here (13° E is 2° from its central meridian)
    for _, row in gdf.iterrows():
        assert row["pixels"] == (cls == row["class_id"]).sum()
    assert np.allclose(gdf["area_ha"], utm_ha, rtol=2e-3)
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out",
                            str(tmp_path / "mmu.gpkg"), "--min-area", "0.5")  # ~68 px of ~73 m²
    assert code == 0, err
    assert (gpd.read_file(tmp_path / "mmu.gpkg")["pixels"] >= math.ceil(5000 / GEO_PIXEL)).all()


def test_info_reports_ground_hectares_on_a_geographic_map(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.tasks.map_summary import summarize_class_map

    cls = _write_map(tmp_path / "map.tif", "EPSG:4326", GEO)
    info = summarize_class_map(tmp_path / "map.tif")
    assert info["pixel_area_m2"] == pytest.approx(GEO_PIXEL, rel=1e-4)
    for row in info["classes"]:
        assert row["area_ha"] == pytest.approx((cls == row["class"]).sum() * GEO_PIXEL / 1e4, rel=1e-4)


def test_a_map_spanning_many_latitudes_warns_that_one_value_stands_for_all(tmp_path: Path) -> None:
    from rasterio.crs import CRS

    from hsi_app.errors import HSIWarning
    from hsi_app.tasks.map_accuracy import pixel_area_m2

    tall = from_origin(13.0, 60.0, 0.5, 0.5)  # 40 rows of 0.5°: 60° N to 40° N
    with pytest.warns(HSIWarning, match="is in angular units"):
        area = pixel_area_m2(tall, CRS.from_epsg(4326), (H, W))
    assert area == pytest.approx(_wgs84_pixel_m2(60.0 - 10.25, 0.5, 0.5), rel=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)  # a small scene: the same area everywhere, no warning
        pixel_area_m2(GEO, CRS.from_epsg(4326), (H, W))



# ---------------------------------------------------------------------------- review 3 (#2, #3, #4, #6)


def _sphere_pixel_m2(radius: float, lat: float, dlat: float, dlon: float) -> float:
    """Exact area of a lon/lat cell on a sphere: R² dλ (sin φ1 - sin φ0)."""
    lo, hi = math.radians(lat - dlat / 2), math.radians(lat + dlat / 2)
    return radius**2 * math.radians(dlon) * (math.sin(hi) - math.sin(lo))


@pytest.mark.parametrize(("crs", "radius"), [("EPSG:4047", 6371007.0), ("ESRI:104903", 1737400.0)])
def test_a_geographic_crs_on_a_sphere_has_ground_areas(crs: str, radius: float, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Geod(rf=0) raised ZeroDivisionError for a sphere (the GRS 1980 authalic sphere, the Moon), so no area at
    all, and --min-area said the map had no CRS."""
    from rasterio.crs import CRS

    from hsi_app.tasks.map_accuracy import pixel_area_m2

    t = from_origin(13.0, 10.0 + H / 2 * 0.01, 0.01, 0.01)
    area = pixel_area_m2(t, CRS.from_user_input(crs), (H, W))
    assert area == pytest.approx(_sphere_pixel_m2(radius, 10.0 - 0.005, 0.01, 0.01), rel=1e-4)
    _write_map(tmp_path / "map.tif", crs, t)
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "p.gpkg"),
                            "--min-area", "0.5")
    assert code == 0, err


def test_a_crs_in_grads_is_measured_in_degrees() -> None:
    """EPSG:4807 (NTF Paris) is in grads: its angles were fed to the ellipsoid as degrees (12 % too large here)."""
    from pyproj import Geod
    from rasterio.crs import CRS

    from hsi_app.tasks.map_accuracy import pixel_area_m2

    t = from_origin(2.0, 50.0 + H / 2 * 0.001, 0.001, 0.001)  # grads
    area = pixel_area_m2(t, CRS.from_epsg(4807), (H, W))
    to_deg = 0.9  # 1 grad = 0.9 degrees
    lat0 = (50.0 - 0.001) * to_deg
    lons = [v * to_deg for v in (2.0 + W // 2 * 0.001, 2.0 + (W // 2 + 1) * 0.001)]
    geod = Geod(a=6378249.2, b=6356515.0)  # Clarke 1880 (IGN), NTF's ellipsoid
    expected = abs(geod.polygon_area_perimeter([lons[0], lons[1], lons[1], lons[0]],
                                               [lat0 + 0.0009, lat0 + 0.0009, lat0, lat0])[0])
    assert area == pytest.approx(expected, rel=1e-3)


def test_a_map_across_the_equator_warns_though_its_edges_agree() -> None:
    """The largest pixels of a map from 30° N to 30° S are on the equator, inside the map: comparing the first and
    last rows (equal here) gave no warning while the centre value was 4.6 % above the map's mean."""
    from rasterio.crs import CRS

    from hsi_app.errors import HSIWarning
    from hsi_app.tasks.map_accuracy import pixel_area_m2

    with pytest.warns(HSIWarning, match="across the map"):
        pixel_area_m2(from_origin(0.0, 30.0, 1.0, 1.0), CRS.from_epsg(4326), (60, 60))


def test_the_viewer_gives_ground_areas_on_a_geographic_scene() -> None:
    """The viewer said 'geographic CRS (degrees): areas in pixels only' where hsi info, evaluate and vectorize
    measured the pixel."""
    from hsi_app.io.cube import make_cube
    from hsi_app.viewer.classify import pixel_area

    cube = make_cube(np.zeros((3, H, W), np.float32), wavelength=[500.0, 600.0, 700.0], crs="EPSG:4326",
                     transform=GEO)
    area, note = pixel_area(cube)
    assert area == pytest.approx(GEO_PIXEL, rel=1e-4) and "in degrees" in note
