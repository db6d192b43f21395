"""HSDT: shapes for any band count, parameter budgets, receptive radius, registry."""

from __future__ import annotations

import pytest
import torch

from hsi_app.models import create_model, list_models, model_info


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("bands", [5, 13])
def test_any_band_count_and_both_layouts(bands: int) -> None:
    torch.manual_seed(0)
    net = create_model("test_hsdt", in_chans=bands, num_classes=1).eval()
    x5 = torch.randn(2, 1, bands, 10, 14)  # H, W not multiples of the stride: padded inside
    with torch.no_grad():
        y5 = net(x5)
        y4 = net(x5[:, 0])
    assert y5.shape == x5.shape
    assert y4.shape == (2, bands, 10, 14)
    torch.testing.assert_close(y4, y5[:, 0])


def test_parameter_budgets_match_the_paper() -> None:
    s = _params(create_model("hsdt_s", in_chans=31, num_classes=1))
    m = _params(create_model("hsdt_m", in_chans=31, num_classes=1))
    assert 0.10e6 < s < 0.16e6  # HSDT-S: 0.13 M
    assert 0.45e6 < m < 0.60e6  # HSDT-M: 0.52 M
    assert _params(create_model("hsdt", in_chans=200, num_classes=1)) == s  # band count free


def test_registered_as_denoisers() -> None:
    for name in ("hsdt", "hsdt_s", "hsdt_m", "test_hsdt"):
        assert name in list_models("*hsdt*")
        assert model_info(name)["task"] == "denoise"


def test_output_depends_only_on_pixels_within_the_receptive_radius() -> None:
    torch.manual_seed(0)
    net = create_model("test_hsdt", in_chans=4, num_classes=1).eval()
    r = net.receptive_radius
    size = 2 * r + 24
    x = torch.randn(1, 1, 4, size, size, requires_grad=True)
    c = size // 2
    net(x)[0, 0, :, c, c].sum().backward()
    assert x.grad is not None
    support = (x.grad.abs().sum(dim=(0, 1, 2)) > 0).nonzero()
    reach = (support - c).abs().max().item()
    assert 0 < reach <= r


def test_global_residual_identity_at_init_scale() -> None:
    # zeroing the tail makes the network the identity: the residual path is exact
    net = create_model("test_hsdt", in_chans=6, num_classes=1).eval()
    for p in (*net.tail_spatial.parameters(), *net.tail_spectral.parameters()):
        torch.nn.init.zeros_(p)
    x = torch.randn(1, 1, 6, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(net(x), x)
