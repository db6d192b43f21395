"""CNN3D: a small dense 3D-CNN baseline.

The image is treated as a one-channel volume ``(1, C, h, w)``. Each layer is a
``Conv3d`` with kernel ``(k_spec, 3, 3)``, stride ``(s, 1, 1)`` and zero padding
``(k_spec // 2, 1, 1)``: it convolves jointly over bands and space, shortens the spectral
axis by ``s`` and keeps the spatial size. The remaining spectral axis is then folded into
the channels and a per-pixel 1x1 MLP gives the logits. No normalisation over space is
used, so the model is dense and window-equivalent; its receptive radius is one pixel per
3D layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models.registry import register_model


class CNN3D(nn.Module):
    """Dense 3D-CNN: spectral-spatial Conv3d stack, spectral collapse, 1x1 classifier.

    Args:
        in_chans: input bands ``C``.
        num_classes: output classes ``K``.
        channels: output channels of each Conv3d layer.
        spectral_kernels: spectral kernel length of each layer (odd).
        spectral_strides: spectral stride of each layer.
        hidden: width of the per-pixel MLP after the spectral collapse.
        drop: dropout before the classifier.
        wavelengths: ``(C,)`` band centres in nm; stored, not used.

    Shapes:
        ``(B, C, h, w) float32 -> (B, K, h, w)`` logits.
    """

    task = "classification"

    def __init__(
        self,
        in_chans: int,
        num_classes: int,
        *,
        channels: Sequence[int] = (8, 16),
        spectral_kernels: Sequence[int] = (7, 5),
        spectral_strides: Sequence[int] = (4, 2),
        hidden: int = 64,
        drop: float = 0.2,
        wavelengths: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not len(channels) == len(spectral_kernels) == len(spectral_strides) or not channels:
            raise ConfigError(
                "cnn3d: channels, spectral_kernels and spectral_strides must be non-empty and equally long"
            )
        if any(k % 2 != 1 for k in spectral_kernels) or any(s < 1 for s in spectral_strides):
            raise ConfigError("cnn3d: spectral_kernels must be odd and spectral_strides >= 1")
        self.wavelengths = None if wavelengths is None else [float(w) for w in wavelengths]
        layers: list[nn.Module] = []
        depth, prev = in_chans, 1
        for ch, k, s in zip(channels, spectral_kernels, spectral_strides, strict=True):
            layers += [nn.Conv3d(prev, ch, (k, 3, 3), stride=(s, 1, 1), padding=(k // 2, 1, 1)), nn.GELU()]
            depth = (depth + 2 * (k // 2) - k) // s + 1
            prev = ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Conv2d(prev * depth, hidden, 1),
            nn.GELU(),
            nn.Dropout(drop),
            nn.Conv2d(hidden, num_classes, 1),
        )
        self.receptive_radius: int = len(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, C, h, w)`` normalised bands -> ``(B, K, h, w)`` logits."""
        b, _, h, w = x.shape
        f = self.features(x.unsqueeze(1))  # (B, ch, D, h, w)
        return self.head(f.reshape(b, -1, h, w))


@register_model
def cnn3d(in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object) -> CNN3D:
    """Dense 3D-CNN baseline (Conv3d 7x3x3 and 5x3x3, receptive radius 2 px)."""
    return CNN3D(in_chans, num_classes, wavelengths=wavelengths, **kw)  # type: ignore[arg-type]


@register_model
def test_cnn3d(
    in_chans: int, num_classes: int, wavelengths: Sequence[float] | None = None, **kw: object
) -> CNN3D:
    """Tiny 3D-CNN for tests (2 and 4 channels, receptive radius 2 px)."""
    args: dict[str, object] = {"channels": (2, 4), "spectral_kernels": (3, 3), "hidden": 8}
    args.update(kw)
    return CNN3D(in_chans, num_classes, wavelengths=wavelengths, **args)  # type: ignore[arg-type]
