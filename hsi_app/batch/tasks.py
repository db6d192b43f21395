"""Task adapters: what ``hsi batch --task NAME`` does to one scene, as a few small functions.

The batch engine (:mod:`hsi_app.batch.run`) knows nothing about classification,
denoising or detection. A task is a :class:`TaskAdapter` registered in :data:`TASKS`:

* ``load(run_dir)``: the model (cached once per worker process by the engine);
* ``run_scene(model, cube, out, window, resample)``: a whole scene, streamed to ``out``
  window by window (the one-task path; for classify this *is* ``hsi predict``);
* ``plan(model, cube, resample)`` + ``apply(model, plan, image)``: the per-window
  function, used when a large scene is spread over workers window by window (``plan`` is
  computed once on the client and must pickle; ``apply`` runs on workers);
* ``finish(out, valid)``: a window's cropped output -> the stored block and its counts
  (index 0 counts no-data pixels; a scene whose other counts are all 0 fails);
* ``open_writer(model, cube, out)``: the streaming writer the blocks go into;
* ``stats(model, counts)``: the per-input numbers for the report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import UnknownKeyError
from hsi_app.io.cube import Cube

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

    @property
    def can_split(self) -> bool:
        """True when big scenes can be spread over workers window by window."""
        return None not in (self.plan, self.apply, self.finish, self.open_writer, self.stats)


# --------------------------------------------------------------------------- classify


def _classify_load(run_dir: Path) -> Any:
    from hsi_app.predictor import Predictor

    return Predictor.load(run_dir, device="cpu")


def _classify_counts(pred: Any, counts: np.ndarray) -> StatsDict:
    names = pred.class_names if len(pred.class_names) == counts.size else [str(i) for i in range(counts.size)]
    return {"class_counts": {str(n): int(c) for n, c in zip(names, counts)}}


def _classify_run_scene(pred: Any, cube: Cube, out: Path, window: int, resample: bool) -> StatsDict:
    """Exactly what ``hsi predict`` does (same function, same arguments)."""
    from hsi_app.infer import predict_scene

    res = predict_scene(
        pred.bind(cube, resample=resample), cube, num_classes=pred.num_classes, halo=pred.receptive_radius,
        out=out, window=window, class_names=pred.class_names, progress=False,
    )
    return {"height": res.height, "width": res.width, "windows": res.windows, **_classify_counts(pred, res.class_counts)}


def _classify_plan(pred: Any, cube: Cube, resample: bool) -> Any:
    from hsi_app.predictor import plan_bands

    return plan_bands(pred.config, cube, resample=resample)


def _classify_apply(pred: Any, plan: Any, image: np.ndarray) -> np.ndarray:
    """``(C_cube, h, w)`` raw (NaN = no data) -> ``(K, h, w)`` probabilities."""
    return pred.probs(plan.apply(image))


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
    run_scene=_classify_run_scene,
    plan=_classify_plan,
    apply=_classify_apply,
    finish=_classify_finish,
    open_writer=_classify_writer,
    stats=_classify_stats,
)

# --------------------------------------------------------------------------- denoise


def _denoise_load(run_dir: Path) -> Any:
    from hsi_app.tasks.denoising import Denoiser

    return Denoiser.load(run_dir, device="cpu")


def _denoise_run_scene(den: Any, cube: Cube, out: Path, window: int, resample: bool) -> StatsDict:
    """Exactly what ``hsi denoise`` does without a reference or added noise."""
    from hsi_app.tasks.denoise_scene import denoise_cube

    res = denoise_cube(den, cube, out, window=window, progress=False)
    return {"height": res.height, "width": res.width, "windows": res.windows, "bands": res.bands}


DENOISE = TaskAdapter(
    name="denoise",
    suffix="_denoised.tif",
    load=_denoise_load,
    halo=lambda den: int(den.halo),
    run_scene=_denoise_run_scene,  # no split path: a scene is always one task (memory still bounded by the window)
)

TASKS: dict[str, TaskAdapter] = {"classify": CLASSIFY, "denoise": DENOISE}
PLANNED = ("detect",)


def get_task(name: str) -> TaskAdapter:
    """The adapter registered as ``name``.

    Raises:
        UnknownKeyError: unknown task, or one whose library API does not exist yet.
    """
    if name in TASKS:
        return TASKS[name]
    if name in PLANNED:
        raise UnknownKeyError(f"--task {name}: not available in batch yet; available: {', '.join(sorted(TASKS))}")
    raise UnknownKeyError(f"--task {name}: unknown task; choose one of {', '.join(sorted(TASKS))}")
