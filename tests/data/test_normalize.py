"""BandStats: fitted on training pixels only, applied identically to numpy and torch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from hsi_app.data.normalize import BandStats
from hsi_app.errors import BandMismatchError, InvalidDataError


def _image() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    img = rng.normal(10.0, 3.0, size=(4, 12, 10))
    mask = np.zeros((12, 10), dtype=bool)
    mask[2:5, 3:8] = True
    img[:, ~mask] = 1e6  # non-training pixels are wild: they must not matter
    return img, mask


def test_fit_uses_only_training_pixels() -> None:
    img, mask = _image()
    stats = BandStats.fit(img, mask)
    train = img[:, mask]
    np.testing.assert_allclose(stats.mean, train.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(stats.std, train.std(axis=1), rtol=1e-5)
    assert stats.mean.dtype == np.float32 and stats.std.dtype == np.float32
    z = stats.apply(img)[:, mask]
    np.testing.assert_allclose(z.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(z.std(axis=1), 1.0, atol=1e-4)


def test_numpy_and_torch_agree_and_axis() -> None:
    img, mask = _image()
    stats = BandStats.fit(img, mask)
    a = stats.apply(img.astype(np.float32))
    b = stats.apply(torch.from_numpy(img.astype(np.float32)))
    assert a.dtype == np.float32 and b.dtype == torch.float32
    np.testing.assert_allclose(a, b.numpy(), rtol=1e-6)
    batch = stats.apply(np.stack([img, img]))  # (B, C, H, W)
    np.testing.assert_allclose(batch[1], a, rtol=1e-6)
    spectra = img[:, mask].T  # (N, C)
    np.testing.assert_allclose(stats.apply(spectra, axis=-1), a[:, mask].T, rtol=1e-5)


def test_constant_band_gets_unit_std() -> None:
    img, mask = _image()
    img[2] = 7.0
    stats = BandStats.fit(img, mask)
    assert stats.std[2] == 1.0 and stats.mean[2] == 7.0
    assert np.all(stats.apply(img)[2] == 0.0)


def test_dict_round_trip_is_json() -> None:
    img, mask = _image()
    stats = BandStats.fit(img, mask)
    back = BandStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    np.testing.assert_array_equal(back.mean, stats.mean)
    np.testing.assert_array_equal(back.std, stats.std)


def test_errors() -> None:
    img, mask = _image()
    with pytest.raises(InvalidDataError, match="no pixel"):
        BandStats.fit(img, np.zeros_like(mask))
    with pytest.raises(InvalidDataError, match="do not match"):
        BandStats.fit(img, mask[:-1])
    bad = img.copy()
    bad[0, 3, 4] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        BandStats.fit(bad, mask)
    stats = BandStats.fit(img, mask)
    with pytest.raises(BandMismatchError, match="4 bands"):
        stats.apply(np.zeros((5, 3, 3), dtype=np.float32))
