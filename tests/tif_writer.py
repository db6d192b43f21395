"""A small georeferenced GeoTIFF writer shared by tests that build their own scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.transform import from_origin

UTM_30M = from_origin(440000.0, 3750000.0, 30.0, 30.0)
"""A north-up 30 m grid in EPSG:32616."""


def write_tif(path: Path, data: np.ndarray, wavelengths: np.ndarray | None = None, *,
              transform: Affine = UTM_30M, crs: str = "EPSG:32616") -> Path:
    """Write ``data`` ``(C, H, W)`` (its own dtype) with ``wavelengths`` in nm as GDAL metadata when given."""
    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=data.dtype, crs=crs,
                       transform=transform) as ds:
        ds.write(data)
        if wavelengths is not None:
            ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wavelengths), wavelength_units="nm")
    return path


def damage_tile(path: Path, row: int = 1, col: int = 1) -> Path:
    """Overwrite the inside of tile ``(row, col)`` of band 1 of a tiled, compressed GeoTIFF with garbage.

    The file's end stays intact, so it opens; reading that tile fails (GDAL: ``IReadBlock failed ...``).
    """
    with rasterio.open(path) as ds:
        offset = int(ds.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
        size = int(ds.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    raw = bytearray(path.read_bytes())
    raw[offset + 8: offset + size - 8] = b"\x55" * (size - 16)
    path.write_bytes(bytes(raw))
    return path
