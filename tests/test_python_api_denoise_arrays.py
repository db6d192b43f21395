"""Denoising baselines, add_noise and resample_cube from a notebook: a Cube or (C, H, W) array in, mistakes one line."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.noise import add_noise
from hsi_app.data.resample import resample_cube, resampling_matrix
from hsi_app.errors import BandMismatchError, ConfigError, InvalidDataError
from hsi_app.io import make_cube
from hsi_app.tasks.denoise_baselines import gaussian_denoise, median_denoise, mnf_denoise, pca_denoise

C, H, W = 6, 12, 15
WL = np.linspace(450.0, 900.0, C)


def _clean() -> np.ndarray:
    """Rank-2 spectra: two fixed spectra mixed with smooth abundances, so PCA with k=2 recovers them."""
    rng = np.random.default_rng(0)
    spectra = rng.random((C, 2))
    yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
    abundances = np.stack([np.sin(3 * yy) + 1.5, np.cos(2 * xx) + 1.5])
    return (spectra @ abundances.reshape(2, -1)).reshape(C, H, W).astype(np.float32)


def test_a_cube_denoises_like_its_values() -> None:
    clean = _clean()
    cube = make_cube(clean, wavelength=WL)
    np.testing.assert_allclose(pca_denoise(cube, 2), clean, atol=1e-4)  # rank 2: PCA with k=2 is exact
    np.testing.assert_array_equal(mnf_denoise(cube, 2), mnf_denoise(clean, 2))
    np.testing.assert_array_equal(median_denoise(cube, 3), median_denoise(clean, 3))
    with pytest.raises(ConfigError, match=r"transpose\('band', 'y', 'x'\)"):
        pca_denoise(cube.transpose("y", "x", "band"), 2)


def test_a_cubes_no_data_value_is_no_data_not_a_value_to_smooth() -> None:
    """An int16 Cube with no-data -9999: its fill pixels were smoothed into their neighbours as values (review s56
    #3); now they are NaN, as the same pixels of a float array are, and the spectral baselines ask to fill them."""
    stored = np.round(_clean() * 1000).astype(np.int16)
    stored[:, 4, 5] = -9999
    cube = make_cube(stored, wavelength=WL, nodata=-9999)
    as_nan = stored.astype(np.float32)
    as_nan[:, 4, 5] = np.nan
    assert np.isnan(gaussian_denoise(cube, 1.0)[:, 4, 5]).all()
    with pytest.raises(InvalidDataError, match=r"^pca_denoise: 1 of 180 pixels hold NaN or inf \(no data\)"):
        pca_denoise(cube, 2)


def test_shapes_values_and_parameters_are_refused_in_one_line() -> None:
    clean = _clean()
    with pytest.raises(ConfigError, match=r"^pca_denoise: noisy has shape \(12, 15\); pass a \(C, H, W\) cube"):
        pca_denoise(clean[0], 2)
    holes = clean.copy()
    holes[:, 3, 4] = np.nan
    with pytest.raises(InvalidDataError, match=r"^mnf_denoise: 1 of 180 pixels hold NaN or inf \(no data\); "
                                               r"fill them first"):
        mnf_denoise(holes, 2)
    with pytest.raises(InvalidDataError, match=r"^pca_denoise: 1 of 180 pixels"):
        pca_denoise(holes, 2)
    with pytest.raises(ConfigError, match=r"^median_denoise: size=0; it is a whole number, 1 or more$"):
        median_denoise(clean, 0)
    with pytest.raises(ConfigError, match=r"^pca_denoise: k=0;"):
        pca_denoise(clean, 0)
    with pytest.raises(ConfigError, match=r"^gaussian_denoise: sigma=-1; .*0 or more$"):
        gaussian_denoise(clean, -1)
    with pytest.raises(ConfigError, match=r"^add_noise: x has shape \(12, 15\); pass a \(C, H, W\) cube"):
        add_noise(clean[0], "gaussian:30", seed=0)
    np.testing.assert_array_equal(add_noise(clean[:1], "gaussian:30", seed=0).shape, (1, H, W))


def test_resample_cube_names_the_transpose() -> None:
    clean = _clean()
    m = resampling_matrix(WL, np.array([500.0, 700.0]), np.array([50.0, 50.0]))
    out = resample_cube(clean, m)
    np.testing.assert_allclose(out[:, 2, 3], m @ clean[:, 2, 3], rtol=1e-5)
    with pytest.raises(BandMismatchError, match=r"^resample_cube: image has shape \(12, 15, 6\) and the matrix "
                                                r"\(2, 6\) \(C_dst, C_src\); pass image\.transpose\(2, 0, 1\)"):
        resample_cube(clean.transpose(1, 2, 0), m)
    with pytest.raises(BandMismatchError, match=r"pass a \(6, H, W\) array"):
        resample_cube(clean[:5], m)


def test_the_median_baseline_refuses_no_data_as_pca_does() -> None:
    """scipy's median of NaN is undefined: an int16 cube's no-data pixel came back holding a value (final read s56 #7)."""
    stored = np.round(_clean() * 1000).astype(np.int16)
    stored[:, 4, 5] = -9999
    with pytest.raises(InvalidDataError, match=r"^median_denoise: 1 of 180 pixels hold NaN or inf \(no data\)"):
        median_denoise(make_cube(stored, wavelength=WL, nodata=-9999), 3)
