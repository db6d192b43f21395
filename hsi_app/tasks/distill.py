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
    """The training-run folders behind ``--teacher`` arguments (an ensemble folder gives its members):
    :func:`named_teacher_runs` without the names."""
    return [run for run, _ in named_teacher_runs(teachers)]


def named_teacher_runs(teachers: Sequence[str | os.PathLike[str]]) -> list[tuple[Path, str]]:
    """The training-run folders behind ``--teacher`` arguments (an ensemble folder gives its members), each with
    how a message names it: ``--teacher RUN``, or ``--teacher ENS (its member RUN)``.

    The teacher is the mean over these runs, each weighted equally: ``--teacher ENS --teacher RUN`` averages
    the ensemble's members and the run.

    Raises:
        ModelLoadError: an ensemble folder with a missing or changed member.
        ConfigError: a run given twice (as a ``--teacher`` or as a member of an ensemble given).
    """
    from hsi_app.ensemble import ensemble_members, is_ensemble_dir
    from hsi_app.errors import ModelLoadError
    from hsi_app.predictor import run_dir_of

    runs: list[tuple[Path, str]] = []
    seen: dict[Path, str] = {}
    for t in teachers:
        folder = run_dir_of(t)
        try:
            members = ensemble_members(folder) if is_ensemble_dir(folder) else [folder]
        except ModelLoadError as exc:  # a member missing, changed or without weights
            raise ModelLoadError(f"--teacher {t}: {exc}") from exc
        for run in members:
            via = f"--teacher {t}" if run == folder else f"a member of --teacher {t}"
            key = run.resolve()
            if key in seen:
                raise ConfigError(f"--teacher: run {run} is given twice ({seen[key]}, and {via}); give each teacher "
                                  "run once")
            seen[key] = via
            runs.append((run, f"--teacher {t}" if run == folder else f"--teacher {t} (its member {os.path.normpath(run)})"))
    return runs


def _check_weights(run: Path, shown: str) -> None:
    """Refuse a teacher run folder without weights (an unfinished or hand-copied run), before any training.

    Raises:
        ModelLoadError: no ``config.json``, or neither ``model.safetensors`` nor a fine-tune's adapter.
    """
    from hsi_app.checkpoint import ADAPTER_NAME, CONFIG_NAME, WEIGHTS_NAME
    from hsi_app.errors import ModelLoadError

    if not (run / CONFIG_NAME).is_file():
        raise ModelLoadError(f"{shown}: no {CONFIG_NAME}; pass the output folder of `hsi train` (or of "
                             "`hsi ensemble`)")
    if not (run / WEIGHTS_NAME).is_file() and not (run / ADAPTER_NAME).is_file():
        from hsi_app.checkpoint import is_finetune_config, load_config, no_weights_line

        config = load_config(run)
        if is_finetune_config(config):  # its weights are the adapter: the line predict and batch give
            raise ModelLoadError(no_weights_line(shown, config))
        raise ModelLoadError(f"{shown}: no {WEIGHTS_NAME} (an unfinished or partly copied run); finish or "
                             "copy the whole run folder, or retrain it")


def _names(names: Sequence[str]) -> str:
    """``a, b, c`` or ``a, b, c, ...`` (the first three class names, for one line)."""
    return ", ".join(str(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")


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
        ConfigError: a teacher with other classes (another number, other names or another order), or a
            teacher run given twice.
        ModelLoadError: a teacher run without weights, or an ensemble folder with a missing or changed member.
    """
    from hsi_app.checkpoint import load_config
    from hsi_app.data.splits import Split

    for run, shown in named_teacher_runs(teachers):
        _check_weights(run, shown)
        names = load_config(run).class_names
        if list(names[1:]) != list(class_names[1:]):
            order = " (the same classes in another order)" if sorted(names[1:]) == sorted(class_names[1:]) else ""
            raise ConfigError(f"{shown}: maps {len(names) - 1} classes ({_names(names[1:])}), this scene has "
                              f"{len(class_names) - 1} ({_names(class_names[1:])}){order}; distil from a run trained "
                              "on the same classes")
        path = run / "split.npz"
        if not path.is_file():
            raise LabelError(f"{shown}: no split.npz, so its training pixels are unknown; "
                             "use a run written by `hsi train`")
        train = Split.load(path).train
        if train.shape != test.shape:
            raise LabelError(f"{shown}: trained on a {train.shape[0]} x {train.shape[1]} grid, this scene is "
                             f"{test.shape[0]} x {test.shape[1]}; distil on the scene the teacher was trained on")
        leaked = int(((train > 0) & test).sum())
        if leaked:
            raise LabelError(f"{shown}: trained on {leaked} of this run's test pixels; train the "
                             "teacher on the same split (the same --split and --seed)")


def teacher_probs(teachers: Sequence[str | os.PathLike[str]], cube: Cube, *, window: int = 512,
                  progress: bool = True, device: str | None = None) -> np.ndarray:
    """The teacher's class probabilities over the whole scene (mean over the runs of :func:`teacher_runs`: an
    ensemble folder's members, with any other ``--teacher`` run), computed on ``device`` (None: the GPU when one
    is visible).

    Returns:
        ``(K, H, W)`` float32; 0 at no-data pixels.

    Raises:
        BandMismatchError, InvalidDataError, ModelLoadError: a teacher that cannot map ``cube`` (other bands, other
            units, unreadable weights); one line naming ``--teacher`` and the fix.
    """
    from hsi_app.errors import BandMismatchError, InvalidDataError, ModelLoadError
    from hsi_app.progress import bar

    from hsi_app.ensemble import load_classifier
    from hsi_app.infer import iter_windows, read_window

    named = ", ".join(str(t) for t in teachers)
    runs = teacher_runs(teachers)  # its errors already name the --teacher concerned
    try:
        pred = load_classifier([str(r) for r in runs], device=device)
        prob_fn = pred.bind(cube)
    except (BandMismatchError, InvalidDataError) as exc:
        # the predictor's own fix (--resample, another model) is not an option of `hsi train`
        why = str(exc).split("; ")[0]
        raise type(exc)(f"--teacher {named}: cannot map this scene: {why}; distil from a teacher trained on this "
                        "scene (its bands and units)") from exc
    except ModelLoadError as exc:
        raise ModelLoadError(f"--teacher {named}: {exc}") from exc
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
