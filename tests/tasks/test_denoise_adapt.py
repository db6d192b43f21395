"""SURE test-time adaptation: the estimator is unbiased and adaptation lowers the true error."""

from __future__ import annotations

import pytest
import torch

from hsi_app.errors import ConfigError
from hsi_app.tasks.denoise_adapt import mc_sure, sigma_from_255


def test_mc_sure_matches_the_true_error_of_a_linear_shrinker() -> None:
    g = torch.Generator().manual_seed(0)
    clean = torch.rand(1, 1, 8, 64, 64, generator=g)
    sigma = 50 / 255
    noisy = clean + sigma * torch.randn(clean.shape, generator=g)
    for a in (0.3, 0.7, 1.0):  # f(y) = a y + (1 - a) mean: divergence a * N exactly
        mean = float(clean.mean())

        def fn(y: torch.Tensor, a: float = a) -> torch.Tensor:
            return a * y + (1 - a) * mean

        true = float(((fn(noisy) - clean) ** 2).mean())
        est = float(mc_sure(fn, noisy, sigma, torch.randn(noisy.shape, generator=g)))
        assert est == pytest.approx(true, rel=0.03), a
    identity_est = float(mc_sure(lambda y: y, noisy, sigma, torch.randn(noisy.shape, generator=g)))
    assert identity_est == pytest.approx(sigma**2, rel=0.05)  # identity: its true error is the noise power


@pytest.mark.parametrize("bad", [0.0, -5.0, float("nan")])
def test_sigma_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigError, match="--adapt-sigma"):
        sigma_from_255(bad)
    assert sigma_from_255(51.0) == pytest.approx(0.2)


def test_adaptation_crops_shrink_with_the_channels_the_network_sees() -> None:
    from types import SimpleNamespace

    from hsi_app.models.registry import create_model
    from hsi_app.tasks.denoise_adapt import ADAPT_CROP, adapt_crop_side

    subspace = SimpleNamespace(model=SimpleNamespace(rank=12), multiple=4)  # like hsdt_subspace_train: 12 eigen-images
    full = SimpleNamespace(model=create_model("test_hsdt", in_chans=200, num_classes=1), multiple=4)
    few = SimpleNamespace(model=create_model("test_hsdt", in_chans=3, num_classes=1), multiple=4)
    assert adapt_crop_side(subspace, 200) == 128  # the network sees 12 channels, whatever the band count
    assert adapt_crop_side(full, 200) == 28  # sqrt(12 * 128^2 / 200) = 31.4 -> multiple of 4
    assert adapt_crop_side(few, 3) == ADAPT_CROP  # capped
    assert adapt_crop_side(full, 10**6) == 4  # never below one spatial multiple
