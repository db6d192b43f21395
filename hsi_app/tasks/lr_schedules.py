"""Per-step learning-rate schedules for the dense trainers (``--schedule``).

- ``cosine``: linear warm-up over ``warmup_frac`` of the steps, then one cosine decay to 0
  (the default of ``hsi train``).
- ``cyclic-cosine``: cosine annealing with warm restarts (SGDR): ``cycles`` equal cycles,
  each starting at the peak learning rate and decaying to ``min_factor * lr``.
- ``triangular``: :class:`torch.optim.lr_scheduler.CyclicLR` in ``triangular`` mode,
  ``cycles`` cycles rising linearly from ``min_factor * lr`` to ``lr`` and back.

The cyclical ones are the LoLA-SpecViT recipe for its LoRA parameters (``hsi finetune``
uses ``cyclic-cosine`` unless told otherwise).
"""

from __future__ import annotations

import math

import torch

from hsi_app.errors import ConfigError

SCHEDULES = ("cosine", "cyclic-cosine", "triangular")
DEFAULT_CYCLES = 4
MIN_FACTOR = 0.01


def check_schedule(name: str | None) -> str:
    """Validate a schedule name (None -> ``cosine``).

    Raises:
        ConfigError: unknown name.
    """
    name = name or "cosine"
    if name not in SCHEDULES:
        raise ConfigError(f"--schedule {name!r}: unknown; use one of {', '.join(SCHEDULES)} (schedule= in Python)")
    return name


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    name: str | None,
    total_steps: int,
    *,
    warmup_frac: float = 0.05,
    cycles: int = DEFAULT_CYCLES,
    min_factor: float = MIN_FACTOR,
) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler to be stepped once per optimiser step.

    Args:
        optimizer: its current ``lr`` of every group is the peak learning rate.
        name: ``cosine`` | ``cyclic-cosine`` | ``triangular`` (None = ``cosine``).
        total_steps: optimiser steps of the whole run.
        warmup_frac: warm-up fraction (``cosine`` only).
        cycles: number of cycles of the cyclical schedules.
        min_factor: lowest learning rate of a cycle, as a fraction of the peak.

    Raises:
        ConfigError: unknown name or ``cycles < 1``.
    """
    name = check_schedule(name)
    total = max(1, int(total_steps))
    if cycles < 1:
        raise ConfigError(f"schedule {name}: cycles={cycles}; use at least 1")
    if name == "cosine":
        warm = max(1, int(warmup_frac * total))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    period = max(1, math.ceil(total / cycles))
    if name == "cyclic-cosine":
        peak = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=period, eta_min=min_factor * peak)
    peaks = [g["lr"] for g in optimizer.param_groups]
    up = max(1, period // 2)
    return torch.optim.lr_scheduler.CyclicLR(
        optimizer,
        base_lr=[min_factor * p for p in peaks],
        max_lr=peaks,
        step_size_up=up,
        step_size_down=max(1, period - up),
        mode="triangular",
        cycle_momentum=False,
    )
