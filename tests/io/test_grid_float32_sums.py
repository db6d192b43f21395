"""Coordinates summed in float32 (``x[i + 1] = x[i] + d``, ``x0 + np.cumsum(...)``) across a power of two: their
step changes where float32's ulp doubles, so they fit no single straight line, yet they are a regular grid."""

from __future__ import annotations

import numpy as np
import pytest

F32 = np.float32


def _loop(x0: float, d: float, n: int) -> np.ndarray:
    """``(n,)`` float32: ``x[i + 1] = x[i] + d`` summed in float32, as a loop over rows of a product writes them."""
    x = np.empty(n, F32)
    x[0] = F32(x0)
    for i in range(1, n):
        x[i] = x[i - 1] + F32(d)
    return x


def _cumsum(x0: float, d: float, n: int) -> np.ndarray:
    """``(n,)`` float32: ``x0 + np.cumsum(np.full(n, d))`` with a float32 cumulative sum."""
    return F32(x0) + np.cumsum(np.full(n, F32(d)), dtype=F32)


SUMS = {  # each was refused as "not evenly spaced" (the float64 that make_cube stores); each drifts < 0.4 pixel
    "lon 1/120 degree through 64 E, loop": _loop(60.0, 1 / 120, 1000),
    "lon 1/120 degree through 64 E, cumsum": _cumsum(60.0, 1 / 120, 1000),
    "lat through 2 N, cumsum": _cumsum(1.95, 1e-4, 1000),
    "lon 0.05 to 0.55 E (through 0.0625 to 0.5), loop": _loop(0.05, 1e-4, 5000),
    "easting through 2**19 m, 29.9 m loop": _loop(2**19 - 29.9 * 700 + 15.0, 29.9, 1400),
    "easting through 2**19 m, 2.7 m cumsum": _cumsum(2**19 - 2.7 * 1000, 2.7, 2000),
}


@pytest.mark.parametrize("name", list(SUMS))
def test_float32_sums_across_a_power_of_two_keep_their_grid(name: str) -> None:
    from hsi_app.errors import ConfigError
    from hsi_app.io.cube import make_cube
    from hsi_app.io.cube_checks import _fits_a_grid, float32_band

    x = SUMS[name]
    c = x.astype(np.float64)
    assert not _fits_a_grid(c, float32_band(c)), "off any straight line by more than float32 rounding"
    step = (float(x[-1]) - float(x[0])) / (x.size - 1)
    y = F32(35.0) - np.arange(3, dtype=F32) * F32(1e-4)
    cube = make_cube(np.zeros((1, 3, x.size), np.float32), x=x, y=y, crs="EPSG:4326")
    t = cube.hsi.transform
    assert t.a == pytest.approx(step, rel=1e-3) and t.c == pytest.approx(float(x[0]) - step / 2, abs=abs(step))
    with pytest.raises(ConfigError, match="x coordinates are not evenly spaced"):
        cube.isel(x=np.r_[0:10, 11:x.size]).hsi.transform  # one column left out: a gap of a whole step


def test_a_sum_that_drifts_more_than_half_a_pixel_is_refused_with_its_drift() -> None:
    """Steps of 2.5e-4 degrees summed in float32 through 128 E round to 16 then 8 ulps (3 % short each): the
    values end 12 pixels off the line through the first and last, so that line's transform would misplace
    the middle of the scene; the refusal gives the drift. The first 400 values drift 3 pixels, refused too."""
    from hsi_app.errors import ConfigError
    from hsi_app.io.cube import make_cube

    y = F32(35.0) - np.arange(3, dtype=F32) * F32(1e-4)
    for x0, n, drift in [(127.8, 1600, "12.3"), (127.95, 400, "3.1")]:
        x = _loop(x0, 2.5e-4, n)
        cube = make_cube(np.zeros((1, 3, n), np.float32), x=x, y=y, crs="EPSG:4326")
        with pytest.raises(ConfigError, match=rf"x coordinates drift up to {drift} pixels.*float64"):
            cube.hsi.transform
        with pytest.raises(ConfigError, match="drift up to"):  # float32 coordinates as given are judged alike
            cube.assign_coords(x=x).hsi.transform
    sub = _loop(127.95, 2.5e-4, 400)[:150]  # before 128: one run, on one line
    assert make_cube(np.zeros((1, 3, 150), np.float32), x=sub, y=y, crs="EPSG:4326").hsi.transform.a == pytest.approx(
        (float(sub[-1]) - float(sub[0])) / 149, rel=1e-9)


@pytest.mark.parametrize("where", [100, 699, 700, 701])
def test_a_step_off_by_a_tenth_in_a_summed_grid_is_refused(where: int) -> None:
    """Near and at the power of two too, where float32 itself changes the step (by 1/16 m here)."""
    from hsi_app.io.cube_checks import rounded_float32_grid

    x = SUMS["easting through 2**19 m, 29.9 m loop"].astype(np.float64)
    assert rounded_float32_grid(x)
    off = x.copy()
    off[where:] += 3.0  # one step of 32.9 m
    assert (off.astype(F32) == off).all() and not rounded_float32_grid(off)


def test_uneven_whole_metre_steps_and_tiny_steps_stay_refused() -> None:
    """The running-sum model refuses 30/31/30 m at 3e6 m and 30/30.125/30 m at 5e5 m as the straight line does,
    and a sum whose step is a few ulps (0.3 m at 2**20 m: float32 steps by 0.25 or 0.375 m) is no grid."""
    from hsi_app.io.cube_checks import accumulated_float32_grid, rounded_float32_grid

    for x0, steps in [(3_000_015.0, [30.0, 31.0, 30.0]), (500_015.0, [30.0, 30.125, 30.0])]:
        c = x0 + np.r_[0.0, np.cumsum(steps)]
        assert not accumulated_float32_grid(c) and not rounded_float32_grid(c), x0
    assert not rounded_float32_grid(_loop(2**20 - 300.0, 0.3, 2000).astype(np.float64))


def test_a_summed_grid_is_judged_once_for_its_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.io import cube_checks
    from hsi_app.io.cube import make_cube

    judged: list[int] = []
    real = cube_checks.rounded_float32_grid
    monkeypatch.setattr(cube_checks, "rounded_float32_grid", lambda c: judged.append(c.size) or real(c))
    lon = _loop(59.0, 1 / 120, 1203)  # through 64 E; a size no other test uses: nothing remembered yet
    lat = F32(46.0) - np.arange(5, dtype=F32) * F32(1 / 120)
    cube = make_cube(np.zeros((1, 5, lon.size), np.float32), x=lon, y=lat, crs="EPSG:4326")
    first = cube.hsi.transform
    for k in range(0, 1200, 300):  # each window starts at its own first column (the sum drifts off a line)
        assert cube.hsi.window(0, k, 5, 300).hsi.transform.c == pytest.approx(float(lon[k]) - first.a / 2,
                                                                             abs=0.05 * first.a)
    assert cube.hsi.transform == first and judged.count(1203) == 1
