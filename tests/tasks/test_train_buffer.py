"""``hsi train --buffer``: a disjoint split's buffer (and so its block layout) as an option, not the model's property.

Indian Pines, seed 0 (README demo, BENCHMARKS.md "Session 47 re-measurements"): the default model's
disjoint:0.5 split (radius 11) has 4668 training and 1684 test pixels, and the SVM scores 45.78 % OA on it;
the SVM's own split (radius 0) has 5113 / 5136 pixels.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main
from hsi_app.data.splits import Split, SplitWarning, make_split
from hsi_app.errors import ConfigError
from hsi_app.tasks.train_classifier import (
    DEFAULT_CLASSIFIER,
    TrainOptions,
    layout_note,
    receptive_radius,
    split_for_run,
)


@pytest.fixture(scope="module")
def indian_pines():  # noqa: ANN201
    from hsi_app.io import open_cube

    return open_cube("indian_pines")


def _split(cube, opts: TrainOptions, radius: int) -> Split:  # noqa: ANN001
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)  # one-block classes of Indian Pines
        return split_for_run(cube, opts, radius)


def test_buffer_11_gives_the_svm_the_default_models_disjoint_split(indian_pines) -> None:  # noqa: ANN001
    """--model svm --split disjoint:0.5 --seed 0 --buffer 11 draws the ssfcn_snv run's split, pixel for pixel."""
    dense_radius = receptive_radius(DEFAULT_CLASSIFIER, 200, 16)
    assert dense_radius == 11  # README: ssfcn_snv's receptive radius
    dense = _split(indian_pines, TrainOptions(model=DEFAULT_CLASSIFIER, split="disjoint:0.5", seed=0), dense_radius)
    svm = _split(indian_pines, TrainOptions(model="svm", split="disjoint:0.5", seed=0, buffer=11), 0)
    np.testing.assert_array_equal(svm.train, dense.train)
    np.testing.assert_array_equal(svm.test, dense.test)
    assert (svm.n_train, svm.n_test) == (dense.n_train, dense.n_test) == (4668, 1684)
    assert svm.radius == dense.radius == 11 and svm.block == dense.block == 23  # max(2 * 11 + 1, ceil(145 / 10))
    own = _split(indian_pines, TrainOptions(model="svm", split="disjoint:0.5", seed=0), 0)  # no --buffer: radius 0
    assert (own.n_train, own.n_test, own.radius, own.block) == (5113, 5136, 0, 15)


def test_a_buffer_below_the_models_radius_is_judged_leaky(indian_pines) -> None:  # noqa: ANN001
    """The one leak rule: ssfcn_snv (radius 11) on a 3-px buffer sees test pixels inside its training patches."""
    narrow = _split(indian_pines, TrainOptions(split="disjoint:0.5", seed=0, buffer=3), 11)
    assert narrow.radius == 3 and narrow.for_model(11).leaky and not narrow.for_model(3).leaky
    assert not _split(indian_pines, TrainOptions(split="disjoint:0.5", seed=0, buffer=11), 11).for_model(11).leaky


def _note(split: Split) -> str:
    return layout_note(split.protocol, split.radius, split.block, split.train.shape)


def test_the_layout_note_names_the_fix_only_below_the_default_radius() -> None:
    labels = np.repeat(np.repeat(np.arange(1, 5).reshape(2, 2), 30, axis=0), 30, axis=1)  # four 30 x 30 fields
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        own = make_split(labels, "disjoint:0.5", seed=0, radius=0)
        wide = make_split(labels, "disjoint:0.5", seed=0, radius=11, block=23)
    note = _note(own)
    assert note.startswith("note: this disjoint:0.5 split (buffer 0 px, blocks 6 px)") and "\n" not in note
    assert "(buffer 11 px, blocks 23 px)" in note and "--buffer 11" in note and "--train-labels/--test-labels" in note
    assert _note(wide) == ""
    assert _note(make_split(labels, "random:0.1", seed=0)) == ""


@pytest.mark.parametrize(("buffer", "split", "needle"), [
    (-1, "disjoint:0.5", "--buffer -1: use a whole number of pixels >= 0"),
    (3, "random:0.1", "--buffer 3: --split random:0.1 has no buffer"),
    (3, "fixed:5", "--buffer 3: --split fixed:5 has no buffer"),
])
def test_a_buffer_that_cannot_apply_is_refused(buffer: int, split: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        TrainOptions(model="svm", split=split, buffer=buffer)


def test_a_buffer_with_given_maps_is_refused() -> None:
    train, test = np.zeros((8, 8), np.int32), np.zeros((8, 8), np.int32)
    train[:2], test[-2:] = 1, 2
    opts = TrainOptions(model="svm", split="disjoint:0.5", buffer=2)
    with pytest.raises(ConfigError, match="--train-labels/--test-labels keep their own gap"):
        split_for_run(None, opts, 0, train, test)  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_documented_svm_baseline_command_reproduces_its_row(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """README demo / BENCHMARKS session 47: SVM on the default model's disjoint:0.5 seed-0 split, 45.78 % OA."""
    out = tmp_path / "svm"
    code, stdout, err = run_main(capsys, "train", "--data", "indian_pines", "--model", "svm", "--split", "disjoint:0.5",
                                 "--seed", "0", "--buffer", "11", "--out", str(out), "--quiet")
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert (m["n_train"], m["n_test"], m["buffer_radius"], m["block"]) == (4668, 1684, 11, 23)
    assert round(100 * m["oa"], 2) == 45.78 and round(100 * m["aa"], 2) == 57.85 and m["leaky"] is False
    assert "svm on disjoint:0.5: OA 45.78%" in stdout and "note:" not in stdout


def test_drawn_splits_of_indian_pines_are_those_of_its_labels(indian_pines) -> None:  # noqa: ANN001
    """Splits are drawn on the labels on valid data (audit O #1); Indian Pines has data at every pixel, so each
    protocol gives exactly make_split's split of its labels, as before, and no no-data note."""
    from hsi_app.tasks.train_classifier import protocol_split

    labels = indian_pines.hsi.labels
    for protocol, radius in (("random:0.1", 0), ("fixed:10", 0), ("disjoint:0.5", 11)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            split = protocol_split(indian_pines, protocol, seed=0, radius=radius)
            expected = make_split(labels, protocol, seed=0, radius=radius if protocol.startswith("disjoint") else 0,
                                  reach=radius, class_names=indian_pines.hsi.class_names)
        assert not any("no-data" in str(w.message) for w in caught)
        assert split.train.tobytes() == expected.train.tobytes() and split.test.tobytes() == expected.test.tobytes()
        assert (split.protocol, split.leaky, split.radius, split.block) == (
            expected.protocol, expected.leaky, expected.radius, expected.block)


def test_a_split_left_without_test_pixels_by_its_buffer_names_the_buffer() -> None:
    from hsi_app.errors import LabelError
    from hsi_app.tasks.train_classifier import check_split_pixels

    train = np.zeros((12, 12), np.int32)
    train[:6, :6], train[6:, 6:] = 1, 2
    split = Split(train=train, test=np.zeros_like(train), protocol="disjoint:0.5", radius=7)
    with pytest.raises(LabelError, match=r"scene.tif: split disjoint:0.5 with its 7-px buffer leaves no test pixel on "
                                         r"valid data; use a smaller --buffer \(now 7\), a smaller training share"):
        check_split_pixels(split, "scene.tif", 7)
    with pytest.raises(LabelError, match=r"scene.tif: split disjoint:0.5 leaves no test pixel on valid data; use a "
                                         r"smaller training share"):  # the model's own radius: no --buffer to name
        check_split_pixels(split, "scene.tif")
