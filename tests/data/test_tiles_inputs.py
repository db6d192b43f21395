"""SceneTiles given an image with no data left in it (a notebook's cube values)."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.tiles import SceneTiles
from hsi_app.errors import InvalidDataError


@pytest.mark.parametrize("fill", [np.nan, np.inf])
def test_an_image_with_nan_is_refused_before_a_tile_poisons_the_loss(fill: float) -> None:
    """Tiles carried NaN straight into the loss (NaN at the first step, reported as divergence): one line now,
    with the count and the fix."""
    image = np.random.default_rng(0).normal(size=(4, 12, 12)).astype(np.float32)
    image[:, 2, 3] = fill
    labels = np.zeros((12, 12), np.int64)
    labels[5:8, 5:8] = 1
    with pytest.raises(InvalidDataError, match=r"holds 4 NaN or infinite values .* np.nan_to_num"):
        SceneTiles(image, labels, tile_size=6, tiles_per_epoch=2)
    tiles = SceneTiles(np.nan_to_num(image, posinf=0.0), labels, tile_size=6, tiles_per_epoch=2)
    assert bool(np.isfinite(tiles[0]["image"].numpy()).all())
