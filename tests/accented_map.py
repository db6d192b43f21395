"""A small UTM class map with accented class names, shared by the map-tools and vector-label tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from hsi_app.io.cog import write_class_map

X0, Y0, RES = 500000.0, 4100000.0, 10.0
T = from_origin(X0, Y0, RES, RES)
NAMES = ["unlabelled", "Eau", "Forêt", "Culture de maïs irriguée"]


def write_accented_map(path: Path, *, crs: str | None = "EPSG:32633") -> np.ndarray:
    """A 40 x 50 class map of blocks plus noise (three classes with accented names), a no-data corner; its classes."""
    rng = np.random.default_rng(7)
    cls = np.ones((40, 50), np.uint8)
    cls[:, 20:] = 2
    cls[25:, 30:] = 3
    flip = rng.random(cls.shape) < 0.2
    cls[flip] = rng.integers(1, 4, int(flip.sum()))
    cls[:4, :6] = 0
    write_class_map(path, cls, np.full(cls.shape, 0.75, np.float32), crs=crs, transform=T, class_names=NAMES)
    return cls


def pixel_box(r0: int, c0: int, r1: int, c1: int) -> Polygon:
    """The map-coordinate box of pixel rows ``r0:r1`` and columns ``c0:c1``."""
    return box(X0 + c0 * RES, Y0 - r1 * RES, X0 + c1 * RES, Y0 - r0 * RES)
