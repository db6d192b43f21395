"""ENVI images (``x.hdr`` + ``x``/``x.img``/``x.dat``/...) through Spectral Python.

The binary file is memory-mapped by SPy's ``BsqFile``/``BilFile``/``BipFile`` in any interleave (BSQ, BIL,
BIP, spelled in any case; either byte order; with a header offset; :func:`spy_image`) and exposed as a lazy dask ``(C, H, W)``
array, so only the windows that are used are read. The header gives the band centres and
widths (``wavelength``, ``fwhm``, converted to nm with ``wavelength units``),
``data ignore value`` (-> NaN), ``bbl`` (0 = bad band), ``band names``,
``data gain values``/``data offset values`` (applied per band: GDAL reports them as band scale/offset and
hsi's GeoTIFF reader applies those) and
``reflectance scale factor`` (applied). The georeference comes from ``coordinate system
string`` (WKT) when present, otherwise from ``map info`` (UTM and Geographic Lat/Lon; other
projections from ``projection info``, as GDAL's ENVI driver builds them; a
``rotation`` gives a rotated grid, whose map positions ``cube.hsi.map_coords`` returns); see
:mod:`hsi_app.io.envi_georef`.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, CubeReadError, DatasetNotFoundError, HSIWarning
from hsi_app.io.cube import Cube, make_cube, valid_from_data
from hsi_app.io.envi_georef import (
    in_wkt_units,
    parse_map_info,
    projection_info_crs,
    warn_if_crs_disagree,
    wkt_crs,
)
from hsi_app.io.wavelength_units import nm_factor, nm_factor_or_warn

FORMAT = "envi"
DATA_EXTS = ("", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw")
ENVI_DATA_EXTS = DATA_EXTS[1:]
"""The file name endings of ENVI data (beside its ``.hdr``); one is taken for ENVI data by its name alone (a
scene in a batch, a refusal that names the missing header), so every such list is this one."""
TIFF_EXTS = (".tif", ".tiff")
"""Names of the TIFF that a ``file type = TIFF`` header describes."""
REQUIRED = ("samples", "lines", "bands", "data type", "interleave", "byte order")
ENVI_DTYPES = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
FILE_DTYPE_ATTR = "file_dtype"
"""Cube attr: the numpy dtype name the file stores (``"int16"``), where the reader returns float32 (every ENVI
file; a GeoTIFF whose band scale/offset it applies), so the storage still shows (a library scale guess reads it)."""


def find_header(path: str | os.PathLike[str]) -> Path | None:
    """The ENVI header for ``path``: itself if it is a ``.hdr``, else ``x.hdr``/``x.img.hdr``."""
    p = Path(path)
    if p.suffix.lower() == ".hdr":
        return p if p.is_file() else None
    for cand in (p.with_suffix(".hdr"), p.with_suffix(".HDR"), Path(f"{p}.hdr"), Path(f"{p}.HDR")):
        if cand.is_file():
            return cand
    return None


def find_data(header: Path) -> Path | None:
    """The binary file next to ``header`` (``x``, ``x.img``, ``x.dat``, ``x.bsq``...), or for a header ENVI
    writes beside a TIFF (:func:`is_tiff_header`) that TIFF (``x.tif``/``x.tiff``, any case)."""
    stem = header.with_suffix("")
    if is_tiff_header(header):
        own = [stem] if stem.suffix.lower() in TIFF_EXTS else []  # x.tif.hdr
        cands = own + [Path(f"{stem}{e}") for ext in TIFF_EXTS for e in (ext, ext.upper())]
    else:
        cands = [Path(f"{stem}{e}") for ext in DATA_EXTS for e in dict.fromkeys((ext, ext.upper()))]
    return next((c for c in cands if c.is_file()), None)


def is_tiff_header(header: Path) -> bool:
    """Whether ``header`` is one ENVI writes beside a TIFF to keep what the TIFF cannot hold (wavelengths, FWHM,
    ``bbl``): it says ``file type = TIFF``. Never raises (an unreadable header is not one)."""
    from spectral.io import envi

    try:
        h = parse_header(header)
    except (envi.EnviException, OSError):
        return False
    return "tif" in str(h.get("file type", "")).lower()


def is_envi(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is (or sits next to) a header whose text starts with ``ENVI``."""
    try:
        hdr = find_header(path)
        if hdr is None:
            return False
        with open(hdr, "rb") as fh:
            return fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"ENVI")
    except OSError:
        return False


def is_classification(header: dict[str, Any]) -> bool:
    """Whether a parsed ENVI header (:func:`read_header`) says ``file type = ENVI Classification``."""
    return "classification" in str(header.get("file type", "")).lower()


def spy_message(err: BaseException) -> str:
    """Spectral Python's error text on one line (it pads some messages with runs of spaces)."""
    return " ".join(str(err).split())


def described_size(h: dict[str, Any]) -> int:
    """Bytes of the data file a parsed header (:func:`read_header`) describes: ``header offset``
    + bands x lines x samples x the item size of its ``data type``.

    Raises:
        KeyError, TypeError, ValueError: a missing, non-integer or unsupported key.
    """
    pixels = int(h["bands"]) * int(h["lines"]) * int(h["samples"])
    return int(h.get("header offset", 0)) + pixels * np.dtype(ENVI_DTYPES[int(h["data type"])]).itemsize


def read_header(header: Path) -> dict[str, Any]:
    """Parse an ENVI header (:func:`parse_header`); keys lower-case, ``{...}`` values as lists of strings.

    Raises:
        CubeReadError: not an ENVI header, unparsable, or missing a required key.
    """
    from spectral.io import envi

    try:
        h = parse_header(header)
    except (envi.EnviException, OSError) as err:
        with open(header, "rb") as fh:
            bom = fh.read(3) == b"\xef\xbb\xbf"
        trailing = comment_after_value(header)
        why = "it starts with a UTF-8 byte-order mark; save it as plain ASCII/UTF-8 without BOM" if bom \
            else trailing or "check that it starts with 'ENVI'"
        raise CubeReadError(f"{header}: not a readable ENVI header ({spy_message(err)}); {why}") from err
    missing = [k for k in REQUIRED if k not in h]
    if missing:
        raise CubeReadError(
            f"{header}: ENVI header lacks {', '.join(repr(k) for k in missing)}; "
            "add them (e.g. 'interleave = bsq', 'byte order = 0') to the .hdr"
        )
    return h


def header_text(header: Path) -> str | None:
    """The text of ``header`` decoded as UTF-8, else as cp1252 (whatever the locale), or ``None`` for a file that is
    no ENVI header text (not starting with ``ENVI``, or holding NUL bytes within its text).

    NUL bytes at the end (with blanks or line ends among them), with which some writers pad a header to a block
    size, end the text: they are dropped, as Spectral Python and GDAL read such headers.

    ENVI on Windows writes ``°``, ``µ`` and accented letters (a description, a path) in cp1252, and GDAL reads such
    headers; a UTF-8 header is valid cp1252 too (``µ`` -> ``Âµ``), so UTF-8 is tried first.

    Raises:
        OSError: the file cannot be read.
    """
    raw = header.read_bytes()
    if b"\x00" in raw:
        raw = raw.rstrip(b"\x00\r\n\t ")  # NUL padding after the last line
    if not raw.lstrip(b"\xef\xbb\xbf").startswith(b"ENVI") or b"\x00" in raw:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def parse_header_text(text: str) -> dict[str, Any]:
    """The keys of an ENVI header's ``text`` as Spectral Python's ``read_envi_header`` gives them: lower-case keys,
    ``{...}`` values as lists of stripped strings (``description`` as one string), lines starting with ``;`` skipped;
    and, as GDAL reads them, a scalar value without the ``; comment`` that may follow it on its line (``data type =
    2 ; int16``; a ``{...}`` value keeps its ``;``, as in ``description = {a; b}``).

    Parsed here rather than by SPy, which reads the file in the locale's encoding (a UTF-8 ``µ`` read as ``Âµ`` on a
    cp1252 locale, a cp1252 byte taken for a binary file on a UTF-8 one).

    Raises:
        spectral.io.envi.FileNotAnEnviHeader: the first line does not start with ``ENVI`` (a byte-order mark included).
        spectral.io.envi.EnviHeaderParsingError: a ``{`` value that no later line closes.
    """
    from spectral.io import envi

    lines = text.splitlines()
    if not lines or not lines[0].strip().startswith("ENVI"):
        raise envi.FileNotAnEnviHeader('File does not appear to be an ENVI header (missing "ENVI" at beginning of '
                                       "first line).")
    h: dict[str, Any] = {}
    rest = iter(lines[1:])
    for line in rest:
        if "=" not in line or line.startswith(";"):
            continue
        key, _, val = line.partition("=")
        key, val = key.strip().lower(), val.strip()
        if not val.startswith("{"):
            h[key] = val.split(";", 1)[0].rstrip()  # a '; comment' after a scalar (GDAL reads the value before it)
            continue
        while not val.endswith("}"):
            more = next(rest, None)
            if more is None:
                raise envi.EnviHeaderParsingError()
            if not more.startswith(";"):
                val += "\n" + more.strip()
        h[key] = val.strip("{}").strip() if key == "description" else [v.strip() for v in val[1:-1].split(",")]
    return h


def _parsed_or_none(header: Path) -> dict[str, Any] | None:
    """:func:`parse_header` of an ENVI header whatever keys it lacks; ``None`` when it is not one (an ESRI ``.hdr``)."""
    from spectral.io import envi

    try:
        return parse_header(header)
    except (envi.EnviException, OSError, ValueError):
        return None


def _is_library(h: dict[str, Any]) -> bool:
    """Whether parsed header keys ``h`` describe an ENVI spectral library (``file type = ENVI Spectral Library``)."""
    return "spectral library" in str(h.get("file type", "")).lower()


def parse_header(header: Path) -> dict[str, Any]:
    """:func:`parse_header_text` of :func:`header_text`, independent of the locale.

    Raises:
        spectral.io.envi.FileNotAnEnviHeader: not ENVI header text.
        spectral.io.envi.EnviHeaderParsingError: unparsable.
        OSError: unreadable.
    """
    from spectral.io import envi

    text = header_text(header)
    if text is None:
        raise envi.FileNotAnEnviHeader("File does not appear to be an ENVI header (appears to be a binary file).")
    return parse_header_text(text)


def comment_after_value(header: Path) -> str | None:
    """Why SPy cannot parse ``header`` when a ``; comment`` follows a ``{...}`` value on its line (ENVI takes comments
    only on lines of their own, and GDAL drops such a value): the line and the fix, or None.

    Never raises (an unreadable header gives None)."""
    try:
        lines = header.read_text(errors="replace").splitlines()
    except OSError:
        return None
    depth = 0
    for number, line in enumerate(lines, 1):
        for pos, ch in enumerate(line):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth = max(depth - 1, 0)
            elif ch == ";" and depth == 0 and "}" in line[:pos]:
                return (f"line {number} ({line.strip()[:60]!r}) has a comment after its value; ENVI headers take "
                        "comments only on lines of their own (starting with ';'): move it to its own line")
    return None


def header_floats(h: dict[str, Any], key: str, n: int, header: Path) -> np.ndarray | None:
    """``(n,)`` float64 list value of ``key``, or None (with a warning when malformed)."""
    if key not in h:
        return None
    vals = h[key] if isinstance(h[key], list) else [h[key]]
    try:
        arr = np.array([float(v) for v in vals if str(v).strip()], dtype=np.float64)
    except ValueError:
        arr = np.empty(0)
    if arr.size != n:
        warnings.warn(f"{header}: '{key}' has {arr.size} valid values for {n} bands; ignored", HSIWarning, stacklevel=3)
        return None
    return arr


def to_nanometres(values: np.ndarray, units: str | None) -> np.ndarray | None:
    """``values`` (wavelengths) in nm following :func:`~hsi_app.io.wavelength_units.nm_factor`, or None."""
    factor = nm_factor(values, units)
    return None if factor is None else values * factor


def spy_image(header: Path | str, data: Path | str) -> Any:
    """The SPy image (``BsqFile``/``BilFile``/``BipFile``) of ``data``, from the header as :func:`read_header` parses it.

    Built from SPy's own parameters rather than by ``spectral.envi.open``, which knows only ``bil``/``BIL`` and
    ``bip``/``BIP`` (any other spelling, ``Bil``, opens as BSQ and reads garbage without an error; GDAL reads the
    interleave in any case) and cannot read a header with Windows (cp1252) characters.

    Raises:
        CubeReadError: the header cannot be read (:func:`read_header`).
        spectral.io.envi.EnviException, KeyError, ValueError, OSError: SPy refuses the header's parameters.
    """
    from spectral.io import envi
    from spectral.io.bilfile import BilFile
    from spectral.io.bipfile import BipFile
    from spectral.io.bsqfile import BsqFile

    h = read_header(Path(header))
    envi.check_compatibility(h)
    try:  # SPy looks the code up as text: '02' or '+4' (GDAL reads them as 2 and 4) would be a KeyError
        h["data type"] = str(int(h["data type"]))
    except (TypeError, ValueError):
        pass  # SPy's KeyError names it
    kind = {"bil": BilFile, "bip": BipFile}.get(str(h["interleave"]).strip().lower(), BsqFile)
    params = envi.gen_params(h)
    params.filename = str(data)
    img = kind(params, h)
    img.scale_factor = float(h.get("reflectance scale factor", 1.0))
    return img


class _EnviArray:
    """Array-like ``(C, H, W)`` view of an ENVI file for ``dask.array.from_array``.

    The SPy memory map is opened on first use and dropped when pickled, so a graph can
    be shipped to other processes. Every read returns a native-byte-order copy.
    """

    def __init__(self, header: Path, data: Path, shape: tuple[int, int, int], dtype: np.dtype) -> None:
        self.header, self.data = str(header), str(data)
        self.shape, self.dtype, self.ndim = shape, np.dtype(dtype), 3
        self._mm: np.ndarray | None = None

    def attach(self, img: Any) -> None:
        """Use the memory map of an already opened SPy image (``SpyFile``).

        Raises:
            ValueError: the file cannot be memory-mapped (SPy returns ``None`` then).
        """
        self._mm = img.open_memmap(interleave="bsq", writable=False)  # (bands, rows, cols) view
        if self._mm is None:
            raise ValueError("Spectral Python could not memory-map it")

    def _memmap(self) -> np.ndarray:
        if self._mm is None:
            self.attach(spy_image(self.header, self.data))
        assert self._mm is not None
        return self._mm

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.array(self._memmap()[key], dtype=self.dtype)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_mm": None}


def read_envi(path: str | os.PathLike[str], *, chunks: int = 512) -> Cube:
    """Read an ENVI image lazily.

    Args:
        path: the ``.hdr`` or the data file next to it. A header ENVI writes beside a TIFF
            (``file type = TIFF``) opens that TIFF with :func:`~hsi_app.io.geotiff.read_geotiff`.
        chunks: spatial chunk size (pixels) of the dask array; all bands in one chunk.

    Returns:
        Cube ``(bands, lines, samples)`` float32 (dask): ``raw * gain + offset`` per band when
        the header has ``data gain values``/``data offset values`` (GDAL's band scale/offset; coords
        ``gain``/``offset``, ``attrs['scale_offset']``), divided by ``reflectance scale factor``
        when it has one; a raw value equal to ``data ignore value`` becomes NaN
        (``attrs['nodata']`` NaN); ``bad_band`` from ``bbl``; ``valid`` where no good band is
        no-data; ``band_names``/``scale_factor`` in attrs, and ``file_dtype`` the file's storage
        (``"int16"``: :data:`FILE_DTYPE_ATTR`); ``fmt="envi"``.

    Raises:
        DatasetNotFoundError: no such file, no header, or no data file next to the header.
        CubeReadError: header unreadable or incomplete, unsupported data type, data
            file shorter than the header says (truncated).
        ConfigError: ``chunks`` is not positive.
    """
    import dask.array as da
    from dask.base import tokenize
    from spectral.io import envi

    if chunks <= 0:
        raise ConfigError(f"chunks must be a positive number of pixels, got {chunks}")
    p = Path(path)
    if not p.exists():
        raise DatasetNotFoundError(f"{p}: no such file; point at an ENVI .hdr or the data file next to it")
    header = find_header(p)
    if header is None:
        raise DatasetNotFoundError(
            f"{p}: no ENVI header (x.hdr or x.img.hdr) next to it; put the .hdr beside the data"
        )
    if is_tiff_header(header):
        return _read_envi_tiff(header, chunks)
    data = p if p != header else find_data(header)
    names = ", ".join(f"{header.with_suffix('').name}{e}" for e in DATA_EXTS)
    no_data = f"{header}: no data file next to the header (looked for {names}); copy it beside the .hdr"
    library = (f"{header}: is an ENVI spectral library (target spectra), not an image; pass it as --targets LIB "
               "(hsi detect, hsi simulate-targets) and a scene as the input")
    try:
        h = read_header(header)
    except CubeReadError as err:  # an ENVI header lacking keys: a library, or lone, is said first
        loose = _parsed_or_none(header)
        if loose is not None and _is_library(loose):
            raise CubeReadError(library) from err
        if loose is not None and data is None:
            raise DatasetNotFoundError(no_data) from err
        raise
    if _is_library(h):
        raise CubeReadError(library)
    if data is None:
        raise DatasetNotFoundError(no_data)
    try:
        c, rows, cols = int(h["bands"]), int(h["lines"]), int(h["samples"])
        code, offset, order = int(h["data type"]), int(h.get("header offset", 0)), int(h["byte order"])
    except (TypeError, ValueError) as err:
        raise CubeReadError(f"{header}: non-integer size/type keys ({err}); fix the .hdr") from err
    if code not in ENVI_DTYPES:
        raise CubeReadError(
            f"{header}: ENVI data type {code} is not supported (complex or unknown); convert to a real type"
        )
    if min(c, rows, cols) < 1:
        raise CubeReadError(f"{header}: {c} bands x {rows} lines x {cols} samples; every size must be >= 1, fix the .hdr")
    interleave = str(h["interleave"]).strip().lower()
    if order not in (0, 1) or interleave not in ("bsq", "bil", "bip") or offset < 0:
        raise CubeReadError(
            f"{header}: byte order {order}, interleave {interleave!r}, header offset {offset}; ENVI allows "
            "byte order 0 or 1, interleave bsq/bil/bip and an offset >= 0: fix the .hdr"
        )
    dtype = np.dtype(ENVI_DTYPES[code])
    need = described_size(h)
    have = data.stat().st_size
    if have < need:
        raise CubeReadError(
            f"{data}: {have} bytes but the header describes {need} ({c} bands x {rows} lines x {cols} samples, "
            f"{dtype.name}, byte order {order}); the file is truncated, copy or export it again"
        )
    if have > need:  # a wrong data type or band count reads garbage; a few spare bytes are common
        extra = have - need
        msg = (f"{data}: {have} bytes but the header describes {need} ({c} bands x {rows} lines x {cols} samples, "
               f"{dtype.name})")
        if extra % (rows * cols) == 0 or extra >= need - offset:
            raise CubeReadError(f"{msg}; the header's data type or band count does not match the file: fix the .hdr")
        warnings.warn(f"{msg}; ignoring the {extra} bytes at the end", HSIWarning, stacklevel=2)
    src = _EnviArray(header, data, (c, rows, cols), dtype)
    try:
        img = spy_image(header, data)
    except (envi.EnviException, KeyError, ValueError, OSError) as err:
        raise CubeReadError(f"{header}: SPy cannot open this ENVI image ({type(err).__name__}: {spy_message(err)}); "
                            "check the header") from err
    try:
        src.attach(img)
    except (ValueError, OSError) as err:
        raise CubeReadError(f"{data}: cannot be memory-mapped ({err}); check the header sizes") from err
    stamp = (str(data.resolve()), have, data.stat().st_mtime_ns, offset, order, h["interleave"])
    name = "envi-" + tokenize(*stamp)
    raw = da.from_array(src, chunks=(c, chunks, chunks), name=name, meta=np.empty((0, 0, 0), dtype))

    bad = np.zeros(c, dtype=bool)
    bbl = header_floats(h, "bbl", c, header)
    if bbl is not None:
        bad = bbl == 0
    ignore = header_floats(h, "data ignore value", 1, header)
    nodata = None if ignore is None else float(ignore[0])
    scale = float(getattr(img, "scale_factor", 1.0) or 1.0)
    gain, shift = gain_offset(h, c, header)
    out = raw.astype(np.float32)
    if gain is not None:  # GDAL's band scale/offset, as a GeoTIFF copy of this file would carry them
        out = out * gain.astype(np.float32)[:, None, None] + shift.astype(np.float32)[:, None, None]
    if scale != 1.0:
        out = out / np.float32(scale)
    if nodata is not None and not np.isnan(nodata):
        out = da.where(raw == nodata, np.float32(np.nan), out)
    valid = valid_from_data(raw, nodata, bad)

    units = h.get("wavelength units")
    wl = header_floats(h, "wavelength", c, header)
    fw = header_floats(h, "fwhm", c, header)
    factor = nm_factor_or_warn(wl, units, str(header)) if wl is not None else None
    wl_nm = wl * factor if wl is not None and factor is not None else None
    fw_nm = fw * factor if fw is not None and factor is not None else None  # same units as wavelength

    crs = transform = None
    if "map info" in h and isinstance(h["map info"], list):
        header_crs = wkt_crs(h, header)
        projected = header_crs is None and "projection info" in h
        crs, transform = parse_map_info(h["map info"], header, warn_crs=header_crs is None and not projected,
                                        own_units=header_crs is None)
        if transform is not None and header_crs is not None:
            warn_if_crs_disagree(crs, header_crs, header)
            crs, transform = header_crs, in_wkt_units(h["map info"], transform, header_crs, header)
        elif transform is not None and crs is None and projected:  # older ENVI / USGS: GDAL reads projection info
            crs = projection_info_crs(data, header, str(h["map info"][0]).strip())
    attrs: dict[str, Any] = {"scale_factor": scale, "interleave": str(h["interleave"]).lower(),
                             FILE_DTYPE_ATTR: dtype.name}  # the cube is float32 whatever the file stores
    names = h.get("band names")
    if isinstance(names, list) and len(names) == c:
        attrs["band_names"] = [str(n) for n in names]
    if nodata is not None:
        attrs["raw_nodata"] = nodata
    if gain is not None:
        attrs["scale_offset"] = "applied"
    cube = make_cube(
        out,
        wavelength=wl_nm,
        fwhm=fw_nm,
        bad_bands=np.flatnonzero(bad),
        crs=crs,
        transform=transform,
        nodata=None,
        valid=valid,
        fmt=FORMAT,
        source=os.fspath(path),
        attrs=attrs,
    )
    if gain is None:
        return cube
    return cube.assign_coords(gain=("band", gain), offset=("band", shift))


def _read_envi_tiff(header: Path, chunks: int) -> Cube:
    """The TIFF that a ``file type = TIFF`` header describes, read as a GeoTIFF (which takes the header's
    wavelengths, FWHM, ``bbl`` and ``data ignore value``: :mod:`hsi_app.io.envi_tiff`).

    Raises:
        DatasetNotFoundError: no such TIFF beside the header.
    """
    tiff = find_data(header)
    if tiff is None:
        names = ", ".join(f"{header.with_suffix('').name}{e}" for e in TIFF_EXTS)
        raise DatasetNotFoundError(f"{header}: says 'file type = TIFF' but no TIFF is beside it (looked for {names}); "
                                   "copy the TIFF beside the .hdr, or open the TIFF itself")
    from hsi_app.io.geotiff import read_geotiff

    return read_geotiff(tiff, chunks=chunks)


def gain_offset(h: dict[str, Any], c: int, header: Path) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """``(gain, offset)``, each ``(C,)`` float64, from ``data gain values``/``data offset values`` (a missing one
    is 1 / 0), or ``(None, None)`` when neither is there or they change nothing. A list of the wrong length is
    ignored with a warning (:func:`header_floats`)."""
    gain = header_floats(h, "data gain values", c, header)
    shift = header_floats(h, "data offset values", c, header)
    if gain is None and shift is None:
        return None, None
    gain = np.ones(c) if gain is None else gain
    shift = np.zeros(c) if shift is None else shift
    if np.all(gain == 1.0) and np.all(shift == 0.0):
        return None, None
    return gain, shift
