"""ChannelViT: a dense channel-token transformer with wavelength-aware channel embeddings.

ChannelViT (Bao et al., 2024) builds one token per input channel with a spatial patch
projection shared by all channels, adds a learned channel embedding, attends across
channel tokens, and trains with Hierarchical Channel Sampling (HCS) so the model copes
with any subset of channels. Here, for hyperspectral cubes and dense output:

* **Band groups.** Tokens are built per contiguous band group so 200+ bands give ~10
  tokens: bands are binned by wavelength into ``group_nm``-wide ranges (an absolute nm
  grid, so a band subset keeps its groups), or, with ``group_size``, cut into runs of
  that many bands in wavelength order.
* **Shared patch projection.** Band ``b`` of group ``g`` contributes
  ``conv_p(x_b) * s(lambda_b, fwhm_b)``: one ``p x p`` projection shared by every band and
  group, scaled per feature by a learned function ``s`` of the band's wavelength and
  FWHM; the group token is the mean over the group's bands (so it is defined for any
  number of bands). As the projection is linear this is computed as a wavelength-weighted
  band mix followed by one shared depthwise ``p x p`` conv.
* **Channel embedding** ``e(centre_g, width_g)``: a small MLP on Fourier features of the
  group's centre wavelength and spectral width (nm) is added to the group token. No
  table indexed by band position exists: one set of weights serves AVIRIS (200 bands),
  WHU-Hi (270), EnMAP (224) or any subset, given their wavelengths.
* **Blocks**: pre-norm multi-head attention across the channel tokens of each pixel, a
  shared ``3 x 3`` depthwise conv for spatial mixing of every token map, and an MLP.
* **Head**: mean over channel tokens (invariant to band order; with
  ``token_pool="meanmax"`` also their maximum, so ``2D`` features), optional residual
  spatial blocks on those per-pixel features (``trunk``: one
  :class:`~hsi_app.models.layers.SpatialBlock` per dilation, as in the ssfcn), local box
  means (:class:`~hsi_app.models.layers.BoxContext`), LayerNorm and a linear classifier.
* **HCS** (training mode, ``hcs=True``): each forward call (a fraction ``hcs_prob`` of
  them, from fraction ``hcs_start`` of the run on) draws ``m`` uniformly from ``[ceil(hcs_min * C), C]``, then a random subset of
  ``m`` bands, and runs on those bands with their wavelengths. The trainer only reports
  its progress (for ``hcs_start``).
* **Band-subset robustness by construction** (options): ``min_period_nm`` bounds how fast
  the band gain and channel embedding may vary with wavelength (with 10 nm bands, a
  10 nm period lets the gain alternate between neighbours, which every other band
  aliases); ``quadrature=True`` weights each band by its share of the group's wavelength
  bin, so a group token is an integral estimate that every other band reproduces
  closely; ``weighted_snv=True`` takes an SNV input's mean and spread over wavelength, so
  a band subset barely moves the inputs. ``channel_vit_hcs_snv`` turns all three on with
  HCS; ``channel_vit`` and ``channel_vit_snv`` keep the defaults (BENCHMARKS.md, sessions 30-31).

Every spatial operation is a zero-padded local conv or box mean and normalisation is
per token, so windowed inference with a halo of :attr:`ChannelViT.receptive_radius`
equals one-shot inference. ``forward(x, wavelengths, fwhm)`` takes the wavelengths of
the bands actually passed; without them the construction wavelengths are used.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hsi_app.errors import BandMismatchError, ConfigError, HSIWarning
from hsi_app.models.layers import BoxContext, FitsInputs, SpatialBlock, input_layer
from hsi_app.models.layers.quadrature import group_quadrature
from hsi_app.models.registry import register_model

PSEUDO_RANGE_NM = (400.0, 2500.0)
"""Wavelength span assumed for bands whose wavelengths are unknown (evenly spaced)."""
MATCH_TOLERANCE_NM = 2.0


def _as_vector(values: Sequence[float] | np.ndarray | torch.Tensor | None, n: int, what: str) -> np.ndarray | None:
    """``(n,)`` float64, C-contiguous (``wl[::-1]`` has a negative stride, which torch refuses), or None.

    Raises:
        BandMismatchError: not ``n`` values.
    """
    if values is None:
        return None
    raw = values.detach().cpu() if isinstance(values, torch.Tensor) else values
    arr = np.ascontiguousarray(np.asarray(raw, dtype=np.float64).reshape(-1))
    if arr.size != n:
        raise BandMismatchError(f"channel_vit: {arr.size} {what} for {n} bands; pass one value per input band")
    return arr


def check_finite_wavelengths(wl: np.ndarray) -> np.ndarray:
    """``wl`` ``(n,)`` nm unchanged when every value is finite.

    Raises:
        BandMismatchError: one line naming the first non-finite band (a NaN would turn
            every logit into NaN).
    """
    bad = np.flatnonzero(~np.isfinite(wl))
    if bad.size:
        more = f" (and {bad.size - 1} more)" if bad.size > 1 else ""
        raise BandMismatchError(f"channel_vit: the wavelength of band {int(bad[0])} is {wl[bad[0]]}{more}; pass a "
                                "finite wavelength in nm for every band given, or leave out the bands without one")
    return wl


_WARNED: set[str] = set()
"""Partial-wavelength warnings already shown in this process (a run builds its model more than once)."""


def warn_partial_wavelengths(wl: np.ndarray | None) -> None:
    """Warn when some or all of ``(C,)`` wavelengths are unknown: the model then uses evenly
    spaced stand-ins for every band, the known ones included (one line, shown once per process).
    ``None`` (no wavelengths given at all, as a Python caller may build a model) says nothing."""
    if wl is None:
        return
    unknown = int((~np.isfinite(wl)).sum())
    lo, hi = PSEUDO_RANGE_NM
    if 0 < unknown < wl.size:
        message = (f"channel_vit: {unknown} of {wl.size} band wavelengths are unknown, so evenly spaced stand-ins "
                   f"({lo:.0f}-{hi:.0f} nm) are used for all {wl.size} bands; give every band its wavelength "
                   "(the scene's header when training, the run's config.json when it is the run that lacks them) "
                   "to use the real ones")
    elif unknown:
        used = (f"evenly spaced stand-ins ({lo:.0f}-{hi:.0f} nm) are used for its {wl.size} bands" if wl.size > 1
                else f"a stand-in ({lo:.0f} nm) is used for its band")
        message = (f"channel_vit: no band wavelength is known (the scene, or the run's config.json, records none), so "
                   f"{used}: band subsets and other sensors will not match them; train on a file that records "
                   "wavelengths to use the real ones")
    else:
        return
    if message not in _WARNED:  # Python's own once-per-location registry is reset by catch_warnings()
        _WARNED.add(message)
        warnings.warn(message, HSIWarning, stacklevel=2)


def spacing_fwhm(wavelengths: np.ndarray) -> np.ndarray:
    """FWHM estimate of each band: the distance to its neighbours in wavelength order (nm)."""
    wl = np.asarray(wavelengths, dtype=np.float64)
    if wl.size < 2:
        return np.full(wl.shape, 10.0)
    order = np.argsort(wl)
    est = np.empty_like(wl)
    est[order] = np.abs(np.gradient(wl[order]))
    return np.maximum(est, 1.0)


class FourierMLP(nn.Module):
    """Learned function of (wavelength, width) in nm: Fourier features -> MLP.

    Wavelength features use periods from 4000 nm down to ``min_period_nm`` (geometric);
    widths enter through ``log(width / 10 nm)`` and its sines/cosines. The shortest period
    bounds how fast the function can change with wavelength: above twice the band spacing
    of a subset, the subset samples the function without aliasing.

    Shapes:
        ``(n,)`` wavelengths, ``(n,)`` widths -> ``(n, dim)``.
    """

    def __init__(self, dim: int, *, n_freq: int = 16, hidden: int = 64, min_period_nm: float = 10.0) -> None:
        super().__init__()
        periods = torch.logspace(math.log10(4000.0), math.log10(min_period_nm), n_freq)
        self.register_buffer("freqs", 2 * math.pi / periods, persistent=False)
        self.register_buffer("wfreqs", torch.tensor([0.5, 1.0, 2.0, 4.0]), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * n_freq + 9, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, wavelength: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
        """``(n,), (n,)`` nm -> ``(n, dim)``."""
        a = wavelength[:, None] * self.freqs
        lw = torch.log(width.clamp(min=0.1) / 10.0)[:, None]
        b = lw * self.wfreqs
        feats = torch.cat([a.sin(), a.cos(), lw, b.sin(), b.cos()], dim=1)
        return self.mlp(feats)


class ChannelBlock(nn.Module):
    """Attention across channel tokens, shared depthwise spatial conv, MLP (all pre-norm).

    Shapes:
        ``(B, H, W, G, D) -> (B, H, W, G, D)``.
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, kernel: int) -> None:
        super().__init__()
        if dim % heads:
            raise ConfigError(f"channel_vit: embed_dim={dim} is not divisible by heads={heads}")
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.spatial = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)
        self.norm3 = nn.LayerNorm(dim)
        hidden = max(1, int(round(dim * mlp_ratio)))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.radius = kernel // 2

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """``t (B, H, W, G, D)`` -> same shape."""
        b, h, w, g, d = t.shape
        q, k, v = self.qkv(self.norm1(t)).reshape(b * h * w, g, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)  # (BHW, heads, G, d_head)
        t = t + self.proj(a.transpose(1, 2).reshape(b, h, w, g, d))
        maps = self.norm2(t).permute(0, 3, 4, 1, 2).reshape(b * g, d, h, w)
        t = t + self.spatial(maps).reshape(b, g, d, h, w).permute(0, 3, 4, 1, 2)
        return t + self.mlp(self.norm3(t))


class ChannelViT(FitsInputs, nn.Module):
    """Dense ChannelViT over wavelength-binned band groups.

    Args:
        in_chans: bands ``C`` of the construction band set (other sets can be passed to
            :meth:`forward` with their wavelengths).
        num_classes: output classes ``K``.
        embed_dim: token width ``D``.
        depth: channel blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden width factor.
        patch: odd size of the shared spatial patch projection (1 = per pixel).
        kernel: odd size of each block's depthwise spatial conv.
        group_nm: width of the wavelength bins that define band groups (nm).
        group_size: if set, groups are runs of this many bands in wavelength order
            (bands with the same centre in their input order) instead of wavelength bins.
        pools: odd box sizes of the head's local means (``()`` for none).
        hcs: Hierarchical Channel Sampling in training mode.
        hcs_min: smallest fraction of the bands HCS keeps.
        hcs_prob: probability that a training forward call samples bands (the others
            see all bands).
        hcs_start: fraction of the training run after which HCS starts (0: from the
            first step). The trainer reports its progress through
            :meth:`set_training_progress`; a model trained by another loop is taken to be
            at the end of its run, so HCS is on there whenever ``hcs`` is.
        quadrature: weight each band of a group by its share of the group's wavelength
            range (:func:`group_quadrature`) instead of equally, and describe the group to
            the channel embedding by the weighted centre and the covered width, so a group
            token estimates the same spectral integral from a band subset.
        min_period_nm: shortest Fourier period (nm) of the band-gain and channel-embedding
            functions of wavelength; longer periods make them smoother, so a band subset
            (every other band) sees nearly the same group tokens.
        drop: dropout before the head.
        token_pool: how the head summarises a pixel's channel tokens: ``"mean"`` (``D``
            features) or ``"meanmax"`` (their mean and maximum, ``2D``); both ignore band order.
        trunk: dilations of residual ``3 x 3`` depthwise spatial blocks applied to the pooled
            per-pixel features before the box means (``()``: none; each adds its dilation
            to the receptive radius).
        wavelengths: ``(C,)`` band centres in nm (default: evenly spaced over
            400-2500 nm, for data without wavelengths).
        fwhm: ``(C,)`` band widths in nm; NaN or missing entries: the band spacing (the
            default for all). A run gives the scene's FWHM only when it trains with it
            (:mod:`hsi_app.model_fwhm`).
        inputs: ``"bands"`` (the normalised bands) or ``"snv"`` (each pixel's SNV over the
            bands it is given, after HCS; :class:`~hsi_app.models.layers.WavelengthSNV`,
            statistics set by ``fit_inputs`` before training).
        weighted_snv: with SNV inputs, take a pixel's mean and spread over wavelength
            (bands weighted by their share of it) instead of over the bands, so a band
            subset gives nearly the same SNV (:class:`~hsi_app.models.layers.WavelengthSNV`).

    Shapes:
        ``(B, C', H, W) float32 -> (B, K, H, W)`` logits, for any band count ``C'``
        whose wavelengths are given (``C' = C`` otherwise).
    """

    task = "classification"

    def __init__(
        self,
        in_chans: int,
        num_classes: int,
        *,
        embed_dim: int = 24,
        depth: int = 2,
        heads: int = 3,
        mlp_ratio: float = 2.0,
        patch: int = 3,
        kernel: int = 3,
        group_nm: float = 200.0,
        group_size: int | None = None,
        pools: Sequence[int] = (5, 11),
        hcs: bool = True,
        hcs_min: float = 0.25,
        hcs_prob: float = 1.0,
        hcs_start: float = 0.0,
        quadrature: bool = False,
        min_period_nm: float = 10.0,
        drop: float = 0.0,
        token_pool: str = "mean",
        trunk: Sequence[int] = (),
        wavelengths: Sequence[float] | np.ndarray | None = None,
        fwhm: Sequence[float] | np.ndarray | None = None,
        inputs: str = "bands",
        weighted_snv: bool = False,
    ) -> None:
        super().__init__()
        if patch < 1 or patch % 2 != 1 or kernel < 1 or kernel % 2 != 1:
            raise ConfigError(f"channel_vit: patch={patch}, kernel={kernel}; use odd sizes >= 1")
        if group_nm <= 0 or (group_size is not None and group_size < 1):
            raise ConfigError(f"channel_vit: group_nm={group_nm}, group_size={group_size}; both must be positive")
        if not 0.0 < hcs_min <= 1.0 or not 0.0 <= drop < 1.0:
            raise ConfigError(f"channel_vit: hcs_min={hcs_min} must be in (0, 1], drop={drop} in [0, 1)")
        if not 0.0 <= hcs_prob <= 1.0 or not 0.0 <= hcs_start < 1.0:
            raise ConfigError(f"channel_vit: hcs_prob={hcs_prob} must be in [0, 1], hcs_start={hcs_start} in [0, 1)")
        if not 0.0 < min_period_nm < 4000.0:
            raise ConfigError(f"channel_vit: min_period_nm={min_period_nm} must be in (0, 4000) nm")
        if token_pool not in ("mean", "meanmax"):
            raise ConfigError(f"channel_vit: token_pool={token_pool!r}; use 'mean' or 'meanmax'")
        wl = _as_vector(wavelengths, in_chans, "wavelengths")
        if wl is None or not np.isfinite(wl).all():
            warn_partial_wavelengths(wl)
            wl = np.linspace(*PSEUDO_RANGE_NM, in_chans) if in_chans > 1 else np.array([PSEUDO_RANGE_NM[0]])
        fw = _as_vector(fwhm, in_chans, "FWHM values")
        est = spacing_fwhm(wl)
        fw = est if fw is None else np.where(np.isfinite(fw) & (fw > 0), fw, est)
        self.register_buffer("band_wavelengths", torch.tensor(wl, dtype=torch.float32), persistent=False)
        self.register_buffer("band_fwhm", torch.tensor(fw, dtype=torch.float32), persistent=False)
        self.group_nm, self.group_size = float(group_nm), group_size
        self.snv = input_layer(inputs, in_chans, "channel_vit", wavelengths=wl, weighted=weighted_snv)
        self.hcs, self.hcs_min, self.hcs_prob = hcs, float(hcs_min), float(hcs_prob)
        self.hcs_start, self.training_progress = float(hcs_start), 1.0
        self.quadrature = quadrature
        self.band_gain = FourierMLP(embed_dim, min_period_nm=min_period_nm)
        self.channel_embed = FourierMLP(embed_dim, min_period_nm=min_period_nm)
        self.patch_proj = nn.Conv2d(embed_dim, embed_dim, patch, padding=patch // 2, groups=embed_dim)
        self.blocks = nn.ModuleList(ChannelBlock(embed_dim, heads, mlp_ratio, kernel) for _ in range(depth))
        self.token_pool = token_pool
        pooled = embed_dim * (2 if token_pool == "meanmax" else 1)
        self.norm = nn.LayerNorm(pooled)
        self.trunk = nn.Sequential(*(SpatialBlock(pooled, dilation=int(d)) for d in trunk))
        self.drop = nn.Dropout(drop)
        self.context = BoxContext(pools)
        feat = self.context.out_dim(pooled)
        self.head = nn.Sequential(nn.LayerNorm(feat), nn.Linear(feat, num_classes))
        self.receptive_radius: int = (
            patch // 2
            + sum(blk.radius for blk in self.blocks)
            + sum(blk.radius for blk in self.trunk)
            + (self.context.radius if pools else 0)
        )

    # ------------------------------------------------------------------ bands
    def band_widths(self, wavelengths: torch.Tensor) -> torch.Tensor:
        """FWHM for bands given only by wavelength: the construction band's FWHM when one
        lies within 2 nm, else the spacing estimate. ``(C',) -> (C',)`` nm."""
        wl = wavelengths.detach().cpu().double().numpy()
        est = spacing_fwhm(wl)
        ref = self.band_wavelengths.detach().cpu().double().numpy()
        dist = np.abs(wl[:, None] - ref[None, :])
        near = dist.argmin(axis=1)
        known = dist[np.arange(wl.size), near] <= MATCH_TOLERANCE_NM
        fw = np.where(known, self.band_fwhm.detach().cpu().numpy()[near], est)
        return torch.tensor(fw, dtype=torch.float32, device=wavelengths.device)

    def _given_widths(self, wavelengths: torch.Tensor, fwhm: Sequence[float] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Given FWHM ``(C',)`` nm as a tensor; unknown entries (NaN, <= 0) fall back to :meth:`band_widths`."""
        fw = torch.as_tensor(_as_vector(fwhm, wavelengths.numel(), "FWHM values"), dtype=torch.float32,
                             device=wavelengths.device)
        bad = ~torch.isfinite(fw) | (fw <= 0)
        return torch.where(bad, self.band_widths(wavelengths), fw) if bool(bad.any()) else fw

    def band_groups(self, wavelengths: torch.Tensor) -> list[torch.Tensor]:
        """Indices of the bands of each group, groups ordered by wavelength.

        Args:
            wavelengths: ``(C',)`` nm.

        Returns:
            Non-empty ``LongTensor`` index lists, one per group.
        """
        wl = wavelengths.detach().cpu()
        if self.group_size is not None:
            order = torch.argsort(wl, stable=True)  # bands with the same centre keep their input order
            return list(order.split(self.group_size))
        bins = torch.floor(wl.double() / self.group_nm).long()
        return [torch.nonzero(bins == v).flatten() for v in torch.unique(bins)]

    def group_range(self, wavelengths: torch.Tensor) -> tuple[float, float]:
        """The wavelength bin ``[lo, hi)`` (nm) of a group's bands; unbounded for count-based groups."""
        if self.group_size is not None:
            return -math.inf, math.inf
        v = math.floor(float(wavelengths[0]) / self.group_nm)
        return v * self.group_nm, (v + 1) * self.group_nm

    def _hcs(self, x: torch.Tensor, wl: torch.Tensor, fw: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Hierarchical Channel Sampling: a random band count, then a random band subset."""
        c = x.shape[1]
        low = min(c, max(1, math.ceil(self.hcs_min * c)))
        m = int(torch.randint(low, c + 1, (1,)))
        keep = torch.sort(torch.randperm(c)[:m]).values.to(x.device)
        return x.index_select(1, keep), wl[keep], fw[keep]

    # ---------------------------------------------------------------- forward
    def set_training_progress(self, fraction: float) -> None:
        """Record how far the training run is (``0`` first step .. ``1`` end); gates ``hcs_start``."""
        self.training_progress = float(fraction)

    def samples_bands(self) -> bool:
        """Whether this forward call applies HCS (training mode, past ``hcs_start``, drawn with ``hcs_prob``)."""
        if not (self.training and self.hcs and self.training_progress >= self.hcs_start):
            return False
        return self.hcs_prob >= 1.0 or float(torch.rand(())) < self.hcs_prob

    def tokens(self, x: torch.Tensor, wl: torch.Tensor, fw: torch.Tensor) -> torch.Tensor:
        """Group tokens with channel embeddings: ``(B, C', H, W) -> (B, H, W, G, D)``."""
        gain = self.band_gain(wl, fw)  # (C', D)
        groups = self.band_groups(wl)
        mixes, centres, widths = [], [], []
        for idx in groups:
            idx = idx.to(x.device)
            if self.quadrature:  # the integral of gain * spectrum over the group's wavelength range
                lo, hi = self.group_range(wl[idx])
                q, centre, width = group_quadrature(wl[idx], fw[idx], lo, hi)
                mixes.append(torch.einsum("bchw,cd->bdhw", x.index_select(1, idx), gain[idx] * q[:, None]) / width)
            else:
                mixes.append(torch.einsum("bchw,cd->bdhw", x.index_select(1, idx), gain[idx]) / idx.numel())
                centre = wl[idx].mean()
                width = (wl[idx] + fw[idx] / 2).max() - (wl[idx] - fw[idx] / 2).min()
            centres.append(centre)
            widths.append(width)
        b, _, h, w = x.shape
        g, d = len(groups), gain.shape[1]
        maps = self.patch_proj(torch.stack(mixes, dim=1).reshape(b * g, d, h, w))  # shared over groups
        embed = self.channel_embed(torch.stack(centres), torch.stack(widths))  # (G, D)
        return maps.reshape(b, g, d, h, w).permute(0, 3, 4, 1, 2) + embed

    def forward(
        self,
        x: torch.Tensor,
        wavelengths: Sequence[float] | np.ndarray | torch.Tensor | None = None,
        fwhm: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-pixel logits.

        Args:
            x: ``(B, C', H, W)`` normalised bands.
            wavelengths: ``(C',)`` nm of the bands in ``x``, all finite (default: the
                construction wavelengths, which requires ``C' = C``).
            fwhm: ``(C',)`` nm (default: looked up from the construction bands by
                wavelength, else the band spacing).

        Returns:
            ``(B, K, H, W)`` logits.

        Raises:
            BandMismatchError: a band count that does not fit, or a non-finite wavelength.
        """
        c = x.shape[1]
        if wavelengths is None:
            if c != self.band_wavelengths.numel():
                raise BandMismatchError(
                    f"channel_vit: input has {c} bands but the model was built for "
                    f"{self.band_wavelengths.numel()}; pass wavelengths=... for a band subset"
                )
            wl, fw = self.band_wavelengths, self.band_fwhm
            if fwhm is not None:
                fw = self._given_widths(wl, fwhm)
        else:
            given = _as_vector(wavelengths, c, "wavelengths")
            assert given is not None  # wavelengths were given
            wl = torch.as_tensor(check_finite_wavelengths(given), dtype=torch.float32, device=x.device)
            fw = self.band_widths(wl) if fwhm is None else self._given_widths(wl, fwhm)
        if self.samples_bands():
            x, wl, fw = self._hcs(x, wl, fw)
        if self.snv is not None:
            x = self.snv(x, wl)
        t = self.tokens(x, wl, fw)
        for blk in self.blocks:
            t = blk(t)
        return self.head(self.context(self.drop(self.pixel_features(t)))).permute(0, 3, 1, 2)

    def pixel_features(self, t: torch.Tensor) -> torch.Tensor:
        """Pool each pixel's channel tokens, normalise, apply the trunk: ``(B, H, W, G, D) -> (B, H, W, D')``.

        ``D' = D`` for ``token_pool="mean"`` and ``2D`` for ``"meanmax"``.
        """
        f = t.mean(dim=3)
        if self.token_pool == "meanmax":
            f = torch.cat([f, t.amax(dim=3)], dim=-1)
        return self.trunk(self.norm(f))

    def with_bands(
        self, wavelengths: Sequence[float] | np.ndarray, fwhm: Sequence[float] | np.ndarray | None = None
    ) -> BandSubsetModel:
        """This model bound to another band set (e.g. a subset), as a plain ``model(x)`` module.

        Raises:
            BandMismatchError: a wavelength is not finite.
        """
        return BandSubsetModel(self, wavelengths, fwhm)


class BandSubsetModel(nn.Module):
    """A :class:`ChannelViT` with fixed input wavelengths, callable as ``model(x)``.

    Shares the wrapped model's parameters and receptive radius, so it plugs into
    :func:`~hsi_app.tasks.classification.dense_logits` and the windowed inference.

    Shapes:
        ``(B, C', H, W) -> (B, K, H, W)`` with ``C' = len(wavelengths)``.
    """

    task = "classification"

    def __init__(
        self, model: ChannelViT, wavelengths: Sequence[float] | np.ndarray, fwhm: Sequence[float] | np.ndarray | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.wavelengths = check_finite_wavelengths(np.asarray(wavelengths, dtype=np.float64).reshape(-1))
        self.fwhm = None if fwhm is None else np.asarray(fwhm, dtype=np.float64).reshape(-1)
        self.receptive_radius: int = model.receptive_radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C', H, W)`` -> ``(B, K, H, W)``."""
        return self.model(x, wavelengths=self.wavelengths, fwhm=self.fwhm)


HCS_SNV: dict[str, object] = {"inputs": "snv", "hcs": True, "hcs_min": 0.5, "min_period_nm": 80.0,
                              "quadrature": True, "weighted_snv": True}
"""The settings of ``channel_vit_hcs_snv``: SNV over wavelength, HCS down to half the bands, 80 nm, quadrature."""


def _build(in_chans: int, num_classes: int, wavelengths: Sequence[float] | None, defaults: dict[str, object],
           kw: dict[str, object]) -> ChannelViT:
    args = {**defaults, **kw}
    return ChannelViT(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]


@register_model
def channel_vit(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> ChannelViT:
    """Wavelength-aware dense ChannelViT (200 nm band groups, 24 wide, 2 blocks, HCS, radius 8 px)."""
    return _build(in_chans, num_classes, wavelengths, {}, kw)


@register_model
def channel_vit_snv(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> ChannelViT:
    """channel_vit on each pixel's SNV spectrum (brightness and offset removed), trained on all bands (no HCS).

    With SNV inputs, hierarchical channel sampling cost 11-19 OA points on Indian Pines
    (random:0.1 seed 0, disjoint seeds 0-1), so it is off; the price is band-subset
    robustness (half the bands: -16.1 points, random:0.1 seeds 0-4). For band subsets use
    ``channel_vit_hcs_snv`` (HCS with an SNV taken over wavelength).
    """
    return _build(in_chans, num_classes, wavelengths, {"inputs": "snv", "hcs": False}, kw)


@register_model
def channel_vit_hcs_snv(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> ChannelViT:
    """channel_vit on SNV inputs, trained with HCS (down to half the bands), built so band subsets change little.

    The SNV mean and spread are taken over wavelength (``weighted_snv``), the functions
    of wavelength vary no faster than an 80 nm period, and group tokens weight each band
    by its share of the group's bin (``quadrature``). Without the weighted SNV, HCS with
    SNV inputs cost 12-19 OA points on unseen fields; with it, Indian Pines disjoint:0.5
    43.44 % (SVM 42.77; old block layouts) and -0.89 points with every other band on random:0.1
    (BENCHMARKS.md, session 31); on ten session-33 layouts 61.53 % (SVM 58.38, +3.2 with a
    standard error of 2.8; AA 0.7 below the SVM's; session 34). Trained with
    ``hsi train --class-weights 0.5``: 62.01 %, AA 63.61 (SVM 58.45; session 35). With a wider
    head as well (``channel_vit_hcs_snv_trunk``): 65.30 %, AA 63.63 (session 36).
    """
    return _build(in_chans, num_classes, wavelengths, HCS_SNV, kw)


@register_model
def channel_vit_hcs_snv_trunk(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> ChannelViT:
    """channel_vit_hcs_snv with a wider head: mean and max of the channel tokens, then two ssfcn-style spatial blocks.

    The same HCS-trained, band-subset-robust tokens and blocks as ``channel_vit_hcs_snv``; the head
    pools each pixel's tokens by their mean and maximum (48 features instead of 24) and applies
    residual depthwise spatial blocks with dilations 1 and 2 before the 5 / 11 px box means
    (receptive radius 11 px, 41,632 parameters for 200 bands and 16 classes). The recipe for
    unseen fields trains it with ``hsi train --class-weights 0.5``: on the ten session-33 Indian
    Pines disjoint:0.5 layouts that gives 65.30 % OA (SVM-RBF 58.38; +6.9 points, standard error
    2.6, above it on 8 of 10), AA 63.63 (SVM 58.45), and -1.23 points with every other band
    (BENCHMARKS.md, session 36).
    """
    return _build(in_chans, num_classes, wavelengths, {**HCS_SNV, "token_pool": "meanmax", "trunk": (1, 2)}, kw)


@register_model
def test_channel_vit(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> ChannelViT:
    """Tiny ChannelViT for tests (8 wide, 1 block, 500 nm groups, radius 3 px)."""
    defaults: dict[str, object] = {"embed_dim": 8, "depth": 1, "heads": 2, "mlp_ratio": 1.0, "group_nm": 500.0,
                                   "pools": (3,)}
    return _build(in_chans, num_classes, wavelengths, defaults, kw)
