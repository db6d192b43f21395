"""An ensemble's leak verdict is judged for the ensemble scored, not for its first member (review M3 #2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def _cube() -> object:
    """(6, 24, 24) float32 spectra of 3 classes in vertical stripes, with labels (no gaps: test pixels touch training)."""
    from hsi_app.io.cube import make_cube

    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(np.arange(1, 4, dtype=np.int32), 8)[None], 24, axis=0)
    x = np.linspace(0.0, 1.0, 6)
    spectra = np.stack([np.zeros(6), *[0.2 + 0.1 * k * x for k in range(1, 4)]])
    values = spectra[labels].transpose(2, 0, 1) + 0.01 * rng.standard_normal((6, 24, 24))
    return make_cube(values.astype(np.float32), wavelength=np.linspace(450.0, 900.0, 6), labels=labels,
                     class_names=["unlabelled", "a", "b", "c"])


def test_an_svm_first_ensemble_with_a_patch_member_is_leaky(tmp_path: Path) -> None:
    """Members: an SVM (radius 0: never leaky) first, a patch model second, on one random split whose test pixels
    lie next to training pixels. The ensemble maps through the patch model's patches, so its score is leaky."""
    from hsi_app.data.splits import Split, leaks
    from hsi_app.ensemble import EnsemblePredictor, evaluate_ensemble, write_ensemble
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    cube = _cube()
    svm = train_classifier(cube, tmp_path / "svm", TrainOptions(model="svm", split="random:0.3", progress=False))
    patch = train_classifier(cube, tmp_path / "patch", TrainOptions(model="test_ssfcn", split="random:0.3", epochs=1,
                                                                    progress=False))
    split = Split.load(tmp_path / "svm" / "split.npz")
    np.testing.assert_array_equal(split.test, Split.load(tmp_path / "patch" / "split.npz").test)  # one split
    ens = EnsemblePredictor.load([tmp_path / "svm", tmp_path / "patch"], device="cpu")
    radii = [m.receptive_radius for m in ens.members]
    assert radii[0] == 0 and radii[1] > 0 and ens.receptive_radius == radii[1]
    assert not leaks(split.train, split.test, 0) and leaks(split.train, split.test, radii[1])  # it makes the difference
    assert svm["leaky"] is False and patch["leaky"] is True

    write_ensemble(tmp_path / "ens", [tmp_path / "svm", tmp_path / "patch"])
    metrics = evaluate_ensemble(tmp_path / "ens", data=cube, progress=False)
    assert metrics is not None and metrics["leaky"] is True
    assert json.loads((tmp_path / "ens" / "metrics.json").read_text())["leaky"] is True

    # the other order (the patch model first) gives the same verdict
    write_ensemble(tmp_path / "ens2", [tmp_path / "patch", tmp_path / "svm"])
    assert evaluate_ensemble(tmp_path / "ens2", data=cube, progress=False)["leaky"] is True  # type: ignore[index]
