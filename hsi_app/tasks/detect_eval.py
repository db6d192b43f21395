"""Evaluation protocol for detectors on simulated targets in a real background.

The background is split by columns: targets for training are implanted left of
``split_col - buffer`` only, test targets right of ``split_col`` only (a held-out
spatial region), and test scenes use integer seeds that training never uses (training
draws from ``[seed, step, i]`` seed sequences). Every method sees the whole scene (with
targets only in the test region) and is scored on the test region:

* points/boxes: :func:`~hsi_app.tasks.detect_metrics.detection_report` over the peaks
  inside the test region, pooled over all test scenes;
* AUROC and Pd at Pfa 1e-3 / 1e-4 (:func:`~hsi_app.tasks.detect_metrics.pd_at_pfa`): per pixel in the
  test region, pooled over all test scenes, the maximum score over target classes against "abundance > 0".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hsi_app.data.targets import SimOptions, SimulatedScene, simulate_targets
from hsi_app.tasks.detect_metrics import Detections, best_score, detection_report, pd_report, pixel_auroc

TEST_SEED_BASE = 10_000


@dataclass(frozen=True)
class Regions:
    """Column split of a scene: ``train`` and ``test`` ``(H, W)`` bool masks."""

    train: np.ndarray
    test: np.ndarray
    split_col: int
    buffer: int


def column_regions(height: int, width: int, *, test_fraction: float = 1 / 3, buffer: int = 8) -> Regions:
    """Test region = the right ``test_fraction`` of the columns; train = left of it minus ``buffer``."""
    split = int(round(width * (1 - test_fraction)))
    cols = np.arange(width)[None, :].repeat(height, 0)
    return Regions(cols < split - buffer, cols >= split, split, buffer)


def test_scenes(image: np.ndarray, spectra: np.ndarray, names: list[str], region: np.ndarray, *,
                seeds: Sequence[int], options: SimOptions | None = None) -> list[SimulatedScene]:
    """Simulated test scenes: targets implanted in ``region`` of the full image, one per seed."""
    return [simulate_targets(image, spectra, names, seed=int(s), options=options, region=region) for s in seeds]


def ground_truth(scene: SimulatedScene) -> Detections:
    """The scene's targets as :class:`Detections` (score 1, boxes and size bins)."""
    t = scene.targets
    return Detections(
        np.array([x.row for x in t], float), np.array([x.col for x in t], float),
        np.array([x.class_id for x in t], int), np.ones(len(t)),
        np.array([x.box for x in t], float).reshape(-1, 4), np.array([x.size_bin for x in t], dtype=object),
    )


ScoreFn = Callable[[np.ndarray], tuple[np.ndarray, Detections]]
"""``(C, H, W)`` scene -> ``(K, H, W)`` score maps and detections (with boxes)."""


def evaluate(method: ScoreFn, scenes: Sequence[SimulatedScene], region: np.ndarray, *,
             class_agnostic: bool = False) -> dict[str, Any]:
    """Score one method over test scenes.

    Returns:
        :func:`detection_report` entries plus ``auroc``, the :func:`~hsi_app.tasks.detect_metrics.pd_report`
        entries (``pd@pfa1e-3``, ``pd@pfa1e-4``: a float, or ``None`` with its reason in ``pd_null_reasons``)
        and ``n_targets``.
    """
    preds, gts, scores, truth = [], [], [], []
    offs = []
    for i, sc in enumerate(scenes):
        maps, det = method(sc.image)
        h, w = region.shape
        inside = region[np.floor(det.row).astype(int).clip(0, h - 1), np.floor(det.col).astype(int).clip(0, w - 1)]
        preds.append(Detections(det.row[inside], det.col[inside], det.class_id[inside], det.score[inside],
                                None if det.box is None else np.asarray(det.box)[inside]))
        gts.append(ground_truth(sc))
        offs.append(i * 10.0 * region.shape[1])
        best = best_score(maps)
        scores.append(best[region])
        truth.append(sc.abundance[region] > 0)
    rep: dict[str, Any] = {**detection_report(Detections.concat(preds, offsets=offs),
                                               Detections.concat(gts, offsets=offs), class_agnostic=class_agnostic)}
    pooled, pooled_truth = np.concatenate(scores), np.concatenate(truth)
    rep["auroc"] = pixel_auroc(pooled, pooled_truth)
    rep.update(pd_report(pooled, pooled_truth))
    rep["n_targets"] = float(sum(len(s.targets) for s in scenes))
    return rep
