"""Task adapters: what ``hsi batch --task NAME`` does to one scene, as a few small functions.

The batch engine (:mod:`hsi_app.batch.run`) knows nothing about classification,
denoising or detection. A task is a :class:`TaskAdapter` registered in :data:`TASKS`:

* ``load(run_dir)``: the model on ``device`` (cached once per worker process by the engine; :func:`on_device`
  picks another device than the CPU);
* ``run_scene(model, cube, out, window, resample)``: a whole scene, streamed to ``out``
  window by window (the one-task path; for classify this *is* ``hsi predict``);
* ``plan(model, cube, resample)`` + ``apply(model, plan, image)``: the per-window
  function, used when a large scene is spread over workers window by window (``plan`` is
  computed once on the client and must pickle; ``apply`` runs on workers);
* ``finish(out, valid)``: a window's cropped output -> the stored block and its counts
  (index 0 counts no-data pixels; a scene whose other counts are all 0 fails);
* ``open_writer(model, cube, out)``: the streaming writer the blocks go into;
* ``stats(model, counts)``: the per-input numbers for the report;
* ``identity(model_arg)``: optional; ``(model label, model hash)`` for tasks whose "model"
  is not (only) a run folder (classical detection: method + options + library bytes), or
  whose output depends on options as well as on the run (denoising with SURE adaptation);
* ``options``: optional; those options, recorded in ``report.json``;
* ``keeps_empty_bands(model)``: optional; True when the model needs every band of a scene, so the
  engine opens scenes as read instead of flagging bad the bands that hold no data at any pixel
  (a denoiser with fixed bands: ``hsi denoise`` fills such a band or names it). Only for tasks
  without the split path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hsi_app.errors import UnknownKeyError
from hsi_app.io.cube import Cube
from hsi_app.tasks.denoise_adapt import DEFAULT_ADAPT_STEPS, check_adapt

if TYPE_CHECKING:
    from hsi_app.tasks.prob_smoothing import SmoothSpec

StatsDict = dict[str, Any]


@dataclass(frozen=True)
class TaskAdapter:
    """One batch task (see the module docstring for the meaning of each function)."""

    name: str
    suffix: str  # output name suffix, e.g. "_classes.tif"
    load: Callable[[Path], Any]
    halo: Callable[[Any], int]
    run_scene: Callable[[Any, Cube, Path, int, bool], StatsDict]
    # The split path; a task without it always runs a scene as one task.
    plan: Callable[[Any, Cube, bool], Any] | None = None
    apply: Callable[[Any, Any, np.ndarray], np.ndarray] | None = None
    finish: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    open_writer: Callable[[Any, Cube, Path], Any] | None = None
    stats: Callable[[Any, np.ndarray], StatsDict] | None = None
    # (``--model`` argument or None) -> (label recorded as the model, hash for sidecars); None: a run folder.
    identity: Callable[[Any], tuple[str, str]] | None = None
    options: dict[str, Any] | None = None
    device: str | None = "cpu"  # where ``load`` puts the model (None: the GPU when one is visible); see on_device
    # (model) -> open scenes with no band flagged empty; None: always flagged (see the module docstring)
    keeps_empty_bands: Callable[[Any], bool] | None = None

    @property
    def can_split(self) -> bool:
        """True when big scenes can be spread over workers window by window."""
        return None not in (self.plan, self.apply, self.finish, self.open_writer, self.stats)


# --------------------------------------------------------------------------- classify


def _classify_load(run_dir: Path, device: str | None = "cpu") -> Any:
    """A run's :class:`~hsi_app.predictor.Predictor`, or an ensemble folder's members together, on ``device``."""
    from hsi_app.ensemble import load_classifier

    return load_classifier([run_dir], device=device)


NO_DATA_KEY = "no-data"  # class_counts' key of the map's 0, as `hsi info` on the map says ("7,209 no-data")


def _classify_counts(pred: Any, counts: np.ndarray) -> StatsDict:
    """``{"class_counts": {"no-data": n0, name: n, ...}}``: a map's 0 is no data, not an "unlabelled" land cover."""
    names = pred.class_names if len(pred.class_names) == counts.size else [str(i) for i in range(counts.size)]
    names = [NO_DATA_KEY, *names[1:]]
    return {"class_counts": {str(n): int(c) for n, c in zip(names, counts)}}


def sidecar_class_counts(counts: dict[str, int], task: str | None) -> dict[str, int]:
    """A sidecar's ``class_counts`` as the report keys them. A ``classify`` sidecar's first key is the map's
    0 (:func:`_classify_counts`); one written before that key was ``"no-data"`` named it after the run's
    class 0 (``"unlabelled"``, ``"background"``, ...), renamed here so a rerun's report keys every scene alike.
    Other tasks' counts (``detect``: points per material, no 0) are kept as they are."""
    keys = list(counts)
    if task == "classify" and keys and NO_DATA_KEY not in counts:
        return {(NO_DATA_KEY if i == 0 else k): v for i, (k, v) in enumerate(counts.items())}
    return dict(counts)


def _classify_run_scene(smooth: SmoothSpec | None, pred: Any, cube: Cube, out: Path, window: int,
                        resample: bool) -> StatsDict:
    """Exactly what ``hsi predict [--smooth]`` does (same function, same arguments)."""
    from hsi_app.infer import predict_scene
    from hsi_app.tasks.prob_smoothing import with_smoothing

    plan = _classify_plan(pred, cube, resample)
    prob_fn, halo = with_smoothing(partial(_classify_apply, pred, plan), pred.receptive_radius, cube, smooth)
    res = predict_scene(
        prob_fn, cube, num_classes=pred.num_classes, halo=halo,
        out=out, window=window, class_names=pred.class_names, progress=False,
    )
    return {"height": res.height, "width": res.width, "windows": res.windows, "resampled": plan.resampled,
            **_classify_counts(pred, res.class_counts)}


def _classify_plan(pred: Any, cube: Cube, resample: bool) -> Any:
    """The predictor's band plan for ``cube`` (picked, resampled, or a band subset), as ``hsi predict`` makes it."""
    return pred.plan(cube, resample=resample)


def _classify_apply(pred: Any, plan: Any, image: np.ndarray) -> np.ndarray:
    """``(C_cube, h, w)`` raw (NaN = no data) -> ``(K, h, w)`` probabilities."""
    return pred.apply_plan(plan, image)


def _classify_writer(pred: Any, cube: Cube, out: Path) -> Any:
    from hsi_app.infer import class_map_writer

    return class_map_writer(out, cube, pred.num_classes, pred.class_names)


def _classify_finish(probs: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cropped ``(K, h, w)`` probabilities + ``(h, w)`` valid -> stored ``(2, h, w)`` uint8 and ``(256,)`` class counts.

    The same steps as :func:`hsi_app.infer.predict_scene` takes for each window.
    """
    from hsi_app.infer import classify_probs
    from hsi_app.io.cog import encode_class_window

    cls, conf = classify_probs(probs, valid)
    return encode_class_window(cls, conf), np.bincount(cls.ravel(), minlength=256)


def _classify_stats(pred: Any, counts: np.ndarray) -> StatsDict:
    return _classify_counts(pred, counts[: pred.num_classes + 1])


CLASSIFY = TaskAdapter(
    name="classify",
    suffix="_classes.tif",
    load=_classify_load,
    halo=lambda pred: int(pred.receptive_radius),
    run_scene=partial(_classify_run_scene, None),
    plan=_classify_plan,
    apply=_classify_apply,
    finish=_classify_finish,
    open_writer=_classify_writer,
    stats=_classify_stats,
)


def _smoothed_halo(smooth: SmoothSpec, pred: Any) -> int:
    return int(pred.receptive_radius) + smooth.halo


def _smoothed_plan(smooth: SmoothSpec, pred: Any, cube: Cube, resample: bool) -> tuple[Any, Any]:
    """The band plan and the scene's guide (:func:`~hsi_app.tasks.prob_smoothing.fit_guide`), made once on the client."""
    from hsi_app.tasks.prob_smoothing import fit_guide

    return _classify_plan(pred, cube, resample), fit_guide(cube, smooth.components)


def _smoothed_apply(smooth: SmoothSpec, pred: Any, plan: tuple[Any, Any], image: np.ndarray) -> np.ndarray:
    """``(C_cube, h, w)`` raw -> ``(K, h, w)`` guided-filtered probabilities (the window carries the wider halo)."""
    from hsi_app.tasks.prob_smoothing import smoothed

    bands, guide = plan
    return smoothed(partial(_classify_apply, pred, bands), guide, smooth)(image)


def classify_adapter(smooth: SmoothSpec | None = None) -> TaskAdapter:
    """The ``classify`` task: the plain :data:`CLASSIFY`, or one whose maps are guided-filtered
    as ``hsi predict --smooth`` (each window read with ``smooth.halo`` more pixels; the guide is
    fitted once per scene). The setting is hashed with the run, so changing it redoes the scenes."""
    if smooth is None:
        return CLASSIFY
    return replace(CLASSIFY, halo=partial(_smoothed_halo, smooth), run_scene=partial(_classify_run_scene, smooth),
                   plan=partial(_smoothed_plan, smooth), apply=partial(_smoothed_apply, smooth),
                   identity=partial(_options_identity, "classify", "", {"smooth": str(smooth)}),
                   options={"smooth": str(smooth)})

# --------------------------------------------------------------------------- denoise


def _denoise_load(run_dir: Path, device: str | None = "cpu") -> Any:
    from hsi_app.tasks.denoising import Denoiser

    return Denoiser.load(run_dir, device=device)


def _denoise_halo(den: Any) -> int:
    return int(den.halo)


def _denoise_keeps_empty_bands(den: Any) -> bool:
    """Whether ``den`` has fixed bands (:attr:`~hsi_app.tasks.denoising.Denoiser.fixed_bands`): its scenes are then
    opened as read, and ``denoise_cube`` fills or names a band with no data, as ``hsi denoise`` on the file does."""
    return den.fixed_bands is not None


@dataclass(frozen=True)
class DenoiseOptions:
    """What ``hsi batch --task denoise`` runs on each scene beyond the plain model.

    Attributes:
        adapt_sigma: fine-tune a fresh copy of the weights on each scene by SURE for i.i.d.
            Gaussian noise of this std (0-255 scale of the normalised data), as
            ``hsi denoise --adapt-sigma``; ``None``: the weights as trained.
        adapt_steps: optimisation steps of that adaptation (one random crop each).
        seed: seed of the crop positions and divergence probes (``hsi denoise --seed``).
        fill_nan: fill NaN / no-data values before denoising (they stay NaN in the output), as
            ``hsi denoise --fill-nan``, instead of failing the scene. It never changes a scene
            that succeeds without it, so it is not part of the run's identity.
    """

    adapt_sigma: float | None = None
    adapt_steps: int = DEFAULT_ADAPT_STEPS
    seed: int = 0
    fill_nan: bool = False

    def identity_fields(self) -> dict[str, Any]:
        """The options that change outputs (hashed with the run): all but ``fill_nan``."""
        return {k: v for k, v in asdict(self).items() if k != "fill_nan"}


def _denoise_run_scene(opts: DenoiseOptions, den: Any, cube: Cube, out: Path, window: int,
                       resample: bool) -> StatsDict:
    """``hsi denoise [--adapt-sigma S --adapt-steps N --seed K] [--fill-nan]`` on one scene.

    With adaptation it starts from a fresh copy of the worker's cached weights.
    """
    import copy

    from hsi_app.tasks.denoise_scene import denoise_cube

    adapt = opts.adapt_sigma is not None
    res = denoise_cube(copy.deepcopy(den) if adapt else den, cube, out, window=window, progress=False,
                       seed=opts.seed, fill_nan=opts.fill_nan, adapt_sigma=opts.adapt_sigma,
                       adapt_steps=opts.adapt_steps)
    stats: StatsDict = {"height": res.height, "width": res.width, "windows": res.windows, "bands": res.bands}
    if opts.fill_nan:
        stats["filled"] = res.filled
    if res.adapt is not None and opts.adapt_sigma is not None:
        stats["adapt"] = res.adapt.summary(opts.adapt_sigma)
    return stats


DENOISE = TaskAdapter(
    name="denoise",
    suffix="_denoised.tif",
    load=_denoise_load,
    halo=_denoise_halo,
    run_scene=partial(_denoise_run_scene, DenoiseOptions()),
    keeps_empty_bands=_denoise_keeps_empty_bands,
    # no split path: a scene is always one task (memory still bounded by the window)
)


def denoise_adapter(opts: DenoiseOptions) -> TaskAdapter:
    """The ``denoise`` task for ``opts``: the plain :data:`DENOISE`, or one with options.

    With ``adapt_sigma`` every scene starts from the run's weights as saved (the worker's
    cached copy is deep-copied before the adaptation touches it), so no scene's adaptation
    carries into the next and each output equals ``hsi denoise --adapt-sigma`` on that scene
    alone. The adaptation options are hashed with the run, so changing them redoes the scenes.

    Raises:
        ConfigError: a non-positive ``adapt_sigma`` or ``adapt_steps`` (before any cluster starts).
    """
    if opts == DenoiseOptions():
        return DENOISE
    identity = None  # --fill-nan alone: the run folder's hash, as for the plain task
    if opts.adapt_sigma is not None:
        check_adapt(opts.adapt_sigma, opts.adapt_steps)
        identity = partial(_options_identity, "denoise", " --task denoise", opts.identity_fields())
    return replace(DENOISE, run_scene=partial(_denoise_run_scene, opts), identity=identity, options=asdict(opts))


def _options_identity(task: str, train_flags: str, fields: dict[str, Any], model: Any) -> tuple[str, str]:
    """``(run folder, hash of the run + the options that change the output)``."""
    import hashlib
    import json

    from hsi_app.batch.state import model_hash
    from hsi_app.errors import ConfigError
    from hsi_app.predictor import run_dir_of

    if model is None:
        raise ConfigError(f"--task {task} needs --model RUN_DIR (the output folder of `hsi train{train_flags}`)")
    run_dir = run_dir_of(model).absolute()
    h = hashlib.sha256(model_hash(run_dir).encode())
    h.update(json.dumps(fields, sort_keys=True).encode())
    return str(run_dir), h.hexdigest()


# --------------------------------------------------------------------------- detect

POINTS_SUFFIX = "_points.gpkg"


@dataclass(frozen=True)
class DetectOptions:
    """What ``hsi batch --task detect`` runs on each scene (the ``hsi detect`` options that batch supports).

    Attributes:
        method: ``rx``, ``rx-local``, ``mf``, ``ace``, ``cem`` or ``learned``.
        targets: spectral library (CSV / ENVI ``.sli``) for ``mf``/``ace``/``cem``.
        materials: only these library materials (empty: all).
        threshold: points: keep peaks scoring above it (None: all peaks).
        max_points: points: most peaks kept per class.
        rx_window: ``(inner, outer)`` window of ``rx-local``.
        scale: library reflectance -> scene units (None: guessed per scene, as ``hsi detect``).
    """

    method: str
    targets: str | None = None
    materials: tuple[str, ...] = ()
    threshold: float | None = None
    max_points: int = 100
    rx_window: tuple[int, int] = (5, 21)
    scale: float | None = None


def detect_adapter(opts: DetectOptions) -> TaskAdapter:
    """The ``detect`` task for ``opts``: ``<name>_scores.tif`` (as ``hsi detect --out``) + ``<name>_points.gpkg``.

    A scene is always one task: classical detectors need the whole-scene covariance.

    Raises:
        ConfigError: unknown method, or a target method without ``targets``.
    """
    from hsi_app.errors import ConfigError
    from hsi_app.tasks.detection import check_scale
    from hsi_app.tasks.detectors_classical import TARGET_METHODS, check_method

    m = check_method(opts.method)
    check_scale(opts.scale)
    if m in TARGET_METHODS and not opts.targets:
        raise ConfigError(f"--method {m} needs target spectra: pass --targets LIB (CSV or ENVI .sli)")
    if opts.max_points < 1:
        raise ConfigError(f"--max-points {opts.max_points}: must be >= 1")
    opts = DetectOptions(m, str(Path(opts.targets).absolute()) if opts.targets else None, tuple(opts.materials),
                         opts.threshold, opts.max_points, tuple(opts.rx_window), opts.scale)  # type: ignore[arg-type]
    return TaskAdapter(name="detect", suffix="_scores.tif", load=partial(_detect_load, opts), halo=_no_halo,
                       run_scene=partial(_detect_run_scene, opts), identity=partial(_detect_identity, opts),
                       options=asdict(opts))


def is_detect_run(model: Any) -> bool:
    """True when ``model`` (a run folder or its config.json) was written by ``hsi train --task detect``."""
    import json

    from hsi_app.predictor import run_dir_of

    if model is None:
        return False
    try:
        return json.loads((run_dir_of(model) / "config.json").read_text()).get("task") == "detect"
    except (OSError, ValueError, AttributeError):
        return False


def default_detect_method(model: Any) -> str:
    """``learned`` when ``model`` is a ``hsi train --task detect`` run.

    Raises:
        ConfigError: no ``--method`` and no detection run to default to.
    """
    from hsi_app.errors import ConfigError

    if is_detect_run(model):
        return "learned"
    raise ConfigError("--task detect needs --method rx|rx-local|mf|ace|cem (or --model RUN_DIR of `hsi train --task detect`)")


def _no_halo(_model: Any) -> int:
    return 0


def _detect_identity(opts: DetectOptions, model: Any) -> tuple[str, str]:
    """``(label, hash)``: learned: the run folder and its hash; classical: method + options + library bytes.

    The point options (threshold, max points) are hashed too, so changing them redoes the scenes.
    """
    import hashlib
    import json

    from hsi_app.batch.state import model_hash
    from hsi_app.errors import ConfigError, DatasetNotFoundError, ModelLoadError
    from hsi_app.predictor import run_dir_of

    # a material named twice is scored once (SpectralLibrary.select), so it is hashed once: the same outputs
    fields: dict[str, Any] = {"method": opts.method, "materials": list(dict.fromkeys(opts.materials)),
                              "threshold": opts.threshold, "max_points": opts.max_points,
                              "rx_window": list(opts.rx_window)}
    if opts.scale is not None:  # only when given: outputs made without --scale keep their identity
        fields["scale"] = opts.scale
    h = hashlib.sha256(json.dumps(fields, sort_keys=True).encode())
    if opts.method == "learned":
        if model is None:
            raise ConfigError("--method learned needs --model RUN_DIR (from `hsi train --task detect`)")
        run_dir = run_dir_of(model).absolute()
        h.update(model_hash(run_dir).encode())
        if not is_detect_run(run_dir):  # fail before the cluster starts, not once per scene
            raise ModelLoadError(f"{model}: not a detection run; train one with `hsi train --task detect`, "
                                 "or pick a classical --method (rx, rx-local, mf, ace, cem)")
        return str(run_dir), h.hexdigest()
    if model is not None:
        raise ConfigError(f"--method {opts.method} uses no model; drop --model {model} (or use --method learned)")
    label = opts.method
    if opts.targets:
        lib = Path(opts.targets)
        if not lib.is_file():
            raise DatasetNotFoundError(f"--targets {lib}: spectral library not found; pass a CSV or ENVI .sli file")
        h.update(lib.read_bytes())
        hdr = lib.with_suffix(".hdr")
        if hdr.is_file() and hdr != lib:
            h.update(hdr.read_bytes())
        label = f"{opts.method}:{lib}"
    return label, h.hexdigest()


def _detect_load(opts: DetectOptions, run_dir: Path, device: str | None = "cpu") -> Any:
    """The learned detector on ``device``, or ``None`` for classical methods (nothing to load; they run on the CPU)."""
    if opts.method != "learned":
        return None
    from hsi_app.tasks.detector_infer import LearnedDetector

    return LearnedDetector.load(run_dir, device=device)


def _detect_run_scene(opts: DetectOptions, det_model: Any, cube: Cube, out: Path, window: int,
                      resample: bool) -> StatsDict:
    """Exactly what ``hsi detect --out OUT --points P`` writes, with the model loaded once per worker."""
    from hsi_app.io.spectral_library import read_library
    from hsi_app.tasks.detection import (
        DetectionResult,
        detect_scene,
        library_bands,
        select_points,
        target_spectra,
        write_detections,
        write_score_map,
    )
    from hsi_app.tasks.detect_stream import shared_mask
    from hsi_app.tasks.detectors_classical import TARGET_METHODS

    m = opts.method
    resampled = False
    left_out = 0
    if m == "learned":  # detect_scene's learned branch, with the cached model (threshold 0 as in `hsi detect`)
        dense = det_model.predict_cube(cube, resample=resample)
        res = DetectionResult(dense.heat, det_model.class_names, det_model.decode(dense, threshold=0.0), m)
        resampled = dense.resampled
    else:
        spectra, names = None, None
        read: list[str] = []
        valid = shared_mask(cube)  # one pass over the scene, shared (none where the strips' values give it)
        if m in TARGET_METHODS:  # the library line (units read, scale used) goes into the sidecar
            lib = read_library(opts.targets).select(list(opts.materials) or None)
            cube, left_out = library_bands(cube, lib)  # bands the library did not measure: left out, as hsi detect
            spectra, names = target_spectra(cube, library=lib, names=list(opts.materials) or None,
                                            scale=opts.scale, describe=read.append, valid=valid)
        res = detect_scene(cube, m, spectra=spectra, names=names, window=opts.rx_window, valid=valid)
    write_score_map(out, res.scores, cube, res.names, m)
    sel = select_points(res.detections, opts.threshold, opts.max_points)
    write_detections(points_path(out), sel, cube, res.names)
    ids = np.asarray(sel.class_id, int)
    per_class = {n: int((ids == k).sum()) for k, n in enumerate(res.names, start=1)}
    _, h, w = res.scores.shape
    library = {"library": read[0]} if m != "learned" and read else {}
    if left_out:
        library["bands_left_out"] = left_out
    return {"height": h, "width": w, "windows": 1, "points": len(sel), "points_file": str(points_path(out)),
            "resampled": resampled, "class_counts": per_class, **library}


def points_path(scores_out: Path) -> Path:
    """``<name>_points.gpkg`` next to ``<name>_scores.tif``."""
    name = scores_out.name
    stem = name[: -len("_scores.tif")] if name.endswith("_scores.tif") else scores_out.stem
    return scores_out.with_name(stem + POINTS_SUFFIX)


RUN_TASKS: dict[str, tuple[str, str]] = {
    "classify": ("classification", "hsi train"),
    "denoise": ("denoise", "hsi train --task denoise"),
    "detect": ("detect", "hsi train --task detect"),
}
"""Batch task -> (``task`` recorded in a run's config.json, the command that trains such a run)."""


def check_run_task(task: str, model: Any) -> None:
    """Refuse, before any cluster starts, a ``--model`` run trained for another task.

    ``config.json`` records ``"task"``: ``classification``, ``denoise`` or ``detect``.
    A missing or unparseable config is left to the loaders, which say so; a run whose
    config.json fields, weights or fine-tune base would fail every scene is refused here
    (:func:`check_run_files`), so ``hsi batch`` exits 2 before reading any scene.

    Raises:
        ModelLoadError: the run's task does not match ``task``, or its files are bad.
    """
    import json

    from hsi_app.errors import ModelLoadError
    from hsi_app.predictor import run_dir_of

    if model is None or task not in RUN_TASKS:
        return
    from hsi_app.ensemble import is_ensemble_dir

    if is_ensemble_dir(run_dir_of(model)) and task != "classify":
        raise ModelLoadError(f"--model {model}: an ensemble of classifiers; run it with --task classify")
    try:
        got = json.loads((run_dir_of(model) / "config.json").read_text()).get("task")
    except (OSError, ValueError, AttributeError):
        return
    want, how = RUN_TASKS[task]
    if got and got != want:
        other = next((k for k, (t, _) in RUN_TASKS.items() if t == got), None)
        hint = f", or run this one with --task {other}" if other else ""
        raise ModelLoadError(f"--model {model}: a {got!r} run, but --task {task} needs a run of `{how}`{hint}")
    if not is_ensemble_dir(run_dir_of(model)):
        check_run_files(run_dir_of(model))


def check_run_files(run: Path) -> None:
    """What would fail every scene, found once before the cluster starts: config.json's fields,
    weights holding NaN or inf, and a fine-tune whose base run changed.

    Raises:
        ModelLoadError: one line naming the file (the loaders' own messages).
    """
    from hsi_app.checkpoint import ADAPTER_NAME, WEIGHTS_NAME, load_config, load_tensors
    from hsi_app.run_weights import check_finite_weights

    config = load_config(run)
    if (run / ADAPTER_NAME).is_file():
        from hsi_app.tasks.finetune import check_base_unchanged

        check_base_unchanged(run, config)
    elif (run / WEIGHTS_NAME).is_file():
        check_finite_weights(load_tensors(run), run / WEIGHTS_NAME)


def on_device(adapter: TaskAdapter, device: str | None) -> TaskAdapter:
    """``adapter`` whose workers load the model on ``device`` (``"cpu"``, ``"cuda[:N]"``, ``"mps"``; None: the GPU
    when one is visible, else the CPU). Several workers on one GPU each hold their own copy of the model."""
    if device == adapter.device:
        return adapter
    return replace(adapter, load=partial(adapter.load, device=device), device=device)


TASKS: dict[str, TaskAdapter] = {"classify": CLASSIFY, "denoise": DENOISE}
OPTIONED = ("detect",)  # built from options: ``detect_adapter(DetectOptions(...))``; by name: learned
PLANNED: tuple[str, ...] = ()


def get_task(name: str) -> TaskAdapter:
    """The adapter registered as ``name``.

    ``"detect"`` by name is the learned detector (``--model`` a detection run); other
    detection methods: :func:`detect_adapter`.

    Raises:
        UnknownKeyError: unknown task, or one whose library API does not exist yet.
    """
    if name in TASKS:
        return TASKS[name]
    if name == "detect":
        return detect_adapter(DetectOptions(method="learned"))
    names = ", ".join(sorted((*TASKS, *OPTIONED)))
    if name in PLANNED:
        raise UnknownKeyError(f"--task {name}: not available in batch yet; available: {names}")
    raise UnknownKeyError(f"--task {name}: unknown task; choose one of {names}")
