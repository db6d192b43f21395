"""Edge-preserving smoothing of class probabilities with a guided filter (``hsi predict --smooth``).

A classifier's map is speckled where neighbouring pixels of one field get different
classes. The guided filter (He, Sun & Tang, ECCV 2010) smooths each class's probability
image only where a *guide* image is flat, so field boundaries stay where the scene has
edges; Kang, Li & Benediktsson (IEEE TGRS 2014, "EPF") use it this way on hyperspectral
maps, with the leading principal components of the scene as the guide. No labels are used.

Inside each ``(2r+1)^2`` window the filter fits the probabilities as a linear function of
the guide, ``q = a . I + b``, with ridge ``eps`` on ``a``, then averages the coefficients
of every window that covers a pixel. The guide may have several channels (the first ``K``
principal components; He et al.'s colour guided filter, Kang et al.'s EPF-G-c with three):
``a`` is then the ``K``-vector ``(Sigma + eps U)^-1 cov(I, p)`` of each window. Means are
taken over the valid pixels of the scene only (no-data pixels neither receive nor give
probability), so the output at a pixel depends on inputs within ``2r`` pixels: windowed
inference adds :attr:`SmoothSpec.halo` to the model's own halo and still equals a one-shot
run of the whole scene.

The guide is a fixed linear projection of the spectra (:class:`GuideProjection`), fitted
once per scene on a strided sample of its pixels, so every window sees the same guide.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.infer import ProbFn, read_window, strided_sample
from hsi_app.io.cube import Cube, scene_name

DEFAULT_RADIUS = 2
"""Window radius ``r`` in pixels (chosen on Indian Pines, see BENCHMARKS.md "Guided filtering")."""
DEFAULT_EPS = 1e-3
"""Ridge ``eps`` on the slope, for guide channels scaled to [0, 1]; smaller keeps more edges."""
DEFAULT_COMPONENTS = 3
"""Principal components in the guide (chosen on Indian Pines: three keep small fields that one erases)."""
MAX_COMPONENTS = 8
"""Most principal components a guide may have (``guided:R,EPS,K``)."""
GUIDE_SAMPLE_PIXELS = 100_000
"""At most this many pixels (a regular grid of rows and columns) fit the guide projection."""


@dataclass(frozen=True)
class SmoothSpec:
    """Settings of the guided filter: window radius ``radius`` (px), ridge ``eps`` and the
    number of principal components ``components`` that make the guide."""

    radius: int = DEFAULT_RADIUS
    eps: float = DEFAULT_EPS
    components: int = DEFAULT_COMPONENTS

    @property
    def halo(self) -> int:
        """Extra context in pixels that the filter needs around a window (two box means)."""
        return 2 * self.radius

    def __str__(self) -> str:
        return f"guided:{self.radius},{self.eps:g},{self.components}"


def parse_smooth(text: str | None) -> SmoothSpec | None:
    """Parse ``--smooth``: ``none`` (or empty) -> ``None``; ``guided`` -> the defaults;
    ``guided:R,EPS[,K]`` -> radius ``R`` >= 1, ridge ``EPS`` > 0 and a guide of the first
    ``K`` principal components (1 to :data:`MAX_COMPONENTS`; default :data:`DEFAULT_COMPONENTS`).
    ``guided:2,1e-4,1`` is the one-component filter of releases before the default became three.

    Raises:
        ConfigError: any other text.
    """
    value = (text or "none").strip().lower()
    if value == "none":
        return None
    hint = (f"--smooth {text!r}: use none, guided, guided:R,EPS or guided:R,EPS,K "
            f"(e.g. {SmoothSpec()})")
    if value == "guided":
        return SmoothSpec()
    kind, _, args = value.partition(":")
    parts = args.split(",")
    if kind != "guided" or len(parts) not in (2, 3):
        raise ConfigError(hint)
    try:
        radius, eps = int(parts[0]), float(parts[1])
        components = int(parts[2]) if len(parts) == 3 else DEFAULT_COMPONENTS
    except ValueError:
        raise ConfigError(hint) from None
    if radius < 1 or not eps > 0 or not np.isfinite(eps) or not 1 <= components <= MAX_COMPONENTS:
        raise ConfigError(f"{hint}; R must be >= 1, EPS > 0 and K from 1 to {MAX_COMPONENTS}")
    return SmoothSpec(radius, eps, components)


def box_mean(x: np.ndarray, weight: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``x`` over the pixels with ``weight`` 1 in each ``(2r+1)^2`` window (clipped at the edges).

    Args:
        x: ``(..., H, W)`` values.
        weight: ``(H, W)`` 0/1 mask of the pixels that count.
        radius: window radius ``r``.

    Returns:
        ``(..., H, W)`` float64 means; 0 where a window holds no counted pixel.
    """
    return masked_box_mean(weight, radius)(x)


def masked_box_mean(weight: np.ndarray, radius: int) -> Callable[[np.ndarray], np.ndarray]:
    """:func:`box_mean` with ``weight`` and ``radius`` fixed: the per-window pixel counts are
    summed once, not again for every image averaged over the same mask."""
    w = weight.astype(np.float64)
    size = (2 * radius + 1) ** 2
    # the share of counted pixels per window, snapped to whole pixels: the running sums leave a
    # ~1e-16 residue where a window holds none
    den = np.rint(_box_average(w, radius) * size) / size
    counted = den > 0

    def mean(x: np.ndarray) -> np.ndarray:
        num = _box_average(np.asarray(x, dtype=np.float64) * w, radius)
        return np.divide(num, den, out=np.zeros_like(num), where=counted)

    return mean


def _box_average(x: np.ndarray, r: int) -> np.ndarray:
    """Sum over each ``(2r+1)^2`` window of the last two axes (zero outside), divided by ``(2r+1)^2``.

    Two 1-D running sums (:func:`scipy.ndimage.uniform_filter1d`, accumulated in float64),
    which were faster than integral images of the whole plane (the timings were not recorded).
    """
    size = 2 * r + 1
    rows = uniform_filter1d(x, size, axis=-1, mode="constant", cval=0.0)
    return uniform_filter1d(rows, size, axis=-2, mode="constant", cval=0.0)


def guided_filter(probs: np.ndarray, guide: np.ndarray, valid: np.ndarray, spec: SmoothSpec) -> np.ndarray:
    """Guided filter of each class's probabilities, renormalised to a distribution per pixel.

    Args:
        probs: ``(K, H, W)`` class probabilities.
        guide: ``(H, W)`` guide image, or ``(G, H, W)`` guide channels, each about [0, 1].
        valid: ``(H, W)`` bool; other pixels are ignored (their output is the input).
        spec: radius and ridge (``spec.components`` is not read: the guide's channels count).

    Returns:
        ``(K, H, W)`` float32 probabilities (non-negative, summing to 1 at valid pixels).
    """
    m = valid.astype(bool)
    mean = masked_box_mean(m, spec.radius)
    g = np.where(m, guide if guide.ndim == 3 else guide[None], 0.0).astype(np.float64)  # (G, H, W)
    mean_g = mean(g)
    cov = mean(g[:, None] * g[None]) - mean_g[:, None] * mean_g[None]  # (G, G, H, W) guide covariance
    cov += spec.eps * np.eye(g.shape[0])[:, :, None, None]
    if g.shape[0] == 1:  # a grey guide: 1 / x, the same values as a batched 1 x 1 inverse, and faster
        inv = 1.0 / cov
    else:
        inv = np.linalg.inv(np.moveaxis(cov, (0, 1), (-2, -1)))  # (H, W, G, G)
        inv = np.ascontiguousarray(np.moveaxis(inv, (-2, -1), (0, 1)))  # planes contiguous again
    q = np.empty(probs.shape, dtype=np.float64)
    for k in range(probs.shape[0]):  # one class at a time: memory of a few (G, H, W) images, not K of them
        p = np.where(m, probs[k], 0.0).astype(np.float64)
        mean_p = mean(p)
        a = np.einsum("ijhw,jhw->ihw", inv, mean(g * p) - mean_g * mean_p)  # (G, H, W) slopes of each window
        b = mean_p - np.einsum("ihw,ihw->hw", a, mean_g)
        q[k] = np.clip(np.einsum("ihw,ihw->hw", mean(a), g) + mean(b), 0.0, None)
    total = q.sum(axis=0, keepdims=True)
    q = np.divide(q, total, out=np.zeros_like(q), where=total > 0)
    return np.where(m, q, probs).astype(np.float32)


@dataclass(frozen=True)
class GuideProjection:
    """The guide: the first principal components of per-band standardised spectra, each scaled to [0, 1].

    Attributes:
        bands: ``(C_used,)`` indices of the bands it reads (finite and not constant in the sample).
        mean, scale: ``(C_used,)`` per-band standardisation.
        vectors: ``(G, C_used)`` unit principal axes of the standardised sample, largest variance first.
        low, high: ``(G,)`` range of the sample's projections (mapped to 0 and 1).
    """

    bands: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    vectors: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, spectra: np.ndarray, source: str = "input", components: int = DEFAULT_COMPONENTS) -> GuideProjection:
        """Fit on ``(C, N)`` spectra (NaN = no data; pixels without a finite band are skipped).

        ``components`` principal axes are kept, or as many as there are usable bands.

        Raises:
            InvalidDataError: no valid pixel, or no band that varies.
        """
        x = np.asarray(spectra, dtype=np.float32)
        x = x[:, np.isfinite(x).any(axis=0)]
        if x.shape[1] == 0:
            raise InvalidDataError(f"{source}: every pixel is no-data; nothing to smooth")
        finite = np.isfinite(x).all(axis=1)
        mean, std = np.zeros(x.shape[0]), np.zeros(x.shape[0])
        mean[finite] = x[finite].mean(axis=1, dtype=np.float64)
        std[finite] = x[finite].std(axis=1, dtype=np.float64)
        bands = np.flatnonzero(finite & (std > 0))
        if bands.size == 0:
            raise InvalidDataError(f"{source}: no band varies across the scene; --smooth guided needs an image with edges")
        z = ((x[bands] - mean[bands, None]) / std[bands, None]).astype(np.float32)  # (C_used, N)
        _, vecs = np.linalg.eigh((z @ z.T).astype(np.float64) / z.shape[1])  # band correlation matrix
        vectors = vecs[:, ::-1][:, : min(components, bands.size)].T  # largest eigenvalues first
        vectors = vectors * np.where(vectors.sum(axis=1, keepdims=True) >= 0, 1.0, -1.0)  # signs fixed
        proj = vectors.astype(np.float32) @ z  # (G, N)
        return cls(bands, mean[bands], std[bands], vectors, proj.min(axis=1).astype(np.float64),
                   proj.max(axis=1).astype(np.float64))

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """``(C, h, w)`` raw values (NaN = no data) -> ``(G, h, w)`` float32 guide, clipped to [0, 1].

        Band by band, so no copy of the window is made; a NaN value counts as its band's mean.
        """
        proj = np.zeros((self.vectors.shape[0], *image.shape[1:]), dtype=np.float64)
        term = np.empty(image.shape[1:], dtype=np.float64)
        for band, mean, weights in zip(self.bands, self.mean, (self.vectors / self.scale).T):
            z = image[band] - mean
            z[~np.isfinite(z)] = 0.0
            for out, weight in zip(proj, weights):  # out += weight * z, without temporaries
                out += np.multiply(z, weight, out=term)
        span = np.maximum(self.high - self.low, 1e-12)[:, None, None]
        return np.clip((proj - self.low[:, None, None]) / span, 0.0, 1.0).astype(np.float32)


def fit_guide(cube: Cube, components: int = DEFAULT_COMPONENTS, max_pixels: int = GUIDE_SAMPLE_PIXELS,
              window: int = 512, progress: bool = False) -> GuideProjection:
    """:class:`GuideProjection` of ``cube`` (``components`` principal axes), fitted on every
    ``s``-th row and column (``s`` keeps it under ``max_pixels``).

    The scene is read window by window, as :func:`hsi_app.infer.predict_scene` reads it, so a
    lazy cube is never loaded whole and the fit adds nothing to the prediction's peak memory.
    ``progress`` shows a bar over those windows (a 2000 x 2000 x 200 scene takes ~8 s).
    """
    _, h, w = cube.hsi.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
    sample = strided_sample(lambda win: read_window(cube, win)[0], h, w, min(window, max(h, w)), step,
                            progress=progress, desc="guide")  # (C, N) float32, NaN = no data
    return GuideProjection.fit(sample, scene_name(cube), components)


def smoothed(prob_fn: ProbFn, guide: GuideProjection, spec: SmoothSpec) -> ProbFn:
    """Wrap a per-window probability function so that its output is guided-filtered.

    The caller reads windows with ``spec.halo`` more pixels of context (see module docstring).
    """

    def fn(image: np.ndarray) -> np.ndarray:
        valid = np.isfinite(image).any(axis=0)
        return guided_filter(prob_fn(image), guide(image), valid, spec)

    return fn


def with_smoothing(prob_fn: ProbFn, halo: int, cube: Cube, spec: SmoothSpec | None,
                   progress: bool = False) -> tuple[ProbFn, int]:
    """``(prob_fn, halo)`` for :func:`hsi_app.infer.predict_scene` on ``cube``, guided-filtered when
    ``spec`` is given (the guide fitted on ``cube``, with a progress bar when ``progress``; the halo
    widened by ``spec.halo``)."""
    if spec is None:
        return prob_fn, halo
    return smoothed(prob_fn, fit_guide(cube, spec.components, progress=progress), spec), halo + spec.halo
