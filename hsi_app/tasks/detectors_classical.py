"""Classical detectors through Spectral Python: RX (global, local), matched filter, ACE, CEM.

SPy implements RX, the matched filter and ACE (``spectral.rx``,
``spectral.algorithms.detectors.matched_filter`` / ``ace``); its 0.25 release has no
CEM, so :func:`cem` is the textbook filter ``w = R^-1 d / (d^T R^-1 d)`` with ``R`` the
(regularised) sample correlation matrix.

Background statistics are estimated once per scene. A singular or ill-conditioned
covariance (constant bands, fewer pixels than bands, duplicated bands) gets a ridge
``eps * trace(S) / C`` on its diagonal and an :class:`~hsi_app.errors.HSIWarning`
that says so, instead of SPy's silent pseudo-inverse.

Inputs are cubes ``(C, H, W)`` as elsewhere in hsi_app; SPy works on ``(H, W, C)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, HSIWarning, InvalidDataError, TargetPixelError, UnknownKeyError, did_you_mean

METHODS = ("rx", "rx-local", "mf", "ace", "cem", "learned")
TARGET_METHODS = ("mf", "ace", "cem")
MAX_CONDITION = 1e10
RIDGE = 1e-6
LOCAL_RX_STRIP_ROWS = 64  # rows per progress step of local RX
SPY_MIN_ROWS = 10  # SPy's windowed mapper fails on fewer rows (its progress step is rows // 10)


def check_method(method: str) -> str:
    """Return ``method`` lower-cased, or raise with close matches.

    Raises:
        UnknownKeyError: not one of :data:`METHODS`.
    """
    m = str(method).strip().lower()
    if m not in METHODS:
        hint = did_you_mean(m, METHODS, cutoff=0.4)
        raise UnknownKeyError(f"detection method {method!r}: unknown; choose one of {', '.join(METHODS)}. {hint}".strip())
    return m


def as_image(image: Any, where: str) -> np.ndarray:
    """``image`` as the ``(C, H, W)`` array the detectors score: a numpy array as it is, a Cube (an
    :class:`xarray.DataArray` with dims ``(band, y, x)``) read whole, its good bands only (as ``hsi detect`` and
    :func:`~hsi_app.tasks.detection.target_spectra` take them), with its no data as NaN.

    Raises:
        ConfigError: not three axes (a single band, an ``(N, C)`` pixel table), with the fix.
    """
    import xarray as xr

    if isinstance(image, xr.DataArray):
        image, _ = image.isel(band=image.hsi.good_band_indices).hsi.read_masked()
    arr = np.asarray(image)
    if arr.ndim != 3:
        raise ConfigError(f"{where}: takes a (C, H, W) image, bands first, got an array of shape {arr.shape}; "
                          "for an (H, W, C) one pass image.transpose(2, 0, 1), for (N, C) pixels image.T[:, :, None]")
    return arr


def _pixels(image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(N, C)`` float64 finite pixels of ``image`` ``(C, H, W)`` (within ``mask``)."""
    c = image.shape[0]
    flat = image.reshape(c, -1).T
    keep = np.isfinite(flat).all(axis=1)
    if mask is not None:
        keep &= np.asarray(mask, bool).reshape(-1)
    pix = flat[keep].astype(np.float64)
    if pix.shape[0] < 2:
        raise InvalidDataError(f"detection: only {pix.shape[0]} valid background pixels; need at least 2")
    return pix


def regularise(matrix: np.ndarray, what: str = "covariance") -> np.ndarray:
    """``matrix + ridge * I`` when it is singular or ill-conditioned (warns), else ``matrix``.

    Args:
        matrix: ``(C, C)`` symmetric positive semi-definite.
        what: name used in the warning.
    """
    evals = np.linalg.eigvalsh(matrix)
    top = float(max(evals.max(), 0.0))
    if top <= 0.0:
        ridge = 1.0
    elif evals.min() > top / MAX_CONDITION:
        return matrix
    else:
        ridge = RIDGE * float(np.trace(matrix)) / matrix.shape[0]
    warnings.warn(
        f"detection: the background {what} is singular or ill-conditioned (constant or duplicated bands, or "
        f"fewer pixels than bands); regularised by adding {ridge:.3g} to its diagonal",
        HSIWarning,
        stacklevel=3,
    )
    return matrix + ridge * np.eye(matrix.shape[0])


def background_stats(image: np.ndarray, mask: np.ndarray | None = None) -> Any:
    """SPy ``GaussianStats`` of the background (mean, regularised covariance).

    Args:
        image: ``(C, H, W)`` cube.
        mask: ``(H, W)`` bool pixels to use (default: all finite pixels).
    """
    pix = _pixels(image, mask)
    return gaussian(pix.mean(axis=0), np.cov(pix, rowvar=False).reshape(pix.shape[1], pix.shape[1]), pix.shape[0])


def gaussian(mean: np.ndarray, cov: np.ndarray, n: int) -> Any:
    """SPy ``GaussianStats`` of ``(C,)`` ``mean`` and ``(C, C)`` ``cov`` (regularised) over ``n`` pixels,
    as every global detector uses them (in memory, or merged strip by strip)."""
    from spectral.algorithms.algorithms import GaussianStats

    cov = regularise(cov)
    return GaussianStats(mean=mean, cov=cov, nsamples=int(n), inv_cov=np.linalg.inv(cov))


def _hwc(image: np.ndarray, fill: np.ndarray | None = None) -> np.ndarray:
    """``(C, H, W)`` -> ``(H, W, C)`` float64; pixels with no data get the spectrum ``fill``
    ``(C,)`` (default 0). Their own scores are masked later, but local windows average them
    into their neighbours' background, so local RX fills them with the background mean."""
    x = np.moveaxis(np.asarray(image, dtype=np.float64), 0, -1).copy()
    bad = ~np.isfinite(x).all(axis=-1)
    x[bad] = 0.0 if fill is None else fill
    return x


def _finish(scores: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, K)`` SPy output (or those with a length-1 axis dropped) -> ``(K, H, W)``
    float32, NaN where the input ``(C, H, W)`` had no data."""
    _, h, w = image.shape
    s = np.moveaxis(np.asarray(scores, dtype=np.float32).reshape(h, w, -1), -1, 0)  # SPy squeezes a 1-row image
    s[:, ~np.isfinite(image).all(axis=0)] = np.nan
    return s


def rx(image: np.ndarray, *, window: tuple[int, int] | None = None, stats: Any = None, progress: bool = False,
       strip_rows: int = LOCAL_RX_STRIP_ROWS) -> np.ndarray:
    """RX anomaly scores (squared Mahalanobis distance to the background).

    Args:
        image: ``(C, H, W)`` cube (numpy, or a Cube: :func:`as_image`).
        window: ``(inner, outer)`` odd window sizes for local RX: the mean comes from
            the outer window minus the inner one, the covariance is the scene's
            (regularised) one; at the image border both windows are shifted inside the
            image (Spectral Python's windows), not clipped. ``None``: global RX.
        stats: background statistics (default: :func:`background_stats` of the image).
        progress: local RX only (the slow one, a window per pixel): show a progress bar over
            strips of rows.
        strip_rows: local RX is scored in strips of this many rows (at least 10), each by
            SPy's own windowed mapper restricted to those rows, so the scores equal one pass.

    Returns:
        ``(1, H, W)`` float32 scores.
    """
    import spectral

    image = as_image(image, "rx")
    bg = stats if stats is not None else background_stats(image)
    if window is None:
        return _finish(spectral.rx(_hwc(image), background=bg), image)
    inner, outer = _check_window(window, image.shape[1:])
    x = _hwc(image, fill=np.asarray(bg.mean))
    transposed = x.shape[0] < SPY_MIN_ROWS  # square windows: scoring the transposed image is the same
    if transposed:
        x = x.transpose(1, 0, 2)
    if x.shape[0] < SPY_MIN_ROWS:
        raise ConfigError(f"local RX: the scene {image.shape[1:]} is smaller than {SPY_MIN_ROWS} pixels both ways; "
                          "use global rx (--method rx) on scenes this small")
    scores = _local_rx_rows(x, inner, outer, bg.cov, progress=progress, strip_rows=strip_rows)
    return _finish(scores.T if transposed else scores, image)


def _local_rx_rows(x: np.ndarray, inner: int, outer: int, cov: np.ndarray, *, progress: bool,
                   strip_rows: int) -> np.ndarray:
    """``(H, W, C)`` -> ``(H, W)`` local RX scores, computed strip by strip with SPy's windowed mapper.

    ``map_outer_window_stats(..., rslice=(top, bottom))`` scores only those rows, with windows
    over the whole image, which is what ``spectral.rx(x, window=..., cov=...)`` computes for
    every row. Each strip has at least :data:`SPY_MIN_ROWS` rows: SPy's own progress
    arithmetic divides by a tenth of the rows it is given.
    """
    from hsi_app.progress import bar

    scores = np.empty(x.shape[:2], np.float64)
    for top, bottom in bar(rx_strips(x.shape[0], strip_rows), desc="rx-local", unit="strip", enabled=progress):
        scores[top:bottom] = local_rx_rows(x, inner, outer, cov, top, bottom)
    return scores


def rx_strips(height: int, rows: int) -> list[tuple[int, int]]:
    """``(top, bottom)`` strips of ``rows`` rows (at least :data:`SPY_MIN_ROWS`); a short remainder joins
    the strip before it, so every strip has the rows SPy's mapper needs."""
    step = max(int(rows), SPY_MIN_ROWS)
    tops = list(range(0, height, step))
    if len(tops) > 1 and height - tops[-1] < SPY_MIN_ROWS:
        tops.pop()
    return list(zip(tops, [*tops[1:], height], strict=True))


def local_rx_rows(x: np.ndarray, inner: int, outer: int, cov: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """``(bottom - top, W)`` float64 local RX scores of rows ``top:bottom`` of ``x`` ``(H, W, C)``, by SPy's
    windowed mapper (windows over all of ``x``, shifted inside it at its edges)."""
    from spectral.algorithms.detectors import RX
    from spectral.algorithms.spatial import map_outer_window_stats

    detector = RX()

    def score(background: Any, pixel: np.ndarray) -> Any:
        detector.set_background(background)
        return detector(pixel)

    out = map_outer_window_stats(score, x, inner, outer, dim_out=1, cov=cov, rslice=(top, bottom))
    return np.asarray(out, dtype=np.float64).reshape(bottom - top, x.shape[1])  # SPy squeezes a 1-row result


def _check_window(window: tuple[int, int], shape: tuple[int, ...], source: str = "") -> tuple[int, int]:
    """``(inner, outer)`` of a local RX window that fits a scene of ``shape`` ``(H, W)``.

    Raises:
        ConfigError: not two odd sizes inner < outer, or an outer window wider or taller than
            the scene (naming ``source``, the largest outer size that fits and the option).
    """
    inner, outer = (int(v) for v in window)
    if inner % 2 == 0 or outer % 2 == 0 or not 0 < inner < outer:
        raise ConfigError(f"--rx-window {inner},{outer}: use odd sizes INNER < OUTER, e.g. 5,21 "
                          "(window=(inner, outer) in Python)")
    side = min(int(n) for n in shape)
    if outer > side:
        where = f"{source}: " if source else ""
        fits = side if side % 2 else side - 1
        fix = (f"pass --rx-window INNER,OUTER (window=(inner, outer) in Python) with odd sizes INNER < OUTER <= {fits}"
               if fits >= 3 else "use global rx (--method rx) on a scene this narrow")
        raise ConfigError(f"{where}local RX window {inner},{outer}: the outer window ({outer} px) is larger than the "
                          f"scene ({' x '.join(str(int(n)) for n in shape)} px); {fix}")
    return inner, outer


def matched_filter(image: np.ndarray, targets: np.ndarray, *, stats: Any = None) -> np.ndarray:
    """Matched-filter scores, one map per target spectrum.

    Args:
        image: ``(C, H, W)`` cube.
        targets: ``(K, C)`` target spectra in the cube's units.
        stats: background statistics (default: the image's).

    Returns:
        ``(K, H, W)`` float32 (1 = the target's mean, 0 = the background's).
    """
    from spectral.algorithms.detectors import matched_filter as spy_mf

    image = as_image(image, "matched_filter")
    bg = stats if stats is not None else background_stats(image)
    x = _hwc(image)
    return np.stack([_finish(spy_mf(x, t.astype(np.float64), background=bg), image)[0] for t in _targets(targets, image)])


def ace(image: np.ndarray, targets: np.ndarray, *, stats: Any = None) -> np.ndarray:
    """ACE (adaptive cosine estimator) scores in [0, 1], one map per target spectrum.

    Args:
        image: ``(C, H, W)`` cube.
        targets: ``(K, C)`` target spectra.
        stats: background statistics (default: the image's).

    Returns:
        ``(K, H, W)`` float32.
    """
    from spectral.algorithms.detectors import ace as spy_ace

    image = as_image(image, "ace")
    bg = stats if stats is not None else background_stats(image)
    t = _targets(targets, image)
    out = spy_ace(_hwc(image), [row.astype(np.float64) for row in t], background=bg)
    return _finish(out, image)


def cem(image: np.ndarray, targets: np.ndarray, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Constrained energy minimisation: ``y = d^T R^-1 x / (d^T R^-1 d)``.

    ``R`` is the sample correlation matrix ``X^T X / N`` of the background pixels
    (regularised like the covariance). Output 1 means "exactly the target".

    Args:
        image: ``(C, H, W)`` cube.
        targets: ``(K, C)`` target spectra.
        mask: ``(H, W)`` pixels used for ``R`` (default: all finite pixels).

    Returns:
        ``(K, H, W)`` float32.
    """
    image = as_image(image, "cem")
    pix = _pixels(image, mask)
    corr = regularise(pix.T @ pix / pix.shape[0], "correlation matrix")
    return cem_scores(image, cem_filter(corr, _targets(targets, image)))


def cem_filter(corr: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """CEM filters ``w = R^-1 d / (d^T R^-1 d)``, ``(C, K)`` float64.

    Args:
        corr: ``(C, C)`` (regularised) correlation matrix ``R``.
        targets: ``(K, C)`` target spectra ``d``.
    """
    d = check_targets(targets, corr.shape[0])  # (K, C)
    rinv_d = np.linalg.solve(corr, d.T)  # (C, K)
    return rinv_d / np.einsum("ck,kc->k", rinv_d, d)[None, :]


def cem_scores(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(K, H, W)`` float32 CEM scores ``w^T x`` of ``image`` ``(C, H, W)``; NaN where it has no data.

    Args:
        image: ``(C, H, W)`` cube.
        weights: ``(C, K)`` filters of :func:`cem_filter`.
    """
    c, h, wd = image.shape
    flat = np.nan_to_num(np.asarray(image, dtype=np.float64).reshape(c, -1))
    scores = (weights.T @ flat).reshape(-1, h, wd)
    return _finish(np.moveaxis(scores, 0, -1), image)


def _targets(targets: np.ndarray, image: np.ndarray) -> np.ndarray:
    return check_targets(targets, image.shape[0])


def check_targets(targets: np.ndarray, channels: int) -> np.ndarray:
    """``(K, C)`` float64 target spectra, checked against the cube's ``channels`` bands.

    Raises:
        ConfigError: another band count. InvalidDataError: NaN/inf in a spectrum, or one that is 0 at every band.
    """
    t = np.atleast_2d(np.asarray(targets, dtype=np.float64))
    if t.shape[1] != channels:
        raise ConfigError(
            f"detection: target spectra have {t.shape[1]} bands but the cube has {channels}; "
            "resample the targets to the cube's bands"
        )
    if not np.isfinite(t).all():
        raise InvalidDataError("detection: target spectra contain NaN/inf; check the library or --target-pixel")
    zero = np.flatnonzero(~(t != 0).any(axis=1))
    if zero.size:  # CEM's filter would divide 0 by 0: a map of NaN
        raise InvalidDataError(f"detection: target spectrum {int(zero[0])} (0-based row of targets) is 0 at every "
                               "band; pass a measured spectrum (an empty library column?)")
    return t


def check_kept_targets(targets: np.ndarray | None, keep: np.ndarray | None, *, names: Any = None,
                       numbers: Any = None, wavelengths: Any = None) -> None:
    """Refuse a target that is 0 at every band left once the constant bands are left out.

    A pixel of zeros not marked as no-data, in a scene with a dead (constant) band, holds that band's
    value: it passes :func:`check_targets` on every band, but the detectors score the other bands
    (:func:`~hsi_app.tasks.flat_bands.varying_bands`), where it is no spectrum (CEM: 0 / 0).

    Args:
        targets: ``(K, C)`` target spectra at every band (``None``: nothing to check).
        keep: ``(C,)`` bool, the bands kept (``None``: all).
        names: ``K`` target names (``pixel_ROW_COL`` for ``--target-pixel``), for the error; ``None``: rows.
        numbers: ``(C,)`` band numbers for the error (default ``1..C``).
        wavelengths: ``(C,)`` their centres in nm (``None``: unknown).

    Raises:
        InvalidDataError: one line naming the target, the bands left out and the fix;
            :class:`~hsi_app.errors.TargetPixelError` (a subclass, with the pixel and the reason) for a
            ``pixel_ROW_COL`` target.
    """
    import re

    from hsi_app.io.band_labels import band_list

    if targets is None or keep is None or keep.all():
        return
    t = np.atleast_2d(np.asarray(targets))
    zero = np.flatnonzero(~(t[:, keep] != 0).any(axis=1))
    if not zero.size:
        return
    k = int(zero[0])
    nums = np.arange(1, keep.size + 1) if numbers is None else np.asarray(numbers)
    wls = None if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)[~keep]
    n = int((~keep).sum())
    but = (f"is 0 at every band but {band_list(nums[~keep], wls)}, which {'is' if n == 1 else 'are'} constant over "
           f"the scene's valid pixels (a dead or zeroed band) and left out, so it is no target spectrum")
    name = None if names is None else str(list(names)[k])
    pixel = None if name is None else re.fullmatch(r"pixel_(\d+)_(\d+)", name)
    if pixel is not None:
        raise TargetPixelError((int(pixel[1]), int(pixel[2])), but)
    if name is not None:
        raise InvalidDataError(f"target {name!r} {but}; check its library column, or leave it out: --material NAME "
                               "(names= in Python) picks the others")
    raise InvalidDataError(f"detection: target spectrum {k} (0-based row of targets) {but}; pass a measured spectrum")


def classical_scores(method: str, image: np.ndarray, targets: np.ndarray | None = None, *,
                     window: tuple[int, int] = (5, 21), progress: bool = False) -> np.ndarray:
    """Score maps of a classical method.

    Args:
        method: ``rx``, ``rx-local``, ``mf``, ``ace`` or ``cem``.
        image: ``(C, H, W)`` cube.
        targets: ``(K, C)`` target spectra (target methods only).
        window: ``(inner, outer)`` of ``rx-local``.
        progress: show a progress bar for ``rx-local`` (the others are single matrix passes).

    Returns:
        ``(K, H, W)`` float32 (``K = 1`` for RX). Bands constant over the valid pixels are left
        out of the statistics and the targets (:func:`~hsi_app.tasks.flat_bands.varying_bands`,
        with a warning): the scores are those of the scene without them.

    Raises:
        UnknownKeyError: unknown method. ConfigError: target method without targets.
        InvalidDataError: a target that is 0 at every band, or at every band but the constant ones
            (:func:`check_kept_targets`).
    """
    from hsi_app.tasks.flat_bands import varying_bands

    m = check_method(method)
    if m == "learned":
        raise ConfigError("detection: 'learned' is not a classical method; use detect_scene(cube, 'learned', model=RUN_DIR) "
                          "(hsi detect --model)")
    if m in TARGET_METHODS and targets is None:
        raise ConfigError(f"detection method {m!r} needs target spectra; pass --targets LIB or --target-pixel ROW,COL (targets= in Python, e.g. from target_spectra)")
    image = as_image(image, f"detection {m}")
    if m in TARGET_METHODS:
        targets = _targets(targets, image)  # type: ignore[arg-type]
    keep = varying_bands(_pixels(image, None).var(axis=0))
    check_kept_targets(targets, keep)
    if not keep.all():
        image = image[keep]
        targets = None if targets is None else targets[:, keep]
    fns: dict[str, Callable[[], np.ndarray]] = {
        "rx": lambda: rx(image),
        "rx-local": lambda: rx(image, window=window, progress=progress),
        "mf": lambda: matched_filter(image, targets),  # type: ignore[arg-type]
        "ace": lambda: ace(image, targets),  # type: ignore[arg-type]
        "cem": lambda: cem(image, targets),  # type: ignore[arg-type]
    }
    return fns[m]()
