"""Padding a feature map up to the spatial stride of an encoder-decoder (reflect at the bottom / right)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the last two axes of ``(C, H, W)`` or ``(B, C, H, W)`` at the bottom / right to multiples of ``multiple``.

    Reflect padding, replicate where a side is too short to reflect; returns ``x`` itself when
    nothing is needed. HSDT pads its input this way, and test-time augmentation pads each window
    the same way first so every flipped / rotated view keeps the downsampling grid of the scene.
    """
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not (ph or pw):
        return x
    mode = "reflect" if h > ph and w > pw else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)
