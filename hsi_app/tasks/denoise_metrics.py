"""Restoration metrics (PSNR, MPSNR, SSIM, SAM), one-shot or window by window, with a validity mask.

Definitions. Values are on the ``[0, 1]`` normalised scale (peak 1) unless said otherwise;
"scored entries" are the ``(band, pixel)`` entries kept by the mask (all by default):

* ``psnr``: **global PSNR**, ``10 log10(1 / MSE)`` with one MSE over every scored entry of
  every band. The app's published numbers (README, BENCHMARKS, model cards) are this one.
* ``mpsnr``: **mean of per-band PSNR**, ``mean_b 10 log10(1 / MSE_b)`` over the bands with a
  scored entry: the MPSNR of the HSDT / QRNN3D papers (their evaluation code averages the
  per-band PSNR with a peak of 1). When every band has the same number of scored entries,
  ``mpsnr >= psnr`` (Jensen), with equality only when every band has the same MSE (a mask
  that scores bands unequally can reverse it): under i.i.d. noise the two agree to about 0.01 dB, under
  non-i.i.d. noise (noniid, stripe, deadline, impulse, mixture) they differ by several dB.
  Compare paper MPSNR tables with ``mpsnr``. A band with zero error makes it ``inf``.
* ``ssim``: torchmetrics' SSIM computed per band (each band one image channel): Gaussian
  11 x 11 window with σ = 1.5, K1 = 0.01, K2 = 0.03, ``data_range=1``, reflect padding and
  **no border crop**; the SSIM map is averaged over the scored entries. This is neither the
  border-cropped SSIM of Wang et al. nor the QRNN3D code's (skimage: 7 x 7 uniform window,
  sample covariance, border cropped); those differ from it in the third decimal.
  Images with a side under 11 px use σ = 0.5, for which torchmetrics takes a **5 x 5**
  window (it sizes Gaussian windows from σ as ``2 * int(3.5 σ + 0.5) + 1`` and ignores
  ``kernel_size``); images with a side under 3 px get no SSIM (not counted).
* ``sam``: mean spectral angle (radians) on raw values (``raw = offset + scale * value``,
  because an offset changes angles), in float64, over the pixels whose every band is scored
  and whose estimated and reference spectra both have a non-zero norm; other pixels are
  skipped (an all-zero spectrum has no angle), so one of them cannot make SAM NaN.

Masks (:meth:`RestorationScores.update`): unscored entries may hold NaN; where either array
is non-finite there, both are set to 0. Unscored values still enter the SSIM windows of
scored neighbours, so a caller can pass a window with a halo of context around its scored core.

:class:`RestorationScores` accumulates over windows at bounded memory: per-band squared
errors and counts (so ``psnr`` and ``mpsnr`` equal the one-shot values), angle sums and the
sum of the SSIM map over scored entries (exact too when each window carries the 5 px of
context the 11 x 11 window needs).
"""

from __future__ import annotations

import numpy as np

from hsi_app.errors import ConfigError, InvalidDataError

SSIM_SIGMA = 1.5  # torchmetrics' default: an 11 x 11 Gaussian window
SMALL_SSIM_SIGMA = 0.5  # for images under 11 px: torchmetrics then uses a 5 x 5 window
NAN_SCORES = {"psnr": float("nan"), "mpsnr": float("nan"), "ssim": float("nan"), "sam": float("nan")}


def gaussian_window_side(sigma: float) -> int:
    """Side of the Gaussian SSIM window torchmetrics uses for ``sigma``: ``2 * int(3.5 sigma + 0.5) + 1``."""
    return 2 * int(3.5 * sigma + 0.5) + 1


def restoration_metrics(
    estimate: np.ndarray,
    reference: np.ndarray,
    *,
    offset: float = 0.0,
    scale: float = 1.0,
    mask: np.ndarray | None = None,
) -> dict[str, float]:
    """PSNR, MPSNR (dB), SSIM and SAM (radians) of one ``(C, H, W)`` cube against a reference.

    Args:
        estimate, reference: ``(C, H, W)`` values on the normalised ``[0, 1]`` scale.
        offset, scale: the normalisation (raw = offset + scale * normalised), used for SAM.
        mask: ``(C, H, W)`` or ``(H, W)`` bool, True = scored (default: everything).

    Returns:
        ``{"psnr", "mpsnr", "ssim", "sam"}`` (see the module docstring).

    Warns:
        HSIWarning: the reference's median magnitude (over scored finite entries) exceeds
            :data:`RAW_SCALE_MEDIAN`: values on a raw scale (e.g. reflectance x 10000), on which PSNR and
            SSIM (peak 1) mean nothing.

    Raises:
        ConfigError: ``offset`` or ``scale`` not a finite number.
        InvalidDataError: see :meth:`RestorationScores.update`.
    """
    scores = RestorationScores(offset=offset, scale=scale)
    scores.update(estimate, reference, mask)
    _warn_raw_scale(reference, mask)
    return scores.compute()


RAW_SCALE_MEDIAN = 10.0
"""A reference whose median magnitude exceeds this is not on the ``[0, 1]`` scale (:func:`restoration_metrics` warns)."""


def _warn_raw_scale(reference: np.ndarray, mask: np.ndarray | None) -> None:
    """One :class:`~hsi_app.errors.HSIWarning` line when ``reference`` (already checked) looks raw, not normalised."""
    import warnings

    from hsi_app.errors import HSIWarning

    ref = np.asarray(reference)
    values = ref if mask is None else ref[np.broadcast_to(np.asarray(mask, dtype=bool), ref.shape)]
    values = np.abs(values[np.isfinite(values)])
    if values.size and float(np.median(values)) > RAW_SCALE_MEDIAN:
        warnings.warn(f"restoration_metrics: the reference's values have a median magnitude of "
                      f"{float(np.median(values)):.4g}; PSNR and SSIM take values on the [0, 1] scale (peak 1): pass "
                      "(raw - offset) / scale for both arrays, with offset= and scale= for SAM", HSIWarning, stacklevel=2)


def _finite_number(value: object, name: str) -> float:
    """``value`` as a finite float.

    Raises:
        ConfigError: not a number, or NaN/inf (every SAM would turn NaN).
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise ConfigError(f"restoration metrics: {name}={value!r}; it is a finite number (raw = offset + scale * "
                          "value, e.g. offset=0.0, scale=1.0 for values already on the raw scale)")
    return number


class RestorationScores:
    """Running PSNR / MPSNR / SSIM / SAM over windows (see the module docstring).

    Args:
        offset, scale: normalisation of the values passed to :meth:`update`
            (raw = offset + scale * value); SAM is computed on raw values.
    """

    def __init__(self, *, offset: float = 0.0, scale: float = 1.0) -> None:
        self.offset, self.scale = _finite_number(offset, "offset"), _finite_number(scale, "scale")
        self._sse: np.ndarray | None = None  # (C,) float64 squared error per band
        self._count: np.ndarray | None = None  # (C,) int64 scored entries per band
        self._angle_sum = 0.0
        self._angle_pixels = 0
        self._ssim_sum = 0.0
        self._ssim_entries = 0

    def update(self, estimate: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Add one ``(C, h, w)`` window on the normalised scale.

        Args:
            estimate, reference: ``(C, h, w)``; finite wherever ``mask`` is True.
            mask: ``(C, h, w)`` or ``(h, w)`` bool, True = scored; ``None`` scores everything.

        Raises:
            InvalidDataError: shapes that differ, another band count than earlier windows,
                or a non-finite value in a scored entry.
        """
        est = np.asarray(estimate, dtype=np.float32)
        ref = np.asarray(reference, dtype=np.float32)
        keep = self._check(est, ref, mask)
        c = est.shape[0]
        bad = ~(np.isfinite(est) & np.isfinite(ref))
        if bad.any():  # only in unscored entries (checked): zero in both; SSIM windows of scored pixels next to
            # them still see that fill, so SSIM near no-data depends on it slightly (PSNR and SAM do not)
            est, ref = np.where(bad, np.float32(0), est), np.where(bad, np.float32(0), ref)
        if self._sse is None or self._count is None:
            self._sse, self._count = np.zeros(c, dtype=np.float64), np.zeros(c, dtype=np.int64)
        dot = np.zeros(est.shape[1:], dtype=np.float64)
        norm_e = np.zeros_like(dot)
        norm_r = np.zeros_like(dot)
        for b in range(c):  # band by band: float64 work arrays of one band only
            e, r = est[b].astype(np.float64), ref[b].astype(np.float64)
            self._sse[b] += float(np.sum((e - r) ** 2, where=keep[b]))
            self._count[b] += int(keep[b].sum())
            e, r = e * self.scale + self.offset, r * self.scale + self.offset
            dot += e * r
            norm_e += e * e
            norm_r += r * r
        spectra = keep.all(axis=0) & (norm_e > 0) & (norm_r > 0)
        cos = dot[spectra] / np.sqrt(norm_e[spectra] * norm_r[spectra])
        self._angle_sum += float(np.arccos(np.clip(cos, -1.0, 1.0)).sum())
        self._angle_pixels += int(spectra.sum())
        ssim_map = _ssim_map(est, ref)
        if ssim_map is not None:
            self._ssim_sum += float(np.sum(ssim_map, where=keep, dtype=np.float64))
            self._ssim_entries += int(keep.sum())

    def _check(self, est: np.ndarray, ref: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """The ``(C, h, w)`` bool mask after checking shapes and scored values."""
        if est.ndim != 3 or est.shape != ref.shape:
            raise InvalidDataError(
                f"restoration metrics: estimate {est.shape} and reference {ref.shape} must be the same (C, H, W) shape"
            )
        if self._sse is not None and est.shape[0] != self._sse.shape[0]:
            raise InvalidDataError(
                f"restoration metrics: a {est.shape[0]}-band window after {self._sse.shape[0]}-band ones; "
                "score one band set"
            )
        if mask is None:
            keep = np.ones(est.shape, dtype=bool)
        else:
            m = np.asarray(mask, dtype=bool)
            if m.shape not in (est.shape, est.shape[1:]):
                raise InvalidDataError(
                    f"restoration metrics: mask {m.shape} fits neither {est.shape} nor {est.shape[1:]}"
                )
            keep = np.broadcast_to(m, est.shape)
        bad = keep & ~(np.isfinite(est) & np.isfinite(ref))
        if bad.any():
            b, r, col = (int(v[0]) for v in np.nonzero(bad))
            raise InvalidDataError(
                f"restoration metrics: NaN/inf in a scored entry (band {b + 1}, row {r}, col {col}); mask it out"
            )
        return keep

    def compute(self) -> dict[str, float]:
        """``{"psnr", "mpsnr", "ssim", "sam"}`` over every scored entry seen so far (NaN if none)."""
        if self._sse is None or self._count is None or self._count.sum() == 0:
            return dict(NAN_SCORES)
        bands = self._count > 0
        with np.errstate(divide="ignore"):
            psnr = 10 * np.log10(self._count.sum() / self._sse.sum())
            mpsnr = float(np.mean(10 * np.log10(self._count[bands] / self._sse[bands])))
        ssim = self._ssim_sum / self._ssim_entries if self._ssim_entries else float("nan")
        sam = self._angle_sum / self._angle_pixels if self._angle_pixels else float("nan")
        return {"psnr": round(float(psnr), 4), "mpsnr": round(mpsnr, 4), "ssim": round(ssim, 5), "sam": round(sam, 5)}


def _ssim_map(est: np.ndarray, ref: np.ndarray) -> np.ndarray | None:
    """``(C, h, w)`` torchmetrics SSIM map of two finite ``(C, h, w)`` arrays, or None under 3 px."""
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    h, w = est.shape[1:]
    sigma = SSIM_SIGMA if min(h, w) >= gaussian_window_side(SSIM_SIGMA) else SMALL_SSIM_SIGMA
    if min(h, w) < gaussian_window_side(SMALL_SSIM_SIGMA) // 2 + 1:  # reflect padding needs side > radius
        return None
    a, b = torch.from_numpy(np.ascontiguousarray(est))[None], torch.from_numpy(np.ascontiguousarray(ref))[None]
    _, full = ssim(a, b, data_range=1.0, sigma=sigma, return_full_image=True)
    return full[0].numpy()
