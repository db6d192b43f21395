"""The ENVI header ENVI writes beside a TIFF (``x.hdr`` with ``file type = TIFF``).

ENVI keeps there what a TIFF cannot hold: band centres and widths (``wavelength``, ``fwhm``,
``wavelength units``), the bad-band list ``bbl``, ``data ignore value``, and the units of the values
(``data gain values``/``data offset values``, ``reflectance scale factor``: FLAASH and QUAC output
keep theirs only there). GDAL's GTiff driver does not read it; :func:`read_sidecar` does, for
:func:`~hsi_app.io.geotiff.read_geotiff`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import HSIWarning
from hsi_app.io.envi import find_header, gain_offset, header_floats, is_tiff_header, parse_header
from hsi_app.io.wavelength_units import nm_factor_or_warn


@dataclass(frozen=True)
class TiffSidecar:
    """What a ``file type = TIFF`` header says about the TIFF beside it.

    Attributes:
        header: the header file.
        wavelength: ``(C,)`` band centres in nm, or ``None`` (absent, or units not a length).
        fwhm: ``(C,)`` band widths in nm, or ``None``.
        bad: ``(C,)`` bool, ``bbl == 0``.
        nodata: ``data ignore value``, or ``None``.
        scale, offset: ``(C,)`` float64 each, such that ``raw * scale + offset`` are the values
            :func:`~hsi_app.io.envi.read_envi` gives with this header (``raw * gain + offset`` divided by
            ``reflectance scale factor``), or both ``None`` when the header changes no value.
    """

    header: Path
    wavelength: np.ndarray | None
    fwhm: np.ndarray | None
    bad: np.ndarray
    nodata: float | None
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None


def _scaling(h: dict[str, Any], c: int, header: Path) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """``(scale, offset)`` of :class:`TiffSidecar`: the header's gain/offset, then its reflectance scale factor,
    as :func:`~hsi_app.io.envi.read_envi` applies them (a factor of 0 is none, as there)."""
    gain, shift = gain_offset(h, c, header)
    given = header_floats(h, "reflectance scale factor", 1, header)
    factor = float(given[0]) if given is not None and given[0] else 1.0
    if gain is None and factor == 1.0:
        return None, None
    gain = np.ones(c) if gain is None else gain
    shift = np.zeros(c) if shift is None else shift
    return gain / factor, shift / factor


def _parse(header: Path) -> dict[str, Any] | None:
    from spectral.io import envi

    try:
        return parse_header(header)
    except (envi.EnviException, OSError):
        return None


def read_sidecar(tiff: Path, shape: tuple[int, int, int]) -> TiffSidecar | None:
    """The ``file type = TIFF`` header beside ``tiff`` (``x.hdr``/``x.tif.hdr``), or ``None`` when there is none.

    A header whose ``bands``/``lines``/``samples`` differ from the TIFF's ``shape`` ``(C, H, W)``
    belongs to another image: it is ignored with a warning naming both.
    """
    header = find_header(tiff)
    if header is None or header == tiff or not is_tiff_header(header):
        return None
    h = _parse(header)
    if h is None:
        return None
    c, rows, cols = shape
    said = tuple(str(h.get(k, "")).strip() for k in ("bands", "lines", "samples"))
    if any(v and v != str(n) for v, n in zip(said, shape, strict=True)):
        warnings.warn(
            f"{header}: describes {' x '.join(v or '?' for v in said)} (bands x lines x samples) but {tiff.name} is "
            f"{c} x {rows} x {cols}; its wavelengths and bad bands are ignored (fix or remove the .hdr)",
            HSIWarning,
            stacklevel=3,
        )
        return None
    wl = header_floats(h, "wavelength", c, header)
    fw = header_floats(h, "fwhm", c, header)
    factor = nm_factor_or_warn(wl, h.get("wavelength units"), str(header)) if wl is not None else None
    bbl = header_floats(h, "bbl", c, header)
    ignore = header_floats(h, "data ignore value", 1, header)
    scale, offset = _scaling(h, c, header)
    return TiffSidecar(
        header=header,
        wavelength=None if wl is None or factor is None else wl * factor,
        fwhm=None if fw is None or factor is None else fw * factor,  # the centres' unit
        bad=np.zeros(c, dtype=bool) if bbl is None else bbl == 0,
        nodata=None if ignore is None else float(ignore[0]),
        scale=scale,
        offset=offset,
    )
