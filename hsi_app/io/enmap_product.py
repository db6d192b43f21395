"""Where the parts of an EnMAP L2A product are: folder, ``.zip`` (read in place), SPECTRAL_IMAGE or XML.

Names only: nothing is decoded here. A product ``P`` holds ``P-SPECTRAL_IMAGE.TIF`` (or
``_COG.TIF``/``.TIFF``/``.GEOTIFF``, in ENVI format ``.BSQ``/``.BIL``/``.BIP`` with a ``.HDR``,
in JPEG2000 format ``.JP2``/``.JPEG2000``), ``P-METADATA.XML`` and ``P-QL_QUALITY_*`` layers;
:func:`find_product` gathers them and :func:`gdal_driver` says which single GDAL driver may
open each raster. DLR delivers products as ``P.ZIP`` (holding ``P/``) inside the order's
``dims_op_*.tar.gz``, in its ``ENMAP.HSI.L2A/`` folder; the extracted order folder (or that
``ENMAP.HSI.L2A`` folder) is found when it holds one product, as is a product folder one level further
down (``order/ENMAP01-..._DT.../P/``, in a folder or a zip). Several products, or zipped products inside
a zip, are refused with one line that lists them and says how to open one.
"""

from __future__ import annotations

import os
import shlex
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from hsi_app.errors import CubeReadError, DatasetNotFoundError
from hsi_app.io.geotiff import TIFF_ONLY

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
LAYERS = {
    "pixelmask": "-QL_PIXELMASK.TIF",
    "classes": "-QL_QUALITY_CLASSES.TIF",
    "testflags": "-QL_QUALITY_TESTFLAGS.TIF",
}
"""Layer name -> file suffix of the L2A quality layers that are not masks: the per-band defective-pixel
mask (one band per spectral band, nonzero = defective), the land/water/background classes and the
quality test flags (:mod:`hsi_app.io.enmap_layers` reads them)."""
QUALITY_CODES = {"cirrus": (1, 2, 3)}
"""Mask name -> the nonzero codes EnMAP writes in that layer (other layers: 1 only). The cirrus
layer grades what it flags: 1 thin, 2 medium, 3 thick; any of them flags the pixel."""
GTIFF_EXTS = (".TIF", ".TIFF", ".GEOTIFF")
"""Raster endings of GeoTIFF products (``.GEOTIFF``: the early products' spelling)."""
ENVI_EXTS = (".BSQ", ".BIL", ".BIP")
"""Raster names of products delivered in ENVI format (a ``.HDR`` beside each)."""
JP2_EXTS = (".JP2", ".JPEG2000")
"""Raster names of products delivered in JPEG2000 format."""
ENVI_DRIVER = "ENVI"
JP2_DRIVER = "JP2OpenJPEG"
DELIVERY_FOLDER = "ENMAP.HSI.L2A"
"""Folder of an extracted DLR order (``dims_op_*``) that holds its L2A products."""
TAR_ENDINGS = (".tar.gz", ".tgz", ".tar")
"""An order as downloaded: refused with how to extract it (it is not read in place)."""
_SPECTRAL_NAMES = f"*{SPECTRAL_SUFFIX} (or .BSQ/.BIL/.BIP, .JP2)"
_HOWTO = f"point at an EnMAP L2A product folder, its .zip, or its {_SPECTRAL_NAMES}"


@dataclass(frozen=True)
class ProductParts:
    """Where the parts of one product live: plain paths, or member names inside a zip."""

    name: str
    spectral: str
    metadata: str | None  # None when missing
    quality: dict[str, str] = field(default_factory=dict)  # mask name -> part
    zip_path: Path | None = None
    layers: dict[str, str] = field(default_factory=dict)  # LAYERS name -> part

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
            for part in (self.spectral, *self.quality.values(), *self.layers.values()):
                try:
                    with zf.open(_zip_member(zf, part)) as fh:
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
            return zf.read(_zip_member(zf, self.metadata))


def _slashed(name: str) -> str:
    """A zip member's name with ``/`` between folders: a zip written on Windows may store ``FOLDER\\NAME.TIF``,
    which GDAL's ``/vsizip/`` lists (and opens) as ``FOLDER/NAME.TIF``. Product parts are named so."""
    return name.replace("\\", "/")


def _zip_member(zf: zipfile.ZipFile, part: str) -> zipfile.ZipInfo:
    """The member of ``zf`` that :func:`_slashed` names ``part`` (stored with ``/`` or with backslashes)."""
    try:
        return zf.getinfo(part)
    except KeyError:
        return next(info for info in zf.infolist() if _slashed(info.filename) == part)


def _match(names: list[str], suffix: str) -> list[str]:
    """Entries of ``names`` ending with ``suffix``, case-insensitive.

    A ``.TIF`` suffix also matches ``.TIFF``/``.GEOTIFF``, the COG variants ``_COG.TIF``/``_COG.TIFF``,
    the ENVI-format rasters ``.BSQ``/``.BIL``/``.BIP`` and the JPEG2000 ones ``.JP2``/``.JPEG2000``.
    """
    sfx = suffix.upper()
    if sfx.endswith(".TIF"):
        stem = sfx[: -len(".TIF")]
        alts: tuple[str, ...] = tuple(stem + cog + ext for cog in ("", "_COG") for ext in GTIFF_EXTS)
        alts += tuple(stem + ext for ext in ENVI_EXTS + JP2_EXTS)
    else:
        alts = (sfx,)
    return [n for n in names if n.upper().endswith(alts)]


def gdal_driver(part: str) -> str:
    """The one GDAL driver that opens a product raster: ENVI for ``.BSQ``/``.BIL``/``.BIP``,
    JP2OpenJPEG for ``.JP2``/``.JPEG2000``, else GTiff."""
    name = part.upper()
    if name.endswith(ENVI_EXTS):
        return ENVI_DRIVER
    return JP2_DRIVER if name.endswith(JP2_EXTS) else TIFF_ONLY


def named_jpeg2000_spectral_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named as the SPECTRAL_IMAGE of a JPEG2000-format product (``*-SPECTRAL_IMAGE.JP2``
    or ``.JPEG2000``); names only."""
    stem = SPECTRAL_SUFFIX.removesuffix(".TIF")
    return Path(path).name.upper().endswith(tuple(stem + ext for ext in JP2_EXTS))


def named_envi_spectral_image(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is named as the SPECTRAL_IMAGE of an ENVI-format product (``*-SPECTRAL_IMAGE.BSQ``,
    ``.BIL``, ``.BIP``) or as its header (``*-SPECTRAL_IMAGE.HDR``, ``*-SPECTRAL_IMAGE.BSQ.HDR``); names only."""
    name = Path(path).name.upper().removesuffix(".HDR")
    stem = SPECTRAL_SUFFIX.removesuffix(".TIF")
    return name.endswith(stem) or name.endswith(tuple(stem + ext for ext in ENVI_EXTS))


def _assemble(spectral: str, siblings: list[str], zip_path: Path | None = None) -> ProductParts:
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
    layers = {name: hit[0] for name, suffix in LAYERS.items() if (hit := _match(mine, suffix))}
    return ProductParts(base[:cut], spectral, meta[0] if meta else None, quality, zip_path, layers)


def _is_resource_fork(name: str) -> bool:
    """macOS zip/copy debris (``__MACOSX/...``, ``._NAME``), never a product part."""
    return name.startswith("__MACOSX/") or "/__MACOSX/" in name or os.path.basename(name).startswith("._")


def locate_product(path: str | os.PathLike[str]) -> None:
    """Check that ``path`` holds exactly one EnMAP L2A product (by names only).

    Raises:
        CubeReadError: with the reason (no SPECTRAL_IMAGE, several products, damaged zip...).
    """
    find_product(path)


def find_product(path: str | os.PathLike[str]) -> ProductParts:
    """Find the parts of the product at ``path`` (folder, zip, SPECTRAL_IMAGE or XML)."""
    p = Path(path)
    if not p.exists():
        raise DatasetNotFoundError(f"{p}: no such file or folder; {_HOWTO}")
    if p.is_dir():
        found = _match([str(f) for f in p.iterdir() if f.is_file() and not _is_resource_fork(f.name)],
                       SPECTRAL_SUFFIX)
        subs = [d for d in p.iterdir() if d.is_dir() and not _is_resource_fork(d.name) and d.name != "__MACOSX"]
        if not found:  # the folder one level up from the product, or an unzipped archive
            found = [f for d in subs for f in _spectral_in(d)]
        if not found:
            delivery = p if p.name.upper() == DELIVERY_FOLDER else next(
                (d for d in subs if d.name.upper() == DELIVERY_FOLDER), None)
            products = _delivered(delivery) if delivery is not None else []
            if len(products) == 1:
                return find_product(products[0])
            if products:
                raise CubeReadError(
                    f"{p}: this EnMAP order holds {len(products)} products in {delivery.name}; "
                    f"point at one of them, e.g. {products[0]}"
                )
        if not found:  # an order folder holding the product one level further down (ENMAP01-.../<product>/)
            found = [f for d in subs for sub in sorted(d.iterdir()) if sub.is_dir() and not _is_resource_fork(sub.name)
                     for f in _spectral_in(sub)]
        if not found:
            raise CubeReadError(
                f"{p}: no {_SPECTRAL_NAMES} in this folder, so it is not an EnMAP L2A product; {_HOWTO}"
            )
        if len(found) > 1:
            shown = _listed([os.path.relpath(os.path.dirname(f), p) for f in found])
            raise CubeReadError(f"{p}: holds {len(found)} EnMAP products ({shown}); point at one product folder, "
                                f"e.g. {os.path.dirname(found[0])}")
        return _assemble(found[0], [str(f) for f in Path(found[0]).parent.iterdir()])
    if zipfile.is_zipfile(p):
        return _locate_zip(p)
    if p.suffix.upper() == ".HDR":  # the ENVI header of an ENVI-format SPECTRAL_IMAGE stands for it
        from hsi_app.io.envi import find_data

        data = find_data(p)
        if data is None or not _match([data.name], SPECTRAL_SUFFIX):
            raise CubeReadError(f"{p}: not the header of an EnMAP L2A {_SPECTRAL_NAMES}; {_HOWTO}")
        p = data
    if p.name.lower().endswith(TAR_ENDINGS):
        raise CubeReadError(tar_refusal(p))
    if _match([p.name], METADATA_SUFFIX):
        stem = p.name[: -len(METADATA_SUFFIX)]
        spectral = _match([str(f) for f in p.parent.iterdir()], stem + SPECTRAL_SUFFIX)
        if not spectral:
            raise CubeReadError(f"{p}: no {stem}{SPECTRAL_SUFFIX} next to this METADATA.XML; {_HOWTO}")
        p = Path(spectral[0])
    elif not _match([p.name], SPECTRAL_SUFFIX):
        raise CubeReadError(f"{p}: not an EnMAP L2A product file; {_HOWTO}")
    return _assemble(str(p), [str(f) for f in p.parent.iterdir()])


def _spectral_in(folder: Path) -> list[str]:
    """SPECTRAL_IMAGE files directly in ``folder`` (resource forks left out)."""
    try:
        entries = [str(x) for x in folder.iterdir() if x.is_file() and not _is_resource_fork(x.name)]
    except OSError:  # an unreadable subfolder is no product
        return []
    return _match(entries, SPECTRAL_SUFFIX)


def _listed(names: list[str], most: int = 4) -> str:
    """``names`` joined for a one-line message, the first ``most`` of them."""
    return ", ".join(names[:most]) + (f", ... ({len(names) - most} more)" if len(names) > most else "")


def tar_refusal(p: Path) -> str:
    """The one-line refusal of a tar archive (``.tar``, ``.tar.gz``, ``.tgz``): extract it first.

    ``tar -xf`` extracts plain and gzip-compressed archives alike. Only a name like a DLR EnMAP order's
    (``dims_op_*``, or holding ``ENMAP``) is told where the product lies in the extracted order.
    """
    name = p.name
    if name.lower().startswith("dims_op") or "ENMAP" in name.upper():
        return (f"{p}: a tar archive; if this is an EnMAP order as DLR delivers it (dims_op_*.tar.gz), extract it "
                f"(tar -xf {shlex.quote(name)}) and open the order folder, its {DELIVERY_FOLDER} folder or one product .ZIP in it")
    return f"{p}: a tar archive, which is not read as it is; extract it (tar -xf {shlex.quote(name)}) and open the scene file inside"


def _delivered(folder: Path) -> list[Path]:
    """The products in the ``ENMAP.HSI.L2A`` folder of an extracted order: ``*.ZIP`` files and product
    folders, directly inside or one folder further down (``ENMAP-HSI-L2ADT.../<product>/``), sorted.

    A zip unpacked in place (``P.ZIP`` beside its folder ``P/``) is one product: the folder is kept.
    """
    zips: list[Path] = []
    folders: list[tuple[Path, Path]] = []  # (entry in the delivery folder, product folder at or under it)
    for entry in sorted(folder.iterdir()):
        if _is_resource_fork(entry.name):
            continue
        if entry.is_file() and entry.suffix.upper() == ".ZIP":
            zips.append(entry)
        elif entry.is_dir():
            for d in (entry, *sorted(x for x in entry.iterdir() if x.is_dir())):
                if _match([x.name for x in d.iterdir() if x.is_file()], SPECTRAL_SUFFIX):
                    folders.append((entry, d))
                    break
    unzipped = {n.upper() for entry, d in folders for n in (entry.name, d.name)}
    kept = [(z, z) for z in zips if z.stem.upper() not in unzipped]
    return [d for _, d in sorted([*folders, *kept], key=lambda pair: pair[0].name)]


def _locate_zip(p: Path) -> ProductParts:
    try:
        with zipfile.ZipFile(p) as zf:
            stored = {_slashed(n): n for n in zf.namelist()}  # unzip matches the names as stored (maybe with backslashes)
            names = [n for n in stored if not n.endswith("/") and not _is_resource_fork(n)]
    except (zipfile.BadZipFile, OSError) as err:
        raise CubeReadError(f"{p}: damaged zip archive ({err}); download the product again") from err
    found = _match(names, SPECTRAL_SUFFIX)
    if not found:
        inner = [n for n in names if n.upper().endswith(".ZIP") and "ENMAP" in os.path.basename(n).upper()]
        if inner:  # an order zipped again: its products are zips inside it
            raise CubeReadError(
                f"{p}: zip holds {len(inner)} zipped EnMAP product{'s' if len(inner) > 1 else ''} ({_listed(inner)}) "
                f"and a zip inside a zip is not read in place; extract one ({_unzip_one(p, stored[inner[0]], inner[0])}) and open it"
            )
        raise CubeReadError(
            f"{p}: zip holds no {_SPECTRAL_NAMES}, so it is not an EnMAP L2A product; {_HOWTO}"
        )
    if len(found) > 1:
        folders = [n.rpartition("/")[0] or "(top level)" for n in found]
        pick = folders[0] if "/" in found[0] else ""
        how = _unzip_one(p, stored[found[0]], f"{pick}/*") if pick else f"unzip {shlex.quote(p.name)}"
        raise CubeReadError(
            f"{p}: zip holds {len(found)} EnMAP products ({_listed(folders)}); extract the one you want "
            f"({how}) and open its folder"
        )
    folder = found[0].rpartition("/")[0]
    siblings = [n for n in names if n.rpartition("/")[0] == folder]
    return _assemble(found[0], siblings, zip_path=p)


def _unzip_one(p: Path, stored: str, member: str) -> str:
    """``unzip X.zip 'member'``, or the whole ``unzip X.zip`` when the archive names its folders with backslashes
    (``stored``, a name as written in it): unzip reads a backslash in a name it is given as an escape, so no quoting
    picks such a member. Both are quoted for a POSIX shell."""
    zip_name = shlex.quote(p.name)  # names with spaces or brackets, as a shell takes them
    if "\\" in stored:
        return f"unzip {zip_name}"
    pattern = member.replace("[", "[[]")  # unzip reads [..] in a member as a set of characters: [[] is a bracket
    return f"unzip {zip_name} {shlex.quote(pattern)}"


def is_enmap_product(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is recognisably an EnMAP L2A product.

    Recognised: a folder (or a folder holding exactly one product folder), a ``.zip``,
    a ``*-SPECTRAL_IMAGE.TIF`` (or ENVI ``.BSQ``/``.BIL``/``.BIP``, or its ``.HDR``) or a
    ``*-METADATA.XML`` of a product that has a SPECTRAL_IMAGE. Only names are looked at, so this is cheap; :func:`read_enmap`
    reports parts that are missing or damaged. Never raises.
    """
    try:
        find_product(path)
    except (CubeReadError, DatasetNotFoundError, OSError, ValueError):
        return False
    return True
