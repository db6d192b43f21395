"""Runs recorded with tensorly's Indian Pines band centres still read the corrected scene band for band.

Bands 170/171 were 2260.22/2270.15 nm in tensorly's list and are 2212.22/2222.15 nm now
(:mod:`hsi_app.io.indian_pines_bands`). Matched as recorded, a run's 2260.22 nm band would take
the scene's 2261.82 nm band (within the 2 nm tolerance) without a word.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.checkpoint import load_config
from hsi_app.errors import HSIWarning
from hsi_app.io.cube import make_cube
from hsi_app.io.indian_pines_bands import CORRECTED_NM, TENSORLY_NM
from hsi_app.predictor import Predictor, plan_bands

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.parent for p in (ROOT / "models").glob("*/config.json"))


def _scene(bands: int = 200, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (bands, 6, 7)).astype(np.float32)


@pytest.mark.parametrize("run", SHIPPED, ids=[p.name for p in SHIPPED])
def test_the_shipped_runs_pick_every_band_of_the_corrected_scene(run: Path) -> None:
    config = load_config(run)
    plan = plan_bands(config, make_cube(_scene(), wavelength=CORRECTED_NM))
    np.testing.assert_array_equal(plan.indices, np.arange(200))  # as recorded: 175, 176 at 170, 171
    assert tuple(config.wavelengths) == CORRECTED_NM
    assert tuple(config.model_wavelengths or ()) == TENSORLY_NM  # what the model was built with


def test_a_band_subset_run_is_corrected_at_its_own_bands(tmp_path: Path) -> None:
    idx = [0, 50, 169, 170, 171, 172, 199]
    run = make_run(tmp_path / "run", in_chans=len(idx), wavelengths=np.asarray(TENSORLY_NM)[idx],
                   band_indices=idx, source_bands=200)
    config = load_config(run)
    np.testing.assert_array_equal(config.wavelengths, np.asarray(CORRECTED_NM)[idx])
    plan = plan_bands(config, make_cube(_scene(), wavelength=CORRECTED_NM))
    np.testing.assert_array_equal(plan.indices, idx)


def test_other_runs_are_read_as_written(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", in_chans=200, wavelengths=np.asarray(CORRECTED_NM))
    config = load_config(run)
    assert config.model_wavelengths is None and tuple(config.wavelengths) == CORRECTED_NM
    assert "model_wavelengths" not in json.loads((run / "config.json").read_text())  # new runs: no new key


def test_a_legacy_channel_vit_run_predicts_as_it_was_trained(tmp_path: Path, one_torch_thread: None) -> None:
    """The model keeps the centres it was trained with; only the band matching uses the corrected ones."""
    import torch

    from hsi_app.models import create_model

    image = _scene()
    run = make_run(tmp_path / "run", model="test_channel_vit", in_chans=200, num_classes=3,
                   wavelengths=np.asarray(TENSORLY_NM), like=image)
    config = load_config(run)
    pred = Predictor.load(run, device="cpu")
    got = pred.bind(make_cube(image, wavelength=CORRECTED_NM), check_units=False)(image)

    torch.manual_seed(0)  # make_run's model, built as it was trained: with tensorly's centres
    net = create_model("test_channel_vit", in_chans=200, num_classes=3, wavelengths=np.asarray(TENSORLY_NM)).eval()
    x = (image - np.asarray(config.mean, np.float32)[:, None, None]) / np.asarray(config.std, np.float32)[:, None, None]
    with torch.inference_mode():
        want = torch.softmax(net(torch.from_numpy(x)[None]), dim=1)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)

    keep = [0, 40, 120, 169, 170, 171, 172, 199]  # a subset of its bands: the model is told tensorly's centres
    with pytest.warns(HSIWarning, match="uses 8 of its 200 training bands"):
        bind = pred.bind(make_cube(image[keep], wavelength=np.asarray(CORRECTED_NM)[keep]), check_units=False)
    sub = bind(image[keep])
    with torch.inference_mode():
        want_sub = torch.softmax(net.with_bands(np.asarray(TENSORLY_NM)[keep])(torch.from_numpy(x[keep])[None]),
                                 dim=1)[0].numpy()
    np.testing.assert_allclose(sub, want_sub, atol=1e-5)

    from hsi_app.tasks.band_subset import predict_band_subset

    with pytest.warns(HSIWarning, match="uses 8 of its 200 training bands"):
        probs = predict_band_subset(run, image[keep], np.asarray(CORRECTED_NM)[keep])
    np.testing.assert_allclose(probs, want_sub, atol=1e-5)


def test_a_model_wavelengths_list_round_trips_and_is_not_corrected_again(tmp_path: Path) -> None:
    from dataclasses import replace

    from hsi_app.checkpoint import load_tensors, save_run

    legacy = load_config(make_run(tmp_path / "old", in_chans=200, wavelengths=np.asarray(TENSORLY_NM)))
    again = save_run(tmp_path / "again", legacy, load_tensors(tmp_path / "old"))
    assert json.loads((again / "config.json").read_text())["model_wavelengths"] == list(TENSORLY_NM)
    assert load_config(again) == legacy
    assert replace(legacy, model_wavelengths=None).model_wavelength_array.tolist() == list(CORRECTED_NM)
