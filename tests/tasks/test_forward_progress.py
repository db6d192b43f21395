"""Progress inside one forward pass: model stages, and denoise_cube's window callback."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from hsi_app.io import open_cube
from hsi_app.tasks.denoise_scene import denoise_cube
from hsi_app.tasks.denoising import Denoiser
from hsi_app.tasks.forward_progress import model_stages, stage_progress
from tests.tasks.test_denoising import geotiff, smooth_cube, untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Net(nn.Module):
    """head, two encoder stages (a ModuleList), a Sequential decoder of two, a tail: six stages."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 3)
        self.encoder = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])
        self.decoder = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
        self.tail = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        for stage in self.encoder:
            x = stage(x)
        return self.tail(self.decoder(x))


class Wrapper(nn.Module):
    """A model that only wraps another (as SubspaceHSDT wraps its HSDT)."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = Net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_stages_open_containers_and_wrappers() -> None:
    net = Net()
    assert model_stages(net) == [net.head, net.encoder[0], net.encoder[1], net.decoder[0], net.decoder[1], net.tail]
    wrapped = Wrapper()
    assert model_stages(wrapped) == model_stages(wrapped.inner)
    leaf = nn.Linear(2, 2)
    assert model_stages(leaf) == [leaf]


def test_each_stage_reports_and_the_count_restarts_with_each_pass() -> None:
    net, seen = Net(), []
    with stage_progress(net, lambda done, total: seen.append((done, total))) as total:
        net(torch.zeros(1, 3))
        net(torch.zeros(1, 3))
    assert total == 6 and seen == [(k, 6) for k in range(1, 7)] * 2
    net(torch.zeros(1, 3))
    assert len(seen) == 12  # the hooks are gone after the block


def test_passes_of_other_threads_are_not_counted() -> None:
    net, seen = Net(), []
    with stage_progress(net, lambda done, total: seen.append(done)):
        other = threading.Thread(target=net, args=(torch.zeros(1, 3),))
        other.start()
        other.join()
        assert seen == []
        net(torch.zeros(1, 3))
    assert seen == [1, 2, 3, 4, 5, 6]


def test_denoise_cube_reports_windows_and_the_model_stages(tmp_path: Path) -> None:
    src = geotiff(tmp_path / "in.tif", smooth_cube(h=60, w=110))
    den = Denoiser.load(untrained_run(tmp_path))
    windows, stages = [], []
    with stage_progress(den.model, lambda done, total: stages.append((done, total))) as total:
        res = denoise_cube(den, open_cube(src), tmp_path / "out.tif", window=52, progress=False,
                           on_window=lambda done, n: windows.append((done, n)))
    n = res.windows
    assert n > 1 and windows == [(k, n) for k in range(n + 1)]
    assert stages == [(k, total) for k in range(1, total + 1)] * n
    plain = denoise_cube(den, open_cube(src), tmp_path / "plain.tif", window=52, progress=False)
    np.testing.assert_array_equal(open_cube(res.path).values, open_cube(plain.path).values)
