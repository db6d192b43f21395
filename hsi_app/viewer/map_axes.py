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

from hsi_app.io.crs_names import crs_label
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
