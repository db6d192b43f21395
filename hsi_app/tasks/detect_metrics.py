"""Detection metrics: per-pixel AUROC and Pd at a fixed Pfa, point mAP at pixel distances, box mAP at IoU thresholds.

Conventions:

* Points are ``(row, col)`` in continuous pixel coordinates (pixel ``(r, c)`` spans
  ``[r, r+1) x [c, c+1)``). Boxes are ``(row0, col0, row1, col1)`` with exclusive ends.
* Matching is greedy in decreasing score: each prediction takes the closest (points) or
  best-overlapping (boxes) ground truth of the same class that is still free and within
  the threshold (distance ``<= d`` pixels, IoU ``>= t``); otherwise it is a false positive.
* AP is the area under the precision-recall curve with the precision envelope
  (all-point interpolation, as in PASCAL VOC 2010+ and COCO without the 101-point
  sampling): ``AP = sum_i (R_i - R_{i-1}) * max_{j >= i} P_j`` over true positives.
* mAP is the mean AP over classes that have ground truth. ``class_agnostic=True`` pools
  all classes into one (used for RX, which does not name a class).
* Size bins follow COCO's area ranges and matching: ground truth outside the bin is
  ignored; each prediction takes ground truth in the bin when any is free and within the
  threshold, else ignored ground truth, and is then dropped (neither TP nor FP);
  unmatched predictions stay false positives. Truth without sizes has no per-bin scores.
* Predictions with equal scores are taken in their input order (as VOC and COCO do).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Detections:
    """Predicted or true objects (one entry each).

    Attributes:
        row, col: ``(N,)`` float centres, continuous pixel coordinates.
        class_id: ``(N,)`` int classes 1..K.
        score: ``(N,)`` float confidence (ground truth: ones).
        box: ``(N, 4)`` float ``(row0, col0, row1, col1)`` or ``None``.
        size_bin: ``(N,)`` str size bins of ground truth (or ``None``).
    """

    row: np.ndarray
    col: np.ndarray
    class_id: np.ndarray
    score: np.ndarray
    box: np.ndarray | None = None
    size_bin: np.ndarray | None = None

    def __len__(self) -> int:
        return int(np.asarray(self.row).size)

    @classmethod
    def concat(cls, parts: Sequence[Detections], *, offsets: Sequence[float] | None = None) -> Detections:
        """Join detections of several scenes; scene ``i`` is shifted by ``offsets[i]`` columns
        (so objects of different scenes can never match each other)."""
        offs = list(offsets) if offsets is not None else [0.0] * len(parts)
        boxes = None
        if parts and all(p.box is not None for p in parts):
            boxes = np.concatenate([np.asarray(p.box, float).reshape(-1, 4) + [0, o, 0, o] for p, o in zip(parts, offs, strict=True)])
        bins = None
        if parts and all(p.size_bin is not None for p in parts):
            bins = np.concatenate([np.asarray(p.size_bin) for p in parts])
        return cls(
            np.concatenate([np.asarray(p.row, float) for p in parts]) if parts else np.zeros(0),
            np.concatenate([np.asarray(p.col, float) + o for p, o in zip(parts, offs, strict=True)]) if parts else np.zeros(0),
            np.concatenate([np.asarray(p.class_id, int) for p in parts]) if parts else np.zeros(0, int),
            np.concatenate([np.asarray(p.score, float) for p in parts]) if parts else np.zeros(0),
            boxes, bins,
        )


def best_score(scores: np.ndarray) -> np.ndarray:
    """Per-pixel maximum over score maps, NaN where every map is NaN (no data), without warnings.

    Args:
        scores: ``(K, H, W)`` score maps (NaN = no data).

    Returns:
        ``(H, W)`` float maximum over the finite-or-inf scores of each pixel.
    """
    s = np.asarray(scores)
    empty = np.isnan(s).all(axis=0)
    best = np.where(np.isnan(s), -np.inf, s).max(axis=0)
    return np.where(empty, np.nan, best)


def _scored_pixels(scores: np.ndarray, truth: np.ndarray, mask: np.ndarray | None,
                   who: str) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` float64 scores and ``(N,)`` bool truth of the pixels scored: inside ``mask`` and not NaN
    (+-inf are kept: they rank first or last).

    Raises:
        InvalidDataError: ``truth`` or ``mask`` of another shape than ``scores``; ``truth`` holding values other
            than 0/1 (class ids 1/2 or NaN would all count as targets); ``who`` names the caller.
    """
    from hsi_app.errors import InvalidDataError

    for name, arr in (("truth", truth), ("mask", mask)):
        if arr is not None and np.shape(arr) != np.shape(scores):
            raise InvalidDataError(f"{who}: {name} is {np.shape(arr)} but scores are {np.shape(scores)}; pass "
                                   f"an (H, W) {name} on the score map's grid (e.g. not {name}.T)")
    raw_truth = np.asarray(truth)
    if raw_truth.dtype != bool:
        other = ~((raw_truth == 0) | (raw_truth == 1))
        if other.any():
            raise InvalidDataError(f"{who}: truth holds {raw_truth[other].reshape(-1)[0].item()!r} where a target mask "
                                   "holds True/False (or 1/0); pass a bool mask, e.g. labels == class_id or "
                                   "abundance > 0")
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    t = np.asarray(raw_truth, dtype=bool).reshape(-1)
    keep = ~np.isnan(s) if mask is None else (~np.isnan(s) & np.asarray(mask, bool).reshape(-1))
    return s[keep], t[keep]


def pixel_auroc(scores: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Per-pixel AUROC of a score map against a target mask.

    Computed exactly in float64 as the Mann-Whitney statistic: the chance that a random
    target pixel scores above a random background pixel, ties counting one half (so a
    constant or saturated map scores 0.5, wherever its targets lie).

    Args:
        scores: ``(H, W)`` scores (higher = more target-like; NaN pixels are skipped).
        truth: ``(H, W)`` bool, True on target pixels.
        mask: ``(H, W)`` bool pixels to score (default: all).

    Returns:
        AUROC in [0, 1]; NaN when only one class is present.

    Raises:
        InvalidDataError: ``truth`` or ``mask`` of another shape than ``scores`` (a transposed ``(W, H)`` mask of
            the same pixel count would otherwise be scored against the wrong pixels).
    """
    from scipy.stats import rankdata

    s, t = _scored_pixels(scores, truth, mask, "pixel_auroc")
    n_pos = int(t.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s, method="average")  # 1..N, tied scores share their mean rank
    return float((ranks[t].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


PFA_LEVELS = (1e-3, 1e-4)
"""False-alarm rates at which the probability of detection is reported (``pd@pfa1e-3``, ``pd@pfa1e-4``)."""


@dataclass(frozen=True)
class PdAtPfa:
    """The probability of detection at one false-alarm rate (:func:`pd_at_pfa`).

    Attributes:
        pfa: the false-alarm rate asked for.
        pd: the fraction of target pixels detected, ``None`` when it cannot be measured (``reason`` says why).
        threshold: the score threshold (pixels scoring at or above it are detected); ``inf`` when no score
            lets through few enough background pixels (then nothing is detected, not even a pixel scoring
            ``+inf``: too many background pixels score ``+inf`` too), ``None`` with ``pd``.
        false_alarms: background pixels at or above ``threshold`` (at most ``floor(pfa * n_background)``).
        n_background: background pixels scored.
        reason: why ``pd`` is ``None`` (else ``None``).
    """

    pfa: float
    pd: float | None
    threshold: float | None
    false_alarms: int
    n_background: int
    reason: str | None = None


def pfa_key(pfa: float) -> str:
    """The report key of Pd at ``pfa``: ``pd@pfa1e-3`` for 0.001, ``pd@pfa0.002`` for 0.002."""
    exponent = -math.log10(pfa) if pfa > 0 else math.nan
    if math.isfinite(exponent) and abs(exponent - round(exponent)) < 1e-9:
        return f"pd@pfa1e-{round(exponent)}"
    return f"pd@pfa{pfa:g}"


def pd_at_pfa(scores: np.ndarray, truth: np.ndarray, pfa: float, mask: np.ndarray | None = None) -> PdAtPfa:
    """Pixel-level probability of detection (Pd) at a false-alarm rate (Pfa), from the pixel ROC.

    With ``B`` background pixels, at most ``k = floor(pfa * B)`` of them may be false alarms. The
    threshold is the lowest score (among the scored pixels) that lets through at most ``k`` background
    pixels, a pixel being let through when it scores *at or above* the threshold; Pd is the fraction of
    target pixels at or above it. Ties: pixels of equal score pass or fail together, so when the
    background pixels tied at some score would take the false alarms past ``k``, the threshold lies above
    that score, and target pixels tied with it are not detected; when that score is ``+inf`` the threshold is
    ``inf`` and nothing passes, not even a target pixel scoring ``+inf`` (Pd 0). This is the ROC point of highest
    detection rate with a false-alarm rate at most ``pfa`` (``max TPR`` over ``FPR <= pfa``).

    Fewer than ``1 / pfa`` background pixels (``k = 0``) cannot measure that rate (even one false alarm
    would exceed it): Pd is then ``None`` with the reason, as it is without target pixels.

    Args:
        scores: ``(H, W)`` scores (higher = more target-like; NaN pixels are skipped).
        truth: ``(H, W)`` bool, True on target pixels.
        pfa: the false-alarm rate, in (0, 1).
        mask: ``(H, W)`` bool pixels to score (default: all).

    Returns:
        :class:`PdAtPfa`.

    Raises:
        InvalidDataError: ``truth`` or ``mask`` of another shape than ``scores``.
        ConfigError: ``pfa`` not a number in (0, 1).
    """
    from hsi_app.errors import ConfigError

    if isinstance(pfa, bool) or not isinstance(pfa, numbers.Real) or not 0.0 < float(pfa) < 1.0:
        raise ConfigError(f"pd_at_pfa: pfa {pfa!r} must be a number strictly between 0 and 1 (e.g. 1e-3)")
    s, t = _scored_pixels(scores, truth, mask, "pd_at_pfa")
    background, targets = s[~t], s[t]
    n_bg = int(background.size)
    allowed = math.floor(float(pfa) * n_bg + 1e-9)  # the product of floats may land just below a whole number
    if targets.size == 0:
        return PdAtPfa(float(pfa), None, None, 0, n_bg, "no target pixels scored")
    if allowed < 1:
        need = math.ceil(1.0 / float(pfa) - 1e-9)
        return PdAtPfa(float(pfa), None, None, 0, n_bg, f"Pfa {pfa:g} needs at least {need} background pixels "
                       f"(one false alarm in {need}); {n_bg} scored")
    if allowed >= n_bg:  # every pixel may pass
        return PdAtPfa(float(pfa), 1.0, float(s.min()), n_bg, n_bg)
    # the (allowed + 1)-th highest background score must fail: the threshold is the lowest score above it
    cut = float(np.partition(background, n_bg - allowed - 1)[n_bg - allowed - 1])
    above = s[s > cut]
    threshold = float(above.min()) if above.size else math.inf
    # a pixel passes when it scores above the cut (the same pixels as >= threshold), so a cut at +inf lets none
    # through: +inf targets tied with +inf background fail with it (>= inf would pass them, and the background)
    return PdAtPfa(float(pfa), float(np.mean(targets > cut)), threshold, int(np.sum(background > cut)), n_bg)


def pd_report(scores: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None,
              levels: Sequence[float] = PFA_LEVELS) -> dict[str, Any]:
    """Pd at each false-alarm rate of ``levels`` (:func:`pd_at_pfa`), as report entries.

    Returns:
        ``{"pd@pfa1e-3": Pd or None, "pd@pfa1e-4": ..., "pd_null_reasons": {key: reason}}`` (the reasons of
        the entries that are ``None``; empty when none is).
    """
    out: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for pfa in levels:
        res = pd_at_pfa(scores, truth, pfa, mask)
        out[pfa_key(pfa)] = res.pd
        if res.reason is not None:
            reasons[pfa_key(pfa)] = res.reason
    out["pd_null_reasons"] = reasons
    return out


def average_precision(scores: np.ndarray, tp: np.ndarray, n_gt: int) -> float:
    """All-point interpolated AP of ranked predictions.

    Args:
        scores: ``(N,)`` confidences.
        tp: ``(N,)`` bool, True where the prediction matched a ground truth.
        n_gt: number of ground-truth objects.

    Returns:
        AP in [0, 1]; NaN when ``n_gt == 0``.
    """
    if n_gt <= 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    hits = np.asarray(tp, dtype=bool)[order]
    if hits.size == 0:
        return 0.0
    ctp = np.cumsum(hits)
    precision = ctp / np.arange(1, hits.size + 1)
    recall = ctp / n_gt
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    prev = np.concatenate([[0.0], recall[:-1]])
    return float(np.sum((recall - prev)[hits] * envelope[hits]))


def greedy_match(scores: np.ndarray, quality: np.ndarray, ok: np.ndarray, *, higher_better: bool) -> np.ndarray:
    """Greedy one-to-one matching in decreasing score.

    Args:
        scores: ``(N,)`` prediction confidences.
        quality: ``(N, M)`` distance (lower better) or IoU (higher better).
        ok: ``(N, M)`` bool allowed pairs (same class, within threshold).
        higher_better: True for IoU, False for distances.

    Returns:
        ``(N,)`` int index of the matched ground truth, -1 for none.
    """
    n, m = ok.shape
    out = np.full(n, -1, dtype=np.int64)
    if n == 0 or m == 0:
        return out
    free = np.ones(m, dtype=bool)
    q = np.where(ok, quality if higher_better else -quality, -np.inf)
    for i in np.argsort(-np.asarray(scores, float), kind="stable"):
        cand = np.where(free, q[i], -np.inf)
        j = int(np.argmax(cand))
        if np.isfinite(cand[j]):
            out[i] = j
            free[j] = False
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU ``(N, M)`` of boxes ``(N, 4)`` and ``(M, 4)`` given as ``(row0, col0, row1, col1)``."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    ih = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iw = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ih * iw
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _class_ap(pred: Detections, gt: Detections, *, kind: str, threshold: float, class_agnostic: bool,
              size_bin: str | None) -> dict[int, float]:
    """AP per class (key 0 when class-agnostic)."""
    if size_bin is not None and gt.size_bin is None:  # no sizes known: no per-bin score (not the overall one)
        return {}
    classes = [0] if class_agnostic else sorted({int(c) for c in np.asarray(gt.class_id)})
    out: dict[int, float] = {}
    for k in classes:
        pi = np.arange(len(pred)) if class_agnostic else np.flatnonzero(np.asarray(pred.class_id) == k)
        gi = np.arange(len(gt)) if class_agnostic else np.flatnonzero(np.asarray(gt.class_id) == k)
        if kind == "point":
            quality = np.hypot(np.asarray(pred.row, float)[pi, None] - np.asarray(gt.row, float)[None, gi],
                               np.asarray(pred.col, float)[pi, None] - np.asarray(gt.col, float)[None, gi])
            ok, higher = quality <= threshold, False
        else:
            if pred.box is None or gt.box is None:
                raise ValueError("box mAP needs boxes on both predictions and ground truth")
            quality = box_iou(np.asarray(pred.box)[pi], np.asarray(gt.box)[gi])
            ok, higher = quality >= threshold, True
        scores = np.asarray(pred.score, float)[pi]
        if size_bin is None:
            tp = greedy_match(scores, quality, ok, higher_better=higher) >= 0
            n_gt = gi.size
        else:  # COCO: ground truth in the bin first; a prediction left only with ignored truth is dropped
            in_bin = np.asarray(gt.size_bin)[gi] == size_bin
            tp = greedy_match(scores, quality, ok & in_bin[None, :], higher_better=higher) >= 0
            rest = np.flatnonzero(~tp)
            ignored = np.zeros(tp.size, dtype=bool)
            ignored[rest] = greedy_match(scores[rest], quality[rest], ok[rest] & ~in_bin[None, :],
                                         higher_better=higher) >= 0
            scores, tp = scores[~ignored], tp[~ignored]
            n_gt = int(in_bin.sum())
        if n_gt > 0:
            out[k] = average_precision(scores, tp, n_gt)
    return out


def mean_ap(pred: Detections, gt: Detections, *, kind: str = "point", threshold: float = 2.0,
            class_agnostic: bool = False, size_bin: str | None = None) -> float:
    """mAP over classes of point (``kind="point"``, ``threshold`` = max distance in pixels)
    or box (``kind="box"``, ``threshold`` = min IoU) matches. NaN without ground truth."""
    aps = _class_ap(pred, gt, kind=kind, threshold=threshold, class_agnostic=class_agnostic, size_bin=size_bin)
    return float(np.mean(list(aps.values()))) if aps else float("nan")


def detection_report(pred: Detections, gt: Detections, *, class_agnostic: bool = False,
                     distances: Sequence[float] = (1.0, 2.0, 3.0), ious: Sequence[float] = (0.25, 0.5),
                     bins: Sequence[str] = ("sub-pixel", "1-2", "3-5", "6-16")) -> dict[str, float]:
    """All point and box mAPs, overall and per size bin.

    Returns:
        ``{"mAP@1px", "mAP@2px", "mAP@3px", "mAP25", "mAP50", "<bin>/mAP@2px", "<bin>/mAP50", ...}``
        (box entries only when both sides have boxes, bin entries only when the truth has sizes).
    """
    rep: dict[str, float] = {}
    has_boxes = pred.box is not None and gt.box is not None
    for b in (None, *(bins if gt.size_bin is not None else ())):  # truth without sizes: overall scores only
        pre = "" if b is None else f"{b}/"
        for d in distances:
            rep[f"{pre}mAP@{d:g}px"] = mean_ap(pred, gt, kind="point", threshold=d, class_agnostic=class_agnostic, size_bin=b)
        if has_boxes:
            for t in ious:
                rep[f"{pre}mAP{int(round(100 * t))}"] = mean_ap(pred, gt, kind="box", threshold=t,
                                                                 class_agnostic=class_agnostic, size_bin=b)
    return rep
