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
    of float32 when they are float32 or float64 values that float32 holds exactly (``make_cube(x=...)``
    stores float64), else of float64 (float32 coordinates, e.g. lat/lon vectors from an HDF5 product, or any ``.astype``:
    each is off by half an ulp of ``max|c|``, so two steps by at most 2 ulps; a 1e-4 degree grid at 120 E
    has steps of 9.92e-05 to 1.07e-04 in float32). The tolerance is capped at half a step: the gaps that
    make a grid uneven (``where(..., drop=True)``, ``isel`` with a list) are whole steps, and are always
    refused.

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
    single = given.dtype == np.float32 or bool((c.astype(np.float32).astype(np.float64) == c).all())
    eps = float(np.finfo(np.float32 if single else np.float64).eps)  # float32 values kept as float64 too
    atol = min(max(1e-6 * step, 4.0 * eps * float(np.abs(c).max())), 0.5 * step)
    if step != 0 and np.allclose(steps, steps[0], rtol=0.0, atol=atol):
        return
    raise ConfigError(f"{source or 'cube'}: its {dim} coordinates are not evenly spaced (steps from "
                      f"{float(steps.min()):g} to {float(steps.max()):g}, e.g. after where(..., drop=True) or isel with "
                      "a list), so no pixel grid (transform) describes it; use where() without drop, "
                      "cube.hsi.window(...) or rio.clip")
