"""Contract of every registered dense model: shapes, gradients, receptive radius,
window equivalence, sample independence and safetensors round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from hsi_app.models import create_model, list_models, model_info
from hsi_app.tasks.classification import dense_logits

C, K = 12, 4
# Our own families: their declared radius must be tight (reached exactly).
TIGHT = {"ssfcn", "ssfcn_snv", "ssfcn_small", "test_ssfcn", "cnn3d", "test_cnn3d"}
# Dense classifiers only; denoisers and detectors have their own output contracts and tests.
ALL_CLASSIFIERS = [n for n in list_models() if model_info(n)["task"] == "classification"]
CLASSIFIERS = [n for n in ALL_CLASSIFIERS if n in TIGHT or n.startswith("test_")]


def _model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model(name, in_chans=C, num_classes=K).eval()


@pytest.mark.parametrize("name", ALL_CLASSIFIERS)
def test_forward_backward_shape(name: str) -> None:
    net = create_model(name, in_chans=C, num_classes=K).train()
    x = torch.randn(2, C, 11, 13)
    y = net(x)
    assert y.shape == (2, K, 11, 13)
    y.square().mean().backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_receptive_radius_is_honest(name: str) -> None:
    net = _model(name)
    r = net.receptive_radius
    s = 2 * r + 9
    c = s // 2
    x = torch.randn(1, C, s, s)
    bump = 10.0 * torch.linspace(0.5, 1.5, C)  # not flat: an SNV input (ssfcn_snv) ignores a constant offset
    with torch.no_grad():
        base = net(x)[0, :, c, c]
        for dy, dx in [(r + 1, 0), (0, -(r + 1)), (r + 1, r + 1), (-(r + 1), 2), (r + 3, -(r + 2))]:
            z = x.clone()
            z[0, :, c + dy, c + dx] += bump
            assert torch.allclose(net(z)[0, :, c, c], base, atol=1e-5), (name, dy, dx)
        if name in TIGHT:  # the declared radius is reached, not just an upper bound
            for dy, dx in [(r, 0), (0, -r), (r, r)]:
                z = x.clone()
                z[0, :, c + dy, c + dx] += bump
                assert not torch.allclose(net(z)[0, :, c, c], base, atol=1e-5), (name, dy, dx)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_windowed_equals_one_shot(name: str) -> None:
    net = _model(name)
    x = torch.randn(C, 37, 29)
    whole = dense_logits(net, x, window=64)
    tiled = dense_logits(net, x, window=10)
    assert tiled.shape == (K, 37, 29)
    assert torch.allclose(whole, tiled, atol=1e-5)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_samples_in_a_batch_are_independent(name: str) -> None:
    net = _model(name)
    x = torch.randn(3, C, 9, 9)
    with torch.no_grad():
        alone = net(x[:1])
        x[1:] = 100.0 * torch.randn(2, C, 9, 9)
        together = net(x)[:1]
    assert torch.allclose(alone, together, atol=1e-5)


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_safetensors_round_trip(name: str, tmp_path: Path) -> None:
    net = _model(name, seed=1)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    fresh = _model(name, seed=2)
    x = torch.randn(1, C, 10, 10)
    with torch.no_grad():
        assert not torch.allclose(fresh(x), net(x))
        fresh.load_state_dict(load_file(str(path)))
        assert torch.equal(fresh(x), net(x))


def test_any_band_count_and_wavelengths() -> None:
    for bands in (1, 7, 64):
        net = create_model("test_ssfcn", in_chans=bands, num_classes=2, wavelengths=list(range(bands)))
        assert net(torch.randn(1, bands, 5, 6)).shape == (1, 2, 5, 6)
        net3 = create_model("test_cnn3d", in_chans=bands, num_classes=2)
        assert net3(torch.randn(1, bands, 5, 6)).shape == (1, 2, 5, 6)


def test_radius_follows_dilations() -> None:
    assert create_model("ssfcn", in_chans=3, num_classes=2, dilations=(1, 2, 4), pools=()).receptive_radius == 7
    assert create_model("ssfcn", in_chans=3, num_classes=2, dilations=(1,), kernel=5, pools=()).receptive_radius == 2
    assert create_model("ssfcn", in_chans=3, num_classes=2).receptive_radius == 3 + 17 // 2  # the default
    assert create_model("ssfcn", in_chans=3, num_classes=2, dilations=(1,), pools=(3, 9)).receptive_radius == 5
    assert create_model("cnn3d", in_chans=30, num_classes=2, channels=(2, 2, 2), spectral_kernels=(3, 3, 3),
                        spectral_strides=(1, 2, 2)).receptive_radius == 3


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_masked_logits_equal_the_whole_scene_at_the_mask(name: str) -> None:
    """Per-epoch validation (audit L #1): logits of the windows holding a validation pixel only, equal to the
    whole scene's at those pixels; cores without one are never run."""
    from hsi_app.tasks.classification import masked_logits

    net = _model(name)
    x = torch.randn(C, 41, 35)
    mask = torch.zeros(41, 35, dtype=torch.bool)
    mask[[0, 3, 17, 40, 40, 22], [0, 34, 5, 0, 33, 20]] = True  # corners, edges, inside; cores (8 px) mostly empty
    calls = []
    hook = net.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[-2:]))
    with torch.no_grad():
        picked = masked_logits(net, x, mask, core=8)
        hook.remove()
        whole = dense_logits(net, x, window=64).permute(1, 2, 0)[mask]
    assert picked.shape == (6, K)
    assert torch.allclose(picked, whole, atol=1e-5)
    assert len(calls) == 6  # one window per core holding a mask pixel (30 cores in all)
    with torch.no_grad():  # a scene within 2 cores per side: one forward, the same numbers as dense_logits
        assert torch.equal(masked_logits(net, x, mask, core=64), whole)
