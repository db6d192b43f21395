"""Multi-band GeoTIFFs through ``rasterio``/``rioxarray``, read lazily window by window.

Band centres are taken, in this order, from per-band ``wavelength``/``fwhm`` tags, GDAL's
``IMAGERY`` metadata domain (``CENTRAL_WAVELENGTH_UM``/``FWHM_UM``, rounded by GDAL to
1 nm when it converts ENVI files, so the tags win when both are there), a
dataset-level ``wavelength`` list (ENVI-style, as GDAL exposes ENVI headers) and
numbers in band descriptions such as ``"band 12 (551.3 nm)"``, and finally the ENVI header
ENVI writes beside a TIFF (``x.hdr`` with ``file type = TIFF``: :mod:`hsi_app.io.envi_tiff`),
which also adds its ``bbl`` to the bad bands and gives its ``data ignore value`` to a TIFF
without a no-data value.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import CubeReadError, HSIWarning
from hsi_app.io.cube import Cube, has_map_grid, make_cube, valid_from_data
from hsi_app.io.envi import FILE_DTYPE_ATTR
from hsi_app.io.envi_tiff import TiffSidecar, read_sidecar
from hsi_app.io.wavelength_units import nm_factor, nm_factor_or_warn

TIFF_ONLY = "GTiff"
"""The only GDAL driver used to read rasters from users: GDAL would otherwise open, by
content, a VRT (XML) saved under a ``.tif`` name, which can read any file on the machine."""

FILE_VALUES_ATTR = "_file_values"
"""Private attr of a cube from :func:`read_geotiff`: the dask name of its data when those values are the file's own
(no scale/offset applied, any alpha band after the spectral ones), so that :func:`holds_file_values` can tell
whether a cube still holds them."""

GCPS_ATTR = "_gcps"
"""Private attr of a cube from :func:`read_geotiff` of a file georeferenced only by ground control points:
``{"crs": WKT or None, "points": [GroundControlPoint.asdict(), ...]}`` (pixel rows/columns of the file), so that
outputs on its pixel grid can carry them (:func:`cube_gcps`)."""

AREA_OR_POINT_ATTR = "area_or_point"
"""Attr of a cube from :func:`read_geotiff` of a file whose map grid is declared pixel-is-point (GDAL's
``AREA_OR_POINT=Point``): ``"Point"``. GDAL's transform is the same either way (pixel corners); outputs declare
the same raster type (:func:`cube_area_or_point`), so software that reads the GeoTIFF tie point as stored
places them where it places the input (an output declared pixel-is-area would sit half a pixel off there)."""

GEOREF_ATTRS = (GCPS_ATTR, AREA_OR_POINT_ATTR)
"""The attrs beyond CRS and transform that carry a cube's georeference: a new cube made on its pixel grid
(``make_cube(attrs=)``) keeps them, so its outputs are placed as the input's (:func:`cube_georef`)."""

_NUM_UNIT = re.compile(
    r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)[\s_]*"  # a number, then spaces or underscores (Band_1_450.0_nm)
    r"(nm|nanomet(?:er|re)s?|um|µm|μm|micromet(?:er|re)s?|microns?)(?![a-zµμ])",  # British spellings too
    re.I,
)


def _parse_list(text: str) -> np.ndarray:
    return np.asarray([float(v) for v in re.split(r"[,\s{}]+", text) if v], dtype=np.float64)


def band_wavelengths(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(wavelength, fwhm)`` in nm from an open rasterio dataset (NaN where unknown)."""
    n = ds.count
    source = str(ds.name)
    wl, fw = _per_band_tags(ds, source)
    if np.isnan(wl).all():
        dtags = {k.lower(): v for k, v in ds.tags().items()}
        for ns in (None, "ENVI"):
            src = dtags if ns is None else {k.lower(): v for k, v in ds.tags(ns=ns).items()}
            if "wavelength" in src:
                vals = _parse_list(src["wavelength"])
                if vals.size == n:
                    units = src.get("wavelength_units") or src.get("wavelength units")
                    factor = nm_factor_or_warn(vals, units, source)
                    if factor is not None:
                        wl = vals * factor
                        if "fwhm" in src and _parse_list(src["fwhm"]).size == n:
                            fw = _parse_list(src["fwhm"]) * factor  # the centres' unit, as they decided it
                    break
    if np.isnan(wl).all():
        for i, desc in enumerate(ds.descriptions):
            m = _NUM_UNIT.search(desc or "")
            if m:
                value = float(m.group(1))
                wl[i] = value * (nm_factor(np.array([value]), m.group(2), source) or 1.0)
    return wl, fw


def _per_band_tags(ds: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
    """``(wavelength, fwhm)`` in nm from each band's ``wavelength``/``fwhm`` tags or GDAL's
    ``IMAGERY`` domain (NaN where absent). Bands sharing one unit text are converted together,
    so the unit guess sees every centre and a mislabelled unit warns once."""
    n = ds.count
    raw_wl, raw_fw, units = np.full(n, np.nan), np.full(n, np.nan), [""] * n
    wl, fw = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        img = ds.tags(i + 1, ns="IMAGERY")
        tags = {k.lower(): v for k, v in ds.tags(i + 1).items()}
        try:  # per-band tags first: GDAL rounds the IMAGERY values to 3 decimals in micrometres
            if "wavelength" in tags:
                units[i] = tags.get("wavelength_units") or ds.tags().get("wavelength_units") or ""
                raw_wl[i] = float(tags["wavelength"])
                if "fwhm" in tags:
                    raw_fw[i] = float(tags["fwhm"])
            elif "CENTRAL_WAVELENGTH_UM" in img:
                wl[i] = float(img["CENTRAL_WAVELENGTH_UM"]) * 1000.0
            if np.isnan(raw_fw[i]) and "FWHM_UM" in img:
                fw[i] = float(img["FWHM_UM"]) * 1000.0
        except ValueError:
            continue
    tagged = np.isfinite(raw_wl)
    for unit in sorted({units[i] for i in np.flatnonzero(tagged)}):
        group = tagged & np.array([u == unit for u in units])
        factor = nm_factor_or_warn(raw_wl[group], unit, source)
        if factor is None:
            continue
        wl[group] = raw_wl[group] * factor
        has_fw = group & np.isfinite(raw_fw)
        fw[has_fw] = raw_fw[has_fw] * factor
    return wl, fw


def bad_band_tag(ds: Any, path: Path) -> list[int]:
    """0-based bad-band indices from the dataset tag ``bad_bands`` that :func:`write_cube` writes.

    A tag that is not a comma list of band indices within ``[0, count)`` is ignored with a
    warning, so a hand-edited file still opens.
    """
    text = ds.tags().get("bad_bands", "").strip()
    if not text:
        return []
    try:
        bad = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        bad = [-1]
    if bad and (bad[0] < 0 or bad[-1] >= ds.count):
        warnings.warn(
            f"{path}: tag bad_bands={text!r} is not a list of 0-based band indices below"
            f" {ds.count}; ignoring it (fix or remove the tag)",
            HSIWarning,
            stacklevel=3,
        )
        return []
    return bad


def _probe(ds: Any, path: Path) -> None:
    """Read the last block of the first and last band, so truncated files fail at open.

    One read of both bands: a pixel-interleaved tile (GDAL's default) holds every band, and two reads
    would decode it twice."""
    from rasterio.windows import Window

    h, w = ds.height, ds.width
    bh, bw = ds.block_shapes[0] if ds.block_shapes else (1, w)
    win = Window(max(0, w - bw), max(0, h - bh), min(bw, w), min(bh, h))
    try:
        ds.read(sorted({1, ds.count}), window=win)
    except Exception as err:  # rasterio raises RasterioIOError / CPLE_* on damaged files
        reason = str(err).replace(" See previous exception for details.", "")  # no such exception is shown
        raise CubeReadError(f"{path}: data cannot be read ({reason}); the file is truncated or corrupt") from err


class _MaskWindows:
    """``(H, W)`` bool view of a GeoTIFF's internal dataset mask, read window
    by window by dask (``True`` = data). Holds only the path, so it pickles."""

    def __init__(self, path: str, shape: tuple[int, int]) -> None:
        self.path, self.shape, self.dtype, self.ndim = path, shape, np.dtype(bool), 2

    def __getitem__(self, key: Any) -> np.ndarray:
        import rasterio
        from rasterio.windows import Window

        rows, cols = (k if isinstance(k, slice) else slice(k, k + 1) for k in key)
        r0, r1, _ = rows.indices(self.shape[0])
        c0, c1, _ = cols.indices(self.shape[1])
        with rasterio.open(self.path, driver=TIFF_ONLY) as ds:
            m = ds.dataset_mask(window=Window(c0, r0, max(c1 - c0, 0), max(r1 - r0, 0)))
        out = m > 0
        return out[tuple(0 if not isinstance(k, slice) else slice(None) for k in key)]


def read_geotiff(path: str | os.PathLike[str], *, chunks: int = 512) -> Cube:
    """Read a multi-band GeoTIFF lazily (dask, one chunk per window of ``chunks`` pixels).

    Bad bands come from the ``bad_bands`` dataset tag that ``hsi`` writes, so a denoised
    EnMAP or ENVI cube keeps its flags when it is read again.

    Returns:
        Cube ``(bands, y, x)`` in the file's dtype with CRS/transform (float32 physical values
        ``raw * scale + offset``, no-data as NaN, when the bands carry a GDAL scale/offset, or when
        not, its ``file type = TIFF`` ENVI header a gain/offset or reflectance scale factor: then
        ``attrs["file_dtype"]`` names the file's storage, :data:`~hsi_app.io.envi.FILE_DTYPE_ATTR`, and
        ``attrs["raw_nodata"]`` its no-data value, if any);
        a TIFF with no georeference gets pixel coordinates and a warning.

    Raises:
        CubeReadError: unreadable, truncated or complex-valued file.
    """
    import rasterio
    import rioxarray
    from rasterio.enums import ColorInterp, MaskFlags
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, driver=TIFF_ONLY) as ds:
                wl, fw = band_wavelengths(ds)
                bad = bad_band_tag(ds, path)
                crs, transform, nodata = ds.crs, ds.transform, ds.nodata
                sidecar = read_sidecar(path, (ds.count, ds.height, ds.width))
                gcps, gcp_crs = ds.gcps
                point = is_pixel_is_point(ds)
                descriptions = list(ds.descriptions)
                scales, offsets = np.asarray(ds.scales, np.float64), np.asarray(ds.offsets, np.float64)
                alpha = np.array([ci == ColorInterp.alpha for ci in ds.colorinterp], dtype=bool)
                masked = MaskFlags.per_dataset in ds.mask_flag_enums[0] and MaskFlags.alpha not in ds.mask_flag_enums[0]
                if np.dtype(ds.dtypes[0]).kind == "c":
                    raise CubeReadError(f"{path}: complex pixel values ({ds.dtypes[0]}); save the magnitude "
                                        "or the real part as a real-valued GeoTIFF")
                _probe(ds, path)
            arr = rioxarray.open_rasterio(
                path, chunks={"band": -1, "y": chunks, "x": chunks}, lock=False, masked=False, driver=TIFF_ONLY
            )
    except RasterioIOError as err:
        raise CubeReadError(f"{path}: not a readable GeoTIFF ({err}); check the file or re-export it") from err
    attrs: dict[str, Any] = {"band_descriptions": [d or "" for d in descriptions]}
    if sidecar is not None:  # what ENVI keeps beside a TIFF fills what the TIFF does not say
        wl, fw, bad, nodata = _with_sidecar(sidecar, wl, fw, bad, nodata)
        scales, offsets = _sidecar_scaling(sidecar, scales, offsets, path)
        attrs["envi_header"] = str(sidecar.header)
    crs_only = crs is not None and transform.is_identity and not gcps
    if crs_only:  # GDAL's identity: the file has no geotransform
        warnings.warn(
            f"{path}: a CRS ({crs.to_string()}) but no geotransform; using pixel coordinates and no CRS, so no "
            "output is misplaced at the CRS origin: give it a transform first (e.g. gdal_edit.py -a_ullr ULX ULY "
            "LRX LRY in.tif)", HSIWarning, stacklevel=2
        )
        crs = None
    georef = crs is not None
    gridded = has_map_grid(crs, transform)  # a transform without a CRS is kept: the pixel grid is known
    if not georef and gcps:
        attrs["gcps"] = f"{len(gcps)} ground control points ({gcp_crs or 'no CRS'})"
        attrs[GCPS_ATTR] = {"crs": gcp_crs.to_wkt() if gcp_crs else None, "points": [g.asdict() for g in gcps]}
        warnings.warn(
            f"{path}: georeferenced by {attrs['gcps']}, not by a transform; outputs will be in pixel"
            " coordinates (raster outputs keep the points): warp it to a map grid first (e.g. gdalwarp -t_srs "
            "EPSG:XXXX in.tif out.tif)",
            HSIWarning,
            stacklevel=2,
        )
    elif not georef and gridded:
        warnings.warn(
            f"{path}: a map transform but no CRS; outputs keep its grid without a CRS: assign one first "
            "(e.g. gdal_edit.py -a_srs EPSG:XXXX in.tif)", HSIWarning, stacklevel=2
        )
    elif not georef and not crs_only:
        warnings.warn(
            f"{path}: no georeference (CRS); using pixel coordinates", HSIWarning, stacklevel=2
        )
    if point and gridded:
        attrs[AREA_OR_POINT_ATTR] = "Point"
    data = arr.data
    limits = []  # (H, W) bool masks that further restrict the valid pixels
    if alpha.any() and not alpha.all():  # an alpha band is a mask (0 = no data), not a spectral band
        limits.append((data[np.flatnonzero(alpha)] > 0).all(axis=0))
        keep = np.flatnonzero(~alpha)
        data, wl, fw = data[keep], wl[keep], fw[keep]
        scales, offsets = scales[keep], offsets[keep]
        bad = [int(np.searchsorted(keep, b)) for b in bad if b in set(keep.tolist())]
        attrs["band_descriptions"] = [attrs["band_descriptions"][i] for i in keep]
        attrs["alpha_bands"] = [int(i) + 1 for i in np.flatnonzero(alpha)]
    if masked:  # GDAL's internal (per-dataset) mask: 0 = no data
        import dask.array as da

        attrs["dataset_mask"] = True  # the valid mask holds more than the values say (see io.empty_bands)

        limits.append(da.from_array(_MaskWindows(str(path), (data.shape[1], data.shape[2])), chunks=(chunks, chunks)))
    rescale = not (np.all(scales == 1.0) and np.all(offsets == 0.0))
    valid = None
    if rescale or limits:  # the valid mask comes from the raw values (before any rescaling)
        valid = valid_from_data(data, nodata, np.isin(np.arange(data.shape[0]), bad))
        for limit in limits:
            valid = valid & limit
    if rescale:  # GDAL band scale/offset: physical values
        import dask.array as da

        attrs[FILE_DTYPE_ATTR] = np.dtype(data.dtype).name  # what the file stores (the cube is float32)
        scaled = data.astype(np.float32) * scales.astype(np.float32)[:, None, None] + offsets.astype(np.float32)[:, None, None]
        data = scaled if nodata is None else da.where(data == nodata, np.float32(np.nan), scaled)
        if nodata is not None:
            attrs["raw_nodata"] = nodata  # the file's no-data value, NaN in the cube (as ENVI's reader keeps it)
        nodata = None
        attrs["scale_offset"] = "applied"
    name = getattr(data, "name", None)
    if name and not rescale and np.array_equal(np.flatnonzero(~alpha), np.arange(data.shape[0])):
        attrs[FILE_VALUES_ATTR] = str(name)  # band i of the cube is band i + 1 of the file, raw values
    return make_cube(
        data,
        valid=valid,
        wavelength=wl,
        fwhm=fw,
        bad_bands=bad,
        crs=crs,
        transform=transform if gridded else None,
        nodata=nodata,
        fmt="geotiff",
        source=str(path),
        attrs=attrs,
    )


def _with_sidecar(side: TiffSidecar, wl: np.ndarray, fw: np.ndarray, bad: list[int],
                  nodata: float | None) -> tuple[np.ndarray, np.ndarray, list[int], float | None]:
    """``(wavelength, fwhm, bad bands, nodata)`` of a TIFF completed by its ``file type = TIFF`` ENVI header:
    the header's centres and widths where the TIFF has none, its ``bbl`` added to the bad bands, its
    ``data ignore value`` when the TIFF declares no no-data value."""
    if side.wavelength is not None and np.isnan(wl).all():
        wl = side.wavelength
    if side.fwhm is not None and np.isnan(fw).all():
        fw = side.fwhm
    bad = sorted(set(bad) | {int(b) for b in np.flatnonzero(side.bad)})
    return wl, fw, bad, side.nodata if nodata is None else nodata


def _sidecar_scaling(side: TiffSidecar, scales: np.ndarray, offsets: np.ndarray,
                     path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The TIFF's band ``(scales, offsets)``, or, when it has none, its ENVI header's gain/offset and reflectance
    scale factor as ``read_envi`` applies them (:attr:`TiffSidecar.scale`), so one product reads in the same units
    as ENVI BSQ and as TIFF + header. Header values that differ from the TIFF's own are ignored with a warning."""
    if side.scale is None or side.offset is None:
        return scales, offsets
    if np.all(scales == 1.0) and np.all(offsets == 0.0):
        return side.scale, side.offset
    if not (np.allclose(scales, side.scale) and np.allclose(offsets, side.offset)):
        warnings.warn(f"{side.header}: its data gain/offset values or reflectance scale factor are ignored, as "
                      f"{path.name} has band scale/offset of its own (applied); remove the one that is wrong",
                      HSIWarning, stacklevel=3)
    return scales, offsets


def holds_file_values(cube: Cube) -> bool:
    """Whether ``cube`` holds exactly the values of the GeoTIFF it was read from (its ``source``): the bands and raw
    values that reading the file again gives.

    True only for the lazy array :func:`read_geotiff` returned, as it was returned (labels, masks or attributes
    added, or a no-op ``isel``, keep it): any computation on the values (scaling, ``where``, a band subset, a
    spatial crop or ``rio.clip``, ``.load()``) gives another array, and ``False``.
    """
    token = cube.attrs.get(FILE_VALUES_ATTR)
    return token is not None and str(getattr(cube.data, "name", "")) == token


def cube_gcps(cube: Cube) -> tuple[list[Any], Any] | None:
    """The ground control points of the GeoTIFF ``cube`` was read from, on ``cube``'s own pixel grid, as rasterio's
    ``ds.gcps`` takes them: ``(points, crs)``; ``None`` when the file had none (or a transform).

    A crop (``isel`` of consecutive rows and columns) keeps them, shifted by its first row and column; a strided
    or reordered selection, whose pixels no longer sit on one grid with the file's, drops them.
    """
    from rasterio.control import GroundControlPoint
    from rasterio.crs import CRS

    kept = cube.attrs.get(GCPS_ATTR)
    if not kept or cube.hsi.transform is not None:
        return None
    x, y = np.asarray(cube.x.values, np.float64), np.asarray(cube.y.values, np.float64)
    if x.size == 0 or y.size == 0 or not (np.all(np.diff(x) == 1.0) and np.all(np.diff(y) == 1.0)):
        return None
    col0, row0 = float(x[0]) - 0.5, float(y[0]) - 0.5  # pixel coordinates are the file's index + 0.5
    points = [GroundControlPoint(row=p["row"] - row0, col=p["col"] - col0, x=p["x"], y=p["y"], z=p.get("z"),
                                 id=p.get("id"), info=p.get("info")) for p in kept["points"]]
    return points, CRS.from_wkt(kept["crs"]) if kept.get("crs") else None


def cube_area_or_point(cube: Cube) -> str | None:
    """``"Point"`` when ``cube`` came from a pixel-is-point GeoTIFF and still has a map transform (an output on
    its grid then declares ``AREA_OR_POINT=Point`` too, through ``StreamingCOGWriter(area_or_point=)``);
    ``None`` (pixel-is-area, GDAL's default) otherwise."""
    if cube.attrs.get(AREA_OR_POINT_ATTR) == "Point" and cube.hsi.transform is not None:
        return "Point"
    return None


def cube_georef(cube: Cube) -> dict[str, Any]:
    """The georeference an output on ``cube``'s pixel grid copies from it, as ``StreamingCOGWriter`` keywords:
    ``crs``, ``transform`` (``cube.hsi.transform``), ``gcps`` (:func:`cube_gcps`) and ``area_or_point``
    (:func:`cube_area_or_point`); use as ``StreamingCOGWriter(..., **cube_georef(cube))``."""
    return {"crs": cube.rio.crs, "transform": cube.hsi.transform, "gcps": cube_gcps(cube),
            "area_or_point": cube_area_or_point(cube)}


def is_pixel_is_point(ds: Any) -> bool:
    """Whether the open rasterio dataset ``ds`` declares its map grid pixel-is-point (GDAL's
    ``AREA_OR_POINT=Point`` tag, any case or spacing); pixel-is-area, GDAL's default, otherwise."""
    return str(ds.tags().get("AREA_OR_POINT", "")).strip().lower() == "point"
