"""``hsi denoise``'s window read as it was before session 51, the reference for the new one.

The test that the new reading gives bit-identical output (tests/tasks/test_denoise_reads.py) and the
read benchmark (benchmarks/bench_denoise_reads.py) both run it in place of ``denoise_scene._read``.
"""

from __future__ import annotations

import numpy as np

from hsi_app.io.cube import Cube


def old_read(cube: Cube, r: int, c: int, h: int, w: int) -> np.ndarray:
    """``(C, h, w)`` float32 window at row ``r``, column ``c``, no-data and invalid pixels NaN.

    The window's values and valid mask are computed together, so the whole storage chunks it
    touches are read.
    """
    win = cube.hsi.window(r, c, h, w).compute()
    block = np.asarray(win.values, dtype=np.float32)
    nodata = cube.hsi.nodata
    if nodata is not None:
        block[block == np.float32(nodata)] = np.nan
    good = ~np.asarray(win.coords["bad_band"].values, dtype=bool)
    valid = np.asarray(win.hsi.valid.values, dtype=bool)
    block[:, ~valid & np.isfinite(block[good]).all(axis=0)] = np.nan
    return block
