"""value_range.scene_sample (the units check of hsi predict) decodes a bounded number of storage blocks, whatever the
scene's size: its windows used to be centred in every sampled dask chunk, across the GeoTIFF tiles inside it."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from hsi_app.io.cube import make_cube
from hsi_app.value_range import SAMPLE_PIXELS, scene_sample

WINDOWS = 8  # the sample's windows (value_range.WINDOWS)

TILE = 256  # GDAL's default tile side (bench_scene_scale.py's scenes)


class TiledStore:
    """A ``(C, H, W)`` array read the way GDAL reads a tiled file: every request decodes each tile it touches.
    Values are ``row * W + col`` in every band, made per request (no scene-sized array)."""

    def __init__(self, bands: int, height: int, width: int) -> None:
        self.shape, self.dtype, self.ndim = (bands, height, width), np.dtype(np.float32), 3
        self.decoded = 0  # pixels of the tiles decoded (per band)
        self.tiles: set[tuple[int, int]] = set()

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        bands, rows, cols = key
        r0, r1, _ = rows.indices(self.shape[1])
        c0, c1, _ = cols.indices(self.shape[2])
        if r1 > r0 and c1 > c0:
            for tr in range(r0 // TILE, (r1 - 1) // TILE + 1):
                for tc in range(c0 // TILE, (c1 - 1) // TILE + 1):
                    self.tiles.add((tr, tc))
                    self.decoded += min(TILE, self.shape[1] - tr * TILE) * min(TILE, self.shape[2] - tc * TILE)
        grid = (np.arange(r0, r1)[:, None] * self.shape[2] + np.arange(c0, c1)[None, :]).astype(np.float32)
        return np.broadcast_to(grid, (self.shape[0], *grid.shape))[bands].copy()


@pytest.mark.parametrize("size", [2048, 4096])
def test_the_sample_decodes_a_bounded_number_of_tiles(size: int) -> None:
    store = TiledStore(3, size, size)
    cube = make_cube(da.from_array(store, chunks=(3, 512, 512)), wavelength=[500.0, 600.0, 700.0])  # read_geotiff's
    sample = scene_sample(cube)
    assert sample.shape == (3, SAMPLE_PIXELS)
    assert len(store.tiles) <= WINDOWS, store.tiles  # was every tile of the 2048 scene: 64
    assert store.decoded <= WINDOWS * TILE * TILE  # the same cost for a 4x larger scene
    rows, cols = sample[0] // size, sample[0] % size  # where the pixels came from (values are row * W + col)
    for where in (rows, cols):  # spread over the whole scene, both ways
        assert where.min() < size / 8 and where.max() > size * 7 / 8
        assert np.unique(where // (size / WINDOWS)).size == WINDOWS  # every eighth of it


def test_windows_on_a_small_or_narrow_scene() -> None:
    from hsi_app.value_range import sample_windows

    [whole] = sample_windows(145, 145)  # Indian Pines: fewer pixels than a sample, read whole
    assert (whole.row, whole.col, whole.height, whole.width) == (0, 0, 145, 145)
    wins = sample_windows(3000, 40)  # a narrow strip: full-width windows down its length
    assert all(w.col == 0 and w.width == 40 and w.height == 64 and w.row % 64 == 0 for w in wins)
    assert len({w.row for w in wins}) == len(wins) == WINDOWS
    assert all(w.row + w.height <= 3000 for w in wins)
