"""BandMap (hsi finetune): a band selection is indexed, bit-identical to the dense product (audit L #3)."""

from __future__ import annotations

import numpy as np
import torch

from hsi_app.tasks.finetune import _torch_modules

BandMap, _ = _torch_modules()


def _dense(a: np.ndarray, c: np.ndarray, x: torch.Tensor) -> torch.Tensor:
    """The map as it always was: ``einsum`` of the whole matrix, then the offset."""
    at, ct = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(c, dtype=torch.float32)
    return torch.einsum("oc,bchw->bohw", at, x) + ct[None, :, None, None]


def test_a_selection_is_indexed_and_equals_the_dense_product_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    c_new, c_base = 37, 30
    idx = rng.integers(0, c_new, c_base)  # repeats and skipped bands, as a nearest-band selection gives
    a = np.eye(c_new)[idx] * rng.uniform(0.2, 3.0, (c_base, 1))  # input_map scales each row
    a[4] = 0.0  # a band with zero spread: a row without weight
    c = rng.normal(size=c_base)
    bm = BandMap(a, c)
    assert bm.select
    for seed in range(3):
        x = torch.randn(2, c_new, 9, 11, generator=torch.Generator().manual_seed(seed)) * 5
        assert torch.equal(bm(x), _dense(a, c, x))
    eye = BandMap(np.eye(c_new), np.zeros(c_new))  # same sensor, same bands
    x = torch.randn(1, c_new, 5, 5)
    assert eye.select and torch.equal(eye(x), _dense(np.eye(c_new), np.zeros(c_new), x))


def test_gaussian_resampling_keeps_the_dense_product() -> None:
    rng = np.random.default_rng(1)
    a = np.abs(rng.normal(size=(6, 10)))  # several weights per row
    c = rng.normal(size=6)
    bm = BandMap(a, c)
    assert not bm.select
    x = torch.randn(2, 10, 4, 4)
    assert torch.equal(bm(x), _dense(a, c, x))


def test_nothing_of_the_map_is_saved() -> None:
    """The adapter files hold no band-map tensor, selection or not (the map is rebuilt from config.json)."""
    assert BandMap(np.eye(5), np.zeros(5)).state_dict() == {}
    assert BandMap(np.full((3, 5), 0.2), np.zeros(3)).state_dict() == {}
