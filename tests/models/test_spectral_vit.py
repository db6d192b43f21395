"""LoLA-SpecViT: shapes, gradients, safetensors round trip, receptive radius, windowed == one-shot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models import create_model
from hsi_app.models.spectral_vit import LocalAttention, SpectralViT


@pytest.mark.parametrize(("name", "bands"), [("test_spectral_vit", 12), ("spectral_vit", 200)])
def test_forward_backward_shape(name: str, bands: int) -> None:
    torch.manual_seed(0)
    model = create_model(name, in_chans=bands, num_classes=5)
    x = torch.randn(2, bands, 11, 9)
    y = model(x)
    assert y.shape == (2, 5, 11, 9)
    y.square().mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["blocks.0.attn.relative_position_bias_table"].abs().sum() > 0  # the bias is learned


def test_wide_variant_adds_context_and_keeps_parameter_names() -> None:
    """spectral_vit_wide: radius = conv 1 px + 3 x (7 x 7 window: 3 px) + 11-px box 5 px; only the head grows."""
    wide = create_model("spectral_vit_wide", in_chans=200, num_classes=16)
    assert wide.receptive_radius == 1 + 3 * 3 + 5
    assert create_model("spectral_vit", in_chans=200, num_classes=16).receptive_radius == 1 + 2 * 2
    same_depth = create_model("spectral_vit", in_chans=200, num_classes=16, window=7, depth=3)
    shapes = {n: p.shape for n, p in same_depth.state_dict().items()}
    wide_shapes = {n: p.shape for n, p in wide.state_dict().items()}
    assert set(wide_shapes) == set(shapes)
    changed = {n for n in shapes if shapes[n] != wide_shapes[n]}
    assert changed == {"head.weight"}  # the head reads D * (1 + 2 box sizes) features
    assert wide_shapes["head.weight"] == (16, 3 * 32)


def test_lora_target_names_are_linear_layers() -> None:
    model = create_model("spectral_vit", in_chans=30, num_classes=4)
    leaves = {n.rsplit(".", 1)[-1]: type(m) for n, m in model.named_modules() if n}
    for target in SpectralViT.lora_targets:
        assert leaves[target] is nn.Linear


def test_safetensors_round_trip(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    torch.manual_seed(1)
    a = create_model("test_spectral_vit", in_chans=12, num_classes=3).eval()
    save_file(a.state_dict(), str(tmp_path / "m.safetensors"))
    torch.manual_seed(2)
    b = create_model("test_spectral_vit", in_chans=12, num_classes=3).eval()
    x = torch.randn(1, 12, 10, 10)
    assert not torch.allclose(a(x), b(x))
    b.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    torch.testing.assert_close(a(x), b(x), rtol=0, atol=0)


@pytest.mark.parametrize(("pools", "radius"), [((), 1 + 1), ((3, 5), 1 + 1 + 2)])
def test_receptive_radius_is_exact(pools: tuple[int, ...], radius: int) -> None:
    """A change at Chebyshev distance R moves the output; at R + 1 it cannot.

    R = spatial kernel 3 (1 px) + one 3 x 3 attention layer (1 px) + the largest box of the
    context head, if any (5 x 5: 2 px).
    """
    torch.manual_seed(0)
    model = create_model("test_spectral_vit", in_chans=12, num_classes=3, pools=pools).eval()
    r = model.receptive_radius
    assert r == radius
    x = torch.randn(1, 12, 15, 15)
    with torch.no_grad():
        base = model(x)[0, :, 7, 7]
        near, far = x.clone(), x.clone()
        near[0, :, 7 + r, 7 - r] += 3.0
        far[0, :, 7 + r + 1, 7] += 3.0
        assert (model(near)[0, :, 7, 7] - base).abs().max() > 1e-4
        assert torch.equal(model(far)[0, :, 7, 7], base)


@pytest.mark.parametrize("window", [3, 5, 8])
@pytest.mark.parametrize("pools", [(), (5, 11)])
def test_windowed_equals_one_shot(window: int, pools: tuple[int, ...]) -> None:
    """Halo'd windows (any offset w.r.t. the attention blocks) reproduce the one-shot logits."""
    from hsi_app.tasks.classification import dense_logits

    torch.manual_seed(0)
    model = create_model("spectral_vit", in_chans=16, num_classes=4, window=5, depth=2, pools=pools).eval()
    image = torch.randn(16, 23, 19)
    with torch.no_grad():
        full = model(image[None])[0]
        tiled = dense_logits(model, image, window=window)
    torch.testing.assert_close(tiled, full, rtol=1e-4, atol=1e-5)


def test_predict_scene_windowed_matches_one_shot_map() -> None:
    from hsi_app.infer import predict_scene
    from hsi_app.io.cube import make_cube

    torch.manual_seed(0)
    model = create_model("test_spectral_vit", in_chans=8, num_classes=3).eval()
    data = np.random.default_rng(0).normal(size=(8, 21, 17)).astype(np.float32)
    cube = make_cube(data)

    def prob_fn(image: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(np.nan_to_num(image))[None]), 1)[0].numpy()

    expected = prob_fn(data).argmax(0) + 1
    res = predict_scene(prob_fn, cube, num_classes=3, halo=model.receptive_radius, window=5, keep_map=True,
                        progress=False)
    np.testing.assert_array_equal(res.classes, expected)


def test_local_attention_matches_naive_neighbourhood_attention() -> None:
    """Blockwise masked SDPA == per-pixel softmax over the in-image (2r+1)^2 neighbours + bias."""
    torch.manual_seed(0)
    att = LocalAttention(8, 2, 3, block=4).eval()
    x = torch.randn(1, 6, 7, 8)
    with torch.no_grad():
        out = att(x)
        q, k, v = att.qkv(x).reshape(1, 6, 7, 3, 2, 4).unbind(3)
        table = att.relative_position_bias_table
        ref = torch.zeros(6, 7, 2, 4)
        for i in range(6):
            for j in range(7):
                keys = [(a, b) for a in range(i - 1, i + 2) for b in range(j - 1, j + 2) if 0 <= a < 6 and 0 <= b < 7]
                kk = torch.stack([k[0, a, b] for a, b in keys])  # (n, heads, hd)
                vv = torch.stack([v[0, a, b] for a, b in keys])
                bias = torch.stack([table[(a - i + 1) * 3 + (b - j + 1)] for a, b in keys])  # (n, heads)
                logits = (q[0, i, j][None] * kk).sum(-1) / 2.0 + bias  # scale 1/sqrt(4)
                ref[i, j] = (logits.softmax(0)[..., None] * vv).sum(0)
        expected = att.proj(ref.reshape(1, 6, 7, 8))
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


def test_bad_sizes_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="odd"):
        create_model("spectral_vit", in_chans=10, num_classes=2, window=4)
    with pytest.raises(ConfigError, match="divisible"):
        create_model("spectral_vit", in_chans=10, num_classes=2, embed_dim=30, heads=4)
    with pytest.raises(ConfigError, match="drop"):
        create_model("spectral_vit", in_chans=10, num_classes=2, drop=1.0)


def test_branch_dropout_acts_in_training_only_and_keeps_the_state_dict() -> None:
    """drop > 0: two training passes differ, eval passes agree and equal the drop=0 model with the same weights."""
    torch.manual_seed(3)
    plain = create_model("test_spectral_vit", in_chans=12, num_classes=3)
    dropped = create_model("test_spectral_vit", in_chans=12, num_classes=3, drop=0.3)
    assert dropped.state_dict().keys() == plain.state_dict().keys()  # old checkpoints still load
    dropped.load_state_dict(plain.state_dict())
    x = torch.randn(1, 12, 9, 9)
    dropped.train()
    assert not torch.allclose(dropped(x), dropped(x))
    dropped.eval()
    plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(dropped(x), plain(x))
