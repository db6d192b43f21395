"""Quadrature weights of bands over wavelength: each band's share of the range a band set covers.

A band stands for the stretch of wavelength between the midpoints to its neighbours, so a
weighted sum over any band set that spans a range estimates the same integral over that
range. ChannelViT uses it for its group tokens and for a band-subset-robust SNV.
"""

from __future__ import annotations

import math

import torch


def group_quadrature(
    wavelengths: torch.Tensor, fwhm: torch.Tensor, lo: float = -math.inf, hi: float = math.inf
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quadrature weights of one band group over the wavelength range ``[lo, hi)`` it may cover.

    Each band stands for the stretch of wavelength between the midpoints to its
    neighbours (so a band beside an absorption gap stands for half the gap); the first and
    last bands reach one band spacing outward, clipped to ``[lo, hi)``. Every other band
    of a regular grid then covers the same range as the full grid, and the weighted sum
    estimates the same integral; an irregular subset gets close where its bands reach
    the bin's ends.

    Args:
        wavelengths: ``(n,)`` nm of the group's bands.
        fwhm: ``(n,)`` nm.
        lo, hi: the group's wavelength bin (nm); infinite for count-based groups.

    Returns:
        ``(n,)`` weights in nm, the weighted centre (nm) and the covered width (nm, the sum).
    """
    if wavelengths.numel() == 1:
        share = fwhm.clamp(min=1e-3)
    else:
        order = torch.argsort(wavelengths)
        sw = wavelengths[order]
        first = (sw[0] - (sw[1] - sw[0])).clamp(min=lo)
        last = (sw[-1] + (sw[-1] - sw[-2])).clamp(max=hi)
        edges = torch.cat([first[None], (sw[1:] + sw[:-1]) / 2, last[None]])
        share = torch.empty_like(wavelengths)
        share[order] = edges[1:] - edges[:-1]
        share = share.clamp(min=1e-3)
    total = share.sum()
    return share, (share * wavelengths).sum() / total, total
