"""Mutation audit s58: truth boxes on a grid of other pixel size end on whole pixels despite the grid's rounding."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.tasks.test_detect_s57_review import _cube


def test_boxes_on_a_grid_of_pixels_twice_as_large_with_a_rounded_size_end_on_whole_pixels(tmp_path: Path) -> None:
    """Boxes written for 1 m pixels, with even edges, on a scene of 2.00001 m pixels (a size rounded by a
    reprojection): each edge is a whole pixel of the scene (half the file's), not 5e-6..7e-5 px short of one, which
    would give truth_mask another row or column of pixels."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import read_detections

    x0, y0, size = 400000.0, 5000000.0, 2.00001
    path = _cube(tmp_path / "scene.tif", (x0, y0))
    with rasterio.open(path, "r+") as ds:
        ds.transform = from_origin(x0, y0, size, size)
    cube = open_cube(path)
    corners = [(8, 12), (20, 30), (28, 6)]  # (row0, col0) of 4 x 4 boxes on the file's 1 m grid
    points = [Point(x0 + c + 2.5, y0 - r - 2.5) for r, c in corners]
    table = {"class": ["a"] * 3, "row": [r + 2.5 for r, _ in corners], "col": [c + 2.5 for _, c in corners],
             "box_row0": [float(r) for r, _ in corners], "box_col0": [float(c) for _, c in corners],
             "box_row1": [r + 4.0 for r, _ in corners], "box_col1": [c + 4.0 for _, c in corners]}
    gpd.GeoDataFrame(table, geometry=points, crs="EPSG:32633").to_file(tmp_path / "truth.gpkg")
    gt = read_detections(tmp_path / "truth.gpkg", cube, ["a"])
    expected = np.array([[r / 2, c / 2, r / 2 + 2, c / 2 + 2] for r, c in corners])
    np.testing.assert_array_equal(gt.box, expected)


def _truth(tmp_path: Path, classes: list[str | None]) -> Path:
    """Points at pixel centres (5, 6), (20, 30), (12, 40) of a 1 m grid at (400000, 5000000), one per class."""
    import geopandas as gpd
    from shapely.geometry import Point

    cells = [(5, 6), (20, 30), (12, 40)][:len(classes)]
    points = [Point(400000.0 + c + 0.5, 5000000.0 - r - 0.5) for r, c in cells]
    gpd.GeoDataFrame({"class": classes}, geometry=points, crs="EPSG:32633").to_file(tmp_path / "truth.gpkg")
    return tmp_path / "truth.gpkg"


def test_points_without_a_class_are_refused_when_two_targets_are_scored(tmp_path: Path) -> None:
    import pytest

    from hsi_app.errors import LabelError
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import read_detections

    cube = open_cube(_cube(tmp_path / "scene.tif", (400000.0, 5000000.0)))
    truth = _truth(tmp_path, ["a", "", "b"])
    with pytest.raises(LabelError, match=r"1 of 3 points have no class .*fill in each point's target \(a, b\)"):
        read_detections(truth, cube, ["a", "b"])


def test_points_without_a_class_are_the_one_target_scored(tmp_path: Path) -> None:
    """With one target, a point whose class cell is empty is that target (class 1), as a point of another name
    is; class 0 would be no target at all."""
    import pytest

    from hsi_app.errors import HSIWarning
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import read_detections

    cube = open_cube(_cube(tmp_path / "scene.tif", (400000.0, 5000000.0)))
    with pytest.warns(HSIWarning, match="2 of 3 points have no class"):
        gt = read_detections(_truth(tmp_path, [None, "a", "  "]), cube, ["a"])
    np.testing.assert_array_equal(gt.class_id, [1, 1, 1])
    np.testing.assert_allclose(gt.row, [5.5, 20.5, 12.5])  # pixel centres
