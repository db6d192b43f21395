"""Bands named for messages: ``band 6 (705 nm)``, ``bands 6 (705 nm) and 11 (1610 nm)``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def band_label(number: int, wavelength: float | None = None) -> str:
    """``"6 (705 nm)"``: a 1-based band number and its centre (left out when unknown)."""
    if wavelength is None or not np.isfinite(wavelength):
        return str(int(number))
    nm = f"{float(wavelength):.1f}".rstrip("0").rstrip(".")
    return f"{int(number)} ({nm} nm)"


def band_list(numbers: Sequence[int] | np.ndarray, wavelengths: Sequence[float] | np.ndarray | None = None, *,
              limit: int = 8) -> str:
    """``"band 6 (705 nm)"``, ``"bands 2 (490 nm) and 6 (705 nm)"``, ``"bands 1, 2, ... and 3 more"``.

    Args:
        numbers: ``(N,)`` 1-based band numbers (``cube.band`` values, as ``hsi info`` counts them).
        wavelengths: ``(N,)`` their centres in nm (NaN when unknown), or ``None``.
        limit: at most this many are named; the rest are counted.
    """
    nums = [int(n) for n in np.asarray(numbers).reshape(-1)]
    wls = [None] * len(nums) if wavelengths is None else [float(w) for w in np.asarray(wavelengths).reshape(-1)]
    items = [band_label(n, w) for n, w in zip(nums, wls, strict=True)]
    if len(items) == 1:
        return f"band {items[0]}"
    shown, more = items[:limit], len(items) - min(len(items), limit)
    if more:
        return f"bands {', '.join(shown)} and {more} more"
    return f"bands {', '.join(shown[:-1])} and {shown[-1]}"
