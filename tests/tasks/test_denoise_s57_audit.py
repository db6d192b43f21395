"""Session 57 denoising audit: the baselines of ``hsi denoise --baselines`` are scored as the model is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin
from scipy.ndimage import correlate1d

from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoise_baselines import gaussian_denoise, pca_denoise
from hsi_app.tasks.denoise_scene import scene_baselines
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoising import WL, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ssim_mean(est: np.ndarray, ref: np.ndarray, keep: np.ndarray) -> float:
    """Mean over ``keep`` of the per-band SSIM maps (11 x 11 Gaussian, sigma 1.5, reflect padding, peak 1) of two
    ``(C, H, W)`` arrays whose unscored entries are 0 in both: written here from Wang et al.'s formula."""
    x = np.arange(11) - 5
    g = np.exp(-x**2 / (2 * 1.5**2))
    g /= g.sum()

    def blur(a: np.ndarray) -> np.ndarray:
        p = np.pad(a, 5, mode="reflect")
        p = correlate1d(correlate1d(p, g, axis=0, mode="constant"), g, axis=1, mode="constant")
        return p[5:-5, 5:-5]

    c1, c2 = 0.01**2, 0.03**2
    maps = []
    for e, r in zip(np.where(keep, est, 0.0), np.where(keep, ref, 0.0), strict=True):
        me, mr = blur(e), blur(r)
        vee, vrr, ver = blur(e * e) - me * me, blur(r * r) - mr * mr, blur(e * r) - me * mr
        maps.append((2 * me * mr + c1) * (2 * ver + c2) / ((me * me + mr * mr + c1) * (vee + vrr + c2)))
    return float(np.stack(maps)[keep].mean())


def test_baseline_ssim_sees_a_reference_collar_as_the_model_row_does(tmp_path: Path) -> None:
    """A reference with a no-data collar (a real product's swath edge) and a full input: the model's row zeroes
    estimate and reference where the reference has no data, but the baselines were scored against a reference
    set to 0 there beside their own values, a false edge in every SSIM window near the collar (0.03 lower on
    this scene). PSNR and SAM did not change."""
    rng = np.random.default_rng(1)
    clean = smooth_cube(h=40, w=48)
    noisy = (clean + rng.normal(0, 150, clean.shape)).astype(np.float32)
    yy, xx = np.mgrid[0:40, 0:48]
    collar = (xx + yy < 18) | (yy > 33)
    ref = clean.copy()
    ref[:, collar] = np.nan
    grid = {"crs": "EPSG:32633", "transform": from_origin(500000, 4600000, 30, 30)}
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    got = scene_baselines(make_cube(noisy, wavelength=WL, **grid), make_cube(ref, wavelength=WL, **grid), den,
                          noise=None, seed=0)
    x, r = (noisy - den.offset) / den.scale, (clean - den.offset) / den.scale
    keep = np.broadcast_to(~collar, x.shape)
    for name, fn, key in (("pca", pca_denoise, "k"), ("gaussian", gaussian_denoise, "sigma")):
        est = fn(x, got[name]["param"][key]).astype(np.float64)
        want = _ssim_mean(est, r, keep)
        assert got[name]["ssim"] == pytest.approx(want, abs=2e-5), name
        mse = np.mean((est - r)[keep] ** 2)
        assert got[name]["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-3)


def test_a_band_without_data_anywhere_is_flagged_bad_as_training_flags_it(tmp_path: Path) -> None:
    """A GeoTIFF export that kept a water-vapour band as no-data everywhere: ``hsi train --task denoise`` flags
    it bad and trains on the other bands, but ``denoise_cube`` refused the scene ("pass --fill-nan"), and with
    ``fill_nan`` it gave the model that band as one constant and scored no SAM (every pixel had a band unscored).
    The result must be that of the same scene with the band named in its bad-band list."""
    import warnings

    import rasterio

    from hsi_app.errors import HSIWarning
    from hsi_app.tasks.denoise_scene import denoise_cube

    rng = np.random.default_rng(2)
    clean = smooth_cube(h=40, w=48)
    noisy = (clean + rng.normal(0, 150, clean.shape)).astype(np.float32)
    noisy[3] = -9999.0
    grid = {"crs": "EPSG:32633", "transform": from_origin(500000, 4600000, 30, 30), "nodata": -9999.0}
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    ref = make_cube(clean, wavelength=WL, **grid)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = denoise_cube(den, make_cube(noisy, wavelength=WL, **grid), tmp_path / "a.tif", reference=ref,
                           progress=False)
    assert any(issubclass(w.category, HSIWarning) and "band 4" in str(w.message) for w in caught)
    want = denoise_cube(den, make_cube(noisy, wavelength=WL, bad_bands=[3], **grid), tmp_path / "b.tif",
                        reference=ref, progress=False)
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert np.isnan(a.read(4)).all()
    assert got.metrics == want.metrics and np.isfinite(got.metrics["denoised"]["sam"])


def test_denoising_an_in_memory_cube_leaves_the_callers_array_alone(tmp_path: Path) -> None:
    """``denoise_cube(den, make_cube(array, nodata=-9999), ..., fill_nan=True)`` wrote NaN into ``array`` at every
    no-data value (the window read set them in a view of it), so a notebook's scene changed under it."""
    from hsi_app.tasks.denoise_scene import denoise_cube

    data = smooth_cube(h=40, w=48)
    data[:, :3, :3] = -9999.0
    data[2, 20, 30] = -9999.0
    before = data.copy()
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    cube = make_cube(data, wavelength=WL, nodata=-9999.0)
    with pytest.warns(UserWarning, match="filled before denoising"):
        res = denoise_cube(den, cube, tmp_path / "o.tif", fill_nan=True, reference=cube, progress=False)
    np.testing.assert_array_equal(data, before)
    assert res.filled == 8 * 9 + 1 and np.isfinite(res.metrics["denoised"]["psnr"])


def test_a_scene_in_other_units_with_no_data_in_its_centre_is_still_refused(tmp_path: Path) -> None:
    """The units check read only the central 256-px window: two swath strips with no data between them (a
    mosaic of two passes) in reflectance 0-1, given to a model trained on counts 1000-5000, passed unchecked
    and were denoised into nonsense with --fill-nan."""
    from hsi_app.errors import InvalidDataError
    from hsi_app.tasks.denoise_scene import denoise_cube

    data = smooth_cube(h=40, w=600) / 10000.0  # 0.1-0.5: the counts' values as reflectance
    data[:, :, 120:480] = np.nan
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")  # trained on 1000-5000
    with pytest.raises(InvalidDataError, match=r"so the scene is in other units"):
        denoise_cube(den, make_cube(data.astype(np.float32), wavelength=WL), tmp_path / "o.tif", fill_nan=True,
                     progress=False)
    assert not (tmp_path / "o.tif").exists()
