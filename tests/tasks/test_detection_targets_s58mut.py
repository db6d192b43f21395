"""Mutation audit s58: target_spectra's refusals name the target that is 0 at every band, library or pixel."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import make_cube
from hsi_app.io.spectral_library import SpectralLibrary
from hsi_app.tasks.detection import target_spectra

WL = np.array([500.0, 600.0, 700.0, 800.0])


def _cube():  # noqa: ANN202
    rng = np.random.default_rng(4)
    data = (0.3 + 0.05 * rng.standard_normal((4, 10, 12))).astype(np.float32)
    data[:, 2, 3] = 0.0  # a fill not marked as no-data
    return make_cube(data, wavelength=WL)


def _library(second: float = 0.4) -> SpectralLibrary:
    spectra = np.array([np.linspace(0.1, 0.5, 4), np.full(4, second)])
    return SpectralLibrary(names=["paint", "tarp"], wavelengths=WL.copy(), spectra=spectra, source="lib.csv")


def test_a_zero_pixel_after_library_materials_is_named_as_the_pixel() -> None:
    with pytest.raises(InvalidDataError, match=r"^--target-pixel 2,3 \(pixels= in Python\): that pixel is 0 at every "
                                               "band"):
        target_spectra(_cube(), library=_library(), pixels=[(2, 3), (5, 6)], scale=1.0)


def test_a_zero_library_material_is_named_with_the_callers_way_to_leave_it_out() -> None:
    with pytest.raises(InvalidDataError, match=r"material 'tarp' is 0 at every band .*; check the column, or "
                                               r"remove the column$"):
        target_spectra(_cube(), library=_library(second=0.0), pixels=[(5, 6)], scale=1.0,
                       leave_out="remove the column")


def test_a_pixel_given_twice_is_one_target_after_the_library() -> None:
    spectra, names = target_spectra(_cube(), library=_library(), pixels=[(5, 6), (5, 6), (1, 1)], scale=1.0)
    assert names == ["paint", "tarp", "pixel_5_6", "pixel_1_1"]
    cube = _cube()
    np.testing.assert_allclose(spectra[2], cube.values[:, 5, 6], rtol=1e-6)
    np.testing.assert_allclose(spectra[3], cube.values[:, 1, 1], rtol=1e-6)
