"""Split protocols: counts, leakage buffer, determinism, persistence, error messages."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from hsi_app.data.splits import (
    LEAK_WARNING,
    Split,
    SplitSpec,
    SplitWarning,
    check_split,
    make_split,
    parse_split,
    split_from_maps,
)
from hsi_app.errors import ConfigError, DatasetNotFoundError, HSIError, LabelError


def field_labels(h: int = 48, w: int = 56, n_classes: int = 5, seed: int = 0) -> np.ndarray:
    """Seeded field-like label map: Voronoi regions of ``n_classes`` classes, ~25% unlabelled.

    Returns (H, W) int32 with classes 1..n_classes, each spread over several regions.
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, [h, w], size=(4 * n_classes, 2))
    yy, xx = np.mgrid[0:h, 0:w]
    dist = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
    region = dist.argmin(axis=-1)
    labels = (region % n_classes + 1).astype(np.int32)
    labels[rng.random((h, w)) < 0.25] = 0
    return labels


def min_chebyshev(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Brute force: Chebyshev distance from each pixel of mask ``a`` to the nearest of mask ``b``."""
    pa, pb = np.argwhere(a), np.argwhere(b)
    out = np.empty(pa.shape[0], dtype=np.int64)
    for start in range(0, pa.shape[0], 512):
        chunk = pa[start : start + 512]
        d = np.abs(chunk[:, None, :] - pb[None, :, :]).max(axis=2)
        out[start : start + 512] = d.min(axis=1)
    return out


def expected_random(fraction: float, n: int) -> int:
    k = max(1, round(fraction * n))
    return min(k, n - 1) if n > 1 else 1


# ----------------------------------------------------------------------------- parse_split


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [("random:0.1", "random", 0.1), ("fixed:20", "fixed", 20), (" Disjoint:0.5 ", "disjoint", 0.5)],
)
def test_parse_split_accepts_documented_forms(text: str, kind: str, value: float) -> None:
    spec = parse_split(text)
    assert spec == SplitSpec(kind, value)  # type: ignore[arg-type]
    assert isinstance(spec.value, int) == (kind == "fixed")
    assert parse_split(str(spec)) == spec


@pytest.mark.parametrize(
    "text",
    [
        "random",
        "random:",
        "random:1.5",
        "random:0",
        "random:nan",
        "random:abc",
        "fixed:0",
        "fixed:2.5",
        "blocks:0.5",
        "",
        "maps",
        "disjoint:1",
    ],
)
def test_parse_split_rejects_bad_specs_with_accepted_forms(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_split(text)
    msg = str(info.value)
    assert "\n" not in msg
    assert "random:F" in msg and "fixed:N" in msg and "disjoint:F" in msg


def test_splitspec_validates_values() -> None:
    with pytest.raises(ConfigError):
        SplitSpec("random", 2.0)
    with pytest.raises(ConfigError):
        SplitSpec("fixed", 0)
    with pytest.raises(ConfigError):
        SplitSpec("checkerboard", 0.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="split_from_maps"):
        make_split(field_labels(), SplitSpec("maps"))


# ------------------------------------------------------------------------- random / fixed


@pytest.mark.parametrize("fraction", [0.1, 0.9])
def test_random_split_counts_follow_formula_and_cover_labels(fraction: float) -> None:
    labels = field_labels()
    labels[0, 0], labels[0, 1] = 6, 7  # single-pixel classes
    labels[1, :2] = 8  # two-pixel class
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split = make_split(labels, f"random:{fraction}", seed=3)
    for cls in np.unique(labels[labels > 0]):
        n = int((labels == cls).sum())
        assert int((split.train == cls).sum()) == expected_random(fraction, n), cls
        assert int((split.test == cls).sum()) == n - expected_random(fraction, n), cls
    assert not np.any((split.train > 0) & (split.test > 0))
    np.testing.assert_array_equal(np.maximum(split.train, split.test), labels)
    assert int((split.train == 8).sum()) == 1  # two-pixel class: one each side at any fraction
    assert (
        split.leaky
        and split.protocol == f"random:{fraction}"
        and split.radius == 0
        and split.dropped == 0
    )
    assert split.train.dtype == np.int32 and split.test.dtype == np.int32
    absent = [str(w.message) for w in caught if issubclass(w.category, SplitWarning)]
    assert any("class 6 is absent from test" in m for m in absent)
    assert any("class 7 is absent from test" in m for m in absent)
    check_split(split, labels)


def test_fixed_split_takes_n_per_class_and_half_of_small_classes() -> None:
    labels = field_labels()
    labels[labels == 5] = 0
    labels[0, :3] = 5  # 3 pixels <= N: 1 for training
    with pytest.warns(SplitWarning, match="class 5 has only 3 pixels"):
        split = make_split(labels, "fixed:10", seed=1)
    for cls in (1, 2, 3, 4):
        assert int((split.train == cls).sum()) == 10
        assert int((split.test == cls).sum()) == int((labels == cls).sum()) - 10
    assert int((split.train == 5).sum()) == 1 and int((split.test == 5).sum()) == 2
    assert split.leaky
    check_split(split, labels)


def test_same_seed_same_split_other_seed_differs() -> None:
    labels = field_labels()
    for spec in ("random:0.2", "fixed:7", "disjoint:0.5"):
        a = make_split(labels, spec, seed=11, radius=1)
        b = make_split(labels, spec, seed=11, radius=1)
        np.testing.assert_array_equal(a.train, b.train)
        np.testing.assert_array_equal(a.test, b.test)
    c = make_split(labels, "random:0.2", seed=12)
    assert not np.array_equal(c.train, make_split(labels, "random:0.2", seed=11).train)


# ------------------------------------------------------------------------------- disjoint


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_disjoint_buffer_holds_by_brute_force(radius: int) -> None:
    labels = field_labels(36, 40, seed=4)
    split = make_split(labels, "disjoint:0.5", seed=0, radius=radius, block=6, reach=radius)
    assert not split.leaky and split.radius == radius
    assert split.n_train > 0 and split.n_test > 0
    assert min_chebyshev(split.test > 0, split.train > 0).min() > radius
    labelled = int((labels > 0).sum())
    assert split.dropped == labelled - split.n_train - split.n_test
    if radius == 0:
        assert split.dropped == 0
    np.testing.assert_array_equal(split.train[split.train > 0], labels[split.train > 0])
    np.testing.assert_array_equal(split.test[split.test > 0], labels[split.test > 0])
    check_split(split, labels)


def whole_block_origins(labels: np.ndarray, train: np.ndarray, block: int) -> list[tuple[int, int]]:
    """Grid origins ``(oy, ox)`` (block ``(i, j)`` starts at row ``i b - oy``) for which every
    block holds either none or all of its labelled pixels in ``train``."""
    found = []
    h, w = labels.shape
    for oy in range(block):
        for ox in range(block):
            ok = True
            for y0 in range(-oy, h, block):
                for x0 in range(-ox, w, block):
                    sl = (slice(max(y0, 0), y0 + block), slice(max(x0, 0), x0 + block))
                    tr, lab = train[sl] > 0, labels[sl] > 0
                    ok = ok and (not tr.any() or np.array_equal(tr, lab))
            if ok:
                found.append((oy, ox))
    return found


def test_disjoint_assigns_whole_blocks_near_target_fraction() -> None:
    labels = field_labels(60, 60, n_classes=4, seed=7)
    block = 6
    split = make_split(labels, "disjoint:0.3", seed=2, block=block)
    assert whole_block_origins(labels, split.train, block)  # whole blocks of some shifted grid
    for cls in range(1, 5):
        share = (split.train == cls).sum() / (labels == cls).sum()
        assert abs(share - 0.3) < 0.08, (cls, share)
        assert (split.test == cls).any()


def test_disjoint_ignores_gaps_in_the_class_numbering() -> None:
    """Ids 1, 5, 9 (or a crop without class 1): the missing ids have no share to meet, and the split
    is the one of the same labels numbered 1, 2, 3."""
    dense = field_labels(60, 60, n_classes=3, seed=7)
    gappy = np.select([dense == 1, dense == 2, dense == 3], [1, 5, 9], 0).astype(dense.dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0/0 on the absent ids
        a, b = make_split(dense, "disjoint:0.5", seed=3), make_split(gappy, "disjoint:0.5", seed=3)
    assert (a.train > 0).sum() > 0
    np.testing.assert_array_equal(a.train > 0, b.train > 0)
    np.testing.assert_array_equal(a.test > 0, b.test > 0)
    np.testing.assert_array_equal(b.train[b.train > 0], gappy[b.train > 0])


def test_disjoint_seeds_shift_the_grid_and_give_different_layouts() -> None:
    labels = field_labels(60, 60, n_classes=4, seed=7)
    block = 6
    trains = [make_split(labels, "disjoint:0.5", seed=s, block=block, radius=1).train > 0 for s in range(6)]
    for i in range(6):
        for j in range(i):  # no two seeds share most of their training pixels
            jaccard = (trains[i] & trains[j]).sum() / (trains[i] | trains[j]).sum()
            assert jaccard < 0.8, (i, j, jaccard)
    origins = {o for t in trains for o in whole_block_origins(labels, t, block)}
    assert len(origins) > 1  # the seeds use different grid origins
    legacy = make_split(labels, "disjoint:0.5", seed=3, block=block, legacy_blocks=True)
    assert (0, 0) in whole_block_origins(labels, legacy.train, block)  # the grid of session <= 32


def test_disjoint_buffer_removes_all_pixels_of_every_training_patch() -> None:
    labels = field_labels(40, 40, seed=5)
    r = 2
    split = make_split(labels, "disjoint:0.4", seed=1, radius=r, block=8)
    rows, cols = np.nonzero(split.train)
    for y, x in zip(rows, cols, strict=True):  # every (2r+1)^2 patch around a training pixel
        patch = split.test[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1]
        assert not patch.any()


def test_disjoint_warns_for_class_in_a_single_block() -> None:
    labels = field_labels(40, 40, n_classes=3, seed=6)
    labels[labels == 3] = 0
    labels[5, 5] = 3  # class 3 is one pixel, so it lies in one block whatever the grid's origin
    for seed in range(4):  # it goes to training (whichever grid origin), where the model can learn it
        with pytest.warns(SplitWarning, match="class 3 is absent from test"):
            split = make_split(labels, "disjoint:0.5", seed=seed, block=10)
        assert split.train[5, 5] == 3
    for cls in (1, 2):
        assert (split.train == cls).any() and (split.test == cls).any()


def test_buffer_applies_to_pixel_splits_too() -> None:
    labels = field_labels()
    split = make_split(labels, "fixed:3", seed=0, radius=1)
    assert split.dropped > 0
    assert min_chebyshev(split.test > 0, split.train > 0).min() > 1
    assert split.n_train + split.n_test + split.dropped == int((labels > 0).sum())


# ---------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "labels",
    [
        np.zeros((5, 5), dtype=np.int32),
        np.ones((2, 5, 5), dtype=np.int32),
        np.full((5, 5), 1.5),  # fractional ids (whole-number floats are taken as their integers)
        -np.ones((5, 5), dtype=int),
    ],
    ids=["unlabelled", "3d", "fractional", "negative"],
)
def test_bad_label_maps_raise_label_error(labels: np.ndarray) -> None:
    with pytest.raises(LabelError):
        make_split(labels, "random:0.5")


def test_bad_radius_and_block_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        make_split(field_labels(), "disjoint:0.5", radius=-1)
    with pytest.raises(ConfigError):
        make_split(field_labels(), "disjoint:0.5", block=0)


# ------------------------------------------------------------------------------ maps


def test_split_from_maps_accepts_disjoint_maps() -> None:
    labels = field_labels()
    train = np.where(np.arange(labels.shape[1])[None, :] < 20, labels, 0)
    test = np.where(np.arange(labels.shape[1])[None, :] >= 20, labels, 0)
    split = split_from_maps(train, test)
    assert split.protocol == "maps" and not split.leaky and split.radius == 0
    assert split.n_train == int((train > 0).sum()) and split.n_test == int((test > 0).sum())
    assert LEAK_WARNING not in split.describe()
    check_split(split, labels)


def test_replayed_maps_are_leaky_when_test_pixels_are_within_the_models_reach() -> None:
    """A random:0.1 split saved and given back as --train-labels/--test-labels is as leaky as the original."""
    from hsi_app.data.splits import leak_note

    labels = field_labels()
    drawn = make_split(labels, "random:0.1", seed=3)
    replayed = split_from_maps(drawn.train, drawn.test, radius=5)
    assert replayed.leaky and replayed.radius == 0 and "LEAKY" in replayed.describe()
    assert leak_note(replayed.leaky, replayed.protocol).startswith(" (LEAKY protocol: test pixels lie inside")
    cols = np.arange(labels.shape[1])[None, :]
    train, test = np.where(cols < 20, labels, 0), np.where(cols >= 32, labels, 0)  # 12 columns apart
    gap = int(min_chebyshev(test > 0, train > 0).min())
    apart = split_from_maps(train, test, radius=5)
    assert not apart.leaky and apart.radius == gap - 1 >= 5
    assert apart.describe().endswith(f"classes, test pixels over {gap - 1} px from training") and "seed" not in apart.describe()
    check_split(apart, labels)
    assert split_from_maps(train, test, radius=gap).leaky  # a model that reaches that far sees test pixels
    assert leak_note(False, "maps") == ""


def test_split_from_maps_overlap_names_count_and_fix() -> None:
    train = np.zeros((6, 6), dtype=np.int32)
    test = np.zeros((6, 6), dtype=np.int32)
    train[0, :3] = 1
    test[0, 1:5] = 2
    with pytest.raises(LabelError, match=r"overlap at 2 pixels \(first at row 0, col 1\);.*in a GIS; in Python: test\[train > 0\] = 0"):
        split_from_maps(train, test)
    with pytest.raises(LabelError, match="same shape"):
        split_from_maps(train, test[:5])


def test_split_warnings_name_the_class_when_names_are_known() -> None:
    """README says the warning names the test-only class (Oats on Indian Pines seed 0), not only its id (audit K #6)."""
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.train_classifier import TrainOptions, protocol_split, split_for_run

    labels = np.zeros((8, 8), dtype=np.int32)
    labels[:4, :4], labels[:4, 4:], labels[4:, :4], labels[4:, 4:] = 1, 2, 3, 4
    names = ["unlabelled", "Corn", "Hay", "Wheat", "Oats"]
    train = np.where(np.arange(8)[:, None] % 2 == 0, labels, 0)
    test = np.where(np.arange(8)[:, None] % 2 == 1, labels, 0)
    train[train == 4] = 0  # Oats: test only
    with pytest.warns(SplitWarning, match=r"^split maps: class 4 \(Oats\) is absent from train$"):
        split_from_maps(train, test, class_names=names)
    with pytest.warns(SplitWarning, match=r"^split maps: class 4 is absent from train$"):
        split_from_maps(train, test, class_names=names[:4])  # no name for id 4: the id alone
    cube = make_cube(np.ones((3, 8, 8), np.float32), labels=labels, class_names=names)
    with pytest.warns(SplitWarning, match=r"class 4 \(Oats\) is absent from train"):
        split_for_run(cube, TrainOptions(), 0, train, test, class_names=names)
    one = np.where(labels == 4, 0, labels)
    one[0, 0] = 4  # a one-pixel Oats field: a random split keeps it for training, none left to test
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        protocol_split(make_cube(np.ones((3, 8, 8), np.float32), labels=one, class_names=names), "fixed:1")
    assert [str(w.message) for w in caught if issubclass(w.category, SplitWarning)] == [
        "split fixed:1: class 4 (Oats) has only 1 pixel; using 1 for training",
        "split fixed:1: class 4 (Oats) is absent from test"]


def test_split_from_maps_warns_about_classes_on_one_side_only() -> None:
    """User maps with class 4 only in test and class 5 only in train warn as drawn splits do, naming each class."""
    labels = np.zeros((8, 8), dtype=np.int32)
    labels[:4, :4], labels[:4, 4:], labels[4:, :4], labels[4:, 4:] = 1, 2, 3, 4
    train = np.where(np.arange(8)[:, None] % 2 == 0, labels, 0)
    test = np.where(np.arange(8)[:, None] % 2 == 1, labels, 0)
    train[train == 4] = 0  # class 4: test only
    test[test == 3] = 0  # class 3: train only
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split_from_maps(train, test)
    said = sorted(str(w.message) for w in caught if issubclass(w.category, SplitWarning))
    assert said == ["split maps: class 3 is absent from test", "split maps: class 4 is absent from train"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SplitWarning)  # every class on both sides: no warning
        split_from_maps(np.where(np.arange(8)[:, None] % 2 == 0, labels, 0),
                        np.where(np.arange(8)[:, None] % 2 == 1, labels, 0))


# ------------------------------------------------------------------- Split methods


def test_describe_flags_leaky_splits_only() -> None:
    labels = field_labels()
    leaky = make_split(labels, "random:0.1").describe()
    assert LEAK_WARNING in leaky and "random:0.1" in leaky and "\n" not in leaky
    safe = make_split(labels, "disjoint:0.5", radius=2, block=8).describe()
    assert "LEAKY" not in safe and "buffer 2 px" in safe


def test_save_load_round_trip(tmp_path: pytest.TempPathFactory) -> None:
    labels = field_labels()
    split = make_split(labels, "disjoint:0.5", seed=9, radius=2, block=8)
    path = tmp_path / "split.npz"  # type: ignore[operator]
    split.save(path)
    with np.load(path, allow_pickle=False) as raw:  # readable without pickles
        assert raw["protocol"].dtype.kind == "U"
    back = Split.load(path)
    np.testing.assert_array_equal(back.train, split.train)
    np.testing.assert_array_equal(back.test, split.test)
    assert (back.protocol, back.seed, back.leaky, back.radius, back.dropped) == (
        "disjoint:0.5",
        9,
        False,
        2,
        split.dropped,
    )
    assert back.describe() == split.describe()


def test_the_block_edge_is_recorded_and_older_files_load_without_it(tmp_path: pytest.TempPathFactory) -> None:
    """A disjoint split records its block edge (given, or max(2r + 1, ceil(sqrt(H * W) / 10))); other protocols 0;
    a split.npz saved before the edge was recorded (no "block" entry) loads as it was, with block 0."""
    labels = field_labels()  # 48 x 56: ceil(sqrt(2688) / 10) = 6
    assert make_split(labels, "disjoint:0.5", seed=9, radius=2, block=8).block == 8
    assert make_split(labels, "disjoint:0.5", seed=9, radius=1).block == 6
    assert make_split(labels, "disjoint:0.5", seed=9, radius=4).block == 9
    assert make_split(labels, "random:0.1", seed=9).block == 0
    split = make_split(labels, "disjoint:0.5", seed=9, radius=4)
    path = tmp_path / "split.npz"  # type: ignore[operator]
    split.save(path)
    assert Split.load(path).block == 9 and "blocks of 9 px" in split.describe()
    with np.load(path, allow_pickle=False) as raw:
        old = {k: raw[k] for k in raw.files if k != "block"}
    np.savez_compressed(path, **old)
    back = Split.load(path)
    assert back.block == 0 and back.radius == 4 and back.dropped == split.dropped
    np.testing.assert_array_equal(back.test, split.test)


def test_load_errors(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(DatasetNotFoundError):
        Split.load(tmp_path / "missing.npz")  # type: ignore[operator]
    other = tmp_path / "other.npz"  # type: ignore[operator]
    np.savez(other, a=np.zeros(3))
    with pytest.raises(LabelError, match="missing"):
        Split.load(other)
    junk = tmp_path / "junk.npz"  # type: ignore[operator]
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LabelError):
        Split.load(junk)


def test_validation_is_stratified_subset_of_train() -> None:
    labels = field_labels()
    labels[0, 0] = 6  # single-pixel class stays in training
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        split = make_split(labels, "random:0.3", seed=0)
    rest, val = split.validation(0.25, seed=1)
    assert not np.any((rest > 0) & (val > 0))
    np.testing.assert_array_equal(np.maximum(rest, val), split.train)
    for cls in np.unique(split.train[split.train > 0]):
        n = int((split.train == cls).sum())
        expected = 0 if n < 2 else min(max(1, round(0.25 * n)), n - 1)
        assert int((val == cls).sum()) == expected
        assert int((rest == cls).sum()) >= 1
    again = split.validation(0.25, seed=1)
    np.testing.assert_array_equal(again[1], val)
    with pytest.raises(ConfigError):
        split.validation(1.0)


def test_check_split_detects_broken_invariants() -> None:
    labels = field_labels()
    good = make_split(labels, "random:0.2")
    overlap = Split(good.train, np.where(good.train > 0, good.train, good.test), "random:0.2")
    with pytest.raises(LabelError, match="both train and test"):
        check_split(overlap)
    wrong = good.test.copy()
    wrong[wrong > 0] = wrong[wrong > 0] % 5 + 1  # relabel every test pixel
    with pytest.raises(LabelError, match="disagree"):
        check_split(Split(good.train, wrong, "random:0.2"), labels)
    with pytest.raises(LabelError, match="within 1 px"):
        check_split(Split(good.train, good.test, "random:0.2", radius=1))
    with pytest.raises(LabelError):
        Split(good.train, good.test[:3], "random:0.2")
    assert issubclass(LabelError, HSIError)


# ------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_indian_pines_disjoint_buffer_holds() -> None:
    tensorly_datasets = pytest.importorskip("tensorly.datasets")
    labels = np.asarray(tensorly_datasets.load_indian_pines().ticks[0]).astype(np.int32)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)  # one-block classes of Indian Pines
        split = make_split(labels, "disjoint:0.5", seed=0, radius=5)
    elapsed = time.perf_counter() - start
    check_split(split, labels)
    assert min_chebyshev(split.test > 0, split.train > 0).min() > 5
    assert split.n_train + split.n_test + split.dropped == int((labels > 0).sum())
    assert 0.35 < split.n_train / (labels > 0).sum() < 0.65
    assert split.n_test > 1000
    assert elapsed < 30


def test_fixed_split_names_whole_pixel_counts() -> None:
    with pytest.raises(ConfigError, match="'1.5' is not a whole number of pixels per class"):
        parse_split("fixed:1.5")


@pytest.mark.parametrize("spec", ["random:0.1", "fixed:10", "disjoint:0.5"])
def test_one_leak_rule_for_drawn_and_replayed_splits(spec: str) -> None:
    """A split is leaky for a model when a test pixel lies within its receptive radius of a training
    pixel: never for the per-pixel SVM (reach 0), drawn by make_split or replayed through split_from_maps."""
    labels = field_labels(36, 40, seed=5)
    for reach in (0, 1, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SplitWarning)
            drawn = make_split(labels, spec, seed=2, reach=reach)
        replayed = split_from_maps(drawn.train, drawn.test, radius=reach)
        gap = min_chebyshev(drawn.test > 0, drawn.train > 0).min()  # brute force
        assert drawn.leaky == replayed.leaky == bool(gap <= reach) == (reach > 0 and gap <= reach), (reach, gap)
        assert drawn.for_model(0).leaky is False and drawn.for_model(reach).leaky == drawn.leaky
    assert make_split(labels, "random:0.1", seed=2, reach=0).leaky is False
    assert make_split(labels, "random:0.1", seed=2).leaky  # no model named: a patch model
