"""predict_scene holds one window's values at a time: the last window's are released before the next is read,
and the map is the same."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import hsi_app.infer as infer
from hsi_app.infer import predict_scene
from hsi_app.io.cube import make_cube

K = 3


def _probs(image: np.ndarray) -> np.ndarray:
    """Per-pixel softmax of the first three bands (NaN -> 0): no context, so windows cannot change it."""
    x = np.nan_to_num(image[:K])
    e = np.exp(x - x.max(axis=0))
    return (e / e.sum(axis=0)).astype(np.float32)


def test_the_last_windows_values_are_freed_before_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    data = rng.normal(size=(4, 23, 19))  # float64: each window read is a new float32 array, not a view
    data[:, :3, :5] = np.nan
    cube = make_cube(data)
    seen: list[weakref.ref[np.ndarray]] = []
    alive_at_read: list[bool] = []
    read = infer.read_window

    def counting_read(c, win):  # noqa: ANN001, ANN202
        alive_at_read.append(any(ref() is not None for ref in seen))
        return read(c, win)

    def prob_fn(image: np.ndarray) -> np.ndarray:
        seen.append(weakref.ref(image))
        return _probs(image)

    monkeypatch.setattr(infer, "read_window", counting_read)
    got = predict_scene(prob_fn, cube, num_classes=K, halo=2, window=8, keep_map=True, progress=False)
    assert got.windows == 9 and len(alive_at_read) == 9
    assert not any(alive_at_read)  # no earlier window's values were held while a window was read

    monkeypatch.setattr(infer, "read_window", read)
    whole = predict_scene(_probs, cube, num_classes=K, halo=2, window=64, keep_map=True, progress=False)
    assert whole.windows == 1
    np.testing.assert_array_equal(got.classes, whole.classes)
    valid = np.isfinite(data).all(axis=0)
    np.testing.assert_array_equal(got.classes > 0, valid)
