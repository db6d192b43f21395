"""Train the point detector on targets simulated on the fly into a real background.

An epoch is ``steps_per_epoch`` steps (default: enough crops to cover the training
region 64 times; 65 steps for Indian Pines). Each step draws ``batch`` random crops from the training region of the background
(random 90-degree rotations and flips), implants library targets into each with
:func:`~hsi_app.data.targets.simulate_targets` (seed sequence ``[seed, step, i]``) and
fits the CenterNet-style losses:

* class heat maps: penalty-reduced focal loss against Gaussian bumps (``sigma =
  max(0.8, radius / 2)`` px) peaking at 1 on the pixel holding each target centre;
* sub-pixel offset (L1) and log box size (L1, weight 0.1) at those centre pixels.

The run folder gets ``model.safetensors``, ``config.json`` (task ``detect``; the target
spectra, library and simulation settings in ``extra``) and ``metrics.json``: point and
box mAP, per size bin, AUROC and Pd at Pfa 1e-3 / 1e-4 on test scenes in the held-out region
(:mod:`hsi_app.tasks.detect_eval`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.data.targets import SimOptions, SimulatedScene, simulate_targets
from hsi_app.errors import ConfigError
from hsi_app.tasks.detect_eval import TEST_SEED_BASE, Regions, column_regions, evaluate, test_scenes
from hsi_app.rng_state import kept_global_rng

RUN_FILES = ("config.json", "model.safetensors", "metrics.json")  # what a detector run writes into OUT

OFFSET_WEIGHT = 1.0
EPOCH_COVERAGE = 64  # an epoch draws crops covering the training region this many times
SIZE_WEIGHT = 0.1
MIN_TRAIN_SIDE = 16
"""Smallest height and width (px) of the training region (left of the held-out columns and their buffer)."""


@dataclass
class DetectTrainOptions:
    """Knobs of a detector run."""

    model: str = "point_detector"
    epochs: int = 8
    steps_per_epoch: int | None = None  # None: EPOCH_COVERAGE x the training region in crops (>= 10)
    batch: int = 8
    crop: int = 40
    lr: float = 3e-3
    seed: int = 0
    train_density: float = 1.0 / 120.0
    test_fraction: float = 1.0 / 3.0
    n_test_scenes: int = 10
    progress: bool = True
    model_args: dict[str, Any] | None = None
    device: str | None = None  # cpu, cuda, cuda:N or mps; None: a CUDA GPU when one is visible, else the CPU


def smallest_width(test_fraction: float, buffer: int) -> int:
    """The fewest scene columns that leave :data:`MIN_TRAIN_SIDE` training columns
    (:func:`~hsi_app.tasks.detect_eval.column_regions` with this ``test_fraction`` and ``buffer``)."""
    width = MIN_TRAIN_SIDE + buffer
    while int(column_regions(1, width, test_fraction=test_fraction, buffer=buffer).train.sum()) < MIN_TRAIN_SIDE:
        width += 1
    return width


def heatmap_targets(scene: SimulatedScene, num_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training targets of a simulated crop.

    Returns:
        ``heat (K, h, w)`` float32 Gaussian bumps (1 at centre pixels), ``reg (4, h, w)``
        float32 ``(dy, dx, log box h, log box w)`` at centre pixels, ``pos (h, w)`` bool.
    """
    _, h, w = scene.image.shape
    heat = np.zeros((num_classes, h, w), np.float32)
    reg = np.zeros((4, h, w), np.float32)
    pos = np.zeros((h, w), bool)
    yy, xx = np.mgrid[0:h, 0:w]
    for t in scene.targets:
        pr, pc = min(int(t.row), h - 1), min(int(t.col), w - 1)
        sigma = max(0.8, float(np.sqrt(t.area / np.pi)) / 2)
        g = np.exp(-((yy - pr) ** 2 + (xx - pc) ** 2) / (2 * sigma**2)).astype(np.float32)
        heat[t.class_id - 1] = np.maximum(heat[t.class_id - 1], g)
        r0, c0, r1, c1 = t.box
        reg[:, pr, pc] = (t.row - pr - 0.5, t.col - pc - 0.5, np.log(r1 - r0), np.log(c1 - c0))
        pos[pr, pc] = True
    return heat, reg, pos


def focal_loss(logits: Any, target: Any) -> Any:
    """CenterNet's penalty-reduced focal loss, normalised by the number of peaks."""
    import torch
    import torch.nn.functional as F

    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target >= 1.0 - 1e-6
    log_p, log_1p = F.logsigmoid(logits), F.logsigmoid(-logits)
    pos_loss = -((1 - p) ** 2 * log_p)[pos].sum()
    neg_loss = -(((1 - target) ** 4) * p**2 * log_1p)[~pos].sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def _batch(image: np.ndarray, spectra: np.ndarray, names: list[str], regions: Regions, opts: DetectTrainOptions,
           step: int, sim: SimOptions) -> tuple[np.ndarray, ...]:
    """One batch of simulated crops: x ``(B, C, s, s)`` raw, heat, reg, pos."""
    rng = np.random.default_rng([opts.seed, step, 99])
    cols = np.flatnonzero(regions.train[0])
    s = opts.crop
    h = image.shape[1]
    xs, heats, regs, poss = [], [], [], []
    for i in range(opts.batch):
        r0 = int(rng.integers(0, h - s + 1))
        c0 = int(rng.integers(cols.min(), cols.max() - s + 2))
        crop = image[:, r0:r0 + s, c0:c0 + s]
        crop = np.rot90(crop, int(rng.integers(4)), axes=(1, 2))
        if rng.random() < 0.5:
            crop = crop[:, :, ::-1]
        scene = simulate_targets(np.ascontiguousarray(crop), spectra, names, seed=[opts.seed, step, i], options=sim)
        heat, reg, pos = heatmap_targets(scene, len(names))
        xs.append(scene.image)
        heats.append(heat)
        regs.append(reg)
        poss.append(pos)
    return np.stack(xs), np.stack(heats), np.stack(regs), np.stack(poss)


@kept_global_rng()
def train_detector(image: np.ndarray, spectra: np.ndarray, names: list[str], out: str | os.PathLike[str],
                   opts: DetectTrainOptions, *, wavelengths: np.ndarray, fwhm: np.ndarray,
                   band_indices: np.ndarray, source_bands: int, data: str = "",
                   extra: dict[str, Any] | None = None, record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train, evaluate on held-out simulated scenes and write the run folder.

    Args:
        image: ``(C, H, W)`` float32 background (good bands, NaN = no data).
        spectra: ``(K, C)`` target spectra in the image's units.
        names: ``K`` target names.
        out: run folder (created).
        opts: training options.
        wavelengths, fwhm: ``(C,)`` of the image's bands; band_indices into the source cube.
        source_bands: band count of the source cube.
        data: name/path of the background (stored in the config).
        extra: more entries for ``config.extra``.
        record: entries for both ``config.extra`` and ``metrics.json`` (``hsi train``: library path, scale and
            whether it was guessed, bands extrapolated from the library, ``data_identity``). The library
            ``versions`` (:func:`~hsi_app.provenance.library_versions`) are always recorded there too.

    Returns:
        The metrics written to ``metrics.json``.

    Raises:
        InvalidDataError: a spectrum with NaN/inf, or 0 at every band (it would train on black targets;
            :func:`~hsi_app.tasks.detectors_classical.check_targets`), before anything is written.
    """
    import torch
    from hsi_app.progress import bar as progress_bar

    from hsi_app.checkpoint import RunConfig, finite_json, json_floats, save_run
    from hsi_app.data.normalize import BandStats
    from hsi_app.device import resolve_device
    from hsi_app.io.atomic import OTHER_THAN_TRAINING, atomic_path, check_out_dir, staged_run_dir
    from hsi_app.models import create_model
    from hsi_app.provenance import library_versions
    from hsi_app.tasks.detector_infer import LearnedDetector, decode
    from hsi_app.tasks.detectors_classical import check_targets

    check_targets(spectra, image.shape[0])  # before the run folder is made
    record = {"versions": library_versions(), **(record or {})}

    final_out = check_out_dir(out, other_runs=OTHER_THAN_TRAINING, protect=[str(data)],
                              writes=RUN_FILES, task="detect")
    dev = resolve_device(opts.device)
    torch.manual_seed(opts.seed)
    c, h, w = image.shape
    k = len(names)
    model = create_model(opts.model, in_chans=c, num_classes=k, wavelengths=wavelengths, **(opts.model_args or {}))
    if getattr(model, "task", None) != "detect":
        raise ConfigError(f"model {opts.model!r} is not a detector; use point_detector (see `hsi models`)")
    regions = column_regions(h, w, test_fraction=opts.test_fraction, buffer=int(model.receptive_radius))
    train_cols = int(regions.train[0].sum())
    if train_cols < MIN_TRAIN_SIDE or h < MIN_TRAIN_SIDE:
        width = smallest_width(opts.test_fraction, regions.buffer)
        raise ConfigError(
            f"{data}: training region {h} x {train_cols} px is too small; it needs at least {MIN_TRAIN_SIDE} x "
            f"{MIN_TRAIN_SIDE} px (the columns left of the held-out {opts.test_fraction:.0%} less a "
            f"{regions.buffer}-px buffer), so use a scene of at least {MIN_TRAIN_SIDE} rows x {width} columns")
    opts.crop = min(opts.crop, h, train_cols)
    valid = np.isfinite(image).all(axis=0)
    stats = BandStats.fit(image, regions.train & valid)
    model.to(dev)
    mean_t = torch.from_numpy(stats.mean)[None, :, None, None].to(dev)
    std_t = torch.from_numpy(stats.std)[None, :, None, None].to(dev)
    sim = SimOptions(density=opts.train_density, scale=1.0)
    steps = opts.steps_per_epoch or max(10, round(EPOCH_COVERAGE * int((regions.train & valid).sum())
                                                  / (opts.batch * opts.crop**2)))
    total = opts.epochs * steps
    optim = torch.optim.AdamW(model.parameters(), lr=opts.lr, weight_decay=1e-4)
    if total >= 20:  # one-cycle: 10 % warm-up, cosine decay
        sched: Any = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=opts.lr, total_steps=total, pct_start=0.1)
    else:  # too few steps for a cycle (tests, smoke runs): constant rate
        sched = torch.optim.lr_scheduler.ConstantLR(optim, factor=1.0, total_iters=0)
    t0 = time.time()
    model.train()
    bar = progress_bar(range(total), desc="train detector", enabled=opts.progress, unit="step", leave=True)
    for step in bar:
        x, heat, reg, pos = (torch.from_numpy(np.ascontiguousarray(a)).to(dev)
                             for a in _batch(image, spectra, names, regions, opts, step, sim))
        xn = torch.nan_to_num((x - mean_t) / std_t)
        y = model(xn)
        loss = focal_loss(y[:, :k], heat)
        if pos.any():
            d = (y[:, k:k + 4] - reg).abs() * pos[:, None]
            loss = loss + (OFFSET_WEIGHT * d[:, :2].sum() + SIZE_WEIGHT * d[:, 2:].sum()) / pos.sum()
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optim.step()
        sched.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    train_seconds = time.time() - t0
    model.eval()

    config = RunConfig(
        task="detect", model_name=opts.model, model_args=dict(opts.model_args or {}), in_chans=c, num_classes=k,
        class_names=["background", *names], wavelengths=json_floats(wavelengths), fwhm=json_floats(fwhm),
        band_indices=[int(i) for i in band_indices], source_bands=int(source_bands),
        mean=stats.mean.tolist(), std=stats.std.tolist(), receptive_radius=int(model.receptive_radius),
        split={"kind": "columns", "split_col": regions.split_col, "buffer": regions.buffer,
               "test_fraction": opts.test_fraction},
        data=str(data),
        extra={"target_spectra": np.asarray(spectra, float).tolist(), **(extra or {}), **record,
               "train": {k_: v for k_, v in asdict(opts).items() if k_ not in ("progress", "device")}},
    )
    # written to a staging folder, published into ``out`` only when everything succeeded
    with staged_run_dir(final_out, protect=[str(data)]) as out:
        save_run(out, config, model.state_dict())

        det = LearnedDetector(config, model, device=str(dev))
        seeds = [TEST_SEED_BASE + i for i in range(opts.n_test_scenes)]
        scenes = test_scenes(image, spectra, names, regions.test, seeds=seeds, options=SimOptions(scale=1.0))

        def learned(img: np.ndarray) -> tuple[np.ndarray, Any]:
            o = det.predict_image(img)
            return o.heat, decode(o, threshold=0.01)

        metrics: dict[str, Any] = {
            "task": "detect", "model": opts.model, "data": str(data),
            "protocol": (f"targets simulated into the background; training crops from columns < "
                         f"{regions.split_col - regions.buffer}, test targets in columns >= {regions.split_col}; "
                         f"test seeds {seeds[0]}..{seeds[-1]} (never used in training)"),
            "train_seconds": train_seconds, "device": str(dev), "steps": total, "classes": names, **record,
            **evaluate(learned, scenes, regions.test),
        }
        with atomic_path(out / "metrics.json") as tmp:
            Path(tmp).write_text(json.dumps(finite_json(metrics), indent=2, default=float))
    return metrics
