"""Pd at a fixed Pfa (pixel ROC), checked against an independent brute-force sweep and sklearn's ROC."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hsi_app.tasks.detect_metrics import PdAtPfa, pd_at_pfa, pd_report


def _brute_force(scores: np.ndarray, truth: np.ndarray, pfa: float) -> float:
    """Every observed score tried as a threshold (detected: score >= threshold); the best detection rate among
    those whose false alarms stay within floor(pfa * background); no threshold at all (+inf) detects nothing."""
    s, t = scores.ravel(), truth.ravel()
    bg, tg = s[~t], s[t]
    allowed = math.floor(pfa * bg.size + 1e-9)
    best = 0.0
    for thr in np.unique(s):
        if np.sum(bg >= thr) <= allowed:
            best = max(best, float(np.mean(tg >= thr)))
    return best


def _sklearn(scores: np.ndarray, truth: np.ndarray, pfa: float) -> float:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(truth.ravel(), scores.ravel(), drop_intermediate=False)
    n_bg = int((~truth).sum())
    ok = fpr * n_bg <= math.floor(pfa * n_bg + 1e-9) + 1e-9  # false-alarm counts, not rounded rates
    return float(tpr[ok].max())


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("pfa", [1e-3, 4e-3, 2e-2])
def test_pd_matches_brute_force_and_sklearn_on_tied_scores(seed: int, pfa: float) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.random((60, 50)) < 0.05
    # few distinct values: many ties, inside the background, inside the targets and across the two
    scores = np.round(rng.normal(0, 1, truth.shape) + 1.5 * truth, 1)
    res = pd_at_pfa(scores, truth, pfa)
    want = _brute_force(scores, truth, pfa)
    assert res.pd == pytest.approx(want, abs=1e-12)
    assert res.pd == pytest.approx(_sklearn(scores, truth, pfa), abs=1e-12)
    bg = scores[~truth]
    assert res.false_alarms == int(np.sum(bg >= res.threshold)) <= math.floor(pfa * bg.size + 1e-9)
    # the threshold is the lowest one that keeps the false alarms within the allowance
    lower = np.unique(scores)[np.unique(scores) < res.threshold]
    if lower.size:
        assert np.sum(bg >= lower.max()) > math.floor(pfa * bg.size + 1e-9)


def test_hand_made_case_with_ties_at_the_cut() -> None:
    # 1000 background pixels, Pfa 1e-3: one false alarm allowed. Background: one at 9, two tied at 7, rest 0.
    bg = np.zeros(1000)
    bg[0], bg[1], bg[2] = 9.0, 7.0, 7.0
    tg = np.array([10.0, 9.0, 8.0, 7.0, 7.0, 1.0, 0.0, -1.0])
    scores = np.concatenate([bg, tg])
    truth = np.concatenate([np.zeros(bg.size, bool), np.ones(tg.size, bool)])
    res = pd_at_pfa(scores, truth, 1e-3)
    # threshold 8 lets through the background 9 only (7 would let through three): targets 10, 9, 8 -> 3/8
    assert res == PdAtPfa(1e-3, 3 / 8, 8.0, 1, 1000)
    # Pfa 3e-3 allows three: the tied 7s of both sides pass, and so does the target at 1 (above every other
    # background pixel, at 0): threshold 1 -> 6/8
    assert pd_at_pfa(scores, truth, 3e-3) == PdAtPfa(3e-3, 6 / 8, 1.0, 3, 1000)
    # Pfa 2e-3 allows two, but the 7s come as a pair: still the threshold 8
    assert pd_at_pfa(scores, truth, 2e-3).pd == 3 / 8


def test_too_few_background_pixels_is_none_with_a_reason() -> None:
    rng = np.random.default_rng(3)
    truth = np.zeros((40, 40), bool)
    truth[10:13, 10:13] = True  # 1591 background pixels: 1e-3 measurable, 1e-4 not
    scores = rng.normal(size=truth.shape) + 3 * truth
    rep = pd_report(scores, truth)
    assert rep["pd@pfa1e-3"] == pytest.approx(_brute_force(scores, truth, 1e-3))
    assert rep["pd@pfa1e-4"] is None
    assert rep["pd_null_reasons"] == {"pd@pfa1e-4": "Pfa 0.0001 needs at least 10000 background pixels (one false "
                                                   "alarm in 10000); 1591 scored"}
    assert pd_report(scores, np.zeros_like(truth))["pd_null_reasons"]["pd@pfa1e-3"] == "no target pixels scored"


def test_nan_pixels_and_mask_are_left_out() -> None:
    rng = np.random.default_rng(4)
    truth = rng.random((50, 50)) < 0.1
    scores = rng.normal(size=truth.shape) + truth
    mask = np.ones_like(truth)
    mask[:5] = False
    holed = scores.copy()
    holed[45:] = np.nan
    keep = mask & ~np.isnan(holed)
    got = pd_at_pfa(holed, truth, 4e-3, mask=mask).pd
    assert got == pytest.approx(_brute_force(scores[keep], truth[keep], 4e-3))
