"""Mutation audit s58: which heads a fine-tune can replace for another class count (finetune.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.tasks.finetune import check_new_head, replace_head


class _Net(nn.Module):
    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head


def test_a_grouped_convolution_head_is_refused_naming_the_base_run() -> None:
    """A depthwise (grouped) convolution maps each channel on its own: it is no classifier whose outputs can be
    renumbered for other classes."""
    with pytest.raises(ConfigError, match=r"^runs/base: its _Net model has no Linear or convolution `head`"):
        check_new_head(_Net(nn.Conv2d(8, 8, 1, groups=8)), 5, "runs/base")
    with pytest.raises(ConfigError):
        replace_head(_Net(nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 1, groups=4))), 5)


@pytest.mark.parametrize("bias", [True, False])
def test_a_convolution_head_is_replaced_by_one_of_the_new_class_count(bias: bool) -> None:
    net = _Net(nn.Sequential(nn.ReLU(), nn.Conv2d(8, 3, 1, bias=bias)))
    check_new_head(net, 5, "runs/base")
    replace_head(net, 5)
    last = net.head[-1]
    assert isinstance(last, nn.Conv2d) and last.out_channels == 5 and last.in_channels == 8
    assert (last.bias is not None) is bias
    assert net.head(torch.zeros(2, 8, 4, 4)).shape == (2, 5, 4, 4)


def test_a_linear_head_without_bias_is_replaced_by_one_without_bias() -> None:
    net = _Net(nn.Linear(6, 3, bias=False))
    replace_head(net, 4)
    assert isinstance(net.head, nn.Linear) and net.head.bias is None and net.head.out_features == 4
