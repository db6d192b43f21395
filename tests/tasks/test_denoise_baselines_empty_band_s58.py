"""``hsi denoise --fill-nan --reference R --baselines`` with a fixed-band denoiser on a scene with a band that holds
no data at any pixel: the model is given that band filled, but no row of the score table (output, input, each
baseline) scores it, and the baselines are not fitted on it (a constant, or noise alone, is no spectrum)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.noise import parse_noise
from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoise_baselines import best_baselines
from hsi_app.tasks.denoise_metrics import restoration_metrics
from hsi_app.tasks.denoise_scene import denoise_cube, scene_baselines
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoise_subspace_bands import basis_run
from tests.tasks.test_denoising import WL, smooth_cube

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EMPTY = 3
NOISE = "gaussian:30"


def test_every_row_is_scored_on_the_bands_with_data_and_finite(tmp_path: Path) -> None:
    den = Denoiser.load(basis_run(tmp_path), device="cpu")
    clean = smooth_cube()
    data = clean.copy()
    data[EMPTY] = np.nan
    ref_cube = make_cube(clean.copy(), wavelength=WL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = denoise_cube(den, make_cube(data.copy(), wavelength=WL), tmp_path / "o.tif", reference=ref_cube,
                           noise=NOISE, seed=0, fill_nan=True, progress=False)
        rows = scene_baselines(make_cube(data.copy(), wavelength=WL), ref_cube, den, noise=NOISE, seed=0)
    assert res.metrics is not None
    table = {"denoised": res.metrics["denoised"], "input": res.metrics["input"], **rows}
    for name, s in table.items():
        assert all(np.isfinite(s[k]) for k in ("psnr", "mpsnr", "ssim", "sam")), (name, s)

    # independently: the model's noisy input (the empty band filled with 0, the normalised fill of a band without
    # a value, then the seeded noise over all 8 bands), scored and fitted on the 7 other bands only
    norm = (data - den.offset) / den.scale
    noisy = parse_noise(NOISE).plan(norm.shape, 0).apply(np.nan_to_num(norm, nan=0.0))
    ref = (clean - den.offset) / den.scale
    kept = np.arange(8) != EMPTY
    want_input = restoration_metrics(noisy[kept], ref[kept], offset=den.offset, scale=den.scale)
    for k in ("psnr", "mpsnr", "ssim", "sam"):
        assert table["input"][k] == pytest.approx(want_input[k], rel=1e-4, abs=1e-5), k
    want = best_baselines(noisy[kept], ref[kept], offset=den.offset, scale=den.scale, names=("pca", "mnf"))
    for name in ("pca", "mnf"):
        assert table[name]["param"] == want[name]["param"]
        for k in ("psnr", "mpsnr", "ssim", "sam"):
            assert table[name][k] == pytest.approx(want[name][k], rel=1e-4, abs=1e-5), (name, k)
