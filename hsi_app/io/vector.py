"""Vector I/O: detections to GeoPackage, and vector training labels rasterised on a cube grid.

Labels drawn in a GIS (GeoPackage, Shapefile, GeoJSON...) as polygons, lines or points
become an ``(H, W)`` int32 label raster on the cube's grid:

* polygons burn the pixels whose centre is inside them; a polygon that covers no pixel
  centre (smaller than a pixel) burns the pixel holding its representative point, like a
  point, unless a polygon of a class covers that pixel's centre (a warning counts them);
  points burn the pixel that contains them; lines burn a one-pixel path (GDAL's default, not
  ``all_touched``): for each segment, the Bresenham line from the pixel holding one vertex to
  the pixel holding the next, one pixel in each column it spans (each row when steeper than
  45 degrees). So a diagonal line misses some pixels it crosses, and may take a neighbour of
  a pixel it crosses instead;
* a pixel burnt by features of two or more classes is left unlabelled, with a warning
  counting such pixels (same-class overlaps are fine), so the drawing order never matters;
* the class comes from an integer attribute (used as is, 0..255) or from a text attribute
  (sorted unique names become classes 1..K, or the positions of the names in ``class_names``
  when given); text holding whole numbers only (``"3"``) is read as ids, unless every value is
  one of the ``class_names`` given or some value is above 255 (codes such as CORINE's
  ``"311"``): those are names. An empty or blank text (how a Shapefile stores a missing value)
  is a missing class, refused like a null;
* a Shapefile without ``.cpg`` whose attributes are valid UTF-8 (with some non-ASCII byte) is
  read as UTF-8, with one warning naming the file and how to force another reading (a ``.cpg``);
  GDAL would read it as ISO-8859-1 and garble accented class names;
* features of class 0, or named ``unlabelled`` (case and spacing ignored), are an exclusion
  mask: their pixels are unlabelled whatever else covers them, and ``unlabelled`` never
  becomes a class of its own;
* layers in another CRS are reprojected to the cube's CRS. On a geographic grid a part of a feature
  labels the pixels its stated coordinates cover and, besides, those its copies a whole turn of
  longitude away cover: on a grid across the antimeridian (longitudes 179.9 to 180.1, or a 0..360
  grid) labels drawn in -180..180 (-179.95 for 180.05, split at 180 as GeoJSON is, or across
  Greenwich on a 0..360 grid) label the pixels they cover. A part reprojected from a CRS continuous
  across 180 degrees (polar stereographic, PDC Mercator) that comes back spanning over half a turn
  has its vertices taken whole turns towards the grid's centre first. A layer without CRS is only
  accepted on a cube without CRS, where its coordinates are the cube's own: those of its
  map transform when it has one (a file with a transform but no CRS, as its outputs are
  written), else pixel coordinates (x = column, y = row, origin at the top-left corner).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import DatasetNotFoundError, HSIWarning, InvalidDataError, LabelError
from hsi_app.io.atomic import atomic_path
from hsi_app.io.cube import MAX_CLASS_ID, Cube, class_name_key

GRID_NAME_ATTR = "grid_name"  # Cube attr naming what receives the labels in messages ("the map map.tif")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
UNLABELLED_KEYS = {"unlabelled", "unlabeled"}  # text classes (case and spacing ignored) that mean class 0
BURN_BLOCK_PX = 1 << 22  # pixels per block when a whole-grid raster is scanned (its index temporaries stay small)


@dataclass(frozen=True)
class Grid:
    """A raster grid: size, affine transform (identity: pixel coordinates), CRS (``None``: unknown) and
    what it is, for messages (``"the cube"``; ``"the map map.tif"`` for ``hsi evaluate``)."""

    height: int
    width: int
    transform: Any
    crs: Any = None
    name: str = "the cube"

    @classmethod
    def of(cls, cube: Cube) -> Grid:
        """The grid of a Cube (identity transform when it has none); named by its ``grid_name`` attr if set."""
        from rasterio.transform import Affine

        _, h, w = cube.hsi.shape
        crs = cube.rio.crs
        transform = cube.hsi.transform or Affine.identity()
        return cls(h, w, transform, crs, str(cube.attrs.get(GRID_NAME_ATTR) or "the cube"))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of the grid in its own coordinates."""
        xs, ys = [], []
        for col, row in ((0, 0), (self.width, 0), (0, self.height), (self.width, self.height)):
            x, y = self.transform @ (col, row)
            xs.append(x)
            ys.append(y)
        return min(xs), min(ys), max(xs), max(ys)


def write_points(
    dst: str | os.PathLike[str],
    xs: np.ndarray,
    ys: np.ndarray,
    attributes: Mapping[str, Any],
    crs: Any,
    layer: str = "detections",
) -> None:
    """Write point features to a GeoPackage (atomically; an existing file is replaced).

    Args:
        dst: output ``.gpkg`` path.
        xs, ys: ``(N,)`` map coordinates (pixel coordinates when ``crs`` is ``None``).
        attributes: column name -> ``(N,)`` values (scores, class names...).
        crs: anything pyproj understands (a rasterio CRS works), or ``None``.
        layer: layer name inside the GeoPackage.

    Raises:
        OutputError: ``dst`` not named ``.gpkg`` (a GeoPackage under a ``.csv`` or ``.shp`` name would look broken
            to the software that opens it by its extension).
        InvalidDataError: coordinates or attributes of different lengths.
    """
    import geopandas as gpd

    from hsi_app.io.atomic import check_suffix

    check_suffix("write_points", dst, (".gpkg",), "a GeoPackage")
    x = np.asarray(xs, dtype=np.float64).reshape(-1)
    y = np.asarray(ys, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise InvalidDataError(f"{dst}: {x.size} x coordinates but {y.size} y coordinates")
    columns: dict[str, np.ndarray] = {}
    for name, values in attributes.items():
        col = np.asarray(values).reshape(-1)
        if col.size != x.size:
            raise InvalidDataError(f"{dst}: attribute {name!r} has {col.size} values for {x.size} points")
        columns[str(name)] = col
    gdf = gpd.GeoDataFrame(columns, geometry=gpd.points_from_xy(x, y), crs=_to_pyproj(crs))
    with atomic_path(dst) as tmp, warnings.catch_warnings():
        # pixel-coordinate detections legitimately have no CRS
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        gdf.to_file(tmp, layer=layer, driver="GPKG")


def _to_pyproj(crs: Any) -> Any:
    """A pyproj CRS from anything (rasterio CRS, EPSG code, WKT), or ``None``."""
    if crs is None:
        return None
    from pyproj import CRS

    if hasattr(crs, "to_wkt"):
        return CRS.from_wkt(crs.to_wkt())
    return CRS.from_user_input(crs)


def read_vector_labels(
    path: str | os.PathLike[str],
    cube_or_grid: Cube | Grid,
    attribute: str = "class",
    class_names: Sequence[str] | None = None,
    *,
    layer: str | int | None = None,
) -> tuple[np.ndarray, list[str] | None]:
    """Rasterise vector labels onto a cube's grid.

    Args:
        path: GeoPackage / Shapefile / any OGR vector file.
        cube_or_grid: the Cube (or :class:`Grid`) whose pixels receive the labels.
        attribute: column holding the class (integer, or text names).
        class_names: names for 0..K; text classes are looked up in this list.
        layer: layer name or index; required for a file with several layers (a GeoPackage
            of labels and an area of interest): without it such a file is refused, naming its layers.

    Returns:
        ``(labels, class_names)``: ``(H, W)`` int32 (0 = unlabelled) and names for
        0..K (``class_names`` as given, or built from text values; ``None`` for integer
        classes without ``class_names``).

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        LabelError: unreadable file, missing attribute, CRS mismatch that cannot be
            resolved, unknown or invalid class values, no feature on the grid.
    """
    path = Path(path)
    grid = cube_or_grid if isinstance(cube_or_grid, Grid) else Grid.of(cube_or_grid)
    gdf = read_layer(path, layer, layer_fix="pass --label-layer NAME (layer= in Python)")
    if attribute not in gdf.columns:
        found = ", ".join(str(c) for c in gdf.columns if c != gdf.geometry.name) or "none"
        if found == "none" and path.suffix.lower() == ".shp" and not _sibling(path, ".dbf"):
            raise LabelError(f"{path}: no attributes: its .dbf (the attribute table) is missing; copy "
                             f"{path.with_suffix('.dbf').name} beside it")
        raise LabelError(f"{path}: no attribute {attribute!r}; attributes found: {found}. Pass --label-attribute NAME (attribute= in Python)")
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if len(gdf) == 0:
        raise LabelError(f"{path}: the layer has no geometries; draw label polygons or points first")
    from_projected = gdf.crs is not None and not gdf.crs.is_geographic and grid.crs is not None
    gdf = _wrap_longitudes(_align_crs(gdf, grid, path), grid, from_projected=from_projected)
    values, names = _class_values(gdf[attribute], class_names, path, attribute)
    # a copy (written below); a feature that only touches the grid's edge covers none of it
    on_grid = np.array(gdf.intersects(_grid_box(grid)) & ~gdf.touches(_grid_box(grid)), dtype=bool)
    points = np.asarray(gdf.geometry.geom_type.isin(["Point", "MultiPoint"]), dtype=bool)
    if points.any():  # a point on the right or bottom edge touches the grid but lies in no pixel
        on_grid[points] = _points_in_a_pixel(np.asarray(gdf.geometry.values[points], dtype=object), grid)
    if not on_grid.any():
        raise no_overlap_error(path, gdf, grid, target=grid.name)
    if not on_grid.all():
        warnings.warn(
            f"{path}: {int((~on_grid).sum())} of {len(gdf)} features lie outside {grid.name} and are ignored",
            stacklevel=2,
        )
    keep = np.asarray(on_grid, dtype=bool)
    return _burn(list(gdf.geometry[keep]), values[keep], grid, path, names), names


def _burn(geoms: list[Any], values: np.ndarray, grid: Grid, path: Path, names: list[str] | None) -> np.ndarray:
    """The ``(H, W)`` int32 label map of features ``geoms`` with classes ``values`` ``(N,)``.

    Each class claims the pixels its features burn. A pixel claimed by two or more classes ends
    unlabelled (one :class:`HSIWarning` counts them and names the classes), so the result does not
    depend on the drawing order. Class-0 features are an exclusion mask: their pixels end unlabelled
    whatever else covers them. A polygon that covers no pixel centre (smaller than a pixel) claims
    the pixel holding its representative point, like a point, unless a polygon of a class covers that
    pixel's centre (one :class:`HSIWarning` counts such polygons).
    """
    fallback = _sub_pixel_pixels(geoms, grid)
    if fallback:
        warnings.warn(f"{path}: {len(fallback)} polygons cover no pixel centre (smaller than a pixel); each labels "
                      "the pixel holding its representative point, unless a polygon covers that pixel's centre",
                      HSIWarning, stacklevel=3)
    # burnt in ascending class order the last (largest) class wins, in descending order the smallest: a pixel
    # claimed by one class has both equal, one claimed by several does not (two rasters whatever the class count).
    # The rasters are of the smallest type holding the classes (uint8 for ids up to 255: 1 byte per pixel, not 4,
    # so a 20,000 x 20,000 map's reference needs a few GB less); only the result is int32.
    dtype = _burn_dtype(int(values.max(initial=0)))
    classed = [(g, int(v)) for g, v in zip(geoms, values, strict=True) if v > 0]
    order = sorted(range(len(classed)), key=lambda i: classed[i][1])
    largest = _rasterize([classed[i] for i in order], grid, dtype)
    smallest = _rasterize([classed[i] for i in reversed(order)], grid, dtype)
    covered = (_rasterize([(g, 1) for g, v in classed if _is_polygon(g)], grid, "uint8") > 0) if fallback else None
    for i, (row, col) in fallback.items():  # a sub-pixel polygon claims its pixel like a point
        v = int(values[i])
        if v > 0 and not covered[row, col]:  # type: ignore[index]
            largest[row, col] = max(largest[row, col], v)
            smallest[row, col] = v if smallest[row, col] == 0 else min(smallest[row, col], v)
    excluded = _rasterize([(g, 1) for g, v in zip(geoms, values, strict=True) if v == 0], grid, "uint8") > 0
    for i, (row, col) in fallback.items():
        if values[i] == 0 and not covered[row, col]:  # type: ignore[index]
            excluded[row, col] = True
    del covered
    conflict = largest != smallest
    conflict &= ~excluded
    involved = (np.union1d(smallest[conflict], largest[conflict]).tolist() if conflict.any() else [])
    n_conflict = int(np.count_nonzero(conflict))
    del smallest
    conflict |= excluded
    del excluded
    labels = largest.astype(np.int32)
    del largest
    labels[conflict] = 0
    if n_conflict:
        _warn_conflicts(path, n_conflict, [int(c) for c in involved], names)
    return labels


def _burn_dtype(largest: int) -> str:
    """The smallest raster type of :func:`_rasterize` holding class ids up to ``largest``."""
    return "uint8" if largest <= 255 else "uint16" if largest <= 65535 else "int32"


def _is_polygon(geom: Any) -> bool:
    return geom.geom_type in ("Polygon", "MultiPolygon")


def _sub_pixel_pixels(geoms: list[Any], grid: Grid) -> dict[int, tuple[int, int]]:
    """Feature index -> ``(row, col)`` of its representative point, for each polygon covering no pixel centre.

    Every polygon is burnt once with its own id; only those absent from that raster (covering no centre,
    or hidden under later polygons) are rasterised alone, in a window around them.
    """
    polygons = [i for i, g in enumerate(geoms) if _is_polygon(g)]
    if not polygons:
        return {}
    ids = _rasterize([(geoms[i], k + 1) for k, i in enumerate(polygons)], grid, _burn_dtype(len(polygons)))
    present = np.zeros(len(polygons) + 1, dtype=bool)
    for r in range(0, grid.height, max(1, BURN_BLOCK_PX // max(grid.width, 1))):  # row blocks: the index array
        present[ids[r:r + max(1, BURN_BLOCK_PX // max(grid.width, 1))].ravel()] = True  # becomes intp (8 B/px)
    del ids
    seen = set(np.flatnonzero(present).tolist())
    box = _grid_box(grid)
    out: dict[int, tuple[int, int]] = {}
    for k, i in enumerate(polygons):
        if k + 1 in seen or _covers_a_centre(geoms[i], grid):
            continue
        inside = geoms[i].intersection(box)
        if inside.is_empty:
            continue
        point = inside.representative_point()
        col, row = _to_pixel(grid, point.x, point.y)
        out[i] = (min(max(int(np.floor(row)), 0), grid.height - 1), min(max(int(np.floor(col)), 0), grid.width - 1))
    return out


def _points_in_a_pixel(points: np.ndarray, grid: Grid) -> np.ndarray:
    """``(N,)`` bool: whether a point of each Point or MultiPoint ``(N,)`` lies in a pixel of the grid. Pixels are
    half-open, so a point on the grid's right or bottom edge lies in none, although it touches the grid."""
    import shapely

    parts, owner = shapely.get_parts(points, return_index=True)
    col, row = _to_pixel(grid, shapely.get_x(parts), shapely.get_y(parts))
    inside = (col >= 0) & (col < grid.width) & (row >= 0) & (row < grid.height)
    return np.bincount(owner[inside], minlength=len(points)) > 0


def _to_pixel(grid: Grid, x: float, y: float) -> tuple[float, float]:
    """Fractional ``(col, row)`` of map point ``(x, y)`` on the grid."""
    inv = ~grid.transform
    return inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f


def _covers_a_centre(geom: Any, grid: Grid) -> bool:
    """Whether ``geom`` burns any pixel of the grid (rasterised alone, in a window around its bounds)."""
    from rasterio.transform import Affine

    minx, miny, maxx, maxy = geom.bounds
    cols, rows = zip(*(_to_pixel(grid, x, y) for x in (minx, maxx) for y in (miny, maxy)), strict=True)
    r0, r1 = max(int(np.floor(min(rows))) - 1, 0), min(int(np.ceil(max(rows))) + 1, grid.height)
    c0, c1 = max(int(np.floor(min(cols))) - 1, 0), min(int(np.ceil(max(cols))) + 1, grid.width)
    if r0 >= r1 or c0 >= c1:
        return False
    window = Grid(r1 - r0, c1 - c0, grid.transform @ Affine.translation(c0, r0), grid.crs)
    return bool(_rasterize([(geom, 1)], window).any())


def _warn_conflicts(path: Path, n_pixels: int, classes: list[int], names: list[str] | None) -> None:
    """One warning: ``n_pixels`` pixels claimed by features of two or more classes are left unlabelled.

    ``classes`` are the smallest and largest class claiming each such pixel (a third class in between,
    under a triple overlap, is not named)."""
    named = ", ".join(names[c] if names is not None else str(c) for c in classes)
    warnings.warn(f"{path}: {n_pixels} pixels are covered by features of different classes ({named}) and are "
                  "left unlabelled; remove the overlaps in your GIS to label them", HSIWarning, stacklevel=4)


def _rasterize(shapes: list[tuple[Any, int]], grid: Grid, dtype: str = "int32") -> np.ndarray:
    """``(H, W)`` of ``dtype`` (values must fit it): each ``(geometry, value)`` burnt in order onto the grid (GDAL's
    rules), 0 elsewhere."""
    from rasterio.features import rasterize

    if not shapes:
        return np.zeros((grid.height, grid.width), dtype=dtype)
    return rasterize(shapes, out_shape=(grid.height, grid.width), transform=grid.transform, fill=0, dtype=dtype)


def no_overlap_error(path: str | os.PathLike[str], gdf: Any, grid: Grid, *, what: str = "features",
                     target: str = "the cube", fix: str = "check the layer's CRS and location") -> LabelError:
    """The one-line error for a layer none of whose features lies on the grid.

    Args:
        path: the vector file (named first).
        gdf: its features, already in the grid's CRS (their bounds are quoted).
        grid: the raster grid (its bounds are quoted).
        what: what the features are (``"features"``, ``"points"``).
        target: what they miss (``"the cube"``, ``"the scene scene.tif"``).
        fix: the fix the line ends with.
    """
    minx, miny, maxx, maxy = gdf.total_bounds
    return LabelError(
        f"{path}: none of the {len(gdf)} {what} overlaps {target} (layer bounds "
        f"{minx:.6g}, {miny:.6g}, {maxx:.6g}, {maxy:.6g}; cube bounds "
        f"{', '.join(f'{b:.6g}' for b in grid.bounds)}); {fix}"
    )


def read_layer(path: str | os.PathLike[str], layer: str | int | None = None, *, what: str = "label file",
               hint: str = "export it as GeoPackage or Shapefile", folder_hint: str | None = None,
               layer_fix: str | None = None) -> Any:
    """Read one layer of a vector file as a GeoDataFrame, refusing files that make GDAL read others.

    Args:
        path: the vector file (GeoPackage, Shapefile, GeoJSON, ... anything GDAL reads).
        layer: layer name or index; ``None`` reads the first.
        what: what the file is, for the error line (``"label file"``, ``"points file"``).
        hint: the fix the error line suggests when the file cannot be read.
        folder_hint: when given, a folder is refused with this fix; otherwise a folder is read as
            GDAL does (a folder of Shapefiles, a FileGDB).
        layer_fix: when given, a file with several layers and no ``layer`` chosen, or without the
            named layer, is refused with its layer names and this fix (how to choose one).

    Raises:
        DatasetNotFoundError: the path does not exist.
        LabelError: a folder, an OGR VRT (it can point GDAL at any file on the machine), or unreadable.
    """
    import geopandas as gpd

    path = Path(path)
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: {what} not found; check the path")
    if path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(1 << 16).lower()
        if b"<ogrvrtdatasource" in head:  # an OGR VRT can make GDAL read other files on this machine
            raise LabelError(f"{path}: OGR virtual (VRT) files are not read; {hint}")
    elif folder_hint is not None:
        raise LabelError(f"{path}: is a folder; {folder_hint}")
    if layer_fix is not None:
        layer = _check_layer_choice(path, layer, layer_fix)
    kw: dict[str, Any] = {"layer": layer} if layer is not None else {}
    if _utf8_without_cpg(path):
        kw["encoding"] = "UTF-8"
        warnings.warn(f"{path}: no .cpg, and its attribute text is valid UTF-8 with accents, so it is read as UTF-8 "
                      "(GDAL would read ISO-8859-1); if its names come out wrong, write the file's code page in "
                      f"{path.with_suffix('.cpg').name} (e.g. 1252 or ISO-8859-1)", HSIWarning, stacklevel=2)
    try:
        return gpd.read_file(path, **kw)
    except Exception as err:  # pyogrio raises DataSourceError / DataLayerError / ValueError
        raise LabelError(f"{path}: not a readable vector file ({err}); {hint}") from err


DBF_READ_LIMIT = 1 << 28  # bytes of a .dbf checked for UTF-8 (label tables are far smaller)


def _utf8_without_cpg(path: Path) -> bool:
    """Whether ``path`` is a Shapefile without ``.cpg`` or dBASE code page whose ``.dbf`` is UTF-8 with non-ASCII text.

    GDAL reads such a file as ISO-8859-1 ("Forêt" becomes "ForÃªt"). Text in a one-byte code page
    with accents is almost never valid UTF-8, so valid UTF-8 with some byte above 127 is taken as UTF-8.
    """
    if path.suffix.lower() != ".shp" or _sibling(path, ".cpg"):
        return False
    dbf = _sibling(path, ".dbf")
    if dbf is None or dbf.stat().st_size > DBF_READ_LIMIT:
        return False
    data = dbf.read_bytes()
    if len(data) < 32 or data[29] != 0:  # byte 29: the dBASE language driver (code page), 0 = none given
        return False
    if max(data[32:], default=0) < 128:
        return False
    try:
        data[32:].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _sibling(path: Path, suffix: str) -> Path | None:
    """A Shapefile's sibling file with ``suffix`` (lower or upper case), or ``None``."""
    return next((p for p in (path.with_suffix(suffix), path.with_suffix(suffix.upper())) if p.is_file()), None)


def _check_layer_choice(path: Path, layer: str | int | None, fix: str) -> str | int | None:
    """The layer to read: ``layer``, or the file's only layer with geometries when none is chosen.

    Tables without geometries (the ``layer_styles`` table QGIS saves styles in, notes) are not
    label layers and are not counted.

    Raises:
        LabelError: a file with several geometry layers read without a layer, or a layer name the
            file lacks, listing its layers.
    """
    import pyogrio

    try:
        listing = pyogrio.list_layers(path)
    except Exception:  # unreadable: read_file below says so with the file's own error
        return layer
    names = [str(n) for n in listing[:, 0]]
    spatial = [str(n) for n, kind in listing if kind is not None]
    if layer is None and len(names) > 1:
        if len(spatial) == 1:
            return spatial[0]
        shown = spatial or names
        raise LabelError(f"{path}: holds {len(shown)} layers ({', '.join(shown)}); choose the label layer: {fix}")
    if isinstance(layer, str) and names and layer not in names:
        raise LabelError(f"{path}: no layer {layer!r}; layers found: {', '.join(names)}; {fix}")
    return layer


def _align_crs(gdf: Any, grid: Grid, path: Path) -> Any:
    """Reproject ``gdf`` to the grid's CRS, or explain why that is impossible."""
    target = _to_pyproj(grid.crs)
    geojson = Path(path).suffix.lower() in (".geojson", ".json")
    if target is None:
        if gdf.crs is not None:
            raise LabelError(
                f"{path}: the layer is in {gdf.crs.to_string()} but {grid.name} has no CRS; "
                f"save the layer without a CRS in {grid.name}'s own coordinates (its map grid's, or pixel coordinates "
                "when it has none)" + (" as GeoPackage or Shapefile (GeoJSON is always EPSG:4326, RFC 7946)"
                                       if geojson else "") + f", or give {grid.name} its CRS (a GeoTIFF: "
                "gdal_edit.py -a_srs EPSG:<code> FILE)"
            )
        return gdf
    _check_degrees(gdf, path, geojson)
    if gdf.crs is None:
        raise LabelError(
            f"{path}: the layer has no CRS but {grid.name} is in {target.to_string()}; "
            "assign the layer's CRS in your GIS and save it again"
        )
    if gdf.crs.equals(target):
        return gdf
    try:
        return gdf.to_crs(target)
    except Exception as err:  # pyproj.exceptions.CRSError / ProjError
        raise LabelError(f"{path}: cannot reproject from {gdf.crs.to_string()} to the CRS of {grid.name} ({err})") from err


def _full_turn(crs: Any) -> float | None:
    """One turn of longitude in a geographic rasterio ``crs``'s angular unit (360 for degrees, 400 for grads), or
    ``None`` when it cannot be told."""
    try:
        factor = float(_to_pyproj(crs).axis_info[0].unit_conversion_factor)  # radians per unit
    except Exception:  # noqa: BLE001 - a CRS pyproj cannot describe: nothing is moved
        return None
    return 2.0 * np.pi / factor if factor > 0 else None


def _wrap_longitudes(gdf: Any, grid: Grid, *, from_projected: bool = False) -> Any:
    """``gdf`` (in the grid's CRS) with its parts also taken whole turns (360°) of longitude onto a geographic grid.

    A part is read at its stated coordinates; on top of that, each copy of it shifted by whole turns that lands on
    the grid (covers more of it than its edge) is added. So on a grid across the antimeridian (179.9° to 180.1°, or a
    0..360 grid) a part drawn in -180..180 labels the pixels it covers (-179.95 for 180.05; the eastern half of a
    polygon split at 180°; both halves of a label across Greenwich on a 0..360 grid), and a part already on the grid
    keeps its place there (a 4-vertex rectangle from -10° to 175° labels 170..175 of a 170..190 grid, nothing else).
    A part off the grid whose copy lands on it is replaced by that copy; one no copy lands on is left as it is (and
    reported outside the grid).

    ``from_projected``: the layer was reprojected from a projected CRS. One continuous across 180° (PDC Mercator,
    polar stereographic) gives back parts with vertices on both sides, spanning the globe the wrong way round: such
    a part wider than half a turn first has each vertex moved by whole turns to within half a turn of the grid's
    centre, which is kept where it spans less than half a turn and lies on the grid. Features with changed parts
    become the union of their parts (the two halves of a split polygon become one).
    """
    import shapely

    if grid.crs is None or not getattr(grid.crs, "is_geographic", False) or len(gdf) == 0:
        return gdf
    turn = _full_turn(grid.crs)
    if turn is None:
        return gdf
    box = _grid_box(grid)
    west, east = box.bounds[0], box.bounds[2]
    centre = (west + east) / 2.0
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    changed = np.zeros(len(parts), dtype=bool)
    if from_projected:
        bounds = shapely.bounds(parts)
        wide = np.flatnonzero(bounds[:, 2] - bounds[:, 0] > turn / 2)

        def recentre(xy: np.ndarray) -> np.ndarray:
            out = xy.copy()
            out[:, 0] += turn * np.round((centre - xy[:, 0]) / turn)
            return out

        if wide.size:
            moved = shapely.transform(parts[wide], recentre)
            moved_bounds = shapely.bounds(moved)
            keep = (moved_bounds[:, 2] - moved_bounds[:, 0] <= turn / 2) & shapely.intersects(moved, box)
            parts[wide[keep]] = moved[keep]
            changed[wide[keep]] = True
    bounds = shapely.bounds(parts)
    on_grid = shapely.intersects(parts, box)
    first = np.ceil((west - bounds[:, 2]) / turn)  # the whole turns k whose shift by k turns can meet the grid
    last = np.floor((east - bounds[:, 0]) / turn)
    for i in np.flatnonzero((first <= last) & ((first != 0) | (last != 0))):
        copies = [shapely.transform(parts[i], lambda xy, dx=k * turn: xy + (dx, 0.0))
                  for k in range(int(first[i]), int(last[i]) + 1) if k != 0]
        landed = [c for c in copies if _lands_on(c, box, grid)]
        if landed:
            parts[i] = shapely.union_all(([parts[i]] if on_grid[i] else []) + landed)
            changed[i] = True
    if not changed.any():
        return gdf
    out = geoms.copy()
    rebuilt = np.flatnonzero(np.isin(owner, np.unique(owner[changed])))  # every part of a feature with a changed part
    rebuilt = rebuilt[np.argsort(owner[rebuilt], kind="stable")]
    starts = np.flatnonzero(np.r_[True, owner[rebuilt][1:] != owner[rebuilt][:-1]])
    for group in np.split(rebuilt, starts[1:]):
        out[owner[group[0]]] = shapely.union_all(parts[group])
    gdf = gdf.copy()
    gdf[gdf.geometry.name] = out
    return gdf.set_geometry(gdf.geometry.name, crs=gdf.crs)


def _lands_on(geom: Any, box: Any, grid: Grid) -> bool:
    """Whether a shifted copy ``geom`` of a part labels something of the grid ``box``: a point lies in a pixel (pixels
    are half-open), anything else covers more of the grid than its edge."""
    import shapely

    if geom.geom_type == "Point":
        return bool(_points_in_a_pixel(np.array([geom], dtype=object), grid)[0])
    return bool(shapely.intersects(geom, box) and not shapely.touches(geom, box))


def _check_degrees(gdf: Any, path: Path, geojson: bool) -> None:
    """Refuse a layer in a geographic CRS whose coordinates cannot be degrees (a GeoJSON of UTM metres
    without a ``crs`` member is read as EPSG:4326), instead of reprojecting them to infinities."""
    if gdf.crs is None or not gdf.crs.is_geographic:
        return
    minx, miny, maxx, maxy = (float(v) for v in gdf.total_bounds)
    if -360.0 <= minx and maxx <= 360.0 and -90.0 <= miny and maxy <= 90.0:
        return
    said = "GeoJSON is always longitude/latitude (RFC 7946)" if geojson else f"the file says {gdf.crs.to_string()}"
    raise LabelError(f"{path}: coordinates up to {max(abs(minx), abs(maxx)):.6g}, {max(abs(miny), abs(maxy)):.6g} "
                     f"are not longitude/latitude in degrees, but {said}; save the layer with its real CRS "
                     "(e.g. as GeoPackage), or reproject it to EPSG:4326 in your GIS")


def _class_values(
    column: Any, class_names: Sequence[str] | None, path: Path, attribute: str
) -> tuple[np.ndarray, list[str] | None]:
    """Class numbers ``(N,)`` int64 for each feature, and the class names."""
    blank = column.isna().to_numpy() | np.array([isinstance(v, str) and not v.strip() for v in column], dtype=bool)
    if blank.any():  # a Shapefile stores a missing text as blanks, read as ""
        raise LabelError(
            f"{path}: {int(blank.sum())} features have no {attribute!r} value (null or blank); fill them or delete them"
        )
    raw = column.to_numpy()
    if raw.dtype.kind not in "iubf" and all(_WHOLE_NUMBER.fullmatch(str(v).strip()) for v in raw):
        codes = np.array([int(str(v).strip()) for v in raw], dtype=np.int64)
        if not _codes_are_names(raw, codes, class_names):
            raw = codes  # ids typed as text ("3"): numbers
    if raw.dtype.kind in "iub" or (raw.dtype.kind == "f" and np.all(raw == np.round(raw))):
        values = raw.astype(np.int64)
        if values.size and values.min() < 0:
            raise LabelError(f"{path}: attribute {attribute!r} has negative classes; use 0 for unlabelled")
        if values.size and values.max() > MAX_CLASS_ID:
            raise LabelError(
                f"{path}: class {int(values.max())} in {attribute!r} is above {MAX_CLASS_ID}, the largest class id "
                f"(label maps are uint8); recode the classes to 1..{MAX_CLASS_ID}, or store them as text to read them "
                "as class names"
            )
        if class_names is not None and values.size and values.max() >= len(class_names):
            raise LabelError(
                f"{path}: class {int(values.max())} in {attribute!r} has no name among the "
                f"{len(class_names)} class names given"
            )
        return values, list(class_names) if class_names is not None else None
    if raw.dtype.kind == "f":
        raise LabelError(f"{path}: attribute {attribute!r} holds fractional numbers; use whole class numbers")
    text = np.array([str(v) for v in raw])
    if class_names is None:  # one class per name, case and spacing ignored (the first spelling, sorted)
        spelling: dict[str, str] = {}
        for t in text.tolist():
            if class_name_key(t) not in UNLABELLED_KEYS:
                spelling.setdefault(class_name_key(t), t)
        names = ["unlabelled", *sorted(spelling.values(), key=class_name_key)]
    else:
        names = list(class_names)
        known = {class_name_key(n) for n in names} | UNLABELLED_KEYS
        unknown = sorted({t for t in text.tolist() if class_name_key(t) not in known})
        if unknown:
            raise LabelError(
                f"{path}: classes {', '.join(unknown)} in {attribute!r} are not among the class names given"
            )
    lookup = {class_name_key(name): i for i, name in reversed(list(enumerate(names)))}
    lookup.update(dict.fromkeys(UNLABELLED_KEYS, 0))
    return np.array([lookup[class_name_key(t)] for t in text], dtype=np.int64), names


def _codes_are_names(text: np.ndarray, codes: np.ndarray, class_names: Sequence[str] | None) -> bool:
    """Whether whole-number texts ``text`` ``(N,)`` (``codes``: their values) are class names rather than ids: every
    one is among ``class_names`` (case and spacing ignored), or one is above :data:`~hsi_app.io.cube.MAX_CLASS_ID`,
    so the column cannot hold ids (land-cover codes such as CORINE's ``"311"``)."""
    if codes.size and codes.max() > MAX_CLASS_ID:
        return True
    if class_names is None:
        return False
    known = {class_name_key(n) for n in class_names}
    return all(class_name_key(str(t)) in known for t in text)


def _grid_box(grid: Grid) -> Any:
    from shapely.geometry import box

    return box(*grid.bounds)
