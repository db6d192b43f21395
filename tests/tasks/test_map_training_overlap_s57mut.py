"""The training-overlap note of `hsi evaluate` speaks of a run's map only: a split.npz beside a map without the
run's config.json (a folder a user assembled) says nothing (mutation audit s57)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np

from tests.tasks.test_map_training_overlap import _labels_tif, _run_with_map


def _notes(map_path: Path, ref: Path) -> list[str]:
    from hsi_app.tasks.map_accuracy import evaluate_map

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        evaluate_map(map_path, ref)
    return [str(w.message) for w in caught if "training pixels" in str(w.message)]


def test_a_split_beside_a_map_outside_a_run_folder_says_nothing(tmp_path: Path) -> None:
    map_path, labels, train = _run_with_map(tmp_path / "run")
    ref = _labels_tif(tmp_path / "labels.tif", labels)
    assert len(_notes(map_path, ref)) == 1  # the run's own folder: said
    loose = tmp_path / "loose"
    loose.mkdir()
    shutil.copy(map_path, loose / "map.tif")
    shutil.copy(tmp_path / "run" / "split.npz", loose / "split.npz")  # no config.json: not a run folder
    assert _notes(loose / "map.tif", ref) == []
    shutil.copy(tmp_path / "run" / "config.json", loose / "config.json")
    said = _notes(loose / "map.tif", ref)
    seen = int((train & (labels > 0)).sum())
    assert len(said) == 1 and f"{seen:,} of the {int((labels > 0).sum()):,}" in said[0]
    assert str(loose / "split.npz") in said[0] and str(loose / "metrics.json") in said[0]
    assert np.count_nonzero(train) == seen  # the split trains on labelled pixels only
