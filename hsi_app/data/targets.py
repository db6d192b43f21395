"""Point-target simulator in the style of the SPOD benchmark (SpecDETR).

Library spectra are implanted into a real background cube. For each target:

* a class ``k`` (its main material) and 1-3 library spectra ``s_i`` with proportions
  ``p_i`` (the main material gets ``p_1`` in 0.6-0.9 when mixed, the others share the
  rest), and a gain ``g`` drawn in ``1 +- gain`` (default +-30 %);
* a disc footprint of area ``A`` pixels at a sub-pixel centre. ``A`` is drawn per size
  bin: sub-pixel (0.2-0.9 px), 1-2, 3-5 and 6-16 px. The abundance ``a`` of a pixel is
  the fraction of the pixel the disc covers (8 x 8 super-sampling), so edges get
  fractional abundance and sub-pixel targets have low abundance (at most ``A``);
* every affected pixel becomes ``a * g * sum_i p_i s_i + (1 - a) * background``;
* centres are at least ``min_distance`` (8) pixels apart and stay inside ``region``; less than
  :data:`SEPARATE_SPACING` (5.93 px) is refused, so no pixel ever holds two targets and the
  abundance and class maps describe every pixel.

Ground truth is one point per target (continuous pixel coordinates: pixel ``(r, c)``
spans ``[r, r+1) x [c, c+1)``, so its centre is ``(r + 0.5, c + 0.5)``), its box (the
pixel-aligned bounding box of pixels with abundance >= 10 % of the target's peak) and
per-pixel abundance and class maps. Everything is drawn from one seed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, InvalidDataError

SIZE_BINS: dict[str, tuple[float, float]] = {
    "sub-pixel": (0.2, 0.9),
    "1-2": (1.0, 2.0),
    "3-5": (3.0, 5.0),
    "6-16": (6.0, 16.0),
}
SUPERSAMPLE = 8
BOX_FRACTION = 0.1
MAX_RADIUS = float(np.sqrt(max(hi for _, hi in SIZE_BINS.values()) / np.pi))
"""Radius of the largest footprint (a 16 px disc: 2.26 px)."""
SEPARATE_SPACING = 2 * MAX_RADIUS + float(np.sqrt(2.0))
"""Smallest centre spacing at which two of the largest footprints never reach into one pixel (5.93 px): both
discs meeting one pixel puts their centres within two radii plus the pixel's diagonal. Closer, a pixel mixes
two targets, which the abundance and class maps (one value each) cannot describe."""


def check_min_distance(min_distance: float, option: str = "--min-distance") -> None:
    """Refuse a centre spacing below :data:`SEPARATE_SPACING` (footprints could share a pixel).

    Raises:
        ConfigError: one line giving the smallest spacing allowed.
    """
    if min_distance < SEPARATE_SPACING:
        smallest = np.ceil(SEPARATE_SPACING * 100) / 100
        raise ConfigError(
            f"{option} {min_distance:g}: below {smallest:.2f} px two of the largest targets (16 px discs, radius "
            f"{MAX_RADIUS:.2f} px) can reach into one pixel, which the abundance and class maps cannot describe; "
            f"use {option} {smallest:.2f} or more")


def size_bin(area: float) -> str:
    """Name of the size bin of a target of ``area`` pixels (bins as in :data:`SIZE_BINS`)."""
    if area < 1.0:
        return "sub-pixel"
    if area < 2.5:
        return "1-2"
    if area < 5.5:
        return "3-5"
    return "6-16"


@dataclass
class SimOptions:
    """Knobs of :func:`simulate_targets`.

    Attributes:
        density: targets per pixel of allowed area (before spacing rejections).
        n_targets: exact number to try to place (overrides ``density``).
        min_distance: smallest distance between target centres, pixels.
        bins: probability of each size bin (keys of :data:`SIZE_BINS`).
        max_materials: largest number of library spectra mixed in one target (1-3).
        gain: targets are scaled by a gain drawn in ``[1 - gain, 1 + gain]``.
        scale: factor from library reflectance to cube values (see
            :func:`hsi_app.io.spectral_library.reflectance_scale`).
    """

    density: float = 1.0 / 150.0
    n_targets: int | None = None
    min_distance: float = 8.0
    bins: dict[str, float] = field(default_factory=lambda: {k: 0.25 for k in SIZE_BINS})
    max_materials: int = 3
    gain: float = 0.3
    scale: float = 1.0


@dataclass
class Target:
    """One implanted target (ground truth)."""

    row: float  # centre, continuous pixel coordinates
    col: float
    class_id: int  # 1..K (library index + 1)
    class_name: str
    area: float  # disc area in pixels
    size_bin: str
    gain: float
    materials: str  # "a+b" library names mixed
    proportions: str  # "0.700000+0.300000": the proportions implanted (6 decimals)
    peak_abundance: float
    box: tuple[int, int, int, int]  # row0, col0, row1, col1 (pixel edges, exclusive end)


@dataclass
class SimulatedScene:
    """A background with implanted targets.

    Attributes:
        image: ``(C, H, W)`` float32 scene with targets.
        abundance: ``(H, W)`` float32 target abundance ``a`` (0 = pure background).
        class_map: ``(H, W)`` int16 class of the target covering the pixel (0 = none).
        targets: the ground truth, one entry per target.
        class_names: ``K`` class names (class ``k`` is ``class_names[k - 1]``).
    """

    image: np.ndarray
    abundance: np.ndarray
    class_map: np.ndarray
    targets: list[Target]
    class_names: list[str]

    def table(self) -> dict[str, np.ndarray]:
        """Ground truth as columns: ``row, col, class_id, class_name, area, size_bin, ...``."""
        cols: dict[str, list[Any]] = {}
        for t in self.targets:
            for k, v in asdict(t).items():
                if k == "box":
                    for name, b in zip(("box_row0", "box_col0", "box_row1", "box_col1"), v, strict=True):
                        cols.setdefault(name, []).append(b)
                else:
                    cols.setdefault(k, []).append(v)
        if not self.targets:
            return {k: np.array([]) for k in ("row", "col", "class_id", "class_name", "area", "size_bin")}
        return {k: np.asarray(v) for k, v in cols.items()}


def disc_coverage(row: float, col: float, radius: float, shape: tuple[int, int],
                  supersample: int = SUPERSAMPLE) -> tuple[tuple[slice, slice], np.ndarray]:
    """Fraction of each pixel covered by a disc.

    Args:
        row, col: disc centre in continuous pixel coordinates.
        radius: disc radius in pixels.
        shape: ``(H, W)`` of the scene (the footprint is clipped to it).
        supersample: sub-samples per pixel side.

    Returns:
        ``(slices, cover)``: the ``(rows, cols)`` window of the scene and ``(h, w)``
        float32 coverage in [0, 1] on it.
    """
    h, w = shape
    r0, r1 = max(0, int(np.floor(row - radius))), min(h, int(np.ceil(row + radius)))
    c0, c1 = max(0, int(np.floor(col - radius))), min(w, int(np.ceil(col + radius)))
    r1, c1 = max(r1, r0 + 1), max(c1, c0 + 1)
    sub = (np.arange(supersample) + 0.5) / supersample
    ys = (np.arange(r0, r1)[:, None] + sub[None, :]).reshape(-1)
    xs = (np.arange(c0, c1)[:, None] + sub[None, :]).reshape(-1)
    inside = ((ys[:, None] - row) ** 2 + (xs[None, :] - col) ** 2) <= radius**2
    cover = inside.reshape(r1 - r0, supersample, c1 - c0, supersample).mean(axis=(1, 3))
    return (slice(r0, r1), slice(c0, c1)), cover.astype(np.float32)


def place_centres(allowed: np.ndarray, n: int, min_distance: float, margin: float,
                  rng: np.random.Generator, max_tries: int = 10) -> np.ndarray:
    """Up to ``n`` random centres ``(N, 2)`` (row, col) in ``allowed``, pairwise >= ``min_distance`` apart.

    A centre is accepted only when every pixel within ``margin`` of it is allowed.
    """
    from scipy.ndimage import binary_erosion

    m = int(np.ceil(margin))
    ok = allowed.copy()
    if m > 0:
        ok = binary_erosion(ok, structure=np.ones((2 * m + 1, 2 * m + 1), bool), border_value=0)
    cand = np.argwhere(ok)
    if cand.size == 0 or n <= 0:
        return np.zeros((0, 2))
    tries = cand[rng.integers(len(cand), size=n * max_tries)] + rng.random((n * max_tries, 2))
    out = np.empty((n, 2))
    count = 0
    d2 = min_distance**2
    for p in tries:
        if count and (((out[:count] - p) ** 2).sum(axis=1) < d2).any():
            continue
        out[count] = p
        count += 1
        if count >= n:
            break
    return out[:count]


def max_targets(allowed: np.ndarray, min_distance: float) -> int:
    """The most targets that fit ``allowed`` ``(H, W)`` with centres ``min_distance`` px apart.

    At most one per allowed pixel, and at most as many disjoint discs of diameter
    ``min_distance`` as fit the area of the allowed pixels' bounding box grown by that diameter.
    """
    rows, cols = np.nonzero(allowed)
    if rows.size == 0:
        return 0
    most = int(rows.size)
    if min_distance > 1:
        box = (np.ptp(rows) + 1 + min_distance) * (np.ptp(cols) + 1 + min_distance)
        most = min(most, int(box / (np.pi * min_distance**2 / 4)))
    return most


def simulate_targets(
    background: np.ndarray,
    spectra: np.ndarray,
    class_names: list[str],
    *,
    seed: int,
    options: SimOptions | None = None,
    region: np.ndarray | None = None,
) -> SimulatedScene:
    """Implant library targets into a background.

    Args:
        background: ``(C, H, W)`` background cube (cube units; NaN = no data).
        spectra: ``(K, C)`` library reflectance at the cube's bands (multiplied by
            ``options.scale`` to reach cube units).
        class_names: ``K`` names.
        seed: random seed; equal seeds give equal scenes.
        options: density, spacing, size bins, mixing and gain.
        region: ``(H, W)`` bool, where target footprints may lie (default: valid pixels).

    Returns:
        The :class:`SimulatedScene`.

    Raises:
        ConfigError: inconsistent spectra/names or bad options.
        InvalidDataError: the region leaves no room for a target; a spectrum with NaN/inf, or 0 at every band
            (:func:`~hsi_app.tasks.detectors_classical.check_targets`).
    """
    opts = options or SimOptions()
    bg = np.asarray(background, dtype=np.float32)
    lib = np.asarray(spectra, dtype=np.float64) * opts.scale
    if bg.ndim != 3 or lib.ndim != 2 or lib.shape[1] != bg.shape[0]:
        raise ConfigError(f"simulate_targets: background {bg.shape} (C, H, W) and spectra {lib.shape} (K, C) disagree")
    if lib.shape[0] != len(class_names) or lib.shape[0] == 0:
        raise ConfigError(f"simulate_targets: {lib.shape[0]} spectra but {len(class_names)} class names")
    from hsi_app.tasks.detectors_classical import check_targets

    check_targets(spectra, bg.shape[0])  # a spectrum of zeros (an empty library column) would implant black targets
    if not 1 <= opts.max_materials <= 3 or not 0 <= opts.gain < 1:
        raise ConfigError(f"simulate_targets: max_materials={opts.max_materials} (1-3), gain={opts.gain} (0-1)")
    if opts.n_targets is not None and opts.n_targets < 0:
        raise ConfigError(f"simulate_targets: n_targets={opts.n_targets}; must be 0 or more (--n-targets >= 1)")
    if not (np.isfinite(opts.density) and opts.density >= 0) or not (np.isfinite(opts.min_distance) and opts.min_distance >= 0):
        raise ConfigError(f"simulate_targets: density={opts.density}, min_distance={opts.min_distance}; both must be >= 0")
    check_min_distance(opts.min_distance, "min_distance")
    bins = {k: float(v) for k, v in opts.bins.items() if v > 0}
    if not bins or any(k not in SIZE_BINS for k in bins):
        raise ConfigError(f"simulate_targets: size bins {list(opts.bins)}; use {list(SIZE_BINS)}")
    rng = np.random.default_rng(seed)
    _, h, w = bg.shape
    allowed = np.isfinite(bg).all(axis=0) if region is None else (np.asarray(region, bool) & np.isfinite(bg).all(axis=0))
    most = max_targets(allowed, opts.min_distance)
    fit = f"at most {most} fit the {int(allowed.sum())} valid pixels {opts.min_distance:g} px apart (--min-distance)"
    if opts.n_targets is not None and opts.n_targets > most:
        raise ConfigError(f"--n-targets {opts.n_targets}: {fit}; use --n-targets {most} or fewer")
    if opts.n_targets is None and opts.density * allowed.sum() > most:
        raise ConfigError(f"--density {opts.density:g}: about {opts.density * allowed.sum():.3g} targets, but {fit}; "
                          f"use a lower --density or --n-targets {most}")
    n = opts.n_targets if opts.n_targets is not None else min(most, int(rng.poisson(opts.density * allowed.sum())))
    centres = place_centres(allowed, n, opts.min_distance, margin=MAX_RADIUS + 1, rng=rng)
    if opts.n_targets and len(centres) == 0:
        raise InvalidDataError("simulate_targets: no room for a target in the region; use a larger region")
    image = bg.copy()
    abundance = np.zeros((h, w), np.float32)
    class_map = np.zeros((h, w), np.int16)
    names, probs = list(bins), np.array(list(bins.values())) / sum(bins.values())
    k_all = lib.shape[0]
    targets: list[Target] = []
    for row, col in centres:
        b = names[rng.choice(len(names), p=probs)]
        lo, hi = SIZE_BINS[b]
        area = float(rng.uniform(lo, hi))
        k = int(rng.integers(k_all))
        n_mat = int(rng.integers(1, min(opts.max_materials, k_all) + 1))
        others = rng.choice([j for j in range(k_all) if j != k], size=n_mat - 1, replace=False) if n_mat > 1 else []
        mats = [k, *[int(j) for j in others]]
        if n_mat == 1:
            props = np.array([1.0])
        else:
            p1 = rng.uniform(0.6, 0.9)
            rest = rng.dirichlet(np.ones(n_mat - 1)) * (1 - p1)
            props = np.concatenate([[p1], rest])
        gain = float(rng.uniform(1 - opts.gain, 1 + opts.gain))
        spec = gain * (props @ lib[mats])  # (C,)
        sl, cover = disc_coverage(row, col, float(np.sqrt(area / np.pi)), (h, w))
        a = cover
        pix = image[:, sl[0], sl[1]]
        image[:, sl[0], sl[1]] = np.where(a[None] > 0, a[None] * spec[:, None, None] + (1 - a[None]) * pix, pix)
        abundance[sl] = np.maximum(abundance[sl], a)
        class_map[sl][a > 0] = k + 1
        peak = float(a.max())
        rr, cc = np.nonzero(a >= BOX_FRACTION * peak)
        box = (sl[0].start + int(rr.min()), sl[1].start + int(cc.min()),
               sl[0].start + int(rr.max()) + 1, sl[1].start + int(cc.max()) + 1)
        targets.append(Target(
            row=float(row), col=float(col), class_id=k + 1, class_name=class_names[k], area=area,
            size_bin=size_bin(area), gain=gain, materials="+".join(class_names[j] for j in mats),
            proportions="+".join(f"{p:.6f}" for p in props), peak_abundance=peak, box=box,
        ))
    return SimulatedScene(image, abundance, class_map, targets, list(class_names))
