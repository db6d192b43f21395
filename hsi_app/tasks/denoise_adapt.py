"""Label-free test-time adaptation of a trained denoiser by Stein's unbiased risk estimate (SURE).

For a block ``y = x + n`` with i.i.d. Gaussian noise ``n`` of known std ``sigma`` and a
denoiser ``f``, Stein's lemma gives an unbiased estimate of the mean squared error against the
unknown clean block ``x``::

    SURE(f, y) = |f(y) - y|^2 / N - sigma^2 + 2 sigma^2 div f(y) / N

with ``N`` values and the divergence estimated by one random probe ``b ~ N(0, I)``:
``div f(y) ~ b . (f(y + eps b) - f(y)) / eps`` (Monte-Carlo SURE, Ramani, Blu and Unser 2008).
Minimising it over the weights fine-tunes the denoiser on the scene it is about to denoise
(its fields, its spectra) without any clean data. Only valid for i.i.d. Gaussian noise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hsi_app.errors import ConfigError
from hsi_app.tasks.denoise_adapt_defaults import DEFAULT_ADAPT_STEPS  # re-exported; numpy-free for the CLI's help

if TYPE_CHECKING:
    import torch

    from hsi_app.tasks.denoising import Denoiser

DEFAULT_ADAPT_LR = 1e-4
PROBE_EPS = 1e-3
ADAPT_CROP = 128  # largest side of the crops that adaptation trains on
# values (channels x pixels) per adaptation crop: gradients cost far more memory than inference.
# A subspace model (12 eigen-images) gets 128 x 128 px; hsdt_s on 200 bands 28 x 28 px (one 32-px step
# measured 2.9 GiB peak RSS and 15 s on 2 cores).
ADAPT_VALUES = 12 * 128 * 128


@dataclass
class AdaptResult:
    """What :func:`adapt_sure` did: SURE per step, and on the first block before and after (same probe)."""

    losses: list[float]
    before: float
    after: float

    def summary(self, sigma_255: float) -> dict[str, float | int]:
        """What the CLI's metrics JSON and the batch sidecar store under ``adapt``."""
        return {"sigma": sigma_255, "steps": len(self.losses), "sure_before": self.before, "sure_after": self.after}


def mc_sure(fn: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor, sigma: float, probe: torch.Tensor,
            eps: float = PROBE_EPS) -> torch.Tensor:
    """Monte-Carlo SURE of ``fn`` at ``y``: an unbiased estimate of ``mean((fn(y) - x) ** 2)``.

    Args:
        fn: the denoiser, any shape in, the same shape out.
        y: noisy values, any shape.
        sigma: std of the i.i.d. Gaussian noise in ``y``.
        probe: standard normal tensor shaped like ``y`` (the divergence probe).
        eps: finite-difference step of the divergence estimate.

    Returns:
        Scalar tensor (differentiable with respect to ``fn``'s parameters).
    """
    out = fn(y)
    div = (probe * (fn(y + eps * probe) - out)).sum() / eps
    n = y.numel()
    return ((out - y) ** 2).sum() / n - sigma**2 + 2 * sigma**2 * div / n


def sigma_from_255(value: float) -> float:
    """Noise std given on the 0-255 scale of the normalised data (as in ``gaussian:S``) -> normalised units."""
    if not np.isfinite(value) or value <= 0:
        raise ConfigError(f"--adapt-sigma {value}: must be a positive noise std on the 0-255 scale, e.g. 50 "
                          "(adapt_sigma= in Python)")
    return float(value) / 255.0


def check_adapt(adapt_sigma: float, adapt_steps: int) -> float:
    """Validate ``--adapt-sigma`` / ``--adapt-steps``; the noise std in normalised units.

    Raises:
        ConfigError: a non-positive (or non-finite) std, or fewer than one step.
    """
    sigma = sigma_from_255(adapt_sigma)
    if adapt_steps < 1:
        raise ConfigError(f"--adapt-steps {adapt_steps}: must be at least 1, e.g. {DEFAULT_ADAPT_STEPS} "
                          "(adapt_steps= in Python)")
    return sigma


def adapt_crop_side(denoiser: Denoiser, bands: int) -> int:
    """Side in pixels of the square crops that SURE adaptation trains on, from the channels the network sees."""
    channels = int(getattr(denoiser.model, "rank", 0) or bands)
    side = min(ADAPT_CROP, int((ADAPT_VALUES / channels) ** 0.5))
    return max(denoiser.multiple, side // denoiser.multiple * denoiser.multiple)


def adapt_on_crops(denoiser: Denoiser, read: Callable[[int, int, int, int], np.ndarray], height: int, width: int,
                   bands: int, sigma: float, *, steps: int = DEFAULT_ADAPT_STEPS, seed: int = 0,
                   progress: bool = False) -> AdaptResult:
    """:func:`adapt_sure` on ``steps`` seeded random square crops of a ``height x width`` scene.

    Args:
        denoiser: a loaded run (its subspace already fitted when it needs the scene's).
        read: ``(row, col, h, w) -> (bands, h, w)`` normalised noisy values of that crop.
        height, width: scene size in pixels.
        bands: bands the denoiser gets (sets the crop side, :func:`adapt_crop_side`).
        sigma: noise std in normalised units.
        steps: optimisation steps, one crop each.
        seed: seed of the crop positions and the divergence probes.
        progress: show a progress bar.
    """
    from hsi_app.progress import bar as progress_bar

    side = adapt_crop_side(denoiser, bands)
    ch, cw = min(side, height), min(side, width)
    rng = np.random.default_rng(seed)
    corners = [(int(rng.integers(0, height - ch + 1)), int(rng.integers(0, width - cw + 1))) for _ in range(steps)]
    bar = progress_bar(corners, desc="adapt (SURE)", unit="step", enabled=progress)
    return adapt_sure(denoiser, (read(r, c, ch, cw) for r, c in bar), sigma, seed=seed)


def adapt_sure(denoiser: Denoiser, blocks: Iterable[np.ndarray], sigma: float, *, lr: float = DEFAULT_ADAPT_LR,
               seed: int = 0) -> AdaptResult:
    """Fine-tune ``denoiser``'s weights in place, one Adam step per noisy block, by minimising SURE.

    The run folder on disk is not touched; set the subspace first (:meth:`Denoiser.fit_subspace`)
    for models that need the scene's one. Blocks are cropped to the model's spatial multiple.

    Args:
        denoiser: a loaded run.
        blocks: normalised noisy ``(C, h, w)`` blocks, one per optimisation step (memory: one block).
        sigma: noise std in normalised units (see :func:`sigma_from_255`).
        lr: Adam learning rate.
        seed: seed of the divergence probes.

    Returns:
        :class:`AdaptResult`: SURE (normalised units squared) of every step before its update, and
        of the first block before and after all the steps, with the same probe (like for like).
    """
    import torch

    model, m = denoiser.model, denoiser.multiple
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    first: tuple[torch.Tensor, torch.Tensor] | None = None
    was_training = model.training
    model.eval()  # no dropout / batch-norm in the denoisers; eval keeps any future ones deterministic
    try:
        for block in blocks:
            h, w = block.shape[-2] // m * m, block.shape[-1] // m * m
            y = torch.from_numpy(np.ascontiguousarray(block[:, :h, :w], dtype=np.float32))[None, None]
            probe = torch.randn(y.shape, generator=gen)
            y, probe = y.to(denoiser.device), probe.to(denoiser.device)
            if first is None:
                first = (y, probe)
            loss = mc_sure(model, y, sigma, probe)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        if first is None:
            raise ConfigError("SURE adaptation got no block to adapt on")
        with torch.no_grad():
            after = float(mc_sure(model, first[0], sigma, first[1]))
    finally:
        model.train(was_training)
        for p in params:
            p.grad = None
    return AdaptResult(losses, losses[0], after)
