"""Checks of a class-map file (``--map`` of ``hsi evaluate`` and ``hsi vectorize``), before and after its read.

A class map stores band 1 as class numbers, 0 = no data and 1..255 (uint8, as ``hsi predict``
writes it). Each refusal is one line naming the file and the fix, as for scene and label inputs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hsi_app.errors import CubeReadError, DatasetNotFoundError, InvalidDataError, cannot_read
from hsi_app.io.cube import MAX_CLASS_ID

MAP_FIX = "pass a class map GeoTIFF or ENVI classification, e.g. the map.tif of hsi predict"


def check_class_map_path(path: str | os.PathLike[str]) -> None:
    """Refuse a ``--map`` path that is missing or a folder, before any format is guessed.

    Raises:
        DatasetNotFoundError: no such path.
        InvalidDataError: a folder.
    """
    p = Path(path)
    if not p.exists():
        raise DatasetNotFoundError(f"{p}: class map not found; check the path")
    if p.is_dir():
        raise InvalidDataError(f"{p}: is a folder; {MAP_FIX}")


def check_class_map_tiff(path: str | os.PathLike[str]) -> None:
    """Refuse a file that cannot be a GeoTIFF class map: unreadable, empty, or another format by its first bytes.

    Raises:
        CubeReadError: the file cannot be opened (permissions, an I/O error).
        InvalidDataError: empty, or not TIFF content (a ``.npy``, text, ...).
    """
    from hsi_app.io.open import TIFF_MAGIC

    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as err:
        raise CubeReadError(cannot_read(path, err)) from err
    if not head:
        raise InvalidDataError(f"{path}: file is empty; re-create it with hsi predict, or {MAP_FIX}")
    if head not in TIFF_MAGIC:
        raise InvalidDataError(f"{path}: not a GeoTIFF (unrecognised file content); {MAP_FIX}")


def unreadable_class_map(path: str | os.PathLike[str], err: BaseException) -> str:
    """The line for a TIFF whose directory or pixels GDAL cannot read (``err``: its message)."""
    reason = str(err).replace(" See previous exception for details.", "")
    return f"{path}: class map is truncated or corrupt ({reason}); re-create it with hsi predict"


def check_class_values(classes: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Refuse band-1 values outside a class map's range ``0..MAX_CLASS_ID`` (0 = no data).

    Args:
        classes: ``(H, W)`` integer band 1, its no-data pixels already 0.
        path: the file, for the message.

    Raises:
        InvalidDataError: a negative class number, or one above :data:`~hsi_app.io.cube.MAX_CLASS_ID`,
            with the first pixel that holds it.
    """
    if classes.size == 0:
        return
    for bad, what in ((classes < 0, "negative class numbers"), (classes > MAX_CLASS_ID, "class numbers above 255")):
        if bad.any():
            r, c = (int(v) for v in np.argwhere(bad)[0])
            raise InvalidDataError(
                f"{path}: band 1 holds {what} ({int(classes[r, c])} at row {r}, col {c}); a class map uses 0 = no data "
                f"and 1..{MAX_CLASS_ID} (uint8); recode them (fill values to 0), or pass the map.tif of hsi predict")
