"""``hsi vectorize --min-area`` on a geographic map holds each patch's ground area to the unit (review 2 of s58, #3).

Nine-pixel patches sit from 80° N down to 40° N on a 0.01° x 0.1° grid, so their ground area more than doubles
southwards. The unit lies between the areas of two neighbouring patches; the expected survivors are the patches whose
geodesic area (pyproj, lon/lat rectangle densified along its parallels: independent of the code under test) reaches
it. Before, the unit became a pixel count from the centre pixel's area, so every 9-pixel patch was kept (half of them
under the unit) or, with a unit of ten centre pixels, none was (half of them over it).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

H, W, DX, DY, WEST, NORTH = 400, 40, 0.01, 0.1, 10.0, 80.0
TOPS = list(range(5, H - 10, 20))  # first row of each 3 x 3 patch of class 2


def _geodesic_ha(row0: int, rows: int, col0: int, cols: int) -> float:
    from pyproj import Geod
    from shapely.geometry import box

    ring = box(WEST + col0 * DX, NORTH - (row0 + rows) * DY, WEST + (col0 + cols) * DX, NORTH - row0 * DY)
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(ring.segmentize(0.001))[0]) / 1e4


def _vectorize(tmp_path: Path, min_area_ha: float, connectivity: int = 4):
    import geopandas as gpd

    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks.map_polygons import vectorize_map

    cls = np.ones((H, W), np.uint8)
    for r in TOPS:
        cls[r:r + 3, 10:13] = 2
    write_class_map(tmp_path / "m.tif", cls, None, crs="EPSG:4326", transform=Affine(DX, 0, WEST, 0, -DY, NORTH),
                    class_names=["u", "a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the centre pixel's area warning is not what is tested
        res = vectorize_map(tmp_path / "m.tif", tmp_path / "p.gpkg", min_area_ha=min_area_ha,
                            connectivity=connectivity)
    return res, gpd.read_file(tmp_path / "p.gpkg")


@pytest.mark.parametrize("between", [4, 9, 15])  # the unit between the areas of patches between-1 and between
@pytest.mark.parametrize("connectivity", [4, 8])
def test_kept_patches_are_those_whose_ground_area_reaches_the_unit(tmp_path: Path, between: int,
                                                                   connectivity: int) -> None:
    areas = np.array([_geodesic_ha(r, 3, 10, 3) for r in TOPS])
    assert np.all(np.diff(areas) > 0)  # southwards, larger
    unit = float(areas[between - 1] + areas[between]) / 2
    res, gdf = _vectorize(tmp_path, unit, connectivity)
    kept = gdf[gdf.class_id == 2]
    expected_tops = [r for r, a in zip(TOPS, areas, strict=True) if a >= unit]
    tops = sorted(int(round((NORTH - b[3]) / DY)) for b in kept.geometry.bounds.to_numpy())
    assert tops == expected_tops
    assert (kept.area_ha >= unit).all()
    np.testing.assert_allclose(np.sort(kept.area_ha.to_numpy()), areas[between:], rtol=1e-6)
    background = gdf[gdf.class_id == 1]
    assert len(background) == 1  # the merged patches joined the background around them
    np.testing.assert_allclose(background.area_ha.sum() + kept.area_ha.sum(), _geodesic_ha(0, H, 0, W), rtol=1e-6)
    assert res["min_area_ha"] == unit
    assert res["sieved_pixels"] == 9 * between


def test_cli_states_the_unit_in_hectares_of_ground(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.io.cog import write_class_map
    from tests.cli_runner import run_main

    cls = np.ones((H, W), np.uint8)
    cls[100:103, 10:13] = 2
    write_class_map(tmp_path / "m.tif", cls, None, crs="EPSG:4326", transform=Affine(DX, 0, WEST, 0, -DY, NORTH),
                    class_names=["u", "a", "b"])
    code, out, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "m.tif"), "--out", str(tmp_path / "p.gpkg"),
                              "--min-area", "2500", "--quiet")
    assert code == 0, err
    assert "minimum mapping unit 2500 ha of ground per patch" in out
