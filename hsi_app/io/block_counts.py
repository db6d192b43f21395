"""Histograms of whole-map id rasters, counted a block of rows at a time.

``np.bincount`` turns its index into ``intp`` and its weights into float64, so on a 20,000 x 20,000 map one call
over the whole raster makes 3.2 GB (index) + 3.2 GB (weights) of temporaries; counting blocks of about
:data:`BLOCK_PX` pixels keeps them at about 32 MB each.
"""

from __future__ import annotations

import numpy as np

BLOCK_PX = 1 << 22
"""Pixels per block (about 32 MB of intp index per block)."""


def bincount_blocks(ids: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """``np.bincount(ids.ravel(), weights, minlength=size)``, counted over blocks of rows (axis 0).

    Args:
        ids: non-negative integer ids of any shape ``(N, ...)``, each below ``size``.
        size: length of the result.
        weights: ``ids``' shape, or ``None`` to count.

    Returns:
        ``(size,)`` int64 counts, or float64 sums of ``weights``.
    """
    out = np.zeros(size, np.float64 if weights is not None else np.int64)
    if ids.size == 0:
        return out
    rows = max(1, BLOCK_PX // max(ids.size // ids.shape[0], 1))
    for r in range(0, ids.shape[0], rows):
        w = None if weights is None else weights[r:r + rows].reshape(-1)
        out += np.bincount(ids[r:r + rows].reshape(-1), weights=w, minlength=size)
    return out
