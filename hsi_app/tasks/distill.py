"""Knowledge distillation: train one run to follow a teacher (a run or an ensemble) on the scene.

``hsi train --teacher DIR`` adds to the labels' cross-entropy the cross-entropy to the
teacher's class probabilities (temperature 1) at every valid pixel of the scene that is
**not** a test pixel of the student's split (nor a validation pixel): the training pixels
and the unlabelled rest of the scene. The test pixels never get a teacher target, and a
teacher that was trained on any of the student's test pixels is refused, so the student's
score stays as honest as its protocol. The point is cost: an ensemble of M runs maps a
scene M times slower than one run; a student distilled from it maps at one run's cost.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, LabelError
from hsi_app.io.cube import Cube


def teacher_runs(teachers: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The training-run folders behind ``--teacher`` arguments (an ensemble folder gives its members).

    Raises:
        ModelLoadError: an ensemble folder with a missing or changed member.
    """
    from hsi_app.ensemble import ensemble_members, is_ensemble_dir
    from hsi_app.predictor import run_dir_of

    runs: list[Path] = []
    for t in teachers:
        folder = run_dir_of(t)
        runs.extend(ensemble_members(folder) if is_ensemble_dir(folder) else [folder])
    return runs


def check_teacher(teachers: Sequence[str | os.PathLike[str]], test: np.ndarray, class_names: Sequence[str]) -> None:
    """Refuse a teacher that was trained on any of the student's test pixels, or that maps other classes.

    The student's validation pixels (``--val-fraction``) are training pixels of its split, so
    a teacher on the same split has them among its training pixels; they only pick the
    student's epoch and are not checked here (they get no teacher target either).

    Args:
        teachers: ``--teacher`` run or ensemble folders.
        test: ``(H, W)`` bool, the student's test pixels.
        class_names: the student's names of classes ``0..K`` (0 = unlabelled).

    Raises:
        LabelError: a teacher run has no ``split.npz``, was trained on another grid, or
            trained on any test pixel.
        ConfigError: a teacher with other classes (another number, or other names).
    """
    from hsi_app.checkpoint import load_config
    from hsi_app.data.splits import Split

    for run in teacher_runs(teachers):
        names = load_config(run).class_names
        if list(names[1:]) != list(class_names[1:]):
            raise ConfigError(f"--teacher {run}: maps {len(names) - 1} classes ({', '.join(names[1:4])}, ...), this "
                              f"scene has {len(class_names) - 1} ({', '.join(class_names[1:4])}, ...); distil from a run "
                              "trained on the same classes")
        path = run / "split.npz"
        if not path.is_file():
            raise LabelError(f"--teacher {run}: no split.npz, so its training pixels are unknown; "
                             "use a run written by `hsi train`")
        train = Split.load(path).train
        if train.shape != test.shape:
            raise LabelError(f"--teacher {run}: trained on a {train.shape[0]} x {train.shape[1]} grid, this scene is "
                             f"{test.shape[0]} x {test.shape[1]}; distil on the scene the teacher was trained on")
        leaked = int(((train > 0) & test).sum())
        if leaked:
            raise LabelError(f"--teacher {run}: trained on {leaked} of this run's test pixels; train the "
                             "teacher on the same split (the same --split and --seed)")


def teacher_probs(teachers: Sequence[str | os.PathLike[str]], cube: Cube, *, window: int = 512,
                  progress: bool = True, device: str | None = None) -> np.ndarray:
    """The teacher's class probabilities over the whole scene (mean over an ensemble's members), computed on
    ``device`` (None: the GPU when one is visible).

    Returns:
        ``(K, H, W)`` float32; 0 at no-data pixels.
    """
    from hsi_app.progress import bar

    from hsi_app.ensemble import load_classifier
    from hsi_app.infer import iter_windows, read_window

    pred = load_classifier([str(t) for t in teachers], device=device)
    prob_fn = pred.bind(cube)
    _, h, w = cube.hsi.shape
    out = np.zeros((pred.num_classes, h, w), dtype=np.float32)
    for win in bar(list(iter_windows(h, w, min(window, max(h, w)), pred.receptive_radius)), desc="teacher",
                   unit="win", enabled=progress):
        image, valid = read_window(cube, win)
        probs = np.asarray(prob_fn(image), dtype=np.float32)
        core = probs[(slice(None), *win.crop)]
        core[:, ~valid[win.crop]] = 0.0
        out[:, win.row : win.row + win.height, win.col : win.col + win.width] = core
    return out


def distill_targets(probs: np.ndarray, held_out: np.ndarray) -> np.ndarray:
    """The teacher's probabilities with the held-out pixels blanked (no target there).

    Args:
        probs: ``(K, H, W)`` teacher probabilities (0 at no-data).
        held_out: ``(H, W)`` bool test/validation pixels.

    Returns:
        ``(K, H, W)`` float32 copy, all 0 at held-out pixels.
    """
    out = np.array(probs, dtype=np.float32, copy=True)
    out[:, held_out] = 0.0
    return out


def check_distill_weight(weight: float) -> None:
    """Refuse a distillation weight that is not positive and finite (``--distill-weight``)."""
    if not (np.isfinite(weight) and weight > 0):
        raise ConfigError(f"--distill-weight {weight}: must be a positive number, e.g. 1.0 (distill_weight= in Python)")


def teacher_record(teachers: Sequence[str | os.PathLike[str]], weight: float, pixels: int) -> dict[str, Any]:
    """What ``config.json`` ``extra.teacher`` stores: the teacher folders, their hashes, the weight and
    the number of pixels with a target."""
    from hsi_app.batch.state import model_hash
    from hsi_app.predictor import run_dir_of

    folders = [run_dir_of(t) for t in teachers]
    return {"runs": [str(f.absolute()) for f in folders], "sha256": [model_hash(f) for f in folders],
            "weight": float(weight), "pixels": int(pixels), "temperature": 1.0}
