"""The EnMAP L2A quality layers that are not 0/1 masks: QL_PIXELMASK, QL_QUALITY_CLASSES, QL_QUALITY_TESTFLAGS.

* ``P-QL_PIXELMASK.TIF``: one band per spectral band, ``(C, H, W)``; nonzero marks a pixel that is
  defective in that band (a value the layer declares as its no-data is not a flag). The values are kept:
  on EnMAP the defective detector elements are whole image columns (pushbroom) whose values DLR's
  processor already replaced by interpolation in L1B, and NaN there would void those columns in every
  class map, detection and training. A flag counts only on a value that holds data (not the image's no-data,
  not a background pixel). The flags become the ``(H, W)`` quality mask :data:`DEFECTIVE_MASK` (flagged in
  any good band), excluded like the cloud masks when named (``--exclude-masks defective``; ``all`` leaves it
  out, ``cube.hsi.without_masked(["defective"])``); ``defective_pixels`` counts the flags per band.
  ``read_enmap(..., pixelmask=True)`` also makes the flagged values NaN in their band only.
* ``P-QL_QUALITY_CLASSES.TIF``: ``(H, W)``, 1 land, 2 water, 3 background (outside the imaged swath).
  Kept as the ``quality_class`` coordinate; background pixels are no-data in every band.
* ``P-QL_QUALITY_TESTFLAGS.TIF``: the quality tests' flags, kept as they are (``quality_testflags``
  coordinate, or ``quality_testflags_<k>`` per band of a multi-band layer); nothing is masked by them.

Each layer's size and grid (CRS, and the transform to within :data:`GRID_TOLERANCE_PX` of a pixel) are checked
against the spectral image's from its header before any pixel is read, so a layer from another tile or product is
never applied pixel for pixel to the wrong ground. A layer or image that states no CRS (or no transform) is checked
on what it states.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from xml.etree import ElementTree as ET

import numpy as np

from hsi_app.errors import CubeReadError

DEFECTIVE_MASK = "defective"
"""Name of the quality mask (``cube.hsi.masks``) made from QL_PIXELMASK."""
CLASS_COORD = "quality_class"
TESTFLAGS_COORD = "quality_testflags"
QUALITY_CLASSES = {1: "land", 2: "water", 3: "background"}
"""QL_QUALITY_CLASSES value -> meaning (EnMAP L2A)."""
BACKGROUND = 3
CLASS_MEANINGS = ", ".join(f"{k} {v}" for k, v in QUALITY_CLASSES.items())
EMPTY_BAND_MEAN = -1000000.0
"""``product/bandStatistics`` mean of a band without data (its std is 0)."""
GRID_TOLERANCE_PX = 0.01
"""How far (in the spectral image's pixels) a layer's corner may lie from the same corner of the image's grid."""


class Grid(NamedTuple):
    """The spectral image's georeferencing, as its header states it: rasterio ``crs`` (or None) and ``transform``."""

    crs: Any
    transform: Any


def grid_mismatch(ds: Any, grid: Grid) -> str | None:
    """Why the open layer ``ds`` lies on another grid than ``grid`` (header only), or None when it lies on it.

    The CRSs must be equal when both state one. The layer's four corners, mapped through its transform and
    back through the image's, must land on the same pixel corners to within :data:`GRID_TOLERANCE_PX`, when
    both are georeferenced (a transform that is not the identity GDAL gives a file without one).
    """
    from rasterio.transform import Affine

    from hsi_app.io.crs_names import crs_label

    if ds.crs is not None and grid.crs is not None and ds.crs != grid.crs:
        return f"its CRS is {crs_label(ds.crs)} but the spectral image's is {crs_label(grid.crs)}"
    if ds.transform == Affine.identity() or grid.transform == Affine.identity() or grid.transform.determinant == 0:
        return None
    back = ~grid.transform
    h, w = ds.height, ds.width
    for col, row in ((0, 0), (w, 0), (0, h), (w, h)):
        c2, r2 = back @ (ds.transform @ (col, row))
        if abs(c2 - col) > GRID_TOLERANCE_PX or abs(r2 - row) > GRID_TOLERANCE_PX:
            return (f"its pixel corner (column {col}, row {row}) lies at column {c2:.2f}, row {r2:.2f} of the spectral "
                    f"image (transforms {_coefficients(ds.transform)} and {_coefficients(grid.transform)})")
    return None


def _coefficients(transform: Any) -> str:
    """``"(30, 0, 400000, 0, -30, 5800020)"``: the six affine coefficients a, b, c, d, e, f."""
    return "(" + ", ".join(f"{v:g}" for v in tuple(transform)[:6]) + ")"


def open_checked(gdal_path: str, label: str, shape: tuple[int, ...], driver: str, what: str,  # noqa: ANN201
                 grid: Grid | None = None):
    """Open a quality layer and check its size and grid (header only) against the spectral image's.

    ``shape``: ``(H, W)`` for a layer of any band count, ``(C, H, W)`` for one band per spectral band.
    ``grid``: the spectral image's CRS and transform (:func:`grid_mismatch`); None checks the size only.
    Returns the open rasterio dataset (the caller closes it).

    Raises:
        CubeReadError: unreadable, of another size, or on another grid (one line naming the file and the fix).
    """
    import rasterio

    try:
        ds = rasterio.open(gdal_path, driver=driver)
    except rasterio.errors.RasterioError as err:
        raise CubeReadError(f"{label}: {what} cannot be read ({err}); download the product again") from err
    got = (ds.count, *ds.shape) if len(shape) == 3 else ds.shape
    if tuple(got) != tuple(shape):
        ds.close()
        said = "bands x rows x columns" if len(shape) == 3 else "rows x columns"
        raise CubeReadError(
            f"{label}: {what} is {tuple(got)} ({said}) but the spectral image is {tuple(shape)}; "
            "the layer belongs to another product, use this product's own layer or delete it"
        )
    mismatch = grid_mismatch(ds, grid) if grid is not None else None
    if mismatch is not None:
        ds.close()
        raise CubeReadError(
            f"{label}: {what} lies on another grid than the spectral image ({mismatch}); the layer belongs to "
            "another tile or product, use this product's own layer or delete it"
        )
    return ds


def read_layer(gdal_path: str, label: str, shape: tuple[int, int], driver: str, what: str,
               grid: Grid | None = None) -> tuple[np.ndarray, float | None]:
    """``((k, H, W) array as stored, declared no-data or None)`` of a small quality layer.

    Raises:
        CubeReadError: unreadable, truncated, of another ``(H, W)`` than ``shape``, or on another grid than ``grid``.
    """
    import rasterio

    ds = open_checked(gdal_path, label, shape, driver, what, grid)
    try:
        with ds:
            return ds.read(), ds.nodata
    except rasterio.errors.RasterioError as err:
        raise CubeReadError(f"{label}: {what} cannot be read ({err}); download the product again") from err


def flag_of(block: np.ndarray, nodata: float | None) -> np.ndarray:
    """Bool array of ``block``'s shape: nonzero values that are not the layer's declared no-data (nor NaN)."""
    flagged = block != 0
    if np.issubdtype(block.dtype, np.floating):
        flagged &= ~np.isnan(block)
    if nodata is not None and not np.isnan(nodata):
        flagged &= block != nodata
    return flagged


def background_of(classes: np.ndarray, nodata: float | None) -> np.ndarray:
    """``(H, W)`` bool: pixels QL_QUALITY_CLASSES marks as background (3), not counting a declared no-data."""
    bg = classes == BACKGROUND
    if nodata is not None and not np.isnan(nodata) and nodata == BACKGROUND:
        bg[:] = False
    return bg


def parse_band_statistics(xml: bytes, n_bands: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(mean, std)`` reflectance per band, ``(n_bands,)`` float64 each, from ``product/bandStatistics``.

    A band marked empty (mean -1000000, std 0) gets NaN in both. Returns None when the XML has no
    such statistics, or they do not give ``mean`` and ``stdDeviation`` for bands ``1..n_bands`` exactly once.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    stats = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "bandStatistics"), None)
    if stats is None:
        return None
    mean = np.full(n_bands, np.nan)
    std = np.full(n_bands, np.nan)
    seen: set[int] = set()
    for band in stats:
        if band.tag.rsplit("}", 1)[-1] != "bandID":
            continue
        values = {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in band}
        try:
            number = int(band.get("number", ""))
            m, s = float(values["mean"]), float(values["stdDeviation"])
        except (KeyError, ValueError):
            return None
        if not 1 <= number <= n_bands or number in seen:
            return None
        seen.add(number)
        if not (m == EMPTY_BAND_MEAN and s == 0):
            mean[number - 1], std[number - 1] = m, s
    return (mean, std) if len(seen) == n_bands else None
