"""``train_classifier(model="svm")`` on a scene whose classes are not all among the training pixels (a crop of a
labelled scene, a disjoint split): the SVM gives K columns, so the map is made and the class is never predicted
(the whole-scene pass stopped with 'prob_fn returned shape (2, h, w) ... (K, h, w) = (3, h, w)')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_app.data.splits import Split
from hsi_app.io.cube import make_cube
from hsi_app.tasks.train_classifier import TrainOptions, train_classifier


def test_svm_maps_a_scene_with_a_class_absent_from_training(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.zeros((12, 12), np.int32)
    labels[:, :5], labels[:, 7:], labels[10:, 5:7] = 1, 2, 3
    data = 0.2 + 0.05 * labels[None] * np.linspace(0.5, 1.5, 6)[:, None, None] + 0.01 * rng.random((6, 12, 12))
    cube = make_cube(data.astype(np.float32), wavelength=np.linspace(450, 900, 6), labels=labels,
                     class_names=["unlabelled", "field", "forest", "quarry"])
    train = np.where((labels != 3) & (np.arange(12)[None, :] % 2 == 0), labels, 0)   # no quarry pixel
    split = Split(train=train, test=np.where(train == 0, labels, 0), protocol="maps")
    metrics = train_classifier(cube, tmp_path / "svm", TrainOptions(model="svm", progress=False), split=split)
    assert metrics["class_names"] == ["field", "forest", "quarry"]
    assert metrics["per_class_accuracy"][2] == 0.0           # scored, never predicted
    assert 0.0 < metrics["oa"] <= 1.0
    assert (tmp_path / "svm" / "map.tif").is_file()
