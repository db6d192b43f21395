"""Label rasters for a cube, from any of the supported label formats.

:func:`read_labels` recognises the format from the file's first bytes (the extension
is only a fallback for vector formats without a signature):

=====================  ===============================================================
format                 what is read
=====================  ===============================================================
NumPy ``.npy``         the array (``allow_pickle=False``)
MATLAB v5 ``.mat``     the single 2-D numeric array, or ``key``
MATLAB v7.3 ``.mat``   likewise through h5py; MATLAB stores arrays column-major, so
                       an ``(H, W)`` array appears as ``(W, H)`` and is transposed back
GeoTIFF                band 1; pixels equal to the file's nodata (NaN included) become 0;
                       a raster on the cube's grid with another extent is cut to the cube
vector (GPKG, SHP...)  rasterised onto the cube grid (:mod:`hsi_app.io.vector`)
=====================  ===============================================================

The result is checked against the cube grid (:func:`hsi_app.io.cube.check_labels`):
``(H, W)`` int32, 0 = unlabelled.
"""

from __future__ import annotations

import os
import shlex
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, DatasetNotFoundError, HSIWarning, LabelError, UnknownKeyError
from hsi_app.io.cube import Cube, check_labels, class_name_key, has_map_grid
from hsi_app.io.geotiff import TIFF_ONLY
from hsi_app.io.split_numbering import (  # noqa: F401  (re-exported: callers import them from here)
    SPLIT_AGREEMENT_MIN,
    SPLIT_CLASS_MIN_PIXELS,
    check_split_numbering,
    split_numbering_errors,
)

NPY_MAGIC = b"\x93NUMPY"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
SQLITE_MAGIC = b"SQLite format 3\x00"
SHP_MAGIC = b"\x00\x00\x27\x0a"
VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".kml", ".zip"}
# MATLAB classes that hold numbers (skip cell, struct, char, function handles).
_MATLAB_NUMERIC = {
    "double", "single", "logical", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
}


LABEL_KEY_FIX = "name the array with label_key= in Python"
"""The fix naming a ``.mat`` labels variable where the command has no option for it (train, finetune, info)."""
EVALUATE_KEY_FIX = "pass --key NAME with one of them (key= in Python)"
"""The same fix for ``hsi evaluate`` / ``evaluate_map``, whose ``--key`` / ``key=`` names the reference variable."""


def sniff_label_format(path: Path) -> str:
    """``"npy"``, ``"mat5"``, ``"mat73"``, ``"tiff"``, ``"vector"`` from the file content.

    Raises:
        LabelError: the content matches no supported label format.
    """
    with open(path, "rb") as fh:
        head = fh.read(528)
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head[512:520] == HDF5_MAGIC or head.startswith(HDF5_MAGIC):
        return "mat73"
    if head.startswith(b"MATLAB"):
        return "mat5"
    if head[:4] in TIFF_MAGICS:
        return "tiff"
    if head.startswith(SQLITE_MAGIC) or head.startswith(SHP_MAGIC) or head.lstrip()[:1] in (b"{", b"<"):
        return "vector"
    if path.suffix.lower() in VECTOR_SUFFIXES:
        return "vector"
    if path.suffix.lower() in (".npy", ".mat", ".tif", ".tiff"):
        raise LabelError(f"{path}: not a valid {path.suffix.lower()} file (its header is missing or damaged); "
                         "re-export the labels")
    if path.suffix.lower() in TABLE_SUFFIXES and (path.suffix.lower() != ".txt" or len(_header(head)[0]) > 1):
        raise LabelError(_table_fix(path, head))
    raise LabelError(
        f"{path}: unrecognised label format; use .npy, .mat, GeoTIFF, GeoPackage or Shapefile"
    )


TABLE_SUFFIXES = {".csv", ".tsv", ".txt"}
"""Text tables: points as coordinate columns, with no CRS a reader could place them by (a ``.txt`` counts
when its first line has several columns)."""
_X_NAMES = ("x", "lon", "long", "longitude", "easting", "east")
_Y_NAMES = ("y", "lat", "latitude", "northing", "north")


def _header(head: bytes) -> tuple[list[str], list[str]]:
    """The column names of a text table's first line (comma, semicolon or tab separated), as given and lower-case."""
    lines = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()
    line = lines[0] if lines else ""  # an empty file, or one holding only a byte-order mark
    sep = "\t" if "\t" in line else ";" if line.count(";") > line.count(",") else ","
    cols = [c.strip().strip('"') for c in line.split(sep)]
    return cols, [c.lower() for c in cols]


def _table_fix(path: Path, head: bytes) -> str:
    """The refusal of a CSV/text table of points: it has no CRS, so the fix is a GeoPackage made in the points' CRS.

    The ``ogr2ogr`` line names the table's coordinate columns when its header has them (``x``/``lon``/``easting``...,
    any case) and ``EPSG:4326`` when they are called longitude/latitude; otherwise ``EPSG:XXXX`` to fill in.
    """
    cols, lower = _header(head)
    x = next((cols[lower.index(n)] for n in _X_NAMES if n in lower), "x")
    y = next((cols[lower.index(n)] for n in _Y_NAMES if n in lower), "y")
    crs = "EPSG:4326" if x.lower().startswith("lon") and y.lower().startswith("lat") else "EPSG:XXXX"
    out = shlex.quote(str(path.with_suffix(".gpkg")))  # full paths: the line works from any folder
    return (f"{path}: a text table has no CRS, so its points cannot be placed on the scene; make it a GeoPackage in "
            f"the points' CRS and pass that: ogr2ogr -a_srs {crs} -oo X_POSSIBLE_NAMES={x} -oo Y_POSSIBLE_NAMES={y} "
            f"{out} {shlex.quote(str(path))}")


def read_labels(
    path: str | os.PathLike[str],
    like: Cube,
    *,
    key: str | None = None,
    attribute: str = "class",
    layer: str | None = None,
    name_key: str = LABEL_KEY_FIX,
) -> tuple[np.ndarray, list[str] | None]:
    """Read labels for ``like`` from a raster or vector file.

    Args:
        path: label file (see the module docstring for the formats).
        like: the Cube the labels belong to (grid, CRS, transform).
        key: ``.mat`` variable name when the file holds several 2-D arrays.
        attribute: class column for vector files.
        layer: layer of a vector file with several layers (such a file is refused without it).
        name_key: how the caller names a ``.mat`` variable, for the fix of a ``.mat`` refused for
            its variables (``hsi evaluate``: its ``--key`` option).

    Returns:
        ``(labels, class_names)``: ``(H, W)`` int32 (0 = unlabelled) and names for
        0..K when the file carries them (GeoTIFF ``CLASS_NAMES`` tag, text classes in
        vector files), else ``None``.

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        UnknownKeyError: ``key`` is not in the ``.mat`` file.
        ConfigError: ``key`` given for a file that is not a ``.mat``.
        LabelError: unreadable, ambiguous, or not on the cube's grid.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: label file not found; check the path")
    if path.is_dir():
        raise LabelError(f"{path}: is a folder; pass a label file (.npy, .mat, GeoTIFF, GeoPackage or Shapefile)")
    _, h, w = like.hsi.shape
    kind = sniff_label_format(path)
    if key is not None and kind not in ("mat5", "mat73"):  # an option the read would ignore is refused
        option = "--key" if name_key == EVALUATE_KEY_FIX else "label_key="
        raise ConfigError(f"{option} {key}: {path} is not a .mat file, so it has no variables to choose from; "
                          "drop it")
    names: list[str] | None = None
    if kind == "vector":
        from hsi_app.io.vector import read_vector_labels

        labels, names = read_vector_labels(path, like, attribute=attribute, layer=layer)
    elif kind == "npy":
        labels = _read_npy(path)
    elif kind == "tiff":
        labels, names = _read_tiff(path, like)
    else:
        labels = _read_mat(path, kind, key, (h, w), name_key)
    labels = np.asarray(labels)
    if labels.ndim == 3 and 1 in labels.shape:
        labels = labels.squeeze()
    return check_labels(labels, (h, w), str(path), _grid_name(like) or "the cube"), names


def _grid_name(like: Cube) -> str | None:
    """What receives the labels, for messages (``"the map map.tif"`` in ``hsi evaluate``); None: the scene."""
    from hsi_app.io.vector import GRID_NAME_ATTR

    name = like.attrs.get(GRID_NAME_ATTR)
    return str(name) if name else None


def read_split_labels(
    cube: Cube, paths: tuple[str | os.PathLike[str] | None, ...], *, attribute: str = "class",
    layer: str | None = None, labels_from: str | os.PathLike[str] | None = None,
    to_base: np.ndarray | Callable[[], np.ndarray | None] | None = None,
) -> tuple[Cube, list[np.ndarray | None]]:
    """Read ``--train-labels`` / ``--test-labels`` files for ``cube`` on one class numbering.

    A vector file with text classes numbers its own names (sorted), so a training file and a
    test file, each holding a different subset of the classes, would give one name two ids.
    Every file that carries names is renumbered onto one list: the cube's class names first
    (its own labels), then names only these files have; names equal but for case and spacing
    are one class (the first spelling is kept). Files without names keep their ids. When
    every path is given (training and test maps), the scene's own labels are dropped: the
    files replace them, and their ids would otherwise count as classes.

    Args:
        cube: the scene (its ``class_names``, if any, lead the list).
        paths: label files, ``None`` entries kept as ``None``.
        attribute: class column of vector files.
        layer: layer of vector files with several layers.
        labels_from: the ``--labels`` file the cube's labels came from, if one was given: the files
            without class names (a replayed split's ``.npy`` maps) are then checked, together, to be
            on its numbering (:func:`~hsi_app.io.split_numbering.check_split_numbering`).
        to_base: ``hsi finetune``'s label id -> base id table (its ``ClassPlan.table``): files without
            names on the base's numbering (a fine-tune's own split) are renumbered onto
            ``labels_from``'s ids with it. A callable giving it (or ``None``) is called only when those
            files are not on ``labels_from``'s numbering.

    Returns:
        ``(cube, maps)``: the cube with the shared names as its ``class_names`` (unchanged when
        no file carries names) and the ``(H, W)`` maps on that numbering.

    Raises:
        LabelError: as :func:`read_labels`, or a file without names on another numbering than
        ``labels_from``.
    """
    read = [read_labels(p, cube, attribute=attribute, layer=layer) if p else None for p in paths]
    own = cube.hsi.labels
    plain = [i for i, r in enumerate(read) if r is not None and r[1] is None]
    if labels_from is not None and own is not None and plain:  # the training and test maps judged together
        fixed = check_split_numbering(own, labels_from, [read[i][0] for i in plain],  # type: ignore[index]
                                      [str(paths[i]) for i in plain], label_names=cube.hsi.class_names, to_base=to_base)
        for i, m in zip(plain, fixed, strict=True):
            read[i] = (m, None)
    if read and all(r is not None for r in read) and "label" in cube.coords:
        cube = cube.drop_vars("label")  # the files replace the scene's own labels (their ids would count too)
    named = [r for r in read if r is not None and r[1] is not None]
    if not named:
        return cube, [r[0] if r is not None else None for r in read]
    shared = list(cube.hsi.class_names or ["unlabelled"])
    index = {class_name_key(n): i for i, n in reversed(list(enumerate(shared)))}  # the first spelling wins
    for _, names in named:
        for n in names[1:]:
            if class_name_key(n) not in index:
                index[class_name_key(n)] = len(shared)
                shared.append(n)
    maps: list[np.ndarray | None] = []
    for r in read:
        if r is None or r[1] is None:
            maps.append(None if r is None else r[0])
            continue
        table = np.array([0] + [index[class_name_key(n)] for n in r[1][1:]], dtype=np.int32)
        maps.append(table[r[0]])
    out = cube.copy(deep=False)
    out.attrs = {**cube.attrs, "class_names": shared}
    return out, maps


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        raise LabelError(f"{path}: not a plain numeric .npy array ({err}); save labels with np.save") from err


def _read_tiff(path: Path, like: Cube) -> tuple[np.ndarray, list[str] | None]:
    """Band 1 of a label GeoTIFF on ``like``'s pixels, and its class names (``CLASS_NAMES`` tag).

    A raster on the cube's grid (same CRS, pixel axes, origin a whole number of pixels away)
    but with another extent is read through the window they share (0 outside it).

    Raises:
        LabelError: unreadable, or on another grid (one line: what differs and the fix).
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from hsi_app.io.cog import CLASS_NAMES_TAG, parse_class_names_tag

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, driver=TIFF_ONLY) as ds:
                band = ds.read(1)
                nodata, crs, transform = ds.nodata, ds.crs, ds.transform
                names_json = ds.tags().get(CLASS_NAMES_TAG)
    except RasterioIOError as err:
        raise LabelError(f"{path}: not a readable GeoTIFF ({err}); re-export the label raster") from err
    band = nodata_to_zero(band, nodata)
    cube_crs, cube_t = like.rio.crs, like.hsi.transform
    name = _grid_name(like)  # what receives the labels: "the map MAP.tif" in hsi evaluate, None for the scene
    both_gridded_without_crs = crs is None and cube_crs is None and has_map_grid(None, transform) and cube_t is not None
    if (crs is not None and cube_crs is not None) or both_gridded_without_crs:  # (no CRS: the grids still compare)
        differs = grid_difference(crs, transform, cube_crs, cube_t, whole_pixels=True,
                                  whose="the map's" if name else "the scene's")
        if differs:
            same_crs = transform if crs == cube_crs else None  # pixel sizes compare in one CRS's units only
            on = f"the grid of {name}" if name else "the cube's grid"
            raise LabelError(f"{path}: the label raster is not on {on}: {differs}; "
                             f"{_resample_fix(cube_crs, cube_t, like.hsi.shape[1:], name, path, same_crs)}")
        col, row = (round(v) for v in origin_offset(transform, cube_t))
        if (col, row) != (0, 0) or band.shape != like.hsi.shape[1:]:
            band = _scene_window(band, col, row, like.hsi.shape[1:], path, name)
    elif (crs is None) != (cube_crs is None):  # only the size can be checked: say what is assumed
        lacking = "the label raster" if crs is None else name or f"the scene {like.attrs.get('source') or ''}".rstrip()
        warnings.warn(f"{path}: {lacking} has no CRS, so its grid cannot be checked; its pixels are taken as those "
                      f"of {name or 'the scene'}, row for row", HSIWarning, stacklevel=2)
    return band, parse_class_names_tag(names_json, path)


def _scene_window(band: np.ndarray, col: int, row: int, shape: tuple[int, int], path: Path,
                  name: str | None = None) -> np.ndarray:
    """The ``(H, W)`` scene pixels of a label band ``(h, w)`` on the scene's grid whose first pixel is
    scene pixel ``(row, col)``: its values where they overlap, 0 (unlabelled) elsewhere. ``name``: what receives
    the labels when it is not the scene (``"the map map.tif"``, :func:`_grid_name`), for the messages.

    Warns (one :class:`HSIWarning`) when labelled pixels of the band fall outside the scene.

    Raises:
        LabelError: the band and the scene do not overlap at all.
    """
    who = name or "the cube"
    h, w = shape
    r0, r1 = max(0, row), min(h, row + band.shape[0])  # scene rows covered
    c0, c1 = max(0, col), min(w, col + band.shape[1])
    if r0 >= r1 or c0 >= c1:
        raise LabelError(f"{path}: the label raster is on the grid of {who} but does not overlap it (its first pixel "
                         f"is column {col}, row {row} of {who}, which is {w} x {h} px); pass labels that cover it")
    out = np.zeros((h, w), dtype=band.dtype)
    part = band[r0 - row : r1 - row, c0 - col : c1 - col]
    out[r0:r1, c0:c1] = part
    outside = int(np.count_nonzero(band)) - int(np.count_nonzero(part))
    if outside:
        warnings.warn(f"{path}: on the grid of {who} with another extent ({band.shape[1]} x {band.shape[0]} px from "
                      f"its column {col}, row {row}); {outside} of its {int(np.count_nonzero(band))} labelled "
                      f"pixels fall outside {who} and are left out", HSIWarning, stacklevel=3)
    return out


def origin_offset(transform: Any, scene_transform: Any) -> tuple[float, float]:
    """``(col, row)``: where a raster's first pixel corner lies in the scene's pixel coordinates."""
    inv = ~scene_transform
    return inv.a * transform.c + inv.b * transform.f + inv.c, inv.d * transform.c + inv.e * transform.f + inv.f


def grid_difference(crs: Any, transform: Any, scene_crs: Any, scene_transform: Any, *, whole_pixels: bool = False,
                    whose: str = "the scene's") -> str:
    """What keeps a raster's grid off the scene's (``""``: the same grid); ``whose`` names the other grid
    (``"the map's"`` in ``hsi evaluate``).

    The same grid: the same CRS, the same pixel size and axes (within 1e-6 of the pixel size) and
    origins less than 1e-3 pixel apart (float noise in a GeoTIFF's tie point), or, with
    ``whole_pixels``, a whole number of pixels apart within that tolerance (the same grid, another
    extent). Otherwise the first difference found: the CRSs, the pixel sizes (``hypot`` of the
    affine's columns, :func:`~hsi_app.io.summary.pixel_sides`), the rotations, flipped or sheared
    axes, or the offset of the raster's origin in scene pixels.
    """
    from hsi_app.io.summary import grid_rotation, pixel_sides

    if crs != scene_crs:
        return f"its CRS is {_crs_name(crs)}, {whose} {_crs_name(scene_crs)}"
    a, s = tuple(transform)[:6], tuple(scene_transform)[:6]
    size = max(abs(s[0]), abs(s[1]), abs(s[3]), abs(s[4]))
    if any(abs(a[i] - s[i]) > 1e-6 * size for i in (0, 1, 3, 4)):
        sides, scene_sides = pixel_sides(transform), pixel_sides(scene_transform)
        if any(abs(x - y) > 1e-6 * size for x, y in zip(sides, scene_sides)):
            mine, theirs = _two_sizes(sides, scene_sides)
            return f"its pixels are {mine}, {whose} {theirs}"
        turn, scene_turn = grid_rotation(transform) or 0.0, grid_rotation(scene_transform) or 0.0
        if abs(turn - scene_turn) > 1e-6:
            return f"its grid is rotated by {turn:.6g} degrees, {whose} by {scene_turn:.6g}"
        return (f"its axes are flipped or sheared against {whose} (pixel steps {a[0]:g}, {a[1]:g}, {a[3]:g}, "
                f"{a[4]:g}; {whose} {s[0]:g}, {s[1]:g}, {s[3]:g}, {s[4]:g})")
    col, row = origin_offset(transform, scene_transform)
    off_col, off_row = (col - round(col), row - round(row)) if whole_pixels else (col, row)
    if max(abs(off_col), abs(off_row)) < 1e-3:
        return ""
    return f"shifted by {_px(col)}, {_px(row)} pixels (columns, rows)"


def _two_sizes(sides: tuple[float, float], scene_sides: tuple[float, float]) -> tuple[str, str]:
    """``"30.0003 x 30.0003"``, ``"30 x 30"``: two pixel sizes printed with the digits that tell them apart."""
    for digits in (6, 9, 12, 15):
        mine = f"{sides[0]:.{digits}g} x {sides[1]:.{digits}g}"
        theirs = f"{scene_sides[0]:.{digits}g} x {scene_sides[1]:.{digits}g}"
        if mine != theirs:
            break
    return mine, theirs


def _px(v: float) -> str:
    return f"{v:.2f}" if abs(v) >= 0.005 or v == 0 else f"{v:.1e}"


def _crs_name(crs: Any) -> str:
    return "none" if crs is None else str(crs.to_string() if hasattr(crs, "to_string") else crs)


def _resample_fix(crs: Any, transform: Any, shape: tuple[int, int], grid: str | None = None,
                  path: Path | None = None, label_transform: Any = None) -> str:
    """The fix for a label raster off the scene's grid.

    A north-up scene: a gdalwarp line onto its grid (CRS, pixel size, bounds) from the label file ``path``
    into ``<stem>_on_grid.tif`` beside it, or vector labels. Labels in finer pixels than the scene's (the label
    raster's ``label_transform`` in the same CRS) are resampled with ``-r mode``, the class most of the
    pixel's area holds (``near`` keeps whichever fine pixel sits nearest each centre, so fields lose or gain
    edge pixels by where the two grids happen to fall); others with ``-r near``. A rotated or sheared scene:
    vector labels, or a raster written with the scene's transform (``gdalwarp -te/-tr`` makes north-up
    grids, which cannot match it).
    """
    onto = f"the grid of {grid}" if grid else "the scene's grid"
    if transform.b or transform.d:
        raster = f"the transform of {grid}" if grid else "the scene's transform (cube.hsi.transform)"
        return (f"{onto} is rotated or sheared, which gdalwarp -te/-tr cannot make (its grids are north-up): use "
                f"vector labels, or write the label raster with {raster}")
    h, w = shape
    t = transform
    xs = [t.a * c + t.b * r + t.c for c in (0, w) for r in (0, h)]
    ys = [t.d * c + t.e * r + t.f for c in (0, w) for r in (0, h)]
    srs = f"-t_srs {_crs_name(crs)} " if crs is not None else ""
    method = "near"
    if label_transform is not None:
        from hsi_app.io.summary import pixel_sides

        fine, coarse = pixel_sides(label_transform), pixel_sides(transform)
        if fine[0] * fine[1] < 0.5 * coarse[0] * coarse[1]:
            method = "mode"
    src = shlex.quote(str(path)) if path is not None else "labels.tif"  # full paths: the line works from any folder
    dst = shlex.quote(str(path.with_name(f"{path.stem}_on_grid.tif"))) if path is not None else "on_grid.tif"
    return (f"resample it onto {onto}, e.g. gdalwarp {srs}-tr {abs(transform.a):g} {abs(transform.e):g} "
            f"-te {min(xs):.10g} {min(ys):.10g} {max(xs):.10g} {max(ys):.10g} -r {method} {src} {dst}, "
            "or use vector labels")


def nodata_to_zero(band: np.ndarray, nodata: float | None) -> np.ndarray:
    """A label band ``(H, W)`` with its no-data pixels as 0 (unlabelled); a NaN nodata matches the NaN pixels."""
    if nodata is None or nodata == 0:
        return band
    if np.isnan(nodata):
        return np.where(np.isnan(band), 0, band) if band.dtype.kind == "f" else band
    return np.where(band == nodata, 0, band)


def _read_mat(path: Path, kind: str, key: str | None, shape: tuple[int, int], name_key: str = LABEL_KEY_FIX) -> np.ndarray:
    arrays = _mat73_arrays(path) if kind == "mat73" else _mat5_arrays(path)
    if key is not None:
        if key not in arrays:
            raise UnknownKeyError(
                f"{path}: no variable {key!r}; keys found: {', '.join(sorted(arrays)) or 'none'}; save the labels alone as .npy or GeoTIFF, or {name_key}"
            )
        return arrays[key]()
    two_d = {k: v for k, v in arrays.items() if len(v.shape) == 2}
    if not two_d:
        raise LabelError(
            f"{path}: no 2-D array; keys found: {', '.join(sorted(arrays)) or 'none'}; save the labels alone as .npy or GeoTIFF, or {name_key}"
        )
    if len(two_d) > 1:
        matching = {k: v for k, v in two_d.items() if v.shape == tuple(shape)}
        if len(matching) == 1:
            two_d = matching
        else:
            raise LabelError(
                f"{path}: several 2-D arrays ({', '.join(sorted(two_d))}); save the labels alone as .npy or GeoTIFF, or {name_key}"
            )
    return next(iter(two_d.values()))()


class _Lazy:
    """A ``.mat`` variable: its (row-major) shape now, its values on call."""

    def __init__(self, shape: tuple[int, ...], load: Any) -> None:
        self.shape = shape
        self._load = load

    def __call__(self) -> np.ndarray:
        return np.asarray(self._load())


def _mat5_arrays(path: Path) -> dict[str, _Lazy]:
    from scipy.io import loadmat

    try:
        content = loadmat(path)
    except (ValueError, TypeError, OSError, NotImplementedError) as err:
        raise LabelError(f"{path}: not a readable MATLAB file ({err}); save it again with MATLAB") from err
    out: dict[str, _Lazy] = {}
    for name, value in content.items():
        if name.startswith("__") or not isinstance(value, np.ndarray) or value.dtype.kind not in "iubf":
            continue
        out[name] = _Lazy(value.shape, lambda v=value: v)
    return out


def _mat73_arrays(path: Path) -> dict[str, _Lazy]:
    import h5py

    from hsi_app.io.mat import open_hdf5

    fh = open_hdf5(path)
    out: dict[str, _Lazy] = {}
    with fh:
        for name, obj in fh.items():
            if name.startswith("#") or not isinstance(obj, h5py.Dataset):
                continue
            mclass = obj.attrs.get("MATLAB_class", b"double")
            mclass = mclass.decode() if isinstance(mclass, bytes) else str(mclass)
            if mclass not in _MATLAB_NUMERIC or obj.dtype.kind not in "iubf":
                continue
            # Column-major storage: MATLAB (H, W) is stored as (W, H); transpose back.
            out[name] = _Lazy(tuple(reversed(obj.shape)), lambda n=name: _load_h5(path, n))
    return out


def _load_h5(path: Path, name: str) -> np.ndarray:
    from hsi_app.io.mat import open_hdf5

    with open_hdf5(path) as fh:
        return np.asarray(fh[name][()]).T
