"""Wavelength units of band centres and widths, one rule for every reader.

ENVI headers say ``wavelength units = Micrometers`` (or ``Nanometers``, ``Unknown``,
``Index``...); GDAL copies that text into a GeoTIFF's ``wavelength_units`` tag, and band
descriptions carry their own ``nm``/``µm``. :func:`nm_factor` turns any of them into the
factor to nanometres:

* micrometre spellings give 1000, nanometre spellings 1;
* no units (or ``Unknown``) guess from the values: all below 30 are micrometres;
* a unit that is not a length (``Index``, ``GHz``) gives ``None``: wavelengths unknown;
* a label contradicted by the values (µm values above 100, nm values all below 30) is
  overruled with a warning naming the file, so a mislabelled header still reads right;
* values that cannot be band centres, whatever the unit, give ``None`` (wavelengths unknown)
  with a warning: band numbers written where the centres belong (``1, 2, ..., N`` or
  ``0, 1, ..., N-1``), or centres below 200 nm, where no optical band lies.
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
MIN_OPTICAL_NM = 200.0
"""Band centres below this (in nm) are not those of an optical sensor (ultraviolet sensors start near 250 nm)."""
MIN_VALUES_TO_JUDGE = 3
"""Fewer centres than this are too few to tell band numbers from wavelengths."""


def not_wavelengths(values: np.ndarray, units: str | None) -> str | None:
    """Why ``values`` (a file's band centres, in ``units``) cannot be wavelengths, or ``None`` when they may be.

    Band numbers (consecutive whole numbers from 0 or 1) and centres below :data:`MIN_OPTICAL_NM`
    once in nm are refused; a unit that is not a length is :func:`nm_factor`'s business.

    Args:
        values: ``(C,)`` band centres as written (NaN allowed).
        units: the file's unit text, any case; ``None`` when absent.
    """
    vals = np.asarray(values, dtype=np.float64)
    finite = vals[np.isfinite(vals)]
    if finite.size < MIN_VALUES_TO_JUDGE:
        return None
    if np.all(finite == np.round(finite)) and finite[0] in (0.0, 1.0) and np.all(np.diff(finite) == 1.0):
        return f"values {finite[0]:g}, {finite[1]:g}, ..., {finite[-1]:g} are band numbers, not band centres"
    factor = _length_factor(finite, units)
    if factor is not None and finite.max() * factor < MIN_OPTICAL_NM:
        return (f"values {finite.min():g}-{finite.max():g} read as {finite.min() * factor:g}-{finite.max() * factor:g} nm, "
                f"below {MIN_OPTICAL_NM:g} nm where no optical band lies: not band centres")
    return None


def nm_factor(values: np.ndarray, units: str | None, source: str = "") -> float | None:
    """Factor turning ``values`` (wavelengths in ``units``) into nanometres, or ``None``.

    Args:
        values: ``(C,)`` band centres as written (NaN allowed).
        units: the file's unit text, any case; ``None`` when absent.
        source: the file, named in the warning about a mislabelled unit.

    Returns:
        1000.0 for micrometres, 1.0 for nanometres, ``None`` when ``units`` is not a length or
        the values are not band centres (:func:`not_wavelengths`, with a warning naming ``source``).
    """
    if not is_length_unit(units):
        return None
    reason = not_wavelengths(values, units)
    if reason is not None:
        where = f"{source}: " if source else ""
        warnings.warn(f"{where}wavelength {reason}; wavelengths unknown (write the band centres and their "
                      "'wavelength units' into the file)", HSIWarning, stacklevel=3)
        return None
    return _length_factor(values, units, source)


def is_length_unit(units: str | None) -> bool:
    """Whether ``units`` names a length or nothing (``Unknown``, absent): what :func:`nm_factor` can convert."""
    unit = (units or "").strip().lower()
    return unit in UNKNOWN or unit in LENGTH_UNITS


def _length_factor(values: np.ndarray, units: str | None, source: str | None = None) -> float | None:
    """:func:`nm_factor` without the band-centre check; ``source=None`` leaves a mislabelled unit unwarned."""
    unit = (units or "").strip().lower()
    vals = np.asarray(values, dtype=np.float64)
    finite = vals[np.isfinite(vals)]
    if unit in UNKNOWN:
        return 1000.0 if finite.size and finite.max() < MAX_MICROMETRES else 1.0
    if unit in MICROMETRES:
        if finite.size and finite.min() > MIN_NANOMETRES_IF_MICRO_LABEL:
            if source is not None:
                _warn_mislabelled(source, units, finite, "nanometres", "nm")
            return 1.0
        return 1000.0
    if unit in NANOMETRES:
        if finite.size and finite.max() < MAX_MICROMETRES:
            if source is not None:
                _warn_mislabelled(source, units, finite, "micrometres", "µm")
            return 1000.0
        return 1.0
    return None


def nm_factor_or_warn(values: np.ndarray, units: str | None, source: str) -> float | None:
    """:func:`nm_factor`, with one :class:`~hsi_app.errors.HSIWarning` naming ``source`` when ``units``
    is not a length (the wavelengths are then unknown)."""
    factor = nm_factor(values, units, source)
    if factor is None and not is_length_unit(units):
        warnings.warn(f"{source}: wavelength units {units!r} are not a length; wavelengths unknown",
                      HSIWarning, stacklevel=3)
    return factor


def _warn_mislabelled(source: str, units: str | None, finite: np.ndarray, looks: str, read: str) -> None:
    where = f"{source}: " if source else ""
    warnings.warn(
        f"{where}wavelength units {units!r} but values {finite.min():g}-{finite.max():g} look like {looks}; "
        f"reading them as {read} (fix the file's wavelength units)",
        HSIWarning,
        stacklevel=4,
    )
