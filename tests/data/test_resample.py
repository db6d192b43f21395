"""Gaussian spectral resampling: known weights, invariants, refusal without overlap."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.resample import FWHM_TO_SIGMA, resample_cube, resampling_matrix
from hsi_app.errors import BandMismatchError


def test_rows_sum_to_one_and_constant_spectra_stay_constant() -> None:
    src = np.linspace(400, 2500, 200)
    dst = np.linspace(420, 2440, 224)
    m = resampling_matrix(src, dst, np.full(224, 8.0))
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    cube = np.full((200, 3, 4), 0.37, dtype=np.float32)
    np.testing.assert_allclose(resample_cube(cube, m), 0.37, rtol=1e-6)


def test_weights_are_the_gaussian_response() -> None:
    src = np.array([500.0, 510.0, 520.0])
    m = resampling_matrix(src, np.array([510.0]), np.array([20.0]))
    sigma = 20.0 * FWHM_TO_SIGMA
    w = np.exp(-0.5 * ((src - 510.0) / sigma) ** 2)
    np.testing.assert_allclose(m[0], w / w.sum())


def test_linear_spectrum_is_sampled_at_band_centres() -> None:
    src = np.linspace(400, 1000, 601)  # 1 nm sampling
    dst = np.array([450.0, 700.0, 950.0])
    spectrum = (0.001 * src)[:, None, None].astype(np.float32)
    out = resample_cube(spectrum, resampling_matrix(src, dst, np.array([10.0, 10.0, 10.0])))
    np.testing.assert_allclose(out[:, 0, 0], 0.001 * dst, rtol=1e-4)


def test_narrow_target_falls_back_to_nearest_band() -> None:
    m = resampling_matrix(np.array([400.0, 500.0, 600.0]), np.array([498.0]), np.array([0.5]))
    np.testing.assert_allclose(m, [[0.0, 1.0, 0.0]])


def test_no_overlap_and_unknown_wavelengths_are_refused() -> None:
    with pytest.raises(BandMismatchError, match="no spectral overlap"):
        resampling_matrix(np.linspace(400, 900, 50), np.linspace(1000, 2000, 10))
    with pytest.raises(BandMismatchError, match="known wavelengths"):
        resampling_matrix(np.array([np.nan, 500.0]), np.array([500.0]))
