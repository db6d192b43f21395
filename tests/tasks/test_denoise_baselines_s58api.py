"""pca_denoise / mnf_denoise / restoration_metrics called from a notebook with inputs they cannot use: one HSIError
line naming the argument and the fix, never SPy's or numpy's traceback (s58 Python API audit)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from hsi_app.errors import ConfigError, HSIError, InvalidDataError
from hsi_app.tasks.denoise_baselines import mnf_denoise, pca_denoise
from hsi_app.tasks.denoise_metrics import restoration_metrics


def _smooth_rank3(c: int = 10, h: int = 24, w: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(clean, noisy)`` ``(c, h, w)``: three spatially smooth sources mixed into ``c`` bands, plus white noise."""
    rng = np.random.default_rng(seed)
    sources = np.stack([gaussian_filter(rng.normal(size=(h, w)), 3) for _ in range(3)])
    sources /= sources.std()
    clean = np.einsum("ck,khw->chw", rng.normal(size=(c, 3)), sources) + 2.0
    return clean, clean + 0.05 * rng.normal(size=clean.shape)


@pytest.mark.parametrize("shape", [(1, 8, 8), (6, 1, 8), (6, 8, 1), (6, 1, 1)])
def test_mnf_on_too_small_a_cube_is_one_line_and_pca_still_works(shape: tuple[int, int, int]) -> None:
    noisy = np.random.default_rng(0).normal(size=shape)
    with pytest.raises(ConfigError, match=r"^mnf_denoise: noisy has shape .*at least 2 bands and 2 x 2 pixels.*"
                                          r"pca_denoise$"):
        mnf_denoise(noisy, 1)
    assert pca_denoise(noisy, 1).shape == shape  # the documented alternative takes it


def test_mnf_with_a_constant_band_is_one_line() -> None:
    _, noisy = _smooth_rank3()
    cube = np.concatenate([noisy, np.full((1, *noisy.shape[1:]), 0.3)])  # e.g. a filled bad band
    before = cube.copy()
    with pytest.raises(InvalidDataError, match=r"^mnf_denoise: the noise covariance .* singular .*constant.*"
                                               r"pca_denoise$") as err:
        mnf_denoise(cube, 3)
    assert "\n" not in str(err.value)
    assert np.array_equal(cube, before)


def test_mnf_matches_an_independent_noise_whitened_projection() -> None:
    clean, noisy = _smooth_rank3()
    before = noisy.copy()
    got = mnf_denoise(noisy, 3)
    c, h, w = noisy.shape
    x = noisy.reshape(c, -1).T
    diffs = (noisy[:, :-1, :-1] - noisy[:, 1:, 1:]).reshape(c, -1)
    vals, vecs = np.linalg.eigh(np.cov(diffs) / 2)  # noise covariance: half that of diagonal neighbours' differences
    white, unwhite = vecs @ np.diag(vals ** -0.5) @ vecs.T, vecs @ np.diag(vals ** 0.5) @ vecs.T
    mean = x.mean(0)
    z = (x - mean) @ white
    _, u = np.linalg.eigh(np.cov(z.T))
    u = u[:, ::-1][:, :3]
    want = ((z @ u @ u.T) @ unwhite + mean).T.reshape(c, h, w)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.sqrt(np.mean((got - clean) ** 2)) < 0.8 * np.sqrt(np.mean((noisy - clean) ** 2))
    assert np.array_equal(noisy, before)


@pytest.mark.parametrize("fn", [pca_denoise, mnf_denoise])
def test_an_empty_cube_is_one_line(fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=rf"^{fn.__name__}: noisy has shape \(4, 0, 5\), no values"):
        fn(np.zeros((4, 0, 5)), 1)


def test_complex_values_are_refused_not_cast() -> None:
    _, noisy = _smooth_rank3()
    with pytest.raises(ConfigError, match=r"^pca_denoise: noisy holds complex128 values; pass real numbers"):
        pca_denoise(noisy.astype(complex), 2)  # it used to drop the imaginary part with only a ComplexWarning


@pytest.mark.parametrize("name, kwargs", [("offset", {"offset": "a"}), ("scale", {"scale": None}),
                                          ("scale", {"scale": float("nan")})])
def test_restoration_metrics_offset_and_scale_are_numbers(name: str, kwargs: dict) -> None:
    _, noisy = _smooth_rank3(c=3, h=12, w=12)
    est = np.clip(noisy / 5, 0, 1)
    with pytest.raises(HSIError, match=rf"^restoration metrics: {name}=.*; it is a finite number"):
        restoration_metrics(est, est, **kwargs)


def test_restoration_metrics_on_raw_values_warns_once() -> None:
    from hsi_app.errors import HSIWarning

    clean, noisy = _smooth_rank3(c=4, h=12, w=12)
    ref = np.clip(clean / 5, 0, 1)
    est = np.clip(noisy / 5, 0, 1)
    raw_ref, raw_est = np.round(ref * 10000).astype(np.int16), np.round(est * 10000).astype(np.int16)
    with pytest.warns(HSIWarning, match=r"^restoration_metrics: the reference's values have a median magnitude of "
                                        r"\d+; PSNR and SSIM take values on the \[0, 1\] scale") as record:
        restoration_metrics(raw_est, raw_ref)
    assert len(record) == 1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = restoration_metrics(est, ref)  # the normalised values: no warning, and the PSNR of the MSE
    assert got["psnr"] == pytest.approx(10 * np.log10(1 / np.mean((est - ref) ** 2)), abs=1e-3)


def test_a_cube_with_no_data_is_told_how_to_fill_its_values() -> None:
    from hsi_app.io import make_cube

    _, noisy = _smooth_rank3(c=4, h=10, w=10)
    raw = np.round(noisy * 1000).astype(np.int16)
    raw[:, 0, 0] = -9999
    cube = make_cube(raw, wavelength=np.linspace(400.0, 700.0, 4), nodata=-9999)
    # np.nan_to_num(cube), the fix it was given, keeps -9999 as a value
    with pytest.raises(InvalidDataError, match=r"^pca_denoise: 1 of 100 pixels hold NaN or inf \(no data\); fill them "
                                               r"first \(e\.g\. np\.nan_to_num\(cube\.hsi\.read_masked\(\)\[0\]\)"):
        pca_denoise(cube, 2)
    filled = np.nan_to_num(cube.hsi.read_masked()[0])
    assert filled[0, 0, 0] == 0 and pca_denoise(filled, 2).shape == (4, 10, 10)
