"""The one in-memory type for every format: a ``Cube``.

A Cube is an :class:`xarray.DataArray` with dims ``("band", "y", "x")`` and these
coordinates (all sliced together with the data by ``isel``/``sel``):

==============  ===========  ==============================================================
name            dims         meaning
==============  ===========  ==============================================================
``wavelength``  ``(band,)``  band centre in nm (NaN when unknown)
``fwhm``        ``(band,)``  full width at half maximum in nm (NaN when unknown)
``bad_band``    ``(band,)``  True for bands flagged unusable (all no-data, water vapour...)
``y``, ``x``    ``(y,)``...  pixel-centre map coordinates (or pixel indices + 0.5)
``valid``       ``(y, x)``   True where the pixel has data in every good band (made at open)
``label``       ``(y, x)``   int32 class labels, 0 = unlabelled (only when labels exist)
``mask_<name>`` ``(y, x)``   named boolean quality masks (EnMAP cloud, haze...)
``detector``    ``(band,)``  str, the detector of each band (e.g. ``"VNIR"``/``"SWIR"``); optional
==============  ===========  ==============================================================

CRS and affine transform are carried by ``rioxarray`` (``cube.rio.crs``); read the transform
with ``cube.hsi.transform``, which is also right for slices of rotated grids (whose
``rio.transform()`` stays the scene's) and is ``None`` for plain pixel coordinates.
``attrs`` hold ``format``, ``source``, ``nodata`` (NaN for float data without one; absent for
integer data without one, so that ``cube.rio.nodata`` is ``None``), ``class_names`` (index 0 is
"unlabelled"), ``georeferenced`` (a CRS is known) and, for rotated grids, ``grid_transform``.

Data are usually dask-backed so that slicing reads only the window that is used.
xarray operations (``where``, ``rio.clip``) do not update ``valid``: readers AND it with what the
values they read say (``cube.hsi.read_valid``); a cube without it gets it from its data (``cube.hsi.valid``).
A lazy cube whose ``valid`` is what its values say (``cube.hsi.valid_from_values``, :mod:`hsi_app.io.derived_valid`)
reads a window's mask from the window's values alone, so that the window reads no more of the file than itself.
The :class:`HSIAccessor` (``cube.hsi``) gives typed access to all of the above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import rioxarray  # noqa: F401  (registers the ``.rio`` accessor)
import xarray as xr

from hsi_app.errors import ConfigError, LabelError
from hsi_app.io.cube_checks import axis_vector, bad_band_mask, band_vector, check_evenly_spaced, check_nanometres
from hsi_app.io.derived_valid import DERIVED_VALID_ATTR, derived_mark, still_derived
from hsi_app.io.indian_pines_bands import corrected_centres

Cube = xr.DataArray
"""Type alias: a DataArray that follows the conventions of this module."""

DIMS = ("band", "y", "x")
MASK_PREFIX = "mask_"
DETECTOR_COORD = "detector"  # optional (band,) str coordinate: which detector measured each band
GRID_ATTR = "grid_transform"  # a rotated/sheared grid's transform (6 floats), for pixel index + 0.5 coordinates


def scene_name(cube: Cube, role: str = "input") -> str:
    """The name a message gives ``cube``: its ``source`` attribute (the path or built-in name it was opened
    from), or ``role`` (``"input"``, ``"reference"``) for a cube made in memory, whose ``source`` is ``""``."""
    return str(cube.attrs.get("source") or role)


def parse_mask_names(text: str | None) -> tuple[str, ...]:
    """``--exclude-masks`` text (``"cloud,cloudshadow"``, ``"all"``, empty) -> mask names."""
    return tuple(n.strip().lower() for n in (text or "").split(",") if n.strip())


FILL_LIMIT = 1e30
"""Float values with ``|v| >=`` this are fill values, not measurements (netCDF's default float fill
9.96921e36, 1e30...): no data in :func:`valid_from_data`, declared as the file's no-data or not."""


def valid_from_data(data: Any, nodata: float | None, bad_band: np.ndarray) -> Any:
    """Valid-pixel mask of a ``(C, H, W)`` array (numpy or dask), lazily for dask.

    A pixel is valid when every good band holds a measurement: a finite value below
    :data:`FILL_LIMIT` in magnitude that differs from ``nodata``.
    Returns ``(H, W)`` bool of the same array library as ``data``.
    """
    good = ~np.asarray(bad_band, dtype=bool)
    sub = data[good] if good.size and not good.all() else data
    if sub.shape[0] == 0:  # every band bad: nothing is valid
        return (data[0] != data[0]) & False
    no_value = nodata is None or np.isnan(nodata)
    if no_value and isinstance(sub, np.ndarray) and np.issubdtype(sub.dtype, np.floating):
        return _all_measured(sub)  # in memory: a quicker pass, the same answer
    ok = _measured(sub, nodata)
    if ok is None:
        return (sub[0] == sub[0]) | True
    return ok.all(axis=0)


def band_has_data(data: Any, nodata: float | None) -> Any:
    """``(C,)`` bool: whether each band of ``data`` ``(C, H, W)`` (numpy or dask, lazily) holds a
    measurement at some pixel, by the rule of :func:`valid_from_data`."""
    ok = _measured(data, nodata)
    if ok is None:
        return np.ones(data.shape[0], dtype=bool)
    return ok.any(axis=(1, 2))


def measured_mask(data: Any, nodata: float | None) -> Any:
    """``(C, H, W)`` bool (numpy or dask, lazily) of the values of ``data`` that are measurements, by the rule of
    :func:`valid_from_data`: finite values below :data:`FILL_LIMIT` in magnitude that differ from ``nodata``."""
    ok = _measured(data, nodata)
    return (data == data) | True if ok is None else ok


def _measured(sub: Any, nodata: float | None) -> Any:
    """``(C, H, W)`` bool (numpy or dask) of the values that are measurements, or ``None`` when all are
    (integers without a no-data value): finite floats below :data:`FILL_LIMIT`, other than ``nodata``."""
    ok = sub != nodata if nodata is not None and not np.isnan(nodata) else None
    if np.issubdtype(sub.dtype, np.floating):
        fin = abs(sub) < _LIMIT  # NaN and inf compare False
        ok = fin if ok is None else (ok & fin)
    return ok


_LIMIT = np.float64(FILL_LIMIT)  # a float64 scalar: compared without casting it to a narrower dtype (inf)
_SURE_SQUARES = np.float64(0.9 * FILL_LIMIT**2)  # a sum of squares below this: every term below FILL_LIMIT squared


def _all_measured(sub: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: every band of ``sub`` ``(C, H, W)`` (float, numpy) finite and below
    :data:`FILL_LIMIT` in magnitude, as ``(abs(sub) < FILL_LIMIT).all(0)``.

    A pixel's sum of squares over the bands below :data:`_SURE_SQUARES` (10 % under the limit
    squared, for rounding) proves each value is; a NaN or an infinity makes it non-finite.
    The few pixels it does not clear (no data, fill values, squares overflowing the dtype)
    are checked band by band. One pass instead of a ``(C, H, W)`` bool array and its reduction.
    """
    acc = np.float32 if sub.dtype.itemsize < 4 else sub.dtype  # float16 squares overflow at 256
    with np.errstate(over="ignore", invalid="ignore"):  # overflows and NaN: not cleared, checked below
        out = np.einsum("chw,chw->hw", sub, sub, dtype=acc) < _SURE_SQUARES
    unsure = ~out
    if unsure.any():
        out[unsure] = (np.abs(sub[:, unsure]) < _LIMIT).all(axis=0)
    return out


def class_name_key(name: str) -> str:
    """A class name as matched between two label sources: case and spacing ignored
    (``corn-notill`` and `` Corn-notill `` are one class)."""
    return " ".join(str(name).split()).casefold()


def alnum_key(text: str) -> str:
    """``text`` in lower case with only its letters and digits, for loose matching of names
    (``'North America 1983'`` -> ``'northamerica1983'``, ``'Band #'`` -> ``'band'``)."""
    return "".join(ch for ch in str(text).lower() if ch.isalnum())


def has_map_grid(crs: Any, transform: Any) -> bool:
    """Whether a raster's pixels sit on a map grid: a CRS, or a transform other than the identity
    (a file with a transform but no CRS keeps its grid; GDAL's identity means "none")."""
    return crs is not None or (transform is not None and not transform.is_identity)


def check_is_cube(obj: Any, where: str) -> None:
    """Refuse anything but an :class:`xarray.DataArray` where a Cube is expected, with one line saying how
    to make one (a numpy array would otherwise fail with ``'numpy.ndarray' object has no attribute 'hsi'``).
    The dims are checked by ``cube.hsi``.

    Raises:
        ConfigError: ``obj`` is a numpy array, an xarray Dataset or anything else.
    """
    if isinstance(obj, xr.DataArray):
        return
    if isinstance(obj, xr.Dataset):
        fix = "pick its variable, e.g. ds['reflectance'], with dims (band, y, x)"
    elif hasattr(obj, "shape"):
        fix = (f"wrap the {tuple(int(n) for n in obj.shape)} array: hsi_app.io.make_cube(array, wavelength=...), "
               "bands first (array.transpose(2, 0, 1) for an (H, W, C) one)")
    else:
        fix = "open one with hsi_app.io.open_cube(path)"
    raise ConfigError(f"{where}: takes a Cube (an xarray DataArray with dims (band, y, x)), got a "
                      f"{type(obj).__module__.split('.')[0]}.{type(obj).__name__}; {fix}")


def make_cube(
    data: Any,
    *,
    wavelength: Sequence[float] | np.ndarray | None = None,
    fwhm: Sequence[float] | np.ndarray | None = None,
    bad_bands: Sequence[int] | np.ndarray | None = None,
    x: np.ndarray | None = None,
    y: np.ndarray | None = None,
    crs: Any = None,
    transform: Any = None,
    nodata: float | None = None,
    valid: Any = None,
    labels: np.ndarray | None = None,
    masks: Mapping[str, Any] | None = None,
    class_names: Sequence[str] | None = None,
    fmt: str = "unknown",
    source: str = "",
    attrs: Mapping[str, Any] | None = None,
) -> Cube:
    """Build a Cube from a ``(C, H, W)`` array (numpy or dask).

    Args:
        data: ``(C, H, W)`` array, any dtype; kept lazy when it is a dask array.
        wavelength: ``(C,)`` band centres in nm; NaN when unknown (micrometres and band numbers are
            refused: :func:`~hsi_app.io.cube_checks.check_nanometres`). tensorly's list for Indian
            Pines (a scene file written from the built-in scene before session 50) gets its two
            mislabelled centres corrected (:func:`~hsi_app.io.indian_pines_bands.corrected_centres`).
        fwhm: ``(C,)`` band widths in nm; NaN when unknown.
        bad_bands: 0-based indices of unusable bands (or a ``(C,)`` bool mask).
        x, y: pixel-centre coordinates; default: those of a north-up ``transform``, else
            pixel index + 0.5. A rotated or sheared grid always gets index + 0.5, and its
            transform is kept in ``attrs["grid_transform"]`` (``cube.hsi.transform`` and
            ``cube.hsi.map_coords`` give map positions, also after ``isel``/``sel``).
        crs: anything rasterio understands; ``None`` when unknown (a transform is still kept).
        transform: affine transform (``rasterio.Affine``); derived from x/y when omitted.
        nodata: value meaning "no data" in ``data``.
        valid: ``(H, W)`` bool; computed lazily from ``data`` and ``nodata`` when omitted (a lazy cube is
            then marked so that windows take their mask from their own values:
            :mod:`hsi_app.io.derived_valid`).
        labels: ``(H, W)`` integer labels, 0 = unlabelled.
        masks: named ``(H, W)`` boolean quality masks (stored as ``mask_<name>``).
        class_names: names for label values 0..K (0 = "unlabelled").
        fmt: short format name shown by ``hsi info``.
        source: the path the cube was read from.

    Returns:
        The Cube (DataArray, dims ``(band, y, x)``).

    Raises:
        ConfigError: ``data`` not 3-D (or ``(H, W, C)``: as many wavelengths as columns), ``bad_bands`` outside
            ``0..C-1``, ``x``/``y`` not one per column/row, a ``crs`` rasterio does not know.
        BandMismatchError: ``wavelength``/``fwhm`` not one per band; ``wavelength`` in micrometres or band numbers.
        LabelError: ``labels`` not ``(H, W)`` integer ids.
    """
    if not hasattr(data, "ndim"):  # a nested list
        data = np.asarray(data)
    if data.ndim != 3:
        raise ConfigError(f"make_cube: data has shape {tuple(data.shape)}; pass a (C, H, W) array, bands first "
                          "(data.transpose(2, 0, 1) for an (H, W, C) one, data[None] for one band)")
    c, h, w = (int(s) for s in data.shape)
    n_wl = None if wavelength is None else int(np.size(wavelength))
    if n_wl is not None and n_wl == w != c:
        raise ConfigError(f"make_cube: data has shape {tuple(data.shape)} and {n_wl} wavelengths, one per last-axis "
                          "value: it looks (H, W, C); pass data.transpose(2, 0, 1), bands first")
    wl = band_vector(wavelength, c, "wavelength")
    check_nanometres(wl)
    fixed = corrected_centres(wl)
    if fixed is not None:
        wl = fixed
    fw = band_vector(fwhm, c, "fwhm")
    bad = bad_band_mask(bad_bands, c)
    rotated = transform is not None and bool(transform.b or transform.d)
    if rotated:  # scene pixel index + 0.5, whatever x/y say: cube.hsi.transform derives windows' grids from them
        x = y = None
    xs = np.arange(w, dtype=np.float64) + 0.5 if x is None else axis_vector(x, w, "x", "columns")
    ys = np.arange(h, dtype=np.float64) + 0.5 if y is None else axis_vector(y, h, "y", "rows")
    if transform is not None and not rotated:  # north-up: centres from the transform
        if x is None:
            xs = transform.c + transform.a * xs
        if y is None:
            ys = transform.f + transform.e * ys
    derived = valid is None
    if derived:
        valid = valid_from_data(data, nodata, bad)
    coords: dict[str, Any] = {
        "band": np.arange(1, c + 1),
        "y": ys,
        "x": xs,
        "wavelength": ("band", wl),
        "fwhm": ("band", fw),
        "bad_band": ("band", bad),
        "valid": (("y", "x"), valid),
    }
    if labels is not None:
        coords["label"] = (("y", "x"), check_labels(labels, (h, w), source))
    for name, m in (masks or {}).items():
        coords[MASK_PREFIX + name] = (("y", "x"), m)
    all_attrs: dict[str, Any] = {
        "format": fmt,
        "source": str(source),
        **_nodata_attr(nodata, data.dtype),
        "georeferenced": crs is not None,
        "gridded": has_map_grid(crs, transform),  # False: pixel coordinates, also in any slice
    }
    if class_names is not None:
        all_attrs["class_names"] = list(class_names)
    if rotated:
        all_attrs[GRID_ATTR] = [float(v) for v in tuple(transform)[:6]]
    all_attrs.update(attrs or {})
    cube = xr.DataArray(data, dims=DIMS, coords=coords, attrs=all_attrs, name="reflectance")
    if transform is not None:
        cube = cube.rio.write_transform(transform)
    if crs is not None:
        cube = _with_crs(cube, crs)
    if derived:
        mark_valid_derived(cube, nodata, bad)
    return cube


def _with_crs(cube: Cube, crs: Any) -> Cube:
    """``cube.rio.write_crs(crs)``, a CRS that pyproj does not know refused in one line.

    Raises:
        ConfigError: naming the CRS given and the form to pass.
    """
    from pyproj.exceptions import CRSError as ProjCRSError
    from rasterio.errors import CRSError as RioCRSError

    try:
        return cube.rio.write_crs(crs)
    except (ProjCRSError, RioCRSError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"make_cube: crs={crs!r} is not a coordinate reference system pyproj knows ({reason}); pass "
                          "one such as 'EPSG:32633', a WKT or PROJ string, or crs=None") from err


def mark_valid_derived(cube: Cube, nodata: float | None, bad: np.ndarray) -> Cube:
    """Mark ``cube`` (in place, and return it) as having a ``valid`` coordinate computed just now as
    ``valid_from_data(cube.data, nodata, bad)`` (:mod:`hsi_app.io.derived_valid`), so that reading a
    window of it takes the mask from the window's own values; an in-memory cube or mask is not marked.

    The mark is dropped when ``nodata`` is not the no-data value the cube's readers use (``cube.hsi.nodata``).
    """
    cube.attrs.pop(DERIVED_VALID_ATTR, None)
    given = None if nodata is None or np.isnan(nodata) else float(nodata)
    if given != cube.hsi.nodata:
        return cube
    mark = derived_mark(cube.data, cube.coords["valid"].data, given, cube.band.values, bad)
    if mark is not None:
        cube.attrs[DERIVED_VALID_ATTR] = mark
    return cube


MAX_CLASS_ID = 255  # class maps store classes as uint8, 0 = unlabelled / no data
FILL_GAP_BELOW = 128
"""Label id 255 with every other id below this is taken for uint8's usual fill value, not a class."""


def check_labels(labels: np.ndarray, shape: tuple[int, int], source: str = "", grid: str = "the cube") -> np.ndarray:
    """Validate a label raster against a cube grid and return it as ``(H, W)`` int32.

    ``grid`` names what the labels belong to in the message on a wrong shape (``"the map map.tif"`` for
    ``hsi evaluate``).

    Raises:
        LabelError: wrong shape, non-integer values, negative classes, ids above
            :data:`MAX_CLASS_ID` (typically a fill value such as 65535), or id 255 far above
            every other id (uint8's fill value without a nodata tag).
    """
    lab = np.asarray(labels)
    where = f"{source}: " if source else ""
    if lab.shape != tuple(shape):
        raise LabelError(
            f"{where}labels have shape {lab.shape} but {grid} is {tuple(shape)} (H, W); "
            f"pass a label raster on the same grid as {grid}"
        )
    if lab.dtype.kind == "f":
        if not np.all(np.isfinite(lab)) or not np.all(lab == np.round(lab)):
            raise LabelError(f"{where}labels must be whole class numbers (0 = unlabelled)")
    if lab.size and lab.min() < 0:
        raise LabelError(f"{where}labels contain negative values; use 0 for unlabelled")
    if lab.size and lab.max() > MAX_CLASS_ID:
        r, c = (int(v) for v in np.unravel_index(int(np.argmax(lab)), lab.shape))
        raise LabelError(
            f"{where}label value {lab.max():g} at row {r}, col {c}: class ids go up to {MAX_CLASS_ID} (class maps "
            "are uint8); set fill values such as 65535 to 0 (unlabelled)"
        )
    _refuse_fill_255(lab, source)
    return lab.astype(np.int32)


def _refuse_fill_255(lab: np.ndarray, source: str) -> None:
    """Refuse a label raster whose largest id is 255 while every other id is below :data:`FILL_GAP_BELOW`.

    255 is the usual uint8 fill value; a file that does not tag it as nodata would otherwise train a
    255-class model on its fill pixels.

    Raises:
        LabelError: one line naming ``source`` and the fix.
    """
    if lab.size == 0 or lab.max() != MAX_CLASS_ID:
        return
    rest = lab[lab != MAX_CLASS_ID]
    below = int(rest.max()) if rest.size else 0
    if below < FILL_GAP_BELOW:
        name = source or "FILE"
        raise LabelError(
            f"{source or 'labels'}: label id 255 looks like a fill value (the next largest id is {below}); set it as "
            f"the file's nodata (e.g. `gdal_edit.py -a_nodata 255 {name}`) or set those pixels to 0 (unlabelled)"
        )


def _nodata_attr(nodata: float | None, dtype: Any) -> dict[str, float]:
    """``{"nodata": value}`` for a cube's attrs, in a form ``cube.rio.nodata`` can read.

    Float data without a nodata value get NaN; integer data without one get no entry (NaN is no
    integer value, and rioxarray fails converting it). Code reading ``attrs.get("nodata")`` treats
    ``None`` and NaN alike (no value to compare pixels with).
    """
    value = np.nan if nodata is None else float(nodata)
    if np.isnan(value) and np.dtype(dtype).kind not in "fc":
        return {}
    return {"nodata": value}


def _is_whole(value: Any) -> bool:
    """Whether ``value`` is an int or a numpy integer (not a bool, not a float even when integral, so that
    ``h / 2`` is refused for every ``h``, not only for odd ones)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


@xr.register_dataarray_accessor("hsi")
class HSIAccessor:
    """``cube.hsi``: typed access to the Cube conventions.

    Raises:
        ConfigError: at ``cube.hsi``, a DataArray whose dims are not ``("band", "y", "x")``.
    """

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj
        self._check_dims()
        self._valid: xr.DataArray | None = None  # computed once when the cube has no valid coordinate

    @property
    def wavelengths(self) -> np.ndarray:
        """``(C,)`` float64 band centres in nm (NaN where unknown)."""
        return self._band_values("wavelength")

    @property
    def fwhm(self) -> np.ndarray:
        """``(C,)`` float64 band widths in nm (NaN where unknown)."""
        return self._band_values("fwhm")

    def _band_values(self, name: str) -> np.ndarray:
        """``(C,)`` float64 values of the band coordinate ``name``.

        Raises:
            ConfigError: a (band, y, x) DataArray made outside hsi_app (``rioxarray.open_rasterio``, ``xr.DataArray``)
                has no such coordinate: one line saying how to make a Cube of it.
        """
        if name not in self._obj.coords:
            src = scene_name(self._obj, "cube")
            raise ConfigError(
                f"{src}: a (band, y, x) DataArray without hsi_app's '{name}' band coordinate (e.g. from "
                "rioxarray.open_rasterio); open the file with hsi_app.io.open_cube(path), or wrap the array: "
                "hsi_app.io.make_cube(da.values, wavelength=..., crs=da.rio.crs, transform=da.rio.transform())")
        return np.asarray(self._obj.coords[name].values, dtype=np.float64)

    @property
    def bad_bands(self) -> list[int]:
        """0-based indices of bands flagged bad."""
        return [int(i) for i in np.flatnonzero(self._bad_band)]

    @property
    def good_band_indices(self) -> np.ndarray:
        """``(C_good,)`` int 0-based indices of the bands not flagged bad."""
        return np.flatnonzero(~self._bad_band)  # a hand-built DataArray without the coordinate: every band good

    @property
    def nodata(self) -> float | None:
        """This cube's no-data value, or ``None`` when it has none (or it is NaN).

        ``attrs["nodata"]`` as :func:`make_cube` stores it, else rioxarray's (``cube.rio.nodata``,
        which reads ``_FillValue``): ``rio.clip``, ``rio.reproject`` and ``rio.write_nodata`` move
        the value there.
        """
        value = self._obj.attrs.get("nodata")
        if value is None or np.isnan(value):
            try:
                value = self._obj.rio.nodata
            except Exception:  # noqa: BLE001 - a value rioxarray cannot cast to the dtype: none usable
                value = None
        if value is None or np.isnan(value):
            return None
        return float(value)

    @property
    def valid(self) -> xr.DataArray:
        """``(H, W)`` bool valid-pixel mask (lazy when the cube is).

        The ``valid`` coordinate made at open; a cube that lost it (``rio.reproject`` drops 2-D
        coordinates) gets it from its data by the rule of :func:`valid_from_data`, with
        :attr:`nodata`. xarray operations do not update the coordinate: readers AND it with what
        the values they read say (:meth:`read_valid`).
        """
        if "valid" in self._obj.coords:
            return self._obj.coords["valid"]
        if self._valid is None:
            mask = valid_from_data(self._obj.data, self.nodata, self._bad_band)
            self._valid = xr.DataArray(mask, dims=("y", "x"), coords={"y": self._obj.y, "x": self._obj.x},
                                       name="valid")
        return self._valid

    def read_valid(self, values: np.ndarray, stored: np.ndarray | None = None) -> np.ndarray:
        """``(h, w)`` bool valid pixels of this cube (a window, a strip...) once read into memory.

        The stored mask AND what the values say, by the rule of :func:`valid_from_data` with
        :attr:`nodata`: pixels made NaN by ``cube.where(...)`` or filled with the no-data value
        by ``cube.rio.clip(...)`` after open are no data, though the ``valid`` coordinate made at
        open says otherwise. On a cube whose values were not changed the result is the stored mask.

        Args:
            values: ``(C, h, w)`` this cube's values (``cube.values``; every band, before any
                conversion, so that they compare equal to the no-data value).
            stored: ``(h, w)`` bool mask to start from (a precomputed :attr:`valid`); default:
                the cube's ``valid`` coordinate, when it has one.
        """
        from_data = np.asarray(valid_from_data(values, self.nodata, self._bad_band), dtype=bool)
        if stored is None and "valid" in self._obj.coords:
            from hsi_app.local_reads import compute_here

            stored = compute_here(self._obj.coords["valid"].data)[0]  # a lazy mask: read here, not on a Client
        return from_data if stored is None else np.asarray(stored, dtype=bool) & from_data

    @property
    def valid_from_values(self) -> bool:
        """Whether this (lazy) cube's ``valid`` coordinate is exactly what its values say, by the rule of
        :func:`valid_from_data` with :attr:`nodata` and its bad bands: made so at open (no alpha band, GDAL
        mask, scale/offset or quality mask) and not changed since (windows, strips and ``isel`` keep it;
        ``where``, ``rio.clip``, another mask, other bad bands or no-data value end it).
        See :mod:`hsi_app.io.derived_valid`."""
        obj = self._obj
        if DERIVED_VALID_ATTR not in obj.attrs or "valid" not in obj.coords:
            return False
        return still_derived(obj.attrs[DERIVED_VALID_ATTR], obj.data, obj.coords["valid"].data, self.nodata,
                             obj.band.values, self._bad_band)

    def read_masked(self, stored: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """This cube (a window, a strip, a whole scene) read into memory, its no-data pixels NaN.

        The values and the ``valid`` coordinate are computed together, so that a lazy file is read
        once (the coordinate is made from the same values); the mask is then ANDed with what the
        values say (:meth:`read_valid`). A cube whose coordinate is what its values say
        (:attr:`valid_from_values`) computes its values alone and takes the mask from them: the same
        mask, without reading the whole storage chunks a slice of the coordinate's reduction needs.
        The cube's own array is never written.

        Args:
            stored: ``(h, w)`` bool mask to start from instead of the ``valid`` coordinate (rows
                of a mask the caller computed once).

        Returns:
            ``(C, h, w)`` float32 values (no data -> NaN) and the ``(h, w)`` bool valid mask.
        """
        raw, stored, derived = self._read_values(stored)
        return self._mask_values(raw, stored, derived, keep=None)

    def read_stored(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`read_masked` that also returns the values as stored, from the same read.

        Returns:
            ``(C, h, w)`` values as stored (not written), ``(C, h, w)`` float32 values with no data as NaN, and
            the ``(h, w)`` bool valid mask.
        """
        raw, stored, derived = self._read_values(None)
        image, valid = self._mask_values(raw, stored, derived, keep=raw)
        return raw, image, valid

    def _read_values(self, stored: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, bool]:
        """The values in memory, the mask to start from (the ``valid`` coordinate, computed with them) and whether
        the mask is the values' own rule (:attr:`valid_from_values`): :meth:`read_masked`'s one read."""
        from hsi_app.local_reads import compute_here

        obj = self._obj
        derived = stored is None and self.valid_from_values
        if stored is None and "valid" in obj.coords and not derived:
            raw, stored = compute_here(obj.data, obj.coords["valid"].data)
        else:
            raw = obj.data if isinstance(obj.data, np.ndarray) else compute_here(obj.data)[0]
        return np.asarray(raw), stored, derived

    def _mask_values(self, raw: np.ndarray, stored: np.ndarray | None, derived: bool,
                     keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``raw`` as float32 with its no-data pixels NaN, and the valid mask; neither the cube's own array nor
        ``keep`` is written."""
        if derived:  # the coordinate is valid_from_data of these values: the mask from the values alone
            valid = np.asarray(valid_from_data(raw, self.nodata, self._bad_band), dtype=bool)
        else:
            valid = self.read_valid(raw, None if stored is None else np.asarray(stored, dtype=bool))
        image = np.asarray(raw, dtype=np.float32)
        if not valid.all():
            obj_data = self._obj.data
            if any(isinstance(a, np.ndarray) and np.may_share_memory(image, a) for a in (obj_data, keep)):
                image = image.copy()  # a float32 array: do not write NaN into the caller's (or the kept) values
            image[:, ~valid] = np.nan
        return image, valid

    @property
    def _bad_band(self) -> np.ndarray:
        """``(C,)`` bool bad-band flags (all False for a cube without them)."""
        if "bad_band" in self._obj.coords:
            return np.asarray(self._obj.coords["bad_band"].values, dtype=bool)
        return np.zeros(self._obj.sizes.get("band", 0), dtype=bool)

    @property
    def bad_band_mask(self) -> np.ndarray:
        """``(C,)`` bool bad-band flags, a copy the caller may change; all False for a hand-built DataArray
        without the ``bad_band`` coordinate (every band good)."""
        return self._bad_band.copy()

    @property
    def labels(self) -> np.ndarray | None:
        """``(H, W)`` int32 labels (0 = unlabelled) or ``None``."""
        if "label" not in self._obj.coords:
            return None
        return np.asarray(self._obj.coords["label"].values, dtype=np.int32)

    @property
    def class_names(self) -> list[str] | None:
        """Names for label values 0..K, or ``None`` when unknown."""
        names = self._obj.attrs.get("class_names")
        return list(names) if names is not None else None

    @property
    def masks(self) -> dict[str, xr.DataArray]:
        """Named ``(H, W)`` quality masks, e.g. ``{"cloud": ...}``."""
        return {
            str(k)[len(MASK_PREFIX):]: v
            for k, v in self._obj.coords.items()
            if str(k).startswith(MASK_PREFIX)
        }

    def without_masked(self, names: Sequence[str]) -> Cube:
        """The cube with the pixels flagged by the named quality masks marked invalid.

        Every task treats invalid pixels as no-data: class 0 in a map, NaN in a denoised cube
        or a score map. ``"all"`` names every weather/atmosphere mask the cube has (EnMAP L2A: ``cloud``,
        ``cloudshadow``, ``haze``, ``snow``, ``cirrus``), that is every mask but ``defective``, which is
        excluded only when named (``["all", "defective"]``); ``[]`` returns the cube unchanged.

        Raises:
            ConfigError: a name the cube has no mask for (the message lists those it has).
        """
        masks = self.masks
        named_only = ("defective",)  # sensor-element flags, not weather: "all" kept its meaning when they came
        wanted: list[str] = []
        for name in names:
            for n in ([m for m in masks if m not in named_only] if name == "all" else [name]):
                if n not in wanted:
                    wanted.append(n)
        unknown = [n for n in wanted if n not in masks]
        if unknown and not masks:
            raise ConfigError(f"{scene_name(self._obj)}: no quality mask {unknown[0]!r}: the scene has no quality "
                              "masks (EnMAP L2A products carry them); run it without --exclude-masks")
        if unknown:
            raise ConfigError(f"{scene_name(self._obj)}: no quality mask {unknown[0]!r}; its masks: "
                              f"{', '.join(masks)} (or 'all')")
        if not wanted:
            return self._obj
        flagged = xr.concat([masks[n].astype(bool) for n in wanted], dim="mask").any("mask")
        valid = self.valid & ~flagged
        return self._obj.assign_coords(valid=(("y", "x"), valid.data))

    @property
    def georeferenced(self) -> bool:
        """True when the cube carries a CRS."""
        return self._obj.rio.crs is not None

    @property
    def transform(self) -> Any:
        """The affine transform of this cube's own pixel grid, or None for plain pixel coordinates.

        Right for windows and for ``isel``/``sel`` slices, also on rotated and sheared grids
        (whose x/y coordinates are the scene's pixel index + 0.5, from which rioxarray cannot
        derive a transform), and kept for a grid that has a transform but no CRS.

        Raises:
            ConfigError: a gridded cube whose x or y coordinates are not evenly spaced (after
                ``where(..., drop=True)`` or ``isel`` with a list): no transform describes it.
        """
        from rasterio.transform import Affine

        full = self._obj.attrs.get(GRID_ATTR)
        if full is not None:  # index coordinates: the slice's first pixel and its step (strided or reversed slices)
            x, y = self._obj.x.values, self._obj.y.values
            check_evenly_spaced(x, "x", scene_name(self._obj, "cube"))
            check_evenly_spaced(y, "y", scene_name(self._obj, "cube"))
            dx = float(x[1] - x[0]) if x.size > 1 else 1.0
            dy = float(y[1] - y[0]) if y.size > 1 else 1.0
            x0 = float(x[0]) - 0.5 * dx if x.size else 0.0
            y0 = float(y[0]) - 0.5 * dy if y.size else 0.0
            return Affine(*full) * Affine.translation(x0, y0) * Affine.scale(dx, dy)
        try:  # origin from the coordinates, pixel size as stored (exact: no rounding from the coordinates)
            t = self._obj.rio.transform()
        except Exception:  # noqa: BLE001 - rioxarray cannot derive one at all
            t = None
        try:  # a strided or reversed slice has another step than the stored one: take it from the coordinates
            step = self._obj.rio.transform(recalc=True)
            if t is None or not (np.isclose(step.a, t.a, rtol=1e-9) and np.isclose(step.e, t.e, rtol=1e-9)):
                t = step
        except Exception:  # noqa: BLE001 - a single row or column: the stored pixel size stands
            pass
        if not self.georeferenced and (not bool(self._obj.attrs.get("gridded", True)) or t is None
                                       or t.almost_equals(Affine.identity())):
            return None  # a slice of a pixel-coordinate cube has offset coordinates but still no map grid
        check_evenly_spaced(self._obj.x.values, "x", scene_name(self._obj, "cube"))
        check_evenly_spaced(self._obj.y.values, "y", scene_name(self._obj, "cube"))
        return t

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = (int(s) for s in self._obj.shape)
        return c, h, w

    def _check_dims(self) -> None:
        """Refuse an array whose dims are not ``("band", "y", "x")`` with one line saying what to do.

        Raises:
            ConfigError: transposed dims (``cube.transpose("y", "x", "band")``, for sklearn) or a
                2-D array (``cube.mean("band")``, ``cube.sel(band=5)``).
        """
        dims = tuple(str(d) for d in self._obj.dims)
        if dims == DIMS:
            return
        src = scene_name(self._obj, "cube")
        if sorted(dims) == sorted(DIMS):
            raise ConfigError(f"{src}: the cube's dims are {dims}; hsi_app takes (band, y, x): use "
                              "cube.transpose('band', 'y', 'x')")
        if "band" not in dims and {"y", "x"} <= set(dims) and len(dims) == 2:
            raise ConfigError(f"{src}: a (y, x) array, not a cube (no band dim, e.g. after .mean('band') or "
                              ".sel(band=5)); keep the band dim, e.g. cube.isel(band=[4])")
        raise ConfigError(f"{src}: dims {dims} are not a cube's (band, y, x); give hsi_app a (band, y, x) DataArray")

    def with_labels(self, labels: np.ndarray, class_names: Sequence[str] | None = None) -> Cube:
        """Return a copy with ``label`` set (validated against the grid)."""
        _, h, w = self.shape
        lab = check_labels(labels, (h, w), scene_name(self._obj, ""))
        out = self._obj.assign_coords(label=(("y", "x"), lab))
        if class_names is not None:
            out.attrs = {**out.attrs, "class_names": list(class_names)}
        return out

    def good_bands(self) -> Cube:
        """The cube without its bad bands."""
        return self._obj.isel(band=~self._bad_band)

    def window(self, row_off: int, col_off: int, height: int, width: int) -> Cube:
        """A pixel window (lazy): rows ``row_off:row_off+height``, cols likewise.

        Its ``rio.transform()`` is the window's, also for a rotated grid (whose x/y
        coordinates are pixel indices, from which rioxarray cannot derive it). A window
        reaching past the last row or column is cut at the scene's edge.

        Raises:
            ConfigError: an offset or size that is not an integer (``h / 2``: use ``h // 2``), a negative
                offset (it would count from the far edge, as numpy does), a size below 1, or a window that
                starts outside the scene.
        """
        _, h, w = self.shape
        where = f"window({row_off}, {col_off}, {height}, {width})"
        args = (row_off, col_off, height, width)
        if not all(_is_whole(v) for v in args):
            raise ConfigError(f"{where}: row, col, height and width are integers, numbers of pixels (h // 2, not h / 2)")
        row_off, col_off, height, width = (int(v) for v in args)
        if min(row_off, col_off) < 0 or min(height, width) < 1:
            raise ConfigError(f"{where}: offsets must be 0 or more and sizes 1 or more (row, col, height, width)")
        if row_off >= h or col_off >= w:
            raise ConfigError(f"{where}: starts outside the {h} x {w} px scene; rows are 0-{h - 1}, cols 0-{w - 1}")
        out = self._obj.isel(
            y=slice(row_off, row_off + height), x=slice(col_off, col_off + width)
        )
        t = self.transform
        if t is not None and (t.b or t.d):  # for readers of rio.transform(); cube.hsi.transform needs no help
            from rasterio.transform import Affine

            out = out.rio.write_transform(t * Affine.translation(col_off, row_off))
        return out

    def map_coords(self, rows: Any, cols: Any) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates of pixel centres through the affine transform.

        Args:
            rows, cols: ``(N,)`` (or scalar) 0-based pixel indices.

        Returns:
            ``(xs, ys)`` float64 ``(N,)``: ``transform * (col + 0.5, row + 0.5)``, right for
            rotated and sheared grids and slices of them too; pixel-centre coordinates
            ``(col + 0.5, row + 0.5)`` when the cube has no transform.
        """
        from rasterio.transform import Affine

        t = self.transform or Affine.identity()
        c = np.asarray(cols, dtype=np.float64) + 0.5
        r = np.asarray(rows, dtype=np.float64) + 0.5
        return t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f
