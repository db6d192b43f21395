"""Progress of the scoring steps of denoising: the held-out block and the baselines, which on a large scene
ran for minutes after the training bar (or after ``hsi denoise``'s window bar) without a line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hsi_app.cli.main import main
from hsi_app.io.cube import make_cube
from hsi_app.tasks.denoise_baselines import BASELINES
from hsi_app.tasks.denoising import DenoiseOptions, train_denoiser
from tests.tasks.test_denoising import WL, geotiff, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def runs_for(bands: int) -> int:
    """Baseline runs on ``bands`` bands: every grid value, less those keeping more components than bands."""
    n = 0
    for _, grid, pname in BASELINES.values():
        for v in grid:
            kept = (v[0] if isinstance(v, tuple) else v) if pname.startswith("k") else 0
            n += kept <= bands
    return n


def test_training_shows_the_held_out_block_and_the_baselines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    opts = DenoiseOptions(model="test_hsdt", epochs=1, steps_per_epoch=1, batch_size=2, patch=16, band_chunk=0,
                          progress=True, threads=1)
    train_denoiser(make_cube(smooth_cube(), wavelength=WL), tmp_path / "run", opts)
    err = capsys.readouterr().err
    assert re.search(r"^held-out block: 1/1 win in ", err, re.M), err
    n = runs_for(8)
    assert re.search(rf"^baselines: {n}/{n} run in ", err, re.M), err
    opts.progress = False
    train_denoiser(make_cube(smooth_cube(), wavelength=WL), tmp_path / "run2", opts)
    assert "baselines" not in capsys.readouterr().err


def test_hsi_denoise_baselines_show_progress_unless_quiet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = untrained_run(tmp_path)
    rng = np.random.default_rng(0)
    clean = geotiff(tmp_path / "clean.tif", smooth_cube())
    noisy = geotiff(tmp_path / "noisy.tif", (smooth_cube() + rng.normal(0, 100, (8, 32, 40))).astype(np.float32))
    args = ["denoise", "--model", str(run), "--input", str(noisy), "--reference", str(clean), "--baselines"]
    main([*args, "--out", str(tmp_path / "a.tif")])
    n = runs_for(8)
    assert re.search(rf"^baselines: {n}/{n} run in ", capsys.readouterr().err, re.M)
    main([*args, "--out", str(tmp_path / "b.tif"), "--quiet"])
    assert "baselines:" not in capsys.readouterr().err
