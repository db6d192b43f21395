"""SpectralMamba: scan equivalence, shapes/gradients, state-dict round trip, window equivalence."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hsi_app.models import create_model
from hsi_app.models.layers.mamba_block import MambaBlock
from hsi_app.models.layers.selective_scan import (
    linear_recurrence_parallel,
    selective_scan,
    selective_scan_parallel,
    selective_scan_ref,
)
from hsi_app.models.spectral_mamba import CentreGuidedEnhancement, MorphBlock
from hsi_app.tasks.classification import dense_logits

C, K = 10, 3


def _scan_inputs(t: int, seed: int = 0, b: int = 4, d: int = 6, n: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "u": torch.randn(b, d, t, generator=g),
        "delta": torch.randn(b, d, t, generator=g),
        "A": -torch.rand(d, n, generator=g) * 3,
        "B": torch.randn(b, n, t, generator=g),
        "C": torch.randn(b, n, t, generator=g),
        "D": torch.randn(d, generator=g),
        "z": torch.randn(b, d, t, generator=g),
        "delta_bias": torch.randn(d, generator=g),
    }


@pytest.mark.parametrize("t", [1, 2, 3, 5, 8, 13, 33])
def test_parallel_scan_equals_sequential(t: int) -> None:
    kw = _scan_inputs(t, seed=t)
    par = selective_scan_parallel(**kw, delta_softplus=True)
    ref = selective_scan_ref(**kw, delta_softplus=True)
    assert par.shape == (4, 6, t)
    torch.testing.assert_close(par, ref, atol=1e-4, rtol=1e-4)


def test_parallel_scan_gradients_equal_sequential() -> None:
    kw = {k: v.requires_grad_() for k, v in _scan_inputs(9, seed=1).items()}
    g_par = torch.autograd.grad(selective_scan_parallel(**kw, delta_softplus=True).sin().sum(), list(kw.values()))
    g_ref = torch.autograd.grad(selective_scan_ref(**kw, delta_softplus=True).sin().sum(), list(kw.values()))
    for a, b in zip(g_par, g_ref):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_recurrence_matches_closed_form() -> None:
    # constant decay 0.5 and unit input: h_t = 2 - 2**-t
    a = torch.full((6, 1), 0.5)
    h = linear_recurrence_parallel(a, torch.ones(6, 1))
    torch.testing.assert_close(h[:, 0], 2 - 0.5 ** torch.arange(6.0))


def test_cpu_dispatch_uses_the_parallel_scan() -> None:
    kw = _scan_inputs(7)
    torch.testing.assert_close(selective_scan(**kw, delta_softplus=True), selective_scan_parallel(**kw, delta_softplus=True))


def test_mamba_block_is_causal_over_tokens() -> None:
    torch.manual_seed(0)
    blk = MambaBlock(8, d_state=3).eval()
    x = torch.randn(5, 6, 8)
    z = x.clone()
    z[:, 4:] += 3.0  # change the last two tokens
    with torch.no_grad():
        torch.testing.assert_close(blk(x)[:, :4], blk(z)[:, :4])
        assert not torch.allclose(blk(x)[:, 4:], blk(z)[:, 4:])


def test_morphology_is_dilation_and_erosion() -> None:
    morph = MorphBlock(1, tokens=1, kernel=1)
    with torch.no_grad():
        morph.dw.weight.fill_(1.0)
        morph.dw.bias.zero_()
    f = torch.zeros(1, 1, 5, 5)
    f[0, 0, 2, 2] = 1.0
    dil = torch.nn.functional.max_pool2d(f, 3, stride=1, padding=1)
    assert dil.sum() == 9  # a single bright pixel grows into a 3x3 square
    ero = -torch.nn.functional.max_pool2d(-dil, 3, stride=1, padding=1)
    assert ero.sum() == 1 and ero[0, 0, 2, 2] == 1  # and erodes back
    assert morph.radius == 1


def test_centre_guidance_prefers_similar_neighbours() -> None:
    torch.manual_seed(0)
    cg = CentreGuidedEnhancement(4, kernel=3)
    with torch.no_grad():
        cg.qkv.weight.copy_(torch.cat([torch.eye(4) * 3, torch.eye(4) * 3, torch.eye(4)]))
    s = torch.nn.functional.normalize(torch.randn(1, 3, 3, 4), dim=-1)  # unit descriptors: dot = cosine
    s[0, 0, 0] = s[0, 1, 1]  # the top-left neighbour equals the centre
    w = cg.neighbour_weights(s)[0, 1, 1]
    assert w.shape == (9,) and torch.isclose(w.sum(), torch.tensor(1.0))
    assert int(w[[0, 1, 2, 3, 5, 6, 7, 8]].argmax()) == 0  # most similar neighbour weighs most
    corner = cg.neighbour_weights(s)[0, 0, 0]
    assert (corner[[0, 1, 2, 3, 6]] == 0).all()  # outside the scene: no weight


def test_forward_backward_and_radius() -> None:
    net = create_model("test_spectral_mamba", in_chans=C, num_classes=K).train()
    y = net(torch.randn(2, C, 9, 11))
    assert y.shape == (2, K, 9, 11)
    y.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    assert net.receptive_radius == 1 + 2 + 1 + 1
    assert create_model("spectral_mamba", in_chans=200, num_classes=16).receptive_radius == 1 + 2 + 1 + 5
    wide = create_model("spectral_mamba_wide", in_chans=200, num_classes=16)
    assert wide.receptive_radius == 1 + 2 + 1 + 10
    base = set(create_model("spectral_mamba", in_chans=200, num_classes=16).state_dict())
    assert set(wide.state_dict()) == base  # same parameters; only the head's input features grow


def test_windowed_equals_one_shot() -> None:
    torch.manual_seed(0)
    net = create_model("test_spectral_mamba", in_chans=C, num_classes=K).eval()
    x = torch.randn(C, 31, 26)
    torch.testing.assert_close(dense_logits(net, x, window=8), dense_logits(net, x, window=64), atol=1e-5, rtol=1e-5)


def test_safetensors_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    net = create_model("test_spectral_mamba", in_chans=C, num_classes=K).eval()
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    torch.manual_seed(2)
    fresh = create_model("test_spectral_mamba", in_chans=C, num_classes=K).eval()
    x = torch.randn(1, C, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(fresh(x), net(x))
        fresh.load_state_dict(load_file(str(tmp_path / "w.safetensors")))
        assert torch.equal(fresh(x), net(x))


def test_state_dict_uses_mamba_ssm_names() -> None:
    keys = set(create_model("test_spectral_mamba", in_chans=C, num_classes=K).state_dict())
    for name in ("in_proj.weight", "conv1d.weight", "x_proj.weight", "dt_proj.bias", "A_log", "D", "out_proj.weight"):
        assert f"blocks.0.{name}" in keys
