"""Checks of what :func:`hsi_app.io.cube.make_cube` is given, and of a cube's x/y grid.

Per-band vectors (wavelength, FWHM), bad-band indices and pixel-centre coordinates are checked for one
value per band / row / column, and a cube's x/y coordinates for even spacing (no affine transform
describes a grid with gaps). Each refusal is one :class:`~hsi_app.errors.HSIError` line.
"""

from __future__ import annotations

import threading
import zlib
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


def check_nanometres(wl: np.ndarray) -> None:
    """Refuse ``make_cube`` band centres that are not in nanometres: micrometres (every centre below
    :data:`~hsi_app.io.wavelength_units.MAX_MICROMETRES`) or band numbers (``1, 2, ..., C`` or from 0).
    Either would be taken for nanometres below any optical band, and every model or spectral library
    compared with the cube would then miss by hundreds of nm. NaN (unknown) centres pass.

    Raises:
        BandMismatchError: one line with the values and the fix.
    """
    from hsi_app.io.wavelength_units import MAX_MICROMETRES, MIN_VALUES_TO_JUDGE

    finite = wl[np.isfinite(wl)]
    if finite.size == 0:
        return
    if (finite.size >= MIN_VALUES_TO_JUDGE and finite[0] in (0.0, 1.0) and np.all(np.diff(finite) == 1.0)):
        raise BandMismatchError(f"make_cube: wavelength {finite[0]:g}, {finite[1]:g}, ..., {finite[-1]:g} are band "
                                "numbers, not band centres in nm; pass wavelength=None when the centres are unknown")
    if finite.size < MIN_VALUES_TO_JUDGE and finite[0] in (0.0, 1.0) and np.all(np.diff(finite) == 1.0):
        shown = ", ".join(f"{v:g}" for v in finite)  # too few values to tell band numbers from micrometres
        raise BandMismatchError(f"make_cube: wavelength {shown} look like band numbers or micrometres, not band "
                                "centres in nm; pass wavelength=None when the centres are unknown, or "
                                "wavelength * 1000 for micrometres")
    if finite.max() < MAX_MICROMETRES:
        raise BandMismatchError(f"make_cube: wavelength {finite.min():g}-{finite.max():g} looks like micrometres; "
                                "band centres are in nm: pass wavelength * 1000")


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
    has steps of 9.92e-05 to 1.07e-04 in float32) or are float64 values of a grid that went through float32
    (rounded to it, computed in float32 arithmetic, or summed in float32 across a power of two;
    ``make_cube(x=...)`` stores float64; see :func:`rounded_float32_grid`). Float64 values that
    float32 merely holds exactly (whole-metre UTM coordinates) get float64's allowance: steps of 30, 31 and
    30 m at a northing of 3e6 m were within float32's (1.4 m there). The tolerance is capped at half a step:
    the gaps that make a grid uneven (``where(..., drop=True)``, ``isel`` with a list) are whole steps, and
    are always refused.

    Steps within that allowance may still add up: a value further than :data:`MAX_SUM_DRIFT_PX` from the
    line through the first and last value is refused too (float32 coordinates summed in float32).

    Raises:
        ConfigError: the steps differ by more than that, e.g. after ``cube.where(mask, drop=True)`` kept
            two separate fields, or ``isel`` with a list; or they drift more than half a pixel.
    """
    given = np.asarray(coords)
    c = given if given.dtype == np.float64 else given.astype(np.float64)  # a view keeps its base (see the cache)
    if c.size < 3:
        return
    steps = np.diff(c)
    step = abs(float(steps[0]))
    for single in (False, True):
        if single and not (given.dtype == np.float32 or remembered_float32_grid(c)):
            break
        eps = float(np.finfo(np.float32 if single else np.float64).eps)
        atol = min(max(1e-6 * step, 4.0 * eps * float(np.abs(c).max())), 0.5 * step)
        if step != 0 and np.allclose(steps, steps[0], rtol=0.0, atol=atol):
            spread = float(steps.max() - steps.min())  # each value is within n * spread of the first-to-last line
            if c.size * spread <= MAX_SUM_DRIFT_PX * (step - spread):
                return  # no drift to measure (every float64 grid, most float32 ones): skip the O(n) pass
            drift = sum_drift_px(c)
            if drift <= MAX_SUM_DRIFT_PX:
                return
            raise ConfigError(f"{source or 'cube'}: its {dim} coordinates drift up to {drift:.1f} pixels from the even "
                              "grid through the first and last (steps rounded alike add up, as a float32 running "
                              "sum does), so a pixel grid (transform) would misplace pixels; store them in float64 "
                              "as first + i * step")
    raise ConfigError(f"{source or 'cube'}: its {dim} coordinates are not evenly spaced (steps from "
                      f"{float(steps.min()):g} to {float(steps.max()):g}, e.g. after where(..., drop=True) or isel with "
                      "a list), so no pixel grid (transform) describes it; use where() without drop, "
                      "cube.hsi.window(...) or rio.clip")


MIN_STEP_REACHES = 4.0
"""A running sum is taken for a grid only when its step exceeds this many times a step's rounding allowance
(:func:`accumulated_float32_grid`; 6 to 9 float32 ulps of the coordinates): then a missing value (a step
of ``2 d``) or a step off by a fraction of ``d`` is out of reach. A step of a few ulps (0.3 m at 4e6 m, where
float32 steps by 0.25 or 0.5 m) makes no grid that float32 can carry."""

MAX_SUM_DRIFT_PX = 0.5
"""Coordinates are taken for a grid only while no value is further than this many steps from the straight
line through its first and last value (the transform that grid gets): then every stored centre lies inside the
pixel the transform gives it. A float32 sum whose step is a few dozen ulps drifts further (12 pixels over 1600
steps of 2.5e-4 degrees through 128 E); its map coordinates would be wrong by that much, so it is refused."""

_VERDICTS: dict[tuple[int, int, float, float], bool] = {}  # (size, crc32, first, last) -> rounded_float32_grid
_VERDICTS_LOCK = threading.Lock()
_VERDICTS_KEPT = 64


def remembered_float32_grid(c: np.ndarray) -> bool:
    """:func:`rounded_float32_grid` of ``(n,)`` float64 ``c``, remembered per coordinate vector.

    ``cube.hsi.transform`` checks the cube's x/y on every access, and ``window()`` reads it once per window:
    the bisection costs about 30 ms for 100,000 values each time, the lookup a crc32 of them (under 1 ms).
    Verdicts are keyed on the values themselves (size, crc32 of their bytes, first and last value), not on
    the array object, so a changed vector is judged again. A slice of a vector judged a grid is one too: when
    ``c`` is a view (``isel``/``sel`` of a cube share its coordinates' buffer) of a 1-D float64 array already
    judged a grid, that verdict stands without judging ``c``.
    """
    if c.size < 2:
        return False
    root = c
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root is not c and root.ndim == 1 and root.dtype == np.float64 and root.flags.c_contiguous:
        whole = _verdict_key(root)
        with _VERDICTS_LOCK:
            if _VERDICTS.get(whole, False):
                return True
    key = _verdict_key(c)
    with _VERDICTS_LOCK:
        known = _VERDICTS.get(key)
    if known is not None:
        return known
    verdict = rounded_float32_grid(c)
    with _VERDICTS_LOCK:
        if len(_VERDICTS) >= _VERDICTS_KEPT:
            del _VERDICTS[next(iter(_VERDICTS))]  # the oldest
        _VERDICTS[key] = verdict
    return verdict


def _verdict_key(c: np.ndarray) -> tuple[int, int, float, float]:
    """What identifies ``(n,)`` float64 values in the verdict cache: size, crc32 of the bytes, first, last."""
    return c.size, zlib.crc32(memoryview(np.ascontiguousarray(c)).cast("B")), float(c[0]), float(c[-1])


def rounded_float32_grid(c: np.ndarray) -> bool:
    """Whether ``(n,)`` float64 values are an evenly spaced grid that went through float32.

    Every value must be a float32 number, and the values must fit one of two models of float32 arithmetic:

    * **one straight line** (:func:`_fits_a_grid`): some ``s + i * d`` (float64) lies within
      :func:`float32_band` of each ``c[i]`` (ties count): 1.5 times ``ulp_i / 2 + ulp(extent) / 2``,
      ``ulp_i`` float32's ulp at ``c[i]`` and ``extent`` = ``max |c - c[0]|``. ``ulp_i / 2 + ulp(extent) / 2``
      bounds the error of float32 arithmetic ``s + i * d`` (``np.arange(..., dtype=float32)``, lat/lon vectors
      an HDF5 product computed in float32): half an ulp from rounding ``i * d`` plus half an ulp from rounding
      the sum; a float64 grid rounded once to float32 is within half an ulp.
    * **a running sum** (:func:`accumulated_float32_grid`): ``x[i + 1] = x[i] + d`` in float32, or
      ``x0 + np.cumsum(steps)`` with a float32 cumulative sum. Each addition rounds to the ulp of the sum, so
      while the sum stays between two powers of two its step is ``d`` rounded to that ulp, the same step every
      time; where it crosses one (a lat/lon grid through 64 or 128 degrees, a projected one through
      2**19 = 524288 m, a sum from 0.05 to 2) the ulp doubles and the step changes by up to an ulp. Such a
      grid drifts off any one straight line; while it stays within half a pixel of the line through its first
      and last value, every centre lies in the pixel that line's transform gives it and it is taken as that
      grid; :func:`check_evenly_spaced` refuses one drifting further (:data:`MAX_SUM_DRIFT_PX`; 12 pixels for
      1600 steps of 2.5e-4 degrees through 128 E would put pixels where they are not).

    Why 1.5 times half an ulp: whole-metre UTM steps of 30, 31, 30 m at 3e6 m (float32 ulp 0.25 m) and 30,
    30.125, 30 m at 5e5 m (ulp 1/32 m) are 2 ulps apart after the best straight line, so a band of ``+-1``
    ulp would take both (a tie) and one of ``+-0.5`` ulp plus the offset term refuses them with 2x to spare
    but leaves float32 arithmetic none (it used up to 0.999 of that band). At 1.5 times, the UTM steps need
    1.33 bands, and float32 arithmetic ``s + i * d`` uses at most 0.67 of one (300 random grids, 3 to 5000
    values, steps 1e-5 to 0.1, starts -180 to 180; ``10 + i * 2.5e-4`` at 0.66; tests/io/test_grid_transform.py
    checks both sides). When the extent nears the coordinates' size (a 1e5 m wide scene at 5e5 m), the offset
    term widens the band and a 1/8 m step error there may pass, as float32 arithmetic could make it. The
    running-sum model refuses those UTM steps too: one step of 31 m (or 30.125 m) and one of 30 m cannot both
    be within 1.5 half-ulps of one ``d``.

    Each step of such values is within its two values' bands of ``d``; in that range, by how much the
    bands ``c[i] - i * d -+ band_i`` miss a common ``s`` is convex in ``d``, so bisection on ``d`` finds
    whether some ``s`` fits every value.
    """
    if c.size < 2 or not bool((c.astype(np.float32).astype(np.float64) == c).all()):
        return False
    return _fits_a_grid(c, float32_band(c)) or accumulated_float32_grid(c)


def _ulp32(v: np.ndarray) -> np.ndarray:
    """``v``'s shape, float64: float32's spacing at ``|v|`` (the coarser side at a power of two)."""
    return np.spacing(np.abs(v).astype(np.float32)).astype(np.float64)


def _run_bounds(*sums: np.ndarray) -> np.ndarray:
    """``[0, ..., n]``: where a run of ``(n,)`` magnitudes ``sums`` ends, that is where any of them enters another
    power-of-two range (float32's ulp changes there)."""
    change = np.logical_or.reduce([np.diff(np.frexp(v)[1]) != 0 for v in sums])
    return np.r_[0, np.flatnonzero(change) + 1, sums[0].size]


def accumulated_float32_grid(c: np.ndarray) -> bool:
    """Whether ``(n,)`` float64 values (float32 numbers, ``n >= 2``) are a float32 running sum of one step ``d``.

    Two ways of summing, each judged by itself:

    * the coordinate is the sum: ``x[i + 1] = fl32(x[i] + d)`` (a loop, ``np.cumsum([x0, d, d, ...])``). The
      sum's ulp is ``ulp(x)``, so runs end where ``|x|`` enters another power-of-two range;
    * a sum added to a start: ``x[i] = fl32(x0 + S[i])`` with ``S`` a float32 ``np.cumsum`` of ``d`` (from 0 or
      from ``d``). The sum's ulp is ``ulp(S)``, runs end where ``|S|`` (``|x - x[0]|``, or one step more)
      enters another range, and each value is rounded once more, by ``ulp(x) / 2``.

    Within a run the sum's ulp is fixed, so its step is ``d`` rounded to it, the same every time: the run's
    values must lie on one straight line within 1.5 times their rounding (half an ulp of the value, plus half
    of the sum's for the second way). That line's step, bounded by the run's first and last value, must be
    within 1.5 half-ulps of the sum of ``d``; every single step (across runs too) within 1.5 times its own
    rounding of ``d``. Some ``d`` must meet all of this, larger than :data:`MIN_STEP_REACHES` times the largest
    allowance of a step. So a gap (one step of ``2 d``), a step off by more than rounding, or a drift of the step
    inside a run is refused; only the changes of step float32 makes where its ulp doubles pass. How far such a sum
    may drift off the line through its first and last value is :func:`check_evenly_spaced`'s to judge.
    """
    steps = np.diff(c)
    ulp_c = _ulp32(c)
    sums = np.abs(c - c[0])
    sums[0] = sums[1]  # the start belongs to the first run
    shifted = sums + abs(float(steps[0]))  # np.cumsum(np.full(n, d)) starts at d
    ulp_s = _ulp32(shifted)
    own = _run_bounds(np.abs(c))
    if _fits_runs(c, own, 0.75 * ulp_c, 0.75 * np.maximum(ulp_c[:-1], ulp_c[1:]), ulp_c):
        return True
    added = _run_bounds(sums, shifted)
    return _fits_runs(c, added, 0.75 * (ulp_c + ulp_s), 0.75 * (ulp_c[:-1] + ulp_c[1:] + ulp_s[1:]), ulp_s)


def sum_drift_px(c: np.ndarray) -> float:
    """How far ``(n,)`` float64 coordinates stray from the line through their first and last value, in steps
    (pixels) of that line: ``max |c[i] - (c[0] + i * (c[-1] - c[0]) / (n - 1))| / |step|``; inf for no step."""
    n = c.size
    step = (float(c[-1]) - float(c[0])) / (n - 1)
    if step == 0.0:
        return float("inf")
    line = float(c[0]) + step * np.arange(n, dtype=np.float64)
    return float(np.abs(c - line).max()) / abs(step)


def _fits_runs(c: np.ndarray, bounds: np.ndarray, band: np.ndarray, reach: np.ndarray, ulp_sum: np.ndarray) -> bool:
    """One model of :func:`accumulated_float32_grid`: some step ``d`` with each step of ``(n,)`` ``c`` within
    ``reach`` ``(n - 1,)`` of it, each run (``bounds``) on a line within ``band`` ``(n,)``, and that line's step
    within ``0.75 * ulp_sum`` (``(n,)``, the sum's ulp; its largest in the run) of ``d``."""
    steps = np.diff(c)
    lo, hi = float((steps - reach).max()), float((steps + reach).min())
    if lo > hi or min(abs(lo), abs(hi)) <= MIN_STEP_REACHES * float(reach.max()) or lo <= 0.0 <= hi:
        return False
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if b - a < 3:
            continue  # its steps are bounded above
        run, half = c[a:b], band[a:b]
        if not _fits_a_grid(run, half):
            return False
        slack = 0.75 * float(ulp_sum[a:b].max())
        span, widen, m = float(run[-1] - run[0]), float(half[0] + half[-1]), b - a - 1
        lo, hi = max(lo, (span - widen) / m - slack), min(hi, (span + widen) / m + slack)
        if lo > hi:
            return False
    return True


def float32_band(c: np.ndarray) -> np.ndarray:
    """``(n,)`` how far each of ``(n,)`` coordinates ``c`` may lie off a regular grid after float32 arithmetic.

    1.5 times ``ulp32(c[i]) / 2 + ulp32(max |c - c[0]|) / 2`` (see :func:`rounded_float32_grid` for why).
    """
    extent = float(np.abs(c - c[0]).max())
    ulp = np.spacing(np.abs(c).astype(np.float32)).astype(np.float64)
    return 1.5 * (0.5 * ulp + 0.5 * float(np.spacing(np.float32(extent))))


def _fits_a_grid(c: np.ndarray, half: np.ndarray) -> bool:
    """Whether some ``s + i * d`` lies within ``half[i]`` of each ``c[i]`` (``(n,)`` float64 each)."""
    i = np.arange(c.size, dtype=np.float64)
    reach = half[:-1] + half[1:]  # a step of such values is within these of d
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
