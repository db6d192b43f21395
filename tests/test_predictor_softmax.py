"""The predictor's input normalisation, done in place on its own array: the same bits as before, the caller's array untouched."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_runs import make_run

from hsi_app.predictor import INPUT_CLIP, Predictor

C, H, W = 5, 6, 7


class _Recorder(torch.nn.Module):
    """Keeps the tensor it is given; returns zero logits for 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return torch.zeros(x.shape[0], 3, *x.shape[2:])


def _before(image: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """The normalisation as it was written before (three new arrays)."""
    x = np.nan_to_num((image - mean) / std, nan=0.0, posinf=0.0, neginf=0.0)
    np.clip(x, -INPUT_CLIP, INPUT_CLIP, out=x)
    return np.ascontiguousarray(x, dtype=np.float32)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int16"])
def test_the_model_gets_the_same_bits_and_the_image_is_not_written(tmp_path: Path, dtype: str) -> None:
    pred = Predictor.load(make_run(tmp_path / "run", in_chans=C), device="cpu")
    rng = np.random.default_rng(4)
    mean = rng.normal(1000, 300, (C, 1, 1)).astype(np.float32)
    std = rng.uniform(1e-3, 50, (C, 1, 1)).astype(np.float32)
    image = rng.normal(1000, 400, (C, H, W)).astype(dtype)
    if dtype != "int16":
        image[0, 0, 0], image[1, 1, 1], image[2, 2, 2] = np.nan, np.inf, -np.inf
        image[3, 3, 3] = np.finfo(dtype).max  # overflows to inf once divided: 0, as before
        image[4, 4, 4] = 3e5  # beyond the clip
        image[0, 5, 6] = np.finfo(dtype).tiny
    kept = image.copy()
    model = _Recorder()
    probs = pred._softmax(model, image, mean, std)
    got = model.seen[0][0].numpy()
    want = _before(image, mean, std)
    assert got.dtype == np.float32 and got.tobytes() == want.tobytes()
    assert np.array_equal(image, kept, equal_nan=True)  # the caller's window is never written
    assert probs.shape == (3, H, W)
