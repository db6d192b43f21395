"""Denoise tab: run a denoising run over the open scene; before/after images and spectra.

Calls :func:`hsi_app.tasks.denoise_scene.denoise_cube` (windowed, streamed to a COG in
the session folder). With a noise spec (``gaussian:30``...), the same seeded noise that
``denoise_cube`` adds is shown as the "before" image, and the untouched scene is the
reference, so PSNR / SSIM / SAM of the noisy input and of the output are reported.

Progress goes to a ``progress(fraction, what)`` callback: windows done, and within a window
the stages of the model's forward pass (:mod:`hsi_app.tasks.forward_progress`), since a
scene that fits one window would otherwise show nothing until the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import Cube
from hsi_app.viewer.classify import write_json
from hsi_app.viewer.models import DEFAULT_CACHE, ModelCache, resolve_model
from hsi_app.viewer.scene import composite, pixel_spectrum, zoom
from hsi_app.viewer.session import StepFn, ViewerSession, publishing, running_job, whole_number

MAX_SEED = 2**32 - 1


@dataclass
class DenoiseView:
    """A denoising run as the viewer shows it.

    Attributes:
        before, after: ``(H * s, W * s, 3)`` uint8 composites (same bands).
        path: the denoised cube (float32 COG, CRS kept).
        metrics_path: ``denoise_metrics.json``.
        metrics: PSNR/SSIM/SAM of input and output when noise was added, else ``None``.
        summary: one line for the status text.
    """

    before: np.ndarray
    after: np.ndarray
    path: Path
    metrics_path: Path
    metrics: dict[str, Any] | None
    summary: str


STAGES_SHARE = 0.95
"""Part of a window's progress that the model's forward pass reports (:class:`WindowProgress`)."""


class WindowProgress:
    """Turns :func:`~hsi_app.tasks.denoise_scene.denoise_cube`'s window counts and the model's
    stage counts (:func:`~hsi_app.tasks.forward_progress.stage_progress`) into ``progress(fraction, what)``."""

    def __init__(self, progress: StepFn) -> None:
        self.progress, self.done, self.total = progress, 0, 1

    def _label(self) -> str:
        return f"denoising window {min(self.done + 1, self.total)}/{self.total}"

    def window(self, done: int, total: int) -> None:
        """``done`` of ``total`` windows are written."""
        self.done, self.total = done, max(total, 1)
        self.progress(self.done / self.total, self._label())

    def stage(self, done: int, total: int) -> None:
        """``done`` of the model's ``total`` stages have run on the current window.

        The stages take the window to :data:`STAGES_SHARE` of its part of the bar; writing it
        (and scoring it against the reference) the rest.
        """
        what = f"{self._label()}, step {done}/{total}" if done < total else f"{self._label()}: writing it"
        self.progress((self.done + STAGES_SHARE * done / total) / self.total, what)


def noisy_copy(cube: Cube, denoiser: Any, noise: str, seed: int) -> Cube:
    """The scene with the seeded noise ``denoise_cube`` adds (good bands, model normalisation)."""
    from hsi_app.data.noise import parse_noise

    good = cube.hsi.good_band_indices
    raw = np.asarray(cube.values, dtype=np.float32).copy()
    x = (raw[good] - denoiser.offset) / denoiser.scale
    x = parse_noise(noise).plan((int(good.size), *raw.shape[1:]), seed).apply(np.nan_to_num(x))
    raw[good] = x * denoiser.scale + denoiser.offset
    return cube.copy(data=raw)


def denoise(
    session: ViewerSession,
    model_key: str,
    *,
    noise: str | None = None,
    seed: int | float | None = 0,
    window: int = 256,
    cache: ModelCache = DEFAULT_CACHE,
    progress: StepFn | None = None,
) -> DenoiseView:
    """Denoise the open scene with an offered ``denoise`` run.

    Afterwards, clicking a pixel also plots its denoised (and noisy) spectrum.

    Args:
        seed: seed of the added noise, a whole number 0..2**32-1 (``None``: 0).
        progress: called with ``(fraction, what)`` from the start (``0.0``, "loading the
            denoising run") through every stage of every window to the end.

    Raises:
        ConfigError: bad seed.
        ModelLoadError: the run's model is not a denoiser.
        InvalidDataError: the model failed on this scene.
        JobStopped: :func:`~hsi_app.viewer.session.request_stop` was called while it ran (checked at every
            progress step); the session's earlier denoising stays.
    """
    cube = session.require_cube()
    seed = 0 if seed is None else whole_number(seed, "noise seed", f"enter a whole number from 0 to {MAX_SEED}",
                                               minimum=0, maximum=MAX_SEED)
    with running_job(session, "denoising") as job:
        return _denoise(session, cube, model_key, noise, seed, window, cache, job.reporter(progress))


def _denoise(session: ViewerSession, cube: Cube, model_key: str, noise: str | None, seed: int, window: int,
             cache: ModelCache, report: StepFn) -> DenoiseView:
    """:func:`denoise` once its arguments are checked; ``report`` raises when the user stopped the run."""
    from hsi_app.io.empty_bands import unflag_empty_bands
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.denoise_scene import denoise_cube
    from hsi_app.tasks.forward_progress import stage_progress

    name = session.name
    report(0.0, "loading the denoising run")
    den = cache.get(resolve_model(model_key, session.config, task="denoise"), "denoise")
    noise = (noise or "").strip() or None
    # the session flagged bands without data at open (for its images); a denoiser with fixed bands takes the scene
    # as read, as hsi denoise does: --fill-nan fills such a band
    scene = unflag_empty_bands(cube) if den.fixed_bands is not None else cube
    if noise:
        report(0.0, f"adding {noise} noise")
    # drawn on the scene denoised: the seeded noise depends on its good-band count; shown with the session's flags
    noisy = cube.copy(data=np.asarray(noisy_copy(scene, den, noise, seed).values)) if noise else None
    out = session.workdir / "denoised.tif"
    steps = WindowProgress(report)
    try:
        with stage_progress(den.model, steps.stage):
            res = denoise_cube(den, scene, out, window=window, reference=scene if noise else None, noise=noise,
                               seed=seed, fill_nan=True, progress=True, on_window=steps.window)
    except RuntimeError as err:  # torch shape/memory errors deep in the model
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise InvalidDataError(f"{model_key}: the model failed on this scene ({first}); "
                               "check that the run is a denoiser for scenes like this one") from err
    import warnings

    from hsi_app.errors import HSIWarning

    report(1.0, "reading the denoised cube")
    with warnings.catch_warnings():
        if cube.rio.crs is None:  # the input had no CRS either: nothing to warn about
            warnings.simplefilter("ignore", HSIWarning)
        after = open_cube(out)
    before = noisy if noisy is not None else cube
    from hsi_app.viewer.scene import scene_record

    metrics = {"model": model_key, "noise": noise, "seed": seed, "seconds": round(res.seconds, 3),
               "windows": res.windows, "metrics": res.metrics, **scene_record(session)}

    def extra(row: int, col: int) -> dict[str, np.ndarray]:
        spectra = {"noisy input": pixel_spectrum(noisy, row, col)} if noisy is not None else {}
        spectra["denoised"] = pixel_spectrum(after, row, col)
        return spectra

    with publishing(session, cube, name, "denoising",
                    () if "spectrum_extra" in session.extras else ("denoised.tif",)):
        metrics_path = write_json(session.workdir / "denoise_metrics.json", metrics)
        session.extras["spectrum_extra"] = extra
        s, bands = session.scale, session.bands
    summary = f"{model_key}: {res.height} × {res.width} px, {res.bands} bands in {res.seconds:.1f} s"
    if res.metrics:
        d, i = res.metrics["denoised"], res.metrics["input"]
        summary += "; " + ", ".join(f"{k.upper()} {i[k]:.3g} → {d[k]:.3g}" for k in ("psnr", "ssim", "sam") if k in d)
    return DenoiseView(zoom(composite(before, bands), s), zoom(composite(after, bands), s),
                       out, metrics_path, res.metrics, summary)
