"""One fill value per band for the no-data of a whole scene (``hsi denoise --fill-nan``).

The fill must not depend on how the scene is cut into windows, or the denoised values near
no-data (through the model's receptive field) would change with ``--window``. So it is computed
once, before any window is denoised: the band's median over the scene's valid values.

Exact up to :data:`FILL_SAMPLE_PX` pixels. A larger scene is sampled on a regular grid
(every ``s``-th row and column, counted from the scene's top-left pixel, with the smallest
``s`` that keeps at most :data:`FILL_SAMPLE_PX` pixels), so the memory stays bounded
(``FILL_SAMPLE_PX`` × bands × 4 bytes, 200 MB at 200 bands) and the value is deterministic
and the same for every windowing. The sample is read window by window.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

FILL_SAMPLE_PX = 250_000
"""Most pixels whose values enter the fill median (500 x 500); smaller scenes use every pixel."""

Reader = Callable[[int, int, int, int], np.ndarray]
"""``read(row, col, height, width)`` -> ``(C, height, width)`` float32, no-data as NaN."""


def sample_stride(height: int, width: int, cap: int = FILL_SAMPLE_PX) -> int:
    """Smallest row/column step ``s`` with ``ceil(height / s) * ceil(width / s) <= cap``."""
    s = max(1, math.isqrt(max(0, height * width // max(cap, 1))))
    while math.ceil(height / s) * math.ceil(width / s) > cap:
        s += 1
    return s


def scene_band_medians(read: Reader, height: int, width: int, window: int, *, cap: int = FILL_SAMPLE_PX,
                       progress: bool = False, empty: float = 0.0) -> np.ndarray:
    """Per-band median of the valid values on the scene's sample grid.

    Args:
        read: window reader (no-data as NaN).
        height, width: scene size in pixels.
        window: side of the windows read (memory: one window at a time, plus the sample).
        cap: most sampled pixels (see :func:`sample_stride`).
        progress: show a progress bar over the windows read.
        empty: the value of a band with no valid value in the sample.

    Returns:
        ``(C,)`` float32 medians; ``empty`` (0) for a band with no valid value in the sample.
    """
    from hsi_app.infer import strided_sample

    values = strided_sample(lambda win: read(win.row, win.col, win.height, win.width), height, width, window,
                            sample_stride(height, width, cap), progress=progress, desc="no-data fill")
    finite = np.isfinite(values)
    med = np.array([np.median(band[ok]) if ok.any() else empty for band, ok in zip(values, finite)], dtype=np.float32)
    return med


def band_medians(image: np.ndarray, empty: float = 0.0) -> np.ndarray:
    """``(C,)`` float32: each band's median of the valid values of ``image`` ``(C, H, W)`` (NaN = no data; ``empty``
    for a band without any), on the sample grid ``hsi denoise --fill-nan`` uses
    (:func:`~hsi_app.tasks.denoise_fill.scene_band_medians`), so training and inference fill with the same values."""
    _, h, w = image.shape
    return scene_band_medians(lambda r, col, hh, ww: image[:, r:r + hh, col:col + ww], h, w, max(h, w), empty=empty)


def fill_no_data(norm: np.ndarray, medians: np.ndarray | None = None) -> np.ndarray:
    """``norm`` ``(C, H, W)`` with each band's NaN (no data) set to ``medians`` (``(C,)``; default: its own
    :func:`band_medians`).

    As ``hsi denoise --fill-nan`` fills a scene, so training patches, the
    held-out block's model and baselines, and a training subspace see no-data as at inference; 0, the training
    minimum, was an edge that the baselines' filters smeared into the scored pixels beside a no-data collar.
    """
    bad = np.isnan(norm)
    if not bad.any():
        return norm
    med = band_medians(norm) if medians is None else np.asarray(medians, np.float32)
    return np.where(bad, med[:, None, None], norm)
