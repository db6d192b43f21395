"""Subspace HSDT: projection maths against numpy PCA, moments vs one-shot basis, shapes, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hsi_app.errors import ConfigError
from hsi_app.models import create_model, model_info
from hsi_app.models.hsdt_subspace import SpectralMoments, batch_subspace
from hsi_app.tasks.denoise_baselines import pca_denoise
from hsi_app.tasks.denoising import effective_band_chunk

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def low_rank_cube(d: int = 12, h: int = 20, w: int = 22, rank: int = 3, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``(d, h, w)`` float32: ``rank`` random spectra mixed by random abundances, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    ends = rng.uniform(0.1, 1.0, size=(d, rank))
    abund = rng.uniform(0.0, 1.0, size=(rank, h, w))
    return (np.einsum("dk,khw->dhw", ends, abund) + noise * rng.standard_normal((d, h, w))).astype(np.float32)


def test_shapes_gradients_and_registry() -> None:
    torch.manual_seed(0)
    net = create_model("test_hsdt_subspace", in_chans=12, num_classes=1)
    x = torch.from_numpy(low_rank_cube())[None, None].repeat(2, 1, 1, 1, 1)
    y = net(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    grads = [p.grad for p in net.inner.parameters()]
    assert all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads if g is not None)
    assert model_info("hsdt_subspace")["task"] == "denoise"
    params = sum(p.numel() for p in create_model("hsdt_subspace", in_chans=200, num_classes=1).parameters())
    assert params == sum(p.numel() for p in create_model("hsdt_s", in_chans=200, num_classes=1).parameters())


def test_identity_inner_network_is_pca_truncation() -> None:
    # With the learnt part removed, the model is exactly "keep the K leading principal components".
    net = create_model("test_hsdt_subspace", in_chans=12, num_classes=1, rank=2).eval()
    net.inner = nn.Identity()
    noisy = low_rank_cube(rank=3, noise=0.2)
    with torch.no_grad():
        out = net(torch.from_numpy(noisy)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(out, pca_denoise(noisy, 2), atol=1e-4)


def test_exact_low_rank_cube_passes_through_the_projection() -> None:
    net = create_model("test_hsdt_subspace", in_chans=12, num_classes=1, rank=3).eval()
    net.inner = nn.Identity()
    clean = low_rank_cube(rank=3, noise=0.0)  # mean + rank 2 after centring: inside a rank-3 subspace
    with torch.no_grad():
        out = net(torch.from_numpy(clean)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(out, clean, atol=1e-4)


def test_moments_over_blocks_give_the_one_shot_subspace() -> None:
    cube = low_rank_cube(rank=3, noise=0.1)
    moments = SpectralMoments()
    for rows in (slice(0, 7), slice(7, 20)):  # two blocks tiling the cube
        for cols in (slice(0, 10), slice(10, 22)):
            moments.update(cube[:, rows, cols])
    assert moments.count == 20 * 22
    sub = moments.subspace(3)
    one = batch_subspace(torch.from_numpy(cube)[None, None], 3)
    torch.testing.assert_close(sub.mean, one.mean[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(sub.basis, one.basis[0], atol=1e-4, rtol=0)  # same signs too
    assert torch.allclose(sub.basis.T @ sub.basis, torch.eye(3), atol=1e-5)
    # the basis spans numpy's leading eigenvectors of the band covariance
    vecs = np.linalg.eigh(np.cov(cube.reshape(12, -1)))[1][:, ::-1][:, :3]
    np.testing.assert_allclose(sub.basis.numpy() @ sub.basis.numpy().T, vecs @ vecs.T, atol=1e-4)


def test_fixed_subspace_is_used_and_checked() -> None:
    torch.manual_seed(0)
    net = create_model("test_hsdt_subspace", in_chans=12, num_classes=1).eval()
    cube = low_rank_cube(noise=0.1)
    x = torch.from_numpy(cube)[None, None]
    moments = SpectralMoments()
    moments.update(cube)
    with torch.no_grad():
        own = net(x)
        crop_own = net(x[..., :10, :10])
        net.subspace = moments.subspace(net.rank)
        fixed = net(x)
        part = net(x[..., :10, :10])  # a crop now uses the whole cube's basis, not its own
    torch.testing.assert_close(fixed, own, atol=1e-4, rtol=0)
    assert not torch.allclose(part, crop_own, atol=1e-4)
    with pytest.raises(ConfigError, match="12 bands, the input 5"):
        net(torch.zeros(1, 1, 5, 8, 8))
    with pytest.raises(ConfigError, match=r"expected \(B, 1, D, H, W\)"):
        net(torch.zeros(1, 12, 8, 8))
    with pytest.raises(ConfigError, match="rank=0"):
        create_model("test_hsdt_subspace", in_chans=12, num_classes=1, rank=0)


def test_training_patches_hold_the_whole_spectrum() -> None:
    assert effective_band_chunk(create_model("test_hsdt_subspace", in_chans=12, num_classes=1), 16) == 0
    assert effective_band_chunk(create_model("test_hsdt", in_chans=12, num_classes=1), 16) == 16


def test_train_basis_is_the_pca_of_the_training_spectra() -> None:
    net = create_model("test_hsdt_subspace", in_chans=12, num_classes=1, basis="train").eval()
    assert not net.needs_scene_subspace and create_model("test_hsdt_subspace", in_chans=12, num_classes=1).needs_scene_subspace
    train = low_rank_cube(rank=3, noise=0.002, seed=1)
    net.fit_training_subspace(train)
    np.testing.assert_allclose(net.train_mean.numpy(), train.reshape(12, -1).mean(1), atol=1e-6)
    vecs = np.linalg.eigh(np.cov(train.reshape(12, -1)))[1][:, ::-1][:, :3]
    basis = net.train_basis.numpy()
    np.testing.assert_allclose(basis @ basis.T, vecs @ vecs.T, atol=1e-4)
    assert set(net.state_dict()) >= {"train_mean", "train_basis"}  # saved with the weights
    # with the learnt part removed, a cube from the same spectra passes through the stored subspace
    net.inner = nn.Identity()
    other = low_rank_cube(rank=3, noise=0.0, seed=1, h=9, w=7)
    with torch.no_grad():
        out = net(torch.from_numpy(other)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(out, other, atol=2e-3)
    with pytest.raises(ConfigError, match="trained on 12 bands, the input has 10"):
        net(torch.zeros(1, 1, 10, 8, 8))
    with pytest.raises(ConfigError, match="basis='spam'"):
        create_model("test_hsdt_subspace", in_chans=12, num_classes=1, basis="spam")
