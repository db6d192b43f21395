"""Class map -> polygons (GeoPackage, Shapefile, GeoJSON, FlatGeobuf), with a minimum mapping unit (``hsi vectorize``).

Land-cover maps usually reach a GIS as polygons. The class raster (band 1 of an ``hsi
predict`` COG, 0 = no data) is first *sieved*: connected patches smaller than the minimum
mapping unit take the class of their largest neighbour, counted in pixels, however little edge
they share with it (GDAL's sieve filter, through :func:`rasterio.features.sieve`, repeated until
nothing changes; no-data is never filled and never fills). A patch is left small only when
it and its small neighbours touch no patch of the minimum size, e.g. a few small patches
enclosed by no-data or the map edge, or when the passes stop at :data:`SIEVE_MAX_PASSES` on a
map of per-pixel noise (with one warning).
Each connected patch of one class then becomes one polygon, traced exactly along pixel edges
in the map's CRS, with its class id and name, pixel count, area (hectares when the map has a
CRS: on a geographic CRS the ground areas of its pixels' rows summed, :mod:`~hsi_app.tasks.map_row_areas`, never
degrees squared) and, when the map has a confidence band, the patch's mean confidence.

Memory: the class band is read whole (1 byte per pixel) and sieved into a copy (1), the patches are numbered in
an int32 raster (4) with one int32 labelling buffer (4, freed before the tracing); the confidence band is read
strip by strip. About 11 bytes per pixel at the peak, so a 20,000 x 20,000 map needs about 4.5 GB (it needed
about 29 bytes per pixel before session 56).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, HSIWarning, InvalidDataError, OutputError
from hsi_app.io import block_counts
from hsi_app.tasks.map_accuracy import M2_PER_HA
from hsi_app.tasks.map_row_areas import ground_areas, summed_areas_m2

PROGRESS_MIN_PIXELS = 1_000_000  # maps smaller than this vectorize in a few seconds: no progress shown


@dataclass(frozen=True)
class Patches:
    """Connected same-class patches of a class raster.

    Attributes:
        ids: ``(H, W)`` int32 patch id per pixel (0 = no data; patches are ``1..N``).
        classes: ``(N,)`` class id of each patch.
        pixels: ``(N,)`` pixel count of each patch.
    """

    ids: np.ndarray
    classes: np.ndarray
    pixels: np.ndarray


SIEVE_MAX_PASSES = 50  # GDAL passes at most; a real map settles in one or two, per-pixel noise needs one per ring


def sieve_classes(classes: np.ndarray, min_pixels: int, connectivity: int = 4,
                  on_pass: Callable[[int], None] | None = None) -> np.ndarray:
    """Merge patches smaller than ``min_pixels`` into their largest neighbour (by pixel count).

    One GDAL pass leaves a small patch alone when following "largest neighbour" from it runs
    in a circle through small patches only (a chain of small patches); after that pass some of
    them border a grown patch, so the sieve is repeated until nothing changes. What then stays
    small touches no patch of ``min_pixels`` or more through its small neighbours (small patches
    enclosed by no-data or the map edge). Per-pixel noise settles one ring of patches per pass, so
    the passes stop at :data:`SIEVE_MAX_PASSES`: when one more pass would still change pixels, one
    :class:`~hsi_app.errors.HSIWarning` says how many are still in patches under the unit (a second call
    would change them); a last pass that reached the fixed point warns of nothing.

    Args:
        classes: ``(H, W)`` uint8 classes, 0 = no data (left as it is).
        min_pixels: smallest patch kept; 1 keeps everything.
        connectivity: 4 or 8 (pixel neighbourhood of a patch).
        on_pass: called with the number of each pass from the second on (progress).

    Returns:
        ``(H, W)`` uint8 sieved classes.
    """
    from rasterio.features import sieve

    cls = np.ascontiguousarray(classes, dtype=np.uint8)
    if min_pixels <= 1:
        return cls.copy()
    valid = cls > 0
    nodata = ~valid

    def one_pass(current: np.ndarray) -> np.ndarray:
        """``(H, W)`` uint8: one GDAL sieve pass, no-data kept (set in place: no full-size temporaries)."""
        done = np.asarray(sieve(current, size=int(min_pixels), connectivity=connectivity, mask=valid), dtype=np.uint8)
        np.copyto(done, 0, where=nodata)
        return done

    out = cls
    for i in range(1, SIEVE_MAX_PASSES + 1):
        if on_pass is not None and i > 1:
            on_pass(i)
        nxt = one_pass(out)
        if np.array_equal(nxt, out):
            break
        out = nxt
    else:  # the last pass changed pixels; warn only when one more would change some too (not a fixed point)
        if np.array_equal(one_pass(out), out):
            return out
        patches = label_patches(out, connectivity)
        small = int(patches.pixels[patches.pixels < min_pixels].sum())
        warnings.warn(f"sieve stopped after {SIEVE_MAX_PASSES} passes with {small:,} px still in patches under the "
                      f"{min_pixels} px unit: the map is noise at that scale in places; smooth the map first "
                      f"(`hsi predict --smooth guided`) or use a smaller unit", HSIWarning, stacklevel=2)
    return out if out is not cls else cls.copy()


def label_patches(classes: np.ndarray, connectivity: int = 4) -> Patches:
    """Number the connected patches of each class (no-data pixels get 0).

    Args:
        classes: ``(H, W)`` int classes, 0 = no data.
        connectivity: 4 or 8.

    Returns:
        :class:`Patches`.
    """
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    ids = np.zeros(classes.shape, dtype=np.int32)
    lab = np.empty(classes.shape, dtype=np.int32)  # one buffer for every class (not a new raster per class)
    mask = np.empty(classes.shape, dtype=bool)
    patch_classes: list[np.ndarray] = []
    n = 0
    for k in np.flatnonzero(block_counts.bincount_blocks(classes, int(classes.max(initial=0)) + 1)[1:]) + 1:
        np.equal(classes, k, out=mask)
        count = int(ndimage.label(mask, structure=structure, output=lab))
        np.add(lab, n, out=ids, where=mask)
        patch_classes.append(np.full(count, k, dtype=np.int64))
        n += count
    del lab, mask
    pixels = block_counts.bincount_blocks(ids, n + 1)[1:]
    cls = np.concatenate(patch_classes) if patch_classes else np.zeros(0, dtype=np.int64)
    return Patches(ids, cls, pixels)


def patch_confidence(map_path: str | os.PathLike[str], ids: np.ndarray, n: int,
                     pixels: np.ndarray | None = None) -> np.ndarray | None:
    """Mean confidence ``(n,)`` of patches ``1..n`` (``ids``: ``(H, W)`` patch id per pixel; ``pixels``: their
    ``(n,)`` pixel counts when known, else counted here), from band 2 of the map
    GeoTIFF read one strip of rows at a time (:func:`~hsi_app.io.cog.read_confidence`), or
    ``None`` for a map without a confidence band (one band, or an ENVI classification)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
    from rasterio.windows import Window

    from hsi_app.io.cog import read_confidence
    from hsi_app.io.geotiff import TIFF_ONLY

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(map_path, driver=TIFF_ONLY) as ds:
                if ds.count < 2:
                    return None
                sums = np.zeros(n + 1, np.float64)
                rows = max(1, block_counts.BLOCK_PX // max(ds.width, 1))
                for r in range(0, ds.height, rows):
                    conf = read_confidence(ds, Window(0, r, ds.width, min(rows, ds.height - r)))
                    sums += np.bincount(ids[r:r + rows].reshape(-1), weights=conf.reshape(-1), minlength=n + 1)
    except (RasterioIOError, OSError):
        return None  # an ENVI classification: it has no confidence band
    count = block_counts.bincount_blocks(ids, n + 1)[1:] if pixels is None else np.asarray(pixels)
    return sums[1:] / np.maximum(count, 1)


def valid_polygon(geom: Any) -> Any:
    """``geom`` as a valid (multi)polygon of the same area.

    An 8-connected patch whose pixels meet only at a corner is traced as one ring that touches
    itself there, which OGC validity (and GIS overlay tools) refuses; ``make_valid`` (its
    polygon-only "structure" method) splits it at that corner into a MultiPolygon. Valid
    geometries are returned unchanged.
    """
    from shapely import make_valid

    return geom if geom.is_valid else make_valid(geom, method="structure", keep_collapsed=False)


def trace_polygons(traced: Iterable[tuple[dict[str, Any], float]], n: int) -> np.ndarray:
    """Shapely polygons ``(n,)`` from ``rasterio.features.shapes`` output over a patch-id raster (ids ``1..n``).

    The rings are gathered into one coordinate array and built in one call
    (``shapely.from_ragged_array``): building each polygon from its GeoJSON dict costs about
    80 µs, which dominated a map of a million tiny patches. Polygons that are not valid (an
    8-connected patch whose pixels meet at a corner) are repaired by :func:`valid_polygon`.
    """
    import shapely

    rings: list[np.ndarray] = []
    ring_ends, poly_ends, order = [0], [0], []
    for geom, value in traced:
        for ring in geom["coordinates"]:
            xy = np.asarray(ring, dtype=np.float64)
            rings.append(xy)
            ring_ends.append(ring_ends[-1] + len(xy))
        poly_ends.append(len(ring_ends) - 1)
        order.append(int(value) - 1)
    if not rings:
        return np.full(n, None, dtype=object)
    built = shapely.from_ragged_array(shapely.GeometryType.POLYGON, np.concatenate(rings),
                                      (np.asarray(ring_ends, np.int64), np.asarray(poly_ends, np.int64)))
    bad = np.flatnonzero(~shapely.is_valid(built))
    for i in bad:
        built[i] = valid_polygon(built[i])
    out = np.full(n, None, dtype=object)
    out[np.asarray(order, np.int64)] = built
    return out


OUTPUT_DRIVERS = {".gpkg": "GPKG", ".shp": "ESRI Shapefile", ".geojson": "GeoJSON", ".json": "GeoJSON",
                  ".fgb": "FlatGeobuf"}
"""Polygon output formats by file suffix (lower case)."""
SHAPEFILE_FIELDS = {"mean_confidence": "mean_conf"}  # dBASE field names are at most 10 characters


def polygon_driver(out: str | os.PathLike[str]) -> str:
    """The OGR driver that writes ``out``, from its suffix.

    Raises:
        OutputError: a suffix of none of :data:`OUTPUT_DRIVERS`.
    """
    from hsi_app.io.atomic import check_suffix

    check_suffix("--out", out, tuple(OUTPUT_DRIVERS), "polygons (GeoPackage, Shapefile, GeoJSON or FlatGeobuf)")
    return OUTPUT_DRIVERS[Path(out).suffix.lower()]


def write_polygons(gdf: Any, out: str | os.PathLike[str], *, layer: str = "classes") -> None:
    """Write polygons in the format of ``out``'s suffix (:data:`OUTPUT_DRIVERS`), replacing an existing file.

    GeoPackage and FlatGeobuf keep the CRS as it is. A GeoPackage's layer is ``layer``; a file of the other formats
    holds one layer named after the file (``lc.geojson``: ``lc``). A Shapefile gets its fields renamed to at most 10
    characters (:data:`SHAPEFILE_FIELDS`), a UTF-8 ``.cpg`` and a ``.prj`` (none without a CRS); its
    files are written under a hidden name and moved into place together, the ``.shp`` last
    (:func:`_publish_shapefile`), and an old ``.prj``, spatial index or metadata file the new file lacks is
    removed (:data:`SHAPEFILE_STALE`). GeoJSON is written as RFC 7946 requires: longitude/latitude on WGS 84.
    """
    from hsi_app.io.atomic import atomic_path

    driver = polygon_driver(out)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'crs' was not provided")  # a map in pixel coordinates
        if driver == "ESRI Shapefile":
            _write_shapefile(gdf.rename(columns=SHAPEFILE_FIELDS), Path(out))
            return
        # the layer is named after ``out`` (not the hidden temporary written): GeoJSON's "name", FlatGeobuf's header
        options: dict[str, Any] = {"layer": layer if driver == "GPKG" else Path(out).stem}
        if driver == "GeoJSON":
            options["layer_options"] = {"RFC7946": "YES"}
        with atomic_path(out) as tmp:
            gdf.to_file(tmp, driver=driver, **options)


SHAPEFILE_PARTS = (".shx", ".dbf", ".prj", ".cpg")
"""The files GDAL writes beside a ``.shp`` (a ``.prj`` only for a map with a CRS); they are published before it."""
SHAPEFILE_STALE = (".qix", ".sbn", ".sbx", ".fbn", ".fbx", ".ain", ".aih", ".shp.xml", ".qmd")
"""Files other tools keep beside a Shapefile that describe its old contents: spatial indexes (``.qix`` of GDAL and
MapServer, ``.sbn``/``.sbx`` and ``.fbn``/``.fbx`` of ESRI), attribute indexes (``.ain``/``.aih``) and metadata
(ArcGIS ``.shp.xml``, QGIS ``.qmd``, whose extent and feature count are the old file's). The writer makes none of
them, so an old one is removed when the new Shapefile replaces the old one: a stale spatial index makes GIS software
skip the new features. A QGIS style (``.qml``) is kept: it applies to the new polygons as well."""


def shapefile_part(out: Path, part: str) -> Path:
    """The ``part`` file (``".dbf"``, ``".shp.xml"``) of the Shapefile ``out``, in the case of ``out``'s suffix
    (``U.SHP`` -> ``U.DBF``; ``u.shp`` -> ``u.dbf``)."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + (part.upper() if out.suffix.isupper() else part.lower()))


def _stale_shapefile_files(out: Path, new: list[Path]) -> list[Path]:
    """Existing files of the Shapefile ``out`` that the new one (its files ``new``) does not replace: any file of
    :data:`SHAPEFILE_STALE`, a part the new file lacks (an old ``.prj`` would give a map without CRS the old one's),
    and a part in the other letter case (GDAL opens ``U.dbf`` before ``U.DBF``). On a case-insensitive file system
    the other case is the new part's own file and is kept."""
    from hsi_app.io.atomic import same_file

    stale: list[Path] = []
    for part in (".shp", *SHAPEFILE_PARTS, *SHAPEFILE_STALE):
        for name in dict.fromkeys((shapefile_part(out.with_suffix(".shp"), part),
                                   shapefile_part(out.with_suffix(".SHP"), part))):
            if name.is_file() and not any(name == f or same_file(name, f) for f in new):
                stale.append(name)
    return stale


def _publish_shapefile(tmp: Path, out: Path) -> None:
    """Move the Shapefile written as ``tmp`` (all parts) onto ``out``, the ``.shp`` last, as one change.

    The old parts the new ones replace, and the old files of :func:`_stale_shapefile_files`, are first moved to
    hidden names; when a move fails (or the process is interrupted) everything moved is put back, so ``out`` keeps
    its old set of files, never an old ``.shp`` beside a new ``.dbf``. The hidden names start with ``out``'s
    temporary prefix, so a hard-killed run's are swept like any other temporary.

    Raises:
        OutputError: a move failed (the old files are kept).
    """
    from hsi_app.io.atomic import FILE_MODE, remove_quietly

    sides = [(tmp.with_suffix(p), shapefile_part(out, p)) for p in SHAPEFILE_PARTS if tmp.with_suffix(p).exists()]
    stale = _stale_shapefile_files(out, [out, *(dst for _, dst in sides)])
    backup_stem = tmp.name[: -len(tmp.suffix)]
    backups: list[tuple[Path, Path | None]] = []  # (final name, its old file's hidden name or None) in move order

    def backup(path: Path) -> None:
        hidden = tmp.with_name(f"{backup_stem}.old-{len(backups)}")
        os.replace(path, hidden)
        backups.append((path, hidden))

    try:
        for path in stale:
            backup(path)
        for src, dst in sides:
            os.chmod(src, FILE_MODE)
            if dst.exists():
                backup(dst)
            else:
                backups.append((dst, None))
            os.replace(src, dst)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, out)  # last, as one rename: when it fails the old .shp is still there
    except BaseException as err:
        for path, hidden in reversed(backups):
            if hidden is None:
                remove_quietly(path)
            else:
                try:
                    os.replace(hidden, path)
                except OSError:
                    pass
        for src in (tmp, *(src for src, _ in sides)):
            remove_quietly(src)
        if isinstance(err, OSError):
            raise OutputError(f"{out}: cannot replace the Shapefile ({err.strerror}); its old files are kept; "
                              "check the path") from err
        raise
    for _, hidden in backups:
        if hidden is not None:
            remove_quietly(hidden)


def _write_shapefile(gdf: Any, out: Path) -> None:
    """A Shapefile written under a hidden name beside ``out``, then published by :func:`_publish_shapefile`.

    The temporary ends in a lower-case ``.shp`` (GDAL names the parts after it in lower case); the final names keep
    the case of ``out``'s suffix. A full disk is one clear error and leaves no file (as
    :func:`~hsi_app.io.atomic.atomic_path`)."""
    from hsi_app.io.atomic import _published, check_writable, partial_path, remove_quietly
    from hsi_app.io.disk_full import WriteWatch

    path = check_writable(out)
    tmp = partial_path(path).with_suffix(".shp")
    temps = [tmp, *(tmp.with_suffix(p) for p in SHAPEFILE_PARTS)]
    watch = WriteWatch(out, temps)
    try:
        with watch:
            gdf.to_file(tmp, driver="ESRI Shapefile", encoding="UTF-8")
        if (failed := watch.failure()) is not None:
            raise failed
    except BaseException as err:
        watch.raise_replacement(err, lambda: [remove_quietly(t) for t in temps])
        raise
    if not tmp.exists():
        for t in temps:
            remove_quietly(t)
        raise OutputError(f"{out}: the writer produced no file; nothing was written")
    _publish_shapefile(tmp, path)
    _published(path)


def _warn_if_only_gcps(map_path: str | os.PathLike[str], transform: Any) -> None:
    """One :class:`~hsi_app.errors.HSIWarning` when a GeoTIFF map is placed by ground control points alone (as
    outputs on such a scene are): polygons can only be traced in its pixel coordinates, without a CRS."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    if transform is not None and not transform.is_identity:
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(map_path) as ds:
                points, crs = ds.gcps
    except (RasterioIOError, OSError, ValueError):
        return  # an ENVI map (no GCPs) or an unreadable one, refused by the reader already
    if points:
        warnings.warn(
            f"{map_path}: georeferenced by {len(points)} ground control points ({crs or 'no CRS'}), not by a "
            "transform; the polygons are in its pixel coordinates (x = column, y = row) without a CRS: warp the "
            "map to a grid first (gdalwarp -r near -t_srs EPSG:XXXX map.tif warped.tif)", HSIWarning, stacklevel=3)


def vectorize_map(
    map_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    min_pixels: int = 1,
    min_area_ha: float | None = None,
    connectivity: int = 4,
    layer: str = "classes",
    progress: bool = False,
) -> dict[str, Any]:
    """Write the sieved patches of a class map as polygons (GeoPackage, Shapefile, GeoJSON or FlatGeobuf).

    Args:
        map_path: class map GeoTIFF (band 1 = class, 0 = no data; band 2 confidence optional).
        out: ``.gpkg``, ``.shp``, ``.geojson``/``.json`` or ``.fgb`` to write (:func:`write_polygons`:
            the map's CRS is kept, except in GeoJSON, which is always longitude/latitude).
        min_pixels: minimum mapping unit in pixels.
        min_area_ha: minimum mapping unit in hectares (a map with a CRS); overrides
            ``min_pixels`` when given. On a geographic map each patch's ground area (its rows' pixel areas
            summed, as ``area_ha``) is held to it (:func:`~hsi_app.tasks.map_area_sieve.sieve_by_area`); on a
            projected one it is a pixel count (the unit over the pixel area, rounded up).
        connectivity: 4 (edge neighbours, the GIS default) or 8.
        layer: GeoPackage layer name (other formats hold one layer named after the file).
        progress: show the steps (sieve, polygons, writing) and a bar over the polygons, for maps of
            at least :data:`PROGRESS_MIN_PIXELS` pixels (smaller ones take a few seconds).

    Returns:
        Summary: ``polygons``, ``min_pixels`` (on a geographic map sieved by area: the unit in pixels of the map's
        centre, for reference), ``min_area_ha`` (the unit each patch's ground area was held to, ``None`` when the
        sieve counted pixels), ``pixel_area_m2``, ``sieved_pixels`` (pixels
        whose class the sieve changed), ``per_class`` polygon counts, ``crs`` (the polygons' CRS as
        ``crs.to_string()``, ``None`` without one) and ``pixel_coordinates`` (the map has no transform: x = column,
        y = row).

    Raises:
        ConfigError: bad connectivity or minimum mapping unit, or GeoJSON for a map without CRS.
        OutputError: an ``out`` suffix of no polygon format. InvalidDataError: a map without any
        classified pixel.
    """
    import geopandas as gpd
    from rasterio.features import shapes

    from hsi_app.io.cog import read_class_map
    from hsi_app.progress import bar, steps
    from hsi_app.tasks.map_area_sieve import AREA_SIEVE_MAX_PASSES, sieve_by_area

    if connectivity not in (4, 8):
        raise ConfigError(f"--connectivity {connectivity}: use 4 or 8 (connectivity= in Python)")
    driver = polygon_driver(out)
    cmap = read_class_map(map_path, confidence=False)  # band 2 is read strip by strip (patch_confidence)
    _warn_if_only_gcps(map_path, cmap.transform)
    if driver == "GeoJSON" and cmap.crs is None:
        raise ConfigError(f"{out}: GeoJSON is always longitude/latitude (EPSG:4326, RFC 7946) but the map {map_path} "
                          "has no CRS to convert from; write a .gpkg, .shp or .fgb instead")
    area, row_areas = ground_areas(cmap.transform, cmap.crs, cmap.classes.shape, source=map_path)  # rows: geographic
    if min_area_ha is not None:
        if area is None:
            why = ("needs a map CRS (it has none)" if cmap.crs is None else
                   f"needs a pixel's ground area, which cannot be measured in its CRS {cmap.crs.to_string()}")
            raise ConfigError(f"{map_path}: --min-area {why}; use --min-pixels instead "
                              "(min_area_ha=, min_pixels= in Python)")
        if not 0 < min_area_ha < np.inf:
            raise ConfigError(f"--min-area {min_area_ha}: must be a positive number of hectares, e.g. 0.5 "
                              "(min_area_ha= in Python)")
    h, w = cmap.classes.shape
    most = h * w - 1  # a patch can be at most the whole map; rasterio's sieve takes sizes below the pixel count
    if min_area_ha is not None:
        if min_area_ha * M2_PER_HA / area > most:
            raise ConfigError(f"--min-area {min_area_ha:g}: larger than the map ({h} x {w} px); use at most "
                              f"{most * area / M2_PER_HA:g} ha")
        min_pixels = max(1, int(np.ceil(min_area_ha * M2_PER_HA / area)))
    by_area = min_area_ha is not None and row_areas is not None
    if min_pixels < 1:
        raise ConfigError(f"--min-pixels {min_pixels}: must be at least 1 (min_pixels= in Python)")
    if min_pixels > most:
        raise ConfigError(f"--min-pixels {min_pixels}: larger than the map ({h} x {w} px); use at most {most}")
    if not (cmap.classes > 0).any():
        raise InvalidDataError(f"{map_path}: no classified pixel (band 1 is all 0); nothing to vectorize")
    show = progress and h * w >= PROGRESS_MIN_PIXELS
    with steps("vectorize", 3, enabled=show) as begin:
        begin("sieving")
        classes = cmap.classes
        cmap = cmap._replace(classes=None)  # the map's own classes are dropped once sieved (1 byte per pixel)
        if by_area:  # a geographic map: each patch's ground area, as area_ha sums it, meets the unit
            sieved = sieve_by_area(classes, row_areas, min_area_ha * M2_PER_HA, connectivity,  # type: ignore[arg-type,operator]
                                   on_pass=lambda i: begin(f"sieving, pass {i}", advance=False),
                                   on_area_pass=lambda i: begin(f"sieving, area pass {i} of at most "
                                                                f"{AREA_SIEVE_MAX_PASSES}", advance=False),
                                   source=map_path)
        else:
            sieved = (sieve_classes(classes, min_pixels, connectivity,
                                    on_pass=lambda i: begin(f"sieving, pass {i} of at most {SIEVE_MAX_PASSES}",
                                                            advance=False))
                      if min_pixels > 1 else classes)
        sieved_pixels = int(np.count_nonzero(sieved != classes)) if sieved is not classes else 0
        del classes
        patches = label_patches(sieved, connectivity)
        del sieved
        conf_mean = patch_confidence(map_path, patches.ids, patches.pixels.size, patches.pixels)  # no recount
        begin(f"tracing {patches.pixels.size:,} polygons")
        traced = shapes(patches.ids, mask=patches.ids > 0, connectivity=connectivity, transform=cmap.transform)
        geoms = trace_polygons(bar(traced, total=patches.pixels.size, desc="vectorize: tracing", unit="polygons",
                                   enabled=show), patches.pixels.size)
        names = cmap.class_names or []
        columns: dict[str, Any] = {
            "class_id": patches.classes,
            "class": [names[k] if k < len(names) else f"class {k}" for k in patches.classes],
            "pixels": patches.pixels,
        }
        if row_areas is not None:  # pixels of a geographic map shrink with latitude: each patch sums its rows
            columns["area_ha"] = summed_areas_m2(patches.ids, row_areas, patches.pixels.size + 1)[1:] / M2_PER_HA
        elif area is not None:
            columns["area_ha"] = patches.pixels * area / M2_PER_HA
        if conf_mean is not None:
            columns["mean_confidence"] = np.round(conf_mean, 4)
        gdf = gpd.GeoDataFrame(columns, geometry=geoms, crs=cmap.crs.to_wkt() if cmap.crs is not None else None)
        begin(f"writing {len(gdf):,} polygons")
        write_polygons(gdf, out, layer=layer)
    counts = {str(c): int(n) for c, n in zip(*np.unique(gdf["class"], return_counts=True), strict=True)}
    return {"polygons": int(len(gdf)), "min_pixels": int(min_pixels), "pixel_area_m2": area,
            "min_area_ha": float(min_area_ha) if by_area else None,  # type: ignore[arg-type]
            "sieved_pixels": sieved_pixels, "per_class": counts,
            "crs": cmap.crs.to_string() if cmap.crs is not None else None,
            "pixel_coordinates": cmap.transform is None or cmap.transform.is_identity}
