"""The viewer's notebook helpers given what a notebook user may pass by mistake: a numpy array instead of a Cube
is one ConfigError naming make_cube (was ``'numpy.ndarray' object has no attribute 'hsi'``), and a fractional
pixel position is refused (``pixel_spectrum(cube, 10.5, 3)`` silently read row 10)."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.io import make_cube

WL = np.linspace(450.0, 900.0, 6)


@pytest.mark.parametrize("call", [
    lambda a: viewer.describe_scene(a), lambda a: viewer.composite(a), lambda a: viewer.map_extent(a),
    lambda a: viewer.spectrum_figure(a, 1, 1), lambda a: viewer.pixel_spectrum(a, 1, 1),
    lambda a: viewer.default_rgb_bands(a),
])
def test_a_numpy_array_is_one_line_naming_make_cube(call) -> None:  # noqa: ANN001
    array = np.ones((6, 8, 9), np.float32)
    with pytest.raises(ConfigError, match=r"takes a Cube .* got a numpy\.ndarray; wrap the \(6, 8, 9\) array: "
                                          r"hsi_app\.io\.make_cube"):
        call(array)


def test_pixels_are_picked_by_whole_numbers() -> None:
    values = np.arange(6 * 4 * 5, dtype=np.float32).reshape(6, 4, 5)
    cube = make_cube(values, wavelength=WL)
    np.testing.assert_array_equal(viewer.pixel_spectrum(cube, np.int64(2), 3.0), values[:, 2, 3])  # whole: fine
    for row, col in ((2.5, 3), (2, float("nan")), (True, 1)):
        with pytest.raises(InvalidDataError, match="whole row and column numbers"):
            viewer.pixel_spectrum(cube, row, col)
