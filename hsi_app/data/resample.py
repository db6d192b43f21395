"""Spectral resampling between band sets with Gaussian spectral response functions.

Each target band ``j`` (centre ``mu_j``, width ``fwhm_j``) is a weighted mean of the
source bands, weights ``exp(-(lambda_i - mu_j)^2 / (2 sigma_j^2))`` with
``sigma_j = fwhm_j / (2 sqrt(2 ln 2))``. Used to bring a scene to a model's bands
(``hsi predict --resample``) and to simulate one sensor from another (e.g. EnMAP-like
bands from AVIRIS).
"""

from __future__ import annotations

import numpy as np

from hsi_app.errors import BandMismatchError

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _fill_fwhm(centres: np.ndarray, fwhm: np.ndarray | None) -> np.ndarray:
    """FWHM per band; unknown values fall back to the local band spacing."""
    spacing = np.gradient(centres) if centres.size > 1 else np.array([10.0])
    if fwhm is None:
        return np.abs(spacing)
    out = np.asarray(fwhm, dtype=np.float64).copy()
    bad = ~np.isfinite(out) | (out <= 0)
    out[bad] = np.abs(spacing[bad])
    return out


EDGE_COVERAGE_FWHM = 6.0  # target bands up to this many FWHM outside the source range copy the nearest edge band


def outside_range(src_wavelengths: np.ndarray, dst_wavelengths: np.ndarray,
                  dst_fwhm: np.ndarray | None = None) -> np.ndarray:
    """``(C_dst,)`` bool: the target bands more than half an FWHM (NaN/None: the band spacing) outside the
    source range, which :func:`resampling_matrix` with a wide ``min_coverage`` extrapolates from the nearest
    source band."""
    src = np.asarray(src_wavelengths, dtype=np.float64)
    dst = np.asarray(dst_wavelengths, dtype=np.float64)
    half = 0.5 * _fill_fwhm(dst, None if dst_fwhm is None else np.asarray(dst_fwhm, dtype=np.float64))
    return (dst < src.min() - half) | (dst > src.max() + half)


def edge_bands(src_wavelengths: np.ndarray, dst_wavelengths: np.ndarray, dst_fwhm: np.ndarray | None = None) -> int:
    """How many target bands lie more than half an FWHM outside the source range (:func:`outside_range`)."""
    return int(outside_range(src_wavelengths, dst_wavelengths, dst_fwhm).sum())


def uncovered_bands(
    src_wavelengths: np.ndarray, dst_wavelengths: np.ndarray, dst_fwhm: np.ndarray | None = None, *,
    max_distance_fwhm: float = 1.0,
) -> np.ndarray:
    """Target bands that fall in a gap of the source sampling: ``(C_dst,)`` bool.

    A target band is uncovered when no source band lies within ``max_distance_fwhm`` of its
    FWHM from its centre, e.g. an EnMAP band inside the water-vapour gaps that AVIRIS
    Indian Pines leaves out (1353-1422 and 1819-1953 nm). :func:`resampling_matrix` still
    gives such a band a value, interpolated from the gap's edges; a simulation of a product
    that has no data there (EnMAP L2A) marks it no-data instead.
    """
    src = np.asarray(src_wavelengths, dtype=np.float64)
    dst = np.asarray(dst_wavelengths, dtype=np.float64)
    nearest = np.abs(dst[:, None] - src[None, :]).min(axis=1)
    return nearest > max_distance_fwhm * _fill_fwhm(dst, dst_fwhm)


def resampling_matrix(
    src_wavelengths: np.ndarray,
    dst_wavelengths: np.ndarray,
    dst_fwhm: np.ndarray | None = None,
    *,
    min_coverage: float = 0.5,
) -> np.ndarray:
    """Weights ``(C_dst, C_src)`` that map source spectra to target bands (rows sum to 1).

    Args:
        src_wavelengths: ``(C_src,)`` source band centres in nm.
        dst_wavelengths: ``(C_dst,)`` target band centres in nm.
        dst_fwhm: ``(C_dst,)`` target widths in nm (default: target band spacing).
        min_coverage: a target band whose centre lies outside the source range by more
            than this many FWHM cannot be synthesised.

    Raises:
        BandMismatchError: wavelengths unknown, or a target band has no spectral overlap.
    """
    src = np.asarray(src_wavelengths, dtype=np.float64)
    dst = np.asarray(dst_wavelengths, dtype=np.float64)
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise BandMismatchError("spectral resampling needs known wavelengths for every band of both band sets")
    sigma = _fill_fwhm(dst, dst_fwhm) * FWHM_TO_SIGMA
    lo, hi = src.min(), src.max()
    outside = (dst < lo - min_coverage * sigma / FWHM_TO_SIGMA) | (dst > hi + min_coverage * sigma / FWHM_TO_SIGMA)
    if outside.any():
        bad = dst[outside]
        raise BandMismatchError(
            f"{int(outside.sum())} target bands ({bad.min():.0f}-{bad.max():.0f} nm) lie outside the source "
            f"range {lo:.0f}-{hi:.0f} nm; no spectral overlap to resample from"
        )
    weights = np.exp(-0.5 * ((src[None, :] - dst[:, None]) / sigma[:, None]) ** 2)
    # A target narrower than the source spacing: fall back to the nearest source band(s).
    empty = weights.sum(axis=1) < 1e-6
    if empty.any():
        nearest = np.abs(src[None, :] - dst[empty, None]).argmin(axis=1)
        weights[empty] = 0.0
        weights[np.flatnonzero(empty), nearest] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


def resample_cube(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a resampling matrix: ``(C_src, H, W)`` -> ``(C_dst, H, W)`` float32 (NaN-propagating)."""
    c, h, w = image.shape
    flat = image.reshape(c, h * w).astype(np.float32, copy=False)
    return (matrix.astype(np.float32) @ flat).reshape(matrix.shape[0], h, w)
