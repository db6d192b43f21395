"""Drawn splits use the labelled pixels on valid data only (audit O #1).

A field that crosses the footprint edge keeps ``fixed:N`` training pixels where it has data, rather than losing
them to the no-data pixels that a run drops afterwards; the count of labels on no-data is said once.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from hsi_app.data.splits import Split, SplitWarning, make_split
from hsi_app.io.cube import make_cube
from hsi_app.tasks.train_classifier import TrainOptions, protocol_split, train_classifier

WL = [450.0, 550.0, 650.0, 750.0]
NODATA = -9999.0
H, W = 24, 30
NAMES = ["unlabelled", "Corn", "Oats", "Hay"]


def _edge_scene() -> tuple[object, np.ndarray]:
    """Three classes; Oats (2) is a 6 x 5 field of which only 12 pixels lie on data (the rest past the edge)."""
    rng = np.random.default_rng(0)
    data = rng.normal(100.0, 5.0, size=(4, H, W)).astype(np.float32)
    labels = np.zeros((H, W), np.int32)
    labels[2:10, 2:12] = 1  # Corn, 80 px on data
    labels[12:22, 2:12] = 3  # Hay, 100 px on data
    labels[5:11, 20:25] = 2  # Oats, 30 px
    data[:, :, 22:] = NODATA  # footprint edge: columns 22.. hold no data
    labels[5:11, 22:25] = 2  # (still labelled there, as a polygon crossing the edge is)
    for k in range(4):
        data[k][labels == 2] += 40.0 * (k % 2)  # a separable spectrum per class
        data[k][labels == 3] -= 40.0 * (k % 2)
    data[:, :, 22:] = NODATA
    cube = make_cube(data, wavelength=WL, nodata=NODATA, labels=labels, class_names=NAMES)
    return cube, labels


def _caught(fn):  # noqa: ANN001, ANN202
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, [str(w.message) for w in caught if issubclass(w.category, SplitWarning)]


def test_fixed_split_draws_its_pixels_on_valid_data_only() -> None:
    cube, labels = _edge_scene()
    on_data = int(np.count_nonzero(labels[:, :22] == 2))
    assert on_data == 12 and int(np.count_nonzero(labels == 2)) == 30
    split, said = _caught(lambda: protocol_split(cube, "fixed:10", seed=0))
    assert said == ["split fixed:10: 18 labelled pixels lie on no-data and are not used"]
    for cls in (1, 2, 3):
        assert int(np.count_nonzero(split.train == cls)) == 10, cls
    assert int(np.count_nonzero(split.test == 2)) == 2
    assert not np.any(split.train[:, 22:]) and not np.any(split.test[:, 22:])


def test_a_class_on_no_data_only_is_said_absent_from_both_sides() -> None:
    cube, labels = _edge_scene()
    labels = np.where(labels == 2, 0, labels)
    labels[5:11, 23:26] = 2  # Oats wholly past the edge
    cube = cube.hsi.with_labels(labels, NAMES)
    split, said = _caught(lambda: protocol_split(cube, "fixed:10", seed=0))
    assert len(said) == 1 and said[0].startswith("split fixed:10: 18 labelled pixels lie on no-data and are not used "
                                                 "(class 2 (Oats): all 18), so that class has no training or test pixel")
    assert not np.any(split.train == 2) and not np.any(split.test == 2)


def test_a_run_saves_the_split_drawn_on_data(tmp_path: Path) -> None:
    """hsi train --split fixed:10: the edge class gets 10 train / 2 test pixels, not 0-10 train by chance."""
    cube, _ = _edge_scene()
    with pytest.warns(SplitWarning, match="18 labelled pixels lie on no-data"):
        train_classifier(cube, tmp_path / "run", TrainOptions(model="svm", split="fixed:10", progress=False))
    split = Split.load(tmp_path / "run" / "split.npz")
    assert [int(np.count_nonzero(split.train == c)) for c in (1, 2, 3)] == [10, 10, 10]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_train"] == 30


def test_a_scene_with_data_at_every_label_gets_the_split_of_its_labels() -> None:
    """No no-data under the labels: the very split of make_split (byte for byte), and no note."""
    cube, labels = _edge_scene()
    inside = np.where(np.arange(W)[None, :] < 22, labels, 0)
    cube = cube.hsi.with_labels(inside, NAMES)
    for protocol in ("fixed:10", "random:0.3", "disjoint:0.5"):
        split, said = _caught(lambda p=protocol: protocol_split(cube, p, seed=3, radius=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SplitWarning)
            radius = 1 if protocol.startswith("disjoint") else 0
            expected = make_split(inside, protocol, seed=3, radius=radius, reach=1, class_names=NAMES)
        assert not any("no-data" in s for s in said)
        np.testing.assert_array_equal(split.train, expected.train)
        np.testing.assert_array_equal(split.test, expected.test)
        assert split.train.dtype == expected.train.dtype


def test_hsi_info_says_how_many_labelled_pixels_lie_on_no_data() -> None:
    from hsi_app.io.summary import format_summary, summarize

    cube, labels = _edge_scene()
    info = summarize(cube)
    assert info["labelled_pixels"] == int(np.count_nonzero(labels)) == 210 and info["labelled_on_nodata"] == 18
    assert "classes      3 (210 labelled pixels, 18 of them on no-data and not used)" in format_summary(info)
    inside = summarize(cube.hsi.with_labels(np.where(np.arange(W)[None, :] < 22, labels, 0), NAMES))
    assert inside["labelled_on_nodata"] == 0 and "(192 labelled pixels)\n" in format_summary(inside)
