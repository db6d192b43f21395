"""Dense per-pixel classification: loss, Lightning module, training and metrics.

Labels follow the product convention: ``0`` = unlabelled (ignored everywhere), classes
``1..K`` map to logit channels ``0..K-1``. Models are dense (see :mod:`hsi_app.models`),
so one forward pass over a tile or the whole scene gives every pixel's logits; the loss
is taken only where the label map is non-zero.

Main entry points: :func:`fit_dense` (train on a normalised in-memory scene),
:func:`predict_dense` (class probabilities for a whole scene) and
:func:`classification_metrics` (OA / AA / kappa / confusion matrix, from
:mod:`hsi_app.tasks.class_metrics`, which imports neither Lightning nor torchmetrics).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from hsi_app.data.tiles import SceneTiles
from hsi_app.tasks.class_metrics import classification_metrics  # noqa: F401  (re-exported: its home before)
from hsi_app.errors import ConfigError, InvalidDataError, LabelError
from hsi_app.tasks.train_classifier import DEFAULT_CLASSIFIER, check_class_weight_power
from hsi_app.rng_state import kept_global_rng

# Defaults chosen by an Indian Pines tuning run (random:0.1, leaky; whole-scene 145 x 145
# tiles, 8 steps per epoch) that is not recorded in BENCHMARKS.md: 60 epochs scored above 40
# there. BENCHMARKS.md has the measured scores, with the SVM-RBF baseline.
DEFAULT_EPOCHS = 60
DEFAULT_TILES_PER_EPOCH = 8
DEFAULT_TILE_SIZE = 145
DEFAULT_BATCH_SIZE = 1
DEFAULT_LR = 5e-3
DEFAULT_WEIGHT_DECAY = 0.05
DEFAULT_LABEL_SMOOTHING = 0.1
DEFAULT_PATIENCE = 20
DEFAULT_EMA_DECAY: float | None = None
VAL_WINDOW = 512
VAL_CORE = 128
"""Core side of the per-epoch validation windows (:func:`masked_logits`) on scenes over ``2 * VAL_CORE`` px."""
DIVERGED_HINT = "lower the learning rate"
"""The fix :func:`fit_dense` names when the training loss becomes NaN or infinite (``hsi finetune``: ``lower --lr``)."""


def masked_cross_entropy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy over labelled pixels only.

    Args:
        logits: ``(B, K, h, w)`` per-pixel class scores.
        labels: ``(B, h, w)`` int64; 0 = ignore, ``1..K`` = class.
        label_smoothing: smoothing of the one-hot targets, in ``[0, 1)``.
        class_weights: optional ``(K,)`` per-class loss weights (torch's weighted mean).

    Returns:
        Scalar mean loss over labelled pixels (0, still attached to the graph, when a
        batch has none).
    """
    valid = labels > 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    picked = logits.permute(0, 2, 3, 1)[valid]  # (N, K)
    return F.cross_entropy(picked, labels[valid] - 1, weight=class_weights, label_smoothing=label_smoothing)


def soft_cross_entropy(logits: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """Cross-entropy to a teacher's class probabilities, over the pixels that have them.

    Equal to the KL divergence ``KL(teacher || student)`` plus the teacher's entropy, so its
    gradient is the distillation gradient of Hinton et al. at temperature 1.

    Args:
        logits: ``(B, K, h, w)`` student class scores.
        soft: ``(B, K, h, w)`` teacher probabilities; a pixel whose values sum to 0 has no target.

    Returns:
        Scalar mean over the pixels with a target (0, still attached to the graph, when none has).
    """
    has = soft.sum(dim=1) > 0  # (B, h, w)
    if not bool(has.any()):
        return logits.sum() * 0.0
    logp = F.log_softmax(logits, dim=1).permute(0, 2, 3, 1)[has]  # (N, K)
    return -(soft.permute(0, 2, 3, 1)[has] * logp).sum(dim=1).mean()


def balanced_class_weights(train: np.ndarray, num_classes: int, power: float) -> list[float]:
    """Per-class loss weights ``n_k ** -power`` from the training pixel counts, scaled to mean 1.

    ``power = 0.5`` is inverse square-root frequency, ``1`` inverse frequency, ``0`` all ones.
    A class with no training pixel gets weight 0 (it never appears in the loss anyway) and
    the mean is taken over the classes that have pixels.

    Args:
        train: ``(H, W)`` int training labels (0 = unused, ``1..K``).
        num_classes: ``K``.
        power: exponent, in ``[0, 1]``.

    Returns:
        ``K`` floats.

    Raises:
        ConfigError: ``power`` outside ``[0, 1]``.
    """
    check_class_weight_power(power)
    labels = np.asarray(train).ravel()
    counts = np.bincount(labels[labels > 0], minlength=num_classes + 1)[1 : num_classes + 1].astype(np.float64)
    present = counts > 0
    weights = np.where(present, np.maximum(counts, 1.0) ** -power, 0.0)
    return (weights * present.sum() / max(weights.sum(), 1e-12)).tolist()


def _haloed_cores(
    h: int, w: int, core: int, halo: int
) -> Iterator[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """Row-major ``core`` x ``core`` cores of an ``(h, w)`` scene, each with its window: the core grown by
    ``halo`` px on every side within the scene. Yields ``((r0, r1, c0, c1), (a0, a1, b0, b1))``."""
    for r0 in range(0, h, core):
        for c0 in range(0, w, core):
            r1, c1 = min(r0 + core, h), min(c0 + core, w)
            yield (r0, r1, c0, c1), (max(0, r0 - halo), min(h, r1 + halo), max(0, c0 - halo), min(w, c1 + halo))


@torch.no_grad()
def dense_logits(model: nn.Module, image: torch.Tensor, *, window: int = VAL_WINDOW) -> torch.Tensor:
    """Logits of a whole scene, in windows with a halo of the model's receptive radius.

    Args:
        model: dense model with ``receptive_radius``; its device is used.
        image: ``(C, H, W)`` float32 normalised scene (any device).
        window: core window side; scenes not larger than this go in one forward.

    Returns:
        ``(K, H, W)`` float32 logits on the model's device. Equal (to float error) to a
        one-shot forward, because every window carries ``receptive_radius`` pixels of
        real context around its core.
    """
    dev = next(model.parameters()).device
    _, h, w = image.shape
    if h <= window and w <= window:
        return model(image.unsqueeze(0).to(dev, torch.float32))[0]
    out: torch.Tensor | None = None
    for (r0, r1, c0, c1), (a0, a1, b0, b1) in _haloed_cores(h, w, window, int(getattr(model, "receptive_radius", 0))):
        y = model(image[:, a0:a1, b0:b1].unsqueeze(0).to(dev, torch.float32))[0]
        if out is None:
            out = torch.empty((y.shape[0], h, w), dtype=y.dtype, device=dev)
        out[:, r0:r1, c0:c1] = y[:, r0 - a0 : r1 - a0, c0 - b0 : c1 - b0]
    assert out is not None
    return out


@torch.no_grad()
def masked_logits(model: nn.Module, image: torch.Tensor, mask: torch.Tensor, *, core: int = VAL_CORE) -> torch.Tensor:
    """Logits at the ``mask`` pixels only, from the windows that hold one (per-epoch validation).

    A scene not larger than ``2 * core`` px per side is one forward, as :func:`dense_logits`
    gives it. A larger one is cut into ``core`` x ``core`` cores; only the cores holding a
    ``mask`` pixel go through the model, each with a halo of the model's ``receptive_radius``,
    so the logits equal the whole-scene ones to float rounding (as :func:`dense_logits`'
    windows do). The validation cost then follows the validation pixels, not the scene, and
    the windows stay near the training tile size.

    Args:
        model: dense model with ``receptive_radius``; its device is used.
        image: ``(C, H, W)`` float32 normalised scene (any device).
        mask: ``(H, W)`` bool, the pixels wanted.
        core: core side for scenes larger than ``2 * core``.

    Returns:
        ``(N, K)`` logits of the ``N`` mask pixels in row-major order (``dense_logits(...)
        .permute(1, 2, 0)[mask]``), on the model's device.
    """
    dev = next(model.parameters()).device
    _, h, w = image.shape
    mask = mask.to("cpu", torch.bool)
    n = int(mask.sum())
    if (h <= 2 * core and w <= 2 * core) or n == 0:
        return dense_logits(model, image).permute(1, 2, 0)[mask.to(dev)]
    slot = torch.full((h, w), -1, dtype=torch.long)
    slot[mask] = torch.arange(n)
    out: torch.Tensor | None = None
    for (r0, r1, c0, c1), (a0, a1, b0, b1) in _haloed_cores(h, w, core, int(getattr(model, "receptive_radius", 0))):
        here = slot[r0:r1, c0:c1]
        keep = here >= 0
        if not bool(keep.any()):
            continue
        y = model(image[:, a0:a1, b0:b1].unsqueeze(0).to(dev, torch.float32))[0]
        picked = y[:, r0 - a0 : r1 - a0, c0 - b0 : c1 - b0].permute(1, 2, 0)[keep.to(dev)]
        if out is None:
            out = torch.empty((n, picked.shape[1]), dtype=picked.dtype, device=dev)
        out[here[keep].to(dev)] = picked
    assert out is not None
    return out


def predict_dense(
    model: nn.Module, image: np.ndarray | torch.Tensor, *, window: int = VAL_WINDOW, tta: bool = False
) -> np.ndarray:
    """Class probabilities of a whole in-memory scene.

    Args:
        model: trained dense model (put in eval mode here).
        image: ``(C, H, W)`` float32, normalised with the training statistics.
        window: core window side for scenes larger than ``window``.
        tta: average the probabilities over the 8 flips / 90-degree rotations of the
            scene (the training augmentations); 8 times the compute.

    Returns:
        ``(K, H, W)`` float32 softmax probabilities (class ``k`` is label ``k + 1``).
    """
    model.eval()
    x = torch.as_tensor(np.asarray(image, dtype=np.float32)) if isinstance(image, np.ndarray) else image
    if not tta:
        return torch.softmax(dense_logits(model, x, window=window), dim=0).float().cpu().numpy()
    from hsi_app.tasks.tta import d4_mean

    return d4_mean(lambda xt: torch.softmax(dense_logits(model, xt, window=window), dim=0).cpu(), x).numpy()


def average_accuracy(pred: torch.Tensor, target: torch.Tensor, num_classes: int) -> torch.Tensor:
    """AA as :func:`classification_metrics` defines it: the mean recall over the classes
    present in ``target`` (torchmetrics' macro average also counts predicted-only classes
    as recall 0).

    Args:
        pred, target: ``(N,)`` int64 0-based classes.
        num_classes: K.

    Returns:
        0-d float tensor in [0, 1] (NaN when ``target`` is empty).
    """
    support = torch.bincount(target, minlength=num_classes)
    hits = torch.bincount(target[pred == target], minlength=num_classes)
    present = support > 0
    return (hits[present].float() / support[present]).mean()


class DenseClassifier(L.LightningModule):
    """LightningModule around a registered dense model.

    Training: masked cross-entropy (optional label smoothing) on tiles from
    :class:`~hsi_app.data.tiles.SceneTiles`. Validation: the model is run on the scene
    (whole when small, else only the windows holding a validation pixel, with their halo:
    :func:`masked_logits`) and OA / AA / kappa / loss are computed at
    the pixels of the validation label map, logged as ``val_oa``, ``val_aa``,
    ``val_kappa``, ``val_loss``. Optimiser: AdamW (no decay on biases and norms) with a
    linear warm-up then cosine decay per step.

    Args:
        model_name: registered model name.
        in_chans: bands ``C``.
        num_classes: classes ``K``.
        wavelengths: ``(C,)`` band centres in nm.
        model_args: extra builder arguments.
        lr: peak learning rate.
        weight_decay: AdamW decay on weight matrices/kernels.
        label_smoothing: training-loss label smoothing.
        total_steps: optimiser steps of the whole run (for the schedule).
        warmup_frac: fraction of ``total_steps`` spent warming up.
        val_image: ``(C, H, W)`` float32 normalised scene for validation (kept on CPU).
        val_labels: ``(H, W)`` int validation labels, 0 = not a validation pixel.
        ema_decay: if set, an exponential moving average of the weights (updated after
            every optimiser step) is what gets validated and returned.
        schedule: learning-rate schedule (:mod:`hsi_app.tasks.lr_schedules`): ``cosine``,
            ``cyclic-cosine`` or ``triangular``.
        model: a ready module to train instead of building ``model_name`` (e.g. a peft
            LoRA wrapper; only its parameters with ``requires_grad`` are optimised).
        class_weights: optional ``(K,)`` loss weight per class (default: all 1).
        distill_weight: weight of :func:`soft_cross_entropy` to the tiles' ``"soft"``
            teacher probabilities, added to the cross-entropy of the labels.
    """

    def __init__(
        self,
        model_name: str,
        *,
        in_chans: int,
        num_classes: int,
        wavelengths: Sequence[float] | None = None,
        model_args: dict[str, Any] | None = None,
        lr: float = DEFAULT_LR,
        weight_decay: float = DEFAULT_WEIGHT_DECAY,
        label_smoothing: float = DEFAULT_LABEL_SMOOTHING,
        total_steps: int = 1000,
        warmup_frac: float = 0.05,
        val_image: torch.Tensor | None = None,
        val_labels: torch.Tensor | None = None,
        ema_decay: float | None = None,
        schedule: str = "cosine",
        model: nn.Module | None = None,
        class_weights: Sequence[float] | None = None,
        distill_weight: float = 1.0,
        diverged_hint: str = DIVERGED_HINT,
    ) -> None:
        super().__init__()
        from hsi_app.models import create_model
        from hsi_app.tasks.lr_schedules import check_schedule

        self.schedule = check_schedule(schedule)
        self.model = model if model is not None else create_model(
            model_name,
            in_chans=in_chans,
            num_classes=num_classes,
            wavelengths=wavelengths,
            **(model_args or {}),
        )
        self.num_classes = num_classes
        if class_weights is not None and len(class_weights) != num_classes:
            raise ConfigError(f"class_weights has {len(class_weights)} values for {num_classes} classes; give one per class")
        self.class_weights: torch.Tensor | None
        self.register_buffer(
            "class_weights", None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        )
        self.lr, self.weight_decay, self.label_smoothing = lr, weight_decay, label_smoothing
        self.distill_weight = float(distill_weight)
        self.diverged_hint = diverged_hint
        self.total_steps, self.warmup_frac = max(1, int(total_steps)), warmup_frac
        self._val_image = val_image
        self._val_labels = val_labels
        self.val_count = int((val_labels > 0).sum()) if val_labels is not None else 0
        self.epoch_loss_sum, self.epoch_loss_count = 0.0, 0
        self.ema: torch.optim.swa_utils.AveragedModel | None = None
        if ema_decay is not None:
            if not 0.0 < ema_decay < 1.0:
                raise ConfigError(f"ema_decay={ema_decay}; use a value in (0, 1), e.g. 0.99, or None")
            self.ema = torch.optim.swa_utils.AveragedModel(
                self.model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema_decay)
            )

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are validated and returned: the EMA copy when enabled."""
        return self.ema.module if self.ema is not None else self.model

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """Update the weight average after each optimiser step."""
        if self.ema is not None:
            self.ema.update_parameters(self.model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` -> ``(B, K, h, w)`` logits."""
        return self.model(x)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Masked cross-entropy of one batch of tiles (plus the distillation term when the
        tiles carry a teacher's ``"soft"`` probabilities).

        A model with ``set_training_progress(fraction)`` (e.g. ChannelViT's late HCS) is
        told the fraction of the run's optimiser steps done before each step.
        """
        report = getattr(self.model, "set_training_progress", None)
        if callable(report):
            report(self.global_step / self.total_steps)
        logits = self.model(batch["image"])
        loss = masked_cross_entropy(
            logits, batch["label"], label_smoothing=self.label_smoothing, class_weights=self.class_weights,
        )
        if "soft" in batch:
            loss = loss + self.distill_weight * soft_cross_entropy(logits, batch["soft"])
        value = float(loss.detach())
        if not math.isfinite(value):  # NaN/inf weights would be saved and map every pixel as class 1
            raise InvalidDataError(f"training diverged at epoch {self.current_epoch + 1} (loss {value}); "
                                   f"{self.diverged_hint}")
        self.epoch_loss_sum += value
        self.epoch_loss_count += 1
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch["image"]))
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Evaluate the model at the validation pixels (the batch is a placeholder): only the
        windows holding one are run (:func:`masked_logits`)."""
        from torchmetrics.functional.classification import multiclass_accuracy, multiclass_cohen_kappa

        if self._val_image is None or self._val_labels is None:
            return
        mask = self._val_labels > 0
        picked = masked_logits(self.eval_model, self._val_image, mask)  # (N, K)
        target = self._val_labels[mask].to(picked.device) - 1
        pred = picked.argmax(dim=1)
        k = self.num_classes
        self.log("val_loss", F.cross_entropy(picked, target), batch_size=1)
        self.log("val_oa", multiclass_accuracy(pred, target, k, average="micro"), prog_bar=True, batch_size=1)
        self.log("val_aa", average_accuracy(pred, target, k), batch_size=1)
        self.log("val_kappa", multiclass_cohen_kappa(pred, target, k), batch_size=1)

    def configure_optimizers(self) -> Any:
        """AdamW + per-step schedule (default: linear warm-up and cosine decay to zero).

        Every trainable parameter with 2+ dimensions is decayed, Mamba's ``A_log`` and the
        relative-position bias table included (mamba_ssm and Swin exempt them); kept as it
        is so that the published numbers reproduce (README, "Learning-rate schedules").
        """
        decay, no_decay = [], []
        for p in self.model.parameters():
            if p.requires_grad:
                (decay if p.ndim >= 2 else no_decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.lr,
        )
        if self.schedule != "cosine":
            from hsi_app.tasks.lr_schedules import build_scheduler

            cyc = build_scheduler(opt, self.schedule, self.total_steps, warmup_frac=self.warmup_frac)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": cyc, "interval": "step"}}
        total, warm = self.total_steps, max(1, int(self.warmup_frac * self.total_steps))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class _OneItem(Dataset):
    """A one-element dataset that makes Lightning run one validation step per epoch."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.zeros(1)


class _EpochSetter(L.Callback):
    """Tells the tile dataset which epoch is starting (new tile positions each epoch)."""

    def __init__(self, tiles: Any) -> None:
        self.tiles = tiles

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.tiles.set_epoch(trainer.current_epoch)


class _BestState(L.Callback):
    """Selects the weights to return, records per-epoch metrics, and stops training once
    neither validation OA nor validation loss has improved for ``patience`` epochs.

    Selection: the latest epoch whose validation OA is within one standard error of the
    best OA seen so far (at least one validation pixel). A few hundred validation
    pixels cannot rank epochs finer than that, and with a decaying learning rate the
    later weights are usually the better ones on unseen pixels.
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best: float | None = None
        self.best_loss = math.inf
        self.best_epoch = -1
        self.selected_oa: float | None = None
        self.improved_epoch = -1
        self.state: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, float]] = []

    @staticmethod
    def tolerance(oa: float, n: int) -> float:
        """One standard error of an OA measured on ``n`` pixels, at least one pixel."""
        return max(1.0, math.sqrt(n * oa * (1.0 - oa))) / max(1, n)

    def _row(self, epoch: int) -> dict[str, float]:
        if not self.history or self.history[-1]["epoch"] != epoch:
            self.history.append({"epoch": epoch})
        return self.history[-1]

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        n = pl_module.epoch_loss_count  # type: ignore[attr-defined]
        if n:
            self._row(trainer.current_epoch)["train_loss"] = pl_module.epoch_loss_sum / n  # type: ignore[attr-defined]
        pl_module.epoch_loss_sum, pl_module.epoch_loss_count = 0.0, 0  # type: ignore[attr-defined]

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        m = trainer.callback_metrics
        if trainer.sanity_checking or "val_oa" not in m:
            return
        epoch = trainer.current_epoch
        oa, loss = float(m["val_oa"]), float(m["val_loss"])
        self._row(epoch).update(val_oa=oa, val_loss=loss)
        n = int(getattr(pl_module, "val_count", 0))
        if self.best is None or oa > self.best or loss < self.best_loss:
            self.improved_epoch = epoch
        self.best_loss = min(self.best_loss, loss)
        self.best = oa if self.best is None else max(self.best, oa)
        if oa >= self.best - self.tolerance(self.best, n) - 1e-9:
            self.best_epoch, self.selected_oa = epoch, oa
            model = pl_module.eval_model  # type: ignore[attr-defined]
            self.state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if epoch - self.improved_epoch >= self.patience:
            trainer.should_stop = True


def fit_interruptible(trainer: L.Trainer, *args: Any) -> None:
    """``trainer.fit(*args)``, with Ctrl-C and SIGTERM still a :class:`KeyboardInterrupt`.

    Lightning catches the interrupt, shuts down, ignores SIGINT from then on and calls
    ``sys.exit(1)``, which the CLI would report as a silent crash (exit 1) instead of one
    "interrupted" line and status 130. Here the interrupt is raised again and the SIGINT
    handler restored (a notebook or the viewer keeps its Ctrl-C).
    """
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    old = signal.getsignal(signal.SIGINT) if main_thread else None
    try:
        trainer.fit(*args)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        if main_thread and old is not None:
            signal.signal(signal.SIGINT, old)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banner/info messages and restore global torch flags afterwards."""
    names = ["lightning.pytorch", "lightning.fabric", "lightning"]
    old_levels = [logging.getLogger(n).level for n in names]
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    for n in names:
        logging.getLogger(n).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*does not have many workers.*")
            warnings.filterwarnings("ignore", message=".*number of training batches.*")
            warnings.filterwarnings("ignore", message=".*LeafSpec.*")
            warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
            yield
    finally:
        for n, lvl in zip(names, old_levels):
            logging.getLogger(n).setLevel(lvl)
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)


def _accelerator(device: str | torch.device | None) -> tuple[str, Any]:
    """Map ``device`` ("cpu", "cuda", "cuda:1", None = auto) to Trainer accelerator/devices."""
    from hsi_app.device import resolve_device

    if device is None:
        return "auto", 1
    dev = resolve_device(device)  # ConfigError for an unknown string or a GPU that is not there
    if dev.type == "cuda":
        return "gpu", [dev.index or 0]
    return ("mps", 1) if dev.type == "mps" else ("cpu", 1)


def _check_labels(name: str, labels: np.ndarray, shape: tuple[int, int], num_classes: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.shape != shape:
        raise LabelError(f"fit_dense: {name} labels {lab.shape} differ from the image grid {shape}; pass (H, W)")
    lab = lab.astype(np.int64)
    if lab.min() < 0 or lab.max() > num_classes:
        raise LabelError(
            f"fit_dense: {name} labels span {lab.min()}..{lab.max()}, outside 0..{num_classes}; "
            "check num_classes (labels 1..K, 0 = unlabelled)"
        )
    return lab


def _new_model(name: str, image: np.ndarray, train: np.ndarray, num_classes: int, wavelengths: Sequence[float] | None,
               model_args: dict[str, Any] | None, band_stats: tuple[np.ndarray, np.ndarray] | None,
               fwhm: Sequence[float] | np.ndarray | None = None) -> nn.Module:
    """Build ``name`` for a ``(C, H, W)`` normalised image (with ``(C,)`` ``fwhm`` when given, for a family
    that takes it); fit its input statistics on the ``train > 0`` pixels."""
    from hsi_app.models import create_model

    c = image.shape[0]
    widths = {} if fwhm is None else {"fwhm": fwhm}
    net = create_model(name, in_chans=c, num_classes=num_classes, wavelengths=wavelengths, **widths,
                       **(model_args or {}))
    fit_inputs = getattr(net, "fit_inputs", None)
    if callable(fit_inputs):
        mean, std = band_stats if band_stats is not None else (np.zeros(c, np.float32), np.ones(c, np.float32))
        fit_inputs(image[:, train > 0].T, mean, std)
    return net


@kept_global_rng()
def fit_dense(
    image: np.ndarray,
    train: np.ndarray,
    val: np.ndarray | None,
    *,
    model_name: str = DEFAULT_CLASSIFIER,
    num_classes: int,
    wavelengths: Sequence[float] | None = None,
    fwhm: Sequence[float] | np.ndarray | None = None,
    model_args: dict[str, Any] | None = None,
    epochs: int = DEFAULT_EPOCHS,
    tiles_per_epoch: int = DEFAULT_TILES_PER_EPOCH,
    tile_size: int = DEFAULT_TILE_SIZE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    weight_decay: float = DEFAULT_WEIGHT_DECAY,
    label_smoothing: float = DEFAULT_LABEL_SMOOTHING,
    patience: int = DEFAULT_PATIENCE,
    ema_decay: float | None = DEFAULT_EMA_DECAY,
    seed: int = 0,
    progress: bool = True,
    device: str | torch.device | None = None,
    tiles: Dataset | None = None,
    schedule: str = "cosine",
    model: nn.Module | None = None,
    class_weights: Sequence[float] | None = None,
    band_stats: tuple[np.ndarray, np.ndarray] | None = None,
    soft_targets: np.ndarray | None = None,
    distill_weight: float = 1.0,
    diverged_hint: str = DIVERGED_HINT,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train a dense classifier on one normalised in-memory scene.

    Args:
        image: ``(C, H, W)`` float32, normalised with statistics of the training pixels.
        train: ``(H, W)`` int training labels (0 = unused, ``1..K``).
        val: ``(H, W)`` int validation labels (0 = unused) for early stopping and best-epoch
            selection, or None to train all ``epochs`` and keep the final weights.
        model_name: registered model name.
        num_classes: ``K``.
        wavelengths: ``(C,)`` band centres in nm.
        fwhm: ``(C,)`` band widths in nm given to a new model of a family that takes them
            (``channel_vit``; :func:`hsi_app.model_fwhm.training_fwhm` decides), or None: the
            model uses its band-spacing estimate. Not used with ``model``.
        model_args: extra builder arguments for the model.
        epochs: maximum number of epochs.
        tiles_per_epoch: random tiles drawn per epoch.
        tile_size: tile side in pixels, capped at the longer scene side; a scene not
            larger than that is trained whole (its shorter side zero-padded), with random
            flips / rotations.
        batch_size: tiles per optimiser step.
        lr: peak AdamW learning rate (warm-up 5 % of steps, then cosine to zero).
        weight_decay: AdamW weight decay.
        label_smoothing: label smoothing of the training loss.
        patience: stop after this many epochs in which neither validation OA nor
            validation loss improved.
        ema_decay: decay of the exponential moving average of the weights that is
            validated and returned (None: use the raw weights).
        seed: seeds model init, tile sampling and dropout.
        progress: show progress (Lightning's bar on a terminal, a line per epoch in a log).
        device: "cpu", "cuda", "cuda:N", or None for automatic (CUDA when present).
        tiles: a training tile dataset with the same sample contract and a
            ``set_epoch(epoch)`` method (e.g. :class:`~hsi_app.data.geo_tiles.GeoRasterTiles`,
            which reads tiles from disk through torchgeo); default: random tiles of ``image``.
        schedule: learning-rate schedule: ``cosine`` (above), ``cyclic-cosine`` (warm
            restarts) or ``triangular`` (see :mod:`hsi_app.tasks.lr_schedules`).
        model: train this module (e.g. a peft LoRA wrapper) instead of a new ``model_name``.
        class_weights: optional ``(K,)`` per-class weights of the training loss.
        band_stats: ``(mean, std)``, each ``(C,)``, that normalised ``image``; a new model
            with a ``fit_inputs(pixels, mean, std)`` method (e.g. ``ssfcn_snv``)
            gets them with the training pixels' spectra before training. None: the image
            is taken as it is (mean 0, std 1).
        soft_targets: ``(K, H, W)`` float32 probabilities of a teacher (knowledge
            distillation; :mod:`hsi_app.tasks.distill`); pixels summing to 0 get no target.
            Only with the default in-memory tiles.
        distill_weight: weight of the distillation loss against the labels' cross-entropy.
        diverged_hint: the fix named when the training loss becomes NaN or infinite.

    Returns:
        ``(model, history)``: the selected model (the latest epoch within one standard
        error of the best validation OA; the last epoch without validation) in eval mode
        on the CPU, and ``{"epochs_run", "best_epoch", "best_val_oa" (validation OA of the
        returned weights), "train_seconds", "epochs": [{"epoch", "train_loss", "val_oa",
        "val_loss"}, ...]}``.

    Raises:
        LabelError: label maps of the wrong shape or out-of-range classes, no training pixel.
        ConfigError: bad sizes, learning rate or device.
        InvalidDataError: the training loss became NaN or infinite ("training diverged at epoch E
            (loss nan); DIVERGED_HINT"); nothing is returned.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 3:
        raise ConfigError(f"fit_dense: image has shape {img.shape}; pass (C, H, W)")
    if min(epochs, tiles_per_epoch, tile_size, batch_size) < 1:
        raise ConfigError("fit_dense: epochs, tiles_per_epoch, tile_size and batch_size must all be >= 1")
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"fit_dense: lr={lr}; use a learning rate > 0, e.g. {DEFAULT_LR:g}")
    c, h, w = img.shape
    tr = _check_labels("train", train, (h, w), num_classes)
    va = None if val is None else _check_labels("val", val, (h, w), num_classes)
    if va is not None and not (va > 0).any():
        va = None
    accelerator, devices = _accelerator(device)
    if soft_targets is not None and tiles is not None:
        raise ConfigError("fit_dense: soft_targets need the in-memory tiles; pass either tiles or soft_targets")

    L.seed_everything(seed, workers=True, verbose=False)
    tile = min(tile_size, max(h, w))  # no padding beyond what the scene needs
    if tiles is None:
        tiles = SceneTiles(
            img, tr, tile_size=tile, tiles_per_epoch=tiles_per_epoch, wavelengths=wavelengths, seed=seed,
            soft_targets=soft_targets,
        )
    steps = epochs * math.ceil(tiles_per_epoch / batch_size)
    if model is None:
        model = _new_model(model_name, img, tr, num_classes, wavelengths, model_args, band_stats, fwhm)
    module = DenseClassifier(
        model_name,
        in_chans=c,
        num_classes=num_classes,
        wavelengths=wavelengths,
        model_args=model_args,
        lr=lr,
        weight_decay=weight_decay,
        label_smoothing=label_smoothing,
        total_steps=steps,
        val_image=torch.from_numpy(img) if va is not None else None,
        val_labels=torch.from_numpy(va) if va is not None else None,
        ema_decay=ema_decay,
        schedule=schedule,
        model=model,
        class_weights=class_weights,
        distill_weight=distill_weight,
        diverged_hint=diverged_hint,
    )
    best = _BestState(patience)
    train_loader = DataLoader(tiles, batch_size=batch_size, shuffle=False, num_workers=0)
    val_loader = DataLoader(_OneItem(), batch_size=1) if va is not None else None
    from hsi_app.progress import trainer_progress

    show_bar, epoch_lines = trainer_progress(progress)  # Lightning's bar on a terminal, a line per epoch in a log
    with quiet_lightning():
        trainer = L.Trainer(
            max_epochs=epochs,
            accelerator=accelerator,
            devices=devices,
            deterministic="warn",
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=show_bar,
            num_sanity_val_steps=0,
            limit_val_batches=1.0 if va is not None else 0,
            gradient_clip_val=1.0,
            callbacks=[_EpochSetter(tiles), best, *epoch_lines],
        )
        t0 = time.perf_counter()
        fit_interruptible(trainer, module, train_loader, val_loader)
        seconds = time.perf_counter() - t0
    model = module.eval_model.cpu()
    if best.state is not None:
        model.load_state_dict(best.state)
    model.eval()
    history = {
        "epochs_run": int(trainer.current_epoch),
        "best_epoch": best.best_epoch if best.state is not None else int(trainer.current_epoch) - 1,
        "best_val_oa": best.selected_oa,
        "train_seconds": seconds,
        "epochs": best.history,
    }
    return model, history
