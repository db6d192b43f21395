"""Whether a lazy cube's ``valid`` coordinate is exactly what its values say.

:func:`~hsi_app.io.cube.make_cube` derives the ``valid`` coordinate from the data when a reader gives
none (no alpha band, GDAL mask, scale/offset or quality mask restricts it). For a dask cube that
coordinate is a reduction over whole storage chunks: slicing it to a window cannot be pushed into the
file read, so computing it with a window reads and reduces every chunk the window touches. Where the
coordinate is known to equal :func:`~hsi_app.io.cube.valid_from_data` of the values themselves, a
reader takes the mask from the window's own values instead and reads only the window.

The cube is marked at its making (:func:`derived_mark`, a private ``attrs`` entry) with the names of
its data and mask arrays, its no-data value and its good bands. The mark holds
(:func:`still_derived`) while both arrays are these arrays or plain selections of them (``isel``,
``sel``, windows, strips: dask ``getitem`` layers, which move the data and the mask together along
``y``/``x``), with the same no-data value and the same good bands (a band subset that keeps every
good band, such as the good bands alone, keeps it). Any computation on the values (``where``,
``rio.clip``, scaling, ``astype``, rechunking), a mask replaced (``without_masked``, a new
``assign_coords(valid=...)``), another no-data value or other bad bands ends it: readers then AND the
stored mask with what the values say, as they always did.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

DERIVED_VALID_ATTR = "_valid_from_values"
"""Private ``attrs`` entry of a lazy cube whose ``valid`` coordinate was derived from its values:
``"<data array name> <mask array name> <no-data> <good bands digest>"``."""

_SELECTION = "getitem-"  # dask's name prefix of Array.__getitem__ layers: a selection of one array's elements


def _dask_name(array: Any) -> str | None:
    """The name of a dask array (``None`` for anything else, a numpy array included)."""
    name = getattr(array, "name", None)
    return name if isinstance(name, str) and hasattr(array, "dask") else None


def _good_digest(bands: np.ndarray, bad: np.ndarray) -> str:
    """A short digest of the set of good band numbers (order and repeats ignored)."""
    good = np.unique(np.asarray(bands)[~np.asarray(bad, dtype=bool)])
    text = ",".join(repr(v) for v in good.tolist())
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _nodata_key(nodata: float | None) -> str:
    """``nodata`` as text: ``"none"`` for no value (``None`` or NaN, as :func:`valid_from_data` treats them)."""
    return "none" if nodata is None or np.isnan(nodata) else repr(float(nodata))


def derived_mark(data: Any, valid: Any, nodata: float | None, bands: np.ndarray, bad: np.ndarray) -> str | None:
    """The mark of a cube whose ``valid`` was just computed as ``valid_from_data(data, nodata, bad)``.

    Args:
        data: the cube's ``(C, H, W)`` array.
        valid: its ``(H, W)`` ``valid`` coordinate's array.
        nodata: the no-data value the mask was derived with (``None`` or NaN: none).
        bands: ``(C,)`` the cube's ``band`` coordinate.
        bad: ``(C,)`` bool bad-band flags the mask was derived with.

    Returns:
        The mark, or ``None`` when either array is not lazy (an in-memory mask costs nothing to slice).
    """
    data_name, valid_name = _dask_name(data), _dask_name(valid)
    if data_name is None or valid_name is None:
        return None
    return f"{data_name} {valid_name} {_nodata_key(nodata)} {_good_digest(bands, bad)}"


def _selected_from(array: Any, name: str) -> bool:
    """Whether the dask ``array`` is the array called ``name`` or element selections of it (only
    ``getitem`` layers in between, each reading one array)."""
    key = _dask_name(array)
    deps = getattr(array.dask, "dependencies", None) if key is not None else None
    if deps is None:  # not a dask array with a layered graph: nothing to prove it by
        return False
    while key != name:
        parents = deps.get(key, set())
        if not key.startswith(_SELECTION) or len(parents) != 1:
            return False
        key = next(iter(parents))
    return True


def still_derived(mark: Any, data: Any, valid: Any, nodata: float | None, bands: np.ndarray,
                  bad: np.ndarray) -> bool:
    """Whether a cube marked ``mark`` (:func:`derived_mark`) still has a ``valid`` coordinate equal, pixel
    for pixel, to ``valid_from_data(data, nodata, bad)`` of its present values.

    Args: as :func:`derived_mark`, for the cube as it is now (``valid``: ``None`` when it has none).
    """
    if not isinstance(mark, str) or valid is None:
        return False
    parts = mark.split(" ")
    if len(parts) != 4:
        return False
    data_name, valid_name, nodata_key, digest = parts
    return (nodata_key == _nodata_key(nodata) and digest == _good_digest(bands, bad)
            and _selected_from(data, data_name) and _selected_from(valid, valid_name))
