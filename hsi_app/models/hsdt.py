"""HSDT: Hybrid Spectral Denoising Transformer (Lai, Yan & Fu, ICCV 2023), for any band count.

The cube is a 3-D volume ``(B, 1, D, H, W)`` (``D`` bands), so one network denoises any
number of bands. Components:

* :class:`S3Conv` (spatial-spectral separable convolution): a spatial branch (two
  ``1x3x3`` convolutions with LeakyReLU) and a spectral branch (one ``3x1x1``
  convolution) run in parallel and are summed.
* :class:`GuidedSpectralAttention` (GSSA): attention *across bands*. A small set of
  learnable queries (the guides) first gathers a summary of the spectrum at each
  pixel (softmax over bands), then every band reads those summaries back (softmax over
  guides). The band-to-band attention is thus guided by learnt queries and has rank
  at most ``num_guides``; its cost is linear in the number of pixels *and* of bands.
  The paper pools each band over the whole training patch and projects it to a fixed
  ``D x D`` map (tied to 31 bands); here attention is per pixel, which keeps the model
  band-count free and makes windowed inference exactly equal to one-shot inference.
* :class:`SMFFN` (self-modulated feed-forward): a GELU MLP plus a branch whose features
  gate themselves through a sigmoid.
* An encoder-decoder (spatial stride 2 down, bilinear up) with additive skips and a
  global residual (the network predicts the noise-free cube as ``x + f(x)``).

Only per-voxel normalisation (LayerNorm over channels) is used; spatial context comes
only from convolutions, so the output at a pixel depends on inputs within
:attr:`HSDT.receptive_radius` pixels. The input is padded to a multiple of
:attr:`HSDT.spatial_multiple` (reflect, bottom/right); windows whose offsets and halo
are multiples of it give the same result as a one-shot pass.

Registered variants (``task="denoise"``): ``hsdt_s`` (8 channels, ~0.13 M parameters),
``hsdt_m`` (16 channels, ~0.53 M), ``hsdt`` (alias of ``hsdt_s``) and ``test_hsdt``
(tiny, for tests). ``create_model(name, in_chans=C, num_classes=...)`` works as for
every family: ``in_chans`` is only recorded (any band count is accepted) and
``num_classes`` is ignored. ``forward`` takes ``(B, 1, D, H, W)`` and returns the same
shape, or takes ``(B, C, H, W)`` (bands as channels) and returns ``(B, C, H, W)``.

Memory at inference: when autograd is off (``torch.no_grad()`` or ``torch.inference_mode()``),
the forward pass frees what it no longer needs and works in place where the training graph
would need the intermediates: S3Conv applies its LeakyReLUs in place and adds the spectral
branch into the spatial one, a stage's transformer block overwrites the convolution output it
was given, row chunk by row chunk (at most :data:`INFER_CHUNK_VALUES` values of a feature map
at once), and the decoder adds its skips in place. Every value is computed by the same
operations in the same order as with autograd on, so the output is bit-identical (tested);
training is untouched. The tensors alive at the peak fall from about 14 to about 6.6
full-resolution activations (``channels`` x bands x pixels each); the process's peak RSS falls
less (1.1-1.6x, BENCHMARKS.md session 56), as oneDNN's convolutions add buffers of their own
(reordered input and output) that chunking would remove only with a different summation order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models.layers.padding import pad_to_multiple
from hsi_app.models.registry import register_model

INFER_CHUNK_VALUES = 1 << 21
"""Values of a feature map a transformer block processes at once at inference (8 MiB in float32)."""


def _inferring() -> bool:
    """True when no autograd graph is recorded (``no_grad`` / ``inference_mode``): in-place paths are safe."""
    return not torch.is_grad_enabled()


class S3Conv(nn.Module):
    """Spatial (``1x3x3`` x2) and spectral (``3x1x1``) branches, summed.

    Args:
        in_ch, out_ch: channels.
        stride: spatial stride of both branches (1 or 2).

    Shapes:
        ``(B, in_ch, D, H, W) -> (B, out_ch, D, H / stride, W / stride)``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        s = (1, stride, stride)
        self.spatial = nn.Sequential(
            nn.Conv3d(in_ch, out_ch, (1, 3, 3), s, (0, 1, 1), bias=False),
            nn.LeakyReLU(0.01),
            nn.Conv3d(out_ch, out_ch, (1, 3, 3), 1, (0, 1, 1), bias=False),
            nn.LeakyReLU(0.01),
        )
        self.spectral = SpectralConv(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of the two branches."""
        if not _inferring():
            return self.spatial(x) + self.spectral(x)
        y = x  # inference: LeakyReLU in place, spectral branch added into the spatial one (same values)
        for layer in self.spatial:
            if isinstance(layer, nn.LeakyReLU) and y is not x:
                F.leaky_relu(y, layer.negative_slope, inplace=True)
            else:
                y = layer(y)
        return y.add_(self.spectral(x))


class SpectralConv(nn.Module):
    """A ``3x1x1`` convolution along bands (zero-padded), run as a 2-D convolution.

    PyTorch's CPU ``Conv3d`` has no fast path for ``3x1x1`` kernels (much slower than the
    equivalent ``Conv2d`` over ``(D, H*W)``; the ratio was not recorded), so the volume is
    viewed as ``(B, c, D, H*W)``. A spatial stride is a plain subsampling (the kernel is 1x1 there).

    Shapes:
        ``(B, in_ch, D, H, W) -> (B, out_ch, D, H / stride, W / stride)``.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv2d(in_ch, out_ch, (3, 1), 1, (1, 0), bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve along the band axis."""
        if self.stride > 1:
            x = x[..., :: self.stride, :: self.stride]
        b, c, d, h, w = x.shape
        return self.conv(x.reshape(b, c, d, h * w)).reshape(b, -1, d, h, w)


class GuidedSpectralAttention(nn.Module):
    """Per-pixel attention across bands routed through learnable guide queries.

    Args:
        channels: feature channels ``c`` of each band token.
        num_guides: number of learnable queries ``G``.

    Shapes:
        ``(B, H, W, D, c) -> (B, H, W, D, c)`` (channels last; the residual is added by
        the caller).
    """

    def __init__(self, channels: int, num_guides: int = 8) -> None:
        super().__init__()
        self.guides = nn.Parameter(torch.randn(num_guides, channels) / math.sqrt(channels))
        self.key = nn.Linear(channels, channels, bias=False)
        self.query = nn.Linear(channels, channels, bias=False)
        self.value = nn.Linear(channels, channels, bias=False)
        self.proj = nn.Linear(channels, channels, bias=False)
        self.scale = 1.0 / math.sqrt(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Gather (guides attend over bands), then broadcast (bands attend over guides)."""
        k, q, v = self.key(x), self.query(x), self.value(x)  # (..., D, c)
        gather = torch.softmax(torch.matmul(k, self.guides.t()).transpose(-1, -2) * self.scale, dim=-1)  # (..., G, D)
        summary = torch.matmul(gather, v)  # (..., G, c)
        spread = torch.softmax(torch.matmul(q, self.guides.t()) * self.scale, dim=-1)  # (..., D, G)
        return self.proj(torch.matmul(spread, summary))


class SMFFN(nn.Module):
    """Self-modulated feed-forward: ``W2 gelu(W1 x) + a * sigmoid(g)`` with ``[a, g] = W3 x``.

    Shapes:
        ``(..., c) -> (..., c)``.
    """

    def __init__(self, channels: int, expansion: int = 2) -> None:
        super().__init__()
        hidden = channels * expansion
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.gate = nn.Linear(channels, 2 * channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """MLP branch plus self-gated branch."""
        a, g = self.gate(x).chunk(2, dim=-1)
        return self.fc2(F.gelu(self.fc1(x))) + a * torch.sigmoid(g)


class TransformerBlock(nn.Module):
    """Pre-norm residual GSSA + SM-FFN on ``(B, c, D, H, W)`` features (shape kept).

    Every operation is per pixel (attention runs across the bands of one pixel), so at
    inference the block runs over chunks of image rows (:data:`INFER_CHUNK_VALUES`), and
    ``overwrite=True`` writes the result into ``x`` itself (the caller gives up ``x``).
    """

    def __init__(self, channels: int, num_guides: int = 8) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.attn = GuidedSpectralAttention(channels, num_guides)
        self.norm2 = nn.LayerNorm(channels)
        self.ffn = SMFFN(channels)

    def forward(self, x: torch.Tensor, overwrite: bool = False) -> torch.Tensor:
        """Band tokens per pixel: ``(B, c, D, H, W) -> (B, H, W, D, c)`` and back.

        Args:
            x: ``(B, c, D, H, W)`` features.
            overwrite: at inference (autograd off), write the result into ``x``'s memory.
                Ignored when autograd records a graph.
        """
        t = x.permute(0, 3, 4, 2, 1)
        if _inferring():
            return self._forward_chunked(x, t, overwrite)
        t = t + self.attn(self.norm1(t))
        t = t + self.ffn(self.norm2(t))
        return t.permute(0, 4, 3, 1, 2)

    def _forward_chunked(self, x: torch.Tensor, t: torch.Tensor, overwrite: bool) -> torch.Tensor:
        """The forward pass by chunks of rows of ``t (B, H, W, D, c)``, into ``x`` or a new contiguous tensor."""
        res = x if overwrite else torch.empty_like(x, memory_format=torch.contiguous_format)
        r = res.permute(0, 3, 4, 2, 1)
        b, h, w, d, c = t.shape
        rows = max(1, INFER_CHUNK_VALUES // max(1, b * w * d * c))
        for i in range(0, h, rows):
            part = t[:, i : i + rows]
            y = self.attn(self.norm1(part)).add_(part)  # = part + attn(...): addition commutes exactly
            z = self.ffn(self.norm2(y)).add_(y)
            del y
            r[:, i : i + rows].copy_(z)
            del z, part
        return res


class Stage(nn.Module):
    """One encoder/decoder layer: (optional 2x bilinear upsampling) -> S3Conv -> transformer block.

    Args:
        in_ch, out_ch: channels.
        mode: ``"plain"`` (stride 1), ``"down"`` (spatial stride 2) or ``"up"`` (2x upsampling first).
    """

    def __init__(self, in_ch: int, out_ch: int, mode: str = "plain", num_guides: int = 8) -> None:
        super().__init__()
        self.mode = mode
        self.conv = S3Conv(in_ch, out_ch, stride=2 if mode == "down" else 1)
        self.block = TransformerBlock(out_ch, num_guides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_ch, D, H, W) -> (B, out_ch, D, H', W')``."""
        if self.mode == "up":
            x = F.interpolate(x, scale_factor=(1.0, 2.0, 2.0), mode="trilinear", align_corners=False)
        if not _inferring():
            return self.block(self.conv(x))
        y = self.conv(x)
        del x  # the upsampled copy is not needed by the block
        return self.block(y, overwrite=True)  # the block's result replaces the conv output in place

    def radius(self, level: int) -> int:
        """Receptive-radius increment in full-resolution pixels (``level``: input scale 2**level)."""
        f = 2**level
        if self.mode == "down":  # first conv reads +-1 px at scale f, second at scale 2f
            return f + 2 * f + f  # + alignment slack of one input pixel
        if self.mode == "up":  # interpolation reads +-1 coarse px, then two 3x3 at scale f/2
            return f + 2 * (f // 2) + f // 2
        return 2 * f


class HSDT(nn.Module):
    """Encoder-decoder of :class:`Stage` s with skips and a global residual.

    Args:
        channels: channels at full resolution (doubled at each downsampling).
        num_half_layer: stages in the encoder (and in the decoder).
        sample_idx: encoder stage indices that downsample (spatial stride 2).
        num_guides: learnable queries per GSSA.
        in_chans: bands the model was built for (recorded only; any count works).
        wavelengths: ``(C,)`` band centres in nm (recorded only).

    Shapes:
        ``(B, 1, D, H, W) -> (B, 1, D, H, W)``, or ``(B, C, H, W) -> (B, C, H, W)``.
    """

    task = "denoise"

    def __init__(
        self,
        channels: int = 16,
        num_half_layer: int = 5,
        sample_idx: Sequence[int] = (1, 3),
        num_guides: int = 8,
        in_chans: int | None = None,
        wavelengths: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if channels < 1 or num_half_layer < 1 or any(not 0 <= i < num_half_layer for i in sample_idx):
            raise ConfigError(
                f"hsdt: channels={channels}, num_half_layer={num_half_layer}, sample_idx={list(sample_idx)}; "
                "need channels >= 1 and sample indices inside 0..num_half_layer-1"
            )
        self.in_chans = in_chans
        self.wavelengths = None if wavelengths is None else [float(w) for w in wavelengths]
        self.head = Stage(1, channels, "plain", num_guides)
        enc, ch, levels = [], channels, []
        level = 0
        for i in range(num_half_layer):
            levels.append(level)
            if i in sample_idx:
                enc.append(Stage(ch, 2 * ch, "down", num_guides))
                ch, level = 2 * ch, level + 1
            else:
                enc.append(Stage(ch, ch, "plain", num_guides))
        dec, dec_levels = [], []
        for i in reversed(range(num_half_layer)):
            if i in sample_idx:
                dec.append(Stage(ch, ch // 2, "up", num_guides))
                dec_levels.append(level)
                ch, level = ch // 2, level - 1
            else:
                dec.append(Stage(ch, ch, "plain", num_guides))
                dec_levels.append(level)
        self.encoder = nn.ModuleList(enc)
        self.decoder = nn.ModuleList(dec)
        self.tail_spatial = nn.Conv3d(channels, 1, (1, 3, 3), 1, (0, 1, 1), bias=True)
        self.tail_spectral = SpectralConv(channels, 1)
        self.spatial_multiple: int = 2 ** len(set(sample_idx))
        radius = self.head.radius(0) + 1  # + tail conv
        radius += sum(s.radius(lv) for s, lv in zip(self.encoder, levels, strict=True))
        radius += sum(s.radius(lv) for s, lv in zip(self.decoder, dec_levels, strict=True))
        self.receptive_radius: int = int(radius)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``(B, 1, D, H, W)`` (or ``(B, C, H, W)``) normalised values."""
        squeeze = x.ndim == 4
        if squeeze:
            x = x.unsqueeze(1)
        if x.ndim != 5 or x.shape[1] != 1:
            raise ConfigError(f"hsdt: expected (B, 1, D, H, W) or (B, C, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        xin = pad_to_multiple(x[:, 0], self.spatial_multiple)[:, None]  # (B, D, H', W') per band, then (B, 1, D, H', W')
        out = self.head(xin)
        skips = [out]
        for stage in self.encoder[:-1]:
            out = stage(out)
            skips.append(out)
        out = self.encoder[-1](out)
        out = self.decoder[0](out)
        if _inferring():  # skips added in place into the decoder's outputs (same sums), freed at once
            for stage in self.decoder[1:]:
                out = stage(out.add_(skips.pop()))
            out.add_(skips.pop())
        else:
            for stage in self.decoder[1:]:
                out = stage(out + skips.pop())
            out = out + skips.pop()
        out = self.tail_spatial(out) + self.tail_spectral(out) + xin
        out = out[..., :h, :w]
        return out.squeeze(1) if squeeze else out


def _build(defaults: dict[str, object], in_chans: int, wavelengths: Sequence[float] | None, kw: dict[str, object]) -> HSDT:
    args = {**defaults, **kw}
    return HSDT(in_chans=in_chans, wavelengths=wavelengths, **args)  # type: ignore[arg-type]


@register_model(task="denoise")
def hsdt_s(in_chans: int, num_classes: int = 1, wavelengths: Sequence[float] | None = None, **kw: object) -> HSDT:
    """HSDT small: 8 channels, 5+5 stages, 2 downsamplings (~0.13 M parameters); any band count."""
    return _build({"channels": 8, "num_half_layer": 5, "sample_idx": (1, 3)}, in_chans, wavelengths, kw)


@register_model(task="denoise")
def hsdt_m(in_chans: int, num_classes: int = 1, wavelengths: Sequence[float] | None = None, **kw: object) -> HSDT:
    """HSDT medium: 16 channels, 5+5 stages, 2 downsamplings (~0.5 M parameters); any band count."""
    return _build({"channels": 16, "num_half_layer": 5, "sample_idx": (1, 3)}, in_chans, wavelengths, kw)


@register_model(task="denoise")
def hsdt(in_chans: int, num_classes: int = 1, wavelengths: Sequence[float] | None = None, **kw: object) -> HSDT:
    """Default HSDT denoiser (= hsdt_s); any band count."""
    return hsdt_s(in_chans, num_classes, wavelengths, **kw)


@register_model(task="denoise")
def test_hsdt(in_chans: int, num_classes: int = 1, wavelengths: Sequence[float] | None = None, **kw: object) -> HSDT:
    """Tiny HSDT for tests: 4 channels, 3+3 stages, one downsampling."""
    return _build({"channels": 4, "num_half_layer": 3, "sample_idx": (1,), "num_guides": 4}, in_chans, wavelengths, kw)
