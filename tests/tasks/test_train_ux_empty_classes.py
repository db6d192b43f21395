"""A classification run whose label ids skip numbers (land-cover codes 10, 20, ...) says, in one warning, that
some of its classes have no labelled pixel (they became model outputs that nothing trains, without a word)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import HSIWarning
from hsi_app.io.cube import make_cube
from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

WL = np.linspace(420.0, 2400.0, 8)


def _cube(ids: tuple[int, int, int], class_names: list[str] | None = None):  # noqa: ANN202
    rng = np.random.default_rng(0)
    labels = np.zeros((12, 15), np.int32)
    for j, k in enumerate(ids):
        labels[:, 5 * j: 5 * j + 5] = k
    data = 0.2 + 0.02 * labels[None] * (WL[:, None, None] / 2400) + 0.005 * rng.random((WL.size, 12, 15))
    return make_cube(data.astype(np.float32), wavelength=WL, labels=labels, class_names=class_names)


def _run(cube, out: Path) -> dict:  # noqa: ANN001
    return train_classifier(cube, out, TrainOptions(model="test_ssfcn", split="random:0.3", epochs=1, progress=False))


def test_ids_that_skip_numbers_warn_listing_the_empty_classes_and_the_ids_used(tmp_path: Path) -> None:
    with pytest.warns(HSIWarning, match=r"7 of the run's 10 classes have no labelled pixel: 2 \(class 2\), "
                                        r"3 \(class 3\).*the labels use ids 1, 4, 10.*1..K without gaps") as rec:
        metrics = _run(_cube((1, 4, 10)), tmp_path / "gaps")
    assert sum("no labelled pixel" in str(w.message) for w in rec) == 1
    assert len(metrics["class_names"]) == 10  # the ids are still the classes: only said, not changed


def test_ids_without_gaps_do_not_warn(tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _run(_cube((1, 2, 3)), tmp_path / "plain")
    assert not [w for w in rec if "no labelled pixel" in str(w.message)]


def test_named_classes_a_crop_lacks_do_not_warn(tmp_path: Path) -> None:
    """A crop of a named dataset (a corner of Indian Pines lacks 5 of its 16 classes) is not warned about: the
    table names the classes, the ids are no codes."""
    names = ["unlabelled", *[f"crop {k}" for k in range(1, 11)]]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        metrics = _run(_cube((1, 4, 10), names), tmp_path / "named")
    assert not [w for w in rec if "no labelled pixel" in str(w.message)]
    assert metrics["class_names"] == names[1:]  # the table was used (and 10 classes, as the ids say)
