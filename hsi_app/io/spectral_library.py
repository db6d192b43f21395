"""Spectral libraries (target spectra): CSV tables and ENVI ``.sli`` files.

A library is a set of named reflectance spectra sampled at its own wavelengths. It is
brought to a cube's bands with the Gaussian spectral responses of
:mod:`hsi_app.data.resample`.

Accepted files:

* **CSV**: one wavelength column and one column per material, header row with names.
  The wavelength column is the first whose name says wavelength (starts with
  ``wave``/``wl``/``lambda``/``nm``, or carries a unit such as ``(nm)``/``(um)``); failing
  that, a column named ``band`` whose values look like wavelengths; failing that, the first
  column. A band-number column (named ``band``/``index``/``id``/``channel``..., or pandas'
  ``Unnamed: 0``, holding distinct whole numbers) is never a material. Wavelengths below
  30 are taken as micrometres and converted to nm. Reflectance is expected in 0..1; a table
  whose largest material value exceeds 1.5 is taken as percent and divided by 100.
* **ENVI spectral library** (``x.sli`` + ``x.hdr`` or ``x.sli.hdr``, or the header), read by
  Spectral Python; wavelength units come from the header (``wavelength units``).

Missing values: NaN, empty cells, values of 1e30 and more in magnitude (USGS's ``-1.23e34``
marks deleted channels in splib07, in its ENVI, ASCII and CSV forms) and a ``.sli`` header's
``data ignore value``. A channel where any spectrum is missing is left out of the library, with
one warning when fill values were the cause; the percent / x 10000 guess looks only at the
values that are left.

Reflectance in a library is unitless; cubes are often stored as scaled integers
(Indian Pines: about 1000-9600). :func:`reflectance_scale` guesses the factor that maps
library reflectance onto a cube's values (1 for reflectance cubes, a power of ten for
scaled ones); pass an explicit scale when the guess is wrong.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi_app.errors import BandMismatchError, DatasetNotFoundError, HSIWarning, InvalidDataError
from hsi_app.io.cube import alnum_key
from hsi_app.io.wavelength_units import LENGTH_UNITS, is_length_unit, nm_factor, not_wavelengths

WAVE_PREFIXES = ("wave", "wl", "lambda", "nm", "λ")
"""Column names starting with these say wavelength."""
INDEX_NAMES = frozenset({"band", "bands", "bandno", "bandnum", "bandnumber", "bandid", "bandindex", "index", "idx",
                         "id", "no", "num", "number", "channel", "channelno", "channelnumber", "ch"})
"""Column names (lower case, letters and digits only) of band-number / row-index columns."""
BAND_NUMBERS_BELOW = 200.0
"""A ``band`` column of distinct whole numbers starting below this holds band numbers, not wavelengths in nm."""


@dataclass
class SpectralLibrary:
    """Named spectra at the library's own wavelengths.

    Attributes:
        names: ``K`` material names.
        wavelengths: ``(L,)`` float64 band centres in nm, increasing.
        spectra: ``(K, L)`` float64 reflectance (0..1).
        source: the file it was read from.
        stored_as: how the file's values were read, e.g. ``"percent"`` (they were divided by 100).
    """

    names: list[str]
    wavelengths: np.ndarray
    spectra: np.ndarray
    source: str = ""
    stored_as: str = "reflectance 0-1"

    def __len__(self) -> int:
        return len(self.names)

    def resample(self, wavelengths: np.ndarray, fwhm: np.ndarray | None = None) -> np.ndarray:
        """Spectra at a cube's bands: ``(K, C)`` float32 reflectance.

        Cube bands inside the library's range (within half a FWHM) are synthesised with
        Gaussian responses; bands beyond it get the nearest library value and a
        :class:`~hsi_app.errors.HSIWarning`.

        Args:
            wavelengths: ``(C,)`` cube band centres in nm.
            fwhm: ``(C,)`` cube band widths in nm (NaN/None: band spacing).

        Raises:
            BandMismatchError: unknown cube wavelengths, or no spectral overlap at all.
        """
        from hsi_app.data.resample import _fill_fwhm, resampling_matrix

        dst = np.asarray(wavelengths, dtype=np.float64)
        if dst.size == 0 or not np.isfinite(dst).all():
            raise BandMismatchError(
                f"{self.source}: the cube's band wavelengths are unknown; a library can only be matched "
                "to a cube whose file records its band wavelengths"
            )
        width = _fill_fwhm(dst, None if fwhm is None else np.asarray(fwhm, dtype=np.float64))
        lo, hi = float(self.wavelengths.min()), float(self.wavelengths.max())
        inside = self.covers(dst, fwhm)
        if not inside.any():
            raise BandMismatchError(
                f"{self.source}: no spectral overlap: the library covers {lo:.0f}-{hi:.0f} nm, the cube "
                f"{dst.min():.0f}-{dst.max():.0f} nm; use a library measured over the cube's bands"
            )
        out = np.empty((len(self.names), dst.size), dtype=np.float64)
        m = resampling_matrix(self.wavelengths, dst[inside], width[inside], min_coverage=0.5)
        out[:, inside] = self.spectra @ m.T
        if not inside.all():
            nearest = np.abs(self.wavelengths[None, :] - dst[~inside, None]).argmin(axis=1)
            out[:, ~inside] = self.spectra[:, nearest]
            warnings.warn(
                f"{self.source}: {int((~inside).sum())} cube bands lie outside the library's "
                f"{lo:.0f}-{hi:.0f} nm; they use the nearest library value",
                HSIWarning,
                stacklevel=2,
            )
        return out.astype(np.float32)

    def covers(self, wavelengths: np.ndarray, fwhm: np.ndarray | None = None) -> np.ndarray:
        """``(C,)`` bool: the cube bands inside the library's range (within half a FWHM), which
        :meth:`resample` synthesises; the others get the nearest library value.

        Args:
            wavelengths: ``(C,)`` finite cube band centres in nm.
            fwhm: ``(C,)`` cube band widths in nm (NaN/None: band spacing).
        """
        from hsi_app.data.resample import outside_range

        return ~outside_range(self.wavelengths, wavelengths, fwhm)

    def select(self, names: list[str] | None) -> SpectralLibrary:
        """A library with only ``names`` (all when ``None``), in that order.

        Raises:
            UnknownKeyError: a name is not in the library (close matches suggested).
        """
        if not names:
            return self
        from hsi_app.errors import UnknownKeyError, did_you_mean

        idx = []
        for n in names:
            if n not in self.names:
                hint = did_you_mean(n, self.names, f"materials: {', '.join(self.names)}")
                raise UnknownKeyError(f"{self.source}: no material {n!r}; {hint}")
            idx.append(self.names.index(n))
        return SpectralLibrary([self.names[i] for i in idx], self.wavelengths, self.spectra[idx], self.source,
                               self.stored_as)


def read_library(path: str | os.PathLike[str]) -> SpectralLibrary:
    """Read a CSV or ENVI ``.sli`` spectral library.

    Raises:
        DatasetNotFoundError: the file does not exist.
        InvalidDataError: no wavelength column, no spectra, non-numeric values.
    """
    p = Path(path)
    if not p.exists():
        raise DatasetNotFoundError(f"{p}: spectral library not found; pass a CSV or ENVI .sli file")
    if p.suffix.lower() in (".sli", ".hdr"):
        lib, ignored = _read_sli(p)
        return _tidy(lib, ignored)
    return _tidy(_read_csv(p))


def _read_csv(path: Path) -> SpectralLibrary:
    import pandas as pd

    try:
        df = pd.read_csv(path, comment="#")
    except Exception as err:  # pandas raises ParserError, UnicodeDecodeError, EmptyDataError...
        raise InvalidDataError(f"{path}: not a readable CSV table ({err}); save the library as CSV") from err
    if df.shape[1] < 2 or len(df) < 2:
        raise InvalidDataError(
            f"{path}: need a wavelength column and at least one spectrum column with 2+ rows; "
            f"found {df.shape[1]} columns and {len(df)} rows; pass a CSV library (header row, wavelength column, "
            "one column per material) or an ENVI .sli"
        )
    cols = [str(c) for c in df.columns]
    try:
        table = df.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise InvalidDataError(f"{path}: non-numeric values in the table ({err}); keep only numbers below the header") from err
    wi = _wavelength_column(path, cols, table)
    reason = not_wavelengths(table[:, wi], None)
    if reason is not None:
        raise InvalidDataError(f"{path}: column '{cols[wi]}' {reason}; add a 'wavelength_nm' column of band centres")
    keep = [i for i in range(len(cols)) if i != wi and not _is_index_column(cols[i], table[:, i])]
    if not keep:
        raise InvalidDataError(f"{path}: no material column besides '{cols[wi]}' and band numbers; add one column of "
                               "reflectance per material")
    return SpectralLibrary([cols[i].strip() for i in keep], table[:, wi], table[:, keep].T, str(path))


def _says_wavelength(name: str) -> bool:
    """True when a column name says wavelength: ``wavelength_nm``, ``WL``, ``lambda``, ``centre (nm)``..."""
    low = name.strip().lower()
    words = "".join(ch if ch.isalnum() else " " for ch in low).split()
    return low.startswith(WAVE_PREFIXES) or any(w in LENGTH_UNITS for w in words)  # e.g. ``centre (nm)``


def _is_counting(values: np.ndarray) -> bool:
    """True when the (non-NaN) values are distinct whole numbers, as band numbers are (1, 2, 3..., or with the
    bad bands left out: 1, 2, 5, 6...)."""
    v = np.sort(values[np.isfinite(values)])
    return v.size >= 2 and bool(np.all(v == np.round(v))) and bool(np.all(np.diff(v) >= 1.0))


def _is_index_column(name: str, values: np.ndarray) -> bool:
    """A band-number / row-index column: so named (or pandas' ``Unnamed: 0``) and distinct whole numbers."""
    key = alnum_key(name)
    named = key in INDEX_NAMES or key.startswith("unnamed")
    return named and not _says_wavelength(name) and _is_counting(values)


def _wavelength_column(path: Path, cols: list[str], table: np.ndarray) -> int:
    """Index of the wavelength column of a CSV library ``table`` ``(L, columns)``.

    A name that says wavelength wins; then a column named ``band`` whose values look like
    wavelengths (not band numbers 1, 2, 3...); then the first column unless it is an index.

    Raises:
        InvalidDataError: only band numbers where the wavelengths should be.
    """
    named = [i for i, c in enumerate(cols) if _says_wavelength(c)]
    if named:
        return named[0]
    for i, c in enumerate(cols):
        v = table[:, i]
        if alnum_key(c).startswith("band") and not (_is_counting(v) and np.nanmin(v) < BAND_NUMBERS_BELOW):
            return i
    if _is_index_column(cols[0], table[:, 0]):
        raise InvalidDataError(f"{path}: column '{cols[0]}' holds band numbers, not wavelengths, and no column is "
                               "named for wavelengths; add a 'wavelength_nm' column")
    return 0


def _read_sli(path: Path) -> tuple[SpectralLibrary, np.ndarray]:
    """The library of an ENVI ``.sli`` (values that are the header's ``data ignore value`` as NaN) and
    ``(K, L)`` bool: where those values were."""
    from spectral.io import envi

    from hsi_app.io.envi import find_header

    hdr = find_header(path)
    if hdr is None:
        raise DatasetNotFoundError(f"{path}: ENVI library header ({path.with_suffix('.hdr').name} or {path.name}.hdr) "
                                   "not found next to it; put the library's .hdr beside it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # SPy: upper-case keys lowered
            lib = envi.open(str(hdr), str(path) if path.suffix.lower() == ".sli" else None)
    except Exception as err:  # spectral raises EnviException / FileNotFoundError / ValueError
        from hsi_app.io.envi import spy_message

        raise InvalidDataError(f"{path}: not a readable ENVI spectral library ({spy_message(err)}); "
                               "export it again from ENVI or use a CSV library (wavelength column, one column per "
                               "material)") from err
    stored = np.asarray(getattr(lib, "spectra", None))
    if stored.ndim != 2:
        raise InvalidDataError(f"{path}: the ENVI file is an image, not a spectral library; pass a .sli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        header = envi.read_envi_header(str(hdr))  # as written: SPy's library object sets 'data ignore value' to NaN
    ignored = _ignored(stored, header.get("data ignore value"), hdr)
    spectra = np.where(ignored, np.nan, stored.astype(np.float64))
    centers = getattr(lib.bands, "centers", None)
    if not centers:
        raise InvalidDataError(f"{path}: the header has no 'wavelength' list; add it to {hdr.name}")
    wl = np.asarray(centers, dtype=np.float64)
    units = str(header.get("wavelength units", "") or "")  # SPy's band_unit says '<unspecified>' when absent
    reason = not_wavelengths(wl, units) if is_length_unit(units) else None
    if reason is not None:
        raise InvalidDataError(f"{hdr}: 'wavelength' {reason}; a library needs its band centres, write them "
                               "(and 'wavelength units') into the header")
    per_unit = nm_factor(wl, units, str(hdr))  # the rule of every reader: guessed, or a mislabel overruled
    if per_unit is None:
        raise InvalidDataError(f"{hdr}: wavelength units {units!r} are not a length; set 'wavelength units' to "
                               "Micrometers or Nanometers")
    wl = wl * per_unit
    names = [str(n) for n in (getattr(lib, "names", None) or [f"spectrum_{i + 1}" for i in range(len(spectra))])]
    factor = str(header.get("reflectance scale factor", "")).strip()
    try:
        scale = float(factor) if factor else 0.0
    except ValueError:
        raise InvalidDataError(f"{hdr}: 'reflectance scale factor = {factor}' is not a number; fix the header") from None
    if scale > 0:  # stored reflectance x scale (ENVI's convention, as for images)
        spectra = spectra / scale
        return SpectralLibrary(names, wl, spectra, str(path), f"reflectance x {scale:g} (header's scale factor)"), ignored
    return SpectralLibrary(names, wl, spectra, str(path)), ignored


def _ignored(stored: np.ndarray, value: object, hdr: Path) -> np.ndarray:
    """``stored``'s shape, bool: where the spectra hold the header's ``data ignore value``.

    Compared in the file's own type, so ``-1.23e34`` in the header matches the float32 value in
    the file (as a float64 it would not).

    Raises:
        InvalidDataError: the value is not a number.
    """
    text = str(value if value is not None else "").strip()
    if not text:
        return np.zeros(stored.shape, dtype=bool)
    try:
        number = float(text)
    except ValueError:
        raise InvalidDataError(f"{hdr}: 'data ignore value = {text}' is not a number; fix the header") from None
    if np.isnan(number):
        return np.isnan(stored) if stored.dtype.kind == "f" else np.zeros(stored.shape, dtype=bool)
    if stored.dtype.kind != "f":  # an integer library: only a whole number within its type can match
        info = np.iinfo(stored.dtype)
        if not (number.is_integer() and info.min <= number <= info.max):
            return np.zeros(stored.shape, dtype=bool)
    return stored == np.asarray(number).astype(stored.dtype)


FILL_MIN = 1e30
"""Values this large in magnitude are fill values, not reflectance (USGS splib07 writes -1.23e34 for
deleted channels); the scene readers use the same bound."""
PERCENT_MAX = 150.0
"""Largest value read as percent; larger values are reflectance x 10000."""


def _tidy(lib: SpectralLibrary, ignored: np.ndarray | None = None) -> SpectralLibrary:
    """Units to nm and 0..1, sorted wavelengths, rows with missing values dropped.

    Values of :data:`FILL_MIN` and more in magnitude are missing (USGS's deleted channels), and
    so is NaN (an empty cell) and ``ignored``, ``(K, L)`` bool: the values an ENVI header's
    ``data ignore value`` marks. Reflectance is then taken as 0..1
    when no value exceeds 1.5, as percent up to :data:`PERCENT_MAX`, and as reflectance x 10000
    above (ENVI libraries are first divided by their ``reflectance scale factor``).

    Raises:
        InvalidDataError: fewer than 2 channels where every spectrum has a value.
    """
    wl = np.asarray(lib.wavelengths, dtype=np.float64)
    sp = np.atleast_2d(np.asarray(lib.spectra, dtype=np.float64))
    fill = np.abs(sp) >= FILL_MIN
    if ignored is not None:
        fill |= ignored
    sp = np.where(fill, np.nan, sp)
    keep = np.isfinite(wl) & np.isfinite(sp).all(axis=0)
    if fill.any():
        _warn_fill(lib, fill, keep, header=ignored is not None and bool(ignored.any()))
    wl, sp = wl[keep], sp[:, keep]
    if wl.size < 2 or sp.shape[0] == 0:
        raise InvalidDataError(f"{lib.source}: fewer than 2 complete rows of wavelength and reflectance values"
                               f"{_missing_note(lib)}; every spectrum needs values at 2 or more "
                               "common wavelengths")
    wl = wl * (nm_factor(wl, None) or 1.0)  # no units in a CSV: micrometres when every centre is below 30
    top = float(np.nanmax(np.abs(sp)))
    stored_as = lib.stored_as
    then = "" if stored_as == SpectralLibrary.stored_as else f"{stored_as}, then "  # a header's factor stays named
    if top > PERCENT_MAX:  # integer reflectance x 10000, as sensors store it (EnMAP, AVIRIS products)
        sp, stored_as = sp / 10_000.0, f"{then}reflectance x 10000 (values above 150)"
    elif top > 1.5:  # percent
        sp, stored_as = sp / 100.0, f"{then}percent (values above 1.5)"
    order = np.argsort(wl)
    return SpectralLibrary(list(lib.names), wl[order], sp[:, order], lib.source, stored_as)


def _warn_fill(lib: SpectralLibrary, fill: np.ndarray, keep: np.ndarray, *, header: bool) -> None:
    """One warning: how many channels of which spectra held fill values (``header``: some were the ENVI
    header's ``data ignore value``), and that they are left out."""
    rows = np.flatnonzero(fill.any(axis=1))
    names = [lib.names[i] for i in rows[:5]] + (["..."] if rows.size > 5 else [])
    channels = int(fill.any(axis=0).sum())
    also = ", or the header's data ignore value" if header else ""
    warnings.warn(
        f"{lib.source}: {channels} channel{'s' if channels != 1 else ''} of {', '.join(names)} hold fill values "
        "(1e30 and more in magnitude, such as USGS's -1.23e34 for deleted channels"
        f"{also}); "
        f"left out of the library, {int(keep.sum())} of {keep.size} channels kept",
        HSIWarning,
        stacklevel=4,
    )


def _missing_note(lib: SpectralLibrary) -> str:
    """`` (spectra with missing values: a, b)`` for the error about too few complete rows, or ``""``."""
    sp = np.atleast_2d(np.asarray(lib.spectra, dtype=np.float64))
    gappy = (~np.isfinite(sp) | (np.abs(sp) >= FILL_MIN)).any(axis=1)
    gaps = [name for name, g in zip(lib.names, gappy, strict=False) if g]
    return f" (spectra with missing values: {', '.join(gaps[:5])}{', ...' if len(gaps) > 5 else ''})" if gaps else ""


def reflectance_scale(values: np.ndarray) -> float:
    """Factor mapping 0..1 reflectance onto a cube's values (a guess from their range).

    Args:
        values: any sample of the cube's values (NaN ignored).

    Returns:
        1.0 when the 99th percentile is at most 2 (reflectance), otherwise the power of
        ten just above it (10000 for Indian Pines' values of about 1000-9600).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    p99 = float(np.percentile(v, 99))
    if p99 <= 2.0:
        return 1.0
    return float(10.0 ** np.ceil(np.log10(p99)))


def write_library_csv(path: str | os.PathLike[str], lib: SpectralLibrary) -> None:
    """Write a library as CSV (``wavelength_nm`` then one column per material), atomically."""
    from hsi_app.io.atomic import atomic_path

    header = ",".join(["wavelength_nm", *lib.names])
    rows = np.column_stack([lib.wavelengths, lib.spectra.T])
    with atomic_path(path) as tmp:
        np.savetxt(tmp, rows, delimiter=",", header=header, comments="", fmt="%.6g")
