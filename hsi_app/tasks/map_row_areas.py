"""Ground areas of a geographic class map summed row by row (``hsi evaluate``, ``hsi vectorize``, ``hsi info``).

On a geographic CRS (degrees) a pixel's ground area shrinks with the cosine of its latitude: a 0.01° pixel covers
4.16 ha at 70.5° N but 4.36 ha at 69.5° N. One value (the pixel at the map centre) for the whole map put the areas
of patches in its top or bottom rows off by the difference (1.2 % on a map one degree tall at 70° N, tens of
percent on a mosaic from 40° to 75° N). Where the rows of the grid run along parallels (a north-up or south-up
geographic grid: no rotation), every pixel of one row has the same ground area, so each row's is measured once
on the CRS's ellipsoid and the areas of classes and patches are sums over their pixels' rows. A rotated
geographic grid, or one with rows beyond the poles, keeps the centre pixel's area (with its warning).
Projected maps need nothing of this: their pixels have one area in map units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hsi_app.io import block_counts


def row_pixel_areas_m2(transform: Any, crs: Any, shape: tuple[int, int]) -> np.ndarray | None:
    """Ground area in m² of one pixel of each row of a geographic grid whose rows run along parallels.

    A pixel spanning longitudes ``Δλ`` and latitudes ``φ0..φ1`` covers ``a² Δλ (q(φ1) - q(φ0)) / 2`` on an
    ellipsoid of semi-axes ``a, b`` (``q``: the authalic-latitude function of eccentricity ``e``; on a sphere
    ``q(φ) = 2 sin φ``), so every row takes a few operations, not a polygon: a 20,000-row map in milliseconds.

    Args:
        transform: the grid's affine transform, in the CRS's angular unit (degrees, grads...).
        crs: its rasterio CRS.
        shape: ``(H, W)``.

    Returns:
        ``(H,)`` float64 areas, or ``None`` when one area holds for every pixel (a projected CRS), when the
        grid is rotated or sheared (pixels of one row then lie at different latitudes), without a CRS or
        pyproj, or when some row lies beyond the poles.
    """
    if crs is None or not getattr(crs, "is_geographic", False) or transform is None or transform.b or transform.d:
        return None
    try:
        from pyproj import CRS

        geographic = CRS.from_wkt(crs.to_wkt()).geodetic_crs
        to_radians = float(geographic.axis_info[0].unit_conversion_factor)  # per angular unit
        a, b = float(geographic.ellipsoid.semi_major_metre), float(geographic.ellipsoid.semi_minor_metre)
    except Exception:  # noqa: BLE001 - no pyproj, or a CRS it cannot parse: the centre pixel's area is kept
        return None
    h = int(shape[0])
    edges = (transform.f + transform.e * np.arange(h + 1, dtype=np.float64)) * to_radians  # latitude of row edges
    if h < 1 or not np.isfinite(edges).all() or np.abs(edges).max() > np.pi / 2 * (1 + 1e-12):
        return None
    q = _authalic_q(np.clip(edges, -np.pi / 2, np.pi / 2), a, b)
    return np.abs(q[1:] - q[:-1]) * (a * a * abs(transform.a) * to_radians / 2.0)


def _authalic_q(phi: np.ndarray, a: float, b: float) -> np.ndarray:
    """``q(φ)`` of an ellipsoid (Snyder 1987, eq. 3-12): the zone from the equator to ``φ`` covers ``π a² q``."""
    e2 = max(0.0, 1.0 - (b / a) ** 2)
    s = np.sin(phi)
    if e2 < 1e-15:  # a sphere
        return 2.0 * s
    e = np.sqrt(e2)
    return (1.0 - e2) * (s / (1.0 - e2 * s * s) - np.log((1.0 - e * s) / (1.0 + e * s)) / (2.0 * e))


def ground_areas(transform: Any, crs: Any, shape: tuple[int, int], *,
                 source: Any = None) -> tuple[float | None, np.ndarray | None]:
    """``(pixel area at the map centre in m² or None, (H,) areas per row or None)`` of a map's grid.

    With areas per row (:func:`row_pixel_areas_m2`) the warning that the centre pixel stands for the whole map is
    left out: the callers sum the rows' areas instead. Other warnings of
    :func:`~hsi_app.tasks.map_accuracy.pixel_area_m2` (a projection that does not keep area) are given as before,
    each naming the map file ``source`` first when it is given.
    """
    from hsi_app.tasks.map_accuracy import pixel_area_m2

    rows = row_pixel_areas_m2(transform, crs, shape)
    return pixel_area_m2(transform, crs, shape, warn_variation=rows is None, source=source), rows


def summed_areas_m2(values: np.ndarray, row_areas: np.ndarray, n: int, row0: int = 0) -> np.ndarray:
    """Ground area in m² of the pixels holding each value ``0..n-1``, counted strip by strip.

    Args:
        values: ``(h, W)`` non-negative integers below ``n`` (classes, patch ids): rows ``row0..row0 + h`` of the map.
        row_areas: ``(H,)`` area of a pixel of each row of the map (:func:`row_pixel_areas_m2`).
        n: number of values.
        row0: the map row of ``values``' first row.

    Returns:
        ``(n,)`` float64 summed areas.
    """
    h, w = values.shape
    out = np.zeros(n, np.float64)
    step = max(1, block_counts.BLOCK_PX // max(w, 1))
    for r in range(0, h, step):
        block = values[r:r + step]
        weights = np.repeat(row_areas[row0 + r:row0 + r + block.shape[0]], w)
        out += np.bincount(block.reshape(-1), weights=weights, minlength=n)[:n]
    return out


def class_pixels_and_areas(values: np.ndarray, row_areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and ground area of each value ``0..m-1`` in a block of a geographic map (``m``: its largest value + 1).

    Where the values are no more than the block is wide (``m <= W``: classes of a wide map), one histogram keyed on
    ``(row, value)`` gives both: the pixels of each value (its column sums) and, with the rows' pixel areas, the
    ground area (``row_areas @ hist``), where a count and a second, area-weighted, count cost twice the time. Its
    ``h * m`` bins stay within the block's ``h * W`` pixels that way; on a narrower block (255 classes on a map 100
    pixels wide) they would outnumber the pixels, so the two counts are made instead (:func:`summed_areas_m2`).

    Args:
        values: ``(h, W)`` non-negative integers (classes: small, e.g. uint8).
        row_areas: ``(h,)`` m² of a pixel of each of the block's rows.

    Returns:
        ``((m,) int64 pixels, (m,) float64 m²)``.
    """
    if not np.can_cast(values.dtype, np.intp):  # uint64
        values = values.astype(np.intp)
    h, w = values.shape
    m = int(values.max(initial=0)) + 1
    if m > max(w, 1):
        return np.bincount(values.reshape(-1), minlength=m), summed_areas_m2(values, row_areas, m)
    key = np.arange(h, dtype=np.intp)[:, None] * m + values  # intp: one array the size of the block
    per_row = np.bincount(key.reshape(-1), minlength=h * m).reshape(h, m)
    return per_row.sum(axis=0), np.asarray(row_areas, np.float64) @ per_row
