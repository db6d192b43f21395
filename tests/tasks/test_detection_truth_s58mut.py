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
