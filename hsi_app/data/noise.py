"""Seeded noise models for hyperspectral denoising (the cases of the HSDT / QRNN3D papers).

Cubes are assumed normalised to ``[0, 1]``; Gaussian σ values are given on the 0–255
scale of the papers (``σ = 50`` adds noise of standard deviation ``50 / 255``).

Spec strings (``parse_noise``):

===================  =========================================================================
``gaussian:S``       i.i.d. Gaussian, fixed σ = S (e.g. ``gaussian:50``)
``blind[:A-B]``      i.i.d. Gaussian, σ drawn once per sample from U[A, B] (default 10–70)
``noniid[:A-B]``     Gaussian with one σ per band, each from U[A, B] (default 10–70)
``stripe``           non-i.i.d. Gaussian + stripes on a third of the bands
``deadline``         non-i.i.d. Gaussian + dead lines on a third of the bands
``impulse``          non-i.i.d. Gaussian + salt-and-pepper on a third of the bands
``mixture``          non-i.i.d. Gaussian on every band + stripes, dead lines and impulse on
                     three disjoint thirds of the bands (one seeded permutation cut into
                     consecutive thirds, sizes differing by at most one band)
===================  =========================================================================

Stripes add one offset from U[-0.25, 0.25] to every pixel of 5–15 % of the columns of a
band; dead lines set 5–15 % of the columns of a band to 0; impulse noise sets a fraction
(drawn from 0.1, 0.3, 0.5, 0.7) of the band's pixels to 0 or 1.

Reproducibility, also under windowing: :meth:`NoiseModel.plan` draws every band- and
column-level choice for a whole ``(C, H, W)`` scene from the seed, and pixel-level noise
comes from fixed 64 x 64 blocks of the scene grid, each seeded by ``(seed, block row,
block col)``. So :meth:`NoisePlan.apply` gives every pixel the same noise whether the
scene is processed in one piece or window by window, with memory bounded by the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from hsi_app.errors import ConfigError

SCALE = 255.0
BLOCK = 64
DEFAULT_RANGE = (10.0, 70.0)
STRIPE_COLUMNS = (0.05, 0.15)
STRIPE_AMPLITUDE = 0.25
IMPULSE_AMOUNTS = (0.1, 0.3, 0.5, 0.7)
KINDS = ("gaussian", "blind", "noniid", "stripe", "deadline", "impulse", "mixture")
_SPEC_HELP = "gaussian:50 | blind[:10-70] | noniid[:10-70] | stripe | deadline | impulse | mixture"


@dataclass(frozen=True)
class NoiseModel:
    """A parsed noise spec (see the module docstring).

    Attributes:
        kind: one of :data:`KINDS`.
        sigma: fixed σ (0–255 scale) for ``gaussian``.
        sigma_range: ``(low, high)`` σ range (0–255 scale) for the other kinds.
    """

    kind: str
    sigma: float = 50.0
    sigma_range: tuple[float, float] = DEFAULT_RANGE

    @property
    def spec(self) -> str:
        """The canonical spec string."""
        if self.kind == "gaussian":
            return f"gaussian:{self.sigma:g}"
        lo, hi = self.sigma_range
        return f"{self.kind}:{lo:g}-{hi:g}" if self.kind in ("blind", "noniid") else self.kind

    def plan(self, shape: tuple[int, int, int], seed: int) -> NoisePlan:
        """Draw every scene-level random choice for a ``(C, H, W)`` scene.

        Args:
            shape: ``(C, H, W)`` of the whole scene.
            seed: any non-negative integer.

        Returns:
            A :class:`NoisePlan`; apply it to the scene or to any window of it.
        """
        c, h, w = (int(s) for s in shape)
        rng = np.random.default_rng([int(seed), 0])
        lo, hi = self.sigma_range
        if self.kind == "gaussian":
            sigmas = np.full(c, self.sigma / SCALE)
        elif self.kind == "blind":
            sigmas = np.full(c, rng.uniform(lo, hi) / SCALE)
        else:
            sigmas = rng.uniform(lo, hi, size=c) / SCALE
        plan = NoisePlan(shape=(c, h, w), seed=int(seed), sigmas=sigmas.astype(np.float32))
        extras = {"stripe": ("stripe",), "deadline": ("deadline",), "impulse": ("impulse",),
                  "mixture": ("stripe", "deadline", "impulse")}.get(self.kind, ())
        for name, bands in zip(extras, _band_sets(rng, c, len(extras)), strict=True):
            if name == "impulse":
                plan.impulse = {int(b): float(rng.choice(IMPULSE_AMOUNTS)) for b in bands}
                continue
            cols: dict[int, np.ndarray] = {}
            offsets: dict[int, np.ndarray] = {}
            for b in bands:
                frac = rng.uniform(*STRIPE_COLUMNS)
                k = max(1, int(round(frac * w)))
                chosen = np.sort(rng.choice(w, size=min(k, w), replace=False))
                cols[int(b)] = chosen
                offsets[int(b)] = rng.uniform(-STRIPE_AMPLITUDE, STRIPE_AMPLITUDE, size=chosen.size).astype(np.float32)
            if name == "stripe":
                plan.stripes, plan.stripe_offsets = cols, offsets
            else:
                plan.deadlines = cols
        return plan


@dataclass
class NoisePlan:
    """Scene-level noise choices; :meth:`apply` adds the noise to the scene or a window.

    Attributes:
        shape: ``(C, H, W)`` of the scene the plan was drawn for.
        seed: the seed (pixel noise blocks are seeded from it).
        sigmas: ``(C,)`` Gaussian σ per band, on the ``[0, 1]`` data scale.
        stripes: band -> striped column indices; ``stripe_offsets`` the matching offsets.
        deadlines: band -> dead column indices.
        impulse: band -> fraction of pixels hit by salt-and-pepper noise.
    """

    shape: tuple[int, int, int]
    seed: int
    sigmas: np.ndarray
    stripes: dict[int, np.ndarray] = field(default_factory=dict)
    stripe_offsets: dict[int, np.ndarray] = field(default_factory=dict)
    deadlines: dict[int, np.ndarray] = field(default_factory=dict)
    impulse: dict[int, float] = field(default_factory=dict)

    def _block(self, br: int, bc: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Standard normal ``(C, BLOCK, BLOCK)`` and, if needed, uniform impulse draws."""
        c = self.shape[0]
        rng = np.random.default_rng([self.seed, 1, br, bc])
        gauss = rng.standard_normal((c, BLOCK, BLOCK), dtype=np.float32)
        uni = rng.random((c, BLOCK, BLOCK), dtype=np.float32) if self.impulse else None
        return gauss, uni

    def apply(self, x: np.ndarray, row_off: int = 0, col_off: int = 0) -> np.ndarray:
        """Add the planned noise to ``x``, a window of the scene.

        Args:
            x: ``(C, h, w)`` clean values on the ``[0, 1]`` scale, the window of the
                scene whose top-left pixel is ``(row_off, col_off)``.
            row_off, col_off: position of the window in the scene.

        Returns:
            ``(C, h, w)`` float32 noisy copy (not clipped).

        Raises:
            ConfigError: the window does not fit the planned scene.
        """
        c, h, w = x.shape
        sc, sh, sw = self.shape
        if c != sc or row_off < 0 or col_off < 0 or row_off + h > sh or col_off + w > sw:
            raise ConfigError(
                f"noise plan for a {sc} x {sh} x {sw} scene cannot cover a {c}-band window at "
                f"({row_off}, {col_off}) of {h} x {w}; plan the noise for the scene being processed"
            )
        gauss = np.empty((c, h, w), dtype=np.float32)
        uni = np.empty((c, h, w), dtype=np.float32) if self.impulse else None
        for br in range(row_off // BLOCK, (row_off + h - 1) // BLOCK + 1):
            for bc in range(col_off // BLOCK, (col_off + w - 1) // BLOCK + 1):
                g, u = self._block(br, bc)
                r0, r1 = max(row_off, br * BLOCK), min(row_off + h, (br + 1) * BLOCK)
                c0, c1 = max(col_off, bc * BLOCK), min(col_off + w, (bc + 1) * BLOCK)
                dst = (slice(None), slice(r0 - row_off, r1 - row_off), slice(c0 - col_off, c1 - col_off))
                src = (slice(None), slice(r0 - br * BLOCK, r1 - br * BLOCK), slice(c0 - bc * BLOCK, c1 - bc * BLOCK))
                gauss[dst] = g[src]
                if uni is not None and u is not None:
                    uni[dst] = u[src]
        out = np.asarray(x, dtype=np.float32) + gauss * self.sigmas[:, None, None]
        for b, cols in self.stripes.items():
            local, offs = _local_columns(cols, self.stripe_offsets[b], col_off, w)
            out[b][:, local] += offs[None, :]
        for b, cols in self.deadlines.items():
            local, _ = _local_columns(cols, None, col_off, w)
            out[b][:, local] = 0.0
        if uni is not None:
            for b, amount in self.impulse.items():
                hit = uni[b] < amount
                salt = uni[b] < amount / 2
                out[b][hit] = 0.0
                out[b][salt] = 1.0
        return out


def _band_sets(rng: np.random.Generator, c: int, kinds: int) -> list[np.ndarray]:
    """Sorted band indices for each of ``kinds`` extra noise types on ``c`` bands.

    One type: ``round(c / 3)`` random bands (at least one). Several (``mixture``): one
    permutation of the bands cut into consecutive, near-equal parts (sizes differ by at most
    one), so the sets are disjoint and together cover every band, as in QRNN3D / HSDT
    (which leave the ``c mod 3`` remaining bands with Gaussian noise only).
    """
    if kinds == 0 or c == 0:
        return [np.empty(0, dtype=np.int64)] * kinds
    if kinds == 1:
        return [np.sort(rng.choice(c, size=max(1, int(round(c / 3))), replace=False))]
    return [np.sort(part) for part in np.array_split(rng.permutation(c), kinds)]


def _local_columns(cols: np.ndarray, offsets: np.ndarray | None, col_off: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Scene column indices -> indices inside a window starting at ``col_off`` of width ``w``."""
    sel = (cols >= col_off) & (cols < col_off + w)
    offs = offsets[sel] if offsets is not None else np.empty(0, dtype=np.float32)
    return cols[sel] - col_off, offs


def parse_noise(spec: str) -> NoiseModel:
    """Parse a noise spec string (see the module docstring).

    Raises:
        ConfigError: unknown kind or malformed numbers.
    """
    text = str(spec).strip().lower()
    name, colon, arg = text.partition(":")
    if colon and not arg.strip():
        raise ConfigError(f"--noise {spec!r}: nothing after ':'; e.g. gaussian:50, or {name} alone for its default")
    if name not in KINDS:
        raise ConfigError(f"--noise {spec!r}: unknown noise model; use {_SPEC_HELP}")
    try:
        if name == "gaussian":
            sigma = float(arg) if arg else 50.0
            if not 0 < sigma <= SCALE:
                raise ValueError
            return NoiseModel("gaussian", sigma=sigma)
        if arg and name in ("blind", "noniid"):
            m = re.fullmatch(r"\s*([0-9.]+)\s*-\s*([0-9.]+)\s*", arg)
            if m is None:
                raise ValueError
            lo, hi = float(m.group(1)), float(m.group(2))
            if not 0 <= lo <= hi <= SCALE:
                raise ValueError
            return NoiseModel(name, sigma_range=(lo, hi))
        if arg:
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"--noise {spec!r}: bad numbers; σ is on the 0-255 scale, e.g. gaussian:50 or noniid:10-70"
        ) from None
    return NoiseModel(name)


def add_noise(x: np.ndarray, spec: str | NoiseModel, seed: int) -> np.ndarray:
    """Add seeded noise to a whole ``(C, H, W)`` cube on the ``[0, 1]`` scale.

    Args:
        x: ``(C, H, W)`` numpy array (or a Cube: its values).
        spec: a noise model or its spec (:func:`parse_noise`).
        seed: noise seed.

    Returns:
        ``(C, H, W)`` float32 noisy copy; the same ``seed`` gives the same noise.

    Raises:
        ConfigError: ``x`` not ``(C, H, W)``, or a bad ``spec``.
    """
    model = parse_noise(spec) if isinstance(spec, str) else spec
    x = np.asarray(x)
    if x.ndim != 3:
        raise ConfigError(f"add_noise: x has shape {x.shape}; pass a (C, H, W) cube, bands first (x[None] for one band)")
    return model.plan(tuple(x.shape), seed).apply(x)  # type: ignore[arg-type]
