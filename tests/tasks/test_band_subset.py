"""Band-subset prediction from a saved run (channel_vit) agrees with the Predictor on all bands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hsi_app.checkpoint import RunConfig, json_floats, save_run
from hsi_app.errors import BandMismatchError, ConfigError
from hsi_app.models import create_model
from hsi_app.predictor import Predictor
from hsi_app.tasks.band_subset import predict_band_subset

C, K = 16, 3
WL = np.linspace(430.0, 2400.0, C)


def _run(tmp_path: Path, model: str = "test_channel_vit") -> tuple[Path, np.ndarray]:
    torch.manual_seed(0)
    net = create_model(model, in_chans=C, num_classes=K, wavelengths=WL)
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=C), rng.uniform(0.5, 2.0, size=C)
    config = RunConfig(
        task="classification", model_name=model, model_args={}, in_chans=C, num_classes=K,
        class_names=["unlabelled", "a", "b", "c"], wavelengths=json_floats(WL), fwhm=[None] * C,
        band_indices=list(range(C)), source_bands=C, mean=[float(v) for v in mean], std=[float(v) for v in std],
        receptive_radius=net.receptive_radius,
    )
    run = save_run(tmp_path / model, config, dict(net.state_dict()))
    image = (mean[:, None, None] + std[:, None, None] * rng.normal(size=(C, 11, 9))).astype(np.float32)
    return run, image


def test_all_bands_match_the_predictor(tmp_path: Path) -> None:
    run, image = _run(tmp_path)
    expected = Predictor.load(run, device="cpu").probs(image)
    np.testing.assert_allclose(predict_band_subset(run, image, WL), expected, atol=1e-5)


def test_subset_in_any_order(tmp_path: Path) -> None:
    run, image = _run(tmp_path)
    keep = np.arange(0, C, 2)
    probs = predict_band_subset(run, image[keep], WL[keep] + 0.5)  # within the 2 nm tolerance
    assert probs.shape == (K, 11, 9)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    rev = keep[::-1]
    np.testing.assert_allclose(predict_band_subset(run, image[rev], WL[rev] + 0.5), probs, atol=1e-5)


def test_refuses_unknown_bands_and_fixed_band_models(tmp_path: Path) -> None:
    run, image = _run(tmp_path)
    with pytest.raises(BandMismatchError, match="not among the model's training bands"):
        predict_band_subset(run, image[:3], WL[:3] + 7.0)
    run_ssfcn, _ = _run(tmp_path, "test_ssfcn")
    with pytest.raises(ConfigError, match="wavelength-aware"):
        predict_band_subset(run_ssfcn, image[:3], WL[:3])


def test_a_band_subset_message_names_the_side_without_wavelengths(tmp_path: Path) -> None:
    """A run trained without wavelengths on a scene with them: the line names the RUN's config.json and the fix
    (it said "need wavelengths on the cube and in the run's config.json" although the cube had them)."""
    import warnings

    from tiny_runs import make_run

    from hsi_app.io.cube import make_cube

    no_wl = make_run(tmp_path / "nowl", model="test_channel_vit", in_chans=13, wavelengths=np.full(13, np.nan),
                     band_indices=list(range(13)), source_bands=13)
    scene = make_cube(np.ones((12, 4, 4), np.float32), wavelength=np.linspace(443, 2190, 12), source="s2_12.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stand-in wavelengths' warning
        pred = Predictor.load(no_wl, device="cpu")
    with pytest.raises(BandMismatchError) as err:
        pred.bind(scene)
    msg = str(err.value)
    assert msg.startswith(f"s2_12.tif: band subsets need the training bands' wavelengths, and the run has none ({no_wl}/"
                          "config.json: it was trained on a file without them); retrain on a file that records "
                          "wavelengths"), msg
    run, _ = _run(tmp_path)  # the other way round: the scene lacks them
    bare = make_cube(np.ones((5, 4, 4), np.float32), source="bare.tif")
    with pytest.raises(BandMismatchError, match=r"^bare.tif: band subsets need the scene's band wavelengths, and it "
                                                r"has none; use a file that records them"):
        Predictor.load(run, device="cpu").bind(bare)
