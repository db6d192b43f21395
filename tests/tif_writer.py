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
