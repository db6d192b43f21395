"""``hsi evaluate`` of a GeoTIFF map against a GeoTIFF reference on the same grid, strip by strip.

Reading both rasters whole costs several bytes per pixel (the map, the reference as int32, its
renumbered copy): about 3.3 GB for a 20,000 x 20,000 map. When the reference is a GeoTIFF on
exactly the map's grid (same CRS, transform and size, as a reference exported from the map or
from the same scene is), the joint histogram is counted over strips of rows instead, so memory
follows the strip, not the map. The reference is read twice: once for the histogram of its ids
(the checks and the class matching need it before any pixel is counted), once for the counts.

Anything else (a reference on another extent, in another CRS, without one, a map or reference
the whole-raster path would refuse) is left to that path, which says what is wrong in one line:
:func:`evaluate_windowed` then returns ``None``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from hsi_app.errors import HSIError, LabelError
from hsi_app.tasks import map_accuracy
from hsi_app.tasks.map_accuracy import MapAccuracy, class_table
from hsi_app.tasks.map_row_areas import class_pixels_and_areas, ground_areas, row_pixel_areas_m2

STRIP_ROUND = 256  # strips are whole multiples of this many rows (a COG's tile height) where the block allows


def evaluate_windowed(map_path: str | os.PathLike[str], reference_path: str | os.PathLike[str], *,
                      progress: bool = False) -> MapAccuracy | None:
    """Score a class-map GeoTIFF against a label GeoTIFF on its grid, one strip of rows at a time.

    Args:
        map_path: class map GeoTIFF (band 1 = class, 0 = no data).
        reference_path: label GeoTIFF (band 1 = class, 0 = unlabelled).
        progress: a bar over the strips of each pass (reading the reference's ids, counting).

    Returns:
        :class:`~hsi_app.tasks.map_accuracy.MapAccuracy`, the same as the whole-raster path's, or
        ``None`` when the rasters are not both clean GeoTIFFs on one grid (the caller reads them whole).

    Raises:
        LabelError: as :func:`~hsi_app.tasks.map_accuracy.merge_class_names` (names that do not match).
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from hsi_app.io.cog import CLASS_NAMES_TAG, parse_class_names_tag
    from hsi_app.io.cube import check_labels
    from hsi_app.io.geotiff import TIFF_ONLY

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(map_path, driver=TIFF_ONLY) as mp, rasterio.open(reference_path, driver=TIFF_ONLY) as rf:
                if not _same_grid(mp, rf):
                    return None
                rows = _strip_rows(mp)
                ref_counts = _reference_histogram(rf, rows, progress)
                if ref_counts is None:
                    return None
                try:  # the whole-raster checks, on the ids present (they depend on nothing else)
                    check_labels(np.flatnonzero(ref_counts)[None, :], (1, int(np.count_nonzero(ref_counts))),
                                 str(reference_path))
                except LabelError:
                    return None  # the whole-raster path refuses it with the row and column
                map_names = parse_class_names_tag(mp.tags().get(CLASS_NAMES_TAG), map_path)
                ref_names = parse_class_names_tag(rf.tags().get(CLASS_NAMES_TAG), reference_path)
                transform, crs, shape = mp.transform, mp.crs, (mp.height, mp.width)
                row_areas = row_pixel_areas_m2(transform, crs, shape)  # a geographic map: areas summed per row
                counted = _count(mp, rf, rows, ref_counts.size, progress, row_areas)
                if counted is None:
                    return None
                joint, class_m2 = counted
    except (RasterioIOError, OSError, ValueError, HSIError):
        return None  # unreadable or odd: the whole-raster path gives its own line
    map_counts = joint.sum(axis=0)
    n_map = int(np.flatnonzero(map_counts).max(initial=0))
    table, names = class_table(map_names, ref_names, ref_counts, n_map, source=str(reference_path))
    k = len(names)
    if n_map > k:
        return None  # map classes without a name: the whole-raster path refuses them in one line
    if table is not None:  # reference ids onto the map's numbering: rows of the joint histogram add up
        renamed = np.zeros((k + 1, joint.shape[1]), np.int64)
        np.add.at(renamed, table[: joint.shape[0]], joint)
        joint = renamed
    full = np.zeros((k + 1, k + 1), np.int64)
    full[: joint.shape[0], : min(joint.shape[1], k + 1)] = joint[:, : k + 1]
    mapped_m2 = None
    if class_m2 is not None:
        mapped_m2 = np.zeros(k, np.float64)
        mapped_m2[: min(k, class_m2.size - 1)] = class_m2[1: k + 1]
    # the pixel area (and its warnings) only now: a map returned None above is read whole, which warns itself
    area, _ = ground_areas(transform, crs, shape, source=map_path)
    return MapAccuracy.from_joint(names, full, area, mapped_m2)


def _same_grid(mp: Any, rf: Any) -> bool:
    """Whether map and reference are single-grid GeoTIFFs of integer band 1 on exactly one grid with a CRS."""
    if mp.count > 2 or np.dtype(mp.dtypes[0]).kind not in "iu" or np.dtype(rf.dtypes[0]).kind not in "iu":
        return False
    if mp.crs is None or rf.crs is None or mp.crs != rf.crs:
        return False
    return (mp.height, mp.width) == (rf.height, rf.width) and mp.transform == rf.transform


def _strip_rows(ds: Any) -> int:
    """Rows per strip: about :data:`~hsi_app.tasks.map_accuracy.ASSESS_BLOCK_PX` pixels, rounded to whole tiles."""
    rows = max(1, map_accuracy.ASSESS_BLOCK_PX // max(ds.width, 1))
    block = ds.block_shapes[0][0] if ds.block_shapes else STRIP_ROUND
    return max(block, rows // block * block) if block <= rows else rows


def _strips(ds: Any, rows: int) -> Iterator[Any]:
    from rasterio.windows import Window

    for r in range(0, ds.height, rows):
        yield Window(0, r, ds.width, min(rows, ds.height - r))


def _band(ds: Any, window: Any) -> np.ndarray:
    """Band 1 of ``window`` with its no-data value as 0 (as the whole-raster readers do)."""
    from hsi_app.io.labels import nodata_to_zero

    return nodata_to_zero(ds.read(1, window=window), ds.nodata)


def _reference_histogram(rf: Any, rows: int, progress: bool) -> np.ndarray | None:
    """Pixels of each reference id ``(R + 1,)``, or ``None`` for ids outside ``0..255`` (refused by the other path)."""
    from hsi_app.progress import bar

    counts = np.zeros(256, np.int64)
    windows = list(_strips(rf, rows))
    for window in bar(windows, desc="evaluate: reference ids", unit="strips", enabled=progress):
        band = _band(rf, window)
        if band.size and (int(band.min()) < 0 or int(band.max()) > 255):
            return None
        counts += np.bincount(band.reshape(-1).astype(np.intp, copy=False), minlength=256)
    return counts[: int(np.flatnonzero(counts).max(initial=0)) + 1]


def _count(mp: Any, rf: Any, rows: int, n_ref: int, progress: bool,
           row_areas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None] | None:
    """``(n_ref, 256)`` int64 joint histogram: reference id (rows) against map class (columns), and with
    ``row_areas`` (``(H,)`` m² per pixel of each row) the ``(256,)`` ground area of each map class; ``None`` for map
    values outside ``0..255`` (refused by the other path)."""
    from hsi_app.progress import bar

    joint = np.zeros(n_ref * 256, np.int64)
    class_m2 = np.zeros(256, np.float64) if row_areas is not None else None
    windows = list(_strips(mp, rows))
    for window in bar(windows, desc="evaluate: counting", unit="strips", enabled=progress):
        cls = _band(mp, window)
        m = int(cls.max(initial=0)) + 1
        if cls.size and (int(cls.min()) < 0 or m > 256):
            return None
        ref = _band(rf, window)
        ref, cls = (a if np.can_cast(a.dtype, np.int64) else a.astype(np.int64) for a in (ref, cls))  # uint64
        row0, (h, w) = int(window.row_off), cls.shape
        if class_m2 is None or row_areas is None or n_ref * m > w:
            pair = ref.astype(np.int64) * 256
            pair += cls
            joint += np.bincount(pair.reshape(-1), minlength=joint.size)
            if class_m2 is not None and row_areas is not None:  # a geographic map with many (ref, class) pairs
                _, m2 = class_pixels_and_areas(cls, row_areas[row0:row0 + h])
                class_m2[:m2.size] += m2
            continue
        # a geographic map with few (ref, class) pairs for its width: one histogram keyed on (row, reference id, class)
        # gives the joint counts and, with the rows' pixel areas, each class's ground area (no second count of the
        # strip); its h * n_ref * m bins stay within the strip's h * w pixels
        key = np.arange(h, dtype=np.int64)[:, None] * n_ref + ref
        key *= m
        key += cls
        per_row = np.bincount(key.reshape(-1), minlength=h * n_ref * m).reshape(h, n_ref, m)
        joint.reshape(n_ref, 256)[:, :m] += per_row.sum(axis=0)
        class_m2[:m] += (row_areas[row0:row0 + h] @ per_row.reshape(h, n_ref * m)).reshape(n_ref, m).sum(axis=0)
    return joint.reshape(n_ref, 256), class_m2
