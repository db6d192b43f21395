"""What ``hsi info`` reports about a Cube, as a plain dict (also handy in notebooks)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.io.band_labels import band_list
from hsi_app.io.crs_names import crs_name, is_crs_code, resolution_unit
from hsi_app.io.cube import Cube
from hsi_app.io.envi import FILE_DTYPE_ATTR
from hsi_app.io.percent import share

LARGE_ELEMENTS = 50_000_000
BAD_BANDS_SHOWN = 20
"""Bad bands named on ``hsi info``'s text line; the rest are counted."""


def _compute(arr: Any, progress: bool) -> Any:
    """Compute a (possibly dask) array, with a progress bar on stderr for large inputs (stdout is the report's)."""
    return _compute_all([arr], progress)[0]


def _compute_all(arrs: list[Any], progress: bool) -> list[Any]:
    """Compute (possibly dask) arrays in one pass (the file's chunks they share are read once), with
    :func:`_compute`'s progress bar."""
    if not any(hasattr(a, "compute") for a in arrs):
        return [np.asarray(a) for a in arrs]
    from hsi_app.local_reads import compute_here

    if progress:
        from hsi_app.progress import dask_progress

        with dask_progress(desc="reading"):  # dask's bar on a terminal, a line every 30 s in a log
            return list(compute_here(*arrs))
    return list(compute_here(*arrs))


class _LazyPartial(NamedTuple):
    """:func:`_partial_nodata`'s lazy counts and the no-data value they are of."""

    pixels: Any  # lazy int: pixels holding the no-data value in some good bands and a measurement in another
    band_pixels: Any  # lazy (C,) such pixels per band
    good: np.ndarray  # (C,) bool good-band mask
    valid: Any  # lazy (H, W) valid mask from the same comparisons, or None: the ``valid`` coordinate is read
    nodata: float  # the no-data value as the file stores it (the one a message names)


def _partial_nodata(cube: Cube) -> _LazyPartial | None:
    """Lazy :func:`~hsi_app.io.partial_nodata.count_partial` of ``cube``'s numeric no-data value.

    The value is ``cube.hsi.nodata``, or for a float32 cube its reader decoded from an integer file with the file's
    no-data value as NaN (:func:`stored_fill`: ENVI, EnMAP, a scaled GeoTIFF), that value, counted as NaN.
    ``valid`` is the ``(H, W)`` valid mask from the same comparisons when the ``valid`` coordinate is what the
    values say (:attr:`~hsi_app.io.cube.HSIAccessor.valid_from_values`), else None. None when the cube has no
    numeric no-data value (none, or a float file's own NaNs: nothing to mistake for a measurement) or no good band.
    """
    from hsi_app.io.partial_nodata import count_partial

    counted = counted_nodata(cube)
    if counted is None:
        return None
    nodata, value = counted
    data = cube.data
    good = ~cube.hsi.bad_band_mask
    if not good.any():
        return None
    pixels, per_band, all_measured = count_partial(data, nodata, good)
    return _LazyPartial(pixels, per_band, good, all_measured if cube.hsi.valid_from_values else None, value)


def stored_dtype(cube: Cube) -> str | None:
    """The dtype name the file stores where its reader returns float32 (``attrs["file_dtype"]``, e.g. ``"int16"``
    for an EnMAP L2A spectral image, reflectance x 1e4), else None."""
    return cube.attrs.get(FILE_DTYPE_ATTR)


def stored_fill(cube: Cube) -> float | None:
    """The numeric no-data value of an integer file that its reader decoded to a float32 cube with that value as
    NaN (ENVI, EnMAP, a GeoTIFF with band scale/offset; ``cube.hsi.nodata`` is then None and the reader keeps the
    value as ``attrs["raw_nodata"]``), else None.

    In such a cube NaN marks exactly the stored no-data value, which may also be a real value (0 counts), so
    :func:`summarize` counts the pixels holding it in only some bands as it does for a cube that keeps the value.
    A float file's own NaNs are not a value that can be mistaken, so float files give None.
    """
    nodata = cube.hsi.nodata
    if nodata is not None and not np.isnan(nodata):
        return None
    stored = stored_dtype(cube)
    if stored is None or np.dtype(stored).kind not in "iu":
        return None
    raw = cube.attrs.get("raw_nodata")
    return float(raw) if raw is not None and np.isfinite(raw) else None


def counted_nodata(cube: Cube) -> tuple[float, float] | None:
    """The no-data value to look for in ``cube``'s values and the value as the file stores it (the one a message
    names): ``cube.hsi.nodata`` twice when it is a number; ``(NaN, raw)`` for a float32 cube its reader decoded
    from an integer file with the file's no-data value as NaN (:func:`stored_fill`); None when there is nothing
    to mistake for a measurement (no value, or a float file's own NaNs)."""
    nodata = cube.hsi.nodata
    if nodata is not None and not np.isnan(nodata):
        return float(nodata), float(nodata)
    raw = stored_fill(cube)
    return None if raw is None else (float("nan"), raw)


def crs_line(info: dict[str, Any]) -> str:
    """``"EPSG:32633 (WGS 84 / UTM zone 33N)"`` from :func:`summarize`'s ``crs`` and ``crs_name``; a CRS without an
    EPSG code by its name only (its WKT is in ``--json``)."""
    crs, name = info.get("crs"), info.get("crs_name")
    if not crs:
        return "none (a map grid without a CRS)" if info.get("resolution") else "none (pixel coordinates)"
    if is_crs_code(crs):
        return f"{crs} ({name})" if name else crs
    return f"{name or 'custom CRS'}, no EPSG code (hsi info --json gives its WKT)"


def resolution_line(info: dict[str, Any]) -> str | None:
    """``"resolution   30 x 30 m (grid rotated 30.0° clockwise)"`` from a summary's ``resolution``,
    ``resolution_unit`` (``"map units"`` when missing) and :func:`grid_notes` entries; None without a resolution."""
    if not info.get("resolution"):
        return None
    unit = info.get("resolution_unit") or "map units"
    return f"resolution   {info['resolution'][0]:g} x {info['resolution'][1]:g} {unit}{grid_note(info)}"


def pixel_sides(transform: Any) -> tuple[float, float]:
    """Pixel side lengths ``(along a row, along a column)`` of an affine grid, in map units.

    ``hypot(a, d)`` and ``hypot(b, e)``: the lengths of the steps one column and one row
    make on the map, right for rotated grids too (where ``|a|`` and ``|e|`` are not).
    """
    return math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e)


def grid_rotation(transform: Any) -> float | None:
    """Rotation of a grid in degrees, counterclockwise on the map (as ENVI's ``rotation``
    and ``Affine.rotation``): the direction of a row's steps. ``None`` when rows run along
    the map's x axis (a north-up grid, or one only sheared)."""
    a, d = transform.a, transform.d
    if d == 0 and a >= 0:
        return None
    return math.degrees(math.atan2(d, a))


def grid_shear(transform: Any) -> float | None:
    """How far a grid's columns lean from square to its rows, in degrees (``None``: square)."""
    a, b, d, e = transform.a, transform.b, transform.d, transform.e
    norm = math.hypot(a, d) * math.hypot(b, e)
    if norm == 0:
        return None
    lean = math.degrees(math.asin(max(-1.0, min(1.0, (a * b + d * e) / norm))))
    return lean if abs(lean) > 1e-9 else None


def grid_notes(transform: Any) -> dict[str, Any]:
    """``grid_rotation_deg``, ``grid_shear_deg``, ``south_up`` and ``west_running`` entries that apply to ``transform``.

    ``south_up``: rows run the other way round from a north-up image (the pixel grid is a mirror
    image of the map, as with a positive pixel height ``e``).
    """
    out: dict[str, Any] = {}
    a, b, d, e = transform.a, transform.b, transform.d, transform.e
    if b == 0 and d == 0 and a < 0 and e < 0:  # columns run west, rows south: a mirror image, not a rotation
        return {"west_running": True}
    rotation, shear = grid_rotation(transform), grid_shear(transform)
    if rotation is not None:
        out["grid_rotation_deg"] = rotation
    if shear is not None:
        out["grid_shear_deg"] = shear
    if a * e - b * d > 0:
        out["south_up"] = True
    return out


def grid_note(info: dict[str, Any]) -> str:
    """`` (grid rotated 30.0° clockwise, sheared 9.5°, south-up)`` from :func:`grid_notes`' entries."""
    parts = []
    rotation = info.get("grid_rotation_deg")
    if rotation is not None:
        parts.append(f"grid rotated {abs(rotation):.1f}° {'counterclockwise' if rotation > 0 else 'clockwise'}")
    if info.get("grid_shear_deg") is not None:
        parts.append(f"sheared {info['grid_shear_deg']:.1f}°")
    if info.get("south_up"):
        parts.append("south-up: rows run north")
    if info.get("west_running"):
        parts.append("mirrored: columns run west")
    return f" ({', '.join(parts)})" if parts else ""


def summarize(cube: Cube, *, progress: bool = False) -> dict[str, Any]:
    """Describe a cube: format, shape, dtype, wavelengths, bad bands, CRS, validity, classes.

    The valid-pixel fraction needs one streaming pass over the data (window by window
    for lazy cubes).

    Returns:
        dict with keys ``format``, ``source``, ``bands``, ``height``, ``width``, ``dtype``,
        ``wavelengths_nm``, ``fwhm_nm``, ``wavelength_range_nm``, ``bad_bands`` (0-based indices),
        ``bad_band_numbers`` (the same bands' 1-based numbers, ``cube.band``, as messages name them), ``crs``,
        ``crs_name`` (:func:`~hsi_app.io.crs_names.crs_name`), ``file_dtype`` (only when the file stores another dtype than the cube's:
        :func:`stored_dtype`), ``resolution`` (pixel side lengths in map units, :func:`pixel_sides`),
        ``resolution_unit`` (:func:`~hsi_app.io.crs_names.resolution_unit`),
        ``grid_rotation_deg``, ``grid_shear_deg``, ``south_up`` (only where they apply,
        :func:`grid_notes`), ``grid`` (only ``"no grid (uneven x/y)"``, for a cube whose x/y coordinates
        are not evenly spaced, e.g. after ``where(..., drop=True)``: no transform, so no resolution),
        ``valid_fraction``, ``valid_pixels`` (how many), and, only with labels, :func:`label_counts`'
        ``class_counts`` (name -> labelled pixels on valid data), ``class_counts_on_nodata``, ``labelled_pixels``
        and ``labelled_on_nodata`` (labelled pixels on no-data, which runs do not use),
        ``nodata_in_some_bands`` (only when pixels hold the numeric no-data value in some good bands and a
        measurement in another: ``pixels``, ``fraction``, ``nodata``, ``band_pixels`` by 1-based band, ``note``; see
        :mod:`hsi_app.io.partial_nodata`) and
        ``masks`` (name -> flagged fraction).

    A scene with no valid pixel because some bands hold no data anywhere is described with those
    bands flagged bad (:func:`~hsi_app.io.empty_bands.flag_empty_bands`, one warning).

    Raises:
        InvalidDataError: every pixel is no-data, or some bands are but cannot be flagged
            (:func:`~hsi_app.io.empty_bands.flag_empty_bands` names them).
    """
    from hsi_app.io.empty_bands import flag_empty_bands

    c, h, w = cube.hsi.shape
    wl = cube.hsi.wavelengths
    fw = cube.hsi.fwhm
    crs = cube.rio.crs
    try:
        transform, uneven = cube.hsi.transform, False
    except ConfigError:  # x/y not evenly spaced (where(drop=True), isel with a list): described without a grid
        transform, uneven = None, True
    big = progress and c * h * w > LARGE_ELEMENTS
    lazy_partial = _partial_nodata(cube)
    if lazy_partial is None:
        valid = _compute(cube.hsi.valid.data, big)
    else:  # one read of the file for both (and one comparison with the no-data value, when the mask is the values')
        same_valid = lazy_partial.valid
        valid, pixels, per_band = _compute_all([cube.hsi.valid.data if same_valid is None else same_valid,
                                                lazy_partial.pixels, lazy_partial.band_pixels], big)
    frac = float(np.mean(valid)) if valid.size else 0.0
    if frac == 0.0:
        flagged = flag_empty_bands(cube) if valid.size else None
        if flagged is not None:
            return summarize(flagged, progress=progress)
        nodata = cube.attrs.get("nodata", np.nan)  # integer cubes without a nodata value have none
        raise InvalidDataError(
            f"{cube.attrs.get('source', 'cube')}: every pixel is no-data or NaN (nodata={nodata}); "
            "check the file or its nodata value"
        )
    out: dict[str, Any] = {
        "format": cube.attrs.get("format", "unknown"),
        "source": cube.attrs.get("source", ""),
        "bands": c,
        "height": h,
        "width": w,
        "dtype": str(cube.dtype),
        "wavelengths_nm": [None if np.isnan(v) else round(float(v), 4) for v in wl],
        "fwhm_nm": [None if np.isnan(v) else round(float(v), 4) for v in fw],
        "wavelength_range_nm": None if np.isnan(wl).all() else [float(np.nanmin(wl)), float(np.nanmax(wl))],
        "bad_bands": cube.hsi.bad_bands,
        "bad_band_numbers": [int(n) for n in cube.band.values[cube.hsi.bad_bands]],
        "crs": crs.to_string() if crs is not None else None,
        "crs_name": crs_name(crs),
        "gcps": cube.attrs.get("gcps"),
        "resolution": [float(v) for v in pixel_sides(transform)] if transform is not None else None,
        "resolution_unit": resolution_unit(crs) if transform is not None else None,
        "valid_fraction": frac,
        "valid_pixels": int(np.count_nonzero(valid)),
    }
    stored = stored_dtype(cube)
    if stored is not None and stored != str(cube.dtype):  # ENVI, EnMAP or scaled files: read as float32
        out["file_dtype"] = str(stored)
    if lazy_partial is not None and int(pixels):
        from hsi_app.io.partial_nodata import report

        found = report(pixels, per_band, h * w, lazy_partial.good)
        value = lazy_partial.nodata
        out["nodata_in_some_bands"] = {
            "pixels": found.pixels, "fraction": found.fraction, "nodata": value,
            "band_pixels": {int(cube.band.values[i]): int(found.band_pixels[i]) for i in np.flatnonzero(found.band_pixels)},
            "note": _partial_note(cube, found, value),
        }
    if transform is not None:
        out.update(grid_notes(transform))
    if uneven:
        out["grid"] = "no grid (uneven x/y)"
    labels = cube.hsi.labels
    if labels is not None:
        out.update(label_counts(labels, np.asarray(valid, dtype=bool), cube.hsi.class_names or []))
    masks = cube.hsi.masks
    if masks:
        out["masks"] = {k: float(np.mean(_compute(m.data, False))) for k, m in masks.items()}
    return out


def label_counts(labels: np.ndarray, valid: np.ndarray, names: list[str]) -> dict[str, Any]:
    """:func:`summarize`'s label entries, counted as a run uses the labels (labelled pixels on no-data are not used).

    Args:
        labels: ``(H, W)`` int class ids, 0 = unlabelled.
        valid: ``(H, W)`` bool, the scene's pixels with data.
        names: class names of ids ``0..K`` (an id past them is ``class K``).

    Returns:
        ``class_counts`` (name -> labelled pixels on valid data, the pixels a split draws from; every class with a
        labelled pixel anywhere, so a class lying only on no-data shows 0), ``class_counts_on_nodata`` (name ->
        labelled pixels on no-data, only classes with some), ``labelled_pixels`` (all labelled pixels, on data or
        not) and ``labelled_on_nodata`` (how many of them lie on no-data).
    """
    flat, keep = labels.ravel(), valid.ravel()
    size = int(flat.max(initial=0)) + 1
    every = np.bincount(flat, minlength=size)
    on_data = np.bincount(flat[keep], minlength=size)
    off = every - on_data

    def name(k: int) -> str:
        return names[k] if k < len(names) else f"class {k}"

    return {
        "class_counts": {name(k): int(on_data[k]) for k in range(1, size) if every[k] > 0},
        "class_counts_on_nodata": {name(k): int(off[k]) for k in range(1, size) if off[k] > 0},
        "labelled_pixels": int(every[1:].sum()),
        "labelled_on_nodata": int(off[1:].sum()),
    }


def _partial_note(cube: Cube, found: Any, nodata: float) -> str:
    """:func:`~hsi_app.io.partial_nodata.describe` of ``found`` with the no-data value ``nodata`` and ``cube``'s bands."""
    from hsi_app.io.partial_nodata import NODATA_NOTE_ATTR, describe

    return describe(found, nodata, cube.hsi.wavelengths, np.asarray(cube.band.values),
                    note=cube.attrs.get(NODATA_NOTE_ATTR))


def _bad_band_note(info: dict[str, Any]) -> str:
    """``": bands 3 (650 nm) and 7 (1400 nm)"``: :func:`summarize`'s bad bands by 1-based number and centre, or ``""``."""
    bad = info["bad_bands"]
    if not bad:
        return ""
    numbers = info.get("bad_band_numbers") or [i + 1 for i in bad]
    wavelengths = [np.nan if info["wavelengths_nm"][i] is None else info["wavelengths_nm"][i] for i in bad]
    return f": {band_list(numbers, wavelengths, limit=BAD_BANDS_SHOWN)}"


def _wavelength_note(info: dict[str, Any]) -> str:
    """``"450.5-850.0 nm, FWHM 10.0-30.0 nm"``: the band centres' range (and how many are known, when not all),
    and the FWHM range when known; ``"unknown"`` without centres."""
    wr = info["wavelength_range_nm"]
    if wr is None:
        return "unknown"
    known = sum(v is not None for v in info["wavelengths_nm"])
    text = f"{wr[0]:.1f}-{wr[1]:.1f} nm"
    if known < info["bands"]:
        text += f" ({known} of {info['bands']} bands known)"
    fw = [v for v in info.get("fwhm_nm") or [] if v is not None]
    if fw:
        text += f", FWHM {min(fw):.1f} nm" if min(fw) == max(fw) else f", FWHM {min(fw):.1f}-{max(fw):.1f} nm"
    return text


def _valid_note(info: dict[str, Any]) -> str:
    """``"96.67% (8,700,000 of 9,000,000)"``; older dicts without ``valid_pixels``: the percentage alone."""
    total = info["height"] * info["width"]
    n = info.get("valid_pixels")
    if n is None:
        return f"{100 * info['valid_fraction']:.2f}%"
    return f"{share(n, total)} ({n:,} of {total:,})"


def _dtype_note(info: dict[str, Any]) -> str:
    """``"float32"``, or ``"int16 in the file, read as float32"`` for a file its reader decodes."""
    stored = info.get("file_dtype")
    return info["dtype"] if not stored else f"{stored} in the file, read as {info['dtype']}"


def format_summary(info: dict[str, Any]) -> str:
    """Human-readable multi-line rendering of :func:`summarize`'s dict."""
    lines = [
        f"source       {info['source']}",
        f"format       {info['format']}",
        f"size         {info['bands']} band{'s' if info['bands'] != 1 else ''} x {info['height']} rows x {info['width']} cols ({_dtype_note(info)})",
        f"wavelengths  {_wavelength_note(info)}",
        f"bad bands    {len(info['bad_bands'])}{_bad_band_note(info)}",
        f"crs          {crs_line(info)}",
    ]
    if info.get("gcps"):
        lines.append(f"gcps         {info['gcps']}, not applied: warp the file to a map grid first")
    resolution = resolution_line(info)
    if resolution:
        lines.append(resolution)
    if info.get("grid"):
        lines.append(f"resolution   {info['grid']}")
    lines.append(f"valid pixels {_valid_note(info)}")
    if info.get("nodata_in_some_bands"):
        lines.append(f"no-data      {info['nodata_in_some_bands']['note']}")
    for name, frac in info.get("masks", {}).items():
        lines.append(f"mask {name:<12} {100 * frac:.2f}% flagged")
    if "class_counts" in info:
        lines.extend(_class_lines(info))
    return "\n".join(lines)


def _class_lines(info: dict[str, Any]) -> list[str]:
    """The ``classes`` line and one line per class: labelled pixels on valid data (those a run uses), and beside
    them a class's labelled pixels on no-data, when it has some. Counts carry thousands separators, as the
    ``valid pixels`` line does (``1,234,567``)."""
    off = info.get("labelled_on_nodata", 0)
    off_note = f", {off:,} of them on no-data and not used" if off else ""
    lines = [f"classes      {len(info['class_counts'])} ({info['labelled_pixels']:,} labelled pixels{off_note})"]
    if not info["class_counts"]:
        return lines
    width = max(len(k) for k in info["class_counts"])
    off_by_class = info.get("class_counts_on_nodata", {})
    column = max(8, *(len(f"{n:,}") for n in info["class_counts"].values()))
    if off_by_class:  # the column counts pixels on data only: say so above it
        lines.append(f"  {'':<{width}}  {'on data':>{column}}")
    for name, n in info["class_counts"].items():
        line = f"  {name:<{width}}  {n:>{column},}"
        if off_by_class.get(name):
            line += f"  + {off_by_class[name]:,} on no-data, not used"
        lines.append(line)
    return lines
