"""Tiny classification run folders written with the product's own ``save_run`` (for load/predict tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def make_run(run_dir: Path, *, model: str = "test_ssfcn", in_chans: int = 5, num_classes: int = 3,
             wavelengths: np.ndarray | None = None, seed: int = 0, like: np.ndarray | None = None,
             **config: Any) -> Path:
    """An untrained ``model`` run of ``in_chans`` bands (400-800 nm unless given) and ``num_classes`` classes.

    ``like``: ``(C, H, W)`` values whose per-band mean and std the run records (default 0 and 1), so that
    a scene of those values is in the run's units (``hsi predict`` refuses a scene in other units).
    ``config`` overrides RunConfig fields. Returns the run folder.
    """
    import torch

    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.models import create_model

    torch.manual_seed(seed)
    wl = np.linspace(400.0, 800.0, in_chans) if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)
    net = create_model(model, in_chans=in_chans, num_classes=num_classes, wavelengths=wl)
    fields: dict[str, Any] = dict(
        task="classification", model_name=model, model_args={}, in_chans=in_chans, num_classes=num_classes,
        class_names=["unlabelled", *[f"c{k}" for k in range(1, num_classes + 1)]], wavelengths=json_floats(wl),
        fwhm=[None] * in_chans, band_indices=list(range(in_chans)), source_bands=in_chans,
        mean=[0.0] * in_chans, std=[1.0] * in_chans, receptive_radius=int(net.receptive_radius),
    )
    if like is not None:
        values = np.asarray(like, dtype=np.float64).reshape(in_chans, -1)
        fields.update(mean=[float(v) for v in values.mean(1)], std=[float(v) for v in values.std(1)])
    fields.update(config)
    return save_run(run_dir, RunConfig(**fields), dict(net.state_dict()))
