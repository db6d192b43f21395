"""Denoising: training on clean cubes with on-the-fly noise, and windowed whole-scene denoising.

Training (:func:`train_denoiser`, what ``hsi train --task denoise`` calls):

* the good bands of the clean cube are normalised to ``[0, 1]`` by one global
  ``offset``/``scale`` (min/max of the training region), stored in ``config.json``
  (``mean``/``std`` hold the offset/scale per band; ``extra.normalisation`` says so);
* the right-most third of the columns (a multiple of 4 px wide) is held out: no training
  patch touches it; it is scored at the end;
* every step draws seeded random patches (``patch x patch`` pixels x ``band_chunk``
  contiguous bands, random flips/rotations) and adds seeded noise
  (:mod:`hsi_app.data.noise`), so a run is reproducible from its seed;
* ``metrics.json`` holds PSNR (global MSE), MPSNR (mean of per-band PSNR, the papers'),
  SSIM and SAM (:mod:`hsi_app.tasks.denoise_metrics`) of the model, of the noisy input and of
  the classical baselines (:mod:`hsi_app.tasks.denoise_baselines`) on the held-out block;
  its no-data entries (NaN in the scene) are not scored; a warm start (``init``,
  :mod:`hsi_app.tasks.denoise_init`) also scores the weights it started from (``init_model``);
* ``window`` is checked against the model's receptive field before the scene is read;
* ``config.json`` ``data`` names the scene as ``hsi train`` does for a classifier (a file's resolved
  absolute path), and ``extra`` and ``metrics.json`` record the library ``versions`` and the scene's
  ``data_identity`` (:func:`hsi_app.provenance.run_record`), taken before training.

Inference (:class:`Denoiser`, :func:`denoise_cube`): the scene is cut into core windows,
each read with a halo of at least the model's receptive radius (rounded up to the
model's spatial multiple), denoised, cropped and streamed into a float32 COG that keeps
CRS, transform and band wavelengths. Memory is bounded by the window.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, InvalidDataError, ModelLoadError
from hsi_app.io.cube import Cube, scene_name
from hsi_app.rng_state import kept_global_rng
from hsi_app.tasks.denoise_fill import band_medians, fill_no_data

DEFAULT_MODEL = "hsdt_s"
DEFAULT_EPOCHS = 30
DEFAULT_STEPS_PER_EPOCH = 40
DEFAULT_BATCH_SIZE = 8
DEFAULT_PATCH = 32
DEFAULT_BAND_CHUNK = 32
DEFAULT_LR = 2e-3
HOLDOUT_FRACTION = 1.0 / 3.0
EVAL_SEED_OFFSET = 10_000
MIN_BANDS = 2  # a spectrum: SAM and the spectral attention are undefined on one band


SCORES_NOTE = ("psnr: global MSE over all bands; mpsnr: mean of per-band PSNR (the HSDT/QRNN3D MPSNR); "
               "PSNR/SSIM on the [0, 1] normalised scale; SAM in radians on raw values; no-data entries not scored")


@dataclass
class DenoiseOptions:
    """Knobs of a denoising run."""

    model: str = DEFAULT_MODEL
    noise: str = "gaussian:50"
    epochs: int | None = None
    seed: int = 0
    steps_per_epoch: int | None = None  # None: enough to see each training voxel ~4 times (at most 40)
    batch_size: int = DEFAULT_BATCH_SIZE
    patch: int = DEFAULT_PATCH
    band_chunk: int = DEFAULT_BAND_CHUNK
    lr: float = DEFAULT_LR
    window: int = 512
    progress: bool = True
    device: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    baselines: bool = True
    max_minutes: float | None = None  # wall-clock training budget; the LR schedule follows it
    threads: int | None = None  # torch CPU threads while training (1 is fastest on busy machines)
    init: str | None = None  # warm start: a denoise run folder whose weights initialise the model


def holdout_columns(width: int, multiple: int = 4) -> int:
    """First held-out column: the right-most ~third of the scene, its start a multiple of ``multiple``."""
    c0 = int(math.floor(width * (1 - HOLDOUT_FRACTION) / multiple) * multiple)
    if c0 < 8 or width - c0 < 8:
        raise InvalidDataError(f"a {width}-px wide scene is too narrow to hold out a test block; use >= 24 px")
    return c0


# --------------------------------------------------------------------------- training


class NoisyPatches:
    """Seeded random noisy/clean patch pairs from a normalised clean region (torch Dataset).

    Item ``i`` of epoch ``e`` depends only on ``(seed, e, i)``.

    Args:
        clean: ``(C, H, W)`` float32 normalised training region.
        noise: noise spec.
        length: items per epoch.
        patch, band_chunk: patch side and bands per patch (clipped to the region).
        seed: base seed.

    Items:
        ``(noisy, clean)``, each ``(1, d, p, p)`` float32 tensors.
    """

    def __init__(self, clean: np.ndarray, noise: str, length: int, patch: int, band_chunk: int, seed: int) -> None:
        from hsi_app.data.noise import parse_noise

        self.clean = clean
        self.noise = parse_noise(noise)
        self.length = int(length)
        c, h, w = clean.shape
        self.patch = min(int(patch), h, w)
        self.bands = min(int(band_chunk), c) if band_chunk > 0 else c
        self.seed = int(seed)
        self.epoch = 0

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        import torch

        rng = np.random.default_rng([self.seed, self.epoch, int(i)])
        c, h, w = self.clean.shape
        p, d = self.patch, self.bands
        r, col, b = rng.integers(0, h - p + 1), rng.integers(0, w - p + 1), rng.integers(0, c - d + 1)
        x = self.clean[b : b + d, r : r + p, col : col + p]
        x = np.rot90(x, k=int(rng.integers(0, 4)), axes=(1, 2))
        if rng.random() < 0.5:
            x = x[:, :, ::-1]
        if rng.random() < 0.5:
            x = x[::-1]
        x = np.ascontiguousarray(x, dtype=np.float32)
        noisy = self.noise.plan(x.shape, int(rng.integers(0, 2**31))).apply(x)
        return torch.from_numpy(noisy)[None], torch.from_numpy(x)[None]


def _lightning_module() -> Any:
    import lightning as L
    import torch
    import torch.nn.functional as F

    class DenoiseModule(L.LightningModule):
        """L1 loss between the denoised and the clean patch; AdamW + cosine decay with warm-up."""

        def __init__(self, net: torch.nn.Module, lr: float, total_steps: int, data: NoisyPatches,
                     max_seconds: float | None = None) -> None:
            super().__init__()
            self.net, self.lr, self.total_steps, self.data = net, lr, max(1, total_steps), data
            self.max_seconds, self.t0 = max_seconds, time.perf_counter()

        def progress(self, step: int) -> float:
            """Fraction of training done: by steps, or by the time budget when that is further."""
            done = step / self.total_steps
            if self.max_seconds:
                done = max(done, (time.perf_counter() - self.t0) / self.max_seconds)
            return min(1.0, done)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            noisy, clean = batch
            loss = F.l1_loss(self.net(noisy), clean)
            self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False)
            return loss

        def on_train_epoch_start(self) -> None:
            self.data.epoch = int(self.current_epoch)

        def configure_optimizers(self) -> Any:
            opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=1e-4)
            warm = max(1, min(self.total_steps // 20, 50))

            def factor(step: int) -> float:
                if step < warm:
                    return (step + 1) / warm
                return 0.5 * (1 + math.cos(math.pi * self.progress(step)))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return DenoiseModule


def steps_per_epoch(shape: tuple[int, ...], opts: DenoiseOptions) -> int:
    """Default steps per epoch: each training voxel seen ~4 times, between 1 and the default 40."""
    c, h, w = shape
    p = min(opts.patch, h, w)
    d = min(opts.band_chunk, c) if opts.band_chunk > 0 else c
    return int(min(DEFAULT_STEPS_PER_EPOCH, max(1, math.ceil(4 * c * h * w / (opts.batch_size * p * p * d)))))


def initial_model(clean: np.ndarray, opts: DenoiseOptions) -> Any:
    """The model training starts from: seeded new weights, its training subspace (if any) fitted to ``clean``,
    then the ``opts.init`` run's weights (:func:`hsi_app.tasks.denoise_init.warm_start`).

    It seeds the global RNGs and leaves them seeded: the :func:`fit_denoiser` that follows trains from
    them. :func:`train_denoiser` (and ``fit_denoiser`` called without ``net``) give the caller's back.

    Args:
        clean: ``(C, H, W)`` float32 normalised training region.
        opts: options (model, model_args, seed, init).
    """
    import lightning as L

    from hsi_app.models import create_model

    L.seed_everything(opts.seed, workers=True, verbose=False)
    net = create_model(opts.model, in_chans=clean.shape[0], num_classes=1, **opts.model_args)
    if hasattr(net, "fit_training_subspace"):
        net.fit_training_subspace(clean)
    if opts.init:
        from hsi_app.tasks.denoise_init import warm_start

        warm_start(net, opts.init, opts.model, opts.model_args, bands=clean.shape[0])
    return net


@kept_global_rng()
def fit_denoiser(clean: np.ndarray, opts: DenoiseOptions, net: Any = None) -> tuple[Any, dict[str, Any]]:
    """Train a registered denoiser on a normalised clean region.

    Args:
        clean: ``(C, H, W)`` float32 on ``[0, 1]``.
        opts: options (model, noise, epochs, seed...).
        net: the model to train, from :func:`initial_model` (default: built here by it).

    Returns:
        ``(net, history)``: the trained module (eval mode, CPU) and
        ``{"epochs", "steps", "final_loss"}``.
    """
    import lightning as L
    import torch
    from torch.utils.data import DataLoader

    epochs = opts.epochs if opts.epochs is not None else DEFAULT_EPOCHS
    if net is None:
        net = initial_model(clean, opts)
    band_chunk = effective_band_chunk(net, opts.band_chunk)
    steps = opts.steps_per_epoch or steps_per_epoch(clean.shape, replace(opts, band_chunk=band_chunk))
    data = NoisyPatches(clean, opts.noise, steps * opts.batch_size, opts.patch, band_chunk, opts.seed)
    loader = DataLoader(data, batch_size=opts.batch_size, shuffle=False, num_workers=0)  # type: ignore[arg-type]
    max_seconds = 60.0 * opts.max_minutes if opts.max_minutes else None
    module = _lightning_module()(net, opts.lr, epochs * steps, data, max_seconds)
    from hsi_app.device import resolve_device
    from hsi_app.progress import trainer_progress
    from hsi_app.tasks.classification import _accelerator, fit_interruptible, quiet_lightning

    # the GPU asked for (cuda:N: that one, not always the first); None: the GPU when one is visible, else the CPU
    accel, devices = _accelerator(str(resolve_device(opts.device)))

    show_bar, epoch_lines = trainer_progress(opts.progress, "train denoiser")

    threads = torch.get_num_threads()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    try:
        with quiet_lightning(), warnings.catch_warnings():  # no banner, tips or worker warnings
            warnings.filterwarnings("ignore", ".*GPU available but not used.*")
            trainer = L.Trainer(
                max_epochs=epochs, accelerator=accel, devices=devices, logger=False, enable_checkpointing=False,
                enable_progress_bar=show_bar, enable_model_summary=False, gradient_clip_val=1.0,
                max_time={"seconds": max_seconds} if max_seconds else None, callbacks=epoch_lines,
            )
            fit_interruptible(trainer, module, loader)
    finally:
        torch.set_num_threads(threads)
    loss = trainer.callback_metrics.get("loss")
    history = {"epochs": int(trainer.current_epoch), "steps": int(trainer.global_step), "steps_per_epoch": steps,
               "final_loss": None if loss is None else float(loss)}
    return net.cpu().eval(), history


def effective_band_chunk(net: Any, band_chunk: int) -> int:
    """Bands per training patch: 0 (all) for models that need the whole spectrum (``uses_all_bands``)."""
    return 0 if getattr(net, "uses_all_bands", False) else int(band_chunk)


@kept_global_rng()
def train_denoiser(cube: Cube, out: str | os.PathLike[str], opts: DenoiseOptions) -> dict[str, Any]:
    """Train on a clean scene, save the run, score the held-out block; write ``metrics.json``.

    The files are staged and moved into ``out`` only on success (as for ``hsi train``).

    Args:
        cube: clean scene (its good bands are used, at least :data:`MIN_BANDS`).
        out: run folder (created).
        opts: options.

    Returns:
        The metrics dict written to ``OUT/metrics.json``.
    """
    from hsi_app.io.atomic import OTHER_THAN_TRAINING, check_out_dir, staged_run_dir
    from hsi_app.tasks.train_classifier import scene_with_data

    source, name = str(cube.attrs.get("source", "")), scene_name(cube)  # the file to protect, the name to show
    check_out_dir(out, other_runs=OTHER_THAN_TRAINING, protect=[source],
                  writes=("config.json", "model.safetensors", "metrics.json"), task="denoise")
    _check_holdout_window(cube, opts)  # before the scene is read and trained on, not after
    cube, image, bands, valid = scene_with_data(cube)  # bands with no data anywhere flagged bad
    if not valid.any():
        raise InvalidDataError(f"{name}: every pixel is no-data; nothing to train on")
    c, h, w = image.shape
    if c < MIN_BANDS:
        raise InvalidDataError(f"{name}: {c} good band(s); spectral denoising needs at least {MIN_BANDS} bands")
    check_split_has_data(name, valid, holdout_columns(w, _probe(opts.model, c, opts.model_args).spatial_multiple))
    from hsi_app.provenance import run_record

    record = run_record(cube)  # hashed before training: the scene as this run read it
    # written to a staging folder, published into ``out`` only when everything succeeded
    with staged_run_dir(out, protect=[source]) as stage:
        return _train_denoiser_into(stage, cube, opts, image, bands, record)


def check_split_has_data(name: str, valid: np.ndarray, c0: int) -> None:
    """Refuse, before training, a scene whose training columns ``[0, c0)`` or held-out columns ``[c0, W)``
    hold no valid pixel (a swath in one part of a no-data collar): the first left the normalisation NaN, the
    second trained for nothing and scored NaN.

    Args:
        name: the scene, for the message.
        valid: ``(H, W)`` bool valid pixels.
        c0: the first held-out column (:func:`holdout_columns`).

    Raises:
        InvalidDataError: naming the scene, the empty part, the columns holding data and the fix.
    """
    w = valid.shape[1]
    parts = {"training columns": (0, c0), "held-out columns (the right third)": (c0, w)}
    for part, (a, b) in parts.items():
        if not valid[:, a:b].any():
            cols = np.flatnonzero(valid.any(axis=0))
            raise InvalidDataError(
                f"{name}: no valid pixel in the {part} {a}-{b - 1}; its data lie in columns {cols[0]}-{cols[-1]} "
                f"of 0-{w - 1}: crop the scene to them (e.g. gdal_translate -srcwin) and train on the crop")


def _check_holdout_window(cube: Cube, opts: DenoiseOptions) -> None:
    """Refuse ``opts.window`` when it is smaller than the receptive field and the held-out block it will
    denoise (``H x (W - c0)``) is larger, from the cube's size alone (:func:`check_window`)."""
    h, w = int(cube.sizes["y"]), int(cube.sizes["x"])
    probe = _probe(opts.model, max(len(cube.hsi.good_band_indices), MIN_BANDS), opts.model_args)
    c0 = holdout_columns(w, probe.spatial_multiple)
    check_window(opts.window, h, w - c0, field=2 * int(probe.receptive_radius) + 1,
                 multiple=int(probe.spatial_multiple), model=opts.model)


def _train_denoiser_into(out: Path, cube: Cube, opts: DenoiseOptions, image: np.ndarray, bands: np.ndarray,
                         record: dict[str, Any]) -> dict[str, Any]:
    """Fit, save and score into the (staging) run folder ``out``; return the metrics.

    ``record``: :func:`~hsi_app.provenance.run_record`, stored in config.json ``extra`` and in metrics.json.
    """
    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.io.atomic import atomic_path
    from hsi_app.provenance import scene_reference

    c, h, w = image.shape
    probe = _probe(opts.model, c, opts.model_args)
    c0 = holdout_columns(w, probe.spatial_multiple)
    train_region = image[:, :, :c0]
    lo, hi = float(np.nanmin(train_region)), float(np.nanmax(train_region))
    scale = hi - lo if hi > lo else 1.0
    norm = fill_no_data(((image - lo) / scale).astype(np.float32))
    import hsi_app.tasks.classification  # noqa: F401  (Lightning's one-time import, not timed as training)

    t0 = time.perf_counter()
    net = initial_model(norm[:, :, :c0], opts)
    start = copy.deepcopy(net) if opts.init else None  # scored beside the trained weights
    net, history = fit_denoiser(norm[:, :, :c0], opts, net=net)
    train_seconds = time.perf_counter() - t0
    config = RunConfig(
        task="denoise", model_name=opts.model, model_args=dict(opts.model_args), in_chans=int(c), num_classes=1,
        class_names=[], wavelengths=json_floats(cube.hsi.wavelengths[bands]), fwhm=json_floats(cube.hsi.fwhm[bands]),
        band_indices=[int(b) for b in bands], source_bands=cube.hsi.shape[0], mean=[lo] * c, std=[scale] * c,
        receptive_radius=int(net.receptive_radius),
        split={"protocol": "holdout-block", "test_rows": [0, h], "test_cols": [c0, w], "train_cols": [0, c0]},
        data=scene_reference(cube),  # a file's absolute path, as `hsi train` records a classifier's scene
        extra={"noise": opts.noise, "normalisation": {"kind": "global-minmax", "offset": lo, "scale": scale},
               "spatial_multiple": int(net.spatial_multiple), "patch": opts.patch, "band_chunk": effective_band_chunk(net, opts.band_chunk),
               "batch_size": opts.batch_size, "seed": opts.seed,
               "init": None if opts.init is None else str(Path(opts.init).resolve()), **record},
    )
    save_run(out, config, dict(net.state_dict()))
    metrics = evaluate_holdout(out, norm[:, :, c0:], opts, lo, scale, mask=np.isfinite(image[:, :, c0:]), start=start)
    metrics.update(train_seconds=round(train_seconds, 2), params=int(sum(p.numel() for p in net.parameters())),
                   heldout={"rows": [0, h], "cols": [c0, w]}, data=config.data, **history, **record)
    with atomic_path(out / "metrics.json") as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=2))
    return metrics


def _probe(model: str, c: int, model_args: dict[str, Any]) -> Any:
    from hsi_app.models import create_model

    return create_model(model, in_chans=c, num_classes=1, **model_args)


def evaluate_holdout(run_dir: Path, clean: np.ndarray, opts: DenoiseOptions, offset: float, scale: float,
                     mask: np.ndarray | None = None, start: Any = None) -> dict[str, Any]:
    """Score the saved run, the noisy input and the baselines on the normalised held-out block.

    Args:
        run_dir: the saved run.
        clean: ``(C, h, w)`` normalised held-out block (no-data filled with any finite value).
        opts: the run's options (noise, seed, window, baselines).
        offset, scale: the normalisation, for SAM on raw values.
        mask: ``(C, h, w)`` or ``(h, w)`` bool, True = scored; no-data entries should be False.
        start: the model training started from (a warm start's weights), scored on the same noisy
            block as ``init_model``.
    """
    from hsi_app.data.noise import add_noise
    from hsi_app.tasks.denoise_metrics import restoration_metrics

    noisy = add_noise(clean, opts.noise, opts.seed + EVAL_SEED_OFFSET)
    den = Denoiser.load(run_dir, device=opts.device)

    def scores(d: Denoiser) -> dict[str, Any]:
        t0 = time.perf_counter()
        est = d.denoise_windows(noisy, opts.window, progress=opts.progress, desc="held-out block")
        return {**restoration_metrics(est, clean, offset=offset, scale=scale, mask=mask),
                "seconds": round(time.perf_counter() - t0, 3)}

    result: dict[str, Any] = {
        "model": opts.model, "noise": opts.noise, "eval_seed": opts.seed + EVAL_SEED_OFFSET,
        "scale": SCORES_NOTE,
        "denoised": scores(den), "noisy": restoration_metrics(noisy, clean, offset=offset, scale=scale, mask=mask),
    }
    if start is not None:
        result["init_model"] = scores(Denoiser(den.config, start.to(den.device).eval(), den.device))
    if opts.baselines:
        from hsi_app.tasks.denoise_baselines import best_baselines

        result["baselines"] = best_baselines(noisy, clean, offset=offset, scale=scale, mask=mask,
                                             progress=opts.progress)
    return result


# --------------------------------------------------------------------------- inference


def check_window(window: int, height: int, width: int, *, field: int, multiple: int, model: str,
                 what: str = "--window") -> int:
    """Validate a core window size for a ``height x width`` scene; return it rounded up to ``multiple``.

    Rounded up, not down: the field is then never smaller than asked, and a window the size of the receptive
    field (what the error below says to pass) stays at least that size. Callers report the size used
    (``hsi denoise``'s line says when it was rounded).

    Args:
        field: the model's receptive field side (``2 * radius + 1`` px).
        multiple: the model's spatial multiple.
        model: its name, for the message.

    Raises:
        ConfigError: the window is smaller than the receptive field while the scene is larger.
    """
    if window < 1:
        raise ConfigError(f"{what} {window}: must be a positive number of pixels, e.g. 512 (window= in Python)")
    if window < max(height, width) and window < field:
        raise ConfigError(f"{what} {window}: smaller than the receptive field of {model} ({field} px); "
                          f"pass {what} {field} or more (window= in Python)")
    return -(-window // multiple) * multiple


class Denoiser:
    """A loaded denoising run: model + normalisation + halo.

    Attributes:
        offset, scale: raw = offset + scale * normalised.
        radius: the model's receptive radius (pixels).
        halo: pixels read around each window (``radius`` rounded up to ``multiple``).
        multiple: window offsets must be multiples of this (model downsampling).
        tta: average every window over its eight flips / 90-degree rotations
            (:mod:`hsi_app.tasks.tta`); eight times the compute.
    """

    def __init__(self, config: Any, model: Any, device: str = "cpu", *, tta: bool = False) -> None:
        self.config, self.model, self.device, self.tta = config, model, device, tta
        norm = config.extra.get("normalisation", {})
        self.offset = float(norm.get("offset", config.mean[0]))
        self.scale = float(norm.get("scale", config.std[0]))
        self.multiple = int(getattr(model, "spatial_multiple", 1))
        from hsi_app.run_weights import model_radius

        self.radius = model_radius(model, config)
        self.halo = int(math.ceil(self.radius / self.multiple) * self.multiple)

    @property
    def field(self) -> int:
        """Receptive field side in pixels (``2 * radius + 1``)."""
        return 2 * self.radius + 1

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str], device: str | None = None, *, tta: bool = False) -> Denoiser:
        """Load a run written by :func:`train_denoiser` (``tta``: see the class attributes).

        Raises:
            ModelLoadError: missing files, or the run is not a denoising run.
        """
        from hsi_app.checkpoint import load_config
        from hsi_app.predictor import load_run_model

        config = load_config(run_dir)
        if config.task != "denoise":
            raise ModelLoadError(f"{run_dir}: a {config.task!r} run, not a denoiser; train one with `hsi train --task denoise`")
        model, dev = load_run_model(run_dir, config, device)
        return cls(config, model, dev, tta=tta)

    def heldout_block(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The run's held-out block of its training scene, as it was scored.

        Args:
            image: ``(C, H, W)`` raw values of the scene the run was trained on (NaN = no data).

        Returns:
            ``(clean (C, H, w) float32 on the normalised scale with no-data set to the band's median over
            the scene (:func:`fill_no_data`), mask (C, H, w) bool, True = scored)`` for the columns in
            ``config.split["test_cols"]``.
        """
        c0, c1 = self.config.split["test_cols"]
        image = np.asarray(image)
        # the whole scene's medians (raw, then normalised: no normalised copy of the scene), 0 for an empty band,
        # as training filled it; only the block is normalised and filled
        medians = np.nan_to_num((band_medians(image, empty=np.nan) - self.offset) / self.scale, nan=0.0)
        block = ((image[:, :, c0:c1] - self.offset) / self.scale).astype(np.float32)
        return fill_no_data(block, medians), np.isfinite(image[:, :, c0:c1])

    @property
    def needs_subspace(self) -> bool:
        """True for models whose spectral basis comes from the input (``hsdt_subspace``): fit one per scene first."""
        return bool(getattr(self.model, "needs_scene_subspace", False))

    @property
    def fixed_bands(self) -> int | None:
        """Band count the model is tied to (a basis fitted to the training scene), or ``None`` (any)."""
        mean = getattr(self.model, "train_mean", None)
        return None if mean is None else int(mean.shape[0])

    def fit_subspace(self, blocks: Iterable[np.ndarray]) -> None:
        """Fit the scene's spectral subspace from normalised ``(C, h, w)`` blocks that tile it (no overlap).

        Every window then uses that one basis, so windowed output equals one-shot output.
        A no-op for models without a subspace.
        """
        if self.needs_subspace:
            self.model.subspace = self._subspace_of(blocks)

    def _subspace_of(self, blocks: Iterable[np.ndarray]) -> Any:
        """The model's rank-K subspace of normalised ``(C, h, w)`` blocks (a ``SpectralSubspace``)."""
        from hsi_app.models.hsdt_subspace import SpectralMoments

        moments = SpectralMoments()
        for block in blocks:
            moments.update(block)
        return moments.subspace(self.model.rank)

    def denoise_normalised(self, x: np.ndarray) -> np.ndarray:
        """One forward pass (eight with :attr:`tta`): ``(C, h, w)`` normalised -> ``(C, h, w)`` float32 normalised.

        Input-basis subspace models use the basis of the last :meth:`fit_subspace` (the
        input's own before the first).
        """
        import torch

        from hsi_app.models.layers.padding import pad_to_multiple
        from hsi_app.tasks.tta import d4_mean

        # with views, an input-basis model takes the unpadded input's basis (padding would shift it)
        own = self.tta and self.needs_subspace and self.model.subspace is None
        kw = {"subspace": self._subspace_of([x])} if own else {}

        def run(v: torch.Tensor) -> torch.Tensor:
            return self.model(v[None, None].to(self.device), **kw)[0, 0].float().cpu()

        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            if not self.tta:
                return run(t).numpy()
            h, w = t.shape[-2:]
            return d4_mean(run, pad_to_multiple(t, self.multiple))[:, :h, :w].numpy()

    def check_window(self, window: int, height: int, width: int, what: str = "--window") -> int:
        """Validate a core window size; return it rounded up to :attr:`multiple` (:func:`check_window`)."""
        return check_window(window, height, width, field=self.field, multiple=self.multiple,
                            model=self.config.model_name, what=what)

    def denoise_windows(self, x: np.ndarray, window: int, *, progress: bool = False, desc: str = "denoise") -> np.ndarray:
        """Windowed denoising of an in-memory normalised ``(C, H, W)`` array (equals one pass); ``progress``: a bar
        over the windows, labelled ``desc``."""
        from hsi_app.infer import iter_windows
        from hsi_app.progress import bar

        _, h, w = x.shape
        window = self.check_window(window, h, w)
        self.fit_subspace([x])
        out = np.empty(x.shape, dtype=np.float32)
        for win in bar(list(iter_windows(h, w, window, self.halo)), desc=desc, unit="win", enabled=progress):
            block = x[:, win.read_row : win.read_row + win.read_height, win.read_col : win.read_col + win.read_width]
            out[:, win.row : win.row + win.height, win.col : win.col + win.width] = self.denoise_normalised(block)[(slice(None), *win.crop)]
        return out
