"""Dense point-object detector (heat-map + offset + size heads), in the spirit of SpecDETR.

SpecDETR treats every pixel as a token and decodes point objects; this family keeps the
dense, any-band-count design of :mod:`hsi_app.models.ssfcn` and decodes objects the way
CenterNet does:

1. **Spectral stem** per pixel (Linear ``C -> stem_hidden`` -> LayerNorm -> GELU ->
   Linear ``-> width``), so every pixel is a spectral token;
2. **Spatial blocks** (residual depthwise convs, :class:`~hsi_app.models.layers.SpatialBlock`)
   and a **box context** (local means, :class:`~hsi_app.models.layers.BoxContext`) that
   let a pixel compare itself with its surrounding background;
3. a per-pixel **head** (LayerNorm -> Linear -> GELU -> Linear) with ``K + 4`` outputs:
   ``K`` class heat-map logits (one channel per target class), a sub-pixel offset
   ``(dy, dx)`` of the object centre from the pixel centre, and ``log`` box height and
   width in pixels.

Peaks of the heat map (local maxima, :func:`hsi_app.tasks.detection.find_peaks`) are the
detected objects. Only per-pixel normalisation is used, so windowed inference with a
halo of :attr:`PointDetector.receptive_radius` equals one-shot inference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models.layers import BoxContext, SpatialBlock
from hsi_app.models.registry import register_model

EXTRA_CHANNELS = 4  # dy, dx, log h, log w
PRIOR = 0.01


class PointDetector(nn.Module):
    """Spectral stem + spatial blocks + box context + heat-map/offset/size head.

    Args:
        in_chans: input bands ``C``.
        num_classes: target classes ``K``.
        width: feature channels after the stem.
        stem_hidden: hidden width of the spectral stem.
        dilations: one spatial block per entry, with that dilation.
        kernel: odd kernel size of the blocks.
        pools: odd box sizes of the local-mean context.
        head_hidden: hidden width of the per-pixel head.
        wavelengths: ``(C,)`` band centres in nm; stored, not used.

    Shapes:
        ``(B, C, h, w)`` normalised bands -> ``(B, K + 4, h, w)``: heat-map logits
        ``[:, :K]``, offsets ``[:, K:K+2]`` (pixels), log sizes ``[:, K+2:]``.
    """

    task = "detect"

    def __init__(
        self,
        in_chans: int,
        num_classes: int,
        *,
        width: int = 48,
        stem_hidden: int = 64,
        dilations: Sequence[int] = (1, 2),
        kernel: int = 3,
        pools: Sequence[int] = (5, 11),
        head_hidden: int = 64,
        wavelengths: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if width < 1 or stem_hidden < 1 or head_hidden < 1:
            raise ConfigError(f"point_detector: width={width}, stem_hidden={stem_hidden}, head_hidden={head_hidden}; all >= 1")
        self.num_classes = num_classes
        self.wavelengths = None if wavelengths is None else [float(w) for w in wavelengths]
        self.stem = nn.Sequential(
            nn.Linear(in_chans, stem_hidden), nn.LayerNorm(stem_hidden), nn.GELU(), nn.Linear(stem_hidden, width)
        )
        self.blocks = nn.Sequential(*(SpatialBlock(width, kernel=kernel, dilation=int(d)) for d in dilations))
        self.context = BoxContext(pools)
        feat = self.context.out_dim(width)
        self.head = nn.Sequential(
            nn.LayerNorm(feat), nn.Linear(feat, head_hidden), nn.GELU(),
            nn.Linear(head_hidden, num_classes + EXTRA_CHANNELS),
        )
        with torch.no_grad():  # CenterNet prior: start with "background everywhere"
            last = self.head[-1]
            last.bias[:num_classes].fill_(-math.log((1 - PRIOR) / PRIOR))
            last.bias[num_classes:].zero_()
        self.receptive_radius: int = int(sum(b.radius for b in self.blocks)) + (self.context.radius if pools else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, h, w)`` -> ``(B, K + 4, h, w)``."""
        f = self.context(self.blocks(self.stem(x.permute(0, 2, 3, 1))))
        return self.head(f).permute(0, 3, 1, 2)


@register_model(task="detect")
def point_detector(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> PointDetector:
    """Dense point-target detector: heat map per class + sub-pixel offset + box size (radius 8 px)."""
    return PointDetector(in_chans, num_classes, wavelengths=wavelengths, **kw)  # type: ignore[arg-type]


@register_model(task="detect")
def test_point_detector(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> PointDetector:
    """Tiny point detector for tests (8 wide, one block, context box 5, radius 3 px)."""
    args: dict[str, object] = {"width": 8, "stem_hidden": 8, "dilations": (1,), "pools": (5,), "head_hidden": 8}
    args.update(kw)
    return PointDetector(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]
