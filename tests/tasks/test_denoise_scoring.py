"""No-data is not scored: ``hsi denoise --reference`` (denoise_cube) and the held-out evaluation of training.

Expected values come from the numpy definitions in ``test_denoise_metrics`` applied to the
valid entries only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.noise import add_noise
from hsi_app.io import open_cube
from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoise_baselines import BASELINES
from hsi_app.tasks.denoise_scene import denoise_cube
from hsi_app.tasks.denoising import EVAL_SEED_OFFSET, DenoiseOptions, Denoiser, train_denoiser

from .test_denoise_metrics import np_psnr, np_sam, np_ssim_map
from .test_denoising import WL, geotiff, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_reference_no_data_is_not_scored(tmp_path: Path) -> None:
    # 53 px wide with --window 52: the last core window is 1 px wide (used to crash SSIM)
    clean = smooth_cube(h=56, w=53)
    ref = clean.copy()
    ref[:, 10:30, 0:20] = np.nan  # a no-data block of the reference
    ref[3, 40, 40] = np.nan  # one band of one pixel
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")  # offset 1000, scale 4000
    res = denoise_cube(den, open_cube(geotiff(tmp_path / "in.tif", clean)), tmp_path / "out.tif", window=52,
                       reference=open_cube(geotiff(tmp_path / "ref.tif", ref)), noise="noniid", seed=3, progress=False)
    assert res.windows == 4 and res.metrics is not None
    norm, norm_ref = (clean - 1000.0) / 4000.0, (ref - 1000.0) / 4000.0
    noisy = add_noise(norm, "noniid", 3)
    keep = np.isfinite(norm_ref)
    got = res.metrics["input"]
    glob, mean_band = np_psnr(noisy, norm, keep)
    assert got["psnr"] == pytest.approx(glob, abs=2e-3)
    assert got["mpsnr"] == pytest.approx(mean_band, abs=2e-3)
    assert got["mpsnr"] > got["psnr"] + 1  # non-i.i.d. noise: the two definitions differ
    assert got["sam"] == pytest.approx(np_sam(noisy, norm, keep, 1000.0, 4000.0), rel=1e-3)
    # SSIM: the halo (24 px) gives every window its 5 px of context, so the windowed value is the
    # one-shot map (no-data zeroed in both) averaged over the valid entries
    ssim_map = np_ssim_map(np.where(keep, noisy, 0), np.where(keep, norm_ref, 0), 11, 1.5)
    assert got["ssim"] == pytest.approx(ssim_map[keep].mean(), abs=1e-4)
    assert all(np.isfinite(v) for v in res.metrics["denoised"].values())


def test_zero_spectra_in_the_reference_do_not_make_sam_nan(tmp_path: Path) -> None:
    run = untrained_run(tmp_path, offset=0.0, scale=5000.0)  # raw = 5000 * value: zero spectra stay zero
    den = Denoiser.load(run, device="cpu")
    zero = smooth_cube(h=40, w=40)
    zero[:, 5:9, 5:9] = 0.0  # all-zero raw spectra in input and reference
    res = denoise_cube(den, open_cube(geotiff(tmp_path / "in.tif", zero)), tmp_path / "out.tif",
                       reference=open_cube(geotiff(tmp_path / "ref.tif", zero)), progress=False)
    assert res.metrics is not None
    assert res.metrics["input"]["sam"] == pytest.approx(0.0, abs=1e-6)  # identical spectra, zeros skipped
    assert np.isfinite(res.metrics["denoised"]["sam"])


def test_held_out_no_data_is_not_scored(tmp_path: Path) -> None:
    image = smooth_cube()  # (8, 32, 40): held-out columns 26-39
    image[:, 4:20, 30:36] = np.nan  # no-data inside the held-out block
    cube = make_cube(image, wavelength=WL)
    opts = DenoiseOptions(model="test_hsdt", noise="stripe", epochs=1, steps_per_epoch=1, batch_size=2, patch=16,
                          band_chunk=0, progress=False, threads=1)
    m = train_denoiser(cube, tmp_path / "run", opts)
    lo = float(np.nanmin(image[:, :, :26]))
    scale = float(np.nanmax(image[:, :, :26])) - lo
    block = image[:, :, 26:]
    keep = np.isfinite(block)
    norm = (image - lo) / scale  # no-data filled with the band's median over the scene, as hsi denoise --fill-nan
    clean = np.where(np.isnan(norm), np.nanmedian(norm, axis=(1, 2))[:, None, None], norm)[:, :, 26:].astype(np.float32)
    noisy = add_noise(clean, "stripe", EVAL_SEED_OFFSET)
    glob, mean_band = np_psnr(noisy, clean, keep)
    assert m["noisy"]["psnr"] == pytest.approx(glob, abs=2e-3)
    assert m["noisy"]["mpsnr"] == pytest.approx(mean_band, abs=2e-3)
    assert m["noisy"]["sam"] == pytest.approx(np_sam(noisy, clean, keep, lo, scale), rel=1e-3)
    # the baselines are scored on the same entries (their oracle parameter kept)
    pca = m["baselines"]["pca"]
    est = BASELINES["pca"][0](noisy, pca["param"]["k"])
    assert pca["psnr"] == pytest.approx(np_psnr(est, clean, keep)[0], abs=2e-3)
    assert {"psnr", "mpsnr", "ssim", "sam"} <= set(m["denoised"])
