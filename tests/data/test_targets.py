"""Point-target simulator: abundance maths, footprints, spacing, size bins, seeding."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.targets import SIZE_BINS, SimOptions, disc_coverage, simulate_targets, size_bin
from hsi_app.errors import ConfigError

C, H, W = 5, 40, 40


def _flat_background(value: float = 0.2) -> np.ndarray:
    return np.full((C, H, W), value, np.float32)


def _library() -> np.ndarray:
    return np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.3, 0.5, 0.7, 0.9], [0.5, 0.5, 0.9, 0.1, 0.2]], np.float32)


def test_disc_coverage_matches_area_and_is_fractional_at_edges() -> None:
    sl, cover = disc_coverage(10.3, 12.7, np.sqrt(9.0 / np.pi), (H, W))
    assert cover.sum() == pytest.approx(9.0, rel=0.03)  # coverage sums to the disc area
    assert cover.max() == pytest.approx(1.0)
    assert ((cover > 0) & (cover < 1)).any()  # fractional edge pixels
    assert sl[0].start <= 10 < sl[0].stop and sl[1].start <= 12 < sl[1].stop


def test_single_material_pixels_follow_linear_mixing() -> None:
    bg = _flat_background()
    lib = _library()
    sc = simulate_targets(bg, lib[:1], ["a"], seed=1, options=SimOptions(n_targets=6, gain=0.0, max_materials=1))
    assert len(sc.targets) == 6
    a = sc.abundance
    expected = a[None] * lib[0][:, None, None] + (1 - a[None]) * bg
    np.testing.assert_allclose(sc.image, expected, atol=1e-6)
    assert np.all(sc.class_map[a > 0] == 1) and np.all(sc.class_map[a == 0] == 0)


def test_mixed_targets_use_gain_and_proportions() -> None:
    bg = _flat_background(0.3)
    lib = _library()
    sc = simulate_targets(bg, lib, ["a", "b", "c"], seed=7,
                          options=SimOptions(n_targets=12, gain=0.3, max_materials=3, bins={"6-16": 1.0}))
    names = ["a", "b", "c"]
    saw_mix = False
    for t in sc.targets:
        r, c = int(t.row), int(t.col)
        a = sc.abundance[r, c]
        mats = [names.index(m) for m in t.materials.split("+")]
        props = np.array([float(p) for p in t.proportions.split("+")])
        saw_mix |= len(mats) > 1
        assert props.sum() == pytest.approx(1.0, abs=2e-3)
        assert 0.7 <= t.gain <= 1.3
        assert mats[0] == t.class_id - 1 and (len(mats) == 1 or props[0] >= 0.6 - 1e-3)
        spec = t.gain * (props @ lib[mats])
        np.testing.assert_allclose(sc.image[:, r, c], a * spec + (1 - a) * bg[:, r, c], atol=2e-3)
    assert saw_mix


def test_spacing_sizes_boxes_and_subpixel_abundance() -> None:
    sc = simulate_targets(_flat_background(), _library(), ["a", "b", "c"], seed=3, options=SimOptions(n_targets=15))
    rc = np.array([[t.row, t.col] for t in sc.targets])
    d = np.hypot(*(rc[:, None] - rc[None]).transpose(2, 0, 1))
    assert d[~np.eye(len(rc), dtype=bool)].min() >= 8.0
    for t in sc.targets:
        lo, hi = SIZE_BINS[t.size_bin]
        assert lo <= t.area <= hi and size_bin(t.area) == t.size_bin
        r0, c0, r1, c1 = t.box
        assert r0 <= t.row < r1 and c0 <= t.col < c1
        if t.size_bin == "sub-pixel":
            assert t.peak_abundance < 1.0  # a sub-pixel target never fills a pixel


def test_seeded_and_region_respected() -> None:
    bg, lib = _flat_background(), _library()
    region = np.zeros((H, W), bool)
    region[:, 20:] = True
    one = simulate_targets(bg, lib, ["a", "b", "c"], seed=5, region=region)
    two = simulate_targets(bg, lib, ["a", "b", "c"], seed=5, region=region)
    other = simulate_targets(bg, lib, ["a", "b", "c"], seed=6, region=region)
    np.testing.assert_array_equal(one.image, two.image)
    assert not np.array_equal(one.image, other.image)
    assert not one.abundance[:, :20].any() and one.abundance.any()


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="spectra"):
        simulate_targets(_flat_background(), _library()[:, :3], ["a", "b", "c"], seed=0)
    with pytest.raises(ConfigError, match="size bins"):
        simulate_targets(_flat_background(), _library(), ["a", "b", "c"], seed=0, options=SimOptions(bins={"huge": 1.0}))


@pytest.mark.parametrize("opts", [SimOptions(n_targets=-5), SimOptions(density=float("nan")), SimOptions(density=-1.0),
                                  SimOptions(min_distance=-2.0)])
def test_negative_counts_are_bad_options_not_a_full_region(opts: SimOptions) -> None:
    with pytest.raises(ConfigError, match="n_targets|density"):
        simulate_targets(_flat_background(), _library(), ["a", "b", "c"], seed=0, options=opts)


def _shared_pixel_pairs(targets: list) -> int:  # noqa: ANN001
    """Pairs of targets whose discs both meet some pixel square (geometry, independent of the supersampling)."""
    feet = []
    for t in targets:
        radius = np.sqrt(t.area / np.pi)
        rr, cc = np.mgrid[0:H, 0:W]
        dy = np.maximum(np.maximum(rr - t.row, t.row - (rr + 1)), 0)
        dx = np.maximum(np.maximum(cc - t.col, t.col - (cc + 1)), 0)
        feet.append(set(zip(*np.nonzero(dy**2 + dx**2 < radius**2), strict=True)))
    return sum(bool(feet[i] & feet[j]) for i in range(len(feet)) for j in range(i + 1, len(feet)))


def test_min_distance_keeps_the_largest_footprints_off_each_others_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only 16 px-bin targets, packed: at the smallest spacing allowed no pixel meets two discs, so each target's
    pixels hold exactly its own abundance and class and mix only its spectrum with the background."""
    from hsi_app.data import targets

    assert targets.SEPARATE_SPACING == pytest.approx(2 * np.sqrt(16 / np.pi) + np.sqrt(2))  # 5.928 px
    bg, lib = _flat_background(), _library()
    opts = SimOptions(n_targets=70, min_distance=5.93, bins={"6-16": 1.0}, gain=0.0, max_materials=1)
    sc = simulate_targets(bg, lib, ["a", "b", "c"], seed=3, options=opts)
    assert len(sc.targets) >= 20 and _shared_pixel_pairs(sc.targets) == 0
    for t in sc.targets:
        sl, cover = disc_coverage(t.row, t.col, np.sqrt(t.area / np.pi), (H, W))
        on = cover > 0
        np.testing.assert_array_equal(sc.abundance[sl][on], cover[on])
        assert (sc.class_map[sl][on] == t.class_id).all()
        expected = cover[on] * lib[t.class_id - 1][:, None] + (1 - cover[on]) * 0.2
        np.testing.assert_allclose(sc.image[:, sl[0], sl[1]][:, on], expected, atol=1e-6)
    with pytest.raises(ConfigError, match=r"^min_distance 5\.9: below 5\.93 px two of the largest targets"):
        simulate_targets(bg, lib, ["a", "b", "c"], seed=3, options=SimOptions(min_distance=5.9))
    # what the refusal prevents: closer, the same simulator does put two discs on one pixel
    monkeypatch.setattr(targets, "check_min_distance", lambda *_: None)
    closer = SimOptions(**{**opts.__dict__, "min_distance": 4.6})
    close = simulate_targets(bg, lib, ["a", "b", "c"], seed=3, options=closer)
    assert _shared_pixel_pairs(close.targets) > 0
