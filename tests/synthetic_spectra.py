"""Synthetic spectra and scenes shared by tests: smooth random spectra (SNV, ChannelViT band subsets)
and a 12-band Sentinel-2-like scene of four materials in blocks (empty bands, units checks)."""

from __future__ import annotations

import numpy as np


def smooth_spectra(wl: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, C)`` smooth positive spectra at ``wl`` (nm): 3 plus six Gaussian bumps of random
    centre (400-2400 nm), width (30-300 nm) and amplitude (-1..1) each."""
    c, w, a = rng.uniform(400, 2400, (n, 6)), rng.uniform(30, 300, (n, 6)), rng.uniform(-1, 1, (n, 6))
    return 3 + (a[:, :, None] * np.exp(-0.5 * ((wl - c[:, :, None]) / w[:, :, None]) ** 2)).sum(1)


S2_WL = [443, 490, 560, 665, 705, 740, 783, 842, 865, 945, 1610, 2190]  # nm, Sentinel-2-like centres
"""The 12 band centres of :func:`four_materials`."""


def block_labels() -> np.ndarray:
    """``(32, 32)`` uint8: classes 1-4 in four 14 x 14 blocks, unlabelled between them."""
    lab = np.zeros((32, 32), np.uint8)
    lab[1:15, 1:15], lab[1:15, 17:31], lab[17:31, 1:15], lab[17:31, 17:31] = 1, 2, 3, 4
    return lab


def four_materials() -> np.ndarray:
    """``(12, 32, 32)`` float64 reflectance at :data:`S2_WL`: a vegetation-like, a soil-like, a water-like
    and a flat material in the blocks of :func:`block_labels`, a smooth background, noise (sigma 0.01, seed 0)."""
    rng = np.random.default_rng(0)
    wl = np.asarray(S2_WL, float)
    spectra = [0.05 + 0.45 / (1 + np.exp(-(wl - 710) / 15)), 0.1 + 0.00025 * (wl - 400),
               0.08 * np.exp(-(wl - 400) / 200), np.full(wl.size, 0.3)]
    cube = np.repeat((0.15 + 0.1 * np.sin(wl / 150))[:, None, None], 32, 1).repeat(32, 2)
    lab = block_labels()
    for k, s in enumerate(spectra, start=1):
        cube[:, lab == k] = s[:, None]
    return cube + rng.normal(0, 0.01, cube.shape)
