"""The model's inputs normalised by torch (in place on a band pick, into one new array otherwise): the same
bits as numpy's ``(image - mean) / std``, non-finite -> 0, clipped; the caller's window never written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.io.cube import make_cube
from hsi_app.predictor import INPUT_CLIP, BandPlan, Predictor, normalised

C, H, W = 6, 9, 11


def _reference(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The normalisation written out in numpy (float32 in, float32 out)."""
    x = np.nan_to_num((image - mean) / std, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(x, -INPUT_CLIP, INPUT_CLIP).astype(np.float32)


def _window(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean = rng.normal(1000, 300, (C, 1, 1)).astype(np.float32)
    std = rng.uniform(1e-3, 50, (C, 1, 1)).astype(np.float32)
    image = rng.normal(1000, 400, (C, H, W)).astype(np.float32)
    image[0, 0, 0], image[1, 1, 1], image[2, 2, 2] = np.nan, np.inf, -np.inf
    image[3, 3, 3] = np.finfo(np.float32).max  # inf once divided by a small std: 0
    image[4, 4, 4] = 3e5  # beyond the clip
    image[5, 5, 5] = np.finfo(np.float32).tiny
    return image, mean, std


@pytest.mark.parametrize("owned", [False, True])
def test_the_same_bits_as_numpy_and_the_callers_array_only_written_when_owned(owned: bool) -> None:
    image, mean, std = _window()
    kept = image.copy()
    got = normalised(image, mean, std, owned=owned).numpy()
    want = _reference(kept, mean, std)
    assert got.dtype == np.float32 and got.shape == (C, H, W)
    assert got.tobytes() == want.tobytes()
    if owned:
        assert np.shares_memory(got, image)  # in place: no second window-sized array
    else:
        assert not np.shares_memory(got, image)
        assert np.array_equal(image, kept, equal_nan=True)


def test_read_only_and_non_contiguous_windows_are_copied_not_written() -> None:
    image, mean, std = _window(1)
    want = _reference(image, mean, std)
    frozen = image.copy()
    frozen.flags.writeable = False
    assert normalised(frozen, mean, std, owned=True).numpy().tobytes() == want.tobytes()
    wide = np.concatenate([image, image], axis=2)[:, :, ::2]  # every other column: a strided view
    kept = wide.copy()
    assert normalised(wide, mean, std, owned=True).numpy().tobytes() == _reference(kept, mean, std).tobytes()


def test_apply_plan_equals_probs_of_the_picked_bands_and_keeps_the_window(tmp_path: Path) -> None:
    """All bands in order (no pick copy), a reordering and a subset (picked, then normalised in place):
    each gives what :meth:`Predictor.probs` gives on the bands picked by hand, and the window is unchanged."""
    pred = Predictor.load(make_run(tmp_path / "run", in_chans=C, num_classes=4), device="cpu")
    rng = np.random.default_rng(2)
    window = rng.normal(0, 1, (C + 2, H, W)).astype(np.float32)
    window[:, 0, 0] = np.nan
    kept = window.copy()
    plans = {
        "all": (BandPlan(indices=np.arange(C), matrix=None, bands=C), window[:C].copy()),
        "reversed": (BandPlan(indices=np.arange(C)[::-1].copy(), matrix=None, bands=C), window[:C].copy()),
        "subset": (BandPlan(indices=np.array([0, 2, 3, 4, 6, 7]), matrix=None, bands=C + 2), window.copy()),
    }
    for name, (plan, image) in plans.items():
        before = image.copy()
        got = pred.apply_plan(plan, image)
        want = pred.probs(image[plan.indices])
        assert got.tobytes() == want.tobytes(), name
        assert np.array_equal(image, before, equal_nan=True), name  # the caller's window is not normalised in place
    assert np.array_equal(window, kept, equal_nan=True)


def test_picks_all_only_for_every_band_in_order_as_float32() -> None:
    image = np.zeros((C, 2, 2), dtype=np.float32)
    assert BandPlan(indices=np.arange(C), matrix=None).picks_all(image)
    assert not BandPlan(indices=np.arange(C)[::-1], matrix=None).picks_all(image)
    assert not BandPlan(indices=np.arange(C - 1), matrix=None).picks_all(image)
    assert not BandPlan(indices=np.arange(C), matrix=None).picks_all(image.astype(np.float64))
    assert not BandPlan(indices=None, matrix=np.eye(C), sources=None).picks_all(image)


def test_a_bound_cube_predicts_as_the_numpy_normalisation_did(tmp_path: Path) -> None:
    """End to end through ``bind``: the probabilities are those of the model on the numpy-normalised window."""
    import torch

    data = np.random.default_rng(3).normal(0.3, 0.1, (C, H, W)).astype(np.float32)
    pred = Predictor.load(make_run(tmp_path / "run", in_chans=C, like=data), device="cpu")
    data[:, 4, 4] = np.nan
    cube = make_cube(data, wavelength=np.linspace(400.0, 800.0, C))
    got = pred.bind(cube, check_units=False)(data)
    with torch.inference_mode():
        x = torch.from_numpy(_reference(data, pred._mean, pred._std))
        want = torch.softmax(pred.model(x[None]), dim=1)[0].numpy()
    assert got.tobytes() == want.tobytes()
