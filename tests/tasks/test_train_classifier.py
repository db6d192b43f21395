"""train_classifier: which pixels the stored statistics, the training and the scores use (svm: fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.splits import Split
from hsi_app.errors import LabelError
from hsi_app.io.cube import Cube, make_cube
from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

WL = [450.0, 550.0, 650.0, 750.0]
NODATA = -9999.0
H, W = 20, 24


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(4, 20, 24) float32 values around 100 and labels 1..3 on every pixel."""
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 20.0, size=(4, H, W)).astype(np.float32)
    labels = rng.integers(1, 4, size=(H, W)).astype(np.int32)
    return data, labels


def _cube_with_hole(data: np.ndarray) -> tuple[Cube, np.ndarray]:
    """The scene with a 6 x 8 no-data block in the top-left corner, and its valid mask."""
    data = data.copy()
    data[:, :6, :8] = NODATA
    valid = np.ones((H, W), bool)
    valid[:6, :8] = False
    return make_cube(data, wavelength=WL, nodata=NODATA), valid


def test_band_stats_are_those_of_the_training_pixels_only(tmp_path: Path) -> None:
    """config.json's mean/std are fitted on the split's training pixels, never on its test pixels."""
    data, labels = _scene()
    cube = make_cube(data, wavelength=WL, labels=labels)
    train_classifier(cube, tmp_path / "run", TrainOptions(model="svm", split="random:0.3", progress=False))
    split = Split.load(tmp_path / "run" / "split.npz")
    assert (split.test > 0).sum() > (split.train > 0).sum() > 0
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    train = data[:, split.train > 0].astype(np.float64)
    np.testing.assert_allclose(cfg["mean"], train.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(cfg["std"], train.std(axis=1), rtol=1e-4)
    everything = data.reshape(4, -1).astype(np.float64)
    assert not np.allclose(cfg["mean"], everything.mean(axis=1), rtol=1e-5)


def test_test_pixels_on_no_data_are_dropped_from_the_split_and_the_scores(tmp_path: Path) -> None:
    """Test labels inside a no-data block are neither stored as test pixels nor counted in n_test."""
    data, _ = _scene(1)
    cube, valid = _cube_with_hole(data)
    rows, cols = np.mgrid[0:H, 0:W]
    train = np.zeros((H, W), np.int32)
    train[10:, 12:] = 1 + cols[10:, 12:] % 3  # 120 pixels on valid data
    test = np.zeros((H, W), np.int32)
    test[:10, :12] = 1 + rows[:10, :12] % 3  # 120 pixels, 48 of them in the no-data block
    metrics = train_classifier(cube, tmp_path / "run", TrainOptions(model="svm", progress=False),
                               train_labels=train, test_labels=test)
    assert metrics["n_test"] == 120 - 6 * 8 and metrics["n_train"] == 120
    saved = Split.load(tmp_path / "run" / "split.npz")
    assert not (saved.test[~valid] > 0).any()
    np.testing.assert_array_equal(saved.test[valid], test[valid])


def test_test_labels_only_on_no_data_are_refused(tmp_path: Path) -> None:
    """A split whose every test pixel lies on no-data cannot be scored: refused before training."""
    data, _ = _scene(2)
    cube, _valid = _cube_with_hole(data)
    train = np.zeros((H, W), np.int32)
    train[10:, 12:] = 1 + np.arange(12) % 3
    test = np.zeros((H, W), np.int32)
    test[1:5, 2:7] = 2  # inside the no-data block
    with pytest.raises(LabelError, match="no test pixel on valid data"):
        train_classifier(cube, tmp_path / "run", TrainOptions(model="svm", progress=False),
                         train_labels=train, test_labels=test)
    assert not (tmp_path / "run").exists()


def test_the_callers_split_and_label_arrays_are_left_as_given_on_a_masked_scene(tmp_path: Path) -> None:
    """A split reused to score several models keeps its no-data pixels: the run drops them from a copy."""
    data, labels = _scene(3)
    cube, valid = _cube_with_hole(data)
    cube = cube.hsi.with_labels(labels)
    train = np.where((np.arange(H)[:, None] % 4 == 0), labels, 0).astype(np.int32)
    test = np.where(train == 0, labels, 0).astype(np.int32)
    kept_train, kept_test = train.copy(), test.copy()
    split = Split(train=train, test=test, protocol="maps")  # int32 arrays: Split shares their memory
    metrics = train_classifier(cube, tmp_path / "a", TrainOptions(model="svm", progress=False), split=split)
    assert metrics["n_test"] == int((test[valid] > 0).sum())
    np.testing.assert_array_equal(split.train, kept_train)
    np.testing.assert_array_equal(split.test, kept_test)
    np.testing.assert_array_equal(train, kept_train)
    np.testing.assert_array_equal(test, kept_test)
    full = make_cube(data, wavelength=WL, labels=labels)
    again = train_classifier(full, tmp_path / "b", TrainOptions(model="svm", progress=False), split=split)
    assert again["n_test"] == int((kept_test > 0).sum())
