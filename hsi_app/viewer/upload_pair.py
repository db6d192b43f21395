"""An ENVI pair uploaded as two files (its ``.hdr`` and its data file picked together), not zipped.

:func:`pair_roles` tells which file is the header (by content: an ENVI header starts with ``ENVI``)
and refuses anything else; :func:`stage_pair` copies both into the staging folder under one
sanitised stem, so the ENVI reader finds the data file beside its header whatever the two were
called on the user's disk. The rest of the checks (declared size, opening) are those of any upload
(:func:`hsi_app.viewer.uploads.open_staged_upload`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from hsi_app.io.envi import DATA_EXTS, TIFF_EXTS
from hsi_app.viewer.uploads import UploadError

PAIR_HINT = "upload one file, or an ENVI pair: pick its .hdr and its data file (.img, .dat...) together"


def is_envi_header(path: Path) -> bool:
    """Whether ``path`` starts like an ENVI header (``ENVI`` after any blank space)."""
    with open(path, "rb") as fh:
        return fh.read(64).lstrip()[:4] == b"ENVI"


def pair_roles(sources: Sequence[Path], names: Sequence[str]) -> tuple[int, int]:
    """``(header index, data index)`` of two uploaded files that make an ENVI pair.

    Args:
        sources: the uploaded files (server side).
        names: their names as the user knows them (for the messages).

    Raises:
        UploadError: not two files, or not one ENVI header and one other file; the line names them.
    """
    listed = ", ".join(names)
    if len(sources) != 2:
        raise UploadError(f"{len(sources)} files were uploaded together ({listed}); {PAIR_HINT}")
    headers = [i for i, p in enumerate(sources) if is_envi_header(p)]
    if len(headers) != 1:
        what = "neither is an ENVI header" if not headers else "both are ENVI headers"
        raise UploadError(f"{listed}: two files were uploaded together, but {what}; {PAIR_HINT}")
    return headers[0], 1 - headers[0]


def _safe_stem(name: str) -> str:
    stem = PurePosixPath(name).stem
    cleaned = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in stem).lstrip(".")
    return cleaned or "scene"


def stage_pair(header: Path, data: Path, header_name: str, data_name: str, stage: Path) -> Path:
    """Copy an uploaded ENVI pair into ``stage/extracted/`` as ``STEM.hdr`` + ``STEM<data suffix>``.

    The data file keeps its own ending when the ENVI reader looks for it (``.img``, ``.dat``, ``.tif``...;
    none), else it is named ``STEM.img``. ``STEM`` is the header's name, sanitised.

    Returns:
        The staged header.
    """
    folder = stage / "extracted"
    folder.mkdir(parents=True, exist_ok=True)
    stem = _safe_stem(header_name)
    suffix = PurePosixPath(data_name).suffix.lower()
    if suffix not in DATA_EXTS and suffix not in TIFF_EXTS:
        suffix = ".img"
    target = folder / f"{stem}.hdr"
    shutil.copyfile(header, target)
    shutil.copyfile(data, folder / f"{stem}{suffix}")
    return target
