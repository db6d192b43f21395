"""Bands with no variance over a detector's background (dead, zeroed or saturated bands) are left out.

A constant band makes the background covariance singular; the ridge that
:func:`~hsi_app.tasks.detectors_classical.regularise` adds is then the band's only
"variance", and a target spectrum that is not constant there is whitened into that one
band: ACE, MF and CEM scores collapse to about 1e-7 while the ranking survives. A band that
does not vary holds no information about any pixel, so the detectors score the other
bands, exactly as if the band had not been in the file, and one warning names it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from hsi_app.errors import HSIWarning
from hsi_app.io.band_labels import band_list

FLAT_VARIANCE = 1e-12
"""A band whose background variance is at most this times the largest band's is taken as constant."""


def varying_bands(variance: np.ndarray, numbers: Sequence[int] | np.ndarray | None = None,
                  wavelengths: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """``(C,)`` bool: the bands that vary over the background; warns once naming the others.

    Args:
        variance: ``(C,)`` variances of the background pixels, band by band (any common scale).
        numbers: ``(C,)`` 1-based band numbers for the warning (default ``1..C``).
        wavelengths: ``(C,)`` their centres in nm for the warning (NaN or ``None``: unknown).

    Returns:
        ``(C,)`` bool, all True when every band varies, or when none does (nothing to compare
        with: the regularised covariance stands, as before).
    """
    var = np.asarray(variance, dtype=np.float64).reshape(-1)
    top = float(var.max()) if var.size else 0.0
    if not top > 0.0:
        return np.ones(var.size, dtype=bool)
    keep = var > FLAT_VARIANCE * top
    if not keep.all():
        nums = np.arange(1, var.size + 1) if numbers is None else np.asarray(numbers)
        wls = None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)[~keep]
        named = band_list(nums[~keep], wls)
        verb = "is" if int((~keep).sum()) == 1 else "are"
        warnings.warn(
            f"detection: {named} {verb} constant over the scene's valid pixels (a dead or zeroed band); left out of "
            f"the background statistics and the targets, so the scores are those of the other {int(keep.sum())} bands",
            HSIWarning,
            stacklevel=3,
        )
    return keep
