"""Seeded writer of a small AVIRIS-like ENVI reflectance image (header + raw binary).

It mirrors what AVIRIS/HyMap deliveries and ENVI exports look like: an ASCII ``.hdr``
starting with ``ENVI`` with ``{...}`` lists spread over lines, int16 reflectance x 10000
(``reflectance scale factor = 10000``), ``data ignore value = -9999``, a ``bbl`` that
flags the water-vapour bands, ``band names``, wavelengths in micrometres or nanometres,
and ``map info`` in UTM (optionally with a ``coordinate system string``). The binary is
written with numpy in BSQ, BIL or BIP order, either byte order, after an optional header
offset, independently of the reader under test.

Usage: ``hdr = make(tmp_path, interleave="bil")``; ``truth(seed)`` gives the values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

BANDS, LINES, SAMPLES = 50, 24, 20
SCALE = 10000.0
NODATA = -9999
WATER_NM = ((1340.0, 1450.0), (1800.0, 1960.0))
UTM = {"zone": 11, "x": 620430.0, "y": 4183260.0, "pixel": 15.0}
CORNER = 5
"""Pixels with ``row + col < CORNER`` are no-data in every band (swath edge)."""
SINGLE = (7, 20, 15)
"""``(band, row, col)`` with no-data in one good band only."""
LAEA_WKT_EPSG = 3035


@dataclass(frozen=True)
class Truth:
    """What :func:`make` writes: ``raw`` ``(C, H, W)`` int16 and per-band values in nm."""

    raw: np.ndarray
    wavelength_nm: np.ndarray
    fwhm_nm: np.ndarray
    bbl: np.ndarray  # (C,) int, 0 = bad


def truth(seed: int = 0, lines: int = LINES, samples: int = SAMPLES) -> Truth:
    """The image and band table written for ``seed``.

    Bands: a 50-band subset of an AVIRIS-like 224-band grid (~366-2496 nm, ~9.6 nm
    spacing, FWHM ~9-12 nm), jittered per seed.
    """
    rng = np.random.default_rng(seed)
    full = 366.0 + 9.6 * np.arange(224) + rng.normal(0.0, 0.2)
    pick = np.linspace(4, 219, BANDS).round().astype(int)
    wl = np.round(full[pick] + rng.normal(0.0, 0.05, BANDS), 2)
    fw = np.round(np.linspace(9.2, 11.8, BANDS) + rng.normal(0.0, 0.05, BANDS), 2)
    bbl = np.ones(BANDS, dtype=int)
    for lo, hi in WATER_NM:
        bbl[(wl >= lo) & (wl <= hi)] = 0

    yy, xx = np.mgrid[0:lines, 0:samples].astype(np.float64)
    veg = np.clip(0.5 + 0.5 * np.sin(xx / 4.0 + rng.uniform(0, 6)) * np.cos(yy / 5.0), 0, 1)
    red_edge = 1.0 / (1.0 + np.exp(-(wl - 715.0) / 15.0))
    water = 1.0 - 0.5 * np.exp(-(((wl - 1450.0) / 80.0) ** 2)) - 0.6 * np.exp(-(((wl - 1940.0) / 90.0) ** 2))
    veg_spec = (0.04 + 0.40 * red_edge) * water
    soil_spec = 0.10 + 0.22 * (wl - 400.0) / 2100.0
    refl = veg[None] * veg_spec[:, None, None] + (1 - veg[None]) * soil_spec[:, None, None]
    refl = refl + rng.normal(0.0, 0.004, refl.shape)
    raw = np.clip(np.round(refl * SCALE), 0, 10000).astype(np.int16)
    raw[:, (yy + xx) < CORNER] = NODATA
    b, r, c = SINGLE
    raw[b, r, c] = NODATA
    return Truth(raw, wl, fw, bbl)


def _block(values: list[str], per_line: int = 6) -> str:
    lines = [", ".join(values[i : i + per_line]) for i in range(0, len(values), per_line)]
    return "{\n " + ",\n ".join(lines) + "}"


def _laea_wkt() -> str:
    from rasterio.crs import CRS

    return CRS.from_epsg(LAEA_WKT_EPSG).to_wkt(version="WKT1_ESRI")


def header_text(
    t: Truth,
    *,
    interleave: str,
    units: str,
    byte_order: int,
    header_offset: int,
    georef: str,
    lines: int,
    samples: int,
) -> str:
    """The ``.hdr`` text (see :func:`make` for the options)."""
    um = units == "um"
    wl = t.wavelength_nm / 1000.0 if um else t.wavelength_nm
    fw = t.fwhm_nm / 1000.0 if um else t.fwhm_nm
    fmt = "{:.6f}" if um else "{:.2f}"
    unit_name = "Micrometers" if um else "Nanometers"
    out = [
        "ENVI",
        "description = {",
        "  AVIRIS-like reflectance subset, synthetic (tests/data/envi/make.py)}",
        f"samples = {samples}",
        f"lines   = {lines}",
        f"bands   = {BANDS}",
        f"header offset = {header_offset}",
        "file type = ENVI Standard",
        "data type = 2",
        f"interleave = {interleave}",
        "sensor type = AVIRIS",
        f"byte order = {byte_order}",
    ]
    if georef == "utm":
        out.append(
            f"map info = {{UTM, 1.000, 1.000, {UTM['x']:.3f}, {UTM['y']:.3f}, {UTM['pixel']:.7e}, "
            f"{UTM['pixel']:.7e}, {UTM['zone']}, North, WGS-84, units=Meters}}"
        )
    elif georef == "utm_south":  # reference pixel at the centre of pixel (row 4, col 2), 0-based
        out.append(
            "map info = {UTM, 3.500, 5.500, 300045.000, 7400075.000, 30.0, 30.0, 23, South, "
            "WGS-84, units=Meters}"
        )
    elif georef == "geographic":
        out.append(
            "map info = {Geographic Lat/Lon, 1.0000, 1.0000, -117.25000000, 34.10000000, "
            "1.3500000000e-04, 1.3500000000e-04, WGS-84, units=Degrees}"
        )
    elif georef == "wkt":
        out.append(
            "map info = {Lambert Azimuthal Equal Area, 1.000, 1.000, 4321000.000, 3210000.000, "
            "30.0, 30.0, WGS-84, units=Meters}"
        )
        out.append(f"coordinate system string = {{{_laea_wkt()}}}")
    elif georef != "none":
        raise ValueError(f"unknown georef {georef!r}")
    out += [
        f"wavelength units = {unit_name}",
        f"reflectance scale factor = {SCALE:.6f}",
        f"data ignore value = {NODATA}",
        "band names = " + _block([f"Band {i + 1} ({fmt.format(w)} {units})" for i, w in enumerate(wl)], 4),
        "wavelength = " + _block([fmt.format(v) for v in wl]),
        "fwhm = " + _block([fmt.format(v) for v in fw]),
        "bbl = " + _block([str(v) for v in t.bbl], 10),
    ]
    return "\n".join(out) + "\n"


def make(
    root: Path,
    *,
    interleave: str = "bsq",
    seed: int = 0,
    units: str = "um",
    byte_order: int = 0,
    header_offset: int = 0,
    georef: str = "utm",
    data_ext: str = ".img",
    name: str = "f180601t01p00r06_sc01_refl",
    lines: int = LINES,
    samples: int = SAMPLES,
) -> Path:
    """Write ``<name><data_ext>`` and ``<name>.hdr`` under ``root``; return the header path.

    Args:
        interleave: ``"bsq"``, ``"bil"`` or ``"bip"``.
        units: ``"um"`` (Micrometers) or ``"nm"`` (Nanometers) for wavelength/fwhm.
        byte_order: 0 little-endian, 1 big-endian.
        header_offset: bytes of (zero) embedded header before the data.
        georef: ``"utm"``, ``"utm_south"``, ``"geographic"``, ``"wkt"`` (LAEA with a
            coordinate system string) or ``"none"``.
        data_ext: data file extension (``""`` for a bare name, ``".img"``, ``".dat"``...).
    """
    t = truth(seed, lines, samples)
    order = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}[interleave]
    dtype = np.dtype("<i2" if byte_order == 0 else ">i2")
    body = np.ascontiguousarray(t.raw.transpose(order)).astype(dtype)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    data = root / f"{name}{data_ext}"
    with open(data, "wb") as fh:
        fh.write(b"\0" * header_offset)
        fh.write(body.tobytes())
    hdr = root / f"{name}.hdr"
    hdr.write_text(
        header_text(
            t,
            interleave=interleave,
            units=units,
            byte_order=byte_order,
            header_offset=header_offset,
            georef=georef,
            lines=lines,
            samples=samples,
        )
    )
    return hdr
