"""Pd at a fixed Pfa with background pixels scoring +inf (review s58 #3): the false alarms never exceed
floor(Pfa * background), checked against a brute-force sweep of every threshold (and of none)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hsi_app.tasks.detect_metrics import pd_at_pfa


def _sweep(scores: np.ndarray, truth: np.ndarray, pfa: float) -> tuple[float, int]:
    """Best detection rate over the pass sets {score >= t} (t every observed score) and the empty set, among
    those with at most floor(pfa * background) background pixels; with the false alarms of the lowest such t."""
    s, t = scores.ravel(), truth.ravel()
    bg, tg = s[~t], s[t]
    allowed = math.floor(pfa * bg.size + 1e-9)
    best, alarms = 0.0, 0  # the empty pass set: nothing detected, no false alarm
    for thr in np.unique(s)[::-1]:  # from the top: the pass sets grow
        fa = int(np.sum(bg >= thr))
        if fa > allowed:
            break
        best, alarms = float(np.mean(tg >= thr)), fa
    return best, alarms


def _scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.zeros((100, 110), bool)
    truth[40:45, 40:45] = True
    return rng.normal(size=truth.shape) + 3 * truth, truth


@pytest.mark.parametrize("pfa", [1e-3, 1e-4])
def test_background_at_plus_inf_beyond_the_allowance_detects_nothing(pfa: float) -> None:
    scores, truth = _scene(0)
    scores[0, :20] = np.inf  # 20 background pixels at +inf: more than floor(Pfa * 10975) (10 or 1)
    scores[truth] = np.inf  # every target at +inf too
    res = pd_at_pfa(scores, truth, pfa)
    assert (res.pd, res.false_alarms) == _sweep(scores, truth, pfa) == (0.0, 0)
    assert res.threshold == math.inf


@pytest.mark.parametrize("pfa", [1e-3, 1e-4])
@pytest.mark.parametrize("n_inf_bg", [1, 3, 10, 11])
def test_plus_and_minus_inf_scores_match_the_sweep(pfa: float, n_inf_bg: int) -> None:
    scores, truth = _scene(1)
    scores[0, :n_inf_bg] = np.inf
    scores[41, 41] = np.inf  # one target at +inf
    scores[42, 40:43] = -np.inf  # targets and background at -inf
    scores[90, :30] = -np.inf
    res = pd_at_pfa(scores, truth, pfa)
    allowed = math.floor(pfa * int((~truth).sum()) + 1e-9)
    assert res.false_alarms <= allowed
    assert (res.pd, res.false_alarms) == _sweep(scores, truth, pfa)


def test_inf_background_within_the_allowance_passes_with_inf_targets() -> None:
    scores, truth = _scene(2)
    scores[0, :5] = np.inf  # 5 of the 10 false alarms allowed at 1e-3
    scores[truth] = np.inf
    res = pd_at_pfa(scores, truth, 1e-3)
    assert (res.pd, res.false_alarms) == _sweep(scores, truth, 1e-3)
    assert res.pd == 1.0 and 5 <= res.false_alarms <= 10
