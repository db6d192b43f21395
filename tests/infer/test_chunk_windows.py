"""chunk_windows: sample windows that each load one storage chunk of a lazy cube."""

from __future__ import annotations

import dask.array as da
import numpy as np

from hsi_app.infer import chunk_windows
from hsi_app.io.cube import make_cube
from hsi_app.value_range import sample_windows, scene_sample


def _cube(h: int, w: int, chunk: int | None):
    values = np.arange(3 * h * w, dtype=np.float32).reshape(3, h, w)
    data = values if chunk is None else da.from_array(values, chunks=(3, chunk, chunk))
    return make_cube(data, wavelength=[500.0, 600.0, 700.0]), values


def _chunk_of(start: int, size: int, edges: np.ndarray) -> set[int]:
    return {int(np.searchsorted(edges, p, side="right")) - 1 for p in (start, start + size - 1)}


def test_each_window_sits_inside_one_chunk_spread_over_the_chunk_grid() -> None:
    cube, _ = _cube(300, 250, 64)  # chunks of 64: 5 x 4 chunks (the last ones partial)
    wins = chunk_windows(cube, 32, 4)
    rows = np.arange(0, 300, 64)
    cols = np.arange(0, 250, 64)
    picked = set()
    for win in wins:
        assert win.height <= 32 and win.width <= 32
        r, c = _chunk_of(win.row, win.height, rows), _chunk_of(win.col, win.width, cols)
        assert len(r) == 1 and len(c) == 1  # one chunk each way
        picked.add((r.pop(), c.pop()))
    assert len(picked) == len(wins) == 16  # 4 x 4 distinct chunks
    assert {p[0] for p in picked} == {0, 1, 3, 4} and {p[1] for p in picked} == {0, 1, 2, 3}  # first and last included


def test_a_cube_in_memory_gets_windows_spread_over_the_scene() -> None:
    cube, _ = _cube(40, 90, None)
    wins = chunk_windows(cube, 8, 3)
    assert len(wins) == 9
    assert sorted({w.row for w in wins}) == [2, 16, 29] and sorted({w.col for w in wins}) == [11, 41, 71]


def test_scene_sample_returns_the_pixels_of_its_windows() -> None:
    cube, values = _cube(700, 1100, 64)
    wins = sample_windows(700, 1100, 4, 8, 16)
    sample = scene_sample(cube, 4, 8, 16)
    expected = np.concatenate([values[:, w.row:w.row + w.height, w.col:w.col + w.width].reshape(3, -1)
                               for w in wins], axis=1)
    np.testing.assert_array_equal(sample, expected)
    assert sample.shape == (3, 4 * 8 * 16)
