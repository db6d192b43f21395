"""Deep ensembles: several classification runs applied together, class probabilities averaged.

``hsi predict --model RUN_A --model RUN_B ...`` loads every run with
:meth:`~hsi_app.predictor.Predictor.load`, binds each to the scene with its own band plan
(so members may even come from different sensors' band sets), and streams the mean of their
``(K, h, w)`` probabilities through :func:`~hsi_app.infer.predict_scene`. The halo is the
largest receptive radius among the members, so windowed output equals a one-shot pass for
every member. Members must predict the same classes (same ``class_names``).

Members of one ensemble are normally runs on the same split that differ only in their
initialisation seed (``hsi train --init-seed``). Members trained on different splits are
allowed but warned about: each one has seen some of the other's test pixels, so no split's
test pixels score the ensemble fairly.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hsi_app.errors import BandMismatchError, ConfigError, HSIWarning, ModelLoadError
from hsi_app.infer import ProbFn
from hsi_app.io.cube import Cube
from hsi_app.predictor import Predictor, run_dir_of


class EnsemblePredictor:
    """Predictors of several runs with the :class:`~hsi_app.predictor.Predictor` interface used by ``hsi predict``.

    Args:
        members: loaded runs (at least one), all with the same class names.
        sources: the run folder of each member, for messages.
    """

    def __init__(self, members: Sequence[Predictor], sources: Sequence[str | os.PathLike[str]]) -> None:
        if not members:
            raise ConfigError("an ensemble needs at least one run; pass --model RUN_DIR one or more times")
        if len(members) != len(sources):
            raise ValueError(f"{len(members)} members but {len(sources)} sources")
        first = members[0]
        for member, src in zip(members[1:], sources[1:]):
            if member.class_names != first.class_names:
                raise ModelLoadError(
                    f"{src}: its classes {member.class_names[1:]} differ from {sources[0]}'s {first.class_names[1:]}; "
                    "ensemble only runs trained on the same classes"
                )
        self.members = list(members)
        self.sources = [str(s) for s in sources]

    @classmethod
    def load(cls, run_dirs: Sequence[str | os.PathLike[str]], device: str | None = None, *,
             tta: bool = False) -> EnsemblePredictor:
        """Load every run folder (or its ``config.json``); warn when their training splits differ.

        Raises:
            ConfigError: no run given, or the same run given twice.
            ModelLoadError: a run cannot be loaded, is not a classifier, or has other classes.
        """
        folders = [run_dir_of(p) for p in run_dirs]
        seen: dict[Path, str] = {}
        for folder in folders:
            key = folder.resolve()
            if key in seen:
                raise ConfigError(f"{folder}: given twice as --model; each ensemble member is a different run")
            seen[key] = str(folder)
        members = [Predictor.load(folder, device, tta=tta) for folder in folders]
        ens = cls(members, folders)
        splits = {_split_key(m) for m in members}
        if len(splits) > 1:
            warnings.warn(f"the {len(members)} runs were trained on different splits ({', '.join(sorted(splits))}); "
                          "each has seen training pixels that are another's test pixels, so score the ensemble "
                          "only on independent labels", HSIWarning, stacklevel=2)
        return ens

    @property
    def num_classes(self) -> int:
        """K (the same for every member)."""
        return self.members[0].num_classes

    @property
    def class_names(self) -> list[str]:
        """Names for 0..K."""
        return self.members[0].class_names

    @property
    def receptive_radius(self) -> int:
        """The largest member radius: the halo every window needs."""
        return max(m.receptive_radius for m in self.members)

    def bind(self, cube: Cube, *, resample: bool = False) -> ProbFn:
        """Per-window function: ``(C_cube, h, w)`` raw values -> ``(K, h, w)`` mean member probabilities.

        Raises:
            BandMismatchError: a member cannot use the cube's bands (the message names that run).
        """
        fns = []
        for member, src in zip(self.members, self.sources):
            try:
                fns.append(member.bind(cube, resample=resample))
            except BandMismatchError as exc:
                raise BandMismatchError(f"ensemble member {src}: {exc}") from exc

        def prob_fn(image: np.ndarray) -> np.ndarray:
            total = fns[0](image).astype(np.float32, copy=True)
            for fn in fns[1:]:
                total += fn(image)
            return total / np.float32(len(fns))

        return prob_fn


def _split_key(pred: Predictor) -> str:
    """``protocol seed S`` of a member's training split ('unknown' when not recorded)."""
    split = pred.config.split or {}
    if not split:
        return "unknown"
    return f"{split.get('protocol', '?')} seed {split.get('seed', '?')}"


def load_classifier(run_dirs: Sequence[str | os.PathLike[str]], device: str | None = None, *,
                    tta: bool = False) -> Predictor | EnsemblePredictor:
    """One run: its :class:`~hsi_app.predictor.Predictor`; several: their :class:`EnsemblePredictor`."""
    if len(run_dirs) == 1:
        return Predictor.load(run_dir_of(run_dirs[0]), device, tta=tta)
    return EnsemblePredictor.load(run_dirs, device, tta=tta)
