"""Wavelength units of band centres and widths, one rule for every reader.

ENVI headers say ``wavelength units = Micrometers`` (or ``Nanometers``, ``Unknown``,
``Index``...); GDAL copies that text into a GeoTIFF's ``wavelength_units`` tag, and band
descriptions carry their own ``nm``/``µm``. :func:`nm_factor` turns any of them into the
factor to nanometres:

* micrometre spellings give 1000, nanometre spellings 1;
* no units (or ``Unknown``) guess from the values: all below 30 are micrometres;
* a unit that is not a length (``Index``, ``GHz``) gives ``None``: wavelengths unknown;
* a label contradicted by the values (µm values above 100, nm values all below 30) is
  overruled with a warning naming the file, so a mislabelled header still reads right.
"""

from __future__ import annotations

import warnings

import numpy as np

from hsi_app.errors import HSIWarning

MICROMETRES = frozenset({"micrometers", "micrometer", "micrometres", "micrometre", "microns", "micron", "um",
                         "\u00b5m", "\u03bcm"})  # the micro sign and the Greek mu both spell µm
NANOMETRES = frozenset({"nanometers", "nanometer", "nanometres", "nanometre", "nm"})
LENGTH_UNITS = MICROMETRES | NANOMETRES
"""Every spelling of a wavelength unit that is read (e.g. to tell a wavelength column by its name)."""
UNKNOWN = frozenset({"", "unknown", "none", "n/a"})
MAX_MICROMETRES = 30.0
"""Optical and thermal band centres in µm are below this; in nm they are far above it."""
MIN_NANOMETRES_IF_MICRO_LABEL = 100.0
"""µm-labelled values above this are nanometres (no sensor band lies beyond 100 µm)."""


def nm_factor(values: np.ndarray, units: str | None, source: str = "") -> float | None:
    """Factor turning ``values`` (wavelengths in ``units``) into nanometres, or ``None``.

    Args:
        values: ``(C,)`` band centres as written (NaN allowed).
        units: the file's unit text, any case; ``None`` when absent.
        source: the file, named in the warning about a mislabelled unit.

    Returns:
        1000.0 for micrometres, 1.0 for nanometres, ``None`` when ``units`` is not a length.
    """
    unit = (units or "").strip().lower()
    vals = np.asarray(values, dtype=np.float64)
    finite = vals[np.isfinite(vals)]
    if unit in UNKNOWN:
        return 1000.0 if finite.size and finite.max() < MAX_MICROMETRES else 1.0
    if unit in MICROMETRES:
        if finite.size and finite.min() > MIN_NANOMETRES_IF_MICRO_LABEL:
            _warn_mislabelled(source, units, finite, "nanometres", "nm")
            return 1.0
        return 1000.0
    if unit in NANOMETRES:
        if finite.size and finite.max() < MAX_MICROMETRES:
            _warn_mislabelled(source, units, finite, "micrometres", "µm")
            return 1000.0
        return 1.0
    return None


def nm_factor_or_warn(values: np.ndarray, units: str | None, source: str) -> float | None:
    """:func:`nm_factor`, with one :class:`~hsi_app.errors.HSIWarning` naming ``source`` when ``units``
    is not a length (the wavelengths are then unknown)."""
    factor = nm_factor(values, units, source)
    if factor is None:
        warnings.warn(f"{source}: wavelength units {units!r} are not a length; wavelengths unknown",
                      HSIWarning, stacklevel=3)
    return factor


def _warn_mislabelled(source: str, units: str | None, finite: np.ndarray, looks: str, read: str) -> None:
    where = f"{source}: " if source else ""
    warnings.warn(
        f"{where}wavelength units {units!r} but values {finite.min():g}-{finite.max():g} look like {looks}; "
        f"reading them as {read} (fix the file's wavelength units)",
        HSIWarning,
        stacklevel=3,
    )
