"""``hsi vectorize`` on a map without CRS says where its polygons are and how to place them (session 58).

Such polygons open in a GIS far from the scene (at pixel or unreferenced grid coordinates) and have no ``area_ha``;
the command said nothing of it. A map with a CRS gets no note, and its polygons keep that CRS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

from tests.cli_runner import run_main


def _write(path: Path, crs: str | None, transform: Affine) -> None:
    import rasterio

    cls = np.ones((8, 10), np.uint8)
    cls[:, 5:] = 2
    profile = dict(driver="GTiff", height=8, width=10, count=1, dtype="uint8", transform=transform)
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(cls, 1)


@pytest.mark.parametrize(("transform", "where"), [(Affine(30, 0, 500000, 0, -30, 5000000), "grid coordinates"),
                                                   (Affine.identity(), "pixel coordinates")])
def test_a_map_without_crs_gets_a_note_with_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    transform: Affine, where: str) -> None:
    import geopandas as gpd

    _write(tmp_path / "map.tif", None, transform)
    code, out, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "p.gpkg"))
    assert code == 0, err
    note = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(note) == 1 and "no CRS" in note[0] and where in note[0] and "gdal_edit.py -a_srs" in note[0]
    gdf = gpd.read_file(tmp_path / "p.gpkg")
    assert gdf.crs is None and "area_ha" not in gdf.columns


def test_a_map_with_a_crs_gets_no_note(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import geopandas as gpd

    _write(tmp_path / "map.tif", "EPSG:2263", Affine(100, 0, 980000, 0, -100, 200000))
    code, out, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "p.shp"))
    assert code == 0, err
    assert "note:" not in out
    gdf = gpd.read_file(tmp_path / "p.shp")
    assert gdf.crs.equals("EPSG:2263")  # the .prj holds the US-feet CRS
    assert gdf["area_ha"].sum() == pytest.approx(80 * (100 * 1200 / 3937) ** 2 / 1e4)  # ft² never reported as m²
