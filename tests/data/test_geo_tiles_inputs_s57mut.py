"""GeoRasterTiles' input check at its edges (mutation audit s57): labels in another CRS that do overlap, labels that
only touch the image or lie beside it north or south, per-band vectors too long, and a length of 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from hsi_app.errors import ConfigError
from tests.data.test_geo_tiles_inputs import IMAGE, LABELS, _tif, _tiles

H, W = IMAGE.shape[1:]


def test_labels_in_another_utm_zone_over_the_image_are_taken(tmp_path: Path) -> None:
    """The image is in UTM 31N; labels of the same area in UTM 32N (their corners transformed there) overlap it."""
    left, bottom, right, top = transform_bounds("EPSG:32631", "EPSG:32632", 500000.0, 4200000.0 - 10 * H,
                                                500000.0 + 10 * W, 4200000.0)
    assert left < 300000  # some 500 km west of the zone's centre: read in the image's CRS, these numbers lie far off
    labels = _tif(tmp_path / "utm32.tif", LABELS, crs="EPSG:32632", transform=from_origin(left, top, 10.0, 10.0))
    tiles = _tiles(tmp_path, labels=labels)
    assert len(tiles) == 4
    far = _tif(tmp_path / "far32.tif", LABELS, crs="EPSG:32632", transform=from_origin(500000.0, 4200000.0, 10, 10))
    with pytest.raises(ConfigError, match=r"far32\.tif: the label raster does not overlap the image"):
        _tiles(tmp_path, labels=far)


@pytest.mark.parametrize(("case", "origin"), [
    ("touching east", (500000.0 + 10 * W, 4200000.0)),
    ("touching north", (500000.0, 4200000.0 + 10 * H)),
    ("south", (500000.0, 4200000.0 - 10 * H - 5000)),
    ("north", (500000.0, 4200000.0 + 10 * H + 5000)),
])
def test_labels_beside_the_image_are_refused(tmp_path: Path, case: str, origin: tuple[float, float]) -> None:
    """Sharing an edge is no overlap (no pixel to train on), and neither is lying north or south of the image."""
    labels = _tif(tmp_path / "beside.tif", LABELS, transform=from_origin(*origin, 10.0, 10.0))
    with pytest.raises(ConfigError, match=r"beside\.tif: the label raster does not overlap the image"):
        _tiles(tmp_path, labels=labels)


def test_per_band_vectors_longer_than_the_bands_used_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"std has 4 values for 3 bands \(band_indices\)"):
        _tiles(tmp_path, std=np.full(4, 10.0))
    with pytest.raises(ConfigError, match=r"wavelengths has 6 values for 3 bands"):
        _tiles(tmp_path, wavelengths=np.linspace(450.0, 950.0, 6))


def test_zero_tiles_per_epoch_is_an_empty_dataset_and_a_negative_length_is_refused(tmp_path: Path) -> None:
    assert len(_tiles(tmp_path, tiles_per_epoch=0)) == 0
    with pytest.raises(ConfigError, match=r"tiles_per_epoch=-1"):
        _tiles(tmp_path, tiles_per_epoch=-1)
