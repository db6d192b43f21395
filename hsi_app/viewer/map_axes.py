"""Matplotlib extents and axis names that keep a scene's map coordinates in notebook figures.

``imshow(image, extent=e.extent)`` puts an ``(H, W)`` image of a cube on its map grid: x and y in the
CRS's units on a north-up grid, pixel columns and rows where the scene has no map grid (Indian Pines) or
a rotated one (no axis-aligned extent describes it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hsi_app.io.cube import Cube, check_is_cube


MAX_X_TICKS = 5
"""Most x tick labels :meth:`MapExtent.label` puts on a panel."""


@dataclass(frozen=True)
class MapExtent:
    """Where an ``(H, W)`` image of a scene lies: ``extent`` is ``[left, right, bottom, top]`` for ``imshow``."""

    extent: tuple[float, float, float, float]
    x_name: str
    y_name: str
    shape: tuple[int, int]  # (H, W)

    def centres(self, rows: Any, cols: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` in the extent's units of the centres of pixels ``rows`` / ``cols`` (0-based indices, any
        shape; fractional ones are positions in pixels from the centre), for ``plot`` and ``contour``."""
        left, right, bottom, top = self.extent
        h, w = self.shape
        return (left + (right - left) * (np.asarray(cols, np.float64) + 0.5) / w,
                top + (bottom - top) * (np.asarray(rows, np.float64) + 0.5) / h)

    def label(self, axes: Any) -> None:
        """Name the x and y axes of one matplotlib ``Axes`` or an array or iterable of them (``plt.subplots(2, 2)``'s
        2-D array too), with plain (not offset) ticks; at most :data:`MAX_X_TICKS` on x, so that 6- and 7-digit
        map coordinates (UTM eastings) do not run into each other on a narrow panel."""
        from matplotlib.ticker import MaxNLocator

        for ax in (np.ravel(np.asarray(axes, dtype=object)) if isinstance(axes, Iterable) else [axes]):
            ax.set_xlabel(self.x_name)
            ax.set_ylabel(self.y_name)
            ax.ticklabel_format(useOffset=False, style="plain")
            ax.xaxis.set_major_locator(MaxNLocator(nbins=MAX_X_TICKS - 1, steps=[1, 2, 2.5, 5, 10]))


def map_extent(cube: Cube) -> MapExtent:
    """The :class:`MapExtent` of ``(C, H, W)`` ``cube``: its map grid when north-up, else pixel columns/rows.

    The axes are named by the CRS's EPSG code, or its name when it has none (:func:`crs_label`), as
    ``x``/``y``, or ``longitude``/``latitude`` for a geographic CRS. A grid without a CRS is still drawn in
    its map units (``"map units, no CRS"``); a rotated or sheared grid, or none, in pixels
    (``"column (px, no map grid)"``, ``"row (px)"``).
    """
    check_is_cube(cube, "map_extent")
    _, h, w = cube.hsi.shape
    t = cube.hsi.transform
    if t is not None and not (t.b or t.d):
        crs = cube.rio.crs
        unit = crs_label(crs) if crs else "map units, no CRS"
        x, y = ("longitude", "latitude") if crs and crs.is_geographic else ("x", "y")
        extent = (float(t.c), float(t.c + t.a * w), float(t.f + t.e * h), float(t.f))
        return MapExtent(extent, f"{x} ({unit})", f"{y} ({unit})", (h, w))
    return MapExtent((0.0, float(w), float(h), 0.0), "column (px, no map grid)", "row (px)", (h, w))


LINEAR_UNITS = {"metre": "m", "meter": "m", "m": "m", "foot": "ft", "ft": "ft", "international foot": "ft",
                "us survey foot": "US ft", "foot_us": "US ft", "us-ft": "US ft"}
"""Short names of the linear units a projected CRS states (PROJ/GDAL spellings, lower case)."""


def linear_unit(crs: Any) -> str | None:
    """The short name of a projected rasterio ``crs``'s linear unit: ``"m"``, ``"ft"`` (international foot,
    e.g. EPSG:2222), ``"US ft"`` (US survey foot, e.g. EPSG:2263); ``None`` for a geographic CRS, no CRS, or a
    unit not in :data:`LINEAR_UNITS` (the caller then says "map units")."""
    if crs is None or crs.is_geographic:
        return None
    try:
        name = str(crs.linear_units or "")
    except Exception:  # noqa: BLE001 - a CRS GDAL cannot describe: its unit is unknown
        return None
    return LINEAR_UNITS.get(name.strip().lower())


def crs_label(crs: Any) -> str:
    """A short name of a rasterio ``crs`` for an axis: ``"EPSG:32616"``, or the CRS's own name when it has no EPSG
    code (``"WGS 84 / custom TM"``; ``"Transverse Mercator, no EPSG code"`` for an unnamed one from PROJ text),
    not its whole WKT."""
    epsg = crs.to_epsg()
    if epsg is not None:
        return f"EPSG:{epsg}"
    try:
        from pyproj import CRS

        parsed = CRS.from_user_input(crs.to_wkt())
        name = str(parsed.name or "")
        if name and name.lower() != "unknown":
            return name
        method = parsed.coordinate_operation.method_name if parsed.coordinate_operation else ""
        return f"{method or 'custom CRS'}, no EPSG code"
    except Exception:  # noqa: BLE001 - no pyproj, or a CRS it cannot parse
        text = crs.to_string()
        return text if len(text) <= 60 else text[:57] + "..."
