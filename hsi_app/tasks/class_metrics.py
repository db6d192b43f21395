"""Classification accuracy (OA, AA, Cohen's kappa, confusion matrix) with torch alone.

The same numbers as torchmetrics' ``multiclass_confusion_matrix``, ``multiclass_accuracy``
(``average="micro"``) and ``multiclass_cohen_kappa`` (no weights), computed by the same float32
torch operations in the same order, so the values are bit for bit those that torchmetrics gives
(the tests compare them). Importing torchmetrics (and Lightning, which the rest of
:mod:`hsi_app.tasks.classification` needs) costs seconds that an SVM run or ``hsi ensemble`` does
not otherwise spend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hsi_app.errors import LabelError


def _counts(y_true: np.ndarray | Sequence[int], y_pred: np.ndarray | Sequence[int], num_classes: int) -> Any:
    """``(K, K)`` int64 torch confusion matrix (rows = reference, columns = prediction).

    Raises:
        LabelError: mismatched lengths, no samples, or classes outside ``0..K-1``.
    """
    import torch

    t = torch.as_tensor(np.asarray(y_true, dtype=np.int64).reshape(-1))
    p = torch.as_tensor(np.asarray(y_pred, dtype=np.int64).reshape(-1))
    if t.shape != p.shape or t.numel() == 0:
        raise LabelError(
            f"classification_metrics: {t.numel()} references vs {p.numel()} predictions; pass equal, non-empty arrays"
        )
    lo, hi = int(min(t.min(), p.min())), int(max(t.max(), p.max()))
    if lo < 0 or hi >= num_classes:
        raise LabelError(
            f"classification_metrics: class ids span {lo}..{hi}, outside 0..{num_classes - 1}; "
            "pass 0-based classes and the right num_classes"
        )
    return torch.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def overall_accuracy(cm: Any) -> float:
    """OA of a ``(K, K)`` int64 torch confusion matrix: hits / samples in float32, as torchmetrics' micro accuracy."""
    import torch

    hits, total = cm.diag().sum().float(), cm.sum().float()
    return float(torch.where(total != 0, hits / total, torch.zeros((), dtype=hits.dtype)))


def cohen_kappa(cm: Any) -> float:
    """Cohen's kappa of a ``(K, K)`` torch confusion matrix, by torchmetrics' ``_cohen_kappa_reduce`` (no weights):
    float32 marginals, their outer product over the total, off-diagonal sums. NaN for a single class."""
    import torch

    conf = cm.float()
    k = conf.shape[0]
    sum0 = conf.sum(dim=0, keepdim=True)
    sum1 = conf.sum(dim=1, keepdim=True)
    expected = sum1 @ sum0 / sum0.sum()  # outer product
    weights = torch.ones_like(conf).flatten()
    weights[:: k + 1] = 0
    weights = weights.reshape(k, k)
    return float(1 - torch.sum(weights * conf) / torch.sum(weights * expected))


def classification_metrics(
    y_true: np.ndarray | Sequence[int], y_pred: np.ndarray | Sequence[int], num_classes: int
) -> dict[str, Any]:
    """Overall / average accuracy, Cohen's kappa and the confusion matrix.

    Args:
        y_true: ``(N,)`` int reference classes in ``0..num_classes-1``.
        y_pred: ``(N,)`` int predicted classes in ``0..num_classes-1``.
        num_classes: ``K``.

    Returns:
        ``oa`` (micro accuracy), ``aa`` (mean per-class recall over classes present in
        ``y_true``), ``kappa``, ``per_class_accuracy`` (K floats; None for classes absent
        from ``y_true``), ``confusion_matrix`` (K x K ints, rows = reference, columns =
        prediction), all JSON-friendly.

    Raises:
        LabelError: mismatched lengths, no samples, or classes outside ``0..K-1``.
    """
    cm = _counts(y_true, y_pred, num_classes)
    support = cm.sum(dim=1)
    recall = cm.diag().double() / support.clamp(min=1).double()
    present = support > 0
    oa = overall_accuracy(cm)
    kappa = cohen_kappa(cm)
    if not math.isfinite(kappa):  # a single class everywhere: chance agreement is 1
        kappa = 1.0 if oa == 1.0 else 0.0
    return {
        "oa": oa,
        "aa": float(recall[present].mean()),
        "kappa": kappa,
        "per_class_accuracy": [float(r) if ok else None for r, ok in zip(recall.tolist(), present.tolist())],
        "confusion_matrix": cm.tolist(),
    }
