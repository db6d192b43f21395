"""Smooth synthetic spectra shared by the SNV and ChannelViT band-subset tests."""

from __future__ import annotations

import numpy as np


def smooth_spectra(wl: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, C)`` smooth positive spectra at ``wl`` (nm): 3 plus six Gaussian bumps of random
    centre (400-2400 nm), width (30-300 nm) and amplitude (-1..1) each."""
    c, w, a = rng.uniform(400, 2400, (n, 6)), rng.uniform(30, 300, (n, 6)), rng.uniform(-1, 1, (n, 6))
    return 3 + (a[:, :, None] * np.exp(-0.5 * ((wl - c[:, :, None]) / w[:, :, None]) ** 2)).sum(1)
