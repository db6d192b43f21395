"""Test-time augmentation over the eight symmetries of the square (dihedral group D4).

Dense models here are trained on tiles that are randomly flipped and rotated by multiples
of 90 degrees, so each of those eight views of a scene is an equally valid input. Running
the model on all eight, undoing each transform on the output and averaging (a
"self-ensemble") removes the part of the error that depends on orientation, at eight
times the compute. Used by classification (:func:`hsi_app.tasks.classification.predict_dense`,
:class:`hsi_app.predictor.Predictor` behind ``hsi predict --tta``) and denoising
(:class:`hsi_app.tasks.denoising.Denoiser` behind ``hsi denoise --tta``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

__all__ = ["d4_mean", "d4_views"]


def d4_views() -> Iterator[tuple[int, bool]]:
    """The eight ``(quarter_turns, flip)`` pairs of D4; ``(0, False)`` is the identity."""
    for k in range(4):
        for flip in (False, True):
            yield k, flip


def d4_mean(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Average ``fn`` over the eight flips / 90-degree rotations of the last two axes.

    Args:
        fn: maps ``(..., h, w)`` to ``(..., h, w)`` (leading axes may change, e.g. bands to
            classes); called once per view, one after the other, so peak memory is one view's.
        x: ``(..., H, W)`` input.

    Returns:
        ``(..., H, W)`` float32 mean of ``T^-1(fn(T(x)))`` over the eight transforms ``T``;
        equals ``fn(x)`` when ``fn`` commutes with them.
    """
    acc: torch.Tensor | None = None
    for k, flip in d4_views():
        xt = torch.rot90(x, k, (-2, -1))
        xt = torch.flip(xt, (-1,)) if flip else xt
        y = fn(xt.contiguous())
        y = torch.flip(y, (-1,)) if flip else y
        y = torch.rot90(y, -k, (-2, -1)).float()
        acc = y if acc is None else acc + y
    assert acc is not None
    return acc / 8.0
