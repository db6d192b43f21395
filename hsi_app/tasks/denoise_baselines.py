"""Classical denoising baselines: low-rank spectral (PCA, MNF) and per-band spatial filters.

Each baseline maps a noisy ``(C, H, W)`` cube to a denoised one and has one parameter:

* ``pca``: keep the ``k`` leading principal components of the spectra (band means added back);
* ``mnf``: SPy's minimum-noise-fraction transform (``spectral.mnf`` with the noise
  covariance estimated from differences of neighbouring pixels,
  ``spectral.noise_from_diffs``), keeping ``k`` components (``MNFResult.denoise``);
* ``gaussian``: a Gaussian filter of width ``sigma`` pixels on every band;
* ``median``: a ``size x size`` median filter on every band (suited to impulse noise);
* ``subspace_gaussian``: the two combined, in the spirit of subspace denoisers such as
  FastHyDe: project on ``k`` principal components, Gaussian-filter the eigen-images
  (width ``sigma_lead`` for the two leading ones, ``sigma_rest`` for the others), and
  project back. Its parameter is the tuple ``(k, sigma_lead, sigma_rest)``.

:func:`best_baselines` picks each parameter from a small grid *with the clean
reference* (an oracle choice, generous to the baselines), and reports the parameter
chosen; all of them see only the noisy cube otherwise.

Each function takes a numpy array or a Cube (its values; the result is a numpy array: put it back
on the scene's grid with ``cube.copy(data=result)``). What they cannot use (not ``(C, H, W)``, no
values, complex values, NaN or inf values for the spectral ones, whose band statistics would all
turn NaN, a parameter out of range; for MNF, fewer than 2 bands or 2 x 2 pixels, or a constant
band, which makes its noise covariance singular) is one :class:`~hsi_app.errors.HSIError` line.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, InvalidDataError

PCA_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
GAUSSIAN_GRID = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
MEDIAN_GRID = (3, 5)


SUBSPACE_GAUSSIAN_GRID = tuple((k, lead, rest) for k in (2, 4, 8) for lead in (0.5, 0.75, 1.0) for rest in (2.0, 3.0, 4.0))


def as_noisy_cube(noisy: Any, where: str, *, finite: bool = False) -> np.ndarray:
    """``noisy`` as a ``(C, H, W)`` numpy array (a Cube gives its values, bands first, float32 with its no data as NaN).

    Args:
        noisy: numpy array or ``(band, y, x)`` DataArray.
        where: the function called, for the message.
        finite: refuse NaN or inf (the spectral baselines estimate band statistics from every pixel).

    Raises:
        ConfigError: not 3-D, or a DataArray whose dims are not ``(band, y, x)``.
        InvalidDataError: ``finite`` and some values are NaN or inf.
    """
    fill = "np.nan_to_num(noisy)"
    if hasattr(noisy, "hsi") and hasattr(noisy, "dims"):  # a Cube (other dims: refused with the transpose to use)
        noisy, _ = noisy.hsi.read_masked()  # its no-data value as NaN (not a value to smooth), read in this process
        fill = "np.nan_to_num(cube.hsi.read_masked()[0]), its values with no data as NaN"
    arr = np.asarray(noisy)
    if arr.ndim != 3:
        raise ConfigError(f"{where}: noisy has shape {arr.shape}; pass a (C, H, W) cube, bands first")
    if arr.dtype.kind not in "biuf":  # complex (the imaginary part would be dropped), strings, objects
        raise ConfigError(f"{where}: noisy holds {arr.dtype} values; pass real numbers (e.g. noisy.real, "
                          "or noisy.astype(np.float32))")
    if arr.size == 0:
        raise ConfigError(f"{where}: noisy has shape {arr.shape}, no values; pass a (C, H, W) cube with at least "
                          "one band and one pixel")
    if finite and arr.dtype.kind in "fc":
        bad = ~np.isfinite(arr).all(axis=0)
        if bad.any():
            raise InvalidDataError(f"{where}: {int(bad.sum())} of {bad.size} pixels hold NaN or inf (no data); "
                                   f"fill them first (e.g. {fill}) or pass a window without them")
    return arr


def _count(value: Any, name: str, where: str) -> int:
    """``value`` as an int >= 1 (components kept, a filter size).

    Raises:
        ConfigError: not a whole number of at least 1.
    """
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or n != value:
        raise ConfigError(f"{where}: {name}={value!r}; it is a whole number, 1 or more")
    return n


def _principal(noisy: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(mean (C, 1), basis (C, k), eigen-images (k, H, W))`` of a ``(C, H, W)`` cube, float64."""
    c, h, w = noisy.shape
    x = noisy.reshape(c, -1).astype(np.float64)
    mean = x.mean(axis=1, keepdims=True)
    xc = x - mean
    cov = xc @ xc.T / max(xc.shape[1] - 1, 1)
    _, vecs = np.linalg.eigh(cov)
    basis = vecs[:, ::-1][:, : max(1, min(int(k), c))]
    return mean, basis, (basis.T @ xc).reshape(-1, h, w)


def pca_denoise(noisy: np.ndarray, k: int) -> np.ndarray:
    """Project the spectra on their ``k`` leading principal components.

    Args:
        noisy: ``(C, H, W)`` cube (numpy or a Cube), finite values.
        k: components kept, 1 or more (clipped to ``C``).

    Returns:
        ``(C, H, W)`` float32.

    Raises:
        ConfigError: ``noisy`` not ``(C, H, W)`` or ``k`` below 1.
        InvalidDataError: NaN or inf in ``noisy``.
    """
    noisy = as_noisy_cube(noisy, "pca_denoise", finite=True)
    mean, basis, coef = _principal(noisy, _count(k, "k", "pca_denoise"))
    return (basis @ coef.reshape(coef.shape[0], -1) + mean).reshape(noisy.shape).astype(np.float32)


def subspace_gaussian_denoise(noisy: np.ndarray, param: tuple[int, float, float]) -> np.ndarray:
    """PCA subspace + Gaussian filter on each eigen-image.

    Args:
        noisy: ``(C, H, W)`` cube (numpy or a Cube), finite values.
        param: ``(k, sigma_lead, sigma_rest)``: components kept, filter width (pixels) of the
            two leading eigen-images and of the others (0: no filtering).

    Returns:
        ``(C, H, W)`` float32.

    Raises:
        ConfigError: ``noisy`` not ``(C, H, W)``, ``k`` below 1 or a negative width.
        InvalidDataError: NaN or inf in ``noisy``.
    """
    from scipy.ndimage import gaussian_filter

    noisy = as_noisy_cube(noisy, "subspace_gaussian_denoise", finite=True)
    k, lead, rest = param
    _count(k, "k", "subspace_gaussian_denoise")
    _sigma(lead, "subspace_gaussian_denoise")
    _sigma(rest, "subspace_gaussian_denoise")
    mean, basis, coef = _principal(noisy, int(k))
    sigmas = [lead if i < 2 else rest for i in range(coef.shape[0])]
    den = np.stack([gaussian_filter(z, s, mode="reflect") if s > 0 else z for z, s in zip(coef, sigmas, strict=True)])
    return (basis @ den.reshape(den.shape[0], -1) + mean).reshape(noisy.shape).astype(np.float32)


def mnf_denoise(noisy: np.ndarray, k: int) -> np.ndarray:
    """SPy MNF denoising keeping ``k`` components.

    Args:
        noisy: ``(C, H, W)`` cube (numpy or a Cube), finite values.
        k: MNF components kept, 1 or more (clipped to ``C``).

    Returns:
        ``(C, H, W)`` float32.

    Raises:
        ConfigError: ``noisy`` not ``(C, H, W)``, under 2 bands or 2 x 2 pixels, or ``k`` below 1.
        InvalidDataError: NaN or inf in ``noisy``; a singular noise covariance (a constant band).
    """
    import warnings

    import spectral

    noisy = as_noisy_cube(noisy, "mnf_denoise", finite=True)
    k = _count(k, "k", "mnf_denoise")
    c, h, w = noisy.shape
    if c < 2 or h < 2 or w < 2:  # the noise estimate differences diagonal neighbours; a covariance needs 2 bands
        raise ConfigError(f"mnf_denoise: noisy has shape {noisy.shape}; MNF needs at least 2 bands and 2 x 2 pixels "
                          "(its noise is estimated from neighbouring pixels): pass a larger cube or use pca_denoise")
    img = np.ascontiguousarray(noisy.transpose(1, 2, 0), dtype=np.float64)  # (H, W, C)
    singular = InvalidDataError(
        "mnf_denoise: the noise covariance estimated from neighbouring-pixel differences is singular (a band "
        "that is constant, or a multiple of another band); drop such bands first, or use pca_denoise")
    try:
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            signal = spectral.calc_stats(img)
            noise = spectral.noise_from_diffs(img)
            result = spectral.mnf(signal, noise)
            out = np.asarray(result.denoise(img, num=max(1, min(int(k), c))), dtype=np.float32)
    except (np.linalg.LinAlgError, ValueError) as err:  # SPy's NaNValueError is a ValueError
        raise singular from err
    if not np.isfinite(out).all():
        raise singular
    return out.transpose(2, 0, 1)


def _sigma(value: Any, where: str) -> float:
    """A filter width in pixels, 0 or more.

    Raises:
        ConfigError: negative or not a number.
    """
    try:
        sigma = float(value)
    except (TypeError, ValueError):
        sigma = -1.0
    if not sigma >= 0:
        raise ConfigError(f"{where}: sigma={value!r}; it is a filter width in pixels, 0 or more")
    return sigma


def gaussian_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter of ``sigma`` pixels on every band of a ``(C, H, W)`` cube (numpy or a Cube) -> ``(C, H, W)``
    float32 (NaN spreads to the pixels within reach).

    Raises:
        ConfigError: ``noisy`` not ``(C, H, W)``, or ``sigma`` negative.
    """
    from scipy.ndimage import gaussian_filter

    noisy = as_noisy_cube(noisy, "gaussian_denoise")
    sigma = _sigma(sigma, "gaussian_denoise")
    return gaussian_filter(noisy.astype(np.float32), sigma=(0.0, float(sigma), float(sigma)), mode="reflect")


def median_denoise(noisy: np.ndarray, size: int) -> np.ndarray:
    """``size x size`` median filter on every band of a ``(C, H, W)`` cube (numpy or a Cube) -> ``(C, H, W)`` float32.

    Raises:
        ConfigError: ``noisy`` not ``(C, H, W)``, or ``size`` not a whole number of at least 1.
        InvalidDataError: NaN/inf (no data) in ``noisy``: fill them first (a median of NaN is undefined).
    """
    from scipy.ndimage import median_filter

    noisy = as_noisy_cube(noisy, "median_denoise", finite=True)  # scipy's median of NaN is undefined
    size = _count(size, "size", "median_denoise")
    return median_filter(noisy.astype(np.float32), size=(1, int(size), int(size)), mode="reflect")


BASELINES: dict[str, tuple[Callable[[np.ndarray, Any], np.ndarray], Sequence[Any], str]] = {
    "pca": (pca_denoise, PCA_GRID, "k"),
    "mnf": (mnf_denoise, PCA_GRID, "k"),
    "gaussian": (gaussian_denoise, GAUSSIAN_GRID, "sigma"),
    "median": (median_denoise, MEDIAN_GRID, "size"),
    "subspace_gaussian": (subspace_gaussian_denoise, SUBSPACE_GAUSSIAN_GRID, "k,sigma_lead,sigma_rest"),
}


def _rank(pname: str, value: Any) -> int:
    """Components a grid value keeps (its first entry when the parameter starts with ``k``), else 0."""
    if not pname.startswith("k"):
        return 0
    return int(value[0] if isinstance(value, tuple) else value)


def best_baselines(
    noisy: np.ndarray,
    clean: np.ndarray,
    *,
    offset: float = 0.0,
    scale: float = 1.0,
    names: Sequence[str] = tuple(BASELINES),
    select: str = "psnr",
    mask: np.ndarray | None = None,
    progress: bool = False,
) -> dict[str, dict[str, Any]]:
    """Run every baseline over its grid; keep, per baseline, the best ``select`` score against ``clean``.

    Args:
        noisy, clean: ``(C, H, W)`` on the normalised ``[0, 1]`` scale.
        offset, scale: normalisation, for SAM on raw values.
        names: baselines to run (keys of :data:`BASELINES`).
        select: ``"psnr"`` (global) or ``"mpsnr"`` (mean per band): the score the oracle
            maximises, so that a comparison in MPSNR gives the baselines their best MPSNR.
        mask: ``(C, H, W)`` or ``(H, W)`` bool entries to score (no-data False; default all):
            the oracle picks and reports on the same entries as the model is scored on.
        progress: a progress bar over the runs (every baseline at every grid value), ``baselines: 12/58 run``.

    Returns:
        ``{name: {"psnr", "mpsnr", "ssim", "sam", "param": {name: value}, "seconds", "selection"}}``;
        ``seconds`` is the time of one run with the chosen parameter.
    """
    from hsi_app.tasks.denoise_metrics import restoration_metrics

    if select not in ("psnr", "mpsnr"):
        raise ValueError(f"select={select!r}: use 'psnr' or 'mpsnr'")
    from hsi_app.progress import bar

    runs = [(name, value) for name in names for value in BASELINES[name][1]
            if _rank(BASELINES[name][2], value) <= noisy.shape[0]]
    out: dict[str, dict[str, Any]] = {}
    for name, value in bar(runs, desc="baselines", unit="run", enabled=progress):
        fn, _, pname = BASELINES[name]
        t0 = time.perf_counter()
        est = fn(noisy, value)
        seconds = time.perf_counter() - t0
        scores = restoration_metrics(est, clean, offset=offset, scale=scale, mask=mask)
        if name not in out or scores[select] > out[name][select]:
            out[name] = {**scores, "param": {pname: value}, "seconds": round(seconds, 3),
                         "selection": f"oracle: best {select.upper()} against the clean reference over a grid"}
    return out
