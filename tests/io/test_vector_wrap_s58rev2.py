"""Longitudes on geographic grids: a part is read at its stated coordinates, plus its copies a whole turn away that land
on the grid (review 2 of session 58, #1 and #2).

Expected pixels are counted from each label's own coordinates: the columns whose centre longitude lies inside the
label, or inside the label moved by 360°.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import Affine
from shapely.geometry import box


def _labels(tmp_path: Path, grid, geom) -> np.ndarray:
    import geopandas as gpd

    from hsi_app.io.vector import read_vector_labels

    gpd.GeoDataFrame({"class": [1]}, geometry=[geom], crs="EPSG:4326").to_file(tmp_path / "ref.gpkg")
    return read_vector_labels(tmp_path / "ref.gpkg", grid)[0]


def _expected_columns(west: float, width: int, lo: float, hi: float) -> list[int]:
    """Columns of a 1° grid starting at ``west`` whose centre lies in lo..hi or in lo..hi moved by a whole turn."""
    centres = west + 0.5 + np.arange(width)
    inside = np.zeros(width, bool)
    for shift in (-360.0, 0.0, 360.0):
        inside |= (centres > lo + shift) & (centres < hi + shift)
    return np.flatnonzero(inside).tolist()


def test_a_wide_rectangle_already_on_the_grid_keeps_its_place(tmp_path: Path) -> None:
    """Case G: a 4-vertex rectangle from -10° to 175° covers 170..175 of a 170..190 map; it was flipped onto 175..190."""
    from hsi_app.io.vector import Grid

    grid = Grid(10, 20, Affine(1, 0, 170, 0, -1, 60), CRS.from_epsg(4326), "170..190 map")
    labels = _labels(tmp_path, grid, box(-10, 52, 175, 58))
    cols = np.flatnonzero((labels > 0).any(axis=0)).tolist()
    assert cols == _expected_columns(170, 20, -10, 175) == [0, 1, 2, 3, 4]
    assert (labels[2:8, :5] == 1).all() and labels.sum() == 6 * 5  # rows 52..58 only


def test_a_wide_rectangle_touching_the_grid_labels_none_of_it(tmp_path: Path) -> None:
    """Case G2: -100°..100° only touches a 100..200 map at its west edge; it labelled all 100 columns."""
    from hsi_app.errors import LabelError
    from hsi_app.io.vector import Grid

    grid = Grid(10, 100, Affine(1, 0, 100, 0, -1, 60), CRS.from_epsg(4326), "100..200 map")
    assert _expected_columns(100, 100, -100, 100) == []
    with pytest.raises(LabelError, match="none of the 1 features overlaps 100..200 map"):
        _labels(tmp_path, grid, box(-100, 52, 100, 58))


def test_a_label_across_greenwich_labels_both_ends_of_a_0_to_360_map(tmp_path: Path) -> None:
    """Case B: -5°..5° on a 0..360 map covers 0..5 and 355..360; the western half was dropped."""
    from hsi_app.io.vector import Grid

    grid = Grid(20, 360, Affine(1, 0, 0, 0, -1, 60), CRS.from_epsg(4326), "0..360 map")
    labels = _labels(tmp_path, grid, box(-5, 45, 5, 55))
    cols = np.flatnonzero((labels > 0).any(axis=0)).tolist()
    assert cols == _expected_columns(0, 360, -5, 5) == [0, 1, 2, 3, 4, 355, 356, 357, 358, 359]
    assert labels.sum() == 10 * 10


def test_a_label_in_0_to_360_labels_both_ends_of_a_global_minus_180_map(tmp_path: Path) -> None:
    """The mirror case: 170°..190° drawn on a 0..360 basis covers 170..180 and -180..-170 of a -180..180 map."""
    from hsi_app.io.vector import Grid

    grid = Grid(20, 360, Affine(1, 0, -180, 0, -1, 60), CRS.from_epsg(4326), "global map")
    labels = _labels(tmp_path, grid, box(170, 45, 190, 55))
    cols = np.flatnonzero((labels > 0).any(axis=0)).tolist()
    assert cols == _expected_columns(-180, 360, 170, 190) == [*range(10), *range(350, 360)]
