"""predictor.no_data_as_nan on float32 windows (mutation audit s57): the caller's array is never written, a window
already NaN at its no-data pixels comes back as it is, and bad bands never make a pixel no data."""

from __future__ import annotations

import numpy as np

from hsi_app.predictor import no_data_as_nan


def _window() -> np.ndarray:
    return np.random.default_rng(7).uniform(0.1, 0.5, (4, 5, 6)).astype(np.float32)


def test_a_float32_window_is_masked_in_a_copy() -> None:
    image = _window()
    image[2, 1, 1] = -9999.0  # one band's fill: the pixel is no data in every band
    image[0, 3, 4] = np.nan
    given = image.copy()
    out = no_data_as_nan(image, -9999.0, np.zeros(4, bool))
    np.testing.assert_array_equal(image, given)  # not written
    want = given.copy()
    want[:, 1, 1] = np.nan
    want[:, 3, 4] = np.nan
    np.testing.assert_array_equal(out, want)


def test_a_window_already_nan_at_its_no_data_is_returned_as_it_is() -> None:
    image = _window()
    image[:, 2, 2] = np.nan
    assert no_data_as_nan(image, -9999.0, np.zeros(4, bool)) is image


def test_a_bad_bands_fill_leaves_the_pixel_measured() -> None:
    image = _window()
    image[3, 0, 0] = -9999.0  # band 4 is bad: its fill is no reason to drop the pixel
    bad = np.array([False, False, False, True])
    out = no_data_as_nan(image, -9999.0, bad)
    np.testing.assert_array_equal(out, image)
    image[1, 0, 0] = -9999.0
    assert np.isnan(no_data_as_nan(image, -9999.0, bad)[:, 0, 0]).all()
