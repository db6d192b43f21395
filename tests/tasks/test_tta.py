"""D4 test-time augmentation: known values of the group average, padding, and its use in denoising / classification."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hsi_app.tasks.classification import predict_dense
from hsi_app.tasks.denoising import Denoiser
from hsi_app.models.layers.padding import pad_to_multiple
from hsi_app.tasks.tta import d4_mean, d4_views

from .test_denoising import untrained_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_views_are_the_eight_distinct_symmetries() -> None:
    x = torch.arange(12.0).reshape(3, 4)
    seen = set()
    for k, flip in d4_views():
        v = torch.rot90(x, k, (0, 1))
        v = torch.flip(v, (1,)) if flip else v
        seen.add((tuple(v.shape), tuple(v.flatten().tolist())))
    assert len(seen) == 8


def test_equivariant_function_is_unchanged() -> None:
    x = torch.randn(3, 5, 7)
    np.testing.assert_allclose(d4_mean(torch.tanh, x).numpy(), torch.tanh(x).numpy(), atol=1e-6)


def test_position_dependent_function_averages_the_coordinates() -> None:
    # fn adds the column index of the view it sees; over the eight views a pixel sits at column
    # j, W-1-j (twice each) and at i, H-1-i (twice each), so the mean offset is (H-1 + W-1) / 4
    h, w = 5, 9
    x = torch.randn(2, h, w)

    def add_column(v: torch.Tensor) -> torch.Tensor:
        return v + torch.arange(v.shape[-1], dtype=v.dtype)

    out = d4_mean(add_column, x)
    np.testing.assert_allclose(out.numpy(), (x + (h - 1 + w - 1) / 4).numpy(), atol=1e-5)


def test_pad_to_multiple_reflects_at_bottom_right() -> None:
    x = torch.arange(2 * 5 * 6, dtype=torch.float32).reshape(2, 5, 6)
    y = pad_to_multiple(x, 4)
    assert y.shape == (2, 8, 8)
    np.testing.assert_array_equal(y[:, :5, :6].numpy(), x.numpy())
    np.testing.assert_array_equal(y[:, 5, :6].numpy(), x[:, 3].numpy())  # reflect: row 5 mirrors row 3
    np.testing.assert_array_equal(y[:, :5, 6].numpy(), x[:, :, 4].numpy())
    square = x[:, :4, :4]
    assert pad_to_multiple(square, 4) is square  # already a multiple: untouched
    assert pad_to_multiple(x[:, :2, :3], 4).shape == (2, 4, 4)  # too short to reflect: replicated


def test_denoiser_tta_is_the_mean_of_the_eight_views(tmp_path: Path) -> None:
    den = Denoiser.load(untrained_run(tmp_path), device="cpu")
    x = np.random.default_rng(2).random((8, 32, 40), dtype=np.float32)  # a multiple of the stride: no padding
    views = []
    for k in range(4):
        for flip in (False, True):
            v = np.rot90(x, k, axes=(1, 2))
            v = v[:, :, ::-1] if flip else v
            y = den.denoise_normalised(np.ascontiguousarray(v))
            y = y[:, :, ::-1] if flip else y
            views.append(np.rot90(y, -k, axes=(1, 2)))
    plain = den.denoise_normalised(x)
    den.tta = True
    both = den.denoise_normalised(x)
    np.testing.assert_allclose(both, np.mean(views, axis=0), atol=1e-5)
    assert np.abs(both - plain).max() > 1e-4  # a random network is not rotation-invariant: TTA changes the output


def test_predict_dense_tta_keeps_probabilities_and_equivariant_models() -> None:
    torch.manual_seed(0)
    pointwise = torch.nn.Conv2d(6, 4, 1)  # a 1x1 convolution commutes with every flip and rotation
    x = np.random.default_rng(0).standard_normal((6, 11, 13)).astype(np.float32)
    plain = predict_dense(pointwise, x)
    tta = predict_dense(pointwise, x, tta=True)
    np.testing.assert_allclose(tta, plain, atol=1e-6)
    spatial = torch.nn.Conv2d(6, 4, 3, padding=1)
    p = predict_dense(spatial, x, tta=True)
    assert p.shape == (4, 11, 13)
    np.testing.assert_allclose(p.sum(0), 1.0, atol=1e-5)
    assert np.abs(p - predict_dense(spatial, x)).max() > 1e-4
