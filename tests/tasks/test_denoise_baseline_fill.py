"""``hsi denoise --fill-nan --baselines``: the baselines see the input's no-data filled as the model does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoise_baselines import best_baselines
from hsi_app.tasks.denoise_scene import scene_baselines
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoising import WL, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_baselines_fill_the_no_data_collar_with_band_medians(tmp_path: Path) -> None:
    """A swath in a no-data collar (a quarter of the scene): the baselines were run on the input with its
    no-data set to 0 on the normalised scale (the training minimum), not to the band medians the model is
    given, and the filters smeared that into the scored pixels beside the collar (up to 5 dB lower)."""
    rng = np.random.default_rng(0)
    clean = smooth_cube(h=40, w=48)
    noisy = (clean + rng.normal(0, 150, clean.shape)).astype(np.float32)
    yy, xx = np.mgrid[0:40, 0:48]
    collar = (xx + yy < 20) | (xx + yy > 66)
    noisy[:, collar] = np.nan
    grid = {"crs": "EPSG:32633", "transform": from_origin(500000, 4600000, 30, 30)}
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    got = scene_baselines(make_cube(noisy, wavelength=WL, **grid), make_cube(clean, wavelength=WL, **grid), den,
                          noise=None, seed=0)
    # independently: normalise, fill each band's no-data with the median of its valid values, run the baselines
    x, ref = (noisy - den.offset) / den.scale, (clean - den.offset) / den.scale
    filled = np.where(np.isnan(x), np.nanmedian(x, axis=(1, 2))[:, None, None], x)
    want = best_baselines(filled, ref, offset=den.offset, scale=den.scale, mask=np.isfinite(x))
    for name in ("gaussian", "subspace_gaussian"):
        assert got[name]["param"] == want[name]["param"]
        for k in ("psnr", "mpsnr", "ssim", "sam"):
            assert got[name][k] == pytest.approx(want[name][k], abs=2e-3), (name, k)
