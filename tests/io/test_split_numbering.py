"""A replayed split's training and test maps are judged together against --labels' numbering (review M3 #1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import LabelError

# Indian Pines' 16 classes; Oats and Grass-pasture-mowed are its two smallest
NAMES = ["unlabelled", "Alfalfa", "Corn-notill", "Corn-mintill", "Corn", "Grass-pasture", "Grass-trees",
         "Grass-pasture-mowed", "Hay-windrowed", "Oats", "Soybean-notill", "Soybean-mintill", "Soybean-clean",
         "Wheat", "Woods", "Buildings-Grass-Trees-Drives", "Stone-Steel-Towers"]
MOWED, OATS = 7, 9


def _scene(small: int) -> np.ndarray:
    """(64, 64) labels: 14 classes in 16 x 16 fields (15 x 15 px each), Grass-pasture-mowed and Oats ``small`` px each."""
    lab = np.zeros((64, 64), np.int32)
    big = [k for k in range(1, 17) if k not in (MOWED, OATS)]
    for i, k in enumerate(big):
        r, c = divmod(i, 4)
        lab[16 * r: 16 * r + 15, 16 * c: 16 * c + 15] = k
    lab[63, 0:small] = MOWED  # the last row, out of every field
    lab[63, 32:32 + small] = OATS
    return lab


def _fixed_split(lab: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``fixed:per_class``-style split: the first ``per_class`` pixels of each class train (a small class:
    half its pixels), the rest test."""
    train, test = np.zeros_like(lab), lab.copy()
    for k in np.unique(lab[lab > 0]):
        rows, cols = np.nonzero(lab == k)
        take = min(per_class, rows.size // 2)
        train[rows[:take], cols[:take]] = k
        test[rows[:take], cols[:take]] = 0
    return train, test


def _replay(tmp_path: Path, lab: np.ndarray, train: np.ndarray, test: np.ndarray) -> list[np.ndarray]:
    """``read_split_labels`` of the two maps saved as .npy, against ``lab`` as --labels."""
    from hsi_app.io.cube import make_cube
    from hsi_app.io.labels import read_split_labels

    np.save(tmp_path / "train.npy", train)
    np.save(tmp_path / "test.npy", test)
    cube = make_cube(np.ones((3, *lab.shape), np.float32), labels=lab, class_names=NAMES)
    _, maps = read_split_labels(cube, (tmp_path / "train.npy", tmp_path / "test.npy"), labels_from="fields.gpkg")
    return maps  # type: ignore[return-value]


def _swap(a: np.ndarray, j: int, k: int) -> np.ndarray:
    """``a`` with ids ``j`` and ``k`` traded."""
    out = a.copy()
    out[a == j], out[a == k] = k, j
    return out


@pytest.mark.parametrize("small", [6, 2])
def test_two_small_classes_swapped_in_both_files_are_refused(tmp_path: Path, small: int) -> None:
    """Oats and Grass-pasture-mowed (``small`` px each, half in each file) traded ids: each file alone has under
    5 of their pixels and agrees at over 99 %, so judged file by file the split passed; together it is refused."""
    lab = _scene(small)
    train, test = _fixed_split(lab, 50)
    assert (train == OATS).sum() == (test == OATS).sum() == small // 2
    swapped = [_swap(m, MOWED, OATS) for m in (train, test)]
    for m in swapped:  # each file on its own looks right overall
        both = (m > 0) & (lab > 0)
        assert (m[both] == lab[both]).mean() > 0.99
    with pytest.raises(LabelError, match=rf"train\.npy and \S*test\.npy: its ids are not --labels fields\.gpkg's ?"
                                         rf"(?:\(the training and test maps judged together\))?: id {MOWED} lies mostly on "
                                         rf"its class {OATS} \(Oats\); id {OATS} lies mostly on its class {MOWED} "
                                         r"\(Grass-pasture-mowed\); the split"):
        _replay(tmp_path, lab, *swapped)


def test_a_correct_split_passes_unchanged(tmp_path: Path) -> None:
    lab = _scene(2)
    train, test = _fixed_split(lab, 10)
    got = _replay(tmp_path, lab, train, test)
    np.testing.assert_array_equal(got[0], train)
    np.testing.assert_array_equal(got[1], test)


def test_a_corrected_label_file_still_replays(tmp_path: Path) -> None:
    """Since the run, --labels moved 4 % of the pixels to a neighbouring big class and all of a 2-px class into a
    big one (a correction, not a renumbering): the split still replays as it is."""
    lab = _scene(2)
    train, test = _fixed_split(lab, 10)
    edited = lab.copy()
    rng = np.random.default_rng(0)
    flat = edited.ravel()
    on = np.flatnonzero(flat > 0)
    moved = rng.choice(on, on.size // 25, replace=False)
    flat[moved] = np.where(flat[moved] == 2, 3, 2)
    edited[lab == OATS] = 2  # the whole small class re-classed as Corn-notill, itself numbered right
    got = _replay(tmp_path, edited, train, test)
    np.testing.assert_array_equal(got[0], train)
    np.testing.assert_array_equal(got[1], test)


def test_a_small_class_on_an_id_the_split_does_not_hold_is_refused() -> None:
    """A 2-px class numbered as an id the split leaves unused is another numbering, however small."""
    from hsi_app.io.split_numbering import split_numbering_errors

    lab = _scene(2)
    train, test = _fixed_split(lab, 10)
    shifted = [np.where(m == OATS, 17, m) for m in (train, test)]  # Oats saved as id 17
    wrong, share, _ = split_numbering_errors(lab, shifted)
    assert wrong == [(17, OATS)] and share > 0.99
    assert split_numbering_errors(lab, [train, test])[0] == []


def test_only_the_file_that_is_wrong_on_its_own_is_named(tmp_path: Path) -> None:
    lab = _scene(6)
    train, test = _fixed_split(lab, 10)
    shift = np.array([0, *range(2, 17), 1], np.int32)  # every id moved
    with pytest.raises(LabelError, match=r"test\.npy: its ids are not --labels fields\.gpkg's: id 1 lies mostly on "
                                         r"its class 16 \(Stone-Steel-Towers\)") as err:
        _replay(tmp_path, lab, train, shift[test])
    assert "train.npy" not in str(err.value)


def test_a_finetunes_split_round_trips_through_its_class_plan(tmp_path: Path) -> None:
    """A fine-tune's split saved on the base's ids (its plan's table) goes back onto --labels' ids with that plan,
    and its base_class_names name each labels id as --labels does (case and spacing aside)."""
    from hsi_app.io.cube import class_name_key, make_cube
    from hsi_app.io.labels import read_split_labels
    from hsi_app.io.split_numbering import split_from_base
    from hsi_app.tasks.finetune_classes import plan_classes

    lab = _scene(6)
    train, test = _fixed_split(lab, 10)
    rng = np.random.default_rng(1)
    order = [0, *(rng.permutation(16) + 1).tolist()]
    base_names = [NAMES[i].upper() if i % 3 == 0 else NAMES[i] for i in order]  # another order, some in capitals
    plan = plan_classes(base_names, NAMES, [lab], "auto")
    assert plan.table is not None and not plan.new_head
    names = plan.base_class_names()
    assert names is not None
    assert [class_name_key(n) for n in names[1:]] == [class_name_key(n) for n in NAMES[1:]]
    on_base = [plan.relabel(m) for m in (train, test)]
    assert not np.array_equal(on_base[0], train)
    for m, want in zip(on_base, (train, test), strict=True):
        np.testing.assert_array_equal(split_from_base(m, plan.table), want)

    np.save(tmp_path / "train.npy", on_base[0])
    np.save(tmp_path / "test.npy", on_base[1])
    cube = make_cube(np.ones((3, 64, 64), np.float32), labels=lab, class_names=NAMES)
    paths = (tmp_path / "train.npy", tmp_path / "test.npy")
    _, (tr, te) = read_split_labels(cube, paths, labels_from="f.gpkg", to_base=plan.table)
    np.testing.assert_array_equal(tr, train)
    np.testing.assert_array_equal(te, test)
    with pytest.raises(LabelError, match="replayed without its --base"):
        read_split_labels(cube, paths, labels_from="f.gpkg")


def test_a_new_heads_plan_has_no_base_class_names() -> None:
    from hsi_app.tasks.finetune_classes import plan_classes

    lab = _scene(6)
    plan = plan_classes(["u", "x", "y"], NAMES, [lab], "auto")
    assert plan.new_head and plan.base_class_names() is None
    unnamed = plan_classes(["u", *NAMES[1:]], None, [lab], "auto")  # unnamed ids 1..16 = the base's 16 classes
    assert not unnamed.new_head and unnamed.base_class_names() == ["u", *NAMES[1:]]


@pytest.mark.parametrize("into", ["a new class", "a class the split leaves out"])
def test_a_small_class_corrected_into_a_class_the_split_lacks_still_replays(tmp_path: Path, into: str) -> None:
    """The corrected --labels moved all of 2-px Oats into a class the split has no pixels of: a newly added id
    17, or Corn-notill (2), which this split leaves out. Oats' pixels in the split lie on that id, but no id of
    the split is misplaced, so it is a correction, not a renumbering: the split replays as it is (it was
    refused as "id 9 lies mostly on its class ...")."""
    lab = _scene(2)
    train, test = _fixed_split(lab, 10)
    edited = lab.copy()
    if into == "a new class":
        edited[lab == OATS] = 17
    else:
        edited[lab == OATS] = 2
        train, test = (np.where(m == 2, 0, m) for m in (train, test))
    names = [*NAMES, "Oats-stubble"]
    from hsi_app.io.cube import make_cube
    from hsi_app.io.labels import read_split_labels

    np.save(tmp_path / "train.npy", train)
    np.save(tmp_path / "test.npy", test)
    cube = make_cube(np.ones((3, *lab.shape), np.float32), labels=edited, class_names=names)
    _, got = read_split_labels(cube, (tmp_path / "train.npy", tmp_path / "test.npy"), labels_from="fields.gpkg")
    np.testing.assert_array_equal(got[0], train)
    np.testing.assert_array_equal(got[1], test)


@pytest.mark.parametrize("cycle", [(OATS, MOWED), (OATS, MOWED, 1)], ids=["swap", "rotation"])
def test_small_classes_that_traded_ids_are_refused_when_one_partner_is_also_in_the_split(cycle: tuple[int, ...]) -> None:
    """Ids that traded places in a cycle (2 px of each small class, 1 of them in each file) are still refused,
    also a rotation through a big class: every partner id is in the split and misplaced."""
    from hsi_app.io.split_numbering import numbering_ok

    lab = _scene(2)
    train, test = _fixed_split(lab, 10)
    rot = np.arange(17)
    rot[list(cycle)] = np.roll(cycle, 1)
    assert not numbering_ok(lab, [rot[train], rot[test]])
    assert numbering_ok(lab, [train, test])


def test_the_refusal_names_the_file_that_holds_the_misplaced_pixels(tmp_path: Path) -> None:
    """The training map traded Oats' and Grass-pasture-mowed's ids (all their split pixels are in it). The test
    map is on the right numbering, but holds only 6 Corn-notill pixels, which the corrected --labels now has
    as Corn-mintill: judged on its own, it failed too and was named beside the training map."""
    lab = _scene(6)
    train, test = _fixed_split(lab, 10)
    train[lab == MOWED], train[lab == OATS] = MOWED, OATS  # both small classes only in the training map
    test[(lab == MOWED) | (lab == OATS)] = 0
    keep = np.flatnonzero((test == 2).ravel())[:6]
    test[test == 2] = 0
    test.ravel()[keep] = 2
    edited = lab.copy()
    edited.ravel()[keep] = 3  # corrected since the run
    with pytest.raises(LabelError, match=rf"^\S*train\.npy: its ids are not --labels fields\.gpkg's: id {MOWED} lies "
                                         rf"mostly on its class {OATS} \(Oats\); id {OATS} lies mostly") as err:
        _replay(tmp_path, edited, _swap(train, MOWED, OATS), test)
    assert "test.npy" not in str(err.value)
