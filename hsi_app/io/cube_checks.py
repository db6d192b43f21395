"""Checks of what :func:`hsi_app.io.cube.make_cube` is given, and of a cube's x/y grid.

Per-band vectors (wavelength, FWHM), bad-band indices and pixel-centre coordinates are checked for one
value per band / row / column, and a cube's x/y coordinates for even spacing (no affine transform
describes a grid with gaps). Each refusal is one :class:`~hsi_app.errors.HSIError` line.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hsi_app.errors import BandMismatchError, ConfigError


def band_vector(values: Sequence[float] | np.ndarray | None, c: int, name: str) -> np.ndarray:
    """``(C,)`` float64 per-band values (NaN when ``None``).

    Raises:
        BandMismatchError: not one value per band.
    """
    if values is None:
        return np.full(c, np.nan)
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != c:
        raise BandMismatchError(f"make_cube: {name} has {arr.size} values for {c} bands; pass one per band")
    return arr


def bad_band_mask(bad_bands: Sequence[int] | np.ndarray | None, c: int) -> np.ndarray:
    """``(C,)`` bool from 0-based band indices (or a ``(C,)`` bool mask).

    Raises:
        ConfigError: an index outside ``0..C-1``.
    """
    bad = np.zeros(c, dtype=bool)
    if bad_bands is None:
        return bad
    given = np.asarray(bad_bands).reshape(-1)
    if given.dtype == bool and given.size == c:
        return given.copy()
    idx = given.astype(int)
    out = idx[(idx < 0) | (idx >= c)]
    if out.size:
        raise ConfigError(f"make_cube: bad_bands {out.tolist()} outside 0..{c - 1}; they are 0-based indices of "
                          f"the {c} bands")
    bad[idx] = True
    return bad


def axis_vector(values: np.ndarray, n: int, name: str, what: str) -> np.ndarray:
    """``(n,)`` float64 pixel-centre coordinates.

    Raises:
        ConfigError: not one value per row/column.
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size != n:
        raise ConfigError(f"make_cube: {name} has {arr.size} values for {n} {what}; pass one per pixel centre")
    return arr


def check_evenly_spaced(coords: np.ndarray, dim: str, source: str | None) -> None:
    """Refuse ``(n,)`` pixel-centre coordinates whose steps differ (no affine transform describes them).

    The steps may differ by the coordinates' own rounding: ``max(1e-6 * |step|, 4 * eps * max|c|)``, ``eps``
    of float64, or of float32 when the coordinates are float32 (e.g. lat/lon vectors from an HDF5 product:
    each is off by half an ulp of ``max|c|``, so two steps by at most 2 ulps; a 1e-4 degree grid at 120 E
    has steps of 9.92e-05 to 1.07e-04 in float32) or are float64 values that are such a grid rounded to
    float32 (``make_cube(x=...)`` stores float64; see :func:`rounded_float32_grid`). Float64 values that
    float32 merely holds exactly (whole-metre UTM coordinates) get float64's allowance: steps of 30, 31 and
    30 m at a northing of 3e6 m were within float32's (1.4 m there). The tolerance is capped at half a step:
    the gaps that make a grid uneven (``where(..., drop=True)``, ``isel`` with a list) are whole steps, and
    are always refused.

    Raises:
        ConfigError: the steps differ by more than that, e.g. after ``cube.where(mask, drop=True)`` kept
            two separate fields, or ``isel`` with a list.
    """
    given = np.asarray(coords)
    c = given.astype(np.float64)
    if c.size < 3:
        return
    steps = np.diff(c)
    step = abs(float(steps[0]))
    for single in (False, True):
        if single and not (given.dtype == np.float32 or rounded_float32_grid(c)):
            break
        eps = float(np.finfo(np.float32 if single else np.float64).eps)
        atol = min(max(1e-6 * step, 4.0 * eps * float(np.abs(c).max())), 0.5 * step)
        if step != 0 and np.allclose(steps, steps[0], rtol=0.0, atol=atol):
            return
    raise ConfigError(f"{source or 'cube'}: its {dim} coordinates are not evenly spaced (steps from "
                      f"{float(steps.min()):g} to {float(steps.max()):g}, e.g. after where(..., drop=True) or isel with "
                      "a list), so no pixel grid (transform) describes it; use where() without drop, "
                      "cube.hsi.window(...) or rio.clip")


def rounded_float32_grid(c: np.ndarray) -> bool:
    """Whether ``(n,)`` float64 values are an evenly spaced grid rounded to float32.

    True when every value is a float32 number and some ``s + i * d`` (float64) lies within half a float32
    ulp of each ``c[i]``, i.e. rounds to it (ties count). Each step of such values is then within the two
    values' half ulps of ``d``; in that range, by how much the bands ``c[i] - i * d -+ ulp_i / 2`` miss a
    common ``s`` is convex in ``d``, so bisection on ``d`` finds whether some ``s`` fits every value.
    """
    if not bool((c.astype(np.float32).astype(np.float64) == c).all()):
        return False
    half = 0.5 * np.spacing(np.abs(c).astype(np.float32)).astype(np.float64)
    i = np.arange(c.size, dtype=np.float64)
    reach = half[:-1] + half[1:]  # a step of the rounded grid is within these of d
    lo, hi = float((np.diff(c) - reach).max()), float((np.diff(c) + reach).min())
    if lo > hi:
        return False

    def excess(d: float) -> tuple[float, int]:
        """How far the value bands miss a common ``s`` at step ``d``, and the sign of its slope in ``d``."""
        r = c - i * d
        low, high = r - half, r + half
        k_low, k_high = int(np.argmax(low)), int(np.argmin(high))
        return float(low[k_low] - high[k_high]), k_high - k_low

    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        gap, slope = excess(mid)
        if gap <= 0.0:
            return True
        if slope > 0:
            hi = mid
        elif slope < 0:
            lo = mid
        else:
            break
    return min(excess(lo)[0], excess(hi)[0], excess(0.5 * (lo + hi))[0]) <= 0.0
