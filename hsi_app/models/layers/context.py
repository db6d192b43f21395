"""Multi-scale box context: local means of a feature map, zero-padded and size-preserving."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hsi_app.errors import ConfigError


class BoxContext(nn.Module):
    """Append ``k x k`` local means of a channels-last feature map, for each size ``k``.

    The mean treats pixels outside the map as zeros (divisor always ``k * k``), exactly
    like zero padding, so windowed inference with a halo stays exact. It is computed as
    two separable 1-D means.

    Args:
        sizes: odd box sizes, e.g. ``(5, 11)``.

    Attributes:
        radius: ``max(sizes) // 2`` pixels (0 without sizes).

    Shapes:
        ``(B, H, W, D) -> (B, H, W, D * (1 + len(sizes)))``; the input comes first.
    """

    def __init__(self, sizes: Sequence[int]) -> None:
        super().__init__()
        self.sizes = [int(k) for k in sizes]
        if any(k < 1 or k % 2 != 1 for k in self.sizes):
            raise ConfigError(f"BoxContext: sizes {list(sizes)}; use odd sizes >= 1, e.g. (5, 11)")
        self.radius: int = max(self.sizes, default=1) // 2

    def out_dim(self, dim: int) -> int:
        """Output channels for ``dim`` input channels."""
        return dim * (1 + len(self.sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, H, W, D)`` -> ``(B, H, W, D * (1 + n))``."""
        if not self.sizes:
            return x
        xc = x.permute(0, 3, 1, 2)
        outs = [x]
        for k in self.sizes:
            y = F.avg_pool2d(xc, (k, 1), stride=1, padding=(k // 2, 0))
            y = F.avg_pool2d(y, (1, k), stride=1, padding=(0, k // 2))
            outs.append(y.permute(0, 2, 3, 1))
        return torch.cat(outs, dim=-1)
