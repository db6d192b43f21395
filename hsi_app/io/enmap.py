"""EnMAP Level-2A (surface reflectance) products: folder, ``.zip`` or SPECTRAL_IMAGE.TIF.

A product ``P`` (``ENMAP01-____L2A-DT..._V010303_...``) holds ``P-SPECTRAL_IMAGE.TIF``
(224 bands, int16, no-data -32768; bands numbered in increasing wavelength, the VNIR and
SWIR detectors interleaving around 900-1000 nm), ``P-METADATA.XML``, ``P-HISTORY.XML`` and
``P-QL_*.TIF`` quality layers (``QL_QUALITY_CLOUD``/``_CLOUDSHADOW``/``_HAZE``/``_SNOW`` 0/1,
``QL_QUALITY_CIRRUS`` 0 none, 1 thin, 2 medium, 3 thick) and the layers :mod:`hsi_app.io.enmap_layers`
describes: the per-band ``QL_PIXELMASK`` (the ``defective`` mask; the values are kept unless asked),
``QL_QUALITY_CLASSES`` (1 land, 2 water, 3 background; background is no-data) and ``QL_QUALITY_TESTFLAGS``
(kept, masks nothing).
Products ordered as Cloud-Optimized GeoTIFF name their rasters ``P-SPECTRAL_IMAGE_COG.TIF``
and ``P-QL_QUALITY_*_COG.TIF``; every raster name may also end ``.TIFF`` or ``.GEOTIFF``, in any case.
Products ordered in ENVI format (as EnPT also writes them) hold ``P-SPECTRAL_IMAGE.BSQ``
(or ``.BIL``/``.BIP``) with its ``.HDR``; any raster so named is read through GDAL's ENVI
driver, ``.JP2``/``.JPEG2000`` rasters (JPEG2000 orders) through its JP2OpenJPEG driver,
the others through its GTiff driver only.
(:mod:`hsi_app.io.enmap_product` finds the parts.) Everything per band comes from the scene's own ``METADATA.XML``
(``specific/bandCharacterisation/bandID[@number]``): centre wavelength, FWHM, gain and
offset. The cube holds ``raw * gain + offset`` as float32 (reflectance 0..1), computed
lazily; raw no-data values become NaN. Zips are read in place (GDAL ``/vsizip/`` for the
rasters, :mod:`zipfile` for the XML); nothing is extracted to disk.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from hsi_app.errors import BandMismatchError, ConfigError, CubeReadError, HSIWarning
from hsi_app.io.cube import DETECTOR_COORD, Cube, make_cube
from hsi_app.io.enmap_product import (
    ENVI_EXTS,
    JP2_EXTS,
    METADATA_SUFFIX,
    QUALITY_CODES,
    QUALITY_MASKS,
    SPECTRAL_SUFFIX,
    TAR_ENDINGS,
    ProductParts,
    find_product,
    gdal_driver,
    is_enmap_product,
    locate_product,
    named_envi_spectral_image,
    named_jpeg2000_spectral_image,
)
from hsi_app.io.enmap_layers import (
    CLASS_COORD,
    CLASS_MEANINGS,
    DEFECTIVE_MASK,
    TESTFLAGS_COORD,
    Grid,
    background_of,
    flag_of,
    open_checked,
    parse_band_statistics,
    read_layer,
)
from hsi_app.io.envi import FILE_DTYPE_ATTR
from hsi_app.io.geotiff import AREA_OR_POINT_ATTR, TIFF_ONLY
from hsi_app.io.partial_nodata import NODATA_NOTE_ATTR

__all__ = [
    "DETECTORS", "ENVI_EXTS", "FORMAT", "JP2_EXTS", "METADATA_SUFFIX", "NODATA", "QUALITY_CODES", "QUALITY_MASKS",
    "SPECTRAL_SUFFIX", "TAR_ENDINGS", "BandTable", "is_enmap_product", "locate_product",
    "named_envi_spectral_image", "named_jpeg2000_spectral_image", "parse_band_table", "parse_detectors",
    "read_band_table", "read_enmap", "scan_spectral_image",
]

FORMAT = "enmap_l2a"
NODATA = -32768
FILL_NOTE = ("-32768 is EnMAP L2A's fill value, never a reflectance x 10000: those bands hold no measurement "
             "there, whatever the file declares")
"""What ``hsi info`` says of pixels holding -32768 in only some bands (:data:`~hsi_app.io.partial_nodata.NODATA_NOTE_ATTR`):
the reader takes -32768 as no-data even when the file declares none, so unsetting it is no fix."""
DETECTORS = ("VNIR", "SWIR")
"""EnMAP's two detectors, as named in ``specific/{vnir,swir}ProductQuality`` (lower case there)."""
SCAN_BYTES = 32 * 2**20
"""Memory budget of one row block in the bad-band scan."""


@dataclass(frozen=True)
class BandTable:
    """Per-band values of one scene, each ``(C,)`` float64 (nm for wavelength/FWHM).

    ``detector`` is ``(C,)`` str, ``"VNIR"`` or ``"SWIR"`` (:func:`parse_detectors`), or None when
    the XML does not say.
    """

    wavelength: np.ndarray
    fwhm: np.ndarray
    gain: np.ndarray
    offset: np.ndarray
    detector: np.ndarray | None = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def parse_band_table(xml: bytes, source: str = "METADATA.XML") -> BandTable:
    """Per-band values from the text of an EnMAP ``METADATA.XML``.

    Reads ``specific/bandCharacterisation/bandID[@number]`` with children
    ``wavelengthCenterOfBand``, ``FWHMOfBand``, ``GainOfBand`` and ``OffsetOfBand``
    (offset 0 when absent). Namespaces, if any, are ignored.

    Raises:
        CubeReadError: not XML, no bandCharacterisation, or missing/bad values.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as err:
        raise CubeReadError(f"{source}: not valid XML ({err}); download the product again") from err
    spec = _child(root, "specific")
    table = _child(spec, "bandCharacterisation") if spec is not None else None
    if table is None:
        table = next((e for e in root.iter() if _local(e.tag) == "bandCharacterisation"), None)
    bands = [b for b in table if _local(b.tag) == "bandID"] if table is not None else []
    if not bands:
        raise CubeReadError(
            f"{source}: no specific/bandCharacterisation/bandID entries; "
            "this is not an EnMAP L2A METADATA.XML, use the one delivered with the image"
        )
    rows: dict[int, tuple[float, float, float, float]] = {}
    for b in bands:
        try:
            number = int(b.get("number", ""))
            vals = []
            for name in ("wavelengthCenterOfBand", "FWHMOfBand", "GainOfBand", "OffsetOfBand"):
                el = _child(b, name)
                if el is None and name == "OffsetOfBand":
                    vals.append(0.0)
                    continue
                if el is None or not (el.text or "").strip():
                    raise ValueError(f"missing {name}")
                vals.append(float(el.text))  # type: ignore[arg-type]
        except ValueError as err:
            raise CubeReadError(
                f"{source}: bandID {b.get('number')!r} is unreadable ({err}); "
                "use the METADATA.XML delivered with the image"
            ) from err
        rows[number] = (vals[0], vals[1], vals[2], vals[3])
    numbers = sorted(rows)
    if numbers != list(range(1, len(bands) + 1)):
        raise CubeReadError(
            f"{source}: bandID numbers are not 1..{len(bands)} without gaps or repeats; "
            "use the METADATA.XML delivered with the image"
        )
    arr = np.array([rows[n] for n in numbers], dtype=np.float64)
    detector = parse_detectors(spec, len(numbers), source) if spec is not None else None
    return BandTable(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], detector)


def parse_detectors(specific: ET.Element, n_bands: int, source: str = "METADATA.XML") -> np.ndarray | None:
    """``(n_bands,)`` str, ``"VNIR"`` or ``"SWIR"``: the detector of each band.

    Bands are numbered in increasing wavelength, so the detectors interleave at 900-1000 nm and
    only the XML says which band is whose: ``specific/{vnir,swir}ProductQuality/expectedChannelsList``
    (comma-separated 1-based band numbers).

    Returns:
        The labels, or None when either list is absent; also None, with an :class:`HSIWarning`, when
        the two lists are unreadable or do not hold each band ``1..n_bands`` exactly once.
    """
    lists: dict[str, str] = {}
    for name in DETECTORS:
        quality = _child(specific, f"{name.lower()}ProductQuality")
        text = _child(quality, "expectedChannelsList") if quality is not None else None
        if text is None or not (text.text or "").strip():
            return None
        lists[name] = text.text  # type: ignore[assignment]
    detector = np.full(n_bands, "", dtype="<U4")
    reason = ""
    for name, text in lists.items():
        where = f"{name.lower()}ProductQuality/expectedChannelsList"
        try:
            numbers = np.array([int(v) for v in text.replace(",", " ").split()], dtype=np.int64)
        except ValueError:
            reason = f"{where} is not a list of band numbers"
            break
        if ((numbers < 1) | (numbers > n_bands)).any():
            reason = f"{where} names a band outside 1..{n_bands}"
            break
        if np.unique(numbers).size != numbers.size or (detector[numbers - 1] != "").any():
            reason = f"{where} repeats a band"
            break
        detector[numbers - 1] = name
    missing = np.flatnonzero(detector == "") + 1
    if not reason and missing.size:
        shown = ", ".join(str(n) for n in missing[:5]) + (", ..." if missing.size > 5 else "")
        reason = f"band {shown} is in neither list" if missing.size == 1 else f"bands {shown} are in neither list"
    if reason:
        warnings.warn(f"{source}: {reason}; the bands' detectors are left unknown (the viewer draws each spectrum "
                      "as one curve)", HSIWarning, stacklevel=2)
        return None
    return detector


@dataclass(frozen=True)
class _Scan:
    """What one streaming pass over the spectral image found."""

    shape: tuple[int, int, int]
    crs: Any
    transform: Any
    nodata: float
    bad: np.ndarray  # (C,) bool: band is no-data everywhere
    valid: np.ndarray  # (H, W) bool: no good band is no-data
    defective: np.ndarray | None = None  # (C,) int64: values QL_PIXELMASK flags that hold data, per band
    defective_mask: np.ndarray | None = None  # (H, W) bool: QL_PIXELMASK flags the pixel in some good band
    point: bool = False  # the image declares AREA_OR_POINT=Point (pixel-is-point)


def scan_spectral_image(gdal_path: str, label: str, block_bytes: int = SCAN_BYTES, *, driver: str = TIFF_ONLY,
                        pixelmask: tuple[str, str, str] | None = None, mask_values: bool = False,
                        background: np.ndarray | None = None) -> _Scan:
    """Stream the image once in row blocks to find all-no-data bands and valid pixels.

    Exact and bounded in memory (one ``(C, rows, W)`` block plus an ``(H, W)`` counter).
    A pixel is valid when the number of bands that are no-data there equals the number
    of all-no-data bands, i.e. no good band is no-data. Reading every block also proves
    the file is complete. ``driver``: the one GDAL driver allowed to open it (:func:`gdal_driver`).

    ``pixelmask``: ``(gdal path, label, driver)`` of the product's QL_PIXELMASK, ``(C, H, W)``, read in the
    same row blocks (:mod:`hsi_app.io.enmap_layers`): it gives ``defective`` (flagged values that hold data,
    i.e. are neither no-data nor background, per band) and ``defective_mask`` (pixels with such a flag in
    some good band). ``mask_values``: a flagged value also counts as no-data in its band (off by default:
    the values are kept); a band it leaves without data is no good band, so its flags are left out, in one
    more pass over those bands only (none without ``mask_values``: a band holding flagged data is good).
    ``background``: ``(H, W)`` bool, pixels that are no-data in every band (QL_QUALITY_CLASSES background).

    Raises:
        CubeReadError: the file cannot be opened or a block cannot be read; the pixel mask is of another size or
            on another grid (:func:`~hsi_app.io.enmap_layers.grid_mismatch`).
    """
    import rasterio
    from rasterio.windows import Window

    from hsi_app.io.geotiff import is_pixel_is_point

    mask_ds = None
    try:
        with rasterio.open(gdal_path, driver=driver) as ds:
            c, h, w = ds.count, ds.height, ds.width
            if pixelmask is not None:
                mask_ds = open_checked(pixelmask[0], pixelmask[1], (c, h, w), pixelmask[2], "pixel mask (QL_PIXELMASK)",
                                       Grid(ds.crs, ds.transform))
            nodata = float(ds.nodata) if ds.nodata is not None else float(NODATA)
            item = np.dtype(ds.dtypes[0]).itemsize + (1 if mask_ds is not None else 0)
            block_h = max(1, ds.block_shapes[0][0]) if ds.block_shapes else 1
            rows = max(1, block_bytes // max(1, c * w * item))
            if rows >= block_h:  # whole file blocks per read when the budget allows
                rows = rows // block_h * block_h
            has_data = np.zeros(c, dtype=bool)
            count = np.zeros((h, w), dtype=np.uint16)
            defective = np.zeros(c, dtype=np.int64) if mask_ds is not None else None
            band_flagged = np.zeros(c, dtype=bool)  # some value QL_PIXELMASK flags holds data
            flag_count = np.zeros((h, w), dtype=np.uint16) if mask_ds is not None else None
            for r0 in range(0, h, rows):
                n = min(rows, h - r0)
                blk = ds.read(window=Window(0, r0, w, n))
                miss = _missing(blk, nodata, background, r0)
                if mask_ds is not None:
                    flagged = _held_flags(_read_block(mask_ds, r0, n, w, pixelmask[1]), mask_ds.nodata, miss)  # type: ignore[index]
                    defective += flagged.sum(axis=(1, 2))  # type: ignore[operator]
                    band_flagged |= flagged.any(axis=(1, 2))
                    flag_count[r0 : r0 + n] = flagged.sum(axis=0, dtype=np.uint16)  # type: ignore[index]
                    if mask_values:
                        miss |= flagged
                has_data |= ~miss.all(axis=(1, 2))
                count[r0 : r0 + n] = miss.sum(axis=0, dtype=np.uint16)
            # A band that holds flagged data is all no-data only when mask_values voided every value it held:
            # those flags are not in a good band, so they are read again (those bands only) and left out.
            again = np.flatnonzero(~has_data & band_flagged) + 1
            if mask_ds is not None and again.size:
                step = max(rows, block_bytes // max(1, again.size * w * item))  # fewer bands: more rows per read
                for r0 in range(0, h, step):
                    n = min(step, h - r0)
                    miss = _missing(ds.read(again.tolist(), window=Window(0, r0, w, n)), nodata, background, r0)
                    flagged = _held_flags(_read_block(mask_ds, r0, n, w, pixelmask[1], again.tolist()),  # type: ignore[index]
                                          mask_ds.nodata, miss)
                    flag_count[r0 : r0 + n] -= flagged.sum(axis=0, dtype=np.uint16)  # type: ignore[index]
            crs, transform = ds.crs, ds.transform
            point = is_pixel_is_point(ds)
    except rasterio.errors.RasterioError as err:
        raise CubeReadError(
            f"{label}: spectral image cannot be read ({err}); "
            "the file is truncated or corrupt, download the product again"
        ) from err
    finally:
        if mask_ds is not None:
            mask_ds.close()
    bad = ~has_data
    valid = count == bad.sum() if not bad.all() else np.zeros((h, w), dtype=bool)
    return _Scan((c, h, w), crs, transform, nodata, bad, valid, defective,
                 None if flag_count is None else flag_count > 0, point)


def _missing(blk: np.ndarray, nodata: float, background: np.ndarray | None, r0: int) -> np.ndarray:
    """``(k, n, W)`` bool: values of the spectral rows ``blk`` (from row ``r0``) that are no-data or background."""
    miss = np.isnan(blk) if np.isnan(nodata) else blk == nodata
    if background is not None:
        miss |= background[None, r0 : r0 + blk.shape[1]]
    return miss


def _held_flags(block: np.ndarray, nodata: float | None, miss: np.ndarray) -> np.ndarray:
    """``(k, n, W)`` bool: values QL_PIXELMASK ``block`` flags where the spectral value holds data (not ``miss``)."""
    return flag_of(block, nodata) & ~miss


def _read_block(ds: Any, r0: int, n: int, w: int, label: str, bands: list[int] | None = None) -> np.ndarray:
    """Rows ``r0..r0+n`` of every band (or of the 1-based ``bands`` only, as ``(len(bands), n, w)``) of an open
    quality layer; a read error names the layer."""
    import rasterio
    from rasterio.windows import Window

    try:
        return ds.read(window=Window(0, r0, w, n)) if bands is None else ds.read(bands, window=Window(0, r0, w, n))
    except rasterio.errors.RasterioError as err:
        raise CubeReadError(f"{label}: quality layer cannot be read ({err}); download the product again") from err


def _read_mask(gdal_path: str, label: str, shape: tuple[int, int], driver: str, codes: tuple[int, ...] = (1,),
               grid: Grid | None = None) -> np.ndarray:
    """``(H, W)`` bool: True where the quality layer is nonzero (1 in EnMAP's 0/1 layers; 1-3 in its cirrus layer).

    ``codes``: the nonzero values EnMAP writes in this layer (:data:`QUALITY_CODES`); values
    outside them and 0 (ignoring the layer's declared no-data) give one warning. The layer's size and grid
    (against ``grid``, the spectral image's) are checked from its header before any pixel is decompressed
    (:func:`~hsi_app.io.enmap_layers.read_layer`).
    """
    layer, nodata = read_layer(gdal_path, label, shape, driver, "quality layer", grid)
    return _flagged(layer[0], nodata, label, codes)


_CODES_SAID = {(1,): "0 and 1 (EnMAP's layers are 0/1)",
               (1, 2, 3): "0-3 (EnMAP's cirrus layer is 0 none, 1 thin, 2 medium, 3 thick)"}


def _flagged(layer: np.ndarray, nodata: float | None, label: str, codes: tuple[int, ...] = (1,)) -> np.ndarray:
    """``(H, W)`` bool: nonzero pixels of ``layer`` that are not ``nodata``; warn on values besides 0 and ``codes``."""
    flagged = flag_of(layer, nodata)
    odd = np.unique(layer[flagged & ~np.isin(layer, codes)])
    if odd.size:
        shown = ", ".join(f"{v:g}" for v in odd[:5].tolist()) + (", ..." if odd.size > 5 else "")
        said = _CODES_SAID.get(tuple(codes), "0 and " + ", ".join(str(c) for c in codes))
        warnings.warn(
            f"{label}: quality layer holds values {shown} besides {said}; "
            f"every nonzero pixel is taken as flagged ({int(flagged.sum())} pixels)",
            HSIWarning,
            stacklevel=4,
        )
    return flagged


def _product_band_table(prod: ProductParts) -> tuple[BandTable, str]:
    """``(band table, label of its METADATA.XML)`` of a located product.

    Raises:
        CubeReadError: the METADATA.XML is missing, unreadable or malformed.
    """
    xml, meta_label = _product_xml(prod)
    return parse_band_table(xml, meta_label), meta_label


def _product_xml(prod: ProductParts) -> tuple[bytes, str]:
    """``(text, label)`` of a located product's METADATA.XML.

    Raises:
        CubeReadError: the METADATA.XML is missing, unreadable or malformed.
    """
    if prod.metadata is None:
        raise CubeReadError(
            f"{prod.label(prod.spectral)}: no {prod.name}{METADATA_SUFFIX} next to it; "
            "copy the METADATA.XML of this product into the same folder"
        )
    meta_label = prod.label(prod.metadata)
    try:
        xml = prod.read_metadata()
    except (OSError, zipfile.BadZipFile) as err:
        raise CubeReadError(f"{meta_label}: cannot be read ({err}); download the product again") from err
    return xml, meta_label


def read_band_table(path: str | os.PathLike[str]) -> BandTable:
    """The band table (centres, FWHM, gains, offsets; ``(224,)`` each) of an EnMAP L2A product.

    Args:
        path: the product's ``*-METADATA.XML`` itself, or anything :func:`read_enmap`
            accepts (product folder, its ``.zip``, its ``*-SPECTRAL_IMAGE.TIF``/``.BSQ``...). Only the
            XML is read.

    Raises:
        CubeReadError: no readable METADATA.XML with a band characterisation.
    """
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".xml":
        try:
            xml = p.read_bytes()
        except OSError as err:
            raise CubeReadError(f"{p}: cannot be read ({err}); check the path and its permissions") from err
        return parse_band_table(xml, str(p))
    return _product_band_table(find_product(p))[0]


def read_enmap(path: str | os.PathLike[str], *, chunks: int = 512, pixelmask: bool = False) -> Cube:
    """Read an EnMAP L2A product lazily as reflectance.

    Args:
        path: product folder, its ``.zip``, or its ``*-SPECTRAL_IMAGE.TIF`` (ENVI-format
            products: ``.BSQ``/``.BIL``/``.BIP`` or its ``.HDR``).
        chunks: spatial chunk size (pixels) of the dask array; all bands in one chunk.
        pixelmask: also make the values the product's QL_PIXELMASK flags NaN, in their own band only.
            Off by default: EnMAP's defective detector elements are whole image columns (pushbroom),
            whose values DLR's processor already replaced by interpolation in L1B, so NaN there would
            void those columns in every map; the flags are the ``defective`` mask instead.

    Returns:
        Cube ``(224, H, W)`` float32 reflectance ``raw * gain + offset`` (dask), NaN where
        the raw value is -32768, at QL_QUALITY_CLASSES background pixels and, with ``pixelmask``,
        where QL_PIXELMASK flags the band's pixel; coords ``wavelength``/``fwhm`` (nm), ``gain``/``offset``
        (per band, from the XML), ``detector`` (``"VNIR"``/``"SWIR"`` per band, when the XML
        lists them: :func:`parse_detectors`), ``bad_band`` (bands with no data anywhere), ``valid``,
        masks ``cloud``, ``cloudshadow``, ``haze``, ``snow``, ``cirrus`` and ``defective`` (QL_PIXELMASK
        flags the pixel in some good band where it holds data) for the quality layers present, and when present: ``quality_class`` ``(y, x)`` (1 land, 2 water,
        3 background), ``quality_testflags`` ``(y, x)`` (``quality_testflags_<k>`` per band of a
        multi-band layer), ``defective_pixels`` ``(band,)`` (values QL_PIXELMASK flags that hold data: not no-data, not background),
        ``xml_band_mean``/``xml_band_std`` ``(band,)`` (the XML's ``bandStatistics``, NaN for empty
        bands); CRS/transform of the spectral image; ``fmt="enmap_l2a"``; ``attrs`` ``raw_nodata`` (-32768; then also
        ``nodata_note``, :data:`FILL_NOTE`),
        ``file_dtype`` (the stored dtype, :data:`~hsi_app.io.envi.FILE_DTYPE_ATTR`) and ``scale_offset="applied"``.

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        CubeReadError: not a product, a part is missing, corrupt or truncated, a layer of another size or on
            another grid (CRS or transform: :func:`~hsi_app.io.enmap_layers.grid_mismatch`).
        BandMismatchError: the XML describes a different number of bands than the image.
        ConfigError: ``chunks`` is not positive.
    """
    import dask.array as da
    import rioxarray
    from rasterio.errors import RasterioError

    if chunks <= 0:
        raise ConfigError(f"chunks must be a positive number of pixels, got {chunks}")
    prod = find_product(path)
    prod.verify_zip()
    spectral_label = prod.label(prod.spectral)
    xml, meta_label = _product_xml(prod)
    table = parse_band_table(xml, meta_label)
    driver = gdal_driver(prod.spectral)
    h, w, grid = _raster_grid(prod.gdal(prod.spectral), spectral_label, driver)
    layers = {name: (prod.gdal(part), prod.label(part), gdal_driver(part)) for name, part in prod.layers.items()}
    extra_coords: dict[str, Any] = {}
    background = None
    if "classes" in layers:
        classes, cls_nodata = read_layer(*layers["classes"][:2], (h, w), layers["classes"][2],
                                         "quality class layer (QL_QUALITY_CLASSES)", grid)
        background = background_of(classes[0], cls_nodata)
        extra_coords[CLASS_COORD] = (("y", "x"), classes[0], {"meaning": CLASS_MEANINGS})
    if "testflags" in layers:
        flags, _ = read_layer(*layers["testflags"][:2], (h, w), layers["testflags"][2],
                              "quality test flags (QL_QUALITY_TESTFLAGS)", grid)
        names = [TESTFLAGS_COORD] if flags.shape[0] == 1 else [f"{TESTFLAGS_COORD}_{k + 1}" for k in range(flags.shape[0])]
        extra_coords.update({n: (("y", "x"), f) for n, f in zip(names, flags)})
    scan = scan_spectral_image(prod.gdal(prod.spectral), spectral_label, driver=driver,
                               pixelmask=layers.get("pixelmask"), mask_values=pixelmask, background=background)
    c = scan.shape[0]
    if table.wavelength.size != c:
        raise BandMismatchError(
            f"{meta_label}: describes {table.wavelength.size} bands but {spectral_label} has {c}; "
            "use the METADATA.XML delivered with this image"
        )
    masks = {
        m: _read_mask(prod.gdal(part), prod.label(part), (h, w), gdal_driver(part), QUALITY_CODES.get(m, (1,)), grid)
        for m, part in prod.quality.items()
    }
    if scan.defective_mask is not None:
        masks[DEFECTIVE_MASK] = scan.defective_mask
    try:
        arr = rioxarray.open_rasterio(
            prod.gdal(prod.spectral),
            chunks={"band": -1, "y": chunks, "x": chunks},
            lock=False,
            masked=False,
            driver=driver,
        )
        mask_arr = None if not (pixelmask and "pixelmask" in layers) else rioxarray.open_rasterio(
            layers["pixelmask"][0], chunks={"band": -1, "y": chunks, "x": chunks}, lock=False, masked=False,
            driver=layers["pixelmask"][2])
    except (RasterioError, OSError, ValueError) as err:
        raise CubeReadError(f"{spectral_label}: cannot be opened ({err}); download the product again") from err
    raw = arr.data
    gain = table.gain.astype(np.float32)[:, None, None]
    offset = table.offset.astype(np.float32)[:, None, None]
    refl = raw.astype(np.float32) * gain + offset
    missing = raw == scan.nodata
    if mask_arr is not None:
        missing = missing | flag_of(mask_arr.data, mask_arr.rio.nodata)
    if scan.defective is not None:
        extra_coords["defective_pixels"] = ("band", scan.defective)
    if background is not None and background.any():
        missing = missing | da.from_array(background, chunks=raw.chunksize[1:])[None]
    refl = da.where(missing, np.float32(np.nan), refl)
    stats = parse_band_statistics(xml, c)
    if stats is not None:
        extra_coords.update(xml_band_mean=("band", stats[0]), xml_band_std=("band", stats[1]))
    cube = make_cube(
        refl,
        wavelength=table.wavelength,
        fwhm=table.fwhm,
        bad_bands=np.flatnonzero(scan.bad),
        x=arr.x.values,
        y=arr.y.values,
        crs=scan.crs,
        transform=scan.transform,
        nodata=None,
        valid=scan.valid,
        masks=masks,
        fmt=FORMAT,
        source=os.fspath(path),
        attrs={"product": prod.name, "raw_nodata": scan.nodata, "units": "reflectance",
               FILE_DTYPE_ATTR: np.dtype(raw.dtype).name,  # int16 in the file, reflectance x 1e4; the cube is float32
               "scale_offset": "applied",  # the values are gain * DN + offset, not the stored integers
               **({NODATA_NOTE_ATTR: FILL_NOTE} if scan.nodata == NODATA else {}),
               **({AREA_OR_POINT_ATTR: "Point"} if scan.point else {})},
    )
    cube = cube.assign_coords(gain=("band", table.gain), offset=("band", table.offset), **extra_coords)
    if table.detector is not None:
        cube = cube.assign_coords({DETECTOR_COORD: ("band", table.detector)})
    return cube


def _raster_grid(gdal_path: str, label: str, driver: str) -> tuple[int, int, Grid]:
    """``(H, W, grid)`` of the spectral image from its header: size, CRS and transform."""
    import rasterio

    try:
        with rasterio.open(gdal_path, driver=driver) as ds:
            return ds.height, ds.width, Grid(ds.crs, ds.transform)
    except rasterio.errors.RasterioError as err:
        raise CubeReadError(
            f"{label}: spectral image cannot be read ({err}); the file is truncated or corrupt, download the product again"
        ) from err
