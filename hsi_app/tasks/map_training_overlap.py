"""Is a run's own map scored against the pixels it was trained on?

``hsi train`` writes ``map.tif`` beside ``split.npz``. Scoring that map with ``hsi evaluate`` against the
label file the run was trained from counts its training pixels as reference pixels, which the model has
seen: the scores come out higher than the run's test scores (``metrics.json``) with nothing saying why.
:func:`training_overlap_note` gives the one line that says so. It reads the map, the reference and the split
whole once more (a run's map is the size of a scene it trained on); it never fails the scoring it follows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.io.percent import share


def run_split_of(map_path: str | os.PathLike[str]) -> Path | None:
    """The ``split.npz`` of the run folder ``map_path`` lies in (beside its ``config.json``), else None."""
    folder = Path(map_path).parent
    split = folder / "split.npz"
    return split if split.is_file() and (folder / "config.json").is_file() else None


def training_overlap_note(map_path: str | os.PathLike[str], reference: Any, *, attribute: str = "class",
                          key: str | None = None, layer: str | None = None) -> str | None:
    """One line when ``map_path`` is a run's map and ``reference`` labels pixels that run trained on, else None.

    Args:
        map_path: the class map scored.
        reference: the reference labels (a path, as ``hsi evaluate --reference``; an array on the map's grid).
        attribute, key, layer: as :func:`~hsi_app.tasks.map_accuracy.evaluate_map`.
    """
    split_path = run_split_of(map_path)
    if split_path is None:  # before the imports: a map outside a run folder loads nothing more (scipy.ndimage)
        return None
    import warnings

    from hsi_app.data.splits import Split
    from hsi_app.errors import HSIError
    from hsi_app.io.cog import read_class_map
    from hsi_app.tasks.map_accuracy import reference_on_map_grid

    try:  # a side check: a damaged split.npz or an unreadable reference must not cost the report already made
        train = Split.load(split_path).train > 0
        if isinstance(reference, (str, os.PathLike)):
            cmap = read_class_map(map_path, confidence=False)
            if cmap.classes.shape != train.shape:
                return None
            with warnings.catch_warnings():  # the scoring read of the reference said its warnings once already
                warnings.simplefilter("ignore")
                ref, _ = reference_on_map_grid(map_path, cmap, reference, attribute=attribute, key=key, layer=layer)
        else:
            ref = np.asarray(reference)
    except HSIError:
        return None
    if ref.shape != train.shape:
        return None
    labelled = ref > 0
    seen = int((labelled & train).sum())
    if seen == 0:
        return None
    return (f"{map_path}: {seen:,} of the {int(labelled.sum()):,} reference pixels ({share(seen, int(labelled.sum()))}) "
            f"are training pixels of its run ({split_path}), so these scores count pixels the model was trained on; "
            f"the run's test scores are in {split_path.parent / 'metrics.json'} (or score a reference kept out of "
            "training)")
