"""MATLAB ``.mat`` cubes: v5 (``scipy.io``) and v7.3 (HDF5 through ``h5py``, lazy).

The benchmark scenes ship as ``.mat`` files holding an ``(H, W, bands)`` array, with the
ground truth in a sibling ``*_gt.mat``. Known keys (Indian Pines, Salinas, PaviaU, WHU-Hi...)
come from the dataset catalog, which also supplies class names and approximate band
centres (the files carry no wavelengths). A known scene saved in another axis order (bands
first, say) is moved back to ``(H, W, bands)`` with a warning when the catalog's size fits it
one way only.

MATLAB v7.3 files store arrays in column-major order, so an ``(H, W, C)`` MATLAB array
appears to h5py as ``(C, W, H)``; swapping the last two axes gives ``(band, y, x)``. A plain
HDF5 file (no MATLAB text header, no ``MATLAB_class`` attributes) gives no way to tell which
order it was written in, so it is refused rather than read with its axes possibly swapped.
"""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import CubeReadError, HSIError, HSIWarning, UnknownKeyError
from hsi_app.io.cube import Cube, check_labels, make_cube

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MATLAB_73_HEADER = b"MATLAB 7.3"


def mat_version(path: str | os.PathLike[str]) -> str | None:
    """Return ``"7.3"``, ``"5"`` or ``None`` (not a MATLAB file) from the file header."""
    with open(path, "rb") as fh:
        head = fh.read(520)
    if head[512:520] == HDF5_SIGNATURE or head[:8] == HDF5_SIGNATURE:
        return "7.3"
    if head[:6] == b"MATLAB":
        return "5"
    return None


def open_hdf5(path: str | os.PathLike[str]) -> Any:
    """Open a MATLAB v7.3 (HDF5) file read-only, refusing data that lives outside it.

    HDF5 lets a dataset keep its bytes in other files (external storage), point into
    another HDF5 file (external links) or assemble itself from other files (virtual
    datasets). A ``.mat`` from a user could then make the reader return any file on the
    machine as pixel values (the web viewer shows them), so all three are refused.

    Returns:
        The open ``h5py.File`` (the caller closes it).

    Raises:
        CubeReadError: unreadable file, or data stored outside it.
    """
    import h5py

    try:
        fh = h5py.File(path, "r")
    except OSError as err:
        raise CubeReadError(f"{path}: not a readable MATLAB v7.3 (HDF5) file ({err}); save it again with MATLAB") from err
    outside: list[str] = []

    def visit(name: str, link: Any) -> None:
        if isinstance(link, h5py.ExternalLink):
            outside.append(f"{name} links to {link.filename}")
            return
        if isinstance(link, h5py.HardLink):
            obj = fh[name]
            if isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
                outside.append(f"{name} stores its data in other files")

    try:
        fh.visititems_links(visit)
    except Exception:
        fh.close()
        raise
    if outside:
        fh.close()
        raise CubeReadError(f"{path}: {outside[0]}; only self-contained .mat files are read (save it again with MATLAB)")
    if not _written_by_matlab(path, fh):
        fh.close()
        raise CubeReadError(
            f"{path}: a plain HDF5 file (no MATLAB v7.3 header or MATLAB_class attributes), so the axis order of its"
            " arrays is unknown; save it with MATLAB (save(..., '-v7.3')) or write the cube as GeoTIFF or ENVI"
        )
    return fh


def _written_by_matlab(path: str | os.PathLike[str], fh: Any) -> bool:
    """True when an HDF5 file carries MATLAB's marks: the v7.3 text header in its 512-byte user
    block, or a ``MATLAB_class`` attribute on a top-level dataset (as written by MATLAB and by
    MATLAB-compatible writers such as hdf5storage). Only then is its column-major order known."""
    import h5py

    with open(path, "rb") as raw:
        if raw.read(len(MATLAB_73_HEADER)) == MATLAB_73_HEADER:
            return True
    for name in fh:
        link = fh.get(name, getlink=True)
        if isinstance(link, h5py.HardLink) and "MATLAB_class" in fh[name].attrs:
            return True
    return False


def list_arrays(path: Path) -> dict[str, tuple[int, ...]]:
    """Names and MATLAB-order shapes ``(H, W, C)`` of the numeric arrays in a ``.mat`` file."""
    try:
        if mat_version(path) == "7.3":
            import h5py

            with open_hdf5(path) as fh:
                return {
                    k: tuple(reversed(v.shape))
                    for k, v in fh.items()
                    if isinstance(v, h5py.Dataset) and not k.startswith("#")
                }
        from scipy.io import whosmat

        return {name: tuple(shape) for name, shape, cls in whosmat(path) if cls != "struct"}
    except CubeReadError:
        raise
    except (OSError, ValueError, TypeError, KeyError, IndexError) as err:
        raise CubeReadError(
            f"{path}: not a readable MATLAB file ({err}); the file may be truncated or "
            "corrupt, download it again"
        ) from err


def _load_v5(path: Path, key: str) -> np.ndarray:
    from scipy.io import loadmat

    try:
        return np.asarray(loadmat(path, variable_names=[key])[key])
    except Exception as err:  # scipy raises many types on corrupt files
        raise CubeReadError(
            f"{path}: cannot read '{key}' ({err}); the file may be truncated, download it again"
        ) from err


class _H5Dataset:
    """Array view of one dataset of a v7.3 file for dask: it holds the path and key, opens the
    file (checked by :func:`open_hdf5`) on first read, and pickles without the open handle,
    so the graph can go to other processes (dask workers)."""

    def __init__(self, path: str, key: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.path, self.key, self.shape, self.dtype, self.ndim = path, key, shape, np.dtype(dtype), len(shape)
        self._fh: Any = None

    def __getitem__(self, item: Any) -> np.ndarray:
        if self._fh is None:
            self._fh = open_hdf5(self.path)
        return np.asarray(self._fh[self.key][item])

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fh": None}


def _load_v73_lazy(path: Path, key: str, chunks: int, order: tuple[int, int, int] = (0, 1, 2)) -> Any:
    """``(C, H, W)`` dask array over an h5py dataset stored as ``(C, W, H)``.

    ``order`` picks the MATLAB-order axes that are (H, W, bands) (see :func:`_catalog_axis_order`); h5py
    sees MATLAB axis ``i`` as axis ``2 - i``.
    """
    import dask.array as da

    with open_hdf5(path) as fh:
        dset = fh[key]
        shape, dtype = tuple(dset.shape), dset.dtype
    h5_axes = tuple(2 - order[i] for i in (2, 0, 1))  # (band, y, x) as h5py axes
    sizes = tuple(-1 if ax == h5_axes[0] else chunks for ax in range(3))
    arr = da.from_array(_H5Dataset(str(path), key, shape, dtype), chunks=sizes, lock=True,
                        meta=np.empty((0, 0, 0), dtype))
    return arr.transpose(*h5_axes)


def _catalog_axis_order(path: Path, key: str, shape: tuple[int, ...], entry: Any) -> tuple[int, int, int]:
    """The axes of a stored ``.mat`` cube that are (H, W, bands): ``(0, 1, 2)`` unless the catalog says otherwise.

    A known scene saved in another axis order (``indian_pines_corrected`` as (200, 145, 145), bands
    first) is moved back when the catalog's (height, width, bands) fit the stored shape in a single
    way that is not the stored order, with a :class:`~hsi_app.errors.HSIWarning`. Equal spatial sizes
    keep their stored order. No fit, an ambiguous band axis, or no catalog size: the stored order.

    Args:
        path: the file (for the warning).
        key: the variable read.
        shape: its MATLAB-order shape.
        entry: its catalog entry, or ``None``.
    """
    identity = (0, 1, 2)
    if entry is None or entry.height is None or entry.width is None:
        return identity
    want = (entry.height, entry.width, entry.bands)
    fits = [p for p in itertools.permutations(range(3)) if tuple(shape[i] for i in p) == want]
    if not fits or identity in fits or len({p[2] for p in fits}) != 1:
        return identity
    order = fits[0]  # permutations come sorted, so equal-sized spatial axes keep their stored order
    warnings.warn(f"{path}: '{key}' is stored as {tuple(shape)}, but {entry.name} is (H, W, bands) = {want}; read "
                  f"with its axes moved to (H, W, bands); save it as (H, W, bands) to silence this",
                  HSIWarning, stacklevel=3)
    return (order[0], order[1], order[2])


def _load_v73_2d(path: Path, key: str) -> np.ndarray:
    with open_hdf5(path) as fh:
        return np.asarray(fh[key][()]).T


def choose_key(path: Path, arrays: dict[str, tuple[int, ...]], key: str | None, ndim: int) -> str:
    """Pick the array to read: ``key`` if given, else a catalog key, else the only ``ndim``-D one."""
    from hsi_app.data.catalog import entry_for_mat_key, optional_catalog

    keys = ", ".join(sorted(arrays)) or "(none)"
    if key is not None:
        if key not in arrays:
            raise UnknownKeyError(f"{path}: no variable '{key}'; keys found: {keys}. Pass --key NAME (key= in Python) with one of them")
        return key
    role = "cube" if ndim == 3 else "labels"
    catalog = optional_catalog()
    for k in arrays:
        hit = entry_for_mat_key(k, catalog)
        if hit is not None and hit[1] == role:
            return k
    candidates = [k for k, shp in arrays.items() if len(shp) == ndim]
    if len(candidates) == 1:
        return candidates[0]
    if ndim == 3 and not candidates and _is_label_file(path, arrays, catalog):
        raise CubeReadError(f"{path}: holds only 2-D arrays ({_shapes(arrays)}), a ground-truth / label file, not a cube; "
                            f"{_cube_hint(path, arrays, catalog)}")
    what = "3-D arrays (H, W, bands)" if ndim == 3 else "2-D label arrays"
    found = "no" if not candidates else f"{len(candidates)}"
    if ndim == 3:  # naming a key cannot help when none of them is a cube
        fix = ("Pass --key NAME (key= in Python)" if candidates
               else "No variable is a cube: save the scene in it as one (H, W, bands) array, or open the file that holds it")
    else:
        fix = "Save the labels alone as .npy or GeoTIFF and pass them with --labels (label_key= in Python)"
    raise CubeReadError(f"{path}: {found} {what} to choose from; keys found: {keys}. {fix}")


def _shapes(arrays: dict[str, tuple[int, ...]]) -> str:
    """``"a (145, 145), b (3, 4)"``: names and MATLAB-order shapes."""
    return ", ".join(f"{k} {tuple(arrays[k])}" for k in sorted(arrays))


def _is_label_file(path: Path, arrays: dict[str, tuple[int, ...]], catalog: Any) -> bool:
    """Whether a ``.mat`` without a 3-D array is a ground truth: only 2-D arrays, and a catalog labels key
    (``indian_pines_gt``) or a name ending in ``_gt``."""
    from hsi_app.data.catalog import entry_for_mat_key

    if not arrays or any(len(shp) != 2 for shp in arrays.values()):
        return False
    known = any((hit := entry_for_mat_key(k, catalog)) is not None and hit[1] == "labels" for k in arrays)
    return known or path.stem.lower().endswith("_gt")


def _cube_hint(path: Path, arrays: dict[str, tuple[int, ...]], catalog: Any) -> str:
    """How to use a label ``.mat`` passed as the scene: the cube file beside it (a catalog scene's own, or the
    ``X.mat`` / ``X_corrected.mat`` of an ``X_gt.mat``) as the scene, and this file as ``--labels``."""
    from hsi_app.data.catalog import entry_for_mat_key

    names: list[str] = []
    for k in arrays:
        hit = entry_for_mat_key(k, catalog)
        cube_file = hit[0].file("cube") if hit is not None else None
        if cube_file is not None:
            names.append(cube_file.filename)
    stem = path.stem
    if stem.lower().endswith("_gt"):
        names += [f"{stem[:-3]}.mat", f"{stem[:-3]}_corrected.mat"]
    siblings = {p.name.lower(): p for p in path.parent.glob("*.mat") if p != path}
    found = next((siblings[n.lower()] for n in names if n.lower() in siblings), None)
    if found is not None:
        return f"pass {found.name} (beside it) as the scene and this file with --labels"
    cube = f"the cube file ({names[0]})" if names else "the cube file"
    return f"pass {cube} as the scene and this file with --labels"


def find_labels_file(path: Path) -> Path | None:
    """The ground-truth file next to a cube: ``X_gt.mat`` for ``X.mat`` / ``X_corrected.mat``."""
    stem = path.stem
    names = [f"{stem}_gt.mat"]
    if stem.lower().endswith("_corrected"):
        names.insert(0, f"{stem[: -len('_corrected')]}_gt.mat")
    for name in names:
        for cand in path.parent.glob("*.mat"):
            if cand.name.lower() == name.lower() and cand != path:
                return cand
    return None


def read_mat_labels(path: Path, key: str | None = None) -> np.ndarray:
    """Read a 2-D label array ``(H, W)`` from a ``.mat`` file (v5 or v7.3)."""
    arrays = list_arrays(path)
    k = choose_key(path, arrays, key, ndim=2)
    if len(arrays[k]) != 2:
        raise CubeReadError(f"{path}: '{k}' has shape {arrays[k]}, labels must be 2-D (H, W)")
    return _load_v73_2d(path, k) if mat_version(path) == "7.3" else _load_v5(path, k)


def read_mat(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    labels_key: str | None = None,
    find_labels: bool = True,
    chunks: int = 512,
) -> Cube:
    """Read a ``.mat`` hyperspectral cube.

    Args:
        path: the ``.mat`` file (v5 or v7.3).
        key: variable holding the ``(H, W, bands)`` cube; default: a known key, else the only 3-D array.
        labels_key: variable in the sibling ``*_gt.mat`` holding labels.
        find_labels: look for ``*_gt.mat`` next to the cube and attach it as ``label`` (a
            ground truth that cannot be read or does not fit gives a warning, not an error).
        chunks: spatial chunk size for lazy (v7.3) reads.

    Returns:
        Cube ``(band, y, x)`` in the file's dtype, pixel coordinates, no CRS.
    """
    from hsi_app.data.catalog import default_wavelengths, entry_for_mat_key, optional_catalog

    path = Path(path)
    arrays = list_arrays(path)
    k = choose_key(path, arrays, key, ndim=3)
    shape = arrays[k]
    if len(shape) != 3:
        raise CubeReadError(
            f"{path}: '{k}' is {len(shape)}-D {shape}; a cube needs (H, W, bands). "
            "Pass --key NAME (key= in Python) naming a 3-D array"
        )
    hit = entry_for_mat_key(k, optional_catalog())
    entry = hit[0] if hit else None
    order = _catalog_axis_order(path, k, shape, entry)
    shape = tuple(shape[i] for i in order)
    version = mat_version(path)
    if version == "7.3":
        data: Any = _load_v73_lazy(path, k, chunks, order)
    else:
        data = np.ascontiguousarray(_load_v5(path, k).transpose(order[2], order[0], order[1]))
        if data.dtype.kind == "f":
            bad = ~np.isfinite(data)
            if bad.any():
                warnings.warn(
                    f"{path}: {int(bad.any(axis=0).sum())} pixels hold NaN/inf; marked invalid",
                    HSIWarning,
                    stacklevel=2,
                )
    if data.dtype.kind in "cV":  # complex (v5), or MATLAB's {real, imag} compound type (v7.3)
        raise CubeReadError(f"{path}: '{k}' holds complex values; save abs() or real() of the cube instead")
    wavelength = default_wavelengths(entry) if entry and entry.bands == shape[2] else None
    class_names = ["unlabelled", *entry.class_names] if entry else None
    labels = None
    gt = find_labels_file(path) if find_labels else None
    if gt is not None:  # a broken ground truth must not hide the cube: warn and go on without it
        try:
            labels = check_labels(read_mat_labels(gt, labels_key), (shape[0], shape[1]), str(gt))
        except HSIError as err:
            warnings.warn(f"labels not attached: {err}; pass --labels FILE to give them another way",
                          HSIWarning, stacklevel=2)
    return make_cube(
        data,
        wavelength=wavelength,
        labels=labels,
        class_names=class_names,
        fmt=f"mat-v{version}",
        source=str(path),
        attrs={"mat_key": k, "dataset": entry.name if entry else ""},
    )
