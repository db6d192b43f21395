"""Reference polygons on a class map across the antimeridian label the pixels they cover (session 58).

A geographic map over the Chukchi Sea (or Fiji) runs from 179.9° to 180.1° E (or is a 0..360 grid). Labels drawn in a
GIS lie in -180..180: the half east of 180° sits at -180..-179.9, a whole turn away from the map's pixels, and was
ignored ("lies outside the map"), so the classes there had no reference pixel. The expected counts are the pixels
each labelled rectangle covers, counted from the class layout itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

NAMES = ["unlabelled", "land", "sea"]
H, W, STEP = 20, 20, 0.01
NORTH = 70.5  # the Chukchi Sea, where polar stereographic references are common


def _write_map(path: Path, west: float) -> np.ndarray:
    from hsi_app.io.cog import write_class_map

    cls = np.ones((H, W), np.uint8)
    cls[:, W // 2:] = 2  # sea: the eastern half
    cls[15:, :3] = 0  # no data in the south-west corner
    write_class_map(path, cls, None, crs="EPSG:4326", transform=Affine(STEP, 0, west, 0, -STEP, NORTH),
                    class_names=NAMES)
    return cls


def _reference(path: Path, west: float, crs: str = "EPSG:4326") -> None:
    """Land over the western half, sea over the eastern, as a GIS in -180..180 stores them."""
    import geopandas as gpd
    from shapely.geometry import box

    def wrap(x: float) -> float:
        return (x + 180.0) % 360.0 - 180.0

    mid, east, south = west + W // 2 * STEP, west + W * STEP, NORTH - H * STEP
    land = box(wrap(west), south, wrap(west) + W // 2 * STEP, NORTH)
    sea = box(wrap(mid), south, wrap(mid) + (east - mid), NORTH)
    gdf = gpd.GeoDataFrame({"class": ["land", "sea"]}, geometry=[land, sea], crs="EPSG:4326")
    gdf.set_geometry(gdf.segmentize(0.001)).to_crs(crs).to_file(path)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3832", "EPSG:3413"])  # lon/lat; CRSs continuous across 180°:
# PDC Mercator and NSIDC polar stereographic north (their polygons come back from lon/lat spanning the globe)
def test_labels_east_of_the_antimeridian_count_on_a_map_across_it(tmp_path: Path, crs: str) -> None:
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls = _write_map(tmp_path / "map.tif", 179.9)
    _reference(tmp_path / "ref.gpkg", 179.9, crs)
    report = evaluate_map(tmp_path / "map.tif", tmp_path / "ref.gpkg").to_dict()
    cm = np.array(report["confusion_matrix"])
    assert cm.tolist() == [[int((cls == 1).sum()), 0], [0, int((cls == 2).sum())]]
    assert report["n_unmapped"] == int((cls == 0).sum())  # land drawn over the map's no-data corner
    assert report["oa"] == 1.0


def test_labels_in_minus_180_to_180_count_on_a_0_to_360_map(tmp_path: Path) -> None:
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls = _write_map(tmp_path / "map.tif", 185.0)  # 185° E = 175° W, as a 0..360 grid writes it
    _reference(tmp_path / "ref.gpkg", 185.0)  # the same ground at -175..-174.8
    report = evaluate_map(tmp_path / "map.tif", tmp_path / "ref.gpkg").to_dict()
    assert report["n_reference"] == int((cls > 0).sum())
    assert report["oa"] == 1.0


def test_a_polygon_split_at_the_antimeridian_labels_both_halves(tmp_path: Path) -> None:
    """GeoJSON (RFC 7946) and most GIS exports store a polygon across 180° as a MultiPolygon of two halves."""
    import geopandas as gpd
    from shapely.geometry import MultiPolygon, box

    from hsi_app.tasks.map_accuracy import evaluate_map

    cls = _write_map(tmp_path / "map.tif", 179.9)
    split = MultiPolygon([box(179.9, NORTH - 0.1, 180.0, NORTH),  # the northern half of the map
                          box(-180.0, NORTH - 0.1, -179.9, NORTH)])
    gpd.GeoDataFrame({"class": [1]}, geometry=[split], crs="EPSG:4326").to_file(tmp_path / "ref.geojson")
    report = evaluate_map(tmp_path / "map.tif", tmp_path / "ref.geojson").to_dict()
    north = cls[:10]
    assert report["confusion_matrix"] == [[int((north == 1).sum()), int((north == 2).sum())], [0, 0]]


def test_features_far_from_the_map_are_not_moved(tmp_path: Path) -> None:
    """Only a whole turn is undone: a label near Greenwich stays off a map at 180° (and is reported as outside)."""
    import geopandas as gpd
    from shapely.geometry import box

    from hsi_app.io.vector import Grid, read_vector_labels

    near, far = box(179.9, NORTH - 0.2, 180.0, NORTH), box(-10.0, NORTH - 0.2, 10.0, NORTH)
    gdf = gpd.GeoDataFrame({"class": [1, 2]}, geometry=[near, far], crs="EPSG:4326")
    gdf.to_file(tmp_path / "ref.gpkg")
    from rasterio.crs import CRS

    grid = Grid(H, W, Affine(STEP, 0, 179.9, 0, -STEP, NORTH), CRS.from_epsg(4326))
    with pytest.warns(UserWarning, match="1 of 2 features lie outside"):
        labels, _ = read_vector_labels(tmp_path / "ref.gpkg", grid)
    assert (labels[:, :10] == 1).all() and (labels[:, 10:] == 0).all()


def test_grid_bounds_use_no_deprecated_affine_product() -> None:
    """``Affine * (x, y)`` is deprecated in affine 3 (``@`` replaces it) and warned on every vector reference read."""
    import warnings

    from rasterio.crs import CRS

    from hsi_app.io.vector import Grid

    grid = Grid(H, W, Affine(STEP, 0, 179.9, 0, -STEP, NORTH), CRS.from_epsg(4326))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PendingDeprecationWarning)  # what affine 3 raises for ``*``
        warnings.simplefilter("error", DeprecationWarning)
        bounds = grid.bounds
    assert bounds == pytest.approx((179.9, NORTH - H * STEP, 179.9 + W * STEP, NORTH))
