"""``hsi denoise --fill-nan --reference R --baselines`` with a fixed-band denoiser on a scene with a band that holds
no data at any pixel (review s58 3 #3): the baselines read the whole scene anyway, so they find that band in it
instead of making a second pass over the file; the band is still left out of their fit and scores."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import hsi_app.io.empty_bands as eb
from hsi_app.data.noise import parse_noise
from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoise_baselines import best_baselines
from hsi_app.tasks.denoise_scene import denoise_cube, scene_baselines
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoise_subspace_bands import basis_run
from tests.tasks.test_denoising import WL, smooth_cube

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EMPTY = 5
NOISE = "gaussian:30"


def test_the_baselines_find_the_empty_band_without_another_pass(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    scans: list[int] = []
    scan = eb.empty_bands
    monkeypatch.setattr(eb, "empty_bands", lambda cube: (scans.append(1), scan(cube))[1])
    den = Denoiser.load(basis_run(tmp_path), device="cpu")
    clean = smooth_cube()
    data = clean.copy()
    data[EMPTY] = -9999.0
    ref_cube = make_cube(clean.copy(), wavelength=WL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cube = make_cube(data.copy(), wavelength=WL, nodata=-9999.0)
        denoise_cube(den, cube, tmp_path / "o.tif", reference=ref_cube, noise=NOISE, seed=1, fill_nan=True,
                     progress=False)
        assert len(scans) == 1  # denoise_cube's own scan, to leave the band out of its scores
        rows = scene_baselines(cube, ref_cube, den, noise=NOISE, seed=1, units_checked=True)
    assert len(scans) == 1  # none more: the scene was already in memory

    # the band is still left out: the model's noisy input (the empty band's fill 0, then the noise over all 8
    # bands), fitted and scored on the 7 others
    norm = (np.where(data == -9999.0, np.nan, data) - den.offset) / den.scale
    noisy = parse_noise(NOISE).plan(norm.shape, 1).apply(np.nan_to_num(norm, nan=0.0))
    kept = np.arange(8) != EMPTY
    want = best_baselines(noisy[kept], ((clean - den.offset) / den.scale)[kept], offset=den.offset,
                          scale=den.scale, names=("pca",))
    assert rows["pca"]["param"] == want["pca"]["param"]
    for k in ("psnr", "mpsnr", "ssim", "sam"):
        assert rows["pca"][k] == pytest.approx(want["pca"][k], rel=1e-4, abs=1e-5), k
