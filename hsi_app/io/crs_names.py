"""Short readable names of a rasterio CRS and of its unit, shared by ``hsi info`` and the viewer.

``"EPSG:32633"`` or the CRS's own name (``"WGS 84 / UTM zone 33N"``, ``"Transverse Mercator"`` for an unnamed one
from PROJ text) rather than its whole WKT, and ``"m"``, ``"ft"``, ``"US ft"``, ``"degrees"`` or ``"map units"`` for
its unit.
"""

from __future__ import annotations

import re
from typing import Any

LINEAR_UNITS = {"metre": "m", "meter": "m", "m": "m", "foot": "ft", "ft": "ft", "international foot": "ft",
                "us survey foot": "US ft", "foot_us": "US ft", "us-ft": "US ft"}
"""Short names of the linear units a projected CRS states (PROJ/GDAL spellings, lower case)."""

_CODE = re.compile(r"[A-Za-z][\w.-]*:[\w.-]+")  # EPSG:32633, ESRI:102003, OGC:CRS84, IAU_2015:30100


def is_crs_code(text: str) -> bool:
    """Whether ``text`` (a rasterio ``crs.to_string()``) is an authority code such as ``"EPSG:32633"``; a CRS
    without one is given as its WKT."""
    return bool(_CODE.fullmatch(text.strip()))


def crs_code(crs: Any) -> str | None:
    """The authority code rasterio names ``crs`` by (``"EPSG:32633"``, ``"ESRI:102003"``), or None when it has
    none (no CRS, or a custom one)."""
    if crs is None:
        return None
    text = crs.to_string()
    return text if is_crs_code(text) else None


def linear_unit(crs: Any) -> str | None:
    """The short name of a projected rasterio ``crs``'s linear unit: ``"m"``, ``"ft"`` (international foot,
    e.g. EPSG:2222), ``"US ft"`` (US survey foot, e.g. EPSG:2263); ``None`` for a geographic CRS, no CRS, or a
    unit not in :data:`LINEAR_UNITS` (the caller then says "map units")."""
    if crs is None or crs.is_geographic:
        return None
    try:
        name = str(crs.linear_units or "")
    except Exception:  # noqa: BLE001 - a CRS GDAL cannot describe: its unit is unknown
        return None
    return LINEAR_UNITS.get(name.strip().lower())


ANGULAR_UNITS = {"degree": "degrees", "grad": "grads", "gon": "grads", "radian": "radians"}
"""Plural names of the angular units a geographic CRS states (PROJ spellings, lower case)."""


def resolution_unit(crs: Any) -> str:
    """The unit of a grid's pixel sides in ``crs``: its angular unit for a geographic CRS (``"degrees"``, or
    ``"grads"`` for NTF Paris, EPSG:4807), :func:`linear_unit`'s name, or ``"map units"`` (no CRS, or a unit it
    does not name)."""
    if crs is not None and crs.is_geographic:
        try:
            from pyproj import CRS

            unit = str(CRS.from_wkt(crs.to_wkt()).axis_info[0].unit_name).lower()
        except Exception:  # noqa: BLE001 - no pyproj, or a CRS it cannot parse: the common case
            return "degrees"
        return ANGULAR_UNITS.get(unit, unit or "degrees")
    return linear_unit(crs) or "map units"


def _parsed_names(crs: Any) -> tuple[str, str] | None:
    """``(name, projection method)`` of ``crs`` as pyproj reads it (``""`` where unknown); None without pyproj or
    for a CRS it cannot parse."""
    try:
        from pyproj import CRS

        parsed = CRS.from_user_input(crs.to_wkt())
    except Exception:  # noqa: BLE001 - no pyproj, or a CRS it cannot parse
        return None
    name = str(parsed.name or "")
    op = parsed.coordinate_operation
    return ("" if name.lower() == "unknown" else name), str(op.method_name or "") if op is not None else ""


def crs_name(crs: Any) -> str | None:
    """A readable name of a rasterio ``crs``: ``"WGS 84 / UTM zone 33N"``; for one without a name, its projection
    method (``"Transverse Mercator"``); None when unknown (no CRS, no pyproj, or a CRS it cannot parse)."""
    names = _parsed_names(crs) if crs is not None else None
    if names is None:
        return None
    return names[0] or names[1] or None


def crs_label(crs: Any) -> str:
    """A short name of a rasterio ``crs`` for an axis: its code (:func:`crs_code`, ``"EPSG:32616"``), or the CRS's
    own name when it has none (``"WGS 84 / custom TM"``; ``"Transverse Mercator, no EPSG code"`` for an unnamed one
    from PROJ text), not its whole WKT."""
    code = crs_code(crs)
    if code is not None:
        return code
    names = _parsed_names(crs)
    if names is None:
        text = crs.to_string()
        return text if len(text) <= 60 else text[:57] + "..."
    name, method = names
    return name or f"{method or 'custom CRS'}, no EPSG code"
