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

Each layer's size is checked from its header before any pixel is read.
"""

from __future__ import annotations

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


def open_checked(gdal_path: str, label: str, shape: tuple[int, ...], driver: str, what: str):  # noqa: ANN201
    """Open a quality layer and check its size (header only) against the spectral image's.

    ``shape``: ``(H, W)`` for a layer of any band count, ``(C, H, W)`` for one band per spectral band.
    Returns the open rasterio dataset (the caller closes it).

    Raises:
        CubeReadError: unreadable, or of another size (one line naming the file and the fix).
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
    return ds


def read_layer(gdal_path: str, label: str, shape: tuple[int, int], driver: str, what: str) -> tuple[np.ndarray, float | None]:
    """``((k, H, W) array as stored, declared no-data or None)`` of a small quality layer.

    Raises:
        CubeReadError: unreadable, truncated, or of another ``(H, W)`` than ``shape``.
    """
    import rasterio

    ds = open_checked(gdal_path, label, shape, driver, what)
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
