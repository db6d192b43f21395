"""Minimum mapping unit by ground area on a geographic class map (``hsi vectorize --min-area``).

A geographic map's pixels shrink towards the poles, so a unit in hectares is no one pixel count: converted with the
centre pixel's area, patches in the map's poleward rows were kept below the unit and equatorward ones above it
dropped. Here every patch is measured as ``area_ha`` is (its pixels' row areas summed) and a patch under the unit
takes the class of its neighbour of largest ground area, except the smallest ones, which stage 1 merges by pixels:

1. GDAL's pixel sieve (:func:`~hsi_app.tasks.map_polygons.sieve_classes`) first merges the patches too few to reach
   the unit even at the largest pixel area of the map (cheap, and most of the work on a noisy map). It is GDAL's
   rule: such a patch takes the class of its neighbour of most PIXELS, not of most ground area. The two choices
   differ only where the neighbour of more pixels covers less ground: the neighbours' pixel counts are close, or
   the one of more pixels lies nearer a pole (a map spanning many degrees of latitude). The pixel sieve's choice
   stands there;
2. then, pass by pass, each patch still under the unit whose largest neighbour (by ground area) reaches it takes
   that neighbour's class, until no patch changes. A patch whose neighbours are all under the unit waits for one of
   them to grow; patches left under the unit touch no patch of the unit through small ones (enclosed by no-data or
   the map edge), as with the pixel sieve.

So every polygon kept reaches the unit unless it is such an enclosed one, and no patch reaching it is merged.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import numpy as np

from hsi_app.errors import HSIWarning
from hsi_app.io import block_counts

AREA_SIEVE_MAX_PASSES = 50  # area passes at most, as the pixel sieve's


def sieve_by_area(classes: np.ndarray, row_areas: np.ndarray, min_area_m2: float, connectivity: int = 4,
                  on_pass: Callable[[int], None] | None = None, *,
                  on_area_pass: Callable[[int], None] | None = None,
                  source: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Merge patches of less than ``min_area_m2`` of ground into their neighbour of largest ground area (patches of
    fewer pixels than the unit at the map's largest pixel: into their neighbour of most pixels, GDAL's sieve).

    After :data:`AREA_SIEVE_MAX_PASSES` area passes, one :class:`~hsi_app.errors.HSIWarning` (naming ``source``
    first) says how many patches, of how many hectares, are still under the unit, when one more pass would
    still merge some; a last pass that reached the fixed point warns of nothing (as
    :func:`~hsi_app.tasks.map_polygons.sieve_classes`).

    Args:
        classes: ``(H, W)`` uint8 classes, 0 = no data (left as it is).
        row_areas: ``(H,)`` ground area in m² of one pixel of each row
            (:func:`~hsi_app.tasks.map_row_areas.row_pixel_areas_m2`).
        min_area_m2: smallest patch kept, in m².
        connectivity: 4 or 8.
        on_pass: called with the number of each pass of the pixel pre-sieve from the second on (progress).
        on_area_pass: called with the number of each area pass, from 1 (progress).
        source: the map's file, named first in the warning.

    Returns:
        ``(H, W)`` uint8 sieved classes (a new array).
    """
    from hsi_app.tasks.map_polygons import sieve_classes

    surely_small = int(np.ceil(min_area_m2 / float(np.max(row_areas))))  # fewer pixels never reach the unit
    out = (sieve_classes(classes, surely_small, connectivity, on_pass=on_pass) if surely_small > 1
           else np.array(classes, dtype=np.uint8, copy=True))
    for i in range(1, AREA_SIEVE_MAX_PASSES + 1):
        if on_area_pass is not None:
            on_area_pass(i)
        merged, _, _ = _area_pass(out, row_areas, min_area_m2, connectivity)
        if merged is None:
            return out
        out = merged
    merged, n_small, small_m2 = _area_pass(out, row_areas, min_area_m2, connectivity)  # would one more change it?
    if merged is not None:
        named = f"{source}: " if source is not None and str(source) else ""
        warnings.warn(f"{named}area sieve stopped after {AREA_SIEVE_MAX_PASSES} passes with {n_small:,} patches "
                      f"({small_m2 / 1e4:,.4g} ha) still under the {min_area_m2 / 1e4:g} ha unit: the map is noise at "
                      "that scale in places; smooth the map first (`hsi predict --smooth guided`) or use a smaller "
                      "unit", HSIWarning, stacklevel=2)
    return out


def _area_pass(classes: np.ndarray, row_areas: np.ndarray, min_area_m2: float,
               connectivity: int) -> tuple[np.ndarray | None, int, float]:
    """One area pass over ``classes`` ``(H, W)`` uint8: each patch under the unit whose largest neighbour reaches it
    takes that neighbour's class.

    Returns:
        ``(merged (H, W) uint8 or None when no patch changes, patches under the unit before the pass, their m²)``.
    """
    from hsi_app.tasks.map_polygons import label_patches
    from hsi_app.tasks.map_row_areas import summed_areas_m2

    patches = label_patches(classes, connectivity)
    n = patches.pixels.size
    areas = summed_areas_m2(patches.ids, row_areas, n + 1)
    small = areas < min_area_m2
    small[0] = False  # no data
    if not small.any():
        return None, 0, 0.0
    count, small_m2 = int(small.sum()), float(areas[small].sum())
    target = _largest_neighbour(patches.ids, areas, small, connectivity)
    merge = np.flatnonzero(small & (target > 0))
    merge = merge[areas[target[merge]] >= min_area_m2]  # a small neighbour may itself be merged this pass
    if not merge.size:
        return None, count, small_m2
    new_class = np.r_[0, patches.classes].astype(np.uint8)
    new_class[merge] = new_class[target[merge]]
    return _lookup_blocks(new_class, patches.ids), count, small_m2


def _largest_neighbour(ids: np.ndarray, areas: np.ndarray, small: np.ndarray, connectivity: int) -> np.ndarray:
    """``(N+1,)`` int64: for each patch id flagged ``small``, the id of its neighbour of largest area (0: none).

    Neighbours are patches meeting at an edge (and at a corner with ``connectivity`` 8); pairs are gathered strip
    by strip, so the temporaries stay a few strips in size.
    """
    h, w = ids.shape
    best = np.zeros(areas.size, dtype=np.int64)
    best_area = np.full(areas.size, -1.0)
    step = max(1, block_counts.BLOCK_PX // max(w, 1))
    offsets = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if connectivity == 8 else [])
    for r in range(0, h, step):
        a_rows = ids[r:r + step + 1]  # one row of overlap with the next strip
        for dr, dc in offsets:
            rows = a_rows.shape[0] - dr
            if r + step < h:
                rows = min(rows, step)
            if rows <= 0:
                continue
            c0, c1 = max(0, -dc), w - max(0, dc)
            a = a_rows[:rows, c0:c1].reshape(-1)
            b = a_rows[dr:dr + rows, c0 + dc:c1 + dc].reshape(-1)
            differ = (a != b) & (a > 0) & (b > 0)
            a, b = a[differ], b[differ]
            for src, dst in ((a, b), (b, a)):
                keep = small[src]
                src, dst = src[keep], dst[keep]
                if not src.size:
                    continue
                order = np.lexsort((-areas[dst], src))  # per small patch, the neighbour of largest area first
                src, dst = src[order], dst[order]
                first = np.r_[True, src[1:] != src[:-1]]
                src, dst = src[first], dst[first]
                better = areas[dst] > best_area[src]
                best[src[better]] = dst[better]
                best_area[src[better]] = areas[dst[better]]
    return best


def _lookup_blocks(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``table[ids]`` as ``(H, W)`` uint8, strip by strip (the index temporaries stay a strip in size)."""
    out = np.empty(ids.shape, dtype=np.uint8)
    step = max(1, block_counts.BLOCK_PX // max(ids.shape[1], 1))
    for r in range(0, ids.shape[0], step):
        np.take(table, ids[r:r + step], out=out[r:r + step])
    return out
