"""Validate an uploaded scene and stage it in the session's private temporary folder.

Accepted: a GeoTIFF, a MATLAB ``.mat`` (v5 or v7.3/HDF5), a zip holding an ENVI pair
(``x.hdr`` + data) or a zipped EnMAP L2A product. Checks, in order:

1. size against the configured limit (``hsi serve --max-upload``, 2 GB by default);
2. content (magic bytes), never the file name: the staged copy is named by the viewer;
3. zips: no absolute names, no ``..``, no links, bounded member count and uncompressed
   size (zip bombs); ENVI pairs are extracted member by member into a fresh folder under
   sanitised base names; EnMAP zips are read in place (GDAL ``/vsizip/``), not extracted;
4. the scene's *declared* size (bytes of its pixels once decompressed: width x height x
   bands x bytes per value, summed over the arrays of a ``.mat``), read from the headers
   only (GeoTIFF and EnMAP spectral image: GDAL header; ``.mat`` v5:
   :func:`~hsi_app.viewer.mat5.mat5_variables`, which inflates only the variable headers
   and checks each numeric array's data element against its dimensions; v7.3: HDF5
   dataset shapes; ENVI: the ``.hdr``), against the same limit. A small, well-compressed file (a sparse GeoTIFF, a ``.mat`` of compressed
   zeros) may not declare more pixels than an upload of the limit's size could hold, since
   displaying a scene reads its bands;
5. finally the staged file must open with :func:`hsi_app.io.open.open_cube`.

One rule bounds everything: nothing the upload makes the viewer hold (the file, a zip's
unpacked members, the decompressed pixels) may exceed ``max_bytes``
(``hsi serve --max-upload`` / ``HSI_MAX_UPLOAD``). A refused upload leaves nothing behind
in the session folder. Nothing outside the session folder is written, and no path from
the user is used.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from typing import TYPE_CHECKING

import numpy as np

from hsi_app.errors import HSIError
from hsi_app.io.geotiff import TIFF_ONLY
from hsi_app.io.envi import ENVI_DATA_EXTS
from hsi_app.io.open import HDF5_MAGIC, MAT_MAGIC, TIFF_MAGIC
from hsi_app.viewer.config import format_size
from hsi_app.viewer.mat5 import Mat5HeaderError, mat5_variables

if TYPE_CHECKING:
    from hsi_app.io.cube import Cube

MAX_ZIP_MEMBERS = 2000
INFLATE_MARGIN = 1 << 20  # .mat headers inflated beyond max_bytes while checking data elements
ZIP_MAGIC = b"PK\x03\x04"
ACCEPTED = ("a GeoTIFF, a .mat file, an ENVI pair (.hdr + data, picked together or zipped) or a zipped EnMAP L2A "
            "product")


class UploadError(HSIError, ValueError):
    """An uploaded file is refused (too large, wrong content, unsafe zip)."""


def sniff_upload(path: Path, name: str | None = None) -> str:
    """``"geotiff"``, ``"mat"`` or ``"zip"`` from the first bytes of ``path``.

    Args:
        path: the uploaded file.
        name: the name the user knows it by (default: ``path``'s file name); refusals
            start with it, and an ENVI header or data file uploaded alone (told by its
            content, or by its name when its content is no accepted kind) is told to be
            zipped with the other half of its pair.

    Raises:
        UploadError: empty or of another kind.
    """
    shown = name or path.name or "the uploaded file"
    with open(path, "rb") as fh:
        head = fh.read(520)
    if not head:
        raise UploadError(f"{shown} is empty; upload it again")
    if head[:4] in TIFF_MAGIC:
        return "geotiff"
    if head.startswith(MAT_MAGIC) or head[512:520] == HDF5_MAGIC or head[:8] == HDF5_MAGIC:
        return "mat"
    if head[:4] == ZIP_MAGIC:
        return "zip"
    stem, suffix = PurePosixPath(shown).stem, PurePosixPath(shown).suffix.lower()
    if head.lstrip()[:4] == b"ENVI" or suffix == ".hdr":
        raise UploadError(
            f"{shown} is an ENVI header, which holds no pixels: upload it together with its data file "
            f"(pick {stem}.hdr and {stem}.img at once), or zip the two and upload the zip"
        )
    if suffix in ENVI_DATA_EXTS:
        raise UploadError(
            f"{shown} is no scene on its own: if it is the data file of an ENVI pair, upload it together with its "
            f"header (pick {stem}.hdr and {shown} at once), or zip the two; the viewer takes {ACCEPTED}"
        )
    raise UploadError(f"{shown} is not {ACCEPTED} (checked its content, not its name)")


def safe_member_name(name: str) -> PurePosixPath:
    """The relative path a zip member may be extracted to, with every part sanitised.

    Raises:
        UploadError: absolute names, drive letters or ``..`` (path traversal).
    """
    raw = name.replace("\\", "/")
    pure = PurePosixPath(raw)
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or any(p == ".." for p in pure.parts):
        raise UploadError(f"zip member {name!r} points outside the archive; the zip is refused")
    parts = [re.sub(r"[^A-Za-z0-9._-]", "_", p).lstrip(".") or "_" for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise UploadError(f"zip member {name!r} has no usable name; the zip is refused")
    return PurePosixPath(*parts)


def check_zip(path: Path, max_bytes: int) -> list[zipfile.ZipInfo]:
    """Check every member of a zip before anything is read from it.

    Returns:
        The file members (folders left out).

    Raises:
        UploadError: traversal, links, too many members, or more than ``max_bytes`` unpacked.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise UploadError(f"the uploaded zip is damaged ({err}); zip it again") from err
    if len(infos) > MAX_ZIP_MEMBERS:
        raise UploadError(f"the zip holds {len(infos)} entries (limit {MAX_ZIP_MEMBERS}); upload only the scene")
    total = 0
    files = []
    for info in infos:
        safe_member_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UploadError(f"zip member {info.filename!r} is a link; the zip is refused")
        if info.is_dir():
            continue
        total += info.file_size
        files.append(info)
    if total > max_bytes:
        raise UploadError(
            f"the zip unpacks to {format_size(total)}, over the {format_size(max_bytes)} upload limit "
            "(hsi serve --max-upload)"
        )
    return files


def extract_zip(path: Path, dest: Path, files: list[zipfile.ZipInfo], max_bytes: int) -> None:
    """Extract ``files`` of ``path`` under ``dest`` with sanitised names, counting real bytes."""
    written = 0
    with zipfile.ZipFile(path) as zf:
        for info in files:
            target = dest / safe_member_name(info.filename)
            if not target.resolve().is_relative_to(dest.resolve()):
                raise UploadError(f"zip member {info.filename!r} points outside the archive; the zip is refused")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                while chunk := src.read(1 << 20):
                    written += len(chunk)
                    if written > max_bytes:  # declared sizes can lie
                        raise UploadError(f"the zip unpacks to more than {format_size(max_bytes)}; refused")
                    dst.write(chunk)


def stage_upload(
    src: str | os.PathLike[str], workdir: str | os.PathLike[str], max_bytes: int, *, folder: str = "upload",
    display_name: str | None = None,
) -> Path:
    """Validate an upload and place it in ``workdir``; return the path to open.

    Args:
        src: the server-side temporary file the web framework saved.
        workdir: the session's private folder.
        max_bytes: size limit of the upload, of a zip's unpacked content and of the
            scene's declared (decompressed) pixel bytes.
        folder: sub-folder of ``workdir`` to stage into (emptied of any earlier upload first).
        display_name: the name the user knows the file by (default: the file name of
            ``src``); refusals name it, never the staged copy (``scene.tif``...).

    Returns:
        The staged scene: ``scene.tif``, ``scene.mat``, an EnMAP ``scene.zip`` or an
        extracted ENVI ``.hdr``. It is known to open with ``open_cube``.

    Raises:
        UploadError: refused; the message says why and what is accepted. Nothing is
            left in ``workdir/folder``.
    """
    return open_staged_upload(src, workdir, max_bytes, folder=folder, display_name=display_name)[0]


def open_staged_upload(
    src: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], workdir: str | os.PathLike[str], max_bytes: int,
    *, folder: str = "upload", display_name: str | None = None,
) -> tuple[Path, Cube]:
    """Like :func:`stage_upload`, and also return the opened scene (read once, not twice).

    ``src`` may also be two files picked together: an ENVI header and its data file
    (:mod:`hsi_app.viewer.upload_pair`), which then need no zip; their sizes count together.
    """
    from hsi_app.io.open import open_cube

    sources = [Path(src)] if isinstance(src, (str, os.PathLike)) else [Path(p) for p in src]
    if not sources or not all(p.is_file() for p in sources):
        raise UploadError("the upload did not arrive; upload the file again")
    size = sum(p.stat().st_size for p in sources)
    if size > max_bytes:
        what = "the file is" if len(sources) == 1 else f"the {len(sources)} files are"
        raise UploadError(
            f"{what} {format_size(size)}, over the {format_size(max_bytes)} upload limit "
            "(raise it with hsi serve --max-upload)"
        )
    pair: tuple[int, int] | None = None
    if len(sources) == 1:
        source = sources[0]
        shown = display_name or source.name or "the uploaded scene"
        kind = sniff_upload(source, shown)
    else:
        from hsi_app.viewer.upload_pair import pair_roles

        pair = pair_roles(sources, [p.name for p in sources])
        source, kind = sources[pair[0]], "envi_pair"
        shown = display_name or source.name
    stage = Path(workdir) / folder
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        if pair is not None:
            from hsi_app.viewer.upload_pair import stage_pair

            head, data = sources[pair[0]], sources[pair[1]]
            target = stage_pair(head, data, head.name, data.name, stage)
        else:
            target = _stage(source, stage, kind, max_bytes)
        check_declared_size(target, max_bytes)
        try:
            cube = open_cube(target)
        except HSIError as err:
            raise UploadError(f"the upload could not be read as a scene: {_strip_path(str(err), stage)}") from err
        except Exception as err:  # noqa: BLE001 - any reader failure is a refused upload
            raise UploadError(f"the upload could not be read as a scene ({type(err).__name__}); the viewer takes "
                              f"{ACCEPTED}") from err
    except UploadError as err:
        shutil.rmtree(stage, ignore_errors=True)
        raise UploadError(_as_uploaded(str(err), shown)) from (err.__cause__ or err)
    except HSIError as err:
        shutil.rmtree(stage, ignore_errors=True)
        raise UploadError(_as_uploaded(f"the upload is refused: {_strip_path(str(err), stage)}", shown)) from err
    except Exception as err:  # noqa: BLE001 - damaged zip members (CRC, zlib), full disk...
        shutil.rmtree(stage, ignore_errors=True)
        raise UploadError(_as_uploaded(f"the upload could not be staged ({type(err).__name__}); upload it again",
                                       shown)) from err
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return target, cube


# bytes per value of the MATLAB classes
_MAT_ITEMSIZE = {"double": 8, "single": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4,
                 "uint32": 4, "int64": 8, "uint64": 8, "logical": 1, "char": 4, "sparse": 0}
_MAT_ITEMSIZE.update({f"complex {k}": 2 * v for k, v in _MAT_ITEMSIZE.items() if k not in ("logical", "char")})


def declared_size(path: Path, max_bytes: int | None = None) -> tuple[int, str]:
    """Bytes the staged scene's pixels take once decompressed, from its headers only.

    Args:
        path: a staged scene (what :func:`_stage` returns).
        max_bytes: the upload limit; a ``.mat`` v5 file's compressed variables are
            inflated (incrementally) at most this much plus ``INFLATE_MARGIN`` while
            their data elements are checked (``None``: no limit).

    Returns:
        ``(bytes, description)``, e.g. ``(8e12, "100000 x 100000 px x 200 bands of float32")``.
        No pixel data is read or decompressed.

    Raises:
        UploadError: the header cannot be read, a ``.mat`` holds a 3-D array that
            is not numeric (its size cannot be known without unpacking it), or a
            ``.mat`` v5 numeric array's data element is not as long as its dimensions say.
    """
    head = _head(path)
    if path.suffix.lower() == ".hdr":
        return _envi_size(path)
    if head[:4] == ZIP_MAGIC:
        return _enmap_size(path)
    if head[:4] in TIFF_MAGIC:
        return _gdal_size(str(path))
    return _mat_size(path, max_bytes)


def check_declared_size(path: Path, max_bytes: int) -> None:
    """Refuse a staged scene that declares more pixel bytes than ``max_bytes`` (see :func:`declared_size`)."""
    nbytes, what = declared_size(path, max_bytes)
    if nbytes > max_bytes:
        raise UploadError(
            f"the scene holds {what} = {format_size(nbytes)} once decompressed, over the "
            f"{format_size(max_bytes)} upload limit (hsi serve --max-upload); upload a smaller scene or a subset"
        )


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(520)


def _gdal_size(gdal_path: str, driver: str = TIFF_ONLY) -> tuple[int, str]:
    import rasterio

    try:
        with rasterio.open(gdal_path, driver=driver) as ds:
            itemsize = max(np.dtype(d).itemsize for d in ds.dtypes)
            h, w, c = int(ds.height), int(ds.width), int(ds.count)
            dtype = ds.dtypes[0]
    except Exception as err:  # noqa: BLE001 - rasterio raises several types on damaged headers
        raise UploadError("the upload could not be read as a scene: its image header is damaged or the file is "
                          "cut short; export it again and upload the whole file") from err
    return h * w * c * itemsize, f"{h} x {w} px x {c} bands of {dtype}"


def _enmap_size(path: Path) -> tuple[int, str]:
    """Declared size of a zipped product's SPECTRAL_IMAGE in whichever format it was ordered (GeoTIFF, COG,
    ENVI, JPEG2000), read through the one GDAL driver of that format."""
    from hsi_app.io.enmap_product import find_product, gdal_driver

    try:
        prod = find_product(path)
    except (HSIError, OSError) as err:
        raise UploadError("the zip is not one EnMAP L2A product (one *-SPECTRAL_IMAGE.TIF); zip one product") from err
    return _gdal_size(prod.gdal(prod.spectral), gdal_driver(prod.spectral))


def _envi_size(header: Path) -> tuple[int, str]:
    from hsi_app.io.envi import ENVI_DTYPES, read_header

    try:
        h = read_header(header)
        c, rows, cols, code = int(h["bands"]), int(h["lines"]), int(h["samples"]), int(h["data type"])
    except HSIError as err:
        raise UploadError(f"the ENVI header in the zip is not readable: {_strip_path(str(err), header.parent)}") from err
    except (TypeError, ValueError) as err:
        raise UploadError("the ENVI header in the zip has non-integer samples/lines/bands/data type") from err
    itemsize = np.dtype(ENVI_DTYPES[code]).itemsize if code in ENVI_DTYPES else 8
    if min(c, rows, cols) < 0:
        raise UploadError("the ENVI header in the zip has negative samples/lines/bands")
    declared = c * rows * cols * itemsize, f"{rows} x {cols} px x {c} bands of {np.dtype(ENVI_DTYPES.get(code, 'f8')).name}"
    tiff = _envi_tiff_size(header)
    return declared if tiff is None or tiff[0] <= declared[0] else tiff


def _envi_tiff_size(header: Path) -> tuple[int, str] | None:
    """Declared size of the TIFF that a ``file type = TIFF`` header describes (the reader opens that TIFF,
    whatever the header's samples/lines/bands say), or ``None`` for another header or no TIFF beside it.

    Raises:
        UploadError: the file beside the header is not a TIFF (by its first bytes), or its header is damaged.
    """
    from hsi_app.io.envi import find_data, is_tiff_header

    if not is_tiff_header(header):
        return None
    data = find_data(header)
    if data is None:
        return None  # opening it says which TIFF is missing
    if _head(data)[:4] not in TIFF_MAGIC:
        raise UploadError(f"the ENVI header says 'file type = TIFF' but {data.name} is not a TIFF; "
                          "upload the TIFF the header was written with")
    return _gdal_size(str(data))


def _mat_size(path: Path, max_bytes: int | None = None) -> tuple[int, str]:
    from hsi_app.io.mat import mat_version, open_hdf5

    total, parts = 0, []
    try:
        if mat_version(path) == "7.3":
            import h5py

            with open_hdf5(path) as fh:  # refuses data stored outside the file
                for name in fh:
                    link = fh.get(name, getlink=True)
                    if not isinstance(link, h5py.HardLink):
                        continue  # external/soft links: the reader refuses or skips them
                    obj = fh[name]
                    if isinstance(obj, h5py.Dataset) and obj.shape is not None:
                        n = int(np.prod(obj.shape, dtype=np.float64)) * obj.dtype.itemsize
                        total += n
                        parts.append((n, name, tuple(reversed(obj.shape)), obj.dtype.name))
        else:
            budget = None if max_bytes is None else max_bytes + INFLATE_MARGIN
            for name, shape, cls in mat5_variables(path, budget):
                if cls not in _MAT_ITEMSIZE:
                    if len(shape) == 3:
                        raise UploadError(f"the .mat variable {name!r} is a MATLAB {cls}; save the cube as a "
                                          "numeric (H, W, bands) array")
                    continue
                n = int(np.prod(shape, dtype=np.float64)) * _MAT_ITEMSIZE[cls]
                total += n
                parts.append((n, name, tuple(shape), cls))
    except UploadError:
        raise
    except Mat5HeaderError as err:
        raise UploadError(f"the upload is refused: {err}") from err
    except HSIError as err:
        raise UploadError(f"the upload is refused: {_strip_path(str(err), path.parent)}") from err
    except Exception as err:  # noqa: BLE001 - scipy/h5py raise many types on damaged files
        raise UploadError("the upload could not be read as a scene: its .mat header is damaged or the file is "
                          "cut short; save it again and upload the whole file") from err
    if not parts:
        return 0, "no arrays"
    n, name, shape, cls = max(parts)
    what = f"array {name!r} of {' x '.join(str(v) for v in shape)} {cls}"
    if len(parts) > 1:
        what += f" (and {len(parts) - 1} more)"
    return total, what


def _stage(source: Path, stage: Path, kind: str, max_bytes: int) -> Path:
    if kind == "geotiff":
        return Path(shutil.copyfile(source, stage / "scene.tif"))
    if kind == "mat":
        return Path(shutil.copyfile(source, stage / "scene.mat"))
    files = check_zip(source, max_bytes)
    from hsi_app.io.enmap import is_enmap_product

    zipped = Path(shutil.copyfile(source, stage / "scene.zip"))
    if is_enmap_product(zipped):
        return zipped
    extracted = stage / "extracted"
    extracted.mkdir()
    extract_zip(zipped, extracted, files, max_bytes)
    zipped.unlink()
    headers = sorted(p for p in extracted.rglob("*") if p.is_file() and p.suffix.lower() == ".hdr")
    if len(headers) != 1:
        found = "no ENVI header" if not headers else f"{len(headers)} ENVI headers"
        raise UploadError(f"the zip holds {found}; zip one ENVI pair (x.hdr + data) or one EnMAP L2A product")
    return headers[0]


def _strip_path(message: str, stage: Path) -> str:
    """Error text without the server's temporary folder (the user never chose it)."""
    return message.replace(str(stage) + os.sep, "").replace(str(stage), "upload")


_STAGED_NAME = re.compile(r"(?<![\w/.-])scene\.(?:tif|mat|zip)(?![\w-]|\.\w)")
_EXTRACTED_MEMBER = re.compile(r"(?<![\w/.-])extracted/([^\s:'\",;()]+)")


def _as_uploaded(message: str, display: str) -> str:
    """A refusal naming the user's file ``display``, not the viewer's staged copy.

    ``scene.tif``/``scene.mat``/``scene.zip`` (what :func:`_stage` names the copy) become
    ``display``; ``extracted/a.img`` (a member of an uploaded zip) becomes ``a.img in display``.
    """
    out, staged = _STAGED_NAME.subn(lambda _m: display, message)
    out, members = _EXTRACTED_MEMBER.subn(lambda m: f"{m.group(1)} in {display}", out)
    return out if staged or members else _naming(out, display)


_UPLOAD_SUBJECTS = ("the uploaded file ", "the uploaded zip ", "the upload ", "the file ", "the zip ")


def _naming(message: str, display: str) -> str:
    """``message`` naming the uploaded file ``display``: as its subject, or before a colon.

    A message that already starts with the name, as a whole name (``scene`` does not start one about
    ``scene.tif``), is kept. Elsewhere in the message a short name (``a``, ``scene``) is as likely an
    ordinary word, so it does not count (:func:`_as_uploaded` knows where it put the name itself).
    """
    if re.match(rf"{re.escape(display)}(?=[\s:,;)]|$)", message):
        return message
    for subject in _UPLOAD_SUBJECTS:
        if message.startswith(subject):
            return display + " " + message[len(subject):]
    return f"{display}: {message}"
