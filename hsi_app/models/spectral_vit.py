"""LoLA-SpecViT: 3D-conv spectral front-end + local-window attention + SwiGLU, dense output.

Architecture (per pixel unless stated; features are channels-last ``(B, h, w, D)``):

1. **Spectral front-end** (:class:`SpectralFrontEnd`): the cube ``(B, C, h, w)`` is seen as
   a one-channel volume ``(B, 1, C, h, w)``; a :class:`torch.nn.Conv3d` with kernel
   ``(spectral_kernel, k, k)`` and spectral stride ``spectral_stride`` extracts local
   spectral-spatial features, a second ``Conv3d`` (kernel ``(3, 1, 1)``, stride 2) deepens
   them, and the ``(channels, reduced bands)`` axes are folded into one feature vector per
   pixel and projected to ``embed_dim`` by the Linear ``embed``. Zero padding everywhere.
2. **Transformer blocks** (:class:`LocalBlock`), pre-norm:
   ``x + proj(attn(LN(x)))`` then ``x + w3(silu(a) * b)`` with ``a, b = w12(LN(x))``
   (SwiGLU). Attention is **local window self-attention** over the spatial grid with a
   learned **relative position bias** table (one scalar per head and relative offset,
   ``(2r + 1)^2`` entries, as in Swin).
3. **Head**: LayerNorm, then (optionally, ``pools``) the ``k x k`` local means of the normed
   features appended (:class:`~hsi_app.models.layers.context.BoxContext`), then the Linear
   ``head`` per pixel -> ``(B, K, h, w)`` logits. ``spectral_vit`` has no context head;
   ``spectral_vit_wide`` (three 7 x 7 attention layers, means over 5 and 11 px) is the
   variant with more spatial context.

The Linear layers have stable names (``qkv``, ``proj``, ``w12``, ``w3``) so that
``peft.LoraConfig(target_modules=SpectralViT.lora_targets)`` finds them (see
:mod:`hsi_app.tasks.finetune`).

**Windows are centred (neighbourhood attention), not fixed partitions.** Swin's windows
are cut at absolute positions, so a pixel's context depends on where the tile starts,
and windowed whole-scene inference would disagree with a one-shot pass. Here every query
pixel attends to the ``(2r+1) x (2r+1)`` window centred on itself (keys outside the
image are masked out, never zero-filled), which makes the model translation-equivariant
and gives every pixel the same window shape. For speed it is computed blockwise (query
tiles of ``block x block`` pixels attend to their halo'd key tile through
``scaled_dot_product_attention`` with an exact neighbourhood mask); the grid is padded
internally to whole blocks and cropped back, and the padding never leaks into real
pixels because the mask excludes every key outside the image.

**Receptive radius** (Chebyshev distance of the inputs a pixel's output depends on): the
first Conv3d's spatial kernel ``k`` adds ``(k - 1) // 2``; the second Conv3d, all norms,
MLPs and the head are per pixel; each of the ``depth`` attention layers adds the window
radius ``r``; the context head adds ``max(pools) // 2``. So
``receptive_radius = (k - 1) // 2 + depth * r (+ max(pools) // 2)`` (exact upper bound, since
masked keys outside the scene contribute nothing and zero-padded convolution matches the
scene-edge behaviour of a one-shot pass). With a halo of that radius, windowed inference
equals one-shot inference up to float error (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models.layers import FitsInputs, input_layer
from hsi_app.models.layers.context import BoxContext
from hsi_app.models.registry import register_model


class SpectralFrontEnd(nn.Module):
    """3D-convolution spectral front-end.

    Args:
        in_chans: bands ``C``.
        embed_dim: output features ``D`` per pixel.
        conv_channels: output channels of both Conv3d layers.
        spectral_kernel: odd spectral kernel size of the first Conv3d.
        spectral_stride: spectral stride of the first Conv3d.
        spatial_kernel: odd spatial kernel of the first Conv3d (1 = purely spectral).

    Shapes:
        ``(B, C, h, w) -> (B, h, w, D)``.
    """

    def __init__(
        self,
        in_chans: int,
        embed_dim: int,
        *,
        conv_channels: int = 8,
        spectral_kernel: int = 7,
        spectral_stride: int = 4,
        spatial_kernel: int = 3,
    ) -> None:
        super().__init__()
        if spectral_kernel % 2 == 0 or spatial_kernel % 2 == 0:
            raise ConfigError(
                f"spectral_vit: spectral_kernel={spectral_kernel}, spatial_kernel={spatial_kernel}; both must be odd"
            )
        ps, pk = spectral_kernel // 2, spatial_kernel // 2
        self.conv1 = nn.Conv3d(
            1, conv_channels, (spectral_kernel, spatial_kernel, spatial_kernel),
            stride=(spectral_stride, 1, 1), padding=(ps, pk, pk),
        )
        self.conv2 = nn.Conv3d(conv_channels, conv_channels, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        c1 = (in_chans + 2 * ps - spectral_kernel) // spectral_stride + 1
        c2 = (c1 + 2 - 3) // 2 + 1
        self.folded = conv_channels * c2
        self.embed = nn.Linear(self.folded, embed_dim)
        self.radius = pk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` -> ``(B, h, w, D)``."""
        b, _, h, w = x.shape
        f = F.gelu(self.conv1(x.unsqueeze(1)))  # (B, c, C1, h, w)
        f = F.gelu(self.conv2(f))  # (B, c, C2, h, w)
        f = f.reshape(b, self.folded, h, w).permute(0, 2, 3, 1)  # fold (c, C2) into features
        return self.embed(f)


class LocalAttention(nn.Module):
    """Multi-head self-attention over the ``(2r+1) x (2r+1)`` window centred on each pixel.

    Computed blockwise for speed: queries are grouped in ``block x block`` tiles, each tile
    attends (with :func:`torch.nn.functional.scaled_dot_product_attention`) to its
    ``(block + 2r)^2`` halo of keys, and an additive mask keeps, for every query, exactly
    the keys within Chebyshev distance ``r`` that lie inside the image (plus the relative
    position bias of that offset). The result is the same as a per-pixel sliding window
    whatever the tiling, so it does not depend on absolute position.

    Args:
        dim: features ``D`` (divisible by ``heads``).
        heads: attention heads.
        window: odd window side ``2r + 1``.
        block: query tile side of the blockwise computation (speed only).

    Shapes:
        ``(B, h, w, D) -> (B, h, w, D)``.
    """

    def __init__(self, dim: int, heads: int, window: int, block: int = 8) -> None:
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ConfigError(f"spectral_vit: window={window}; use an odd window side such as 5 or 7")
        if dim % heads:
            raise ConfigError(f"spectral_vit: embed_dim={dim} is not divisible by heads={heads}")
        self.heads, self.window, self.radius, self.block = heads, window, window // 2, block
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        # Swin-style table: one bias per head and relative offset (dy, dx) in [-r, r]^2.
        self.relative_position_bias_table = nn.Parameter(torch.zeros(window * window, heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        r, s = self.radius, block
        span = s + 2 * r
        qy, qx = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        ky, kx = torch.meshgrid(torch.arange(span) - r, torch.arange(span) - r, indexing="ij")
        dy = ky.reshape(1, -1) - qy.reshape(-1, 1)  # (s*s, span*span) key row - query row
        dx = kx.reshape(1, -1) - qx.reshape(-1, 1)
        near = (dy.abs() <= r) & (dx.abs() <= r)
        index = torch.where(near, (dy + r) * window + (dx + r), 0)
        self.register_buffer("relative_position_index", index, persistent=False)  # (s*s, span*span)
        self.register_buffer("near", near, persistent=False)
        self.register_buffer("centre", (dy == 0) & (dx == 0), persistent=False)

    def _blocks(self, t: torch.Tensor, halo: int) -> torch.Tensor:
        """``(B, H', W', nh, hd)`` padded grid -> ``(B * nblocks, nh, n, hd)`` tiles (with ``halo``)."""
        s, span = self.block, self.block + 2 * halo
        t = t.unfold(1, span, s).unfold(2, span, s)  # (B, nbh, nbw, nh, hd, span, span)
        b, nbh, nbw, nh, hd = t.shape[:5]
        return t.permute(0, 1, 2, 3, 5, 6, 4).reshape(b * nbh * nbw, nh, span * span, hd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, h, w, D)`` -> ``(B, h, w, D)``."""
        b, h, w, d = x.shape
        nh, r, s = self.heads, self.radius, self.block
        hh, ww = -(-h // s) * s, -(-w // s) * s  # grid padded to whole blocks
        nbh, nbw = hh // s, ww // s
        qkv = self.qkv(x).reshape(b, h, w, 3, nh, d // nh)
        q, k, v = qkv.unbind(dim=3)  # (B, h, w, nh, hd)
        q = self._blocks(F.pad(q, (0, 0, 0, 0, 0, ww - w, 0, hh - h)), 0)
        pad = (0, 0, 0, 0, r, r + ww - w, r, r + hh - h)
        k, v = self._blocks(F.pad(k, pad), r), self._blocks(F.pad(v, pad), r)
        # Keys outside the image are masked; a query's own position is always kept so that
        # queries in the block padding (cropped away below) never see an empty window.
        span = s + 2 * r
        inside = F.pad(torch.ones(h, w, dtype=torch.bool, device=x.device), (r, r + ww - w, r, r + hh - h))
        inside = inside.unfold(0, span, s).unfold(1, span, s).reshape(nbh * nbw, 1, span * span)
        allowed = self.near & (inside | self.centre)  # (nblocks, s*s, span*span)
        bias = self.relative_position_bias_table[self.relative_position_index].permute(2, 0, 1)  # (nh, s*s, n)
        mask = bias.unsqueeze(0).masked_fill(~allowed.unsqueeze(1), float("-inf"))  # (nblocks, nh, s*s, n)
        mask = mask.repeat(b, 1, 1, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B*nblocks, nh, s*s, hd)
        out = out.reshape(b, nbh, nbw, nh, s, s, d // nh).permute(0, 1, 4, 2, 5, 3, 6).reshape(b, hh, ww, d)
        return self.proj(out[:, :h, :w])


class SwiGLU(nn.Module):
    """SwiGLU MLP: ``w3(silu(a) * b)`` with ``a, b = w12(x)``. ``(..., D) -> (..., D)``."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(..., D) -> (..., D)``."""
        a, g = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * g)


class LocalBlock(nn.Module):
    """Pre-norm transformer block: local attention then SwiGLU, both residual. ``(B, h, w, D)``."""

    def __init__(self, dim: int, heads: int, window: int, mlp_ratio: float, drop: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = LocalAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = SwiGLU(dim, max(1, int(round(dim * mlp_ratio))))
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, h, w, D) -> (B, h, w, D)``."""
        x = x + self.drop(self.attn(self.norm1(x)))
        return x + self.drop(self.mlp(self.norm2(x)))


class SpectralViT(FitsInputs, nn.Module):
    """LoLA-SpecViT as a dense per-pixel classifier.

    Args:
        in_chans: bands ``C``.
        num_classes: classes ``K``.
        embed_dim: token features ``D``.
        depth: transformer blocks.
        heads: attention heads.
        window: odd side of the centred attention window.
        mlp_ratio: SwiGLU hidden width as a multiple of ``D``.
        conv_channels: channels of the 3D-conv front-end.
        spectral_kernel: spectral kernel of the first Conv3d.
        spectral_stride: spectral stride of the first Conv3d.
        spatial_kernel: spatial kernel of the first Conv3d.
        pools: odd box sizes of local means appended to the normed features before the
            head (:class:`~hsi_app.models.layers.context.BoxContext`; ``()`` for none).
        inputs: ``"bands"`` (the normalised bands) or ``"snv"`` (each pixel's standardised
            standard normal variate instead: :class:`~hsi_app.models.layers.SNVFeatures`,
            statistics set by ``fit_inputs`` before training).
        drop: dropout probability on the output of every attention and SwiGLU branch,
            element-wise, in training only (timm's ``proj_drop``); 0 adds no layer.
        wavelengths: ``(C,)`` band centres in nm; stored, not used by this family.

    Shapes:
        ``(B, C, h, w) float32 -> (B, K, h, w)`` logits, any ``h, w``.
    """

    task = "classification"
    lora_targets: tuple[str, ...] = ("qkv", "proj", "w12", "w3")

    def __init__(
        self,
        in_chans: int,
        num_classes: int,
        *,
        embed_dim: int = 32,
        depth: int = 2,
        heads: int = 2,
        window: int = 5,
        mlp_ratio: float = 2.0,
        conv_channels: int = 4,
        spectral_kernel: int = 7,
        spectral_stride: int = 4,
        spatial_kernel: int = 3,
        pools: Sequence[int] = (),
        inputs: str = "bands",
        drop: float = 0.0,
        wavelengths: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if embed_dim < 1 or depth < 1:
            raise ConfigError(f"spectral_vit: embed_dim={embed_dim}, depth={depth}; both must be >= 1")
        if not 0.0 <= drop < 1.0:
            raise ConfigError(f"spectral_vit: drop={drop}; pass a probability in [0, 1)")
        self.wavelengths = None if wavelengths is None else [float(v) for v in wavelengths]
        self.snv = input_layer(inputs, in_chans, "spectral_vit")
        self.frontend = SpectralFrontEnd(
            in_chans, embed_dim, conv_channels=conv_channels, spectral_kernel=spectral_kernel,
            spectral_stride=spectral_stride, spatial_kernel=spatial_kernel,
        )
        self.blocks = nn.ModuleList(LocalBlock(embed_dim, heads, window, mlp_ratio, drop) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim)
        self.context = BoxContext(pools)
        self.head = nn.Linear(self.context.out_dim(embed_dim), num_classes)
        self.receptive_radius: int = int(self.frontend.radius + depth * (window // 2) + self.context.radius)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, h, w)`` normalised bands -> ``(B, K, h, w)`` logits."""
        if self.snv is not None:
            x = self.snv.channels_first(x)
        f = self.frontend(x)
        for blk in self.blocks:
            f = blk(f)
        return self.head(self.context(self.norm(f))).permute(0, 3, 1, 2)


@register_model
def spectral_vit(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralViT:
    """LoLA-SpecViT: 3D-conv front-end, centred 5x5 window attention + relative bias, SwiGLU (D 32, depth 2, radius 5 px)."""
    return SpectralViT(in_chans, num_classes, wavelengths=wavelengths, **kw)  # type: ignore[arg-type]


@register_model
def spectral_vit_snv(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralViT:
    """spectral_vit on each pixel's SNV spectrum (its shape: brightness and offset removed)."""
    args: dict[str, object] = {"inputs": "snv"}
    args.update(kw)
    return SpectralViT(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]


@register_model
def test_spectral_vit(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralViT:
    """Tiny LoLA-SpecViT for tests (D 16, depth 1, window 3, radius 2 px)."""
    args: dict[str, object] = {"embed_dim": 16, "depth": 1, "heads": 2, "window": 3, "conv_channels": 4,
                               "spectral_kernel": 3, "spectral_stride": 2}
    args.update(kw)
    return SpectralViT(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]


@register_model
def spectral_vit_wide(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralViT:
    """spectral_vit with three 7x7 attention layers and a 5/11 px context head (radius 15 px)."""
    args: dict[str, object] = {"window": 7, "depth": 3, "pools": (5, 11)}
    args.update(kw)
    return SpectralViT(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]
