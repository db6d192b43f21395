"""Every LoRA adapter that ``hsi finetune`` adds acts on the output: after one backward pass on a
tiny tile, each LoRA B matrix (initialised to zero) has a nonzero gradient. An adapter on a
module whose weight the model reads without calling it (spectral_mamba's ``dt_proj``) would
get none, yet be saved and counted as trainable."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hsi_app.models import create_model
from hsi_app.tasks.finetune import lora_config

C, K = 30, 4
FAMILIES = ["test_channel_vit", "test_cnn3d", "test_spectral_mamba", "spectral_mamba", "test_spectral_vit",
            "test_ssfcn"]


def _peft(name: str) -> nn.Module:
    from peft import get_peft_model

    torch.manual_seed(0)
    net = create_model(name, in_chans=C, num_classes=K)
    return get_peft_model(net, lora_config(net, 2, None, False))


@pytest.mark.parametrize("name", FAMILIES)
def test_every_lora_b_matrix_gets_a_gradient(name: str) -> None:
    peft_net = _peft(name)
    torch.manual_seed(1)
    peft_net(torch.randn(2, C, 9, 9)).square().mean().backward()
    b_mats = {n: p for n, p in peft_net.named_parameters() if "lora_B" in n}
    assert b_mats and all(p.requires_grad for p in b_mats.values())
    dead = [n for n, p in b_mats.items() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert dead == []


def test_spectral_mamba_adapts_every_linear_outside_the_head_but_dt_proj() -> None:
    """The adapted layers, and so the trainable count, are exactly the live Linear layers."""
    peft_net = _peft("spectral_mamba")
    base = peft_net.get_base_model()
    expected = {n for n, m in create_model("spectral_mamba", in_chans=C, num_classes=K).named_modules()
                if isinstance(m, nn.Linear) and not n.startswith("head") and not n.endswith("dt_proj")}
    adapted = {n for n, m in base.named_modules() if hasattr(m, "lora_A")}
    assert adapted == expected
    rank = 2
    want = sum(rank * (m.in_features + m.out_features) for n, m in
               create_model("spectral_mamba", in_chans=C, num_classes=K).named_modules() if n in expected)
    assert sum(p.numel() for p in peft_net.parameters() if p.requires_grad) == want
