"""Content checks of downloaded files for :mod:`hsi_app.data.download`.

* :func:`is_web_page`: the file starts like a web page (HTML, also after a ``<!-- saved from
  url -->`` comment, a byte-order mark, an XML prolog or in UTF-16) or a bare HTTP error text
  (``403 Forbidden``), which a server sends instead of the data behind a login or a moved URL;
* :func:`mat_problem`: a ``.mat`` file lacks the variable the catalog names, its variables
  run past the end of the file (a truncated download), or the variable's shape is not the
  catalog's (another scene, the uncorrected cube); checked from the headers with
  ``scipy.io.whosmat``, or ``h5py`` for v7.3 files.
"""

from __future__ import annotations

import os
import re
import struct
from typing import BinaryIO

_HTML_STARTS = (b"<!doctype", b"<html", b"<head", b"<body", b"<title", b"<meta", b"<script")
_STATUS_TEXT = re.compile(
    rb"^(http/\d(\.\d)?\s+)?[45]\d\d\s+(forbidden|not found|unauthori[sz]ed|bad request|gone|too many requests"
    rb"|internal server error|bad gateway|service unavailable|gateway time-?out)\b"
)
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_SNIFF_BYTES = 4096


def _text_head(raw: bytes) -> bytes:
    """``raw`` as lower-case ASCII-ish bytes: UTF-16 decoded, BOM, XML prolog and leading comments dropped."""
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(raw) > 8 and raw[1:8:2] == b"\0\0\0\0"):
        raw = raw.decode("utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-16-le", "ignore").encode(
            "ascii", "ignore")
    head = raw.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    while True:
        if head.startswith(b"<?xml"):
            head = head[head.find(b"?>") + 2:].lstrip() if b"?>" in head else b""
        elif head.startswith(b"<!--"):
            head = head[head.find(b"-->") + 3:].lstrip() if b"-->" in head else b""
        else:
            return head


def is_web_page(path: str | os.PathLike[str]) -> bool:
    """True when the file starts like a web page or an HTTP error text, not like data.

    Recognised: ``<!DOCTYPE``, ``<html``, ``<head``, ``<body``, ``<title``, ``<meta``, ``<script``,
    after an optional byte-order mark, XML prolog and HTML comments (browsers' "Save page as"
    writes ``<!-- saved from url=... -->`` first), in UTF-8 or UTF-16; and a text body that
    starts with an HTTP error status (``403 Forbidden``).
    """
    with open(path, "rb") as fh:
        raw = fh.read(_SNIFF_BYTES)
    head = _text_head(raw)
    if head.startswith(_HTML_STARTS):
        return True
    return b"\0" not in raw and _STATUS_TEXT.match(head) is not None


def _v5_runs_past_end(fh: BinaryIO, size: int) -> str | None:
    """For a v5 ``.mat``: the reason when a top-level element (variable) runs past the end of the file."""
    fh.seek(126)
    endian = "<" if fh.read(2) == b"IM" else ">"
    pos = 128
    while pos + 8 <= size:  # fewer than 8 bytes left: padding, not a variable
        fh.seek(pos)
        tag = fh.read(8)
        dtype, nbytes = struct.unpack(endian + "II", tag)
        if dtype >> 16:  # small data element: 4 bytes of data inside the tag
            pos += 8
            continue
        pos += 8 + nbytes + (0 if dtype == 15 else (-nbytes) % 8)  # miCOMPRESSED (15) is not padded
    return f"is truncated: its variables need {pos} bytes, the file has {size}" if pos > size else None


def mat_problem(
    path: str | os.PathLike[str], key: str, shape: tuple[int | None, ...] | None = None
) -> str | None:
    """Why ``path`` is not a complete ``.mat`` file holding variable ``key``; None when it is.

    Args:
        path: the ``.mat`` file.
        key: the variable it must hold.
        shape: the variable's expected shape, ``(height, width, bands)`` for a cube or
            ``(height, width)`` for labels (None entries: not known). The dimensions are
            compared in any order (v7.3 files store them reversed); None: not checked.

    Returns a short clause for an error message (``"has no variable 'x' (variables: a, b)"``).
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(520)
    if head[512:520] == _HDF5_MAGIC or head[:8] == _HDF5_MAGIC:
        return _v73_problem(path, key, shape)
    if not head.startswith(b"MATLAB"):
        return "is not a MATLAB .mat file"
    import scipy.io

    try:
        with open(path, "rb") as fh:
            truncated = _v5_runs_past_end(fh, size)
            if truncated:
                return truncated
            fh.seek(0)
            shapes = {name: tuple(dims) for name, dims, _ in scipy.io.whosmat(fh)}
    except Exception as err:  # noqa: BLE001 - any read failure means the file is unusable
        return f"cannot be read as a .mat file ({type(err).__name__}: {err})"
    return _variable_problem(shapes, key, shape)


def _variable_problem(shapes: dict[str, tuple[int, ...]], key: str, shape: tuple[int | None, ...] | None) -> str | None:
    """The clause of :func:`mat_problem` for a file holding ``{variable: shape}``."""
    if key not in shapes:
        return f"has no variable '{key}' (variables: {', '.join(shapes) or 'none'})"
    found = shapes[key]
    if shape is None or _dims_match(found, shape):
        return None
    want = "×".join("?" if d is None else str(d) for d in shape)
    what = "height×width×bands" if len(shape) == 3 else "height×width"
    return f"holds '{key}' of {'×'.join(map(str, found)) or 'no'} values, the catalog's is {want} ({what})"


def _dims_match(found: tuple[int, ...], shape: tuple[int | None, ...]) -> bool:
    """True when ``found`` has ``shape``'s dimensions in some order (None matches any size)."""
    if len(found) != len(shape):
        return False
    left = list(found)
    for dim in sorted((d for d in shape if d is not None), reverse=True):
        if dim not in left:
            return False
        left.remove(dim)
    return True


def _v73_problem(path: str | os.PathLike[str], key: str, shape: tuple[int | None, ...] | None) -> str | None:
    """:func:`mat_problem` for a v7.3 (HDF5) file; h5py refuses a truncated one."""
    try:
        import h5py

        with h5py.File(path, "r") as fh:
            shapes = {name: tuple(getattr(fh[name], "shape", ()) or ()) for name in fh.keys()}
    except Exception as err:  # noqa: BLE001 - any read failure means the file is unusable
        return f"cannot be read as a v7.3 .mat file ({type(err).__name__}: {' '.join(str(err).split())[:120]})"
    return _variable_problem(shapes, key, shape)
