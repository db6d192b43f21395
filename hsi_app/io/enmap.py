"""EnMAP Level-2A (surface reflectance) products: folder, ``.zip`` or SPECTRAL_IMAGE.TIF.

A product ``P`` (``ENMAP01-____L2A-DT..._V010303_...``) holds ``P-SPECTRAL_IMAGE.TIF``
(224 bands, int16, no-data -32768), ``P-METADATA.XML`` and ``P-QL_*.TIF`` quality layers.
Products ordered as Cloud-Optimized GeoTIFF name their rasters ``P-SPECTRAL_IMAGE_COG.TIF``
and ``P-QL_QUALITY_*_COG.TIF``; every raster name may also end ``.TIFF``, in any case.
Products ordered in ENVI format (as EnPT also writes them) hold ``P-SPECTRAL_IMAGE.BSQ``
(or ``.BIL``/``.BIP``) with its ``.HDR``; any raster so named is read through GDAL's ENVI
driver, the others through its GTiff driver only.
Everything per band comes from the scene's own ``METADATA.XML``
(``specific/bandCharacterisation/bandID[@number]``): centre wavelength, FWHM, gain and
offset. The cube holds ``raw * gain + offset`` as float32 (reflectance 0..1), computed
lazily; raw no-data values become NaN. Zips are read in place (GDAL ``/vsizip/`` for the
rasters, :mod:`zipfile` for the XML); nothing is extracted to disk.
"""

from __future__ import annotations

import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from hsi_app.errors import BandMismatchError, ConfigError, CubeReadError, DatasetNotFoundError, HSIWarning
from hsi_app.io.cube import Cube, make_cube
from hsi_app.io.geotiff import TIFF_ONLY

FORMAT = "enmap_l2a"
NODATA = -32768
SPECTRAL_SUFFIX = "-SPECTRAL_IMAGE.TIF"
METADATA_SUFFIX = "-METADATA.XML"
QUALITY_MASKS = {
    "cloud": "-QL_QUALITY_CLOUD.TIF",
    "cloudshadow": "-QL_QUALITY_CLOUDSHADOW.TIF",
    "haze": "-QL_QUALITY_HAZE.TIF",
    "snow": "-QL_QUALITY_SNOW.TIF",
    "cirrus": "-QL_QUALITY_CIRRUS.TIF",
}
"""Mask name -> file suffix. EnMAP's layers hold 0/1 and a pixel is flagged where it is 1; a
re-encoded layer with other values (0/255...) has every nonzero pixel, other than a declared
no-data value, flagged, with a warning that names the layer and the values found."""
ENVI_EXTS = (".BSQ", ".BIL", ".BIP")
"""Raster names of products delivered in ENVI format (a ``.HDR`` beside each)."""
ENVI_DRIVER = "ENVI"
SCAN_BYTES = 32 * 2**20
"""Memory budget of one row block in the bad-band scan."""
_SPECTRAL_NAMES = f"*{SPECTRAL_SUFFIX} (or .BSQ/.BIL/.BIP)"
_HOWTO = f"point at an EnMAP L2A product folder, its .zip, or its {_SPECTRAL_NAMES}"


@dataclass(frozen=True)
class BandTable:
    """Per-band values of one scene, each ``(C,)`` float64 (nm for wavelength/FWHM)."""

    wavelength: np.ndarray
    fwhm: np.ndarray
    gain: np.ndarray
    offset: np.ndarray


@dataclass(frozen=True)
class _Product:
    """Where the parts of one product live: plain paths, or member names inside a zip."""

    name: str
    spectral: str
    metadata: str | None  # None when missing
    quality: dict[str, str] = field(default_factory=dict)  # mask name -> part
    zip_path: Path | None = None

    def gdal(self, part: str) -> str:
        """The path GDAL opens for ``part`` (``/vsizip/...`` inside zips)."""
        if self.zip_path is None:
            return part
        return f"/vsizip/{self.zip_path.resolve().as_posix()}/{part}"

    def label(self, part: str) -> str:
        """Display form of ``part`` for messages (``archive.zip!member`` inside zips)."""
        return part if self.zip_path is None else f"{self.zip_path}!{part}"

    def verify_zip(self) -> None:
        """Check the CRC of the raster members of a zipped product (GDAL's ``/vsizip/`` does not).

        Decompresses each member once, in 16 MiB pieces; a damaged member would otherwise be
        read as wrong reflectance without any error.

        Raises:
            CubeReadError: a member whose bytes do not match its CRC.
        """
        if self.zip_path is None:
            return
        with zipfile.ZipFile(self.zip_path) as zf:
            for part in (self.spectral, *self.quality.values()):
                try:
                    with zf.open(part) as fh:
                        while fh.read(16 * 2**20):
                            pass
                except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
                    raise CubeReadError(f"{self.label(part)}: damaged inside the zip ({err}); download the product again") from err

    def read_metadata(self) -> bytes:
        """Bytes of the METADATA.XML (read from the zip without extracting)."""
        assert self.metadata is not None
        if self.zip_path is None:
            return Path(self.metadata).read_bytes()
        with zipfile.ZipFile(self.zip_path) as zf:
            return zf.read(self.metadata)


def _match(names: list[str], suffix: str) -> list[str]:
    """Entries of ``names`` ending with ``suffix``, case-insensitive.

    A ``.TIF`` suffix also matches ``.TIFF``, the COG variants ``_COG.TIF``/``_COG.TIFF`` and the
    ENVI-format rasters ``.BSQ``/``.BIL``/``.BIP``.
    """
    sfx = suffix.upper()
    if sfx.endswith(".TIF"):
        stem = sfx[: -len(".TIF")]
        alts: tuple[str, ...] = tuple(stem + cog + ext for cog in ("", "_COG") for ext in (".TIF", ".TIFF"))
        alts += tuple(stem + ext for ext in ENVI_EXTS)
    else:
        alts = (sfx,)
    return [n for n in names if n.upper().endswith(alts)]


def gdal_driver(part: str) -> str:
    """The one GDAL driver that opens a product raster: ENVI for ``.BSQ``/``.BIL``/``.BIP``, else GTiff."""
    return ENVI_DRIVER if part.upper().endswith(ENVI_EXTS) else TIFF_ONLY


def named_envi_spectral_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named as the SPECTRAL_IMAGE of an ENVI-format product (``*-SPECTRAL_IMAGE.BSQ``,
    ``.BIL``, ``.BIP``) or as its header (``*-SPECTRAL_IMAGE.HDR``, ``*-SPECTRAL_IMAGE.BSQ.HDR``); names only."""
    name = Path(path).name.upper().removesuffix(".HDR")
    stem = SPECTRAL_SUFFIX.removesuffix(".TIF")
    return name.endswith(stem) or name.endswith(tuple(stem + ext for ext in ENVI_EXTS))


def _assemble(spectral: str, siblings: list[str], zip_path: Path | None = None) -> _Product:
    """Build a product from the SPECTRAL_IMAGE name and the names next to it."""
    base = os.path.basename(spectral)
    cut = base.upper().rfind(SPECTRAL_SUFFIX.removesuffix(".TIF"))  # also before _COG.TIFF
    prefix = base[:cut].upper() + "-"
    mine = [s for s in siblings if os.path.basename(s).upper().startswith(prefix)]
    meta = _match(mine, METADATA_SUFFIX)
    quality = {}
    for mask, suffix in QUALITY_MASKS.items():
        hit = _match(mine, suffix)
        if hit:
            quality[mask] = hit[0]
    return _Product(base[:cut], spectral, meta[0] if meta else None, quality, zip_path)


def _is_resource_fork(name: str) -> bool:
    """macOS zip/copy debris (``__MACOSX/...``, ``._NAME``), never a product part."""
    return name.startswith("__MACOSX/") or "/__MACOSX/" in name or os.path.basename(name).startswith("._")


def locate_product(path: str | os.PathLike[str]) -> None:
    """Check that ``path`` holds exactly one EnMAP L2A product (by names only).

    Raises:
        CubeReadError: with the reason (no SPECTRAL_IMAGE, several products, damaged zip...).
    """
    _locate(path)


def _locate(path: str | os.PathLike[str]) -> _Product:
    """Find the parts of the product at ``path`` (folder, zip, SPECTRAL_IMAGE or XML)."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFoundError(f"{p}: no such file or folder; {_HOWTO}")
    if p.is_dir():
        found = _match([str(f) for f in p.iterdir() if f.is_file() and not _is_resource_fork(f.name)],
                       SPECTRAL_SUFFIX)
        if not found:  # the folder one level up from the product, or an unzipped archive
            subs = [d for d in p.iterdir() if d.is_dir()]
            found = [f for d in subs if d.name != "__MACOSX"
                     for f in _match([str(x) for x in d.iterdir() if not _is_resource_fork(x.name)], SPECTRAL_SUFFIX)]
        if not found:
            raise CubeReadError(
                f"{p}: no {_SPECTRAL_NAMES} in this folder, so it is not an EnMAP L2A product; {_HOWTO}"
            )
        if len(found) > 1:
            raise CubeReadError(f"{p}: holds {len(found)} EnMAP products; point at one product folder")
        return _assemble(found[0], [str(f) for f in Path(found[0]).parent.iterdir()])
    if zipfile.is_zipfile(p):
        return _locate_zip(p)
    if p.suffix.upper() == ".HDR":  # the ENVI header of an ENVI-format SPECTRAL_IMAGE stands for it
        from hsi_app.io.envi import find_data

        data = find_data(p)
        if data is None or not _match([data.name], SPECTRAL_SUFFIX):
            raise CubeReadError(f"{p}: not the header of an EnMAP L2A {_SPECTRAL_NAMES}; {_HOWTO}")
        p = data
    if _match([p.name], METADATA_SUFFIX):
        stem = p.name[: -len(METADATA_SUFFIX)]
        spectral = _match([str(f) for f in p.parent.iterdir()], stem + SPECTRAL_SUFFIX)
        if not spectral:
            raise CubeReadError(f"{p}: no {stem}{SPECTRAL_SUFFIX} next to this METADATA.XML; {_HOWTO}")
        p = Path(spectral[0])
    elif not _match([p.name], SPECTRAL_SUFFIX):
        raise CubeReadError(f"{p}: not an EnMAP L2A product file; {_HOWTO}")
    return _assemble(str(p), [str(f) for f in p.parent.iterdir()])


def _locate_zip(p: Path) -> _Product:
    try:
        with zipfile.ZipFile(p) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and not _is_resource_fork(n)]
    except (zipfile.BadZipFile, OSError) as err:
        raise CubeReadError(f"{p}: damaged zip archive ({err}); download the product again") from err
    found = _match(names, SPECTRAL_SUFFIX)
    if not found:
        raise CubeReadError(
            f"{p}: zip holds no {_SPECTRAL_NAMES}, so it is not an EnMAP L2A product; {_HOWTO}"
        )
    if len(found) > 1:
        raise CubeReadError(
            f"{p}: zip holds {len(found)} EnMAP products; unpack it and open one product folder"
        )
    folder = found[0].rpartition("/")[0]
    siblings = [n for n in names if n.rpartition("/")[0] == folder]
    return _assemble(found[0], siblings, zip_path=p)


def is_enmap_product(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is recognisably an EnMAP L2A product.

    Recognised: a folder (or a folder holding exactly one product folder), a ``.zip``,
    a ``*-SPECTRAL_IMAGE.TIF`` (or ENVI ``.BSQ``/``.BIL``/``.BIP``, or its ``.HDR``) or a
    ``*-METADATA.XML`` of a product that has a SPECTRAL_IMAGE. Only names are looked at, so this is cheap; :func:`read_enmap`
    reports parts that are missing or damaged. Never raises.
    """
    try:
        _locate(path)
    except (CubeReadError, DatasetNotFoundError, OSError, ValueError):
        return False
    return True


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
    return BandTable(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


@dataclass(frozen=True)
class _Scan:
    """What one streaming pass over the spectral image found."""

    shape: tuple[int, int, int]
    crs: Any
    transform: Any
    nodata: float
    bad: np.ndarray  # (C,) bool: band is no-data everywhere
    valid: np.ndarray  # (H, W) bool: no good band is no-data


def scan_spectral_image(gdal_path: str, label: str, block_bytes: int = SCAN_BYTES, *, driver: str = TIFF_ONLY) -> _Scan:
    """Stream the image once in row blocks to find all-no-data bands and valid pixels.

    Exact and bounded in memory (one ``(C, rows, W)`` block plus an ``(H, W)`` counter).
    A pixel is valid when the number of bands that are no-data there equals the number
    of all-no-data bands, i.e. no good band is no-data. Reading every block also proves
    the file is complete. ``driver``: the one GDAL driver allowed to open it (:func:`gdal_driver`).

    Raises:
        CubeReadError: the file cannot be opened or a block cannot be read.
    """
    import rasterio
    from rasterio.windows import Window

    try:
        with rasterio.open(gdal_path, driver=driver) as ds:
            c, h, w = ds.count, ds.height, ds.width
            nodata = float(ds.nodata) if ds.nodata is not None else float(NODATA)
            item = np.dtype(ds.dtypes[0]).itemsize
            block_h = max(1, ds.block_shapes[0][0]) if ds.block_shapes else 1
            rows = max(1, block_bytes // max(1, c * w * item))
            if rows >= block_h:  # whole file blocks per read when the budget allows
                rows = rows // block_h * block_h
            has_data = np.zeros(c, dtype=bool)
            count = np.zeros((h, w), dtype=np.uint16)
            for r0 in range(0, h, rows):
                n = min(rows, h - r0)
                blk = ds.read(window=Window(0, r0, w, n))
                miss = np.isnan(blk) if np.isnan(nodata) else blk == nodata
                has_data |= ~miss.all(axis=(1, 2))
                count[r0 : r0 + n] = miss.sum(axis=0, dtype=np.uint16)
            crs, transform = ds.crs, ds.transform
    except rasterio.errors.RasterioError as err:
        raise CubeReadError(
            f"{label}: spectral image cannot be read ({err}); "
            "the file is truncated or corrupt, download the product again"
        ) from err
    bad = ~has_data
    valid = count == bad.sum() if not bad.all() else np.zeros((h, w), dtype=bool)
    return _Scan((c, h, w), crs, transform, nodata, bad, valid)


def _read_mask(gdal_path: str, label: str, shape: tuple[int, int], driver: str) -> np.ndarray:
    """``(H, W)`` bool: True where the quality layer is nonzero (1 in EnMAP's 0/1 layers).

    Values other than 0 and 1 (ignoring the layer's declared no-data) give one warning.
    """
    import rasterio

    try:
        with rasterio.open(gdal_path, driver=driver) as ds:
            if ds.shape != shape:  # checked from the header, before any pixel is decompressed
                raise CubeReadError(
                    f"{label}: quality layer is {ds.shape} but the spectral image is {shape}; "
                    "the layer belongs to another product"
                )
            layer = ds.read(1)
            nodata = ds.nodata
    except rasterio.errors.RasterioError as err:
        raise CubeReadError(f"{label}: quality layer cannot be read ({err}); download the product again") from err
    return _flagged(layer, nodata, label)


def _flagged(layer: np.ndarray, nodata: float | None, label: str) -> np.ndarray:
    """``(H, W)`` bool: nonzero pixels of ``layer`` that are not ``nodata``; warn on values besides 0/1."""
    valid = np.ones(layer.shape, dtype=bool) if nodata is None or np.isnan(nodata) else layer != nodata
    if np.issubdtype(layer.dtype, np.floating):
        valid &= ~np.isnan(layer)
    flagged = valid & (layer != 0)
    odd = np.unique(layer[flagged & (layer != 1)])
    if odd.size:
        shown = ", ".join(f"{v:g}" for v in odd[:5].tolist()) + (", ..." if odd.size > 5 else "")
        warnings.warn(
            f"{label}: quality layer holds values {shown} besides 0 and 1 (EnMAP's layers are 0/1); "
            f"every nonzero pixel is taken as flagged ({int(flagged.sum())} pixels)",
            HSIWarning,
            stacklevel=4,
        )
    return flagged


def _product_band_table(prod: _Product) -> tuple[BandTable, str]:
    """``(band table, label of its METADATA.XML)`` of a located product.

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
    return parse_band_table(xml, meta_label), meta_label


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
    return _product_band_table(_locate(p))[0]


def read_enmap(path: str | os.PathLike[str], *, chunks: int = 512) -> Cube:
    """Read an EnMAP L2A product lazily as reflectance.

    Args:
        path: product folder, its ``.zip``, or its ``*-SPECTRAL_IMAGE.TIF`` (ENVI-format
            products: ``.BSQ``/``.BIL``/``.BIP`` or its ``.HDR``).
        chunks: spatial chunk size (pixels) of the dask array; all bands in one chunk.

    Returns:
        Cube ``(224, H, W)`` float32 reflectance ``raw * gain + offset`` (dask), NaN where
        the raw value is -32768; coords ``wavelength``/``fwhm`` (nm), ``gain``/``offset``
        (per band, from the XML), ``bad_band`` (bands with no data anywhere), ``valid``
        and masks ``cloud``, ``cloudshadow``, ``haze``, ``snow``, ``cirrus`` for the
        quality layers present; CRS/transform of the spectral image; ``fmt="enmap_l2a"``.

    Raises:
        DatasetNotFoundError: ``path`` does not exist.
        CubeReadError: not a product, a part is missing, corrupt or truncated.
        BandMismatchError: the XML describes a different number of bands than the image.
        ConfigError: ``chunks`` is not positive.
    """
    import dask.array as da
    import rioxarray
    from rasterio.errors import RasterioError

    if chunks <= 0:
        raise ConfigError(f"chunks must be a positive number of pixels, got {chunks}")
    prod = _locate(path)
    prod.verify_zip()
    spectral_label = prod.label(prod.spectral)
    table, meta_label = _product_band_table(prod)
    driver = gdal_driver(prod.spectral)
    scan = scan_spectral_image(prod.gdal(prod.spectral), spectral_label, driver=driver)
    c, h, w = scan.shape
    if table.wavelength.size != c:
        raise BandMismatchError(
            f"{meta_label}: describes {table.wavelength.size} bands but {spectral_label} has {c}; "
            "use the METADATA.XML delivered with this image"
        )
    masks = {
        m: _read_mask(prod.gdal(part), prod.label(part), (h, w), gdal_driver(part)) for m, part in prod.quality.items()
    }
    try:
        arr = rioxarray.open_rasterio(
            prod.gdal(prod.spectral),
            chunks={"band": -1, "y": chunks, "x": chunks},
            lock=False,
            masked=False,
            driver=driver,
        )
    except (RasterioError, OSError, ValueError) as err:
        raise CubeReadError(f"{spectral_label}: cannot be opened ({err}); download the product again") from err
    raw = arr.data
    gain = table.gain.astype(np.float32)[:, None, None]
    offset = table.offset.astype(np.float32)[:, None, None]
    refl = raw.astype(np.float32) * gain + offset
    refl = da.where(raw == scan.nodata, np.float32(np.nan), refl)
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
        attrs={"product": prod.name, "raw_nodata": scan.nodata, "units": "reflectance"},
    )
    return cube.assign_coords(gain=("band", table.gain), offset=("band", table.offset))
