"""Band-axis helpers the notebooks use on a user's scene (hsi_app.viewer.bands)."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import make_cube


def _cube(wavelength: np.ndarray | None, *, bad: list[int] | None = None, nodata: float | None = None,
          values: np.ndarray | None = None):
    data = values if values is not None else np.arange(6 * 4 * 5, dtype=np.float32).reshape(6, 4, 5)
    return make_cube(data, wavelength=wavelength, bad_bands=bad, nodata=nodata)


def test_band_axis_is_wavelength_or_band_numbers() -> None:
    wl = np.array([450.0, 550.0, 650.0, 860.0, 1600.0, 2200.0])
    xs, label = viewer.band_axis(_cube(wl))
    assert label == "wavelength (nm)" and np.array_equal(xs, wl)
    xs, label = viewer.band_axis(_cube(None))          # no wavelengths: band numbers, not six NaN
    assert label == "band" and xs.tolist() == [1, 2, 3, 4, 5, 6]


def test_nearest_band_within_tolerance_and_good_bands_only() -> None:
    wl = np.array([450.0, 550.0, 650.0, 860.0, 1600.0, 2200.0])
    assert viewer.nearest_band(_cube(wl), 870.0, within=50) == 3
    assert viewer.nearest_band(_cube(wl), 1000.0, within=50) is None          # no band that close
    assert viewer.nearest_band(_cube(wl, bad=[3]), 870.0, within=50) is None   # the only one is flagged bad
    assert viewer.nearest_band(_cube(wl, bad=[3]), 870.0, within=800) == 2     # the nearest good one
    assert viewer.nearest_band(_cube(None), 550.0, within=50) is None


def test_good_band_values_fill_no_data_with_band_medians() -> None:
    wl = np.array([450.0, 550.0, 650.0, 860.0, 1600.0, 2200.0])
    values = np.arange(6 * 4 * 5, dtype=np.float32).reshape(6, 4, 5)
    values[:, 0, 0] = -9999.0          # a no-data pixel in every band
    values[1, 2, 3] = np.nan           # one missing value in one good band
    good, filled, scored = viewer.good_band_values(_cube(wl, bad=[4], nodata=-9999.0, values=values))
    assert good.hsi.shape == (5, 4, 5) and good.hsi.wavelengths.tolist() == [450.0, 550.0, 650.0, 860.0, 2200.0]
    assert np.isfinite(filled).all() and filled.dtype == np.float32
    measured = np.ones((4, 5), bool)
    measured[0, 0] = measured[2, 3] = False   # the pixels with data in every band
    assert filled[1, 0, 0] == np.median(values[1][measured]) and filled[1, 2, 3] == np.median(values[1][measured])
    assert filled[4, 1, 1] == values[5, 1, 1] and filled[4, 0, 0] == np.median(values[5][measured])   # good band 5 = band 6
    assert np.array_equal(scored, measured)


def test_good_band_values_refuse_a_scene_without_data() -> None:
    with pytest.raises(InvalidDataError, match="every band is flagged bad"):
        viewer.good_band_values(_cube(None, bad=list(range(6))))


def test_nearest_valid_pixel() -> None:
    valid = np.ones((5, 6), bool)
    assert viewer.nearest_valid_pixel(valid, 2, 3) == (2, 3)
    valid[1:4, 2:5] = False            # a cloud over the centre
    row, col = viewer.nearest_valid_pixel(valid, 2, 3)
    assert valid[row, col] and (row - 2) ** 2 + (col - 3) ** 2 == 4
    with pytest.raises(InvalidDataError):
        viewer.nearest_valid_pixel(np.zeros((2, 2), bool), 0, 0)


def test_describe_scene_names_labels_without_class_names() -> None:
    """A scene with a label map of class numbers (a ``.npy``) was described as if it had no labels."""
    labels = np.zeros((4, 5), np.int32)
    labels[0], labels[2, :2] = 3, 1
    text = viewer.describe_scene(make_cube(np.ones((2, 4, 5), np.float32), labels=labels))
    assert text.endswith(", reference labels (2 classes, no names)"), text
    named = make_cube(np.ones((2, 4, 5), np.float32), labels=labels, class_names=["none", "a", "b", "c"])
    assert viewer.describe_scene(named).endswith(", 3 reference classes")
    assert "reference" not in viewer.describe_scene(make_cube(np.ones((2, 4, 5), np.float32)))
