"""Independent ground areas for the geographic-map tests: pyproj's geodesic area of one pixel of each row."""

from __future__ import annotations

import numpy as np
from rasterio.transform import Affine


def geodesic_row_areas(transform: Affine, rows: int) -> np.ndarray:
    """``(rows,)`` m² of one pixel of each row of a north-up lon/lat grid on WGS 84, its edges densified to 0.01°
    so that they follow the parallels (not the geodesics between the corners)."""
    from pyproj import Geod
    from shapely import segmentize
    from shapely.geometry import box

    geod = Geod(ellps="WGS84")
    out = []
    for r in range(rows):
        north, south = transform.f + transform.e * r, transform.f + transform.e * (r + 1)
        ring = segmentize(box(transform.c, south, transform.c + transform.a, north), 0.01)
        out.append(abs(geod.geometry_area_perimeter(ring)[0]))
    return np.array(out)
