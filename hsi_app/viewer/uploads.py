"""Validate an uploaded scene and stage it in the session's private temporary folder.

Accepted: a GeoTIFF, a MATLAB ``.mat`` (v5 or v7.3/HDF5), a zip holding an ENVI pair
(``x.hdr`` + data) or a zipped EnMAP L2A product. Checks, in order:

1. size against the configured limit (``hsi serve --max-upload``, 2 GB by default);
2. content (magic bytes), never the file name: the staged copy is named by the viewer;
3. zips: no absolute names, no ``..``, no links, bounded member count and uncompressed
   size (zip bombs); ENVI pairs are extracted member by member into a fresh folder under
   sanitised base names; EnMAP zips are read in place (GDAL ``/vsizip/``), not extracted;
4. finally the staged file must open with :func:`hsi_app.io.open.open_cube`.

Nothing outside the session folder is written, and no path from the user is used.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from hsi_app.errors import HSIError
from hsi_app.io.open import TIFF_MAGIC
from hsi_app.viewer.config import format_size

MAX_ZIP_MEMBERS = 2000
ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ACCEPTED = "a GeoTIFF, a .mat file, a zipped ENVI pair (.hdr + data) or a zipped EnMAP L2A product"


class UploadError(HSIError, ValueError):
    """An uploaded file is refused (too large, wrong content, unsafe zip)."""


def sniff_upload(path: Path) -> str:
    """``"geotiff"``, ``"mat"`` or ``"zip"`` from the first bytes of ``path``.

    Raises:
        UploadError: empty or of another kind.
    """
    with open(path, "rb") as fh:
        head = fh.read(520)
    if not head:
        raise UploadError("the uploaded file is empty; upload it again")
    if head[:4] in TIFF_MAGIC:
        return "geotiff"
    if head[:6] == b"MATLAB" or head[512:520] == HDF5_MAGIC or head[:8] == HDF5_MAGIC:
        return "mat"
    if head[:4] == ZIP_MAGIC:
        return "zip"
    raise UploadError(f"the uploaded file is not {ACCEPTED} (checked its content, not its name)")


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


def stage_upload(src: str | os.PathLike[str], workdir: str | os.PathLike[str], max_bytes: int) -> Path:
    """Validate an upload and place it in ``workdir``; return the path to open.

    Args:
        src: the server-side temporary file the web framework saved.
        workdir: the session's private folder (emptied of any earlier upload first).
        max_bytes: size limit of the upload (and of a zip's unpacked content).

    Returns:
        The staged scene: ``scene.tif``, ``scene.mat``, an EnMAP ``scene.zip`` or an
        extracted ENVI ``.hdr``. It is known to open with ``open_cube``.

    Raises:
        UploadError: refused; the message says why and what is accepted.
    """
    from hsi_app.io.open import open_cube

    source = Path(src)
    if not source.is_file():
        raise UploadError("the upload did not arrive; upload the file again")
    size = source.stat().st_size
    if size > max_bytes:
        raise UploadError(
            f"the file is {format_size(size)}, over the {format_size(max_bytes)} upload limit "
            "(raise it with hsi serve --max-upload)"
        )
    kind = sniff_upload(source)
    stage = Path(workdir) / "upload"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    target = _stage(source, stage, kind, max_bytes)
    try:
        cube = open_cube(target)
    except HSIError as err:
        shutil.rmtree(stage, ignore_errors=True)
        raise UploadError(f"the upload could not be read as a scene: {_strip_path(str(err), stage)}") from err
    except Exception as err:  # noqa: BLE001 - any reader failure is a refused upload
        shutil.rmtree(stage, ignore_errors=True)
        raise UploadError(f"the upload could not be read as a scene ({type(err).__name__}); {ACCEPTED}") from err
    del cube
    return target


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
