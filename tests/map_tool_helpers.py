"""Shared pieces of the map-tool tests on maps larger than a few blocks (session 56): a field map with speckle and
no data, and the peak memory of a call (``tracemalloc`` sees numpy's arrays)."""

from __future__ import annotations

import tracemalloc
from typing import Any, Callable

import numpy as np
from rasterio.transform import from_origin

T = from_origin(500000.0, 4200000.0, 10.0, 10.0)
MAP_NAMES = ["unlabelled", "water", "forest", "crop", "urban"]


def field_map(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(h, w)`` uint8 map of 4 classes in 20 x 20 px fields with 3 % speckle, no data on the left 10 % and in a
    block inside; and the true fields (without speckle or no data)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(1, 5, (h // 20 + 1, w // 20 + 1)).astype(np.uint8)
    truth = coarse[np.arange(h)[:, None] // 20, np.arange(w)[None, :] // 20]
    cls = truth.copy()
    speck = rng.random((h, w)) < 0.03
    cls[speck] = rng.integers(1, 5, int(speck.sum()))
    cls[:, : w // 10] = 0
    cls[h // 3: h // 2, w // 3: w // 2] = 0
    return cls, truth


def peak_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and the peak of the memory numpy (and Python) allocated during it, in bytes."""
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak
