"""bincount_blocks equals one np.bincount over the whole raster, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.io import block_counts


@pytest.mark.parametrize("block_px", [1, 7, 64, 1 << 22])
@pytest.mark.parametrize("shape", [(0,), (1,), (53,), (13, 11), (5, 4, 3)])
def test_counts_and_sums_equal_one_bincount(monkeypatch: pytest.MonkeyPatch, block_px: int,
                                            shape: tuple[int, ...]) -> None:
    monkeypatch.setattr(block_counts, "BLOCK_PX", block_px)
    rng = np.random.default_rng(sum(shape) + block_px)
    ids = rng.integers(0, 9, shape).astype(np.uint16)
    weights = rng.uniform(0, 1, shape).astype(np.float32)
    counts = block_counts.bincount_blocks(ids, 12)
    sums = block_counts.bincount_blocks(ids, 12, weights)
    assert counts.dtype == np.int64 and counts.shape == (12,)
    np.testing.assert_array_equal(counts, np.bincount(ids.reshape(-1).astype(np.intp), minlength=12))
    np.testing.assert_allclose(sums, np.bincount(ids.reshape(-1).astype(np.intp), weights.reshape(-1), minlength=12),
                               rtol=1e-12)
    assert counts.sum() == ids.size
