"""Whether a replayed split (``--train-labels`` / ``--test-labels`` ``.npy`` maps) is on ``--labels``' numbering.

A split saved as ``.npy`` maps holds class ids only; the run's ``--labels`` file names them, so
the split's ids must be that file's ids. The training and test maps are judged **together**:
their labelled pixels (both maps' pixels, each counted once per map) against the ``--labels``
ids there. Judged one file at a time, a small class whose ids were swapped with another's, a
few pixels in each file, is under every per-file threshold; together, it is caught.

The rule, for the pixels that a split map and ``--labels`` both label:

* a split id ``k`` is *wrong* when the most common ``--labels`` id ``j`` at its pixels is not
  ``k`` (ties count as agreement), and either ``k`` has at least :data:`SPLIT_CLASS_MIN_PIXELS`
  such pixels, or the split's own id ``j`` is *misplaced* (its pixels lie mostly on another
  ``--labels`` id), or ``k`` is past every ``--labels`` id. So ids that traded places are
  refused however small (a swap or a rotation, one pixel each: in a cycle every partner id is
  in the split and misplaced), and so is a small class saved under an id ``--labels`` never
  had, while a class of a few pixels that a corrected label file moved into another class
  still replays: one the split holds on its right id, a newly added id, or an id the split
  leaves out;
* overall, the ids agree at :data:`SPLIT_AGREEMENT_MIN` of those pixels.

``hsi finetune`` saves its split on its head's ids (the base run's, when the labels' names were
matched to the base's classes). Given that fine-tune's label id -> base id table
(:attr:`hsi_app.tasks.finetune_classes.ClassPlan.table`), a split that is on the base's numbering
is renumbered back onto ``--labels``' ids with the same table (:func:`split_from_base`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from hsi_app.errors import LabelError

SPLIT_AGREEMENT_MIN = 0.9  # overall floor: a label file corrected on a few % of the pixels since the run still replays
SPLIT_CLASS_MIN_PIXELS = 5  # a smaller split class is refused only when the id it lies on is misplaced too


def _pixel_pairs(labels: np.ndarray, maps: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(split ids, labels ids)``: int64 ``(n,)`` each, at every pixel a map and ``labels`` both label."""
    split_ids, label_ids = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for m in maps:
        both = (m > 0) & (labels > 0)
        split_ids.append(m[both].astype(np.int64))
        label_ids.append(labels[both].astype(np.int64))
    return np.concatenate(split_ids), np.concatenate(label_ids)


def split_numbering_errors(labels: np.ndarray,
                           maps: np.ndarray | Sequence[np.ndarray]) -> tuple[list[tuple[int, int]], float, int]:
    """How far a split's ids are from ``labels``' numbering, its maps judged together (module docstring).

    Args:
        labels: ``(H, W)`` int ``--labels`` ids, 0 = unlabelled.
        maps: the split's ``(H, W)`` int maps (training, test), or one such map.

    Returns:
        ``(wrong, share, n)``: the ``(split id, labels' most common id there)`` pairs that are wrong
        (sorted by split id), and the share of the ``n`` pixels both label where the ids are equal.
    """
    maps = [maps] if isinstance(maps, np.ndarray) else list(maps)
    s, lab = _pixel_pairs(labels, maps)
    n = int(s.size)
    if n == 0:
        return [], 1.0, 0
    share = float((s == lab).mean())
    base = int(lab.max()) + 1
    pairs, counts = np.unique(s * base + lab, return_counts=True)
    ks, ls = np.divmod(pairs, base)
    mostly: dict[int, int] = {}  # split id -> the labels id its pixels lie on (itself on a tie)
    size: dict[int, int] = {}
    for k in np.unique(ks).tolist():
        at = ks == k
        own = counts[at & (ls == k)].sum()
        mostly[k] = k if own >= counts[at].max() else int(ls[at][np.argmax(counts[at])])
        size[k] = int(counts[at].sum())
    top = int(labels.max())
    wrong = [(k, j) for k, j in mostly.items()
             if j != k and (size[k] >= SPLIT_CLASS_MIN_PIXELS or (j in mostly and mostly[j] != j) or k > top)]
    return wrong, share, n


def numbering_ok(labels: np.ndarray, maps: Sequence[np.ndarray]) -> bool:
    """Whether ``maps`` (judged together) are on ``labels``' numbering (:func:`split_numbering_errors`)."""
    wrong, share, _ = split_numbering_errors(labels, maps)
    return not wrong and share >= SPLIT_AGREEMENT_MIN


def split_from_base(split: np.ndarray, to_base: np.ndarray) -> np.ndarray | None:
    """``split`` (on a fine-tune's base-run ids) back on the labels' ids, through the fine-tune's own table.

    Args:
        split: ``(H, W)`` int base-run ids, 0 = unlabelled.
        to_base: labels id -> base id (:attr:`~hsi_app.tasks.finetune_classes.ClassPlan.table`); 0 maps to 0.

    Returns:
        The ``(H, W)`` int32 map on the labels' ids (a base id that several labels ids were merged into
        goes back to the smallest of them), or ``None`` when one of ``split``'s ids is no labels id's.
    """
    back = np.zeros(max(int(split.max()), int(to_base.max())) + 1, dtype=np.int32)
    for i in range(len(to_base) - 1, 0, -1):  # descending: the smallest labels id wins
        if to_base[i] > 0:
            back[to_base[i]] = i
    used = np.unique(split[split > 0])
    if (back[used] == 0).any():
        return None
    return back[split]


def _on_base(labels: np.ndarray, to_base: np.ndarray) -> np.ndarray:
    """``labels`` on the base's ids (``to_base``; an id past its end becomes 0: not judged)."""
    table = np.zeros(max(len(to_base), int(labels.max()) + 1), dtype=np.int64)
    table[: len(to_base)] = to_base
    return table[labels]


def check_split_numbering(labels: np.ndarray, labels_path: str | os.PathLike[str], maps: Sequence[np.ndarray],
                          split_paths: Sequence[str | os.PathLike[str]], *, label_names: Sequence[str] | None = None,
                          to_base: np.ndarray | Callable[[], np.ndarray | None] | None = None) -> list[np.ndarray]:
    """A split's maps (files without names) on ``labels_path``'s numbering, or a refusal.

    The maps are judged together (module docstring): a label file corrected since the run still
    replays, and two classes that traded ids are refused however small, even when each file
    holds only a few of their pixels. A split from a run on another numbering (another label
    file, or the built-in scene's ids) would train a map whose class names are wrong.

    Args:
        labels: ``(H, W)`` ``--labels`` ids.
        labels_path: the ``--labels`` file, for messages.
        maps: the split's ``(H, W)`` maps (training, test).
        split_paths: their files, for messages (one per map).
        label_names: ``--labels``' names of ids ``0..``, for messages.
        to_base: ``hsi finetune``'s labels id -> base id table (its
            :attr:`~hsi_app.tasks.finetune_classes.ClassPlan.table`): maps on the base's numbering
            (a fine-tune's own split) are renumbered onto ``--labels``' ids (:func:`split_from_base`). A
            callable giving it (or ``None``) is called only when the maps are not on ``--labels``' ids.

    Returns:
        The maps on ``labels``' numbering (the maps themselves when they already are).

    Raises:
        LabelError: the ids disagree for a class, or at more than ``1 - SPLIT_AGREEMENT_MIN`` of the
        shared pixels, on either numbering; one line naming the file(s) and the ids.
    """
    maps = list(maps)
    if numbering_ok(labels, maps):
        return maps
    table = to_base() if callable(to_base) else to_base
    if table is not None:
        based = _on_base(labels, table)
        if numbering_ok(based, maps):
            moved = [split_from_base(m, table) for m in maps]
            if all(m is not None for m in moved):
                return moved  # type: ignore[return-value]

    wrong, share, n = split_numbering_errors(labels, maps)
    named = _culprits(labels, maps, wrong)
    together = len(maps) > 1 and any(numbering_ok(labels, [maps[i]]) for i in named)  # one passes on its own
    raise LabelError(_refusal(" and ".join(str(split_paths[i]) for i in named), labels_path, wrong, share, n,
                              label_names, together=together))


def _culprits(labels: np.ndarray, maps: Sequence[np.ndarray], wrong: list[tuple[int, int]]) -> list[int]:
    """Which of ``maps`` to name in a refusal: those holding pixels of a wrong ``(split id, labels id)`` pair,
    or, when the refusal is the overall share, those whose own share is below :data:`SPLIT_AGREEMENT_MIN`
    (all of them when none is)."""
    if wrong:
        held = [i for i, m in enumerate(maps) if any(bool(((m == k) & (labels == j)).any()) for k, j in wrong)]
    else:
        held = [i for i, m in enumerate(maps) if split_numbering_errors(labels, [m])[1] < SPLIT_AGREEMENT_MIN]
    return held or list(range(len(maps)))


def _refusal(files: str, labels_path: str | os.PathLike[str], wrong: list[tuple[int, int]], share: float, n: int,
             label_names: Sequence[str] | None, *, together: bool) -> str:
    """The one-line refusal of :func:`check_split_numbering`."""
    from hsi_app.data.splits import class_label

    judged = " (the training and test maps judged together)" if together else ""
    what = (f"class ids agree with --labels {labels_path} at only {100 * share:.1f} % of the {n:,} pixels both label"
            if not wrong else
            f"its ids are not --labels {labels_path}'s{judged}: "
            + "; ".join(f"id {k} lies mostly on its {class_label(j, label_names)}" for k, j in wrong[:3])
            + (f" (and {len(wrong) - 3} more ids)" if len(wrong) > 3 else ""))
    return (f"{files}: {what}; the split was numbered on other class ids (a run on another label file or its "
            f"own numbering of it, or a fine-tune's split replayed without its --base), so --labels' names would "
            f"name the wrong classes: replay it with the label file and command of the run that made it")
