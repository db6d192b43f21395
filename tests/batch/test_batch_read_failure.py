"""Which rasterio errors a batch reports as a damaged file: only GDAL failing to read pixels is 'truncated or
corrupt'; a scene gone during the batch says so; any other rasterio error (a CRS error...) is reported as it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.errors import CRSError, RasterioIOError

from hsi_app.batch.run import one_line_error, read_failure
from hsi_app.errors import CubeReadError, DatasetNotFoundError
from tests.tif_writer import damage_tile


def _damaged(path: Path) -> Path:
    """A 32 x 32 tiled DEFLATE GeoTIFF whose tile (1, 1) holds garbage (it opens; reading that tile fails)."""
    data = (np.arange(32 * 32 * 3).reshape(3, 32, 32) % 997).astype(np.int16)
    with rasterio.open(path, "w", driver="GTiff", height=32, width=32, count=3, dtype="int16", tiled=True,
                       blockxsize=16, blockysize=16, compress="deflate") as ds:
        ds.write(data)
    return damage_tile(path)


def _caught(fn) -> BaseException:  # noqa: ANN001
    with pytest.raises(Exception) as info:  # noqa: PT011 - whatever rasterio raises
        fn()
    return info.value


def test_a_damaged_tile_is_named_truncated_or_corrupt_with_gdal_reason(tmp_path: Path) -> None:
    path = _damaged(tmp_path / "damaged.tif")
    with rasterio.open(path) as ds:
        err = _caught(ds.read)
    failure = read_failure(err, path)
    assert isinstance(failure, CubeReadError)
    assert str(failure).startswith(f"{path}: data cannot be read (") and "corrupt" in str(failure)


def test_a_crs_error_is_not_called_a_damaged_file(tmp_path: Path) -> None:
    """Was 'SCENE: data cannot be read (...); the file is truncated or corrupt' for any rasterio exception."""
    path = tmp_path / "scene.tif"
    path.write_bytes(b"")
    err = _caught(lambda: rasterio.crs.CRS.from_user_input("EPSG:999999"))
    assert isinstance(err, CRSError)
    assert read_failure(err, path) is None
    assert one_line_error(err).startswith("CRSError: ")


def test_a_scene_deleted_during_the_batch_says_so(tmp_path: Path) -> None:
    """GDAL's 'No such file or directory' was reported as 'data cannot be read ...; the file is truncated or corrupt'."""
    path = tmp_path / "gone.tif"
    err = _caught(lambda: rasterio.open(path))
    assert isinstance(err, RasterioIOError)
    failure = read_failure(err, path)
    assert isinstance(failure, DatasetNotFoundError)
    assert str(failure).startswith(f"{path}: the file was moved or deleted during the batch")
    assert "corrupt" not in str(failure)


def test_another_io_error_of_a_present_file_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "scene.tif"
    path.write_bytes(b"x")
    err = RasterioIOError("Attempt to create new tiff file failed: permission denied")
    assert read_failure(err, path) is None
