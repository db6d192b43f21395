"""HSDT at inference (session 56): same output with less memory held; training untouched.

With autograd off the forward pass works in place and by row chunks (``hsi_app/models/hsdt.py``).
The references: the autograd path in the same process (bit-for-bit), and two fixtures computed
by the code before session 56 (45797c1) on seeded weights: ``hsdt_reference_out.npy`` (inference
outputs of ``test_hsdt`` and ``hsdt_s`` on a ``(1, 1, 4, 16, 20)`` input) and
``hsdt_reference_input_grad.npy`` (their input gradients in training mode).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

import hsi_app.models.hsdt as hsdt_mod
from hsi_app.models import create_model
from hsi_app.models.hsdt_subspace import SpectralSubspace, batch_subspace

pytestmark = pytest.mark.usefixtures("one_torch_thread")
HERE = Path(__file__).parent


class LivePeak(TorchDispatchMode):
    """Highest total size of the tensor storages alive after any torch operation inside the block (bytes)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        for key in [k for k, (ref, _) in self.live.items() if ref.expired()]:
            del self.live[key]  # first, so that a storage allocated where a freed one was is counted
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                s = t.untyped_storage()
                self.live.setdefault(s.data_ptr(), (StorageWeakRef(s), s.nbytes()))
        self.peak = max(self.peak, sum(n for _, n in self.live.values()))
        return out


def _seeded(name: str, bands: int) -> torch.nn.Module:
    """Weights drawn with numpy (independent of torch's initialisation), as the fixtures were made."""
    net = create_model(name, in_chans=bands, num_classes=1)
    rng = np.random.default_rng(7)
    with torch.no_grad():
        for _, p in sorted(net.named_parameters()):
            p.copy_(torch.from_numpy(rng.normal(0, 0.1, tuple(p.shape)).astype(np.float32)))
    return net


def _fixture_input() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(3).random((1, 1, 4, 16, 20), dtype=np.float32))


@pytest.mark.parametrize("chunk", [hsdt_mod.INFER_CHUNK_VALUES, 700, 1])
@pytest.mark.parametrize("name", ["test_hsdt", "hsdt_s"])
@pytest.mark.parametrize("shape", [(1, 1, 6, 24, 32), (2, 1, 5, 13, 18), (2, 7, 11, 9)])
def test_inference_output_is_bit_identical_to_the_autograd_path(name: str, chunk: int, shape: tuple,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hsdt_mod, "INFER_CHUNK_VALUES", chunk)  # 1: one image row per chunk
    torch.manual_seed(0)
    net = create_model(name, in_chans=shape[-3], num_classes=1).eval()
    x = torch.randn(shape)
    ref = net(x).detach()  # autograd on: the unchanged path
    with torch.inference_mode():
        y = net(x)
    with torch.no_grad():
        z = net(x)
    assert torch.equal(y, ref) and torch.equal(z, ref)
    assert torch.equal(x, x.clone()) and x.shape == shape


def test_outputs_match_the_code_before_the_change() -> None:
    ref = np.load(HERE / "hsdt_reference_out.npy")
    for i, name in enumerate(("test_hsdt", "hsdt_s")):
        with torch.inference_mode():
            y = _seeded(name, 4).eval()(_fixture_input())[0, 0].numpy()
        np.testing.assert_allclose(y, ref[i], rtol=1e-5, atol=1e-6)  # bit-identical on the machine that made it


def test_training_gradients_match_the_code_before_the_change() -> None:
    ref = np.load(HERE / "hsdt_reference_input_grad.npy")
    w = torch.from_numpy(np.random.default_rng(4).normal(size=(1, 1, 4, 16, 20)).astype(np.float32))
    for i, name in enumerate(("test_hsdt", "hsdt_s")):
        net = _seeded(name, 4).train()
        x = _fixture_input().requires_grad_(True)
        (net(x) * w).sum().backward()
        assert x.grad is not None and all(p.grad is not None for p in net.parameters())
        np.testing.assert_allclose(x.grad[0, 0].numpy(), ref[i], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["test_hsdt", "hsdt_s"])
def test_inference_holds_at_most_seven_full_resolution_activations(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # before: 13.6-14.8 activations (key, query, value, logits beside the block input; out-of-place sums)
    monkeypatch.setattr(hsdt_mod, "INFER_CHUNK_VALUES", 4096)  # a 64 x 64 window stands for a large one
    torch.manual_seed(0)
    net = create_model(name, in_chans=8, num_classes=1).eval()
    x = torch.rand(1, 1, 8, 64, 64)
    with torch.inference_mode(), LivePeak() as mem:
        net(x)
    activation = x.numel() * net.head.conv.spatial[0].out_channels * 4
    assert mem.peak <= 7.0 * activation, mem.peak / activation


@pytest.mark.parametrize(("scene_basis", "bound"), [(False, 4.5), (True, 3.0)])
def test_subspace_inference_is_bit_identical_and_frees_its_band_copies(scene_basis: bool, bound: float) -> None:
    # many bands, few eigen-images: the (B, D, N) arrays dominate. Before, in input-sized arrays: 6.1
    # with the sample's own basis (two float64 copies), 4.1 with a scene basis (the centred copy held
    # under the inner pass, the back-projection and its sum both alive)
    torch.manual_seed(0)
    net = create_model("test_hsdt_subspace", in_chans=100, num_classes=1).eval()
    x = torch.rand(1, 1, 100, 24, 24)
    sub = None
    if scene_basis:
        mean, basis = batch_subspace(x, net.rank)
        sub = SpectralSubspace(mean[0], basis[0])
    ref = net(x, subspace=sub).detach()
    with torch.inference_mode(), LivePeak() as mem:
        y = net(x, subspace=sub)
    assert torch.equal(y, ref)
    assert mem.peak <= bound * x.numel() * 4, mem.peak / (x.numel() * 4)


def test_block_writes_into_its_input_only_when_told() -> None:
    torch.manual_seed(0)
    block = hsdt_mod.TransformerBlock(4, 4).eval()
    x = torch.randn(1, 4, 5, 6, 7)
    keep = x.clone()
    with torch.no_grad():
        y = block(x)
        assert torch.equal(x, keep) and y.data_ptr() != x.data_ptr()
        z = block(x, overwrite=True)
    assert z.data_ptr() == x.data_ptr() and torch.equal(z, y)
    w = block(keep, overwrite=True)  # autograd on: ignored, input kept
    assert torch.equal(w.detach(), y) and w.data_ptr() != keep.data_ptr()
