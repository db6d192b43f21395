"""Whether a cube still holds the values that opening its scene again gives.

:func:`~hsi_app.io.open.open_cube` marks every cube it returns (:func:`mark_as_read`). A run trained
on a cube changed in Python after that (``cube * 0.0001``, ``cube.where(...)``, a band subset, a crop
or ``rio.clip``, ``.load()``, a copy) records so (:func:`hsi_app.provenance.data_identity`), since
opening its file again (``hsi ensemble`` without ``--data``) would give other values.

A lazy (dask) cube is marked by the name of its array: any computation gives another name. An
in-memory (numpy) cube is marked by its array object, held by a weak reference, so the mark can
never match another array that later takes the same address; a view of the same memory with the
same shape and strides (a no-op ``isel``) still counts as the values read. Values written into
the array in place are not seen.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

READ_VALUES_ATTR = "_read_values"
"""Private ``attrs`` entry of a cube from :func:`~hsi_app.io.open.open_cube`: ``"dask:<name>"`` or
``"numpy:<id>"`` of the array it was read into."""

_ARRAYS: dict[int, weakref.ref[np.ndarray]] = {}
"""``id -> weak reference`` of the in-memory arrays :func:`mark_as_read` marked (an entry goes with its array)."""


def _forget(key: int, ref: weakref.ref[np.ndarray]) -> None:
    if _ARRAYS.get(key) is ref:
        del _ARRAYS[key]


def mark_as_read(cube: Any) -> Any:
    """Mark ``cube`` (in place, and return it) as holding the values its reader gave.

    A cube backed by neither a dask nor a numpy array is not marked (:func:`holds_read_values`: ``False``).
    """
    data = cube.data
    if isinstance(data, np.ndarray):
        key = id(data)
        ref = weakref.ref(data, lambda r, k=key: _forget(k, r))
        _ARRAYS[key] = ref
        cube.attrs[READ_VALUES_ATTR] = f"numpy:{key}"
    elif getattr(data, "name", None):
        cube.attrs[READ_VALUES_ATTR] = f"dask:{data.name}"
    return cube


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays are the same values in the same memory (the same object, or an identical view)."""
    if a is b:
        return True
    return (a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides
            and a.__array_interface__["data"][0] == b.__array_interface__["data"][0])


def holds_read_values(cube: Any) -> bool:
    """Whether ``cube`` holds exactly the values :func:`~hsi_app.io.open.open_cube` read (labels, masks, coordinates
    or attributes added keep them); ``False`` after any change to the values, and for a cube not opened by it."""
    token = str(cube.attrs.get(READ_VALUES_ATTR, ""))
    kind, _, mark = token.partition(":")
    data = cube.data
    if kind == "dask":
        return str(getattr(data, "name", "")) == mark
    if kind != "numpy" or not isinstance(data, np.ndarray) or not mark.isdigit():
        return False
    ref = _ARRAYS.get(int(mark))
    read = ref() if ref is not None else None
    return read is not None and _same_memory(data, read)
