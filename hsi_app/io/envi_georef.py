"""Georeference of ENVI headers: ``map info`` (UTM, Geographic Lat/Lon, rotated grids),
``coordinate system string`` (WKT) and ``projection info`` (other projections, through GDAL's
ENVI driver), read as GDAL's ENVI driver reads them."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from hsi_app.errors import CubeReadError, HSIWarning
from hsi_app.io.cube import alnum_key

_DATUM_UTM = {"wgs84": (32600, 32700), "nad83": (26900, None), "nad27": (26700, None)}
_DATUM_GEO = {"wgs84": 4326, "nad83": 4269, "nad27": 4267}
_DATUM_ALIASES = {"northamerica1983": "nad83", "northamerica1927": "nad27", "worldgeodeticsystem1984": "wgs84"}
_METRES_PER_UNIT = {"meters": 1.0, "meter": 1.0, "metres": 1.0, "metre": 1.0, "m": 1.0, "km": 1000.0,
                    "kilometers": 1000.0, "kilometres": 1000.0, "feet": 0.3048, "usfeet": 1200.0 / 3937.0,
                    "yards": 0.9144, "miles": 1609.344, "nauticalmiles": 1852.0, "nauticalmile": 1852.0}
"""``map info`` ``units=`` of a UTM grid, in metres (keys: :func:`~hsi_app.io.cube.alnum_key` of the text), as GDAL's
ENVI driver reads them; ``US Feet`` (survey feet) too, which GDAL does not know and so reads as metres (coordinates
3.28 times too large): here they are converted, so the scene lies where the header says, unlike GDAL's reading."""
_DEGREES_PER_UNIT = {"degrees": 1.0, "degree": 1.0, "deg": 1.0, "minutes": 1.0 / 60.0, "seconds": 1.0 / 3600.0,
                     "radians": 180.0 / math.pi}
"""``map info`` ``units=`` of a Geographic Lat/Lon grid, in degrees."""


def datum_key(name: str) -> str:
    """``'North America 1983'``, ``'NAD-83'``, ``'nad83'`` -> ``'nad83'``; ``'WGS 84'`` -> ``'wgs84'``."""
    key = alnum_key(name)
    return _DATUM_ALIASES.get(key, key)


def rotated_grid(rx: float, ry: float, mx: float, my: float, px: float, py: float, theta: float) -> Any:
    """The affine transform of an ENVI grid: pixel steps ``px`` along a row and ``py`` down a
    column, turned counter-clockwise by ``theta`` radians, with the corner of the 1-based
    reference pixel ``(rx, ry)`` at map position ``(mx, my)``.

    With ``theta = 0`` this is the usual north-up grid. For square pixels referenced at
    (1, 1), the form rotated products use (AVIRIS-NG), it equals GDAL's reading of the same
    header; GDAL turns a non-square pixel's sides and a reference pixel other than (1, 1)
    differently (scaling after turning, and shifting the origin without turning), while here
    the pixel stays a rectangle and the reference pixel keeps the coordinates the header gives.
    """
    from rasterio.transform import Affine

    cos, sin = math.cos(theta), math.sin(theta)
    a, b, d, e = cos * px, sin * py, sin * px, -cos * py
    return Affine(a, b, mx - (rx - 1.0) * a - (ry - 1.0) * b, d, e, my - (rx - 1.0) * d - (ry - 1.0) * e)


def parse_map_info(map_info: list[str], header: Path, *, warn_crs: bool = True,
                   own_units: bool = True) -> tuple[Any, Any]:
    """``(crs, transform)`` from an ENVI ``map info`` list.

    The reference pixel is 1-based with (1, 1) the upper-left corner of the first pixel.
    UTM (zone 1-60, North/South, both checked; WGS-84 -> EPSG:326zz/327zz, NAD-83/NAD-27 north) and
    ``Geographic Lat/Lon`` get a CRS; other projections get ``crs=None`` (pass a WKT in
    ``coordinate system string``; ``warn_crs=False`` when it is there). ``rotation=θ``
    (degrees, counter-clockwise, as AVIRIS-NG flight lines carry it) gives a rotated
    transform: see :func:`rotated_grid`.

    ``units=`` other than metres (UTM: ``Km``, ``Feet``, ``US Feet``, ``Yards``, ``Miles``, ``Nautical Miles``) or degrees
    (Geographic: ``Seconds``, ``Minutes``, ``Radians``) is converted, so the transform is in the units of the
    EPSG CRS returned (metres, degrees), as GDAL's ENVI driver places such grids; units it cannot convert
    give ``crs=None`` with a warning. ``own_units=False`` (the header's WKT gives the CRS and so the units:
    :func:`in_wkt_units`) leaves the values as written. A projection that only ``projection info`` describes gets
    ``crs=None`` here, so its values are never converted whatever ``own_units`` says: the CRS GDAL builds from it
    (:func:`projection_info_crs`) carries ``map info``'s units itself.
    """
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    items = [str(v).strip() for v in map_info]
    try:
        proj = items[0].lower()
        rx, ry, mx, my, px, py = (float(v) for v in items[1:7])
    except (IndexError, ValueError):
        warnings.warn(f"{header}: unreadable 'map info'; using pixel coordinates", HSIWarning, stacklevel=3)
        return None, None
    if px <= 0 or py <= 0 or not (math.isfinite(px) and math.isfinite(py)):
        warnings.warn(f"{header}: 'map info' pixel size {px:g} x {py:g} is not positive; using pixel coordinates",
                      HSIWarning, stacklevel=3)
        return None, None
    rest = [v for v in items[7:] if "=" not in v]
    opts = {k.strip().lower(): v.strip() for k, _, v in (v.partition("=") for v in items[7:] if "=" in v)}
    try:
        theta = math.radians(float(opts.get("rotation", "0") or 0))
    except ValueError:
        warnings.warn(f"{header}: unreadable 'map info' rotation; using pixel coordinates", HSIWarning, stacklevel=3)
        return None, None
    transform = rotated_grid(rx, ry, mx, my, px, py, theta)
    crs = None
    datum = ""
    if proj == "utm" and rest:
        zone, north = _utm_zone(rest[0], header), _utm_north(rest[1] if len(rest) > 1 else "", header)
        datum = rest[2] if len(rest) > 2 else "WGS-84"
        codes = _DATUM_UTM.get(datum_key(datum))
        code = None if codes is None else codes[0 if north else 1]
        if code is not None:
            crs = CRS.from_epsg(code + zone)
    elif proj.startswith("geographic"):
        datum = rest[0] if rest else "WGS-84"
        code = _DATUM_GEO.get(datum_key(datum))
        if code is not None:
            crs = CRS.from_epsg(code)
    if crs is not None and own_units and opts.get("units"):
        per_unit = (_METRES_PER_UNIT if crs.is_projected else _DEGREES_PER_UNIT).get(alnum_key(opts["units"]))
        if per_unit is None:
            warnings.warn(f"{header}: 'map info' units={opts['units']!r} cannot be converted to "
                          f"{'metres' if crs.is_projected else 'degrees'}; outputs keep its map grid without a CRS; "
                          "give the units as Meters (Degrees for Lat/Lon) or add a 'coordinate system string' (WKT)",
                          HSIWarning, stacklevel=3)
            return None, transform
        if per_unit != 1.0:
            transform = Affine.scale(per_unit) @ transform
    if crs is None and warn_crs:
        what = (f"datum {datum!r} of projection {items[0]!r}" if datum
                else f"projection {items[0]!r} ({', '.join(rest)})")
        warnings.warn(
            f"{header}: map info {what} is not recognised; outputs keep its map grid without a CRS; "
            "add a 'coordinate system string' (WKT) to the header to get one",
            HSIWarning,
            stacklevel=3,
        )
    return crs, transform


_HEMISPHERES = {"north": True, "n": True, "northern": True, "south": False, "s": False, "southern": False}


def _utm_north(text: str, header: Path) -> bool:
    """Whether the UTM hemisphere field of ``map info`` says North (``North``/``N``/``South``/``S``, any case).

    Raises:
        CubeReadError: a missing or other field (a datum where the hemisphere belongs), naming the header:
            read as South it would put the scene 10,000 km off.
    """
    key = text.strip().lower()
    if key not in _HEMISPHERES:
        got = f"{text.strip()!r} where the hemisphere belongs" if key else "no hemisphere"
        raise CubeReadError(f"{header}: 'map info' gives UTM {got}; after the zone comes North or South "
                            "(e.g. '11, North, WGS-84'), fix the .hdr")
    return _HEMISPHERES[key]


def _utm_zone(text: str, header: Path) -> int:
    """The UTM zone of ``map info`` (a whole number 1-60; ``'33.0'`` is 33).

    Raises:
        CubeReadError: anything else (``'33N'``, ``'33.7'``, ``'99'``), naming the header.
    """
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value.is_integer() and 1 <= value <= 60):
        raise CubeReadError(f"{header}: 'map info' gives UTM zone {text.strip()!r}; zones are whole numbers 1-60 "
                            "followed by North or South, fix the .hdr")
    return int(value)


def wkt_crs(h: dict[str, Any], header: Path) -> Any:
    """CRS from ``coordinate system string`` (SPy splits it at commas; rejoin), or None."""
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    raw = h.get("coordinate system string")
    if not raw:
        return None
    wkt = ",".join(raw) if isinstance(raw, list) else str(raw).strip("{} ")
    try:
        import pyproj

        pyproj.CRS.from_wkt(wkt)  # checked quietly first: GDAL prints its own "ERROR 1" line on bad WKT
        return CRS.from_wkt(wkt)
    except (CRSError, pyproj.exceptions.CRSError):
        warnings.warn(f"{header}: unreadable 'coordinate system string'; using 'map info'", HSIWarning, stacklevel=3)
        return None


def warn_if_crs_disagree(map_info_crs: Any, wkt: Any, header: Path) -> None:
    """One :class:`~hsi_app.errors.HSIWarning` when the CRS that ``map info`` names (UTM zone and hemisphere,
    Lat/Lon datum) is another than the header's ``coordinate system string``, which is used (as GDAL does):
    a header edited by hand, or a scene reprojected without updating one of them, may sit in the wrong place.
    CRSs that differ only in their units (a WKT in km against map info's metric EPSG CRS) agree
    (:func:`same_but_units`).

    Args:
        map_info_crs: the CRS of ``map info`` (:func:`parse_map_info`), ``None`` when it names none.
        wkt: the CRS of the ``coordinate system string`` (:func:`wkt_crs`).
        header: the header, named in the warning.
    """
    if map_info_crs is None or wkt is None or map_info_crs == wkt:
        return
    code, wkt_code = map_info_crs.to_epsg(), wkt.to_epsg(confidence_threshold=70)
    if code is not None and code == wkt_code:
        return
    if same_but_units(map_info_crs, wkt):  # a WKT in km or feet has no EPSG code
        return
    name = f"EPSG:{wkt_code}" if wkt_code is not None else repr(wkt.to_wkt().split('"')[1])
    warnings.warn(f"{header}: 'map info' names EPSG:{code} but the 'coordinate system string' is {name}; using the "
                  "coordinate system string (as GDAL does); check where the scene lies and fix the one that is wrong",
                  HSIWarning, stacklevel=3)


def in_wkt_units(map_info: list[str], transform: Any, wkt: Any, header: Path) -> Any:
    """``transform`` (``map info``'s numbers as written) in the units of the header's ``coordinate system string``
    CRS ``wkt``, where ``map info``'s ``units=`` names other units.

    GDAL reads the grid in ``map info``'s units (it gives the WKT's CRS those units), so a grid in ``Feet`` under a
    WKT in metres is converted from feet to metres here, with one :class:`~hsi_app.errors.HSIWarning` naming the
    header and both units: one of the two is likely wrong. Unchanged when ``map info`` gives no ``units=``, the WKT's,
    or units missing from ``_METRES_PER_UNIT`` (``_DEGREES_PER_UNIT`` for a Lat/Lon WKT); GDAL keeps the WKT's
    units then too (US Feet aside: see ``_METRES_PER_UNIT``).

    Args:
        map_info: the header's ``map info`` list.
        transform: its affine transform (:func:`parse_map_info` with ``own_units=False``).
        wkt: the CRS of the ``coordinate system string`` (:func:`wkt_crs`).
        header: the header, named in the warning.
    """
    import pyproj
    from rasterio.transform import Affine

    opts = {k.strip().lower(): v.strip() for k, _, v in (str(v).partition("=") for v in map_info[7:] if "=" in str(v))}
    units = opts.get("units", "")
    try:
        c = pyproj.CRS.from_user_input(wkt.to_wkt())
        axis = c.axis_info[0]
    except (pyproj.exceptions.CRSError, IndexError):
        return transform
    if c.is_projected:
        per_unit, wkt_per_unit = _METRES_PER_UNIT.get(alnum_key(units)), axis.unit_conversion_factor
    elif c.is_geographic:
        per_unit, wkt_per_unit = _DEGREES_PER_UNIT.get(alnum_key(units)), math.degrees(axis.unit_conversion_factor)
    else:
        return transform
    if per_unit is None or math.isclose(per_unit, wkt_per_unit, rel_tol=1e-9):
        return transform
    warnings.warn(f"{header}: 'map info' gives units={units} but the 'coordinate system string' is in "
                  f"{axis.unit_name}; the grid is read in {units} (as GDAL reads it) and converted to {axis.unit_name}; "
                  "check where the scene lies and fix the one that is wrong", HSIWarning, stacklevel=3)
    return Affine.scale(per_unit / wkt_per_unit) @ transform


def axes_in_metres_or_degrees(crs: Any) -> Any:
    """``crs`` as a ``pyproj.CRS`` whose axes are in metres (a projected CRS) or degrees (a geographic one), all else
    kept (the projection's parameters keep their own units); ``None`` for another kind of CRS (compound, bound...)."""
    import pyproj

    try:
        c = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
        d = c.to_json_dict()
        unit = "metre" if c.is_projected else "degree" if c.is_geographic else None
        axes = d.get("coordinate_system", {}).get("axis") if unit else None
        if not axes:
            return None
        for axis in axes:
            axis["unit"] = unit
        return pyproj.CRS.from_json_dict(d)
    except (pyproj.exceptions.CRSError, AttributeError, TypeError, ValueError):
        return None


def same_but_units(a: Any, b: Any) -> bool:
    """Whether two CRSs (rasterio or pyproj) are the same but for the units of their axes: UTM zone 33N in km and
    EPSG:32633, whose numbers then differ by the units' ratio, name the same place."""
    na, nb = axes_in_metres_or_degrees(a), axes_in_metres_or_degrees(b)
    return na is not None and nb is not None and na.equals(nb, ignore_axis_order=True)


def projection_info_crs(data: Path, header: Path, projection: str) -> Any:
    """The CRS GDAL's ENVI driver builds from the header's ``projection info`` (Albers, Lambert conformal conic...:
    what older ENVI headers and USGS products carry instead of a WKT), or ``None`` with a warning.

    Args:
        data: the ENVI data file (GDAL finds the header beside it).
        header: the header, named in the warning.
        projection: the ``map info`` projection name, named in the warning.
    """
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(data, driver="ENVI") as ds:  # the ENVI driver only
            crs = ds.crs
    except RasterioError:
        crs = None
    if crs is not None and not (crs.is_projected or crs.is_geographic):  # GDAL's LOCAL_CS for what it cannot read
        crs = None
    if crs is None:
        warnings.warn(
            f"{header}: map info projection {projection!r} and its 'projection info' are not recognised; outputs "
            "keep its map grid without a CRS; add a 'coordinate system string' (WKT) to the header to get one",
            HSIWarning,
            stacklevel=3,
        )
    return crs
