"""Subspace HSDT: the HSDT denoiser run on the leading spectral eigen-images of the cube.

Hyperspectral spectra lie close to a low-dimensional subspace (Indian Pines is nearly
rank 2 at σ = 50), which is why plain PCA truncation is such a strong denoiser. Subspace
methods (e.g. FastHyDe, Zhuang & Bioucas-Dias 2018) go further: project the spectra on
the ``K`` leading principal directions, denoise the ``K`` *eigen-images* spatially, and
project back. :class:`SubspaceHSDT` does that with a learnt denoiser:

1. take a mean spectrum ``m (D,)`` and the ``K`` leading eigenvectors ``U (D, K)`` of a
   band covariance. ``basis="input"``: estimated from the noisy input itself (or from the
   whole scene, passed in as a :class:`SpectralSubspace` so that windows share one basis);
   the model works for any band count. ``basis="train"``: fitted once to the *clean*
   training spectra (:meth:`SubspaceHSDT.fit_training_subspace`) and stored with the
   weights; a noisy input cannot give the weak spectral directions that lie under the
   noise floor, the clean training scene can, but the band set is then fixed;
2. coefficients ``Z = Uᵀ (x - m)``: ``(B, 1, K, H, W)``. ``U`` is orthonormal, so i.i.d.
   Gaussian noise of σ per band stays i.i.d. σ per eigen-image, while the signal
   gathers in the first few;
3. denoise ``Z`` with an :class:`~hsi_app.models.hsdt.HSDT` (the eigen-images are its
   "bands": S3Conv, guided spectral attention and SMFFN work across them);
4. back-project ``x̂ = U Ẑ + m``. What lies outside the subspace is dropped (noise,
   plus the scene's weakest spectral structure).

The basis is computed without gradients (``torch.linalg.eigh`` in float64); each
eigenvector's sign is fixed so that its largest-magnitude entry is positive.
Noise that is not spread evenly over bands (stripes, dead lines, impulses) is not
removed by the projection in the same way; for those, the plain ``hsdt_s`` is the
model to use.

Registered (``task="denoise"``): ``hsdt_subspace`` (input basis, rank 8, an 8-channel
HSDT inside, ~0.13 M parameters), ``hsdt_subspace_train`` (training basis, rank 12, same
inner HSDT) and ``test_hsdt_subspace`` (tiny, for tests). ``forward`` takes
``(B, 1, D, H, W)`` and returns the same shape; the projection needs every band, so
training patches hold the whole spectrum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models.hsdt import HSDT
from hsi_app.models.registry import register_model


class SpectralSubspace(NamedTuple):
    """A spectral subspace: ``mean (D,)`` and orthonormal ``basis (D, K)``, float32 tensors."""

    mean: torch.Tensor
    basis: torch.Tensor


def _leading_eigvecs(cov: torch.Tensor, rank: int) -> torch.Tensor:
    """``(..., D, D)`` symmetric -> ``(..., D, K)`` leading eigenvectors, largest-magnitude entry positive."""
    _, vecs = torch.linalg.eigh(cov)
    top = vecs.flip(-1)[..., :rank]
    idx = top.abs().argmax(dim=-2, keepdim=True)
    sign = torch.sign(torch.gather(top, -2, idx))
    return top * torch.where(sign == 0, torch.ones_like(sign), sign)


def subspace_from_moments(total: np.ndarray, outer: np.ndarray, count: int, rank: int) -> SpectralSubspace:
    """Mean and leading eigenvectors from accumulated moments.

    Args:
        total: ``(D,)`` sum of the spectra.
        outer: ``(D, D)`` sum of the outer products ``x xᵀ``.
        count: number of spectra.
        rank: eigenvectors kept (``K``, clipped to ``D``).

    Returns:
        :class:`SpectralSubspace` with ``mean (D,)`` and ``basis (D, K)``.
    """
    if count < 2:
        raise ConfigError("a spectral subspace needs at least 2 pixels")
    mean = np.asarray(total, dtype=np.float64) / count
    cov = np.asarray(outer, dtype=np.float64) / count - np.outer(mean, mean)
    basis = _leading_eigvecs(torch.from_numpy(cov), min(int(rank), cov.shape[0]))
    return SpectralSubspace(torch.from_numpy(mean).float(), basis.float())


class SpectralMoments:
    """Running sums of spectra (for one scene-wide :class:`SpectralSubspace`, window by window).

    ``update`` takes ``(D, h, w)`` blocks; memory is ``O(D²)`` whatever the scene size.
    """

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.outer: np.ndarray | None = None
        self.count = 0

    def update(self, block: np.ndarray) -> None:
        """Add the spectra of a ``(D, h, w)`` block."""
        x = np.asarray(block, dtype=np.float64).reshape(block.shape[0], -1)
        if self.total is None or self.outer is None:
            self.total, self.outer = np.zeros(x.shape[0]), np.zeros((x.shape[0], x.shape[0]))
        self.total += x.sum(axis=1)
        self.outer += x @ x.T
        self.count += x.shape[1]

    def subspace(self, rank: int) -> SpectralSubspace:
        """The mean and ``rank`` leading eigenvectors of everything seen so far."""
        if self.total is None or self.outer is None:
            raise ConfigError("no pixels were accumulated; call update() first")
        return subspace_from_moments(self.total, self.outer, self.count, rank)


def batch_subspace(x: torch.Tensor, rank: int) -> SpectralSubspace:
    """Per-sample subspace of ``(B, 1, D, H, W)``: ``mean (B, D)``, ``basis (B, D, K)`` (no gradient)."""
    with torch.no_grad():
        c = x.detach().flatten(3)[:, 0].to(torch.float64, copy=True)  # (B, D, N), own copy: centred in place
        mean = c.mean(-1)
        c.sub_(mean[..., None])  # one float64 copy of the input instead of two
        cov = c @ c.transpose(1, 2) / max(c.shape[-1] - 1, 1)
        del c
        basis = _leading_eigvecs(cov, min(rank, cov.shape[-1]))
    return SpectralSubspace(mean.to(x.dtype), basis.to(x.dtype))


class SubspaceHSDT(nn.Module):
    """HSDT on the ``rank`` leading eigen-images (see the module docstring).

    Args:
        rank: eigen-images denoised (``K``).
        channels, num_half_layer, sample_idx, num_guides: the inner :class:`HSDT`.
        in_chans, wavelengths: recorded only.

    Attributes:
        subspace: a fixed scene subspace used by :meth:`forward` when set (``None``: each
            sample's own).

    Shapes:
        ``(B, 1, D, H, W) -> (B, 1, D, H, W)``; inside, ``(B, 1, K, H, W)``.
    """

    task = "denoise"
    uses_all_bands = True

    def __init__(
        self,
        rank: int = 8,
        channels: int = 8,
        num_half_layer: int = 5,
        sample_idx: Sequence[int] = (1, 3),
        num_guides: int = 8,
        basis: str = "input",
        in_chans: int | None = None,
        wavelengths: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if rank < 1:
            raise ConfigError(f"hsdt_subspace: rank={rank}; need at least 1 eigen-image")
        if basis not in ("input", "train"):
            raise ConfigError(f"hsdt_subspace: basis={basis!r}; use 'input' or 'train'")
        if basis == "train" and not in_chans:
            raise ConfigError("hsdt_subspace: basis='train' needs in_chans (the band count of the training scene)")
        self.rank = int(rank)
        self.basis = basis
        if basis == "train":
            k = min(self.rank, int(in_chans or 0))
            self.register_buffer("train_mean", torch.zeros(int(in_chans or 0)))
            self.register_buffer("train_basis", torch.zeros(int(in_chans or 0), k))
        self.in_chans = in_chans
        self.wavelengths = None if wavelengths is None else [float(w) for w in wavelengths]
        self.inner = HSDT(channels, num_half_layer, sample_idx, num_guides)
        self.spatial_multiple: int = self.inner.spatial_multiple
        self.receptive_radius: int = self.inner.receptive_radius
        self.subspace: SpectralSubspace | None = None

    @property
    def needs_scene_subspace(self) -> bool:
        """True when the basis comes from the input (``basis="input"``), so a scene needs one fitted first."""
        return self.basis == "input"

    def fit_training_subspace(self, clean: np.ndarray) -> None:
        """``basis="train"``: store the mean and leading eigenvectors of clean ``(D, H, W)`` training spectra."""
        if self.basis != "train":
            return
        moments = SpectralMoments()
        moments.update(clean)
        sub = moments.subspace(self.rank)
        if sub.mean.shape != self.train_mean.shape:
            raise ConfigError(f"hsdt_subspace: built for {self.train_mean.shape[0]} bands, given {sub.mean.shape[0]}")
        self.train_mean.copy_(sub.mean)
        self.train_basis.copy_(sub.basis)

    def forward(self, x: torch.Tensor, subspace: SpectralSubspace | None = None) -> torch.Tensor:
        """Denoise ``(B, 1, D, H, W)`` normalised values through the subspace.

        The subspace is, in order: the stored training one (``basis="train"``), ``subspace``,
        :attr:`subspace`, or each sample's own.
        """
        if x.ndim != 5 or x.shape[1] != 1:
            raise ConfigError(f"hsdt_subspace: expected (B, 1, D, H, W), got {tuple(x.shape)}")
        b, _, d, h, w = x.shape
        if self.basis == "train":
            if d != self.train_mean.shape[0]:
                raise ConfigError(f"hsdt_subspace: trained on {self.train_mean.shape[0]} bands, the input has {d}; "
                                  "denoise a cube with the training scene's bands")
            subspace = SpectralSubspace(self.train_mean, self.train_basis)
        sub = subspace if subspace is not None else self.subspace
        if sub is None:
            mean, basis = batch_subspace(x, self.rank)
        else:
            if sub.basis.shape[0] != d:
                raise ConfigError(f"hsdt_subspace: the subspace has {sub.basis.shape[0]} bands, the input {d}")
            mean = sub.mean.to(x)[None].expand(b, d)
            basis = sub.basis.to(x)[None].expand(b, d, sub.basis.shape[1])
        flat = x.flatten(3)[:, 0] - mean[..., None]  # (B, D, N)
        coef = (basis.transpose(1, 2) @ flat).reshape(b, 1, basis.shape[-1], h, w)
        del flat  # not held under the inner forward pass
        den = self.inner(coef).flatten(3)[:, 0]  # (B, K, N)
        del coef
        out = basis @ den  # (B, D, N)
        if torch.is_grad_enabled():
            out = out + mean[..., None]
        else:  # inference: the mean added in place (same sums), one (B, D, N) array instead of two
            out.add_(mean[..., None])
        return out.reshape(b, 1, d, h, w)


def _build(defaults: dict[str, object], in_chans: int, wavelengths: Sequence[float] | None, kw: dict[str, object]) -> SubspaceHSDT:
    return SubspaceHSDT(in_chans=in_chans, wavelengths=wavelengths, **{**defaults, **kw})  # type: ignore[arg-type]


@register_model(task="denoise")
def hsdt_subspace(in_chans: int, num_classes: int = 1, wavelengths: Sequence[float] | None = None, **kw: object) -> SubspaceHSDT:
    """HSDT-S on the 8 leading spectral eigen-images (~0.13 M parameters); for Gaussian-like noise."""
    return _build({"rank": 8, "channels": 8, "num_half_layer": 5, "sample_idx": (1, 3)}, in_chans, wavelengths, kw)


@register_model(task="denoise")
def hsdt_subspace_train(in_chans: int, num_classes: int = 1, wavelengths: Sequence[float] | None = None, **kw: object) -> SubspaceHSDT:
    """HSDT-S on 12 eigen-images of a basis fitted to the clean training spectra (stored; band set fixed)."""
    return _build({"rank": 12, "channels": 8, "num_half_layer": 5, "sample_idx": (1, 3), "basis": "train"},
                  in_chans, wavelengths, kw)


@register_model(task="denoise")
def test_hsdt_subspace(in_chans: int, num_classes: int = 1, wavelengths: Sequence[float] | None = None, **kw: object) -> SubspaceHSDT:
    """Tiny subspace HSDT for tests: rank 3, a 4-channel, 3+3-stage HSDT inside."""
    return _build({"rank": 3, "channels": 4, "num_half_layer": 3, "sample_idx": (1,), "num_guides": 4},
                  in_chans, wavelengths, kw)
