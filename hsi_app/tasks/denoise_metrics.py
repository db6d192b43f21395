"""Restoration metrics (PSNR, SSIM, SAM) through ``torchmetrics``, one-shot or window by window.

Conventions (the HSDT / QRNN3D protocol):

* PSNR and SSIM are computed on the ``[0, 1]`` normalised scale (``data_range=1``):
  PSNR from the mean squared error over all bands and pixels, SSIM with an 11 x 11
  Gaussian window, each band an image channel, averaged.
* SAM (spectral angle, radians, mean over pixels) is computed on the un-normalised
  values, because subtracting an offset changes spectral angles.

:class:`RestorationScores` accumulates the three metrics over windows so that a
whole scene is scored at bounded memory. PSNR and SAM accumulated that way equal the
one-shot values; SSIM is the pixel-weighted mean of the per-window SSIM.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _t(x: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None]


def restoration_metrics(
    estimate: np.ndarray, reference: np.ndarray, *, offset: float = 0.0, scale: float = 1.0
) -> dict[str, float]:
    """PSNR (dB), SSIM and SAM (radians) of one ``(C, H, W)`` cube against a reference.

    Args:
        estimate, reference: ``(C, H, W)`` values on the normalised ``[0, 1]`` scale.
        offset, scale: the normalisation (raw = offset + scale * normalised), used for SAM.

    Returns:
        ``{"psnr", "ssim", "sam"}``.
    """
    scores = RestorationScores(offset=offset, scale=scale)
    scores.update(estimate, reference)
    return scores.compute()


class RestorationScores:
    """Running PSNR / SSIM / SAM over windows (see the module docstring).

    Args:
        offset, scale: normalisation of the values passed to :meth:`update`
            (raw = offset + scale * value); SAM is computed on raw values.
    """

    def __init__(self, *, offset: float = 0.0, scale: float = 1.0) -> None:
        from torchmetrics.image import PeakSignalNoiseRatio, SpectralAngleMapper

        self.offset, self.scale = float(offset), float(scale)
        self._psnr = PeakSignalNoiseRatio(data_range=1.0)
        self._sam = SpectralAngleMapper(reduction="sum")
        self._ssim_sum = 0.0
        self._pixels = 0

    def update(self, estimate: np.ndarray, reference: np.ndarray) -> None:
        """Add one ``(C, h, w)`` window (normalised scale, no NaN)."""
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        est, ref = _t(estimate), _t(reference)
        self._psnr.update(est, ref)
        raw_e = est * self.scale + self.offset
        raw_r = ref * self.scale + self.offset
        self._sam.update(raw_e, raw_r)
        _, h, w = estimate.shape
        if min(h, w) >= 11:
            value = float(ssim(est, ref, data_range=1.0))
        else:  # too small for the 11 x 11 window: fall back to a 3 x 3 one
            value = float(ssim(est, ref, data_range=1.0, kernel_size=3, sigma=0.5))
        self._ssim_sum += value * h * w
        self._pixels += h * w

    def compute(self) -> dict[str, float]:
        """``{"psnr", "ssim", "sam"}`` over every window seen so far."""
        if self._pixels == 0:
            return {"psnr": float("nan"), "ssim": float("nan"), "sam": float("nan")}
        return {
            "psnr": round(float(self._psnr.compute()), 4),
            "ssim": round(self._ssim_sum / self._pixels, 5),
            "sam": round(float(self._sam.compute()) / self._pixels, 5),
        }
