"""Checks of a class map's values (``--map`` of ``hsi evaluate`` and ``hsi vectorize``).

A class map stores band 1 as class numbers, 0 = no data and 1..255 (uint8, as ``hsi predict``
writes it). Each refusal is one line naming the file and the fix, as for scene and label inputs.
"""

from __future__ import annotations

import os

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import MAX_CLASS_ID


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
