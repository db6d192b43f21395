"""Deep ensembles: several classification runs applied together, class probabilities averaged.

``hsi predict --model RUN_A --model RUN_B ...`` loads every run with
:meth:`~hsi_app.predictor.Predictor.load`, binds each to the scene with its own band plan
(so members may even come from different sensors' band sets), and streams the mean of their
``(K, h, w)`` probabilities through :func:`~hsi_app.infer.predict_scene`. The halo is the
largest receptive radius among the members, so windowed output equals a one-shot pass for
every member. Members must predict the same classes (same ``class_names``).

``hsi ensemble --model RUN_A --model RUN_B --out DIR`` writes an *ensemble folder*: one
``ensemble.json`` naming the member runs (paths relative to the folder) with the sha256 of
each member's files (:func:`hsi_app.batch.state.model_hash`). ``hsi predict --model DIR`` and
``hsi batch --model DIR`` load it like a run; a member that changed since is refused.

Members of one ensemble are normally runs on the same split that differ only in their
initialisation seed (``hsi train --init-seed``). Members trained on different splits are
allowed but warned about: each one has seen some of the other's test pixels, so no split's
test pixels score the ensemble fairly.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.ensemble_scene import MemberScene, common_scene, member_scene
from hsi_app.errors import BandMismatchError, ConfigError, HSIWarning, ModelLoadError
from hsi_app.infer import ProbFn, window_values
from hsi_app.io.cube import Cube, scene_name
from hsi_app.predictor import BandPlan, Predictor, SubsetPlan, bind_planned, run_dir_of, warn_partial_nodata

ENSEMBLE_NAME = "ensemble.json"
ENSEMBLE_FORMAT = "hsi_app ensemble"


@dataclass(frozen=True)
class EnsemblePlan:
    """Each member's band plan for one cube (picklable, like the members' own plans)."""

    members: tuple[BandPlan | SubsetPlan, ...]

    @property
    def resampled(self) -> bool:
        """True when any member resamples the cube's bands."""
        return any(p.resampled for p in self.members)


class EnsemblePredictor:
    """Predictors of several runs, with the interface of :class:`~hsi_app.predictor.Predictor` that
    ``hsi predict`` and ``hsi batch`` use (``bind``, ``plan``, ``apply_plan``, ``num_classes``,
    ``class_names``, ``receptive_radius``).

    Args:
        members: loaded runs (at least one), all with the same class names.
        sources: the run folder of each member, for messages.
    """

    def __init__(self, members: Sequence[Predictor], sources: Sequence[str | os.PathLike[str]]) -> None:
        if not members:
            raise ConfigError("an ensemble needs at least one run; pass --model RUN_DIR one or more times (a list of "
                              "run folders in Python)")
        if len(members) != len(sources):
            raise ValueError(f"{len(members)} members but {len(sources)} sources")
        first = members[0]
        for member, src in zip(members[1:], sources[1:]):
            if member.class_names != first.class_names:
                # the same names numbered otherwise (labels whose ids were given in another order) would average
                # one class's probability with another's: refused, and said so
                order = (" (the same classes numbered in another order: train both from the same label file)"
                         if sorted(member.class_names[1:]) == sorted(first.class_names[1:]) else "")
                raise ModelLoadError(
                    f"{src}: its classes {member.class_names[1:]} differ from {sources[0]}'s {first.class_names[1:]}"
                    f"{order}; ensemble only runs trained on the same classes"
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
        seen: set[Path] = set()
        for folder in folders:
            if is_ensemble_dir(folder):
                raise ConfigError(f"{folder}: an ensemble folder; its members go in as runs, not ensembles in ensembles")
            if folder.resolve() in seen:
                raise ConfigError(f"{folder}: given twice as --model (twice in the list of runs in Python); each "
                                  "ensemble member is a different run")
            seen.add(folder.resolve())
        members = [Predictor.load(folder, device, tta=tta) for folder in folders]
        ens = cls(members, folders)
        splits = {_split_key(m) for m in members}
        if len(splits) > 1:
            warnings.warn(f"the {len(members)} runs were trained on different splits ({', '.join(sorted(splits))}); "
                          "each has seen training pixels that are another's test pixels, so score the ensemble "
                          "only on independent labels", HSIWarning, stacklevel=2)
        return ens

    def __repr__(self) -> str:
        """One line for a notebook: the member runs, classes and halo."""
        names = [str(n) for n in self.class_names[1:]]
        shown = ", ".join(names[:4]) + (f", ... (+{len(names) - 4})" if len(names) > 4 else "")
        return (f"EnsemblePredictor({self.model_name}: {', '.join(repr(s) for s in self.sources)}; {self.num_classes} "
                f"classes [{shown}], receptive radius {self.receptive_radius} px)")

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
        """The largest member radius: the halo every window needs, and the reach a split leaks by when scored."""
        return max(m.receptive_radius for m in self.members)

    @property
    def model_name(self) -> str:
        """``ensemble of N (model names)``, for metrics and messages."""
        names = list(dict.fromkeys(m.model_name for m in self.members))
        return f"ensemble of {len(self.members)} ({', '.join(names)})"

    @property
    def data(self) -> str:
        """The scene every member was trained on, as the first member names it ('' when they differ; see
        :func:`~hsi_app.ensemble_scene.same_scene`)."""
        common = common_scene(self.scenes())
        return "" if common is None else common.data

    def scenes(self) -> list[MemberScene]:
        """Each member's record of its training scene (``data`` and the identity of its contents)."""
        return [member_scene(src, m.config) for m, src in zip(self.members, self.sources)]

    def plan(self, cube: Cube, *, resample: bool = False, check_units: bool = True) -> EnsemblePlan:
        """Every member's band plan for ``cube`` (:meth:`Predictor.plan <hsi_app.predictor.Predictor.plan>`;
        the scene's units are checked against each member's from one sample of the scene, read once: its windows
        also give the pixels holding the no-data value in only some bands, warned about once, not per member).

        Raises:
            BandMismatchError: a member cannot use the cube's bands (the message names that run).
            InvalidDataError: the scene is in other units than a member's training scene.
        """
        from hsi_app.io.cube import check_is_cube
        from hsi_app.value_range import units_sample

        check_is_cube(cube, "ensemble: bind(cube)")  # a numpy array: one line, not 'no attribute hsi'
        sample = units_sample(cube) if check_units else None
        if sample is not None:
            warn_partial_nodata(cube, sample.partial)
        plans = []
        for member, src in zip(self.members, self.sources):
            try:
                plans.append(member.plan(cube, resample=resample, check_units=check_units, sample=sample))
            except BandMismatchError as exc:
                raise BandMismatchError(f"ensemble member {src}: {exc}") from exc
        return EnsemblePlan(tuple(plans))

    def apply_plan(self, plan: EnsemblePlan, image: np.ndarray) -> np.ndarray:
        """``(C_cube, h, w)`` raw values of a window (numpy, or an xarray window of the cube) -> ``(K, h, w)``
        mean of the members' probabilities."""
        image = window_values(image)  # read an xarray window once (no data NaN), not once per member
        total = self.members[0].apply_plan(plan.members[0], image).astype(np.float32, copy=True)
        for member, member_plan in zip(self.members[1:], plan.members[1:]):
            total += member.apply_plan(member_plan, image)
        return total / np.float32(len(self.members))

    def bind(self, cube: Cube, *, resample: bool = False, check_units: bool = True) -> ProbFn:
        """The per-window function for :func:`hsi_app.infer.predict_scene` on ``cube``, as
        :meth:`Predictor.bind <hsi_app.predictor.Predictor.bind>`: ``(C, h, w)`` raw values of ``cube``'s bands ->
        ``(K, h, w)`` mean probabilities of the members."""
        return bind_planned(self, cube, resample=resample, check_units=check_units)


def _split_key(pred: Predictor) -> str:
    """``protocol seed S`` of a member's training split ('unknown' when not recorded)."""
    split = pred.config.split or {}
    if not split:
        return "unknown"
    return f"{split.get('protocol', '?')} seed {split.get('seed', '?')}"


def is_ensemble_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an ensemble folder written by :func:`write_ensemble`."""
    return (Path(path) / ENSEMBLE_NAME).is_file()


def check_ensemble_out(out: str | os.PathLike[str], writes: Sequence[str] = (ENSEMBLE_NAME,)) -> Path:
    """Check that ``out`` can hold an ensemble folder (before anything is loaded or written).

    ``writes``: the files the ensemble will write (or remove) in ``out``; without an earlier ``ensemble.json``
    there, an existing one of them is the user's (a ``map.tif`` of ``hsi predict``, notes called ``metrics.json``).

    Raises:
        OutputError: ``out`` is a training run's folder, cannot be written, or holds one of ``writes`` but no
            earlier ensemble.
    """
    from hsi_app.checkpoint import CONFIG_NAME, WEIGHTS_NAME
    from hsi_app.errors import OutputError
    from hsi_app.io.atomic import check_out_dir

    folder = check_out_dir(out, writes=writes, marker=ENSEMBLE_NAME)
    if any((folder / name).exists() for name in (CONFIG_NAME, WEIGHTS_NAME)):
        raise OutputError(f"{out}: holds a training run; write the ensemble to a folder of its own")
    return folder


def load_members(run_dirs: Sequence[str | os.PathLike[str]], device: str | None = "cpu") -> EnsemblePredictor:
    """Load two or more classification runs as an ensemble (checking that they fit together) on ``device``
    (None: the GPU when one is visible).

    Raises:
        ConfigError: fewer than two runs, or a run given twice.
        ModelLoadError: a run cannot be loaded or has other classes.
    """
    if len(run_dirs) < 2:
        raise ConfigError("an ensemble needs at least two runs; pass --model RUN_DIR two or more times (a list of "
                          "two or more run folders in Python)")
    return EnsemblePredictor.load(run_dirs, device=device)


def ensemble_doc(folder: Path, ens: EnsemblePredictor) -> dict[str, Any]:
    """The ``ensemble.json`` of ``ens`` published in ``folder`` (member paths relative to it, with their hashes)."""
    from hsi_app.batch.state import model_hash

    members = [{"path": os.path.relpath(Path(src).absolute(), folder), "sha256": model_hash(src)} for src in ens.sources]
    return {"format": ENSEMBLE_FORMAT, "version": 1, "members": members, "class_names": ens.class_names,
            "receptive_radius": ens.receptive_radius}


def write_ensemble(out: str | os.PathLike[str], run_dirs: Sequence[str | os.PathLike[str]]) -> EnsemblePredictor:
    """Check that the runs make an ensemble, then write ``out/ensemble.json`` (and nothing else).

    Member paths are stored relative to ``out`` (so the folder can move together with its
    runs) with the :func:`~hsi_app.batch.state.model_hash` of each member. :func:`build_ensemble`
    also scores the ensemble, publishing everything together.

    Returns:
        The members as loaded for the check.

    Raises:
        ConfigError: fewer than two runs, or a run given twice.
        ModelLoadError: a run cannot be loaded or has other classes.
        OutputError: ``out`` is a training run's folder or cannot be written.
    """
    from hsi_app.io.atomic import atomic_path

    folder = check_ensemble_out(out)
    ens = load_members(run_dirs)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / ENSEMBLE_NAME) as tmp:
        Path(tmp).write_text(json.dumps(ensemble_doc(folder, ens), indent=2))
    return ens


ENSEMBLE_OUTPUTS = ("map.tif", "map.png", "confusion.png", "metrics.json")
"""What scoring writes beside ``ensemble.json``; an unscored rebuild removes an earlier ensemble's."""


def build_ensemble(out: str | os.PathLike[str], run_dirs: Sequence[str | os.PathLike[str]], *,
                   data: str | None = None, window: int = 512, progress: bool = True,
                   device: str | None = "cpu") -> dict[str, Any] | None:
    """``hsi ensemble``: check everything, then write, map and score the ensemble folder ``out`` in one step.

    ``device``: where the members map the scene (``"cpu"``, ``"cuda:N"``...; None = the GPU when one is visible).

    Every check (the folder, the members, the scoring scene) happens before anything in ``out``
    changes; ``ensemble.json``, the map and the metrics are written to a staging folder and
    published together (:func:`~hsi_app.io.atomic.staged_run_dir`), so a failure leaves ``out``
    exactly as it was, and an earlier ensemble's map and metrics never sit beside new members.

    Returns:
        The metrics, or ``None`` when the members were trained on different splits (not scored).

    Raises:
        ConfigError, ModelLoadError, OutputError: see :func:`write_ensemble` and :func:`scoring_scene`.
    """
    from hsi_app.io.atomic import staged_run_dir

    folder = check_ensemble_out(out, (ENSEMBLE_NAME, *ENSEMBLE_OUTPUTS))  # an unscored ensemble removes the outputs
    ens = load_members(run_dirs, device)
    scene = scoring_scene(folder, ens, data)
    with staged_run_dir(folder, protect=[data], replaces=ENSEMBLE_OUTPUTS) as stage:
        (stage / ENSEMBLE_NAME).write_text(json.dumps(ensemble_doc(folder, ens), indent=2))
        metrics = None if scene is None else score_ensemble(stage, ens, *scene, window=window, progress=progress)
    return metrics


def ensemble_members(folder: str | os.PathLike[str], *, verify: bool = True) -> list[Path]:
    """The member run folders of an ensemble folder, checked against their recorded hashes.

    Raises:
        ModelLoadError: ``ensemble.json`` is unreadable, a member is missing, or a member's
            files changed since the ensemble was written.
    """
    from hsi_app.batch.state import model_hash

    path = Path(folder) / ENSEMBLE_NAME
    try:
        doc = json.loads(path.read_text())
        entries = [(str(m["path"]), str(m["sha256"])) for m in doc["members"]]
        if doc.get("format") != ENSEMBLE_FORMAT or not entries:
            raise ValueError("not an ensemble description")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(f"{path}: unreadable ensemble ({err}); write it again with `hsi ensemble`") from err
    runs = []
    for rel, sha in entries:
        run = Path(folder) / rel
        if not run.is_dir():
            raise ModelLoadError(f"{path}: member {rel} is missing ({run}); restore it or run `hsi ensemble` again")
        if verify and model_hash(run) != sha:
            raise ModelLoadError(f"{path}: member {rel} changed since the ensemble was written; run `hsi ensemble` "
                                 "again to use the new weights")
        runs.append(run)
    return runs


def ensemble_hash(folder: str | os.PathLike[str]) -> str:
    """sha256 (hex) over ``ensemble.json``, which pins every member's run hash (what ``hsi batch`` keys
    reruns on).

    Raises:
        ModelLoadError: see :func:`ensemble_members` (a changed member is refused here, before
            any batch work starts).
    """
    ensemble_members(folder)
    return hashlib.sha256((Path(folder) / ENSEMBLE_NAME).read_bytes()).hexdigest()


def load_classifier(run_dirs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], device: str | None = None, *,
                    tta: bool = False) -> Predictor | EnsemblePredictor:
    """One run: its :class:`~hsi_app.predictor.Predictor`; several runs, or one ensemble folder: an
    :class:`EnsemblePredictor`.

    Args:
        run_dirs: run folders (or ensemble folders), or one folder as a ``str`` or path.

    Raises:
        ModelLoadError: see :meth:`EnsemblePredictor.load` and :func:`ensemble_members`.
    """
    if isinstance(run_dirs, (str, os.PathLike)):  # one run, not the characters of its path
        run_dirs = [run_dirs]
    if len(run_dirs) == 1:
        folder = run_dir_of(run_dirs[0])
        if not is_ensemble_dir(folder):
            return Predictor.load(folder, device, tta=tta)
        return EnsemblePredictor.load(ensemble_members(folder), device, tta=tta)
    return EnsemblePredictor.load(run_dirs, device, tta=tta)


def common_split(runs: Sequence[str | os.PathLike[str]]) -> Any:
    """The :class:`~hsi_app.data.splits.Split` every run was trained on, or ``None`` when they differ
    (or one has no ``split.npz``)."""
    from hsi_app.data.splits import Split

    splits = []
    for run in runs:
        path = Path(run) / "split.npz"
        if not path.is_file():
            return None
        splits.append(Split.load(path))
    first = splits[0]
    same = all(s.protocol == first.protocol and np.array_equal(s.train, first.train) and np.array_equal(s.test, first.test)
               for s in splits[1:])
    return first if same else None


def scoring_scene(folder: str | os.PathLike[str], ens: EnsemblePredictor,
                  data: str | Cube | None = None) -> tuple[Cube, Any] | None:
    """The scene and split an ensemble is scored on, checked (nothing is written).

    Returns:
        ``(cube, split)``, or ``None`` when the members were not trained on one split (and no ``data`` was given).

    Without ``data``, the members' own scene is opened and checked against the identity their
    runs recorded (:func:`~hsi_app.ensemble_scene.open_member_scene`); a given ``data`` is only
    checked for its size.

    Raises:
        ConfigError: no scene given and the members do not name one scene, their scene is missing
            or changed since training, a scene whose size is not the split's, or a scene given for members
            of different splits (it would not be read: refused, not ignored).
    """
    from hsi_app.ensemble_scene import open_member_scene
    from hsi_app.io.open import open_cube

    split = common_split([Path(s) for s in ens.sources])
    if split is None and data is not None:
        raise ConfigError(f"{data if isinstance(data, str) else scene_name(data, 'the scene')}: --data is the scene "
                          "to score on, but the members were trained on different splits, so the ensemble is not "
                          "scored; drop --data (data=None in Python) and score its map with `hsi evaluate` on "
                          "independent labels")
    if split is None:
        return None
    if data is None:
        scenes = ens.scenes()
        if common_scene(scenes) is None:
            raise ConfigError(f"{folder}: the members were trained on different scenes; pass --data SCENE to score it")
        cube = open_member_scene(scenes)
    else:
        cube = open_cube(data) if isinstance(data, str) else data
    if tuple(cube.hsi.shape[1:]) != split.test.shape:
        raise ConfigError(f"{scene_name(cube, 'the scene')}: {cube.hsi.shape[1]} x {cube.hsi.shape[2]} px, but "
                          f"the members' split is {split.test.shape[0]} x {split.test.shape[1]}; pass the scene they "
                          "were trained on with --data")
    return cube, split


def score_ensemble(folder: Path, ens: EnsemblePredictor, cube: Cube, split: Any, *, window: int = 512,
                   progress: bool = True) -> dict[str, Any]:
    """Map ``cube`` with ``ens`` and score it on ``split``'s test pixels, as ``hsi train`` scores a run.

    Writes ``map.tif`` (class + confidence COG), ``map.png``, ``confusion.png`` and
    ``metrics.json`` (with each member's own OA) into ``folder``. ``leaky`` is judged for ``ens``'s
    :attr:`~EnsemblePredictor.receptive_radius` (the largest member's): ``split`` comes from the
    first member's ``split.npz``, judged for that member alone.
    """
    from hsi_app.tasks.train_classifier import evaluate_run

    members = []
    for run in (Path(s) for s in ens.sources):
        m = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
        members.append({"path": str(run), "oa": m.get("oa"), "aa": m.get("aa"), "kappa": m.get("kappa"),
                        "train_seconds": m.get("train_seconds")})
    train_s = sum(float(m["train_seconds"] or 0.0) for m in members)
    # leaky as judged for the ensemble scored (its largest member radius), not as saved with the first member's split
    split = split.for_model(ens.receptive_radius)
    return evaluate_run(Path(folder), cube, split, train_s, {"epochs": None}, window=window,
                        progress=progress, pred=ens, extra={"members": members})


def evaluate_ensemble(folder: str | os.PathLike[str], *, data: str | Cube | None = None, window: int = 512,
                      progress: bool = True, pred: EnsemblePredictor | None = None) -> dict[str, Any] | None:
    """Score an existing ensemble folder on its members' common split, writing into ``folder``.

    Args:
        data: the scene, as a name or path or as an opened cube (default: the one the members
            were trained on).
        pred: the members already loaded; default: loaded from the folder, after checking
            their hashes.

    Returns:
        The metrics, or ``None`` when the members were not trained on one split (there are
        then no test pixels that none of them has seen).

    Raises:
        ConfigError: see :func:`scoring_scene`.
    """
    ens = EnsemblePredictor.load(ensemble_members(folder)) if pred is None else pred
    scene = scoring_scene(folder, ens, data)
    if scene is None:
        return None
    return score_ensemble(Path(folder), ens, *scene, window=window, progress=progress)
