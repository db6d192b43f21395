"""`hsi info`'s bad-band line names bands as every other message does: 1-based numbers with their centres."""

from __future__ import annotations

import numpy as np

from hsi_app.io.cube import make_cube
from hsi_app.io.summary import format_summary, summarize


def _cube(wavelength: list[float] | None, bad: list[int]) -> object:
    data = np.random.default_rng(0).random((6, 4, 5)).astype(np.float32)
    return make_cube(data, wavelength=wavelength, bad_bands=bad, source="scene.tif")


def test_bad_bands_are_1_based_numbers_with_wavelengths_in_text_and_0_based_in_the_dict() -> None:
    """The text showed '2 (2, 5)', the 0-based indices of bands 3 (650 nm) and 6 (950 nm)."""
    info = summarize(_cube([450.0, 550.0, 650.0, 750.0, 850.0, 950.0], [2, 5]))
    assert info["bad_bands"] == [2, 5] and info["bad_band_numbers"] == [3, 6]
    assert "\nbad bands    2: bands 3 (650 nm) and 6 (950 nm)\n" in format_summary(info)


def test_bad_bands_without_wavelengths_and_none() -> None:
    assert "\nbad bands    1: band 1\n" in format_summary(summarize(_cube(None, [0])))
    assert "\nbad bands    0\n" in format_summary(summarize(_cube(None, [])))
