"""Distillation pieces: the soft cross-entropy, tiles that carry a teacher's targets, the held-out blanking."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hsi_app.data.tiles import SceneTiles
from hsi_app.errors import ConfigError
from hsi_app.tasks.classification import fit_dense, soft_cross_entropy
from hsi_app.tasks.distill import check_distill_weight, distill_targets


def test_soft_cross_entropy_of_one_hot_targets_is_the_cross_entropy() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 3, 4)
    target = torch.randint(0, 5, (2, 3, 4))
    soft = F.one_hot(target, 5).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(soft_cross_entropy(logits, soft), F.cross_entropy(logits, target))


def test_soft_cross_entropy_is_kl_plus_teacher_entropy_over_pixels_with_a_target() -> None:
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((1, 4, 2, 3))
    soft = rng.random((1, 4, 2, 3))
    soft /= soft.sum(axis=1, keepdims=True)
    soft[:, :, 0, 0] = 0.0  # no target here: must not count
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    has = soft.sum(axis=1) > 0
    p, qq = soft.transpose(0, 2, 3, 1)[has], q.transpose(0, 2, 3, 1)[has]
    expected = np.mean(np.sum(p * np.log(p / qq), axis=1) - np.sum(p * np.log(p), axis=1))
    got = soft_cross_entropy(torch.tensor(logits), torch.tensor(soft))
    assert got.item() == pytest.approx(expected, rel=1e-9)


def test_soft_cross_entropy_without_targets_is_zero_and_attached() -> None:
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = soft_cross_entropy(logits, torch.zeros(1, 3, 2, 2))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and not logits.grad.any()


@pytest.mark.parametrize("tile", [8, 16])  # 16 > the 10 x 12 scene: padded
def test_tiles_carry_soft_targets_through_crop_pad_and_d4(tile: int) -> None:
    """Soft targets that are a copy of the image (and of the labels) come out exactly as the image (labels) do."""
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 4, (10, 12))
    labels[0, 0] = 1
    image = rng.random((3, 10, 12)).astype(np.float32) + 0.1
    soft = np.concatenate([image, labels[None].astype(np.float32)])
    plain = SceneTiles(image, labels, tile_size=tile, tiles_per_epoch=12, seed=3)
    with_soft = SceneTiles(image, labels, tile_size=tile, tiles_per_epoch=12, seed=3, soft_targets=soft)
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        with_soft.set_epoch(epoch)
        for i in range(12):
            a, b = plain[i], with_soft[i]
            assert "soft" not in a
            torch.testing.assert_close(b["image"], a["image"])  # the targets do not change the draws
            torch.testing.assert_close(b["label"], a["label"])
            torch.testing.assert_close(b["soft"][:3], b["image"])
            torch.testing.assert_close(b["soft"][3], b["label"].float())


def test_tiles_refuse_soft_targets_on_another_grid() -> None:
    with pytest.raises(ConfigError, match="soft targets"):
        SceneTiles(np.zeros((2, 6, 6), np.float32), np.ones((6, 6), int), tile_size=4, tiles_per_epoch=1,
                   soft_targets=np.zeros((3, 6, 5), np.float32))


def test_distill_targets_blank_held_out_pixels_only() -> None:
    probs = np.full((3, 4, 5), 1 / 3, dtype=np.float32)
    held = np.zeros((4, 5), bool)
    held[1, 2] = held[3, 0] = True
    out = distill_targets(probs, held)
    assert (out[:, held] == 0).all()
    np.testing.assert_array_equal(out[:, ~held], probs[:, ~held])
    assert (probs == np.float32(1 / 3)).all()  # the input is not modified


def test_fit_dense_takes_soft_targets_only_with_its_own_tiles() -> None:
    image = np.zeros((2, 6, 6), np.float32)
    train = np.ones((6, 6), int)
    tiles = SceneTiles(image, train, tile_size=6, tiles_per_epoch=1)
    with pytest.raises(ConfigError, match="soft_targets"):
        fit_dense(image, train, None, model_name="test_ssfcn", num_classes=1, epochs=1, tiles=tiles,
                  soft_targets=np.ones((1, 6, 6), np.float32), progress=False)


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_distill_weight_must_be_positive(weight: float) -> None:
    with pytest.raises(ConfigError, match="--distill-weight"):
        check_distill_weight(weight)
