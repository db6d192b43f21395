"""Cloud-Optimized GeoTIFF output, streamed window by window.

:class:`StreamingCOGWriter` writes windows into a hidden, tiled staging GeoTIFF next
to the destination; on success GDAL's ``COG`` driver converts it (streaming, DEFLATE,
internal overviews) into a hidden partial file that is renamed onto the destination
(:mod:`hsi_app.io.atomic`). Memory is bounded by the window plus GDAL's block cache,
never by the scene. On any error neither the destination nor temporary files remain.

Class maps (:func:`write_class_map`, :func:`class_map_profile`) use this layout:

* band 1 ``"class"``: uint8 class index, 0 = unlabelled / no data (dataset nodata = 0),
  with a colour table (:func:`hsi_app.io.quicklook.default_palette`, entry 0 fully
  transparent black);
* band 2 ``"confidence"`` (optional): all bands of a GeoTIFF share one data type, so the
  confidence is stored as uint8 ``round(255 * p)`` with band scale ``1/255`` (GDAL
  scale/offset, so ``value * scale`` gives ``p``). Classified pixels store at least 1,
  so 0 keeps meaning "no data" in both bands;
* dataset tag ``CLASS_NAMES``: JSON list, index 0 = "unlabelled" (written by
  :func:`class_names_tag`, read by :func:`parse_class_names_tag`, which also accepts
  comma-separated text).

Decisions, checked against GDAL 3.10:

* A colour table *can* live on band 1 of a 2-band COG, but only for Byte/UInt16 data,
  and TIFF then needs the second sample declared as an "extra sample". GDAL's TIFF
  writer always declares the extra sample of a 2-band paletted image as unassociated
  alpha (no creation option or ``PHOTOMETRIC``/``INTERLEAVE`` setting changes that in
  the COG driver), so GDAL reports band 2's colour interpretation as *alpha*. We accept
  this: viewers show low-confidence pixels faded, which is a sensible rendering, and
  programs identify the band by its description ``"confidence"`` and its scale. Because
  the dataset has a nodata value, GDAL masks come from nodata, not from the alpha band.
* GDAL category names (a raster attribute table) are only kept in a ``.aux.xml``
  sidecar for GeoTIFF, which would break the single-file COG, and rasterio has no API
  for them; class names are therefore stored in the TIFF's own GDAL metadata tag
  (``CLASS_NAMES``), which travels with the file.
* Class maps build overviews with ``NEAREST`` resampling (class indices must not be
  averaged); cubes use ``AVERAGE``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np

from hsi_app.errors import CubeReadError, HSIWarning, InvalidDataError, OutputError
from hsi_app.io.atomic import atomic_path, check_writable, partial_path, remove_quietly
from hsi_app.io.cube import Cube, check_is_cube, valid_from_data
from hsi_app.io.disk_full import WriteWatch
from hsi_app.io.geotiff import TIFF_ONLY
from hsi_app.io.quicklook import as_palette
from hsi_app.local_reads import compute_here, local_scheduler

CONFIDENCE_SCALE = 1.0 / 255.0
CLASS_NAMES_TAG = "CLASS_NAMES"


def is_hsi_class_map(ds: Any) -> bool:
    """Whether an open rasterio dataset ``ds`` is a class map hsi wrote (:func:`class_map_profile`): a GeoTIFF with
    the :data:`CLASS_NAMES_TAG` tag and an integer band 1. ``abundance.tif`` of ``hsi simulate-targets`` has the tag
    for its class band 2, but a float band 1, and a paletted label raster from QGIS or ENVI has no such tag."""
    return ds.driver == "GTiff" and CLASS_NAMES_TAG in ds.tags() and np.dtype(ds.dtypes[0]).kind in "iu"
UNKNOWN_GCP_CRS = 'LOCAL_CS["unknown"]'
"""The CRS written with ground control points that came without one (their map units are unknown)."""


def class_names_tag(names: Sequence[str]) -> str:
    """The ``CLASS_NAMES`` tag value of ``names`` (0..K): a JSON list, the one form every writer uses."""
    return json.dumps([str(n) for n in names])


def parse_class_names_tag(text: str | None, path: str | os.PathLike[str]) -> list[str] | None:
    """Class names 0..K from a ``CLASS_NAMES`` tag value, as any reader of the tag takes them.

    A JSON list is the written form; comma-separated text (``none,water,crop``, as earlier
    ``hsi simulate-targets`` wrote it) is read as the names. Anything else is ignored with one
    :class:`~hsi_app.errors.HSIWarning` naming ``path``, and the classes are then taken by number.

    Args:
        text: the tag's value, or ``None`` when the file has no tag.
        path: the file, for the warning.

    Returns:
        The names, or ``None`` (no tag, or an unreadable one).
    """
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = [part.strip() for part in text.split(",")] if "," in text else None
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) and str(v).strip() for v in value):
        return [str(v) for v in value]
    warnings.warn(f"{path}: its {CLASS_NAMES_TAG} tag ({text[:60]!r}) is neither a JSON list nor comma-separated "
                  "names, so its classes are taken by number (rewrite the tag as a JSON list to name them)",
                  HSIWarning, stacklevel=3)
    return None


class StreamingCOGWriter:
    """Write a COG window by window (context manager).

    Example::

        with StreamingCOGWriter("out.tif", height=H, width=W, count=2, dtype="uint8",
                                crs=crs, transform=transform) as w:
            for r, c, h, w_ in windows:
                w.write_window(block, r, c)      # block: (count, h, w_)

    Args:
        dst: output path (checked for writability immediately).
        height, width: raster size in pixels.
        count: number of bands.
        dtype: numpy/rasterio data type name of every band.
        crs: anything rasterio understands, or ``None`` (pixel coordinates).
        transform: affine transform; ``None`` means the identity (pixel coordinates).
        nodata: dataset nodata value (NaN allowed for floats).
        band_descriptions: ``count`` strings.
        tags: dataset metadata (values converted to ``str``).
        band_tags: ``count`` dicts of per-band metadata.
        colormap: colour table of band 1, ``{index: (r, g, b, a)}``; needs uint8/uint16.
        scales, offsets: ``count`` GDAL scale/offset values.
        gcps: ``(points, crs)`` ground control points (rasterio's ``ds.gcps``) for a raster with no ``transform``,
            or ``None``.
        area_or_point: ``"Point"`` to declare the grid pixel-is-point (GDAL's ``AREA_OR_POINT``), as the input
            it is on declared it (:func:`~hsi_app.io.geotiff.cube_area_or_point`); ``transform`` stays GDAL's
            (pixel corners) and GDAL stores the tie point at the pixel centre. ``None``: pixel-is-area.
        blocksize: COG tile size in pixels.
        overview_resampling: GDAL resampling used for overviews (``"NEAREST"``,
            ``"AVERAGE"``, ``"MODE"``...).
        progress: show the conversion to COG at the end (tiles, compression, overviews: a minute or more
            for a large float cube) as one step (:func:`hsi_app.progress.steps`: a bar with the elapsed time
            on a terminal, plain lines in a log) when the raster holds more than
            :data:`~hsi_app.io.summary.LARGE_ELEMENTS` values, as ``write_cube``'s bar; a smaller one
            converts in seconds, without one. ``False`` (``--quiet``, the default) shows nothing.
    """

    def __init__(
        self,
        dst: str | os.PathLike[str],
        *,
        height: int,
        width: int,
        count: int,
        dtype: str | np.dtype[Any],
        crs: Any,
        transform: Any,
        nodata: float | None = None,
        band_descriptions: Sequence[str] | None = None,
        tags: Mapping[str, Any] | None = None,
        band_tags: Sequence[Mapping[str, Any]] | None = None,
        colormap: Mapping[int, Sequence[int]] | None = None,
        scales: Sequence[float] | None = None,
        offsets: Sequence[float] | None = None,
        gcps: tuple[Sequence[Any], Any] | None = None,
        area_or_point: str | None = None,
        blocksize: int = 256,
        overview_resampling: str = "NEAREST",
        progress: bool = False,
    ) -> None:
        self.dst = check_writable(dst)
        if height < 1 or width < 1 or count < 1:
            raise InvalidDataError(f"{dst}: cannot write a raster of {count} bands x {height} x {width} pixels")
        for name, seq in (("band_descriptions", band_descriptions), ("band_tags", band_tags),
                          ("scales", scales), ("offsets", offsets)):
            if seq is not None and len(seq) != count:
                raise InvalidDataError(f"{dst}: {name} has {len(seq)} entries for {count} bands")
        if blocksize < 16 or blocksize % 16:
            raise InvalidDataError(f"{dst}: blocksize must be a multiple of 16, got {blocksize}")
        self.height, self.width, self.count = int(height), int(width), int(count)
        self.dtype = np.dtype(dtype)
        self.crs = crs
        self.transform = transform
        self.nodata = nodata
        self.band_descriptions = band_descriptions
        self.tags = dict(tags or {})
        self.band_tags = band_tags
        self.colormap = colormap
        self.scales = scales
        self.offsets = offsets
        self.gcps = gcps
        self.area_or_point = area_or_point
        self.blocksize = int(blocksize)
        self.overview_resampling = overview_resampling
        self.progress = bool(progress)
        self._stage_path = partial_path(self.dst.with_suffix(".stage.tif"))
        self._ds: Any = None
        self._watch = WriteWatch(dst, [self._stage_path])  # GDAL's messages kept quiet; a full disk named as one line

    def __enter__(self) -> StreamingCOGWriter:
        import rasterio
        from rasterio.crs import CRS
        from rasterio.errors import NotGeoreferencedWarning
        from rasterio.transform import Affine

        transform = self.transform if self.transform is not None else Affine.identity()
        georef: dict[str, Any] = {"crs": self.crs, "transform": transform}
        if self.gcps is not None and self.transform is None:  # GCPs given at creation: setting them after a
            # transform made GDAL print a warning; points without a CRS (gdal_translate -gcp, no -a_srs) are
            # written under an unnamed local one, as rasterio cannot write them with none
            crs = self.gcps[1] if self.gcps[1] is not None else CRS.from_wkt(UNKNOWN_GCP_CRS)
            georef = {"gcps": list(self.gcps[0]), "crs": crs}
        self._watch.__enter__()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(
                    self._stage_path, "w", driver="GTiff",
                    height=self.height, width=self.width, count=self.count, dtype=self.dtype.name,
                    nodata=self.nodata, **georef,
                    tiled=True, blockxsize=self.blocksize, blockysize=self.blocksize,
                    compress="deflate", zlevel=1, bigtiff="if_safer",
                )
                self._write_metadata()
        except BaseException as err:
            self._watch.raise_replacement(err, self._discard, failure=self._start_failure)
            raise
        return self

    def _start_failure(self, err: BaseException) -> BaseException | None:
        """What to raise instead of a failure to open the staging file: a full disk, else one output line."""
        full = self._watch.failure(err)
        if full is None and isinstance(err, Exception) and not isinstance(err, OutputError):
            return OutputError(f"{self.dst}: cannot start writing the GeoTIFF ({err})")
        return full

    def _write_metadata(self) -> None:
        ds = self._ds
        if self.band_descriptions is not None:
            for i, desc in enumerate(self.band_descriptions, start=1):
                ds.set_band_description(i, str(desc))
        if self.tags:
            ds.update_tags(**{k: str(v) for k, v in self.tags.items()})
        if self.band_tags is not None:
            for i, btags in enumerate(self.band_tags, start=1):
                if btags:
                    ds.update_tags(i, **{k: str(v) for k, v in btags.items()})
        if self.colormap is not None:
            ds.write_colormap(1, {int(k): tuple(int(c) for c in v) for k, v in self.colormap.items()})
        if self.scales is not None:
            ds.scales = tuple(float(s) for s in self.scales)
        if self.offsets is not None:
            ds.offsets = tuple(float(o) for o in self.offsets)
        if self.area_or_point is not None and self.transform is not None:
            ds.update_tags(AREA_OR_POINT=self.area_or_point)

    def write_window(self, array: np.ndarray, row_off: int, col_off: int) -> None:
        """Write ``array`` (``(count, h, w)``) with its top-left pixel at ``(row_off, col_off)``."""
        from rasterio.windows import Window

        if self._ds is None:
            raise OutputError(f"{self.dst}: write_window called outside the 'with' block")
        arr = np.asarray(array)
        if arr.ndim == 2 and self.count == 1:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[0] != self.count:
            raise InvalidDataError(f"{self.dst}: window must be ({self.count}, h, w), got shape {arr.shape}")
        _, h, w = arr.shape
        if row_off < 0 or col_off < 0 or row_off + h > self.height or col_off + w > self.width:
            raise InvalidDataError(
                f"{self.dst}: window rows {row_off}:{row_off + h}, cols {col_off}:{col_off + w} "
                f"fall outside the {self.height} x {self.width} raster"
            )
        self._ds.write(arr.astype(self.dtype, copy=False), window=Window(col_off, row_off, w, h))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self._watch.raise_replacement(exc, self._discard)
            return
        try:
            self._ds.close()
            self._ds = None
            if (failed := self._watch.failure()) is not None:  # a TIFF write failed: the stage is damaged
                raise failed
            self._convert()
        except BaseException as err:
            self._watch.raise_replacement(err, self._discard)
            raise
        self._discard()

    def _convert(self) -> None:
        import rasterio.shutil
        from rasterio._err import CPLE_BaseError
        from rasterio.errors import NotGeoreferencedWarning, RasterioError

        from hsi_app.io.summary import LARGE_ELEMENTS
        from hsi_app.progress import steps

        opts: dict[str, Any] = {
            "compress": "DEFLATE",
            "blocksize": self.blocksize,
            "overview_resampling": self.overview_resampling,
            "bigtiff": "IF_SAFER",
            "num_threads": "ALL_CPUS",
        }
        if self.dtype.kind == "f":
            opts["predictor"] = "FLOATING_POINT"
        # rasterio's copy takes no GDAL progress callback: one step, its elapsed time shown while it runs
        shown = self.progress and self.count * self.height * self.width > LARGE_ELEMENTS
        with atomic_path(self.dst) as tmp:
            try:
                with steps("write COG", 1, enabled=shown) as begin, warnings.catch_warnings():
                    begin("tiles, compression and overviews")
                    warnings.simplefilter("ignore", NotGeoreferencedWarning)
                    rasterio.shutil.copy(self._stage_path, tmp, driver="COG", **opts)
            except (RasterioError, CPLE_BaseError) as err:
                raise OutputError(f"{self.dst}: GDAL could not write the COG ({err}); check free disk space") from err

    def _discard(self) -> None:
        if self._ds is not None:
            try:
                self._ds.close()
            except Exception:  # closing a half-written staging file; it is deleted next
                pass
            self._ds = None
        remove_quietly(self._stage_path)
        self._watch.__exit__(None, None, None)


def iter_windows(height: int, width: int, size: int) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(row_off, col_off, h, w)`` tiles of ``size`` covering a ``height x width`` grid."""
    from hsi_app.infer import iter_windows as halo_windows

    for w in halo_windows(height, width, size, 0):
        yield w.row, w.col, w.height, w.width


# --------------------------------------------------------------------------- class maps


class ClassMap(NamedTuple):
    """What :func:`read_class_map` returns.

    Attributes:
        classes: ``(H, W)`` uint8 class indices (0 = unlabelled / no data).
        confidence: ``(H, W)`` float32 in [0, 1], or ``None`` when the file has no band 2.
        class_names: names for 0..K, or ``None`` when the file has no ``CLASS_NAMES``.
        colormap: ``(n, 4)`` uint8 RGBA colour table (``n = len(class_names)`` or 256).
        crs: rasterio CRS or ``None``.
        transform: affine transform.
    """

    classes: np.ndarray
    confidence: np.ndarray | None
    class_names: list[str] | None
    colormap: np.ndarray | None
    crs: Any
    transform: Any


def class_map_profile(
    class_names: Sequence[str],
    colors: Any = None,
    *,
    with_confidence: bool = True,
) -> dict[str, Any]:
    """Writer settings of a class map, for ``StreamingCOGWriter(dst, **profile, ...)``.

    Pair with :func:`encode_class_window` to stream a class map window by window with
    exactly the layout of :func:`write_class_map`.

    Args:
        class_names: names for 0..K (index 0 = "unlabelled"); at most 256 entries.
        colors: see :func:`hsi_app.io.quicklook.as_palette`.
        with_confidence: add band 2 (confidence).

    Returns:
        ``count``, ``dtype``, ``nodata``, ``band_descriptions``, ``tags``, ``colormap``,
        ``scales``, ``offsets`` and ``overview_resampling`` keyword arguments.
    """
    names = [str(n) for n in class_names]
    if not 2 <= len(names) <= 256:
        raise InvalidDataError(
            f"a class map needs 2..256 class names (index 0 = 'unlabelled'), got {len(names)}"
        )
    pal = as_palette(colors, len(names))
    cmap = {i: (int(r), int(g), int(b), 0 if i == 0 else 255) for i, (r, g, b) in enumerate(pal)}
    count = 2 if with_confidence else 1
    return {
        "count": count,
        "dtype": "uint8",
        "nodata": 0,
        "band_descriptions": ["class", "confidence"][:count],
        "tags": {CLASS_NAMES_TAG: class_names_tag(names)},
        "colormap": cmap,
        "scales": [1.0, CONFIDENCE_SCALE][:count],
        "offsets": [0.0, 0.0][:count],
        "overview_resampling": "NEAREST",
    }


def encode_class_window(classes: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    """Pack a class window (and confidence) into the stored uint8 layout.

    Args:
        classes: ``(h, w)`` integer class indices 0..255.
        confidence: ``(h, w)`` float in [0, 1] (NaN allowed where class is 0), or ``None``.

    Returns:
        ``(1, h, w)`` or ``(2, h, w)`` uint8.
    """
    cls = np.asarray(classes)
    if cls.ndim != 2:
        raise InvalidDataError(f"class map must be (H, W), got shape {cls.shape}")
    if cls.size and (cls.min() < 0 or cls.max() > 255):
        raise InvalidDataError("class indices must be in 0..255 to be stored as uint8")
    cls8 = cls.astype(np.uint8)
    if confidence is None:
        return cls8[None]
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.shape != cls.shape:
        raise InvalidDataError(f"confidence has shape {conf.shape} but the class map is {cls.shape}")
    enc = np.round(np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0) * 255.0)
    enc = np.where(cls8 > 0, np.maximum(enc, 1.0), 0.0).astype(np.uint8)
    return np.stack([cls8, enc])


def read_confidence(ds: Any, window: Any = None) -> np.ndarray:
    """Band 2 of an open class map (``window``: a :class:`rasterio.windows.Window`, None for the whole band) as
    ``(h, w)`` float32 confidence in ``[0, 1]``: the stored uint8 times the band's scale (1/255 as
    :func:`write_class_map` writes it) plus its offset."""
    conf = ds.read(2, window=window, out_dtype=np.float32)
    conf *= np.float32(ds.scales[1] if ds.scales[1] else 1.0)
    conf += np.float32(ds.offsets[1] or 0.0)
    return conf


def write_class_map(
    dst: str | os.PathLike[str],
    classes: np.ndarray,
    confidence: np.ndarray | None,
    *,
    crs: Any,
    transform: Any,
    class_names: Sequence[str],
    colors: Any = None,
    blocksize: int = 256,
) -> None:
    """Write a class map (+ confidence) COG; see the module docstring for the layout.

    Args:
        dst: output ``.tif`` path.
        classes: ``(H, W)`` integer class indices into ``class_names`` (0 = unlabelled).
        confidence: ``(H, W)`` float32 in [0, 1], or ``None`` for a 1-band file.
        crs: CRS or ``None``.
        transform: affine transform or ``None`` (pixel coordinates).
        class_names: names for 0..K.
        colors: class colours (default palette when ``None``).
        blocksize: COG tile size.
    """
    cls = np.asarray(classes)
    if cls.ndim != 2:
        raise InvalidDataError(f"{dst}: class map must be (H, W), got shape {cls.shape}")
    if cls.size and cls.max() >= len(class_names):
        raise InvalidDataError(
            f"{dst}: class value {int(cls.max())} has no name; pass {int(cls.max()) + 1} class names (0 included)"
        )
    profile = class_map_profile(class_names, colors, with_confidence=confidence is not None)
    h, w = cls.shape
    with StreamingCOGWriter(dst, height=h, width=w, crs=crs, transform=transform,
                            blocksize=blocksize, **profile) as out:
        for r, c, hh, ww in iter_windows(h, w, blocksize):
            conf = None if confidence is None else np.asarray(confidence)[r:r + hh, c:c + ww]
            out.write_window(encode_class_window(cls[r:r + hh, c:c + ww], conf), r, c)


def read_class_map(path: str | os.PathLike[str], *, confidence: bool = True) -> ClassMap:
    """Read a class map written by :func:`write_class_map` (or any paletted GeoTIFF), or an
    ENVI classification file (:func:`read_envi_class_map`).

    Args:
        path: the GeoTIFF, or an ENVI classification's ``.hdr`` or data file.
        confidence: read band 2 as float32 confidence (``False`` saves 4 bytes per pixel
            when only the classes are needed; ``ClassMap.confidence`` is then ``None``).

    Returns:
        :class:`ClassMap` ``(classes, confidence, class_names, colormap, crs, transform)``.

    Band 1's no-data value (when tagged) reads as 0, the class maps' no data.

    Raises:
        DatasetNotFoundError: no such file.
        CubeReadError: the file cannot be opened, or is truncated or corrupt.
        InvalidDataError: a folder, an empty file or not a GeoTIFF; band 1 is not integer or holds
            values outside 0..255; or there are more than two bands (an image cube rather than a
            map); for ENVI, see :func:`read_envi_class_map`.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from hsi_app.io.class_map_checks import (
        check_class_map_path,
        check_class_map_tiff,
        check_class_values,
        unreadable_class_map,
    )
    from hsi_app.io.envi import is_envi
    from hsi_app.io.labels import nodata_to_zero

    check_class_map_path(path)
    if is_envi(path):
        return read_envi_class_map(path)
    check_class_map_tiff(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, driver=TIFF_ONLY) as ds:
                if ds.count > 2:
                    raise InvalidDataError(
                        f"{path}: {ds.count} bands, so an image rather than a class map (band 1 class, optional "
                        "band 2 confidence); classify it first with hsi predict")
                if np.dtype(ds.dtypes[0]).kind not in "iu":
                    raise InvalidDataError(
                        f"{path}: band 1 holds {ds.dtypes[0]} values, not class numbers; pass a class map "
                        "(integer classes in band 1, e.g. the map.tif of hsi predict)")
                classes = nodata_to_zero(ds.read(1), ds.nodata)
                conf = None
                if confidence and ds.count >= 2:
                    conf = read_confidence(ds)
                names_json = ds.tags().get(CLASS_NAMES_TAG)
                try:
                    cmap = ds.colormap(1)
                except ValueError:
                    cmap = None
                crs, transform = ds.crs, ds.transform
    except RasterioIOError as err:
        raise CubeReadError(unreadable_class_map(path, err)) from err
    check_class_values(classes, path)
    names = parse_class_names_tag(names_json, path)
    colormap = None
    if cmap:
        n = len(names) if names else 256
        colormap = np.array([cmap.get(i, (0, 0, 0, 0)) for i in range(n)], dtype=np.uint8)
    return ClassMap(classes, conf, names, colormap, crs, transform)


def read_envi_class_map(path: str | os.PathLike[str]) -> ClassMap:
    """Read an ENVI classification file (``file type = ENVI Classification``) as a class map.

    ENVI stores class 0 as "Unclassified", the same convention as :func:`write_class_map`
    (0 = no data). ``class names`` and ``class lookup`` (RGB triples) give the names and the
    colour table; ``map info`` the CRS and transform. There is no confidence band.

    Args:
        path: the ``.hdr`` or the data file next to it.

    Raises:
        InvalidDataError: not a classification file (an image), more than one band, or
            values outside ``0..classes-1``.
    """
    from rasterio.transform import Affine

    from hsi_app.io.envi import find_header, is_classification, read_envi, read_header

    header = find_header(path)
    h = read_header(header) if header is not None else {}
    if not is_classification(h):
        raise InvalidDataError(f"{path}: an ENVI image, not an ENVI classification; pass a class map "
                               "(ENVI 'file type = ENVI Classification', or the map.tif of hsi predict)")
    cube = read_envi(path)
    if cube.sizes["band"] != 1:
        raise InvalidDataError(f"{path}: ENVI classification with {cube.sizes['band']} bands; a class map has one")
    values = np.asarray(compute_here(cube.data[0])[0])  # a lazy read: in this process, not on a notebook's Client
    values = np.where(np.isfinite(values), values, 0)
    n = int(h.get("classes", int(values.max(initial=0)) + 1))
    if values.size and (values.min() < 0 or values.max() >= min(n, 256) or np.any(values != np.round(values))):
        raise InvalidDataError(f"{path}: class values outside 0..{min(n, 256) - 1} (header 'classes = {n}'); "
                               "fix the header's class count or the data")
    names = [str(v).strip() for v in h.get("class names", [])] or None
    if names is not None and len(names) != n:
        names = None  # a header that disagrees with itself: fall back to class numbers
    lookup = h.get("class lookup")
    colormap = None
    if lookup is not None and len(lookup) == 3 * n:
        rgb = np.asarray([float(v) for v in lookup], np.float64).reshape(n, 3).clip(0, 255).astype(np.uint8)
        colormap = np.concatenate([rgb, np.full((n, 1), 255, np.uint8)], axis=1)
        colormap[0, 3] = 0  # class 0 (unclassified) is transparent, as in write_class_map
    crs = cube.rio.crs
    return ClassMap(values.astype(np.uint8), None, names, colormap, crs,
                    cube.hsi.transform or Affine.identity())


# --------------------------------------------------------------------------- cubes


def cube_band_metadata(cube: Cube) -> tuple[list[str], list[dict[str, str]], dict[str, str]]:
    """Band descriptions, per-band tags and dataset tags that describe a cube's bands.

    Returns:
        ``(descriptions, band_tags, dataset_tags)``: the input's own band descriptions (GeoTIFF
        descriptions, ENVI band names) where it had them, else like ``"band 12 (551.3 nm)"``;
        band tags ``wavelength``/``fwhm`` (nm) where known; dataset tags ``wavelength``/``fwhm``
        (comma lists, 10 significant digits), ``wavelength_units=nm`` and ``bad_bands``
        (0-based indices).
    """
    wl = cube.hsi.wavelengths
    fw = cube.hsi.fwhm
    own = cube.attrs.get("band_descriptions") or cube.attrs.get("band_names") or []
    numbers = np.asarray(cube.coords["band"].values, dtype=int) if "band" in cube.coords else np.arange(1, wl.size + 1)
    descriptions: list[str] = []
    band_tags: list[dict[str, str]] = []
    for i, (w, f) in enumerate(zip(wl, fw, strict=True), start=1):
        k = int(numbers[i - 1]) - 1  # the band's number in the file it came from (band subsets keep it)
        given = str(own[k]).strip() if 0 <= k < len(own) else ""
        descriptions.append(given or (f"band {i} ({w:.1f} nm)" if np.isfinite(w) else f"band {i}"))
        tags: dict[str, str] = {}
        if np.isfinite(w):
            tags["wavelength"] = f"{w:.10g}"
            tags["wavelength_units"] = "nm"
        if np.isfinite(f):
            tags["fwhm"] = f"{f:.10g}"
        band_tags.append(tags)
    dataset: dict[str, str] = {}
    if np.isfinite(wl).any():
        dataset["wavelength"] = ",".join(f"{w:.10g}" for w in wl)
        dataset["wavelength_units"] = "nm"
    if np.isfinite(fw).any():
        dataset["fwhm"] = ",".join(f"{f:.10g}" for f in fw)
    bad = cube.hsi.bad_bands
    if bad:
        dataset["bad_bands"] = ",".join(str(b) for b in bad)
    return descriptions, band_tags, dataset


def write_cube(dst: str | os.PathLike[str], cube: Cube, *, blocksize: int = 256, progress: bool = True) -> None:
    """Write a cube as a float32 multi-band COG, tile by tile from a (lazy) cube.

    Values equal to the cube's no-data value (``cube.hsi.nodata``) become NaN, the file's nodata, and so do whole
    pixels that have data but are invalid by ``cube.hsi.valid`` (a GDAL mask, an alpha band,
    quality masks applied by ``without_masked``). CRS and transform (``cube.hsi.transform``) are kept; a cube with neither is
    written in pixel coordinates, with the ground control points of a GeoTIFF georeferenced only by them
    (:func:`~hsi_app.io.geotiff.cube_gcps`).

    Args:
        dst: output ``.tif`` path.
        cube: Cube ``(C, H, W)``, numpy- or dask-backed; read one dask chunk (or one
            ``blocksize`` tile) at a time.
        blocksize: COG tile size (also the read window).
        progress: progress over the windows on stderr (a live bar on a terminal, plain lines in a log;
            :func:`hsi_app.progress.bar`) for a cube of more than
            :data:`~hsi_app.io.summary.LARGE_ELEMENTS` values; a smaller one writes in seconds, without one.
    """
    from hsi_app.io.geotiff import cube_georef
    from hsi_app.io.summary import LARGE_ELEMENTS
    from hsi_app.progress import bar

    check_is_cube(cube, "write_cube")  # a numpy/dask array has no bands, grid or no-data value to write
    c, h, w = cube.hsi.shape
    descriptions, band_tags, tags = cube_band_metadata(cube)
    nodata = cube.hsi.nodata
    with StreamingCOGWriter(
        dst, height=h, width=w, count=c, dtype="float32", nodata=float("nan"), band_descriptions=descriptions,
        tags=tags, band_tags=band_tags, blocksize=blocksize, overview_resampling="AVERAGE", **cube_georef(cube),
    ) as out:
        windows = list(_read_windows(cube, blocksize))
        for r, col, hh, ww in bar(windows, desc="write_cube", unit="win",
                                  enabled=progress and c * h * w > LARGE_ELEMENTS):
            win = cube.hsi.window(r, col, hh, ww).compute(scheduler=local_scheduler())  # data and valid mask in one pass
            raw = np.asarray(win.values)
            block = raw.astype(np.float32)
            if nodata is not None:
                block[raw == nodata] = np.nan
            invalid = ~np.asarray(win.hsi.valid.values, dtype=bool)
            if invalid.any():  # pixels with data that a mask, an alpha band or without_masked made invalid go
                # as a whole (a pixel invalid for a NaN in one band keeps its other bands' values)
                has_data = valid_from_data(raw[:, invalid][:, :, None], nodata, win.hsi.bad_band_mask)[:, 0]
                rows, cols = np.nonzero(invalid)
                block[:, rows[has_data], cols[has_data]] = np.nan
            out.write_window(block, r, col)


_MAX_READ_BYTES = 512 * 2**20


def _read_windows(cube: Cube, blocksize: int) -> Iterator[tuple[int, int, int, int]]:
    """Windows to read a cube by: its dask chunks (each chunk computed once) when they
    are small enough, else ``blocksize`` tiles."""
    c, h, w = cube.hsi.shape
    chunks = getattr(cube.data, "chunks", None)
    if chunks is not None:
        ys, xs = chunks[1], chunks[2]
        if max(ys) * max(xs) * c * 4 <= _MAX_READ_BYTES:
            row_offs = np.cumsum((0, *ys[:-1]))
            col_offs = np.cumsum((0, *xs[:-1]))
            for r, hh in zip(row_offs, ys, strict=True):
                for col, ww in zip(col_offs, xs, strict=True):
                    yield int(r), int(col), int(hh), int(ww)
            return
    yield from iter_windows(h, w, blocksize)
