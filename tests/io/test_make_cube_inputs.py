"""make_cube and write_cube given inputs they cannot use: one HSIError line each, naming the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import BandMismatchError, ConfigError
from hsi_app.io import make_cube
from hsi_app.io.cog import write_cube

DATA = np.random.default_rng(0).random((4, 10, 12), dtype=np.float32)


def test_per_band_values_of_another_length_are_a_band_mismatch() -> None:
    with pytest.raises(BandMismatchError, match=r"^make_cube: wavelength has 2 values for 4 bands; pass one per band$"):
        make_cube(DATA, wavelength=[500.0, 600.0])
    with pytest.raises(BandMismatchError, match=r"^make_cube: fwhm has 5 values for 4 bands"):
        make_cube(DATA, fwhm=np.ones(5))


def test_bad_bands_outside_the_bands_are_refused_and_a_mask_is_taken() -> None:
    with pytest.raises(ConfigError, match=r"^make_cube: bad_bands \[7\] outside 0\.\.3; they are 0-based indices"):
        make_cube(DATA, bad_bands=[1, 7])
    with pytest.raises(ConfigError, match=r"bad_bands \[-1\] outside 0\.\.3"):
        make_cube(DATA, bad_bands=[-1])
    np.testing.assert_array_equal(make_cube(DATA, bad_bands=[1, 3]).bad_band.values, [False, True, False, True])
    mask = np.array([True, False, False, True])
    np.testing.assert_array_equal(make_cube(DATA, bad_bands=mask).bad_band.values, mask)


def test_data_of_another_rank_and_coordinates_of_another_length_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^make_cube: data has shape \(10, 12\); pass a \(C, H, W\) array.*data\[None\]"):
        make_cube(DATA[0])
    with pytest.raises(ConfigError, match=r"^make_cube: x has 5 values for 12 columns"):
        make_cube(DATA, x=np.arange(5.0))
    with pytest.raises(ConfigError, match=r"^make_cube: y has 12 values for 10 rows"):
        make_cube(DATA, y=np.arange(12.0))


def test_write_cube_given_an_array_says_to_make_a_cube_first(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^write_cube: takes a Cube .*got a numpy.ndarray; wrap the \(4, 10, 12\) "
                                          r"array: hsi_app.io.make_cube\(array"):
        write_cube(tmp_path / "x.tif", DATA)
    assert not (tmp_path / "x.tif").exists()
    write_cube(tmp_path / "x.tif", make_cube(DATA), progress=False)  # the fix named works
    assert (tmp_path / "x.tif").exists()
