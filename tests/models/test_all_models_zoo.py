"""Every registered classifier (tiny ``test_*`` variants and the defaults) on small and odd tiles.

Whole-scene inference hands models edge windows of any size, and the zoo must accept
any band count, so each classifier gets a forward and backward pass on tiles as small
as 3 x 5 pixels with few and many bands, and must return ``(B, K, h, w)`` finite logits
with finite gradients. (The SVM baseline is not a registered torch model.)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi_app.models import create_model, list_models, model_info

K = 5
CLASSIFIERS = [n for n in list_models() if model_info(n)["task"] == "classification"]
TINY = [n for n in CLASSIFIERS if n.startswith("test_")]
DEFAULTS = [n for n in CLASSIFIERS if not n.startswith("test_")]


def _check(name: str, bands: int, h: int, w: int) -> None:
    torch.manual_seed(0)
    wl = np.linspace(410.0, 2480.0, bands)
    net = create_model(name, in_chans=bands, num_classes=K, wavelengths=wl).train()
    y = net(torch.randn(2, bands, h, w))
    assert y.shape == (2, K, h, w)
    assert torch.isfinite(y).all()
    y.logsumexp(dim=1).mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads), name
    assert isinstance(net.receptive_radius, int) and net.receptive_radius >= 0


@pytest.mark.parametrize(("bands", "h", "w"), [(5, 3, 5), (30, 8, 7)])
@pytest.mark.parametrize("name", TINY)
def test_tiny_variants_on_small_tiles(name: str, bands: int, h: int, w: int) -> None:
    _check(name, bands, h, w)


@pytest.mark.parametrize("name", DEFAULTS)
def test_default_models_on_a_200_band_tile(name: str) -> None:
    _check(name, 200, 6, 5)


def test_zoo_families_are_registered() -> None:
    for family in ("channel_vit", "spectral_mamba"):
        assert {family, f"test_{family}"} <= set(CLASSIFIERS)
