"""SceneTiles: sample contract, crop correctness, consistent augmentation, seeding, padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hsi_app.data.tiles import SceneTiles
from hsi_app.errors import ConfigError, LabelError


def _scene(c: int = 5, h: int = 30, w: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Image whose band 0 encodes the label map and band 1 the flat pixel index."""
    rng = np.random.default_rng(seed)
    lab = np.where(rng.random((h, w)) < 0.08, rng.integers(1, 4, size=(h, w)), 0).astype(np.int64)
    img = rng.normal(size=(c, h, w)).astype(np.float32)
    img[0] = lab
    img[1] = np.arange(h * w, dtype=np.float32).reshape(h, w)
    return img, lab


def _find_crop(img: np.ndarray, tile_idx: np.ndarray) -> tuple[int, int]:
    """Where an un-augmented tile (given by its band-1 pixel indices) sits in the scene."""
    w = img.shape[2]
    first = int(tile_idx[0, 0])
    return first // w, first % w


def test_sample_contract() -> None:
    img, lab = _scene()
    wl = np.linspace(400, 900, 5)
    ds = SceneTiles(img, lab, tile_size=16, tiles_per_epoch=7, wavelengths=wl, seed=3)
    assert len(ds) == 7
    s = ds[0]
    assert set(s) == {"image", "label", "wavelength"}
    assert s["image"].shape == (5, 16, 16) and s["image"].dtype == torch.float32
    assert s["label"].shape == (16, 16) and s["label"].dtype == torch.int64
    assert s["wavelength"].dtype == torch.float32 and np.allclose(s["wavelength"].numpy(), wl)
    assert torch.isnan(SceneTiles(img, lab, tile_size=8, tiles_per_epoch=1)[0]["wavelength"]).all()
    with pytest.raises(IndexError):
        ds[7]


def test_unaugmented_tile_is_an_exact_crop() -> None:
    img, lab = _scene()
    ds = SceneTiles(img, lab, tile_size=12, tiles_per_epoch=20, augment=False, seed=1)
    for i in range(len(ds)):
        s = ds[i]
        top, left = _find_crop(img, s["image"][1].numpy())
        np.testing.assert_array_equal(s["image"].numpy(), img[:, top : top + 12, left : left + 12])
        np.testing.assert_array_equal(s["label"].numpy(), lab[top : top + 12, left : left + 12])


def test_augmentation_moves_image_and_label_together() -> None:
    img, lab = _scene()
    ds = SceneTiles(img, lab, tile_size=16, tiles_per_epoch=40, seed=2)
    layouts = set()
    for i in range(len(ds)):
        s = ds[i]
        np.testing.assert_array_equal(s["image"][0].numpy(), s["label"].numpy().astype(np.float32))
        idx = s["image"][1].numpy()
        # still a rigid crop: the set of pixel indices is a 16x16 block of the scene
        rows, cols = np.divmod(idx.astype(np.int64), img.shape[2])
        assert rows.max() - rows.min() == 15 and cols.max() - cols.min() == 15
        layouts.add((int(idx[0, 1] - idx[0, 0]), int(idx[1, 0] - idx[0, 0])))  # steps along tile x and y
    w = img.shape[2]
    assert layouts <= {(a, b) for a in (1, -1, w, -w) for b in (1, -1, w, -w) if abs(a) != abs(b)}
    assert len(layouts) >= 6  # most of the 8 flip/rotation layouts occur in 40 draws


def test_tiles_contain_labels_when_biased() -> None:
    img, lab = _scene(h=60, w=60)
    ds = SceneTiles(img, lab, tile_size=6, tiles_per_epoch=50, label_bias=1.0, seed=0)
    assert all(int((ds[i]["label"] > 0).sum()) > 0 for i in range(len(ds)))


def test_seeded_and_epoch_dependent() -> None:
    img, lab = _scene()
    a = SceneTiles(img, lab, tile_size=10, tiles_per_epoch=5, seed=11)
    b = SceneTiles(img, lab, tile_size=10, tiles_per_epoch=5, seed=11)
    for i in (4, 0, 2):  # order does not matter
        assert torch.equal(a[i]["image"], b[i]["image"])
    first = [a[i]["image"] for i in range(5)]
    a.set_epoch(1)
    assert not all(torch.equal(f, a[i]["image"]) for i, f in enumerate(first))
    c = SceneTiles(img, lab, tile_size=10, tiles_per_epoch=5, seed=12)
    assert not all(torch.equal(f, c[i]["image"]) for i, f in enumerate(first))


def test_scene_smaller_than_tile_is_zero_padded() -> None:
    img, lab = _scene(h=9, w=20)
    ds = SceneTiles(img, lab, tile_size=16, tiles_per_epoch=3, augment=False)
    s = ds[0]
    assert s["image"].shape == (5, 16, 16)
    assert int((s["label"] > 0).sum()) <= int((lab > 0).sum())
    assert (s["image"][:, :3] == 0).all() and (s["label"][:3] == 0).all()  # 7 padded rows: 3 above, 4 below
    whole = SceneTiles(img, lab, tile_size=25, tiles_per_epoch=1, augment=False)[0]
    assert int((whole["label"] > 0).sum()) == int((lab > 0).sum())
    assert float(whole["image"][1].sum()) == pytest.approx(float(img[1].sum()))


def test_bad_inputs() -> None:
    img, lab = _scene()
    with pytest.raises(LabelError, match="do not match"):
        SceneTiles(img, lab[:-1], tile_size=8, tiles_per_epoch=1)
    with pytest.raises(LabelError, match="no labelled pixel"):
        SceneTiles(img, np.zeros_like(lab), tile_size=8, tiles_per_epoch=1)
    with pytest.raises(ConfigError):
        SceneTiles(img, lab, tile_size=0, tiles_per_epoch=1)
    with pytest.raises(ConfigError, match="wavelengths"):
        SceneTiles(img, lab, tile_size=8, tiles_per_epoch=1, wavelengths=[1.0, 2.0])
