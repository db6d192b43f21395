"""Detection metrics on hand-made cases with AP values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.tasks.detect_metrics import (
    Detections,
    average_precision,
    best_score,
    box_iou,
    detection_report,
    mean_ap,
    pixel_auroc,
)


def _det(rows, cols, cls, scores, boxes=None, bins=None) -> Detections:  # noqa: ANN001
    return Detections(np.array(rows, float), np.array(cols, float), np.array(cls, int), np.array(scores, float),
                      None if boxes is None else np.array(boxes, float), None if bins is None else np.array(bins, object))


def test_average_precision_by_hand() -> None:
    # ranked TP, FP, TP with 2 truths: P = 1, 1/2, 2/3; R = 1/2, 1/2, 1 -> AP = 0.5*1 + 0.5*2/3
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2) == pytest.approx(5 / 6)
    # one of three truths found, first: AP = 1/3
    assert average_precision(np.array([0.9, 0.1]), np.array([True, False]), 3) == pytest.approx(1 / 3)
    # FP first, then TP: P = 0, 1/2 -> AP = 1 * 1/2
    assert average_precision(np.array([0.9, 0.5]), np.array([False, True]), 1) == pytest.approx(0.5)
    assert np.isnan(average_precision(np.array([0.3]), np.array([False]), 0))


def test_point_map_distance_thresholds_and_greedy_matching() -> None:
    gt = _det([10.5, 30.5], [10.5, 30.5], [1, 1], [1, 1])
    # best prediction is 1.5 px from truth A; second is exactly on A (duplicate -> FP); third on B
    pred = _det([12.0, 10.5, 30.5], [10.5, 10.5, 30.5], [1, 1, 1], [0.9, 0.8, 0.7])
    # within 1 px: FP, TP(A), TP(B): P = 0, 1/2, 2/3; the envelope lifts 1/2 to 2/3 -> AP = 2/3
    assert mean_ap(pred, gt, threshold=1.0) == pytest.approx(2 / 3)
    # within 2 px: TP(A), FP, TP(B) -> 5/6
    assert mean_ap(pred, gt, threshold=2.0) == pytest.approx(5 / 6)


def test_classes_are_averaged_and_agnostic_pools_them() -> None:
    gt = _det([5.5, 20.5], [5.5, 20.5], [1, 2], [1, 1])
    pred = _det([5.5, 20.5], [5.5, 20.5], [1, 1], [0.9, 0.8])  # second has the wrong class
    # class 1: TP then FP -> AP 1; class 2: nothing found -> AP 0; mean 0.5
    assert mean_ap(pred, gt, threshold=1.0) == pytest.approx(0.5)
    assert mean_ap(pred, gt, threshold=1.0, class_agnostic=True) == pytest.approx(1.0)


def test_box_iou_and_box_map() -> None:
    iou = box_iou(np.array([[0, 0, 2, 2]]), np.array([[0, 0, 2, 2], [1, 1, 3, 3], [5, 5, 6, 6]]))
    np.testing.assert_allclose(iou, [[1.0, 1 / 7, 0.0]])
    gt = _det([1.0], [1.0], [1], [1], boxes=[[0, 0, 2, 2]])
    pred = _det([1.5, 1.0], [1.5, 1.0], [1, 1], [0.9, 0.5], boxes=[[0, 0, 2, 3], [0, 0, 2, 2]])
    # IoU 2/3 passes 0.5 -> first is TP, AP 1; at 0.7 only the second matches -> FP, TP -> 0.5
    assert mean_ap(pred, gt, kind="box", threshold=0.5) == pytest.approx(1.0)
    assert mean_ap(pred, gt, kind="box", threshold=0.7) == pytest.approx(0.5)


def test_thresholds_are_inclusive_at_the_boundary() -> None:
    """A hit exactly 1 px away counts at threshold 1 px; a box with IoU exactly 0.5 counts at 0.5."""
    gt = _det([10.5], [10.5], [1], [1], boxes=[[0, 0, 2, 2]])
    pred = _det([11.5], [10.5], [1], [0.9], boxes=[[0, 0, 2, 4]])  # overlap 4, union 8
    np.testing.assert_allclose(box_iou(np.array([[0, 0, 2, 2]]), np.array([[0, 0, 2, 4]])), [[0.5]])
    assert mean_ap(pred, gt, kind="point", threshold=1.0) == pytest.approx(1.0)
    assert mean_ap(pred, gt, kind="box", threshold=0.5) == pytest.approx(1.0)
    assert mean_ap(pred, gt, kind="point", threshold=0.99) == pytest.approx(0.0)
    assert mean_ap(pred, gt, kind="box", threshold=0.51) == pytest.approx(0.0)


def test_size_bins_ignore_other_truth() -> None:
    gt = _det([5.5, 20.5], [5.5, 20.5], [1, 1], [1, 1], bins=["sub-pixel", "6-16"])
    pred = _det([20.5, 5.5, 40.0], [20.5, 5.5, 40.0], [1, 1, 1], [0.9, 0.8, 0.7])
    # "sub-pixel" bin: the big target's match is dropped, then TP, FP -> AP 1
    rep = detection_report(pred, gt, bins=("sub-pixel", "6-16"))
    assert rep["sub-pixel/mAP@1px"] == pytest.approx(1.0)
    assert rep["6-16/mAP@1px"] == pytest.approx(1.0)
    assert rep["mAP@1px"] == pytest.approx(1.0)
    assert "mAP50" not in rep  # no boxes, no box metrics


def test_pixel_auroc_known_value() -> None:
    scores = np.array([[0.1, 0.4], [0.35, 0.8]])
    truth = np.array([[False, False], [True, True]])
    # pairs (pos, neg): (0.35, 0.1) win, (0.35, 0.4) lose, (0.8, *) win -> 3/4
    assert pixel_auroc(scores, truth) == pytest.approx(0.75)
    assert np.isnan(pixel_auroc(scores, np.zeros((2, 2), bool)))


def test_pixel_auroc_counts_ties_as_one_half() -> None:
    """A constant (saturated) map is uninformative: 0.5 wherever the targets lie, not 0 or 1."""
    flat = np.ones((4, 5))
    first_row = np.zeros((4, 5), bool)
    first_row[0] = True
    assert pixel_auroc(flat, first_row) == pytest.approx(0.5)
    assert pixel_auroc(flat, first_row[::-1]) == pytest.approx(0.5)
    # targets 0.9, 0.5; background 0.5, 0.5, 0.1: pairs won 3 + 1, tied 0 + 2 (half each), lost 0 -> 5/6
    scores = np.array([[0.9, 0.5, 0.5, 0.5, 0.1]])
    truth = np.array([[True, True, False, False, False]])
    assert pixel_auroc(scores, truth) == pytest.approx(5 / 6)


def test_best_score_keeps_no_data_pixels_nan_without_a_warning() -> None:
    import warnings

    nan = np.nan
    scores = np.array([[[1.0, nan, nan], [-np.inf, 2.0, nan]],
                       [[3.0, 5.0, nan], [nan, 1.0, nan]]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice encountered" would fail here
        best = best_score(scores)
    np.testing.assert_array_equal(best, [[3.0, 5.0, nan], [-np.inf, 2.0, nan]])


def test_a_prediction_takes_truth_in_the_bin_before_ignored_truth() -> None:
    """COCO: 1.3 px from a small target and 0.2 px from a big one, the small-bin score counts the small match."""
    gt = _det([10.0, 10.0], [10.0, 11.5], [1, 1], [1, 1], bins=["1-2", "6-16"])
    pred = _det([10.0], [11.3], [1], [0.9])
    rep = detection_report(pred, gt, distances=(2.0,), bins=("1-2", "6-16"))
    assert rep["1-2/mAP@2px"] == pytest.approx(1.0)
    assert rep["6-16/mAP@2px"] == pytest.approx(1.0)  # scored per bin: there it takes the big target
    assert rep["mAP@2px"] == pytest.approx(0.5)  # overall: one prediction, two targets (nearest first)


def test_truth_without_sizes_has_no_per_bin_scores() -> None:
    gt = _det([5.5, 20.5], [5.5, 20.5], [1, 1], [1, 1])  # no size_bin column
    pred = _det([5.5], [5.5], [1], [0.9])
    rep = detection_report(pred, gt, bins=("1-2",))
    assert rep["mAP@2px"] == pytest.approx(0.5)
    assert not any("/" in k for k in rep)  # the bins were copies of the overall 0.5
    assert np.isnan(mean_ap(pred, gt, size_bin="1-2"))


def test_infinite_scores_are_ranked_not_dropped() -> None:
    scores = np.array([[np.inf, 0.2], [0.5, np.nan]])
    truth = np.array([[True, False], [False, False]])
    assert pixel_auroc(scores, truth) == pytest.approx(1.0)  # the +inf target outranks both background pixels


def test_a_saturated_plateau_is_one_peak_and_inf_is_a_peak() -> None:
    from hsi_app.tasks.detection import find_peaks

    s = np.zeros((1, 9, 9))
    s[0, 4, 4:6] = 1.0  # two neighbouring pixels at the same maximum: one object
    s[0, 1, 1] = np.inf
    s[0, 7, 7] = np.nan
    det = find_peaks(s, threshold=0.5)
    assert sorted(zip(det.row.tolist(), det.col.tolist(), strict=True)) == [(1.5, 1.5), (4.5, 4.5)]
    flat = find_peaks(np.ones((1, 4, 4)), threshold=0.5)  # a constant map: one peak, not sixteen
    assert len(flat) == 1


def test_reports_are_written_as_strict_json() -> None:
    import json

    from hsi_app.checkpoint import finite_json as json_ready

    gt = _det([5.5], [5.5], [1], [1], bins=["6-16"])
    rep = detection_report(_det([5.5], [5.5], [1], [0.9]), gt, bins=("1-2", "6-16"))
    assert np.isnan(rep["1-2/mAP@2px"])  # a bin without targets
    text = json.dumps(json_ready(rep), allow_nan=False)
    assert json.loads(text)["1-2/mAP@2px"] is None and json.loads(text)["6-16/mAP@2px"] == 1.0
