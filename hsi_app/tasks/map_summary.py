"""What ``hsi info`` says about a class map: pixels, share, area and mean confidence per class.

A class map is the GeoTIFF that ``hsi predict`` / ``hsi batch`` write (band 1 class with a
colour table and class names, band 2 confidence), any single-band paletted integer
GeoTIFF, or an ENVI classification file. Describing it as a one-band cube with unknown
wavelengths would say nothing useful, so ``hsi info`` routes it here. A GeoTIFF is read
block by block, so memory follows its block size, not the map size.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from hsi_app.io.cog import CLASS_NAMES_TAG, is_hsi_class_map, parse_class_names_tag
from hsi_app.io.cube import has_map_grid
from hsi_app.io.geotiff import TIFF_ONLY
from hsi_app.io.percent import share
from hsi_app.io.crs_names import crs_name, resolution_unit
from hsi_app.io.summary import crs_line, grid_notes, pixel_sides, resolution_line
from hsi_app.tasks.map_accuracy import M2_PER_HA
from hsi_app.tasks.map_row_areas import class_pixels_and_areas, ground_areas, row_pixel_areas_m2


def is_class_map(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a class map (GeoTIFF or ENVI classification), not a spectral cube.

    True for a class map hsi wrote (:func:`hsi_app.io.cog.is_hsi_class_map`: a GeoTIFF with the
    class-name tag and an integer first band), for a GeoTIFF whose first band is
    an unsigned-integer band with a colour table (palette) and which has at most two bands
    (``abundance.tif`` of ``hsi simulate-targets`` has the tag for its class band 2, but its
    band 1 is float abundance, so it is described as an image); and for an ENVI header
    (or its data file) that says ``file type = ENVI Classification``. Anything else (other
    formats, built-in names, unreadable files) is False, so the caller's cube reader gives
    its own error line.
    """
    import rasterio
    from rasterio.enums import ColorInterp
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from hsi_app.errors import HSIError
    from hsi_app.io.envi import find_header, is_classification, is_envi, read_header

    if not os.path.isfile(path):
        return False
    header = find_header(path) if is_envi(path) else None
    if header is not None:
        try:
            return is_classification(read_header(header))
        except HSIError:
            return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, driver=TIFF_ONLY) as ds:
                if is_hsi_class_map(ds):
                    return True
                return (ds.count <= 2 and np.dtype(ds.dtypes[0]).kind == "u"
                        and ds.colorinterp[0] == ColorInterp.palette)
    except (RasterioIOError, OSError, ValueError):
        return False


def summarize_class_map(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Per-class pixels, share of the mapped pixels, area and mean confidence of a class map.

    Args:
        path: a class map GeoTIFF or ENVI classification (see :func:`is_class_map`); class 0 is
            no data (ENVI's "Unclassified").

    Returns:
        dict with ``format`` (``"class map"``), ``source``, ``height``, ``width``, ``crs``, ``crs_name``
        (:func:`~hsi_app.io.crs_names.crs_name`),
        ``resolution`` (``None`` without CRS), ``resolution_unit`` (``"m"``, ``"US ft"``, ``"degrees"``...),
        ``mapped_area_ha`` (``None`` without an area), ``pixel_area_m2`` (ground area, :func:`~hsi_app.tasks.map_accuracy.pixel_area_m2`;
        ``None`` without CRS), ``mapped_pixels`` (class > 0), ``nodata_pixels``, ``has_confidence`` and
        ``classes``: one dict per class present, in class order, with ``class`` (number),
        ``name``, ``pixels``, ``fraction`` (of the mapped pixels), ``area_ha`` (or ``None``)
        and ``mean_confidence`` (or ``None`` without a confidence band).
    """
    from hsi_app.io.envi import is_envi

    t = _tally_envi(path) if is_envi(path) else _tally_geotiff(path)
    crs, transform, counts = t.crs, t.transform, t.counts
    gridded = has_map_grid(crs, transform)
    area, _ = ground_areas(transform, crs, (t.height, t.width), source=path)
    class_m2 = t.area_sum if t.area_sum is not None else (counts * area if area is not None else None)
    mapped = int(counts[1:].sum())
    # one pixel area (projected): the products in the order of the code before row areas, so the same bits
    mapped_m2 = float(class_m2[1:].sum()) if t.area_sum is not None else (mapped * area if area is not None else None)
    rows = []
    for k in np.flatnonzero(counts[1:]) + 1:
        n = int(counts[k])
        rows.append({
            "class": int(k),
            "name": t.names[k] if k < len(t.names) else f"class {k}",
            "pixels": n,
            "fraction": n / mapped,
            "area_ha": float(class_m2[k]) / M2_PER_HA if class_m2 is not None else None,
            "mean_confidence": float(t.conf_sum[k] / n) if t.has_confidence else None,
        })
    return {
        "format": "class map",
        "source": str(path),
        "height": t.height,
        "width": t.width,
        "crs": crs.to_string() if crs is not None else None,
        "crs_name": crs_name(crs),
        "resolution": [float(v) for v in pixel_sides(transform)] if gridded else None,
        "resolution_unit": resolution_unit(crs) if gridded else None,
        "pixel_area_m2": area,
        "mapped_area_ha": mapped_m2 / M2_PER_HA if mapped_m2 is not None else None,
        "mapped_pixels": mapped,
        "nodata_pixels": int(counts[0]),
        "has_confidence": t.has_confidence,
        "classes": rows,
        **(grid_notes(transform) if gridded else {}),
    }


class _Tally(NamedTuple):
    """Per-class totals of a class map and the grid they came from."""

    names: list[str]  # class names for 0..K (empty when the file has none)
    has_confidence: bool
    crs: Any
    transform: Any
    height: int
    width: int
    counts: np.ndarray  # (n,) int64 pixels per class value
    conf_sum: np.ndarray  # (n,) float64 summed confidence per class value
    area_sum: np.ndarray | None = None  # (n,) float64 ground m² per class value (a geographic map, summed per row)


def _tally_envi(path: str | os.PathLike[str]) -> _Tally:
    """Totals of an ENVI classification (read whole; it has no confidence band)."""
    from hsi_app.io import block_counts
    from hsi_app.io.cog import read_envi_class_map

    cmap = read_envi_class_map(path)
    h, w = cmap.classes.shape
    rows = row_pixel_areas_m2(cmap.transform, cmap.crs, (h, w))
    step = max(1, block_counts.BLOCK_PX // max(w, 1))  # strips: the histogram keys stay a strip in size
    strips = ((cmap.classes[r:r + step], None, r) for r in range(0, h, step))
    counts, conf_sum, area_sum = _tally(strips, rows)
    return _Tally(list(cmap.class_names or []), False, cmap.crs, cmap.transform, h, w, counts, conf_sum, area_sum)


def _tally(blocks: Iterable[tuple[np.ndarray, np.ndarray | None, int]],
           rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pixels, summed confidence and (with ``rows``) ground area per class over ``(classes, confidence | None,
    first map row)`` blocks; ``rows``: ``(H,)`` m² of a pixel of each map row (a geographic map), else ``None``.

    A geographic map's blocks give the class counts and areas together (:func:`class_pixels_and_areas`).
    """
    counts = np.zeros(256, np.int64)
    conf_sum = np.zeros(256, np.float64)
    area_sum = np.zeros(256, np.float64) if rows is not None else None
    for classes, conf, row0 in blocks:
        cls = np.asarray(classes)
        if not np.can_cast(cls.dtype, np.intp):  # uint64: bincount takes intp
            cls = cls.astype(np.intp)
        if cls.size and int(cls.max()) >= counts.size:
            grow = int(cls.max()) + 1 - counts.size
            counts, conf_sum = np.pad(counts, (0, grow)), np.pad(conf_sum, (0, grow))
            area_sum = np.pad(area_sum, (0, grow)) if area_sum is not None else None
        if rows is not None and area_sum is not None:
            pixels, m2 = class_pixels_and_areas(cls, rows[row0:row0 + cls.shape[0]])
            counts[:pixels.size] += pixels
            area_sum[:m2.size] += m2
        else:
            counts += np.bincount(cls.reshape(-1), minlength=counts.size)
        if conf is not None:
            conf_sum += np.bincount(cls.reshape(-1), weights=np.asarray(conf, np.float64).reshape(-1),
                                    minlength=conf_sum.size)
    return counts, conf_sum, area_sum


def _tally_geotiff(path: str | os.PathLike[str]) -> _Tally:
    """Totals of a class-map GeoTIFF, read block by block."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, driver=TIFF_ONLY) as ds:
            names_json = ds.tags().get(CLASS_NAMES_TAG)
            has_conf = ds.count >= 2
            scale = float(ds.scales[1] or 1.0) if has_conf else 1.0
            offset = float(ds.offsets[1] or 0.0) if has_conf else 0.0
            rows = row_pixel_areas_m2(ds.transform, ds.crs, (ds.height, ds.width))  # a geographic map: m² per row

            def blocks() -> Iterator[tuple[np.ndarray, np.ndarray | None, int]]:
                for _, window in ds.block_windows(1):
                    conf = ds.read(2, window=window, out_dtype=np.float64) * scale + offset if has_conf else None
                    yield ds.read(1, window=window), conf, int(window.row_off)

            counts, conf_sum, area_sum = _tally(blocks(), rows)
            names = parse_class_names_tag(names_json, path) or []
            return _Tally(names, has_conf, ds.crs, ds.transform, ds.height, ds.width, counts, conf_sum, area_sum)


def format_class_map_summary(info: dict[str, Any]) -> str:
    """Human-readable rendering of :func:`summarize_class_map`'s dict."""
    total = info["height"] * info["width"]
    lines = [
        f"source       {info['source']}",
        f"format       {info['format']} ({'class + confidence bands' if info['has_confidence'] else 'class band'})",
        f"size         {info['height']} rows x {info['width']} cols",
        f"crs          {crs_line(info)}",
    ]
    resolution = resolution_line(info)
    if resolution:
        lines.append(resolution)
    hectares = f", {info['mapped_area_ha']:,.4f} ha" if info.get("mapped_area_ha") is not None else ""
    lines.append(f"mapped       {info['mapped_pixels']:,} pixels ({share(info['mapped_pixels'], total)})"
                 f"{hectares}, {info['nodata_pixels']:,} no-data")
    rows = info["classes"]
    lines.append(f"classes      {len(rows)}")
    if not rows:
        return "\n".join(lines)
    width = max(len("class"), *(len(r["name"]) for r in rows))
    head = f"  {'class':<{width}}  {'pixels':>11}  {'share':>7}"  # 11: 400,000,000 (a 20,000 x 20,000 map)
    has_area = info["pixel_area_m2"] is not None
    head += f"  {'area ha':>12}" if has_area else ""
    head += f"  {'confidence':>10}" if info["has_confidence"] else ""
    lines.append(head)
    for r in rows:
        line = f"  {r['name']:<{width}}  {r['pixels']:>11,}  {share(r['pixels'], info['mapped_pixels']):>7}"
        line += f"  {r['area_ha']:>12,.4f}" if has_area else ""  # a 30 m pixel is 0.09 ha
        line += f"  {r['mean_confidence']:>10.3f}" if info["has_confidence"] else ""
        lines.append(line)
    return "\n".join(lines)
