"""SpectralMamba: a dense MorpMamba-style classifier (morphology + centre guidance + Mamba).

MorpMamba (Ahmad et al., 2024) classifies the centre pixel of a patch with four stages:
spatial-spectral token generation, morphological (erosion / dilation) operations on the
tokens, a token enhancement guided by the patch's centre pixel, and selective
state-space (Mamba) blocks over the token sequence. Here every stage is computed
densely, for every pixel at once, so a whole scene needs one forward pass:

1. **Tokens** per pixel: ``groups`` spectral tokens, each a learned projection of one
   contiguous band group, plus one spatial token (a per-pixel spectral projection
   followed by a ``3 x 3`` depthwise conv). A learned embedding marks each token slot.
   ``(B, C, H, W) -> (B, H, W, T, D)``, ``T = groups + 1``.
2. **Morphology** (:class:`MorphBlock`): a depthwise ``k x k`` conv of every token map,
   then grey-scale dilation (``3 x 3`` max) and erosion (``3 x 3`` min); both and their
   difference (the morphological gradient) are mixed back into the tokens.
3. **Centre-pixel-guided enhancement** (:class:`CentreGuidedEnhancement`): in a
   ``k x k`` neighbourhood of each pixel, neighbours are weighted by a softmax of their
   similarity to the centre pixel; the weighted sum of neighbour features is added to
   the centre pixel's tokens.
4. **Mamba blocks** (:class:`~hsi_app.models.layers.mamba_block.MambaBlock`) over the
   ``T`` tokens of each pixel; the tokens are averaged, local box means are appended
   (:class:`~hsi_app.models.layers.BoxContext`) and a linear head gives the logits.

All spatial operations are local and zero/-inf padded, and normalisation is per token,
so the output at a pixel depends only on inputs within :attr:`SpectralMamba.receptive_radius`
and windowed inference with that halo equals one-shot inference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models.layers import BoxContext, FitsInputs, input_layer
from hsi_app.models.layers.mamba_block import MambaBlock
from hsi_app.models.registry import register_model


class TokenGenerator(nn.Module):
    """Spatial-spectral tokens of every pixel.

    Args:
        in_chans: bands ``C``.
        dim: token width ``D``.
        groups: spectral tokens (contiguous band groups; at most ``C``).

    Attributes:
        tokens: ``T = groups + 1``.
        radius: 1 pixel (the spatial token's ``3 x 3`` conv).

    Shapes:
        ``(B, C, H, W) -> (B, H, W, T, D)``.
    """

    def __init__(self, in_chans: int, dim: int, groups: int) -> None:
        super().__init__()
        self.groups = max(1, min(groups, in_chans))
        self.group_size = math.ceil(in_chans / self.groups)
        self.pad = self.groups * self.group_size - in_chans
        self.spectral_w = nn.Parameter(torch.randn(self.groups, self.group_size, dim) / math.sqrt(self.group_size))
        self.spectral_b = nn.Parameter(torch.zeros(self.groups, dim))
        self.spatial_in = nn.Linear(in_chans, dim)
        self.spatial_conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.slot = nn.Parameter(torch.randn(self.groups + 1, dim) * 0.02)
        self.tokens = self.groups + 1
        self.radius = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W)`` -> ``(B, H, W, T, D)``."""
        px = x.permute(0, 2, 3, 1)  # (B, H, W, C)
        bands = F.pad(px, (0, self.pad)).unflatten(-1, (self.groups, self.group_size))
        spectral = torch.einsum("bhwgs,gsd->bhwgd", bands, self.spectral_w) + self.spectral_b
        spatial = self.spatial_conv(self.spatial_in(px).permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return torch.cat([spatial.unsqueeze(3), spectral], dim=3) + self.slot


def _token_maps(t: torch.Tensor) -> torch.Tensor:
    """``(B, H, W, T, D) -> (B, T*D, H, W)``."""
    b, h, w, n, d = t.shape
    return t.reshape(b, h, w, n * d).permute(0, 3, 1, 2)


def _from_maps(m: torch.Tensor, n: int) -> torch.Tensor:
    """``(B, T*D, H, W) -> (B, H, W, T, D)``."""
    b, _, h, w = m.shape
    return m.permute(0, 2, 3, 1).reshape(b, h, w, n, -1)


class MorphBlock(nn.Module):
    """Erosion/dilation-like depthwise operations on token maps, residual.

    ``f = dwconv_k(norm(t))``; dilation ``max_{3x3} f``, erosion ``min_{3x3} f`` (both
    ignore pixels outside the scene); ``t + Linear([dilation, erosion, dilation - erosion])``.

    Args:
        dim: token width ``D``.
        tokens: tokens per pixel ``T`` (one depthwise kernel per token and channel).
        kernel: odd depthwise kernel size.

    Attributes:
        radius: ``kernel // 2 + 1`` pixels.

    Shapes:
        ``(B, H, W, T, D) -> (B, H, W, T, D)``.
    """

    def __init__(self, dim: int, tokens: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 != 1:
            raise ConfigError(f"spectral_mamba: morph_kernel={kernel}; use an odd size >= 1")
        self.norm = nn.LayerNorm(dim)
        self.dw = nn.Conv2d(tokens * dim, tokens * dim, kernel, padding=kernel // 2, groups=tokens * dim)
        self.mix = nn.Linear(3 * dim, dim)
        self.radius = kernel // 2 + 1

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """``t (B, H, W, T, D)`` -> same shape."""
        n = t.shape[3]
        f = self.dw(_token_maps(self.norm(t)))
        dil = F.max_pool2d(f, 3, stride=1, padding=1)
        ero = -F.max_pool2d(-f, 3, stride=1, padding=1)
        feats = torch.cat([_from_maps(dil, n), _from_maps(ero, n), _from_maps(dil - ero, n)], dim=-1)
        return t + self.mix(feats)


class CentreGuidedEnhancement(nn.Module):
    """Neighbours weighted by their similarity to the centre pixel, added to its tokens.

    Every pixel ``p`` is the centre of its own ``k x k`` neighbourhood. With ``s`` the
    pixel descriptor (mean of its tokens, normalised), neighbour ``q`` gets the weight
    ``w_q = softmax_q(<Q s(p), K s(q)> / sqrt(D))``; neighbours outside the scene get 0.
    The enhancement ``Linear(sum_q w_q V s(q))`` is added to all tokens of ``p``. The
    ``k^2`` neighbours are read by shifting one padded map (:func:`torch.nn.functional.unfold`
    semantics without the ``k^2``-fold copy of the tokens).

    Args:
        dim: token width ``D``.
        kernel: odd neighbourhood size ``k``.

    Attributes:
        radius: ``kernel // 2`` pixels.

    Shapes:
        ``(B, H, W, T, D) -> (B, H, W, T, D)``.
    """

    def __init__(self, dim: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 != 1:
            raise ConfigError(f"spectral_mamba: centre_kernel={kernel}; use an odd size >= 1")
        self.kernel, self.radius = kernel, kernel // 2
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim)

    def neighbour_weights(self, s: torch.Tensor) -> torch.Tensor:
        """Similarity weights of each pixel's neighbours.

        Args:
            s: ``(B, H, W, D)`` pixel descriptors.

        Returns:
            ``(B, H, W, k*k)`` softmax weights (row-major offsets; 0 outside the scene).
        """
        _, h, w, d = s.shape
        r = self.radius
        q, k, _ = self.qkv(s).chunk(3, dim=-1)
        kp = F.pad(k, (0, 0, r, r, r, r))
        inside = F.pad(torch.ones_like(k[..., :1]), (0, 0, r, r, r, r))
        offsets = [(i, j) for i in range(self.kernel) for j in range(self.kernel)]
        scores = torch.stack([(q * kp[:, i : i + h, j : j + w]).sum(-1) for i, j in offsets], dim=-1) / math.sqrt(d)
        valid = torch.cat([inside[:, i : i + h, j : j + w] for i, j in offsets], dim=-1) > 0
        return torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """``t (B, H, W, T, D)`` -> same shape."""
        _, h, w, _, _ = t.shape
        r = self.radius
        s = self.norm(t.mean(dim=3))  # (B, H, W, D)
        weights = self.neighbour_weights(s)
        v = self.qkv(s)[..., 2 * s.shape[-1] :]
        vp = F.pad(v, (0, 0, r, r, r, r))
        neigh = torch.stack([vp[:, i : i + h, j : j + w] for i in range(self.kernel) for j in range(self.kernel)], -1)
        enhanced = (neigh * weights.unsqueeze(-2)).sum(-1)  # (B, H, W, D)
        return t + self.out(enhanced).unsqueeze(3)


class SpectralMamba(FitsInputs, nn.Module):
    """Dense MorpMamba-style classifier.

    Args:
        in_chans: input bands ``C``.
        num_classes: output classes ``K``.
        dim: token width ``D``.
        groups: spectral tokens per pixel (contiguous band groups).
        depth: Mamba blocks.
        d_state: SSM state size.
        expand: Mamba inner width factor.
        morph_kernel: depthwise kernel of the morphology block.
        centre_kernel: neighbourhood of the centre-guided enhancement.
        pools: odd box sizes of the head's local means (``()`` for none).
        drop: dropout before the head.
        inputs: ``"bands"`` (the normalised bands) or ``"snv"`` (each pixel's standardised
            standard normal variate instead: :class:`~hsi_app.models.layers.SNVFeatures`,
            statistics set by ``fit_inputs`` before training).
        wavelengths: ``(C,)`` band centres in nm; stored, not used by this family.

    Shapes:
        ``(B, C, H, W) float32 -> (B, K, H, W)`` logits.

    Attributes:
        lora_targets: the Linear layers ``hsi finetune`` adapts (module-name suffixes, as
            ``peft.LoraConfig(target_modules=...)`` matches them): every Linear outside the
            head except each block's ``dt_proj``, whose weight :class:`MambaBlock` reads
            directly, so a LoRA adapter on it would never act.
    """

    task = "classification"
    lora_targets: tuple[str, ...] = ("spatial_in", "mix", "qkv", "out", "in_proj", "x_proj", "out_proj")

    def __init__(
        self,
        in_chans: int,
        num_classes: int,
        *,
        dim: int = 32,
        groups: int = 4,
        depth: int = 2,
        d_state: int = 2,
        expand: float = 1.0,
        morph_kernel: int = 3,
        centre_kernel: int = 3,
        pools: Sequence[int] = (5, 11),
        drop: float = 0.0,
        inputs: str = "bands",
        wavelengths: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if dim < 1 or groups < 1 or depth < 1:
            raise ConfigError(f"spectral_mamba: dim={dim}, groups={groups}, depth={depth}; all must be >= 1")
        if not 0.0 <= drop < 1.0:
            raise ConfigError(f"spectral_mamba: drop={drop}; use a rate in [0, 1)")
        self.wavelengths = None if wavelengths is None else [float(v) for v in wavelengths]
        self.snv = input_layer(inputs, in_chans, "spectral_mamba")
        self.tokens = TokenGenerator(in_chans, dim, groups)
        self.morph = MorphBlock(dim, self.tokens.tokens, morph_kernel)
        self.centre = CentreGuidedEnhancement(dim, centre_kernel)
        self.blocks = nn.ModuleList(MambaBlock(dim, d_state=d_state, expand=expand) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(drop)
        self.context = BoxContext(pools)
        feat = self.context.out_dim(dim)
        self.head = nn.Sequential(nn.LayerNorm(feat), nn.Linear(feat, num_classes))
        self.receptive_radius: int = self.tokens.radius + self.morph.radius + self.centre.radius + self.context.radius

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, H, W)`` normalised bands -> ``(B, K, H, W)`` logits."""
        if self.snv is not None:
            x = self.snv.channels_first(x)
        b, _, h, w = x.shape
        t = self.centre(self.morph(self.tokens(x)))  # (B, H, W, T, D)
        n, d = t.shape[3], t.shape[4]
        seq = t.reshape(b * h * w, n, d)
        for block in self.blocks:
            seq = block(seq)
        f = self.norm(seq.mean(dim=1)).reshape(b, h, w, d)
        return self.head(self.context(self.drop(f))).permute(0, 3, 1, 2)


@register_model
def spectral_mamba(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralMamba:
    """MorpMamba-style dense model (4 spectral + 1 spatial token, 2 Mamba blocks, radius 9 px)."""
    return SpectralMamba(in_chans, num_classes, wavelengths=wavelengths, **kw)  # type: ignore[arg-type]


@register_model
def spectral_mamba_wide(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralMamba:
    """spectral_mamba with a wider context head (local means over 5, 11 and 21 px; radius 14 px)."""
    args: dict[str, object] = {"pools": (5, 11, 21)}
    args.update(kw)
    return SpectralMamba(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]


@register_model
def spectral_mamba_snv(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralMamba:
    """spectral_mamba on each pixel's SNV spectrum (its shape: brightness and offset removed)."""
    args: dict[str, object] = {"inputs": "snv"}
    args.update(kw)
    return SpectralMamba(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]


@register_model
def test_spectral_mamba(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> SpectralMamba:
    """Tiny SpectralMamba for tests (8 wide, 3 spectral tokens, 1 block, radius 5 px)."""
    args: dict[str, object] = {"dim": 8, "groups": 3, "depth": 1, "d_state": 2, "centre_kernel": 3, "pools": (3,)}
    args.update(kw)
    return SpectralMamba(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]
