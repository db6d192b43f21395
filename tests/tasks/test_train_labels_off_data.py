"""Labels on the scene's no-data: counted, the classes they wipe out named, and refused when nothing is left
(audit s56 train #1-#3; each test fails on the old code).

A user's polygons drawn over a scene's no-data corner (a swath edge, a cloud cut out) label pixels a run cannot
use. The old code counted them for a drawn split only, said nothing when a whole class lay there (its model output
was then trained by nothing, and it vanished from the scores without a word), dropped them silently from given
``--train-labels/--test-labels`` maps, and refused labels wholly on no-data with "no training pixel lies on valid
data" instead of saying that every labelled pixel was there.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.splits import Split, SplitWarning
from hsi_app.errors import LabelError
from hsi_app.io.cube import make_cube
from hsi_app.tasks.train_classifier import TrainOptions, protocol_split, train_classifier

WL = [450.0, 550.0, 650.0, 750.0]
NODATA = -9999.0
H, W = 24, 30
NAMES = ["unlabelled", "forest", "water", "wetland"]


def _scene(labels: np.ndarray) -> object:
    """4-band float scene whose top-left 8 x 8 corner is no-data; classes get distinct spectra."""
    rng = np.random.default_rng(1)
    data = rng.normal(100.0, 3.0, size=(4, H, W)).astype(np.float32)
    for k in range(4):
        data[k][labels == 2] += 30.0 * (k % 2)
        data[k][labels == 3] -= 30.0 * (k % 2)
    data[:, :8, :8] = NODATA
    return make_cube(data, wavelength=WL, nodata=NODATA, labels=labels, class_names=NAMES)


def _labels() -> np.ndarray:
    lab = np.zeros((H, W), np.int32)
    lab[10:20, 2:12] = 1  # forest, 100 px on data
    lab[10:20, 16:28] = 2  # water, 120 px on data
    lab[1:6, 1:5] = 3  # wetland: 20 px, all inside the no-data corner
    return lab


def _split_warnings(fn):  # noqa: ANN001, ANN202
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if issubclass(w.category, SplitWarning)]


def test_a_class_wholly_on_no_data_is_named_in_the_drawn_splits_warning() -> None:
    lab = _labels()
    off = int(np.count_nonzero(lab[:8, :8]))
    split, said = _split_warnings(lambda: protocol_split(_scene(lab), "random:0.5", seed=0))
    assert not np.any(split.train == 3) and not np.any(split.test == 3)
    assert len(said) == 1, said
    assert said[0].startswith(f"split random:0.5: {off} labelled pixels lie on no-data and are not used")
    assert "class 3 (wetland): all 20" in said[0] and "no training or test pixel" in said[0]
    assert "forest" not in said[0] and "water" not in said[0]  # classes that keep pixels on data are not named


def test_a_class_partly_on_no_data_is_not_named() -> None:
    lab = _labels()
    lab[1:6, 1:5] = 0
    lab[4:12, 2:12] = 1  # forest crosses the corner's edge: 32 px off data, the rest on it
    off = int(np.count_nonzero((lab > 0)[:8, :8]))
    _, said = _split_warnings(lambda: protocol_split(_scene(lab), "random:0.5", seed=0))
    assert said == [f"split random:0.5: {off} labelled pixels lie on no-data and are not used"]


def test_given_maps_on_no_data_are_counted_and_dropped(tmp_path: Path) -> None:
    lab = _labels()
    lab[1:6, 1:5] = 0
    train = np.where((lab > 0) & (np.arange(W)[None, :] % 2 == 0), lab, 0)
    test = np.where(train > 0, 0, lab)
    test[2:6, 2:6] = 2  # 16 test pixels of water drawn inside the no-data corner
    cube = _scene(lab)
    _, said = _split_warnings(lambda: train_classifier(
        cube, tmp_path / "run", TrainOptions(model="svm", progress=False), train_labels=train, test_labels=test,
        labels_from="train.npy, test.npy"))
    assert said == ["train.npy, test.npy: 16 labelled pixels lie on no-data and are not used"]
    saved = Split.load(tmp_path / "run" / "split.npz")
    assert not np.any(saved.test[:8, :8]) and saved.n_test == int(np.count_nonzero(test)) - 16


def test_labels_wholly_on_no_data_are_refused_with_their_count(tmp_path: Path) -> None:
    lab = np.zeros((H, W), np.int32)
    lab[1:4, 1:7] = 1
    lab[5:8, 1:7] = 2  # 36 labelled pixels, every one in the no-data corner
    with pytest.raises(LabelError) as err:
        train_classifier(_scene(lab), tmp_path / "run", TrainOptions(model="svm", progress=False),
                         labels_from="fields.gpkg")
    text = str(err.value)
    assert text.startswith("fields.gpkg: all 36 labelled pixels lie on no-data of the scene")
    assert "\n" not in text and not (tmp_path / "run").exists()


def test_one_class_is_refused_with_its_name(tmp_path: Path) -> None:
    lab = _labels()
    lab[lab != 1] = 0
    with pytest.raises(LabelError, match=r"^fields.gpkg: every training pixel is class 1 \(forest\); .*label a second"):
        train_classifier(_scene(lab), tmp_path / "run", TrainOptions(model="svm", progress=False),
                         labels_from="fields.gpkg")
