"""Memory held under ``hsi denoise``'s forward passes (session 55).

The model's forward pass is the peak of a windowed denoise; what is held while it runs adds to it:
the previous window's arrays are released first, and GDAL's block cache is capped while the windows
stream (a ``GDAL_CACHEMAX`` the user set is left alone). Output values are unchanged (the benchmark
``benchmarks/bench_denoise_memory.py`` checks them bit for bit against the old code).
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import pytest

from hsi_app.gdal_env import GDAL_CACHE_MB
from hsi_app.io import open_cube
from hsi_app.tasks.denoise_scene import denoise_cube
from hsi_app.tasks.denoising import Denoiser
from tests.tasks.test_denoising import geotiff, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cache_mb() -> float | None:
    """GDAL's block cache limit set now, in MB (GDAL reads values under 100000 as MB, others as bytes);
    ``None``: none set (GDAL's default, 5 % of RAM)."""
    from rasterio._env import get_gdal_config

    value = get_gdal_config("GDAL_CACHEMAX")
    if value is None:
        return None
    return int(value) if int(value) < 100000 else int(value) / 2**20


def _scene(tmp_path: Path) -> tuple[Denoiser, Path]:
    data = smooth_cube(h=120, w=150)
    return Denoiser.load(untrained_run(tmp_path)), geotiff(tmp_path / "in.tif", data)


@pytest.mark.parametrize("reference", [False, True])
def test_previous_window_is_released_before_the_next_forward_pass(tmp_path: Path, reference: bool) -> None:
    """No array the previous window's forward pass took or returned is alive when the next one starts."""
    den, src = _scene(tmp_path)
    real = den.denoise_normalised
    previous: list[weakref.ref] = []
    alive_at_start: list[int] = []

    def forward(x: np.ndarray) -> np.ndarray:
        alive_at_start.append(sum(r() is not None for r in previous))
        y = real(x)
        previous[:] = [weakref.ref(x), weakref.ref(y)]
        return y

    den.denoise_normalised = forward  # type: ignore[method-assign]
    res = denoise_cube(den, open_cube(src), tmp_path / "out.tif", window=52, progress=False,
                       reference=open_cube(src) if reference else None)
    assert res.windows == len(alive_at_start) == 9
    assert alive_at_start == [0] * 9


@pytest.mark.parametrize(("env", "expected"), [("cli", "capped"), (None, "capped"), ("300", "user"),
                                               (str(GDAL_CACHE_MB), "user")])
def test_gdal_cache_is_capped_while_windows_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   env: str | None, expected: str) -> None:
    """The CLI's default cache (or GDAL's own) is lowered below the CLI's during the windows and restored
    after them; a GDAL_CACHEMAX the user set is left in force, even one equal to the CLI's default (it was
    taken for the CLI's own and lowered)."""
    from hsi_app import gdal_env

    monkeypatch.setattr(gdal_env, "_SET_HERE", [])
    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    if env == "cli":
        gdal_env.cap_gdal_cache()  # as hsi's main() does before any command
    elif env is not None:
        monkeypatch.setenv("GDAL_CACHEMAX", env)
    den, src = _scene(tmp_path)
    before = _cache_mb()
    real = den.denoise_normalised
    during: list[float] = []

    def forward(x: np.ndarray) -> np.ndarray:
        during.append(_cache_mb())
        return real(x)

    den.denoise_normalised = forward  # type: ignore[method-assign]
    denoise_cube(den, open_cube(src), tmp_path / "out.tif", window=52, progress=False)
    assert len(during) == 9
    if expected == "user":
        assert during == [before] * 9  # as in force before (rasterio may have pinned an earlier value)
    else:
        assert all(mb is not None and mb < GDAL_CACHE_MB for mb in during)
    assert _cache_mb() == before
