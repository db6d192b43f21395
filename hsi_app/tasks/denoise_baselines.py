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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

PCA_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
GAUSSIAN_GRID = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
MEDIAN_GRID = (3, 5)


SUBSPACE_GAUSSIAN_GRID = tuple((k, lead, rest) for k in (2, 4, 8) for lead in (0.5, 0.75, 1.0) for rest in (2.0, 3.0, 4.0))


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
        noisy: ``(C, H, W)`` cube.
        k: components kept (clipped to ``C``).

    Returns:
        ``(C, H, W)`` float32.
    """
    mean, basis, coef = _principal(noisy, k)
    return (basis @ coef.reshape(coef.shape[0], -1) + mean).reshape(noisy.shape).astype(np.float32)


def subspace_gaussian_denoise(noisy: np.ndarray, param: tuple[int, float, float]) -> np.ndarray:
    """PCA subspace + Gaussian filter on each eigen-image.

    Args:
        noisy: ``(C, H, W)`` cube.
        param: ``(k, sigma_lead, sigma_rest)``: components kept, filter width (pixels) of the
            two leading eigen-images and of the others (0: no filtering).

    Returns:
        ``(C, H, W)`` float32.
    """
    from scipy.ndimage import gaussian_filter

    k, lead, rest = param
    mean, basis, coef = _principal(noisy, int(k))
    sigmas = [lead if i < 2 else rest for i in range(coef.shape[0])]
    den = np.stack([gaussian_filter(z, s, mode="reflect") if s > 0 else z for z, s in zip(coef, sigmas, strict=True)])
    return (basis @ den.reshape(den.shape[0], -1) + mean).reshape(noisy.shape).astype(np.float32)


def mnf_denoise(noisy: np.ndarray, k: int) -> np.ndarray:
    """SPy MNF denoising keeping ``k`` components.

    Args:
        noisy: ``(C, H, W)`` cube.
        k: MNF components kept.

    Returns:
        ``(C, H, W)`` float32.
    """
    import spectral

    img = np.ascontiguousarray(noisy.transpose(1, 2, 0), dtype=np.float64)  # (H, W, C)
    signal = spectral.calc_stats(img)
    noise = spectral.noise_from_diffs(img)
    result = spectral.mnf(signal, noise)
    out = result.denoise(img, num=max(1, min(int(k), noisy.shape[0])))
    return np.asarray(out, dtype=np.float32).transpose(2, 0, 1)


def gaussian_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter of ``sigma`` pixels on every band of a ``(C, H, W)`` cube."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(noisy.astype(np.float32), sigma=(0.0, float(sigma), float(sigma)), mode="reflect")


def median_denoise(noisy: np.ndarray, size: int) -> np.ndarray:
    """``size x size`` median filter on every band of a ``(C, H, W)`` cube."""
    from scipy.ndimage import median_filter

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

    Returns:
        ``{name: {"psnr", "mpsnr", "ssim", "sam", "param": {name: value}, "seconds", "selection"}}``;
        ``seconds`` is the time of one run with the chosen parameter.
    """
    from hsi_app.tasks.denoise_metrics import restoration_metrics

    if select not in ("psnr", "mpsnr"):
        raise ValueError(f"select={select!r}: use 'psnr' or 'mpsnr'")
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        fn, grid, pname = BASELINES[name]
        best: dict[str, Any] | None = None
        for value in grid:
            if _rank(pname, value) > noisy.shape[0]:
                continue
            t0 = time.perf_counter()
            est = fn(noisy, value)
            seconds = time.perf_counter() - t0
            scores = restoration_metrics(est, clean, offset=offset, scale=scale, mask=mask)
            if best is None or scores[select] > best[select]:
                best = {**scores, "param": {pname: value}, "seconds": round(seconds, 3),
                        "selection": f"oracle: best {select.upper()} against the clean reference over a grid"}
        if best is not None:
            out[name] = best
    return out
