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


def band_spacing(centres: np.ndarray, *, listed_order: bool = False) -> np.ndarray:
    """``(C,)`` each band's local spacing (nm, > 0): half the distance between its neighbours in the list.

    Sensors with several spectrometers list each one's bands in a run that the next one overlaps (Indian Pines:
    ..., 686.5, 696.5 nm, then 686.9, 696.6 nm, ...); a band takes its neighbours within its own run (one side at
    a run's end), so the bands where runs meet keep their spectrometer's spacing (~10 nm) instead of the 0.01-0.2
    nm between centres of two runs. A band alone in its run (a repeated centre) takes the distance to the nearest
    other centre (10 nm when there is none).

    Args:
        centres: ``(C,)`` band centres (nm), in the order the bands are listed (ascending or descending).
        listed_order: the rule of fine-tunes made before session 57 (:mod:`hsi_app.tasks.finetune`): neighbours in
            the list across runs (widths near 0 where runs meet, NaN weights at a repeated centre), kept so that
            their band maps load unchanged.
    """
    c = np.asarray(centres, dtype=np.float64)
    if c.size < 2:
        return np.full(c.size, 10.0)
    if listed_order:
        return np.abs(np.gradient(c))
    step = np.diff(c)
    direction = 1.0 if np.median(step) >= 0 else -1.0
    cuts = np.flatnonzero(step * direction <= 0) + 1  # where the list turns back (or repeats): a new run
    out = np.empty_like(c)
    for run in np.split(np.arange(c.size), cuts):
        if run.size > 1:
            out[run] = np.abs(np.gradient(c[run]))
        else:
            others = np.abs(np.delete(c, run) - c[run[0]])
            others = others[others > 0]
            out[run] = others.min() if others.size else 10.0
    return out


def _fill_fwhm(centres: np.ndarray, fwhm: np.ndarray | None, *, listed_order: bool = False) -> np.ndarray:
    """FWHM per band; unknown values fall back to the local band spacing (:func:`band_spacing`)."""
    spacing = band_spacing(centres, listed_order=listed_order)
    if fwhm is None:
        return spacing
    out = np.asarray(fwhm, dtype=np.float64).copy()
    bad = ~np.isfinite(out) | (out <= 0)
    out[bad] = spacing[bad]
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


def warn_edge_bands(source: str, src_wavelengths: np.ndarray, dst_wavelengths: np.ndarray,
                    dst_fwhm: np.ndarray | None = None, *, whose: str = "the model's", stacklevel: int = 3) -> int:
    """Warn (one :class:`~hsi_app.errors.HSIWarning` naming ``source``) when :func:`edge_bands` target bands lie
    beyond the source scene's range and so copy its nearest edge band; return how many (``hsi predict
    --resample``, ``hsi finetune``). ``whose``: the target bands' owner in the line (``"the base model's"``)."""
    import warnings

    from hsi_app.errors import HSIWarning

    n = edge_bands(src_wavelengths, dst_wavelengths, dst_fwhm)
    if n:
        wl = np.asarray(src_wavelengths, dtype=np.float64)
        span = "unknown wavelengths" if np.isnan(wl).all() else f"{np.nanmin(wl):.0f}-{np.nanmax(wl):.0f} nm"
        warnings.warn(f"{source}: {n} of {whose} bands lie beyond the scene's range ({span}) and copy its nearest "
                      "edge band", HSIWarning, stacklevel=stacklevel)
    return n


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


def beyond_reach(src_wavelengths: np.ndarray, dst_wavelengths: np.ndarray, dst_fwhm: np.ndarray | None = None, *,
                 min_coverage: float = 0.5, listed_order: bool = False) -> np.ndarray:
    """``(C_dst,)`` bool: the target bands :func:`resampling_matrix` refuses, whose centre lies more than
    ``min_coverage`` of its FWHM (NaN/None: the band spacing, :func:`band_spacing` with ``listed_order``) outside
    the source range."""
    src = np.asarray(src_wavelengths, dtype=np.float64)
    dst = np.asarray(dst_wavelengths, dtype=np.float64)
    reach = min_coverage * _fill_fwhm(dst, None if dst_fwhm is None else np.asarray(dst_fwhm, dtype=np.float64),
                                      listed_order=listed_order)
    return (dst < src.min() - reach) | (dst > src.max() + reach)


def _spans(values: np.ndarray, unit: str = "nm") -> str:
    """``2460-2499 nm`` (``612 nm`` for one value, ``55-60 nm`` for a spread)."""
    lo, hi = float(values.min()), float(values.max())
    return f"{lo:.0f} {unit}" if round(lo) == round(hi) else f"{lo:.0f}-{hi:.0f} {unit}"


def out_of_reach(scene: str, model: str, src_wavelengths: np.ndarray, dst_wavelengths: np.ndarray,
                 dst_fwhm: np.ndarray | None = None, *, fix: str, min_coverage: float = EDGE_COVERAGE_FWHM,
                 listed_order: bool = False) -> str | None:
    """The one line refusing a scene whose bands cannot be resampled to a model's, or ``None`` when they can.

    Names the scene, the model and the bands it needs, the rule (model bands up to ``min_coverage`` FWHM beyond
    the scene's range copy its edge band) and ``fix``, e.g. ``scene.tif: the base run runs/a needs 5 bands at
    2460-2499 nm, more than 6 FWHM (59 nm here) beyond this scene's 420-2400 nm, and ...``.

    Args:
        scene: the scene (its file), the source of the resampling.
        model: who needs the bands, e.g. ``"the base run runs/a"``.
        src_wavelengths: ``(C_src,)`` the scene's band centres (nm).
        dst_wavelengths: ``(C_dst,)`` the model's band centres (nm).
        dst_fwhm: ``(C_dst,)`` the model's band widths (NaN/None: the band spacing).
        fix: what to do instead, the line's end; ``{have}`` and ``{needs}`` in it become the scene's range and
            the model's bands beyond reach.
        min_coverage: the reach, in FWHM, that :func:`resampling_matrix` was given.
        listed_order: the widths of bands without FWHM as :func:`resampling_matrix` was given them
            (:func:`band_spacing`).
    """
    src = np.asarray(src_wavelengths, dtype=np.float64)
    dst = np.asarray(dst_wavelengths, dtype=np.float64)
    bad = beyond_reach(src, dst, dst_fwhm, min_coverage=min_coverage, listed_order=listed_order)
    if not bad.any():
        return None
    lo, hi = float(src.min()), float(src.max())
    sides = [dst[bad & (dst < lo)], dst[bad & (dst > hi)]]
    needs = " and ".join(_spans(side) for side in sides if side.size)
    widths = min_coverage * _fill_fwhm(dst, None if dst_fwhm is None else np.asarray(dst_fwhm, dtype=np.float64),
                                       listed_order=listed_order)
    n = int(bad.sum())
    have = f"{lo:.0f}-{hi:.0f} nm"
    return (f"{scene}: {model} needs {n} band{'s' if n != 1 else ''} at {needs}, more than {min_coverage:g} FWHM "
            f"({_spans(widths[bad])} here) beyond this scene's {have}, and only bands within {min_coverage:g} FWHM "
            f"of a scene's range are copied from its edge band; {fix.format(have=have, needs=needs)}")


def resampling_matrix(
    src_wavelengths: np.ndarray,
    dst_wavelengths: np.ndarray,
    dst_fwhm: np.ndarray | None = None,
    *,
    min_coverage: float = 0.5,
    listed_order: bool = False,
) -> np.ndarray:
    """Weights ``(C_dst, C_src)`` that map source spectra to target bands (rows sum to 1).

    Args:
        src_wavelengths: ``(C_src,)`` source band centres in nm.
        dst_wavelengths: ``(C_dst,)`` target band centres in nm.
        dst_fwhm: ``(C_dst,)`` target widths in nm (default, and for NaN or <= 0 entries: the target band
            spacing, :func:`band_spacing`).
        min_coverage: a target band whose centre lies outside the source range by more
            than this many FWHM cannot be synthesised.
        listed_order: that spacing taken between neighbours in the list, across runs (the rule of fine-tunes
            made before session 57, whose band maps must load bit for bit as they were trained: widths near 0
            where runs meet or a centre repeats, a nearest-band pick or a NaN row there).

    Raises:
        BandMismatchError: wavelengths unknown, or a target band has no spectral overlap.
    """
    src = np.asarray(src_wavelengths, dtype=np.float64)
    dst = np.asarray(dst_wavelengths, dtype=np.float64)
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise BandMismatchError("spectral resampling needs known wavelengths for every band of both band sets")
    sigma = _fill_fwhm(dst, dst_fwhm, listed_order=listed_order) * FWHM_TO_SIGMA
    lo, hi = src.min(), src.max()
    outside = beyond_reach(src, dst, dst_fwhm, min_coverage=min_coverage, listed_order=listed_order)
    if outside.any():
        bad = dst[outside]
        raise BandMismatchError(
            f"{int(outside.sum())} target bands ({bad.min():.0f}-{bad.max():.0f} nm) lie outside the source "
            f"range {lo:.0f}-{hi:.0f} nm; no spectral overlap to resample from"
        )
    with np.errstate(divide="ignore", invalid="ignore"):  # listed_order's zero widths: as before session 57
        weights = np.exp(-0.5 * ((src[None, :] - dst[:, None]) / sigma[:, None]) ** 2)
    # A target narrower than the source spacing: fall back to the nearest source band(s).
    empty = weights.sum(axis=1) < 1e-6
    if empty.any():
        nearest = np.abs(src[None, :] - dst[empty, None]).argmin(axis=1)
        weights[empty] = 0.0
        weights[np.flatnonzero(empty), nearest] = 1.0
    return weights / weights.sum(axis=1, keepdims=True)


def resample_cube(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a resampling matrix: ``(C_src, H, W)`` -> ``(C_dst, H, W)`` float32 (NaN-propagating).

    Args:
        image: ``(C_src, H, W)`` values (numpy, or a Cube: its values).
        matrix: ``(C_dst, C_src)`` weights from :func:`resampling_matrix`.

    Raises:
        BandMismatchError: ``image`` not ``(C_src, H, W)`` for the matrix's ``C_src`` (an ``(H, W, C)`` array:
            the transpose to pass).
    """
    image = np.asarray(image)
    matrix = np.asarray(matrix)
    n_src = int(matrix.shape[-1]) if matrix.ndim == 2 else -1
    if image.ndim != 3 or image.shape[0] != n_src:
        fix = ("image.transpose(2, 0, 1) (it looks (H, W, C))" if image.ndim == 3 and image.shape[2] == n_src
               else f"a ({n_src}, H, W) array, bands first")
        raise BandMismatchError(f"resample_cube: image has shape {image.shape} and the matrix {matrix.shape} "
                                f"(C_dst, C_src); pass {fix}")
    c, h, w = image.shape
    flat = image.reshape(c, h * w).astype(np.float32, copy=False)
    return (matrix.astype(np.float32) @ flat).reshape(matrix.shape[0], h, w)
