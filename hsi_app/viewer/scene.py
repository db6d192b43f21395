"""Scenes in the viewer: what can be opened, how it is drawn, and one pixel's spectrum.

The scene choices are the built-in ``indian_pines`` plus the entries of the configured
scenes folder (``hsi serve --scenes DIR`` / ``HSI_SCENES``); a name is only ever looked
up in that listing, never joined to a path the user typed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import BandMismatchError, DatasetNotFoundError, InvalidDataError
from hsi_app.io.builtin import BUILTINS
from hsi_app.io.cube import DETECTOR_COORD, Cube, check_is_cube, scene_name
from hsi_app.io.quicklook import pick_rgb_bands, rgb_composite, stretch_to_uint8
from hsi_app.io.crs_names import crs_label, linear_unit
from hsi_app.viewer.map_axes import map_extent

SCENE_SUFFIXES = (".tif", ".tiff", ".mat", ".hdr", ".zip")
DISPLAY_TARGET_PX = 512
TRUE_COLOUR_NM = (640.0, 550.0, 470.0)


FOOT_UNITS = ("ft", "US ft")
"""Linear units the clicked pixel's line names after the CRS (metres, the usual unit, go unsaid)."""


SCENES_PREFIX = "scenes/"
"""How a scenes-folder entry that has a built-in's name is labelled (``scenes/indian_pines``)."""


def scene_targets(scenes_dir: str | os.PathLike[str] | None = None) -> dict[str, str | Path]:
    """Every scene the viewer offers, by label: the built-in name, or the path inside ``scenes_dir``.

    Built-ins come first, then the scenes folder's entries: files ending in .tif/.tiff/.mat/.hdr/.zip
    and sub-folders (EnMAP products), not hidden; an ENVI pair is listed once, by its ``.hdr``. An
    entry is labelled by its name, or ``scenes/NAME`` when NAME is a built-in's name, so that no two
    scenes share a label and each label opens what it names.
    """
    targets: dict[str, str | Path] = {name: name for name in BUILTINS}
    if scenes_dir is None or not Path(scenes_dir).is_dir():
        return targets
    for entry in sorted(Path(scenes_dir).iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() or entry.suffix.lower() in SCENE_SUFFIXES:
            label = SCENES_PREFIX + entry.name if entry.name in targets else entry.name
            targets[label] = Path(scenes_dir) / entry.name
    return targets


def list_scenes(scenes_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Scene labels offered by the viewer, built-ins first (see :func:`scene_targets`)."""
    return list(scene_targets(scenes_dir))


def resolve_scene(name: str, scenes_dir: str | os.PathLike[str] | None = None) -> str | Path:
    """The built-in name or the path inside ``scenes_dir`` of the scene listed as ``name``.

    Raises:
        DatasetNotFoundError: ``name`` is not in :func:`list_scenes`.
    """
    targets = scene_targets(scenes_dir)
    if name not in targets:
        raise DatasetNotFoundError(f"{name}: not a listed scene; pick one of {', '.join(targets)}")
    return targets[name]


def scene_origin(name: str) -> tuple[str, str]:
    """``("built-in", NAME)`` or ``("scenes", "scenes/ENTRY")`` for a scene listed as ``name``.

    The second item is what ``hsi detect --input`` opens when run next to the scenes folder.
    """
    if name in BUILTINS:
        return "built-in", name
    return "scenes", name if name.startswith(SCENES_PREFIX) else SCENES_PREFIX + name


def scene_record(session: Any) -> dict[str, str | None]:
    """Where the open scene of ``session`` (a :class:`~hsi_app.viewer.session.ViewerSession`) came from, as
    ``detect_metrics.json`` and ``denoise_metrics.json`` record it (never a server path).

    Returns:
        ``{"scene": display name, "scene_source": "built-in" | "scenes" | "upload", "scene_path": ...}``;
        ``scene_path`` is the built-in name (``hsi detect --input NAME`` opens it), ``scenes/NAME`` for a
        scene of ``hsi serve --scenes`` (the label of one with a built-in's name already reads so), and
        ``None`` for an upload (its server copy is temporary).
    """
    if session.upload_folder is not None:
        return {"scene": session.name, "scene_source": "upload", "scene_path": None}
    source, path = scene_origin(session.name)
    return {"scene": session.name, "scene_source": source, "scene_path": path}


def load_scene(name: str, scenes_dir: str | os.PathLike[str] | None = None) -> Cube:
    """Open a listed scene (see :func:`list_scenes`) as a Cube."""
    from hsi_app.io.open import open_cube

    return open_cube(resolve_scene(name, scenes_dir))


def describe_scene(cube: Cube, name: str | None = None) -> str:
    """A few Markdown lines: size, bands, wavelength range, CRS, labels (their class count, also without class
    names); the bands flagged bad because they hold no data at any pixel (:func:`~hsi_app.io.empty_bands.flag_empty_bands`) are named.

    ``name`` is the display name (default: the file name of the scene's source).
    """
    check_is_cube(cube, "describe_scene")
    from hsi_app.io.band_labels import band_list
    from hsi_app.io.empty_bands import empty_band_numbers

    empty = np.flatnonzero(empty_band_numbers(cube))
    no_data = (f": {band_list(cube.band.values[empty], cube.hsi.wavelengths[empty])} "
               f"{'holds' if empty.size == 1 else 'hold'} no data at any pixel") if empty.size else ""
    c, h, w = cube.hsi.shape
    wl = cube.hsi.wavelengths
    wl_text = f"{np.nanmin(wl):.0f}–{np.nanmax(wl):.0f} nm" if np.isfinite(wl).any() else "unknown wavelengths"
    crs = cube.rio.crs
    where = f"CRS {crs_label(crs)}" if crs is not None else "pixel coordinates (no CRS)"
    grid = grid_text(cube)
    if grid:
        where += f", {grid}" if crs is not None else f"; map grid without CRS: {grid}"
    names = cube.hsi.class_names
    label_map = cube.hsi.labels
    labels = ""
    if label_map is not None and names:
        labels = f", {len(names) - 1} reference classes"
    elif label_map is not None:  # a .npy / raster of class numbers: say it is there, without names
        counts = np.bincount(np.asarray(label_map).ravel())  # one pass (labels are 0..K)
        labels = f", reference labels ({np.count_nonzero(counts[1:])} classes, no names)"
    source = name or Path(scene_name(cube, "scene")).name
    return (f"**{source}**: {h} × {w} px, {c} bands ({wl_text}, {len(cube.hsi.bad_bands)} flagged bad{no_data}), "
            f"{where}{labels}")


def grid_text(cube: Cube) -> str:
    """The scene's pixel size and map extent (pixel edges), as a GIS shows them: ``"20 m pixels,
    x 500000–502900, y 4497100–4500000"``, ``"12.5 m pixels, x 500007.5–..."`` (each number to 3 significant
    digits of the pixel size, trailing zeros dropped; ``°`` and lon/lat on a geographic CRS; ``ft`` / ``US ft`` on a
    CRS in international / US survey feet (:func:`~hsi_app.viewer.map_axes.linear_unit`); map units without a CRS);
    ``"rotated map grid"`` for a rotated or sheared one; ``""`` without a map grid."""
    t = cube.hsi.transform
    if t is None:
        return ""
    if t.b or t.d:
        return "rotated map grid"
    crs = cube.rio.crs
    unit = "°" if crs is not None and crs.is_geographic else f" {linear_unit(crs) or 'map units'}"
    sx, sy = abs(float(t.a)), abs(float(t.e))
    step = min(v for v in (sx, sy) if v > 0) if (sx or sy) else 1.0
    places = max(0, min(9, 2 - math.floor(math.log10(step))))  # 3 significant digits of a pixel, any size

    def num(v: float) -> str:  # to those decimals, without trailing zeros: 12.5, 20, 500007.5, 0.0001
        text = f"{v:.{places}f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
        return "0" if text == "-0" else text

    size = num(sx) if sx == sy else f"{num(sx)} × {num(sy)}"
    left, right, bottom, top = map_extent(cube).extent
    x, y = ("lon", "lat") if unit == "°" else ("x", "y")
    return (f"{size}{unit} pixels, {x} {num(min(left, right))}–{num(max(left, right))}, "
            f"{y} {num(min(bottom, top))}–{num(max(bottom, top))}")


def band_choices(cube: Cube) -> list[tuple[str, int]]:
    """Dropdown choices ``("band 31 · 641 nm", 30)``: label and 0-based band index."""
    wl = cube.hsi.wavelengths
    bad = set(cube.hsi.bad_bands)
    out = []
    for i, v in enumerate(wl):
        label = f"band {i + 1}" + (f" · {v:.0f} nm" if np.isfinite(v) else "") + (" (bad)" if i in bad else "")
        out.append((label, i))
    return out


def default_rgb_bands(cube: Cube) -> tuple[int, int, int]:
    """Band indices nearest 640/550/470 nm (true colour), see :func:`pick_rgb_bands`."""
    check_is_cube(cube, "default_rgb_bands")
    return pick_rgb_bands(cube, TRUE_COLOUR_NM)


def composite(
    cube: Cube,
    bands: Sequence[int] | None = None,
    stretch: tuple[float, float] = (2.0, 98.0),
) -> np.ndarray:
    """RGB composite, percentile-stretched per channel over valid pixels.

    Args:
        cube: Cube ``(C, H, W)``.
        bands: three 0-based band indices (red, green, blue); ``None`` = true colour.
        stretch: lower/upper percentiles mapped to 0 and 255.

    Returns:
        ``(H, W, 3)`` uint8; invalid pixels black.
    """
    check_is_cube(cube, "composite")
    lo, hi = float(stretch[0]), float(stretch[1])
    if not 0.0 <= lo < hi <= 100.0:
        raise InvalidDataError(f"stretch {lo}–{hi} %: need 0 <= low < high <= 100")
    if bands is None:
        return rgb_composite(cube, TRUE_COLOUR_NM, (lo, hi))
    c = cube.hsi.shape[0]
    idx = [int(b) for b in bands]
    if len(idx) != 3 or min(idx) < 0 or max(idx) >= c:
        raise InvalidDataError(f"pick three bands between 1 and {c}")
    data = np.asarray(cube.isel(band=idx).values, dtype=np.float64)
    valid = np.asarray(cube.hsi.valid.values, dtype=bool) & np.all(np.isfinite(data), axis=0)
    return np.stack([stretch_to_uint8(b, valid, (lo, hi)) for b in data], axis=-1)


def display_scale(height: int, width: int, target: int = DISPLAY_TARGET_PX) -> int:
    """Integer zoom so that small scenes show at about ``target`` pixels (1 for large ones)."""
    return max(1, target // max(height, width, 1))


def zoom(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour integer zoom of an ``(H, W, ...)`` image."""
    if scale <= 1:
        return image
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def mark_pixel(image: np.ndarray, row: int, col: int, scale: int) -> np.ndarray:
    """Draw a small cross-hair (white on black) around pixel ``(row, col)`` of a zoomed image."""
    out = image.copy()
    h, w = out.shape[:2]
    r, c = row * scale + scale // 2, col * scale + scale // 2
    arm = max(4, 2 * scale)
    for colour, width in (((0, 0, 0), 1), ((255, 255, 255), 0)):
        r0, r1 = max(0, r - arm), min(h, r + arm + 1)
        c0, c1 = max(0, c - arm), min(w, c + arm + 1)
        out[max(0, r - width):min(h, r + width + 1), c0:c1, :3] = colour
        out[r0:r1, max(0, c - width):min(w, c + width + 1), :3] = colour
    return out


def pixel_from_click(index: Sequence[int], scale: int, shape: tuple[int, int]) -> tuple[int, int]:
    """``(row, col)`` of the scene pixel under a click at image position ``index = [x, y]``.

    Raises:
        InvalidDataError: the click is outside the scene.
    """
    try:
        x, y = int(index[0]), int(index[1])
    except (TypeError, ValueError, OverflowError, IndexError):
        raise InvalidDataError("the click did not say which pixel: click inside the scene image") from None
    row, col = y // max(scale, 1), x // max(scale, 1)
    if not (0 <= row < shape[0] and 0 <= col < shape[1]):
        raise InvalidDataError(f"pixel ({row}, {col}) is outside the {shape[0]} × {shape[1]} scene")
    return row, col


def coordinate_decimals(transform: Any) -> int:
    """Decimals that resolve a tenth of a pixel of ``transform`` (2 for metres, 5 for 0.001 degree)."""
    from hsi_app.io.summary import pixel_sides

    side = min(pixel_sides(transform)) if transform is not None else 1.0
    return int(min(9, max(2, math.ceil(-math.log10(side)) + 2))) if side > 0 else 2


def pixel_location(cube: Cube, row: int, col: int) -> dict[str, Any]:
    """Pixel and map coordinates of ``(row, col)``.

    Returns:
        ``{"row", "col", "x", "y", "crs", "decimals", "unit"}``; ``x``/``y`` are the pixel-centre map
        coordinates (``None`` when the scene has no map grid), ``crs`` ``None`` when it has
        none, ``decimals`` what resolves a tenth of its pixel, and ``unit`` ``"ft"`` / ``"US ft"`` for
        a CRS in feet (:data:`FOOT_UNITS`; ``None`` otherwise: metres, degrees and pixels go unsaid).
    """
    check_is_cube(cube, "pixel_location")
    for name, v in (("row", row), ("col", col)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer, float, np.floating)) \
                or not float(v).is_integer():
            raise InvalidDataError(f"{name} {v!r}: a pixel is picked by whole row and column numbers (0-based); "
                                   f"pass int({name}) to take the pixel a map position falls in")
    _, h, w = cube.hsi.shape
    if not (0 <= row < h and 0 <= col < w):
        raise InvalidDataError(f"pixel ({row}, {col}) is outside the {h} × {w} scene")
    transform, crs = cube.hsi.transform, cube.rio.crs
    if transform is None:
        return {"row": int(row), "col": int(col), "x": None, "y": None, "crs": None, "decimals": 2}
    x, y = cube.hsi.map_coords(row, col)
    unit = linear_unit(crs)
    return {"row": int(row), "col": int(col), "x": float(x), "y": float(y),
            "crs": crs_label(crs) if crs is not None else None, "decimals": coordinate_decimals(transform),
            "unit": unit if unit in FOOT_UNITS else None}


def format_location(loc: Mapping[str, Any]) -> str:
    """One line: ``row 10, col 20 · x 500010.00, y 4199990.00 (EPSG:32633)``; a CRS in feet says so:
    ``x 987654.50, y 201234.50 (EPSG:2263, US ft)``."""
    text = f"row {loc['row']}, col {loc['col']}"
    if loc.get("x") is not None:
        d = int(loc.get("decimals", 2))
        unit = f", {loc['unit']}" if loc.get("unit") else ""
        text += f" · x {loc['x']:.{d}f}, y {loc['y']:.{d}f} ({loc.get('crs') or 'no CRS'}{unit})"
    return text


NO_DATA = "no data"
"""What the pixel text and spectrum title say of a pixel outside the scene's valid mask."""


def pixel_spectrum(cube: Cube, row: int, col: int) -> np.ndarray:
    """``(C,)`` float64 values of one pixel (only that pixel is read); ``row``/``col`` whole numbers (a fractional
    one is refused: it was cut down to the pixel before it without a word)."""
    pixel_location(cube, row, col)
    return np.asarray(cube.isel(y=int(row), x=int(col)).values, dtype=np.float64)


def pixel_has_data(cube: Cube, row: int, col: int) -> bool:
    """True when ``(row, col)`` is in the scene's valid-pixel mask (no no-data value, no NaN)."""
    pixel_location(cube, row, col)
    return bool(cube.hsi.valid.isel(y=int(row), x=int(col)).values)


def describe_pixel(cube: Cube, row: int, col: int) -> str:
    """The pixel line the viewer shows: its location, and ``· no data`` for a no-data pixel."""
    text = format_location(pixel_location(cube, row, col))
    return text if pixel_has_data(cube, row, col) else f"{text} · {NO_DATA}"


def spectrum_figure(
    cube: Cube,
    row: int,
    col: int,
    *,
    extra: Mapping[str, np.ndarray] | None = None,
    title: str | None = None,
) -> Any:
    """Matplotlib figure of the spectrum at ``(row, col)`` against wavelength.

    Bad bands are drawn as grey points over grey shading; good bands as a line (one per
    detector when the cube has a ``detector`` coordinate: :func:`detector_segments`). A no-data
    pixel draws no line (its stored values, e.g. -9999, are not a spectrum): the axes say
    "no data" and the title ends with ``· no data``.

    Args:
        cube: Cube ``(C, H, W)``.
        row, col: pixel.
        extra: more ``(C,)`` spectra to draw on the same axes (e.g. ``{"denoised": ...}``).
        title: axes title (default: :func:`describe_pixel`).

    Returns:
        A ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state).
    """
    check_is_cube(cube, "spectrum_figure")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wl = cube.hsi.wavelengths
    known = bool(np.isfinite(wl).all())
    xs = wl if known else np.arange(1, wl.size + 1, dtype=np.float64)
    bad = np.zeros(xs.size, dtype=bool)
    bad[cube.hsi.bad_bands] = True
    fig = Figure(figsize=(6.4, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    half = np.median(np.diff(np.sort(xs))) / 2 if xs.size > 1 else 0.5
    for x in xs[bad]:
        ax.axvspan(x - half, x + half, color="0.88", lw=0)
    if pixel_has_data(cube, row, col):
        _plot_spectra(ax, xs, bad, pixel_spectrum(cube, row, col), extra or {}, band_detectors(cube))
    else:
        ax.text(0.5, 0.5, NO_DATA, transform=ax.transAxes, ha="center", va="center", color="0.4")
    ax.set_xlabel("wavelength (nm)" if known else "band")
    ax.set_ylabel("value")
    ax.set_title(title or describe_pixel(cube, row, col), fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _plot_spectra(ax: Any, xs: np.ndarray, bad: np.ndarray, values: np.ndarray,
                  extra: Mapping[str, np.ndarray], detectors: np.ndarray | None = None) -> None:
    """Draw a pixel's ``(C,)`` spectrum (bad bands as grey points) and the ``extra`` spectra, with a legend.

    Each line is drawn per segment of :func:`detector_segments`: per detector when ``detectors``
    (``(C,)`` labels) are known, so the VNIR/SWIR overlap of an EnMAP scene shows two curves
    instead of a zig-zag between the detectors' interleaved bands at 900-1000 nm.
    """
    segments = detector_segments(xs, detectors)
    _plot_segments(ax, xs, np.where(bad, np.nan, values), segments, color="tab:blue", lw=1.4, label="spectrum")
    if bad.any():
        ax.plot(xs[bad], values[bad], "o", ms=2.5, color="0.55", label="bad bands")
    for i, (name, spec) in enumerate(extra.items()):
        s = np.asarray(spec, dtype=np.float64).reshape(-1)
        _plot_segments(ax, xs, np.where(bad, np.nan, s), segments, color=f"C{i + 1}", lw=1.2, label=name)
    ax.legend(fontsize="x-small", loc="best")


def band_detectors(cube: Cube) -> np.ndarray | None:
    """``(C,)`` str detector of each band (the cube's ``detector`` coordinate), or None when not known."""
    coord = cube.coords.get(DETECTOR_COORD)
    if coord is None or coord.dims != ("band",):
        return None
    return np.asarray(coord.values).astype(str)


def detector_segments(xs: np.ndarray, detectors: np.ndarray | None = None) -> list[np.ndarray]:
    """The bands to draw as one line each: index arrays into ``xs`` (C,), each in increasing ``xs``.

    With ``detectors`` (``(C,)`` labels, e.g. ``"VNIR"``/``"SWIR"``): one segment per detector, in
    the order the detectors first appear, holding that detector's bands sorted by wavelength
    (stable). An EnMAP L2A product numbers its bands in increasing wavelength, so its VNIR and
    SWIR bands interleave at 900-1000 nm; drawn per detector they are two overlapping curves.

    Without them: the bands in file order, split wherever the next band's wavelength is below
    the previous one. A file in detector order (all VNIR bands, then all SWIR) gives one segment
    per detector; bands numbered in increasing wavelength give one segment.
    """
    xs = np.asarray(xs, dtype=np.float64)
    if detectors is not None:
        det = np.asarray(detectors).reshape(-1)
        if det.size != xs.size:
            raise BandMismatchError(f"detector_segments: {det.size} detector labels for {xs.size} bands; "
                                    "pass one label per band")
        _, first = np.unique(det, return_index=True)
        groups = [np.flatnonzero(det == det[i]) for i in np.sort(first)]
        return [g[np.argsort(xs[g], kind="stable")] for g in groups]
    starts = [0, *(np.flatnonzero(np.diff(xs) < 0) + 1).tolist(), len(xs)]
    return [np.arange(a, b) for a, b in pairwise(starts) if b > a]


def _plot_segments(ax: Any, xs: np.ndarray, ys: np.ndarray, segments: list[np.ndarray], *, color: str, lw: float,
                   label: str) -> None:
    """One line per segment in one colour; only the first carries the legend ``label``."""
    for k, seg in enumerate(segments):
        ax.plot(xs[seg], ys[seg], color=color, lw=lw, label=label if k == 0 else "_nolegend_")
