"""Real data: the default model trained on Indian Pines beats SVM-RBF on the same split."""

from __future__ import annotations

from pathlib import Path

import pytest

from hsi_app.io import open_cube
from hsi_app.tasks.train_classifier import TrainOptions, train_classifier


@pytest.mark.slow
def test_default_model_beats_svm_on_indian_pines(tmp_path: Path) -> None:
    cube = open_cube("indian_pines")
    svm = train_classifier(cube, tmp_path / "svm", TrainOptions(model="svm", split="random:0.1", seed=0, progress=False))
    net = train_classifier(cube, tmp_path / "net", TrainOptions(split="random:0.1", seed=0, progress=False))
    assert net["n_test"] == svm["n_test"] == 10249 - net["n_train"]
    assert 0.70 < svm["oa"] < 0.90  # the literature and this machine: ~0.80
    assert net["oa"] > svm["oa"] + 0.10
    assert net["oa"] >= 0.95 and net["leaky"] is True
    for name in ("map.tif", "map.png", "confusion.png", "split.npz", "model.safetensors", "config.json"):
        assert (tmp_path / "net" / name).is_file()


@pytest.mark.slow
def test_default_model_beats_svm_on_unseen_fields(tmp_path: Path) -> None:
    """disjoint:0.5, seed 2, both scored on the same buffered test pixels: the SNV default is well above the SVM.

    Measured (session 33 split layouts): ssfcn_snv 74.71 and 71.96 % OA (two training seeds) against the
    SVM's 55.41 % on 1,202 test pixels. Seed 2 is one of the splits with a large margin (+17 to +19; the
    mean over seeds 0-9 is +10 to +12), so one run's training noise (about 3 points) cannot flip the check.
    """
    from hsi_app.tasks.train_classifier import protocol_split, receptive_radius

    cube = open_cube("indian_pines")
    opts = TrainOptions(split="disjoint:0.5", seed=2, progress=False)
    split = protocol_split(cube, "disjoint:0.5", seed=2, radius=receptive_radius(opts.model))
    svm = train_classifier(cube, tmp_path / "svm", TrainOptions(model="svm", split="disjoint:0.5", seed=2,
                                                                progress=False), split=split)
    net = train_classifier(cube, tmp_path / "net", opts, split=split)
    assert net["n_test"] == svm["n_test"] and net["leaky"] is False
    assert net["n_test"] == 1202 and abs(svm["oa"] - 0.5541) < 0.005  # the split and the SVM are deterministic
    assert net["oa"] > svm["oa"] + 0.08
