"""Noise models: statistics, fractions, seeding and window invariance."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.noise import BLOCK, IMPULSE_AMOUNTS, add_noise, parse_noise
from hsi_app.errors import ConfigError

SHAPE = (30, 80, 90)


def _clean() -> np.ndarray:
    return np.full(SHAPE, 0.5, dtype=np.float32)


@pytest.mark.parametrize("sigma", [30, 50, 70])
def test_measured_sigma_matches_requested(sigma: int) -> None:
    """Gaussian noise has the requested sigma on the 0-255 scale, to within its sampling error."""
    noisy = add_noise(_clean(), f"gaussian:{sigma}", seed=1)
    measured = float(np.std(noisy - 0.5)) * 255
    # 216,000 samples: the standard error of the sigma estimate is ~0.15 %, so a 2 % scale error fails
    assert measured == pytest.approx(sigma, rel=0.005)
    assert float(np.mean(noisy - 0.5)) == pytest.approx(0.0, abs=0.01)


def test_noniid_sigma_per_band_within_range() -> None:
    noisy = add_noise(_clean(), "noniid:10-70", seed=2)
    per_band = np.std(noisy - 0.5, axis=(1, 2)) * 255
    assert per_band.min() > 9 and per_band.max() < 71.5
    assert per_band.std() > 5  # really different per band


def test_blind_sigma_is_one_value_per_sample() -> None:
    per_band = np.std(add_noise(_clean(), "blind:10-70", seed=3) - 0.5, axis=(1, 2)) * 255
    assert per_band.max() - per_band.min() < 0.1 * per_band.mean()
    assert 9 < per_band.mean() < 71


def _plan(kind: str, seed: int = 4):  # noqa: ANN202
    return parse_noise(kind).plan(SHAPE, seed)


def test_stripe_fractions() -> None:
    # same seed: the Gaussian part of "stripe" equals "noniid", so the difference is the stripes alone
    noisy = _plan("stripe").apply(_clean())
    gauss = _plan("noniid").apply(_clean())
    diff = noisy - gauss
    assert np.allclose(diff, diff[:, :1, :], atol=1e-6)  # constant along every column
    striped = np.abs(diff[:, 0, :]) > 0  # (C, W)
    striped_bands = np.flatnonzero(striped.any(axis=1))
    assert striped_bands.size == round(SHAPE[0] / 3)
    fractions = striped[striped_bands].sum(axis=1) / SHAPE[2]
    assert np.all((fractions >= 0.05 - 1 / SHAPE[2]) & (fractions <= 0.15 + 1 / SHAPE[2]))
    assert np.abs(diff).max() <= 0.25


def test_deadline_fractions() -> None:
    noisy = _plan("deadline").apply(_clean())
    dead = np.all(noisy == 0.0, axis=1)  # (C, W): whole column exactly zero
    dead_bands = np.flatnonzero(dead.any(axis=1))
    assert dead_bands.size == round(SHAPE[0] / 3)
    fractions = dead[dead_bands].sum(axis=1) / SHAPE[2]
    assert np.all((fractions >= 0.05 - 1 / SHAPE[2]) & (fractions <= 0.15 + 1 / SHAPE[2]))


def test_impulse_fractions() -> None:
    plan = _plan("impulse")
    noisy = plan.apply(_clean())
    hit = (noisy == 0.0) | (noisy == 1.0)
    for b in range(SHAPE[0]):
        frac = hit[b].mean()
        if b in plan.impulse:
            assert plan.impulse[b] in IMPULSE_AMOUNTS
            assert frac == pytest.approx(plan.impulse[b], abs=0.02)
        else:
            assert frac == 0.0
    assert len(plan.impulse) == round(SHAPE[0] / 3)


def test_mixture_uses_every_component() -> None:
    plan = _plan("mixture")
    assert plan.stripes and plan.deadlines and plan.impulse
    assert len({len(plan.stripes), len(plan.deadlines), len(plan.impulse)}) == 1


def _extra_noise_per_band(noisy: np.ndarray, gauss: np.ndarray) -> list[set[str]]:
    """Which extra noise types each band of ``noisy`` shows, read from the values (clean = 0.5).

    ``gauss`` is the same seed's ``noniid`` output (the Gaussian part alone): stripes are a
    difference constant down each column, dead lines whole columns of exact 0, impulse
    noise exact 1.0 values (salt; Gaussian noise never lands exactly on 1.0).
    """
    found = []
    for b in range(noisy.shape[0]):
        diff = noisy[b] - gauss[b]
        kinds = set()
        if (noisy[b] == 1.0).any():
            kinds.add("impulse")
        if np.all(noisy[b] == 0.0, axis=0).any():
            kinds.add("deadline")
        if np.abs(diff).max() > 1e-6 and np.allclose(diff, diff[:1], atol=1e-6):
            kinds.add("stripe")
        found.append(kinds)
    return found


@pytest.mark.parametrize(("bands", "sizes"), [(30, [10, 10, 10]), (31, [11, 10, 10]), (32, [11, 11, 10])])
def test_mixture_thirds_are_disjoint_and_cover_every_band(bands: int, sizes: list[int]) -> None:
    # QRNN3D / HSDT: one permutation of the bands cut into consecutive thirds, so no band gets
    # two extra noise types; here the thirds differ by at most one band and cover every band
    shape = (bands, 80, 90)
    clean = np.full(shape, 0.5, dtype=np.float32)
    for seed in (0, 1, 2):
        found = _extra_noise_per_band(parse_noise("mixture").plan(shape, seed).apply(clean),
                                      parse_noise("noniid").plan(shape, seed).apply(clean))
        assert all(len(kinds) == 1 for kinds in found), found  # disjoint, and every band covered
        counts = [sum(kind in kinds for kinds in found) for kind in ("stripe", "deadline", "impulse")]
        assert sorted(counts, reverse=True) == sizes


def test_mixture_band_sets_are_seeded() -> None:
    def sets(seed: int) -> list[list[int]]:
        plan = _plan("mixture", seed)
        return [sorted(plan.stripes), sorted(plan.deadlines), sorted(plan.impulse)]

    assert sets(5) == sets(5)
    assert sets(5) != sets(6)
    # over many seeds every band lands in each third sometimes: the split is random, not fixed
    seen = {kind: set() for kind in range(3)}  # type: dict[int, set[int]]
    for seed in range(40):
        for kind, chosen in enumerate(sets(seed)):
            seen[kind].update(chosen)
    assert all(len(v) == SHAPE[0] for v in seen.values())


def test_seeded_and_reproducible() -> None:
    a = add_noise(_clean(), "mixture", seed=7)
    b = add_noise(_clean(), "mixture", seed=7)
    c = add_noise(_clean(), "mixture", seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_windows_get_the_same_noise_as_the_scene() -> None:
    clean = np.random.default_rng(0).random(SHAPE, dtype=np.float32)
    plan = _plan("mixture", seed=9)
    full = plan.apply(clean)
    r, c, h, w = BLOCK - 5, 17, 30, 50  # straddles a block boundary
    win = plan.apply(clean[:, r : r + h, c : c + w], r, c)
    np.testing.assert_array_equal(win, full[:, r : r + h, c : c + w])


@pytest.mark.parametrize("spec", ["poisson", "gaussian:abc", "gaussian:0", "noniid:70-10", "stripe:3", "gaussian:", "blind: "])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ConfigError, match="--noise"):
        parse_noise(spec)


def test_spec_round_trip() -> None:
    for spec in ("gaussian:50", "blind:10-70", "noniid:10-70", "stripe", "deadline", "impulse", "mixture"):
        assert parse_noise(parse_noise(spec).spec).spec == spec
