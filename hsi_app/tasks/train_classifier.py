"""End-to-end classification run: split -> normalise -> fit -> save -> whole-scene map -> metrics.

This is what ``hsi train`` and ``hsi demo`` call. Everything a run produces lands in
one folder::

    OUT/config.json        model name/args, bands, normalisation, classes, split protocol;
                           extra: trainer settings, epochs_requested, versions, data_identity
    OUT/model.safetensors  weights (svm: its training spectra and hyper-parameters)
    OUT/split.npz          the split, to replay the run
    OUT/metrics.json       oa, aa, kappa, per_class_accuracy, confusion_matrix, n_train,
                           n_test, protocol, leaky, buffer_radius, block, train_seconds,
                           epochs_requested, epochs_run, versions, data_identity, ...
    OUT/confusion.png      confusion matrix
    OUT/map.tif, map.png   the full-scene class map (COG: class + confidence), quick-look
    OUT/train_labels.tif   (georeferenced GeoTIFF scenes trained as read) training labels that
                           torchgeo samples tiles against, straight from disk
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.checkpoint import RunConfig, json_floats, save_run
from hsi_app.errors import ConfigError, HSIWarning, LabelError
from hsi_app.data.normalize import BandStats
from hsi_app.io.cube import Cube, scene_name
from hsi_app.model_fwhm import training_fwhm
from hsi_app.rng_state import kept_global_rng

RUN_FILES = ("config.json", "model.safetensors", "split.npz", "metrics.json", "confusion.png", "map.tif", "map.png",
             "train_labels.tif")  # what a classification run writes into OUT (the last when tiles stream from disk)


# The default dense model sees each pixel's SNV spectrum: over five Indian Pines seeds it beat the
# plain-band ssfcn on both protocols (random:0.1 98.80 vs 98.44 % OA, disjoint:0.5 51.13 vs 44.32 % on the
# block layouts of sessions up to 32); on the ten layouts of session 33 it is 10.2 points above SVM-RBF.
DEFAULT_CLASSIFIER = "ssfcn_snv"


@dataclass
class TrainOptions:
    """Knobs of a classification run (defaults are the tuned ones)."""

    model: str = DEFAULT_CLASSIFIER
    split: str = "random:0.1"
    buffer: int | None = None  # disjoint: drop test pixels within this many px of training; None = the model's radius
    epochs: int | None = None
    seed: int = 0  # the split's seed, and the model's too unless init_seed is given
    init_seed: int | None = None  # model weights, tile order, dropout (and the SVM's fit); None = seed
    val_fraction: float = 0.1
    label_smoothing: float | None = None  # None = the trainer's default (0.1)
    window: int = 512
    progress: bool = True
    model_args: dict[str, Any] | None = None
    schedule: str | None = None  # learning-rate schedule name; None = the model's default
    class_weight_power: float = 0.0  # loss weight n_k ** -power per class; 0 = unweighted
    teacher: tuple[str, ...] = ()  # run/ensemble folders to distil from (hsi_app.tasks.distill)
    distill_weight: float = 1.0  # weight of the distillation loss (with a teacher)
    device: str | None = None  # where the net trains and maps the scene: "cpu", "cuda[:N]", "mps"; None = the GPU if any (the SVM: CPU)

    @property
    def model_seed(self) -> int:
        """Seed of everything random in fitting: ``init_seed``, or ``seed`` when that is not given.

        Runs on one split that differ only in it are the members of a deep ensemble
        (:class:`hsi_app.ensemble.EnsemblePredictor`).
        """
        return self.seed if self.init_seed is None else self.init_seed

    def __post_init__(self) -> None:
        """Refuse impossible settings before any data is read.

        Raises:
            ConfigError: ``epochs`` or ``window`` below 1, a negative ``buffer`` or one without a
                ``disjoint`` split, or a model that is not a classifier.
        """
        check_buffer(self.buffer, self.split)
        if self.device is not None:
            from hsi_app.device import resolve_device

            resolve_device(self.device)  # an unknown device, or a GPU that is not there: one line, before any data
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs {self.epochs}: must be at least 1 (epochs= in Python)")
        if self.window < 1:
            raise ConfigError(f"--window {self.window}: must be a positive number of pixels, e.g. 512 (window= in Python)")
        check_class_weight_power(self.class_weight_power)
        if self.class_weight_power and self.model == "svm":
            raise ConfigError("--class-weights (class_weight_power= in Python) weights the loss of the neural models; the SVM "
                              "baseline does not take it")
        if self.teacher:
            from hsi_app.tasks.distill import check_distill_weight

            check_distill_weight(self.distill_weight)
            if self.model == "svm":
                raise ConfigError("--teacher (teacher= in Python) distils into a neural model; the SVM baseline does not "
                                  "take it")
        if self.model != "svm":
            from hsi_app.models.registry import model_info

            task = model_info(self.model)["task"]
            if task != "classification":
                hint = {"denoise": "--task denoise (train_denoiser in Python)",
                        "detect": "--task detect (train_detector in Python)"}.get(task, "another model")
                raise ConfigError(f"--model {self.model} is a {task} model; pick a classification model "
                                  f"(`hsi models list`; list_models() in Python) or use {hint}")


def check_buffer(buffer: int | None, split: str, *, given_maps: bool = False, ready_split: bool = False) -> None:
    """The one ``--buffer`` check: refuse one that is not a whole number >= 0, or one that cannot apply.

    Called by ``hsi train`` before the scene is read (``given_maps`` known there), by :class:`TrainOptions`,
    and, for Python callers, where the split is made (:func:`split_for_run`, a ready split in
    :func:`train_classifier`).

    Args:
        buffer: the ``--buffer`` value; ``None`` (not given) always passes.
        split: the ``--split`` protocol.
        given_maps: ``--train-labels/--test-labels`` are given (they keep their own gap).
        ready_split: a split drawn beforehand is given (it keeps the buffer it was drawn with).

    Raises:
        ConfigError: one line, ``--buffer N: <why>; <fix>``.
    """
    if buffer is None:
        return
    if isinstance(buffer, bool) or not isinstance(buffer, (int, np.integer)) or buffer < 0:
        raise ConfigError(f"--buffer {buffer}: use a whole number of pixels >= 0, e.g. 11 (the default model's radius; "
                          "buffer= in Python)")
    if given_maps:
        raise ConfigError(f"--buffer {buffer}: --train-labels/--test-labels keep their own gap (recorded with the run); "
                          "drop it (buffer=None in Python)")
    if ready_split:
        raise ConfigError(f"--buffer {buffer}: a ready split keeps the buffer it was drawn with; drop it "
                          "(buffer=None in Python)")
    from hsi_app.data.splits import parse_split

    if parse_split(split).kind != "disjoint":
        raise ConfigError(f"--buffer {buffer}: --split {split} has no buffer (only a disjoint:F split has one); "
                          "use --split disjoint:F or drop it (split='disjoint:F' or buffer=None in Python)")


def check_buffer_fits(buffer: int, shape: tuple[int, ...]) -> None:
    """Refuse a ``disjoint`` buffer that leaves no test pixel on a scene of ``shape`` ``(H, W)``, whatever the draw.

    Every pixel lies within ``max(H, W) - 1`` px (Chebyshev) of any other, so such a buffer drops every test pixel
    next to the first training block. The fix named keeps a block (``2 buffer + 1`` px) inside the longer side.

    Raises:
        ConfigError: one line, ``--buffer N: <why>; <fix>``.
    """
    h, w = int(shape[0]), int(shape[1])
    if buffer >= max(h, w) - 1:
        raise ConfigError(f"--buffer {buffer}: blocks of {2 * buffer + 1} px with a {buffer}-px gap do not fit the "
                          f"{h} x {w} scene, so no test pixel is left; use a smaller --buffer (at most "
                          f"{max((max(h, w) - 1) // 2, 0)} here; buffer= in Python)")


def check_class_weight_power(power: float) -> None:
    """Refuse a class-weight exponent outside ``[0, 1]`` (``--class-weights``).

    Raises:
        ConfigError: one line naming the option and the valid range.
    """
    if not 0.0 <= power <= 1.0:
        raise ConfigError(f"--class-weights {power}: the exponent must be in [0, 1] "
                          "(0 = unweighted, 0.5 = inverse square-root frequency; class_weight_power= in Python)")


def run_class_names(names: Sequence[str] | None, num_classes: int) -> list[str]:
    """Names of classes ``0..K`` for a run's config.json: the scene's when there are ``K + 1``
    of them, else ``unlabelled, class 1, ..., class K``."""
    if names and len(names) == num_classes + 1:
        return [str(n) for n in names]
    return ["unlabelled", *[f"class {i}" for i in range(1, num_classes + 1)]]


def scene_in_memory(cube: Cube) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Load the good bands of a cube: image ``(C, H, W)`` float32 (no data -> NaN), band indices, valid ``(H, W)``.

    ``valid`` is the cube's mask AND what the values say (``cube.hsi.read_masked``): pixels made NaN
    or no-data in Python after open are no data too.
    """
    bands = cube.hsi.good_band_indices
    good = cube.isel(band=bands)
    image, valid = good.hsi.read_masked()
    return image, bands, valid


def scene_with_data(cube: Cube) -> tuple[Cube, np.ndarray, np.ndarray, np.ndarray]:
    """``(cube, *scene_in_memory(cube))``; when no pixel is valid because some bands hold no data anywhere,
    the cube with those flagged bad (:func:`~hsi_app.io.empty_bands.flag_empty_bands`, one warning) and
    its scene read again, so a run trains on (and records) the other bands."""
    image, bands, valid = scene_in_memory(cube)
    if valid.size and not valid.any():
        from hsi_app.io.empty_bands import flag_empty_bands

        flagged = flag_empty_bands(cube)
        if flagged is not None:
            return (flagged, *scene_in_memory(flagged))
    return cube, image, bands, valid


def check_has_labels(source: str, label_maps: Sequence[np.ndarray]) -> None:
    """Refuse a scene without labels, or whose ``(H, W)`` label maps hold no labelled pixel.

    Raises:
        LabelError: naming ``source`` and what to pass.
    """
    if not label_maps:
        raise LabelError(f"{source}: no labels; pass --labels (raster or vector) or --train-labels/--test-labels "
                         "(cube.hsi.with_labels(labels), or train_labels= and test_labels=, in Python)")
    if not any((m > 0).any() for m in label_maps):
        raise LabelError(f"{source}: the labels have no labelled pixel (all 0); pass labels with classes 1..K")


def _classes_with_and_without_pixels(label_maps: Sequence[np.ndarray], n_ids: int) -> tuple[list[int], list[int]]:
    """``(present, missing)``: the sorted ids > 0 that the ``(H, W)`` label maps hold, and the ids ``1..n_ids-1``
    that none of them holds."""
    present = sorted(set().union(*(np.unique(m[m > 0]).tolist() for m in label_maps)))
    held = set(present)
    return present, [k for k in range(1, n_ids) if k not in held]


def warn_empty_classes(source: str, label_maps: Sequence[np.ndarray], class_names: Sequence[str], *,
                       named: bool = False) -> None:
    """One warning when classes ``1..K`` of unnamed labels include some that no labelled pixel has.

    Ids are taken as class numbers, so land-cover codes (10, 20, ... 100) make a model with outputs that nothing
    trains, scored as empty classes; the line lists the ids the labels use and the fix. Labels that come with
    class names (a dataset's table, a vector file's names) are not warned about: a class of the table that a
    crop or a subset of the scene lacks is expected (a 64 x 64 corner of Indian Pines holds 11 of its 16).

    Args:
        source: the labels, for the message.
        label_maps: the ``(H, W)`` label maps (0 = unlabelled).
        class_names: names of classes ``0..K``.
        named: the labels came with their own class names (nothing is said).
    """
    if named:
        return
    present, missing = _classes_with_and_without_pixels(label_maps, len(class_names))
    if not missing or not present:
        return
    shown = ", ".join(f"{k} ({class_names[k]})" for k in missing[:4]) + (", ..." if len(missing) > 4 else "")
    used = ", ".join(str(k) for k in present[:8]) + (", ..." if len(present) > 8 else "")
    warnings.warn(f"{source}: {len(missing)} of the run's {len(class_names) - 1} classes have no labelled pixel: "
                  f"{shown}; the model still gets an output for each, trained by nothing (the labels use ids {used}); "
                  "number the classes 1..K without gaps, or give them names", HSIWarning, stacklevel=3)


def warn_named_classes_without_pixels(source: str, label_maps: Sequence[np.ndarray],
                                      class_names: Sequence[str] | None) -> None:
    """One warning naming the classes of a vector label file that label no pixel of the scene.

    A vector file's class names are the values its features hold, so a name without a pixel is a class whose
    features all fell off the scene (outside it, or every pixel shared with another class's overlapping
    feature): the run still gets an output for it that nothing trains, and the reader's own warning counts
    features, not the class lost. (A dataset's table of names, which a crop may not all hold, is not such a
    file: :func:`warn_empty_classes`.)

    Args:
        source: the vector label file(s), for the message.
        label_maps: the ``(H, W)`` label maps read from them (0 = unlabelled).
        class_names: names of ids ``0..K`` from the file(s).
    """
    if not class_names or not label_maps:
        return
    from hsi_app.data.splits import class_label

    lost = _classes_with_and_without_pixels(label_maps, len(class_names))[1]
    if not lost:
        return
    shown = ", ".join(class_label(k, class_names) for k in lost[:4]) + (", ..." if len(lost) > 4 else "")
    one = len(lost) == 1
    warnings.warn(f"{source}: {shown} label{'s' if one else ''} no pixel of the scene (the features fall outside it "
                  "or only on pixels that features of another class also cover), so the model's output for "
                  f"{'it' if one else 'them'} is trained by nothing; check {'its' if one else 'their'} features' "
                  "location and CRS", HSIWarning, stacklevel=2)


def protocol_split(cube: Cube, protocol: str, *, seed: int = 0, radius: int = 0, legacy_blocks: bool = False,
                   valid: np.ndarray | None = None) -> Any:
    """The :class:`~hsi_app.data.splits.Split` of ``protocol`` on the cube's labels that lie on valid data.

    The split is drawn on the labelled pixels inside ``valid`` ((H, W) bool; default: the scene's own,
    :func:`scene_in_memory`), so ``fixed:N`` draws N training pixels of a class wherever it has them on data,
    ``random:F`` takes F of the usable pixels, ``disjoint`` balances its blocks on them, and the
    "absent from train/test" warnings see the split a run uses. Labelled pixels on no-data are said
    in one :class:`~hsi_app.data.splits.SplitWarning` ("22 labelled pixels lie on no-data and are not used").
    A scene with data at every labelled pixel gets exactly the split of its labels.

    Only ``disjoint`` buffers by ``radius`` (the receptive radius of the model, or the
    largest one when several models are compared on one split); every split is judged leaky
    for that radius by the one rule of :func:`~hsi_app.data.splits.leaks` (``random``/``fixed``
    are for any patch model; :func:`train_classifier` judges again for its own model). ``legacy_blocks=True``
    gives the ``disjoint`` block layouts of sessions up to 32 (:func:`~hsi_app.data.splits.make_split`).
    """
    from hsi_app.data.splits import make_split, parse_split

    labels = cube.hsi.labels
    check_has_labels(scene_name(cube), [labels] if labels is not None else [])
    spec = parse_split(protocol)
    labels = labels_on_data(labels, scene_in_memory(cube)[2] if valid is None else valid, protocol,
                            class_names=cube.hsi.class_names)
    if spec.kind != "disjoint":
        return make_split(labels, spec, seed=seed, reach=radius, class_names=cube.hsi.class_names)
    return make_split(labels, spec, seed=seed, radius=radius, legacy_blocks=legacy_blocks, reach=radius,
                      class_names=cube.hsi.class_names)


def labels_on_data(labels: np.ndarray, valid: np.ndarray, protocol: str, *,
                   class_names: Sequence[str] | None = None) -> np.ndarray:
    """``labels`` with 0 where ``valid`` is False (``labels`` itself when every labelled pixel is on data);
    one :class:`~hsi_app.data.splits.SplitWarning` with the number of labelled pixels so dropped, naming the
    classes that lose every pixel there (:func:`off_data_text`; ``class_names`` name their ids).
    When no labelled pixel is on data, ``labels`` as they are: the run refuses the split, naming that
    (:func:`check_labels_on_data`)."""
    from hsi_app.data.splits import SplitWarning

    keep = np.asarray(valid, dtype=bool)
    off = (labels > 0) & ~keep
    n_off = int(np.count_nonzero(off))
    if n_off == 0 or n_off == int(np.count_nonzero(labels > 0)):
        return labels
    warnings.warn(f"split {protocol}: {off_data_text([labels], keep, class_names)}", SplitWarning, stacklevel=4)
    return np.where(off, 0, labels).astype(labels.dtype, copy=False)


def off_data_text(label_maps: Sequence[np.ndarray], valid: np.ndarray,
                  class_names: Sequence[str] | None = None) -> str:
    """``"N labelled pixels lie on no-data and are not used"``, and the classes all of whose labelled pixels lie there.

    Such a class has no training or test pixel, so the run gets an output for it that nothing trains
    and no score; without the class named, a field drawn over the scene's no-data vanished without a word.

    Args:
        label_maps: ``(H, W)`` int label maps (0 = unlabelled): the scene's labels, or a given split's two maps.
        valid: ``(H, W)`` bool, the scene's pixels with data.
        class_names: names of ids ``0..K`` (``class 5 (wetland)``), or ``None``.
    """
    from hsi_app.data.splits import class_label

    keep = np.asarray(valid, dtype=bool)
    n_off = sum(int(np.count_nonzero((m > 0) & ~keep)) for m in label_maps)
    text = (f"{n_off} labelled pixel{'s' if n_off != 1 else ''} lie{'s' if n_off == 1 else ''} on no-data and "
            f"{'are' if n_off != 1 else 'is'} not used")
    lost = []
    for k in sorted(set().union(*(np.unique(m[m > 0]).tolist() for m in label_maps))):
        if not any(np.any((m == k) & keep) for m in label_maps):
            n_k = sum(int(np.count_nonzero(m == k)) for m in label_maps)
            lost.append(f"{class_label(k, class_names)}: all {n_k}")
    if lost:
        shown = "; ".join(lost[:4]) + ("; ..." if len(lost) > 4 else "")
        which = "that class has" if len(lost) == 1 else "those classes have"
        text += (f" ({shown}), so {which} no training or test pixel and the model's output for "
                 f"{'it' if len(lost) == 1 else 'them'} is trained by nothing; label {'it' if len(lost) == 1 else 'them'}"
                 " where the scene has data")
    return text


def check_labels_on_data(source: str, label_maps: Sequence[np.ndarray], valid: np.ndarray, scene: str) -> None:
    """Refuse labels none of whose labelled pixels lies on the scene's data, with their count and the fix.

    Raises:
        LabelError: one line naming ``source`` (the label files) and ``scene``.
    """
    keep = np.asarray(valid, dtype=bool)
    if any(np.any((m > 0) & keep) for m in label_maps):
        return
    n = sum(int(np.count_nonzero(m > 0)) for m in label_maps)
    raise LabelError(f"{source}: all {n} labelled pixel{'s' if n != 1 else ''} lie on no-data of the scene {scene}; "
                     "check that the labels belong to this scene (hsi info SCENE --labels FILE counts them) and "
                     "that its no-data value is right")


def receptive_radius(model: str, in_chans: int = 8, num_classes: int = 2, model_args: dict[str, Any] | None = None) -> int:
    """Receptive radius (pixels) of a registered model; 0 for the per-pixel SVM."""
    if model == "svm":
        return 0
    from hsi_app.models import create_model

    return int(create_model(model, in_chans=in_chans, num_classes=num_classes, **(model_args or {})).receptive_radius)


def split_for_run(cube: Cube, opts: TrainOptions, radius: int, train_labels: np.ndarray | None = None,
                  test_labels: np.ndarray | None = None, *, class_names: Sequence[str] | None = None,
                  valid: np.ndarray | None = None, source: str | None = None) -> Any:
    """The split a run draws: the given ``(H, W)`` label maps, or ``opts.split`` on the cube's labels.

    A ``disjoint`` split is buffered by ``opts.buffer`` (default: ``radius``, the model's receptive
    radius), which also sets its block edge (:func:`~hsi_app.data.splits.default_block`); so
    ``svm`` with ``buffer=11`` draws the very split of an ``ssfcn_snv`` run (radius 11) of that seed.
    The leak verdict is judged again for the model by :func:`train_classifier`. ``class_names``
    name the given maps' ids in the split's warnings (a drawn split uses the cube's own names).
    ``valid`` ((H, W) bool, the scene's valid pixels; default: read from the cube) bounds a drawn split
    to the labelled pixels on data (:func:`protocol_split`). ``source`` (the label files, e.g.
    ``"train.tif, test.tif"``) starts the line refusing given maps that cannot be a split (overlapping...).

    Raises:
        LabelError: only one of the two maps given, or maps that cannot be a split.
        ConfigError: ``opts.buffer`` with given maps (they carry their own gap).
    """
    from hsi_app.data.splits import split_from_maps

    if train_labels is not None or test_labels is not None:
        if train_labels is None or test_labels is None:
            raise LabelError("--train-labels and --test-labels (train_labels=, test_labels= in Python) go together; "
                             "pass both")
        check_buffer(opts.buffer, opts.split, given_maps=True)
        try:
            return split_from_maps(train_labels, test_labels, radius=radius, class_names=class_names)  # leaky when they are as close as that
        except LabelError as err:
            if source is None or str(err).startswith(f"{source}:"):
                raise
            raise LabelError(f"{source}: {err}") from None
    if opts.buffer is not None and cube.hsi.labels is not None:
        check_buffer_fits(opts.buffer, cube.hsi.labels.shape)  # before the draw and its "absent from test" warnings
    return protocol_split(cube, opts.split, seed=opts.seed, radius=radius if opts.buffer is None else opts.buffer,
                          valid=valid)


def layout_note(protocol: str, radius: int, block: int, shape: tuple[int, ...]) -> str:
    """One ``note:`` line when a ``disjoint`` split is buffered less than the default model's radius, else ``""``.

    Such a split (the SVM's own, radius 0) has another block edge, block assignment and buffer than
    a :data:`DEFAULT_CLASSIFIER` run's of the same seed, so its score cannot be set beside that run's.

    Args:
        protocol, radius, block: the split's (a run's metrics.json ``protocol``, ``buffer_radius``, ``block``).
        shape: ``(H, W)`` of the scene it was drawn on.
    """
    from hsi_app.data.splits import default_block

    if not protocol.startswith("disjoint"):
        return ""
    reach = receptive_radius(DEFAULT_CLASSIFIER)
    if radius >= reach:
        return ""
    default = default_block((int(shape[0]), int(shape[1])), reach)
    return (f"note: this {protocol} split (buffer {radius} px, blocks {block} px) is another layout "
            f"than a default-model ({DEFAULT_CLASSIFIER}) run's of this seed (buffer {reach} px, blocks {default} px), "
            f"so the two scores are not comparable; add --buffer {reach} for that split, or replay that run's "
            "split.npz with --train-labels/--test-labels")


@kept_global_rng()
def train_classifier(
    cube: Cube,
    out: str | os.PathLike[str],
    opts: TrainOptions,
    *,
    train_labels: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    split: Any = None,
    protect: Sequence[str | os.PathLike[str] | None] = (),
    labels_from: str | None = None,
) -> dict[str, Any]:
    """Train, evaluate and map one scene; write the run folder ``out``.

    The files are written to a hidden staging folder next to ``out`` and moved into it
    only when everything succeeded, so a failed or interrupted run leaves an earlier run
    in ``out`` as it was (:func:`~hsi_app.io.atomic.staged_run_dir`).

    Args:
        cube: scene with ``label`` (or pass ``train_labels``/``test_labels``, (H, W) int).
        out: run folder (created).
        opts: model, split and training options.
        split: a ready :class:`~hsi_app.data.splits.Split` to use as is (so that several
            models are scored on exactly the same test pixels); overrides ``opts.split``.
        protect: input files (label files) that a run file must not replace; the scene's
            own file is always protected.
        labels_from: the label file(s) (``--labels``, or ``--train-labels, --test-labels``), named in the
            errors about the labels (default: the scene, whose own labels they are).

    Raises:
        LabelError: no usable training or test pixels (checked before training).
        OutputError: ``out`` cannot be created, or a run file would replace an input.
        ConfigError: ``cube`` not a Cube (a numpy array: wrap it with ``make_cube(array, wavelength=..., labels=...)``).

    Returns:
        The metrics dict written to ``metrics.json``.
    """
    from hsi_app.io.atomic import OTHER_THAN_TRAINING, check_out_dir, staged_run_dir
    from hsi_app.io.cube import check_is_cube

    check_is_cube(cube, "train_classifier")
    inputs = [cube.attrs.get("source"), *protect]
    check_out_dir(out, other_runs=OTHER_THAN_TRAINING, protect=inputs, writes=RUN_FILES, task="classification")
    cube, image, bands, valid = scene_with_data(cube)  # bands with no data anywhere flagged bad
    k_names = cube.hsi.class_names
    label_maps = [m for m in (cube.hsi.labels, train_labels, test_labels) if m is not None]
    label_source = labels_from or scene_name(cube)
    check_has_labels(label_source, label_maps)  # before a model is built for K classes
    labels_max = max((int(np.max(m)) for m in label_maps), default=0)
    num_classes = max(labels_max, len(k_names) - 1 if k_names else 0)
    class_names = run_class_names(k_names, num_classes)
    warn_empty_classes(label_source, label_maps, class_names,
                       named=bool(k_names) and len(k_names) == num_classes + 1)

    check_labels_on_data(label_source, label_maps, valid, scene_name(cube))
    radius = receptive_radius(opts.model, image.shape[0], num_classes, opts.model_args)
    if split is None and train_labels is not None and test_labels is not None:
        warn_given_maps_off_data(label_source, train_labels, test_labels, valid, k_names)
    if split is None:
        split = split_for_run(cube, opts, radius, train_labels, test_labels, class_names=k_names, valid=valid,
                              source=labels_from)
    elif opts.buffer is not None:
        check_buffer(opts.buffer, opts.split, ready_split=True)
    elif split.protocol.startswith("disjoint") and split.radius < radius:
        raise LabelError(
            f"split {split.protocol}: buffer {split.radius} px is smaller than {opts.model}'s receptive radius "
            f"{radius} px; make the split with radius >= {radius}"
        )
    # a copy without the no-data pixels (the caller's split and its arrays stay as given); one leak rule for
    # drawn and given splits, judged for this model
    split = split.within(valid).for_model(radius)
    check_split_pixels(split, label_source, opts.buffer, class_names=class_names)
    if opts.teacher:
        from hsi_app.tasks.distill import check_teacher

        check_teacher(opts.teacher, split.test > 0, class_names)
    from hsi_app.provenance import run_record

    record = run_record(cube, protect)  # hashed before training: the inputs as this run read them
    # everything is written to a staging folder and published into ``out`` only on success
    with staged_run_dir(out, protect=inputs, replaces=("train_labels.tif",)) as stage:
        metrics = _train_into(stage, cube, opts, split, image, bands, num_classes, class_names, radius, record)
    return metrics


def warn_given_maps_off_data(source: str, train: np.ndarray, test: np.ndarray, valid: np.ndarray,
                             class_names: Sequence[str] | None) -> None:
    """One :class:`~hsi_app.data.splits.SplitWarning` when given ``(H, W)`` train/test maps label no-data pixels.

    A run drops them (``Split.within``), as a drawn split does; this says how many, and which classes lose
    every pixel (:func:`off_data_text`), as the drawn splits' warning does.
    """
    from hsi_app.data.splits import SplitWarning

    keep = np.asarray(valid, dtype=bool)
    maps = [np.asarray(train), np.asarray(test)]
    if any(np.any((m > 0) & ~keep) for m in maps):
        warnings.warn(f"{source}: {off_data_text(maps, keep, class_names)}", SplitWarning, stacklevel=2)


def check_split_pixels(split: Any, source: str, buffer: int | None = None, *,
                       class_names: Sequence[str] | None = None) -> None:
    """Refuse a split that cannot train or be scored, before any training.

    ``buffer``: the ``--buffer`` the split was drawn with, named in the fix when it leaves no test pixel.
    ``class_names`` (ids ``0..K``) name the one class of a split that has a single training class.

    Raises:
        LabelError: no training pixel on valid data, a single training class, or no test pixel.
    """
    train_classes = np.unique(split.train[split.train > 0])
    if train_classes.size == 0:
        raise LabelError(f"{source}: no training pixel lies on valid data; check the labels and the scene's no-data")
    if train_classes.size < 2:
        from hsi_app.data.splits import class_label

        raise LabelError(f"{source}: every training pixel is {class_label(int(train_classes[0]), class_names)}; "
                         "a classifier needs at least 2 labelled classes; label a second class")
    if not (split.test > 0).any():
        gap = f" with its {buffer}-px buffer" if buffer else ""
        fix = f"a smaller --buffer (now {buffer}), " if gap else ""
        raise LabelError(f"{source}: split {split.protocol}{gap} leaves no test pixel on valid data; use {fix}a smaller "
                         "training share, a larger scene, or --train-labels/--test-labels")


def _train_into(out: Path, cube: Cube, opts: TrainOptions, split: Any, image: np.ndarray, bands: np.ndarray,
                num_classes: int, class_names: list[str], radius: int, record: dict[str, Any]) -> dict[str, Any]:
    """Fit, save and evaluate into the (staging) run folder ``out``; return the metrics.

    ``record``: :func:`~hsi_app.provenance.run_record`, stored in config.json ``extra`` and metrics.json with the
    epochs requested (``epochs_requested``: ``--epochs`` or the trainer's default; ``None`` for the SVM) and run
    (``epochs_run``).
    """
    from hsi_app.provenance import scene_reference

    split.save(out / "split.npz")
    if opts.progress:
        print(split.describe())

    mean, std = _band_stats(image, split.train > 0)
    extra = {**_training_extra(opts), **record}  # imports Lightning for a dense model: before the clock starts
    t0 = time.perf_counter()
    train, val = _validation_split(opts, split) if opts.model != "svm" else (split.train, None)
    soft = None
    if opts.teacher:  # distillation trains on in-memory tiles, which carry the teacher's targets
        from hsi_app.tasks.distill import distill_targets, teacher_probs, teacher_record

        held_out = (split.test > 0) if val is None else (split.test > 0) | (val > 0)  # never given a target
        soft = distill_targets(teacher_probs(opts.teacher, cube, window=opts.window, progress=opts.progress,
                                                   device=opts.device), held_out)
        extra["teacher"] = teacher_record(opts.teacher, opts.distill_weight, int((soft.sum(axis=0) > 0).sum()))
    geo = _geo_tiles_factory(cube, out, bands, opts.model_seed) if opts.model != "svm" and soft is None else None
    fwhm = training_fwhm(opts.model, cube.hsi.fwhm[bands])  # the scene's FWHM, for a family that takes it
    tensors, model_args, history = _fit(opts, image, mean, std, split, (train, val), num_classes,
                                        cube.hsi.wavelengths[bands], geo, soft, fwhm)
    train_seconds = time.perf_counter() - t0
    config = RunConfig(
        task="classification",
        model_name=opts.model,
        model_args=model_args,
        in_chans=int(bands.size),
        num_classes=num_classes,
        class_names=list(class_names),
        wavelengths=json_floats(cube.hsi.wavelengths[bands]),
        fwhm=json_floats(cube.hsi.fwhm[bands]),
        band_indices=[int(b) for b in bands],
        source_bands=cube.hsi.shape[0],
        mean=[float(v) for v in mean],
        std=[float(v) for v in std],
        receptive_radius=radius,
        split={"protocol": split.protocol, "seed": split.seed, "leaky": split.leaky, "radius": split.radius,
               "block": split.block},
        data=scene_reference(cube),  # a file's absolute path: ``hsi ensemble`` finds it from any folder
        extra=extra,
        fwhm_in_model=fwhm is not None,
    )
    save_run(out, config, tensors)
    epochs = {"epochs_requested": extra.get("epochs_requested"), "epochs_run": int(history.get("epochs_run", 0))}
    taught = {"teacher": extra["teacher"]} if "teacher" in extra else {}  # a distilled run says so beside its scores
    return evaluate_run(out, cube, split, train_seconds, history, window=opts.window, progress=opts.progress,
                        extra={**epochs, **record, **taught}, device=opts.device)


def _training_extra(opts: TrainOptions) -> dict[str, Any]:
    """Training settings stored in ``config.json`` ``extra`` (for the SVM only its ``init_seed``; no epochs)."""
    if opts.model == "svm":
        return {"init_seed": opts.model_seed, "epochs_requested": None}
    from hsi_app.tasks.classification import DEFAULT_EPOCHS, DEFAULT_LABEL_SMOOTHING

    smoothing = DEFAULT_LABEL_SMOOTHING if opts.label_smoothing is None else opts.label_smoothing
    return {"schedule": opts.schedule or "cosine", "val_fraction": opts.val_fraction, "label_smoothing": smoothing,
            "class_weight_power": opts.class_weight_power, "init_seed": opts.model_seed,
            "epochs_requested": DEFAULT_EPOCHS if opts.epochs is None else opts.epochs}


def _validation_split(opts: TrainOptions, split: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``(train, val)`` label maps: ``--val-fraction`` of the training pixels held out (on the split's seed)."""
    return split.validation(opts.val_fraction, seed=opts.seed) if opts.val_fraction > 0 else (split.train, None)


def _geo_tiles_factory(cube: Cube, out: Path, bands: np.ndarray, seed: int) -> Any:
    """For a georeferenced GeoTIFF whose values the cube still holds, a builder of torchgeo tiles; else ``None``.

    The training labels are written next to the run (``train_labels.tif``, same grid as
    the scene) so that torchgeo can intersect the two rasters and sample tiles from disk.
    torchgeo reads the file, so a cube changed after it was opened (scaled, ``where``, a band
    subset, a crop or ``rio.clip``), or read with a GDAL scale/offset, gets ``None`` (in-memory
    tiles of the values the statistics come from; :func:`~hsi_app.io.geotiff.holds_file_values`).
    A rotated or sheared grid gets ``None`` too: torchgeo samples on a
    north-up grid, so its tiles would be resampled and padded, unlike the native pixel
    windows that ``hsi predict`` runs on.
    """
    from hsi_app.io.geotiff import holds_file_values

    source = Path(str(cube.attrs.get("source", "")))
    if cube.attrs.get("format") != "geotiff" or cube.rio.crs is None or not source.is_file():
        return None
    if not holds_file_values(cube):
        return None
    t = cube.rio.transform()
    if t.b or t.d:
        return None

    def build(train: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Any:
        import rasterio

        from hsi_app.data.geo_tiles import GeoRasterTiles
        from hsi_app.tasks.classification import DEFAULT_TILE_SIZE, DEFAULT_TILES_PER_EPOCH

        _, h, w = cube.hsi.shape
        labels_path = out / "train_labels.tif"
        with rasterio.open(labels_path, "w", driver="GTiff", height=h, width=w, count=1, dtype="uint8",
                           crs=cube.rio.crs, transform=cube.rio.transform()) as ds:
            ds.write(train.astype(np.uint8)[None])
        return GeoRasterTiles(
            source, labels_path, tile_size=min(DEFAULT_TILE_SIZE, h, w), tiles_per_epoch=DEFAULT_TILES_PER_EPOCH,
            band_indices=bands, mean=mean, std=std, wavelengths=cube.hsi.wavelengths[bands],
            nodata=cube.hsi.nodata, seed=seed,
        )

    return build


def _band_stats(image: np.ndarray, train_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean/std of the training pixels only. ``(C,)`` float32 each."""
    stats = BandStats.fit(np.nan_to_num(image), train_mask)
    return np.asarray(stats.mean, dtype=np.float32), np.asarray(stats.std, dtype=np.float32)


def _fit(
    opts: TrainOptions,
    image: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    split: Any,
    train_val: tuple[np.ndarray, np.ndarray | None],
    num_classes: int,
    wavelengths: np.ndarray,
    geo_tiles: Any = None,
    soft: np.ndarray | None = None,
    fwhm: np.ndarray | None = None,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Fit the model; return (weights, model args to store, history).

    ``train_val``: the neural models' ``(train, val)`` label maps (:func:`_validation_split`);
    the SVM fits every training pixel of ``split``.

    ``geo_tiles(train_labels, mean, std)`` builds a torchgeo tile dataset for georeferenced
    GeoTIFF scenes; in-memory scenes (``None``) are tiled by :class:`SceneTiles`. ``soft``:
    ``(K, H, W)`` teacher targets for distillation (see :mod:`hsi_app.tasks.distill`). ``fwhm``:
    ``(C,)`` nm given to the new model (:func:`hsi_app.model_fwhm.training_fwhm`), or None.
    """
    if opts.model == "svm":
        from hsi_app.models.svm import SVMBaseline

        svm = SVMBaseline()
        n_train, t0 = int(np.count_nonzero(split.train > 0)), time.perf_counter()
        if opts.progress:  # one fit, no epochs: say what runs (it grows ~quadratically with the spectra)
            print(f"svm: fitting SVM-RBF on {n_train:,} training spectra of {image.shape[0]} bands (C/gamma grid "
                  "search, then the final fit)...", file=sys.stderr, flush=True)
        svm.fit(np.nan_to_num(image), split.train, seed=opts.model_seed, num_classes=num_classes)  # K columns, also for a class with no training pixel
        if opts.progress:
            print(f"svm: C {svm.C:g}, gamma {svm.gamma:.3g}, {time.perf_counter() - t0:.1f} s", file=sys.stderr,
                  flush=True)
        return svm.state_dict(), {}, {"epochs": 0}
    from hsi_app.tasks.classification import balanced_class_weights, fit_dense

    train, val = train_val
    norm = np.nan_to_num(BandStats(mean, std).apply(image))  # (C, H, W) float32
    kwargs: dict[str, Any] = {"seed": opts.model_seed, "progress": opts.progress, "model_args": opts.model_args,
                              "band_stats": (mean, std), "device": opts.device,
                              "diverged_hint": "check the scene for extreme values, or try another --schedule or --model"}
    if geo_tiles is not None:
        kwargs["tiles"] = geo_tiles(train, mean, std)
    if opts.epochs is not None:
        kwargs["epochs"] = opts.epochs
    if opts.schedule is not None:
        kwargs["schedule"] = opts.schedule
    if opts.label_smoothing is not None:
        kwargs["label_smoothing"] = opts.label_smoothing
    if opts.class_weight_power:
        kwargs["class_weights"] = balanced_class_weights(train, num_classes, opts.class_weight_power)
    if soft is not None:
        kwargs.update(soft_targets=soft, distill_weight=opts.distill_weight)
    net, history = fit_dense(norm, train, val, model_name=opts.model, num_classes=num_classes, wavelengths=wavelengths,
                             fwhm=fwhm, **kwargs)
    return dict(net.state_dict()), dict(opts.model_args or {}), history


def score_class_map(test: np.ndarray, classes: np.ndarray, num_classes: int) -> tuple[dict[str, Any], np.ndarray]:
    """Metrics of a class map on the test pixels it covers.

    Args:
        test: ``(H, W)`` int test labels (0 = not a test pixel, ``1..K``).
        classes: ``(H, W)`` predicted classes (0 = no data, ``1..K``).
        num_classes: ``K``.

    Returns:
        ``(metrics, sel)``: :func:`~hsi_app.tasks.class_metrics.classification_metrics` of the
        test pixels with a prediction, and the ``(H, W)`` bool mask of those pixels.
    """
    from hsi_app.tasks.class_metrics import classification_metrics  # no Lightning import: SVM runs, ensembles

    sel = (test > 0) & (classes > 0)
    return classification_metrics(test[sel] - 1, classes[sel].astype(np.int64) - 1, num_classes), sel


def evaluate_run(
    run_dir: Path,
    cube: Cube,
    split: Any,
    train_seconds: float,
    history: dict[str, Any],
    *,
    window: int = 512,
    progress: bool = True,
    pred: Any = None,
    extra: dict[str, Any] | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Predict the whole scene from the saved run, score the test pixels, write maps and metrics.

    Args:
        device: where the run's own predictor maps the scene (``"cpu"``, ``"cuda:N"``...; None = the GPU
            when one is visible); not used with ``pred``.
        pred: the predictor to score (default: the run folder's own); e.g. an
            :class:`~hsi_app.ensemble.EnsemblePredictor` for an ensemble folder.
        extra: more entries for ``metrics.json``.
    """
    from hsi_app.infer import predict_scene
    from hsi_app.io.quicklook import confusion_title, save_class_map_png, save_confusion_png
    from hsi_app.predictor import Predictor

    pred = Predictor.load(run_dir, device=device) if pred is None else pred
    t0 = time.perf_counter()
    result = predict_scene(
        pred.bind(cube, check_units=False),  # its own training scene: in its units
        cube,
        num_classes=pred.num_classes,
        halo=pred.receptive_radius,
        out=run_dir / "map.tif",
        window=window,
        class_names=pred.class_names,
        keep_map=True,
        progress=progress,
    )
    assert result.classes is not None
    metrics, sel = score_class_map(split.test, result.classes, pred.num_classes)
    h, w = result.height, result.width
    metrics.update(
        model=pred.model_name,
        protocol=split.protocol,
        leaky=bool(split.leaky),
        seed=int(split.seed),
        buffer_radius=int(split.radius),
        block=int(split.block),
        dropped_test_pixels=int(split.dropped),
        n_train=split.n_train,
        n_test=int(sel.sum()),
        train_seconds=round(train_seconds, 3),
        predict_seconds=round(time.perf_counter() - t0, 3),
        pixels_per_second=round(h * w / max(result.seconds, 1e-9), 1),
        epochs=history.get("epochs"),
        class_names=pred.class_names[1:],
        data=pred.data,
        **(extra or {}),
    )
    title = confusion_title(metrics["oa"], model=pred.model_name, protocol=split.protocol, leaky=bool(split.leaky),
                            n=metrics["n_test"])
    save_confusion_png(run_dir / "confusion.png", np.asarray(metrics["confusion_matrix"]), pred.class_names[1:],
                       title=title)
    save_class_map_png(run_dir / "map.png", result.classes, pred.class_names, None)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics
