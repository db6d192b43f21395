"""Opening a GeoTIFF reads its last block once (first and last band together) and still refuses truncated files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.io
from rasterio.transform import from_origin

from hsi_app.errors import CubeReadError
from hsi_app.io import open_cube

C, H, W = 7, 40, 36


def _write(path: Path, interleave: str) -> Path:
    data = np.random.default_rng(2).integers(0, 10000, (C, H, W)).astype(np.int16)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="int16", tiled=True,
                       blockxsize=16, blockysize=16, interleave=interleave, crs="EPSG:32633",
                       transform=from_origin(500000.0, 4100000.0, 30.0, 30.0)) as ds:
        ds.write(data)
    return path


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_the_last_block_is_read_once_for_both_bands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    interleave: str) -> None:
    path = _write(tmp_path / "s.tif", interleave)
    calls: list[tuple[object, object]] = []
    real = rasterio.io.DatasetReader.read

    def read(self, indexes=None, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append((indexes, kwargs.get("window")))
        return real(self, indexes, *args, **kwargs)

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", read)
    open_cube(path)
    assert len(calls) == 1, calls  # opening reads nothing else (the cube is lazy)
    indexes, window = calls[0]
    assert list(indexes) == [1, C]
    assert (window.col_off, window.row_off, window.width, window.height) == (W - 16, H - 16, 16, 16)  # the last block's size, at the far corner


def test_a_band_interleaved_file_cut_in_its_last_band_is_refused(tmp_path: Path) -> None:
    """The last band's last block sits at the end of a band-interleaved file: cut there, the open fails."""
    raw = _write(tmp_path / "s.tif", "band").read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(raw[: len(raw) - 200])
    with pytest.raises(CubeReadError, match="cut.tif"):
        open_cube(cut)
