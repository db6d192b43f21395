"""Spectral libraries (target spectra): CSV tables and ENVI ``.sli`` files.

A library is a set of named reflectance spectra sampled at its own wavelengths. It is
brought to a cube's bands by integrating each band's Gaussian response over the piecewise-linear
spectrum (:mod:`hsi_app.data.spectrum_response`).

Accepted files:

* **CSV**: one wavelength column and one column per material, header row with names.
  The wavelength column is the first whose name says wavelength (starts with
  ``wave``/``wl``/``lambda``/``nm``, or carries a unit such as ``(nm)``/``(um)``); failing
  that, a column named ``band`` whose values look like wavelengths; failing that, the first
  column. A band-number column (named ``band``/``index``/``id``/``channel``..., or pandas'
  ``Unnamed: 0``, holding distinct whole numbers from 0 or 1) is never a material. Wavelengths below
  30 are taken as micrometres and converted to nm. A wavelength column whose name gives the unit of
  wavenumbers, cm^-1 (``wavenumber_cm-1``, ``wavenumber (cm^-1)``, ``1/cm``, ``cm⁻¹``), or that is named
  ``wavenumber`` (``wave number``, any case, with or without a unit), holds wavenumbers in cm^-1
  and is converted with ``nm = 1e7 / cm^-1`` (FTIR exports). Besides the wavelength column (the first named in a
  length unit before one in wavenumbers), x-columns are never materials: a column named for wavenumbers, which must
  agree with it within :data:`X_COLUMNS_AGREE` (1%) once in nm or the file is refused in one line naming the two
  columns; a width column (``fwhm``, ``fwhm_nm``, ``bandwidth``); and a column named for wavelengths whose values,
  in nm by the unit its name gives, agree with it (``wavelength_um`` beside ``wavelength_nm``). Any other column is a
  material, whatever its name holds (``Wavellite HS415.3B``, ``Quartz 125-500 um``, ``NM-soil-01``). Without a
  wavenumber name, values that only
  match the cube once read as wavenumbers (4000-25000 for 400-2500 nm) are refused as before, with a line
  saying they look like wavenumbers and how to convert or name the column (:meth:`SpectralLibrary.wavenumber_hint`). Reflectance is expected in 0..1; a table
  whose largest material value exceeds 1.5 is taken as percent and divided by 100. Columns may be
  separated by commas, semicolons or tabs (with semicolons or tabs, decimal commas when the data cells
  hold commas; :func:`hsi_app.io.csv_layout.csv_layout`). A first row of numbers only is data: the file has no header, its first column
  is the wavelengths and its materials are named ``material_1``.. (with a warning). A wavelength column that cannot
  be one (:func:`hsi_app.io.csv_layout.wavelength_problem`: band numbers, values starting below 100 nm once in nm,
  or, for a column taken only for being first, values that go up and down as a spectrum does) and spectra in rows
  under a header or first row of wavelengths (:func:`hsi_app.io.csv_layout.row_wavelengths`) are refused in one
  line naming the file, what was found and the expected layout.
* **ENVI spectral library** (``x.sli`` + ``x.hdr`` or ``x.sli.hdr``, or the header), read by
  Spectral Python; wavelength units come from the header (``wavelength units``; ``Wavenumber``, cm^-1, is
  converted with ``nm = 1e7 / cm^-1``).

Missing values: NaN, empty cells, values of 1e30 and more in magnitude (USGS's ``-1.23e34``
marks deleted channels in splib07, in its ENVI, ASCII and CSV forms), exactly -9999, -999 or
-99999 (in the file's own units) and a ``.sli`` header's ``data ignore value``. They stay NaN in
:attr:`SpectralLibrary.spectra`: each material keeps its own channels, is bridged linearly across
its gaps when resampled, and one warning counts the missing cells per material. The percent /
x 10000 guess looks only at the values that are left; any value then below -0.5 reflectance (-1 in
a 0..1 library; -1 in a percent library is -0.01 and kept) is an unknown marker and refuses the file
in one line naming the column.

Reflectance in a library is unitless; cubes are often stored as scaled integers
(Indian Pines: about 1000-9600). :func:`reflectance_scale` guesses the factor that maps
library reflectance onto a cube's values (1 for reflectance cubes, a power of ten for
scaled ones); pass an explicit scale when the guess is wrong.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hsi_app.errors import BandMismatchError, DatasetNotFoundError, HSIWarning, InvalidDataError
from hsi_app.io.csv_layout import layout_fix, wavelength_problem
from hsi_app.io.cube import Cube, alnum_key
from hsi_app.io.wavelength_units import (
    LENGTH_UNITS,
    MAX_MICROMETRES,
    MICROMETRES,
    NANOMETRES,
    is_length_unit,
    nm_factor,
    not_wavelengths,
)

WAVE_PREFIXES = ("wave", "wl", "lambda", "nm", "λ")
"""Column names starting with these say wavelength."""
WIDTH_PREFIXES = ("fwhm", "bandwidth")
"""Column names (lower case, letters and digits only) starting with these are band widths (``fwhm_nm``,
``Bandwidth (um)``): x-columns, never materials."""
INDEX_NAMES = frozenset({"band", "bands", "bandno", "bandnum", "bandnumber", "bandid", "bandindex", "index", "idx",
                         "id", "no", "num", "number", "channel", "channelno", "channelnumber", "ch"})
"""Column names (lower case, letters and digits only) of band-number / row-index columns."""
WAVENUMBER_UNIT = r"(?:cm\s*(?:\^|\*\*)?\s*[{(]?\s*[-−–‐]\s*1\s*[})]?|cm⁻¹|1\s*/\s*cm)"
"""The spellings of cm^-1: ``cm-1``, ``cm -1``, ``cm^-1``, ``cm^{-1}``, ``cm**-1``, ``cm−1``/``cm–1`` (minus sign, en
dash), ``cm⁻¹``, ``1/cm``."""
WAVENUMBER_COLUMN = re.compile(
    rf"\s*(?:(?:wave\s*numbers?|wn|ν|nu)(?![a-z]))?[\s\[(/_,:;-]*{WAVENUMBER_UNIT}[\s\])]*", re.IGNORECASE)
"""A column name that is the unit of wavenumbers, alone or after a wavenumber word and a separator
(``wavenumber_cm-1``, ``Wavenumber (cm^-1)``, ``cm-1``, ``ν [1/cm]``); matched whole, so a material name holding
the unit (``reflectance_cm-1_sample``) or a wavelength column converted from it (``nm (from cm-1)``) is not one."""
X_COLUMNS_AGREE = 0.01
"""Two x-columns of a library CSV (``wavelength_nm`` and ``wavenumber_cm-1``) agree when, in nm, they differ by at
most this fraction at every row where both have a value (a wavenumber rounded to 1 cm^-1 at 4000 cm^-1 is 0.025%)."""
NM_PER_WAVENUMBER = 1e7
"""``nm = NM_PER_WAVENUMBER / cm^-1`` (1 cm = 1e7 nm)."""
BAND_NUMBERS_BELOW = 200.0
"""A ``band`` column of distinct whole numbers starting below this holds band numbers, not wavelengths in nm."""


@dataclass
class SpectralLibrary:
    """Named spectra at the library's own wavelengths.

    Attributes:
        names: ``K`` material names.
        wavelengths: ``(L,)`` float64 band centres in nm, increasing.
        spectra: ``(K, L)`` float64 reflectance (0..1); NaN where a material has no value (its gaps).
        source: the file it was read from.
        stored_as: how the file's values were read, e.g. ``"percent"`` (they were divided by 100).
        from_wavenumbers: the file gave wavenumbers in cm^-1 (converted to nm on reading).
    """

    names: list[str]
    wavelengths: np.ndarray
    spectra: np.ndarray
    source: str = ""
    stored_as: str = "reflectance 0-1"
    from_wavenumbers: bool = False

    def __len__(self) -> int:
        return len(self.names)

    def resample(self, wavelengths: np.ndarray, fwhm: np.ndarray | None = None) -> np.ndarray:
        """Spectra at a cube's bands: ``(K, C)`` float32 reflectance.

        Each material uses its own channels (its NaN cells are gaps): cube bands inside its range
        (within half a FWHM) are its piecewise-linear spectrum integrated over the band's Gaussian
        response (:func:`hsi_app.data.spectrum_response.integrate_bands`, so gaps and coarse sampling
        are interpolated, not stepped); a library already resampled to this sensor (every band in its
        range has one library sample of its own at its centre:
        :func:`~hsi_app.data.spectrum_response.samples_at_band_centres`, all or nothing) gives each band
        a material's value there as it is, where the material has one;
        bands beyond its range get its nearest value and one :class:`~hsi_app.errors.HSIWarning` counts them.

        Args:
            wavelengths: ``(C,)`` cube band centres in nm.
            fwhm: ``(C,)`` cube band widths in nm (NaN/None: band spacing).

        Raises:
            BandMismatchError: unknown cube wavelengths, or a material with no spectral overlap at all.
            InvalidDataError: a material with no value at all.
        """
        from hsi_app.data.resample import _fill_fwhm, outside_range
        from hsi_app.data.spectrum_response import integrate_bands, samples_at_band_centres

        dst = np.asarray(wavelengths, dtype=np.float64)
        if dst.size == 0 or not np.isfinite(dst).all():
            raise BandMismatchError(
                f"{self.source}: the cube's band wavelengths are unknown; a library can only be matched "
                "to a cube whose file records its band wavelengths"
            )
        width = _fill_fwhm(dst, None if fwhm is None else np.asarray(fwhm, dtype=np.float64))
        spans = self.spans()
        outside = [outside_range(np.array(span), dst, fwhm) for span in spans]
        blind = [i for i, o in enumerate(outside) if o.all()]
        if blind:
            lo, hi = spans[blind[0]]
            who = "" if len(blind) == len(spans) else f" for {', '.join(self.names[i] for i in blind[:5])}"
            fix = self.wavenumber_hint(dst) or "use a library measured over the cube's bands"
            raise BandMismatchError(
                f"{self.source}: no spectral overlap{who}: the library covers {lo:.0f}-{hi:.0f} nm, the cube "
                f"{dst.min():.0f}-{dst.max():.0f} nm; {fix}"
            )
        out = np.empty((len(self.names), dst.size), dtype=np.float64)
        on_centre = samples_at_band_centres(self.wavelengths, dst, width)  # per band, on the whole grid
        for k, spectrum in enumerate(self.spectra):
            inside = ~outside[k]
            ok = np.isfinite(spectrum)
            x, y = self.wavelengths[ok], spectrum[ok]
            padded = np.append(spectrum, np.nan)  # index -1 (no sample on the centre) reads NaN
            exact = inside & np.isfinite(padded[on_centre])  # a sample of its own at the centre: as it is
            out[k, exact] = padded[on_centre[exact]]
            rest = inside & ~exact
            if rest.any():
                out[k, rest] = integrate_bands(self.wavelengths, spectrum, dst[rest], width[rest])
            if not inside.all():
                out[k, ~inside] = y[np.abs(x[None, :] - dst[~inside, None]).argmin(axis=1)]
        self._warn_outside(spans, outside)
        return out.astype(np.float32)

    def _warn_outside(self, spans: list[tuple[float, float]], outside: list[np.ndarray]) -> None:
        """One warning counting the cube bands beyond each material's range (they got its nearest value)."""
        counts = [int(o.sum()) for o in outside]
        if not any(counts):
            return
        if len(set(spans)) == 1 and len(set(counts)) == 1:  # one range for every material: as before
            lo, hi = spans[0]
            what = f"{counts[0]} cube bands lie outside the library's {lo:.0f}-{hi:.0f} nm"
        else:
            parts = [f"{name} {n} (its range {lo:.0f}-{hi:.0f} nm)"
                     for name, n, (lo, hi) in zip(self.names, counts, spans, strict=True) if n]
            what = f"cube bands lie outside a material's range: {', '.join(parts[:5])}{', ...' if len(parts) > 5 else ''}"
        warnings.warn(f"{self.source}: {what}; they use the nearest library value", HSIWarning, stacklevel=3)

    def wavenumber_hint(self, wavelengths: np.ndarray) -> str:
        """What to do when the library's wavelengths look like wavenumbers in cm^-1, or ``""`` when they do not.

        They look so when, read as cm^-1 (``nm = 1e7 / value``), they cover more of the cube's bands than read
        as nm (4000-25000 "nm" against a 400-2500 nm cube: none as nm, all as wavenumbers). A library whose
        column was already read as wavenumbers gets no hint.

        Args:
            wavelengths: ``(C,)`` cube band centres in nm.

        Returns:
            A clause that ends an error message in place of its fix, e.g. ``"its wavelengths 4000-25000 look
            like wavenumbers in cm^-1 (400-2500 nm, over the cube's bands): convert the column with nm = 1e7 /
            cm^-1, or name it wavenumber_cm-1 to have it read as wavenumbers"``.
        """
        wl = np.asarray(self.wavelengths, dtype=np.float64)
        wl = wl[np.isfinite(wl)]
        dst = np.asarray(wavelengths, dtype=np.float64)
        dst = dst[np.isfinite(dst)]
        if self.from_wavenumbers or wl.size == 0 or dst.size == 0 or wl.min() <= 0:
            return ""
        lo, hi = float(wl.min()), float(wl.max())
        nm_lo, nm_hi = NM_PER_WAVENUMBER / hi, NM_PER_WAVENUMBER / lo
        as_nm = int(((dst >= lo) & (dst <= hi)).sum())
        as_wavenumbers = int(((dst >= nm_lo) & (dst <= nm_hi)).sum())
        if as_wavenumbers <= as_nm:
            return ""
        return (f"its wavelengths {lo:g}-{hi:g} look like wavenumbers in cm^-1 ({nm_lo:.0f}-{nm_hi:.0f} nm, over the "
                "cube's bands): convert the column with nm = 1e7 / cm^-1, or name it wavenumber_cm-1 to have it "
                "read as wavenumbers")

    def spans(self) -> list[tuple[float, float]]:
        """``(first, last)`` wavelength (nm) with a value, per material.

        Raises:
            InvalidDataError: a material with no value at all.
        """
        out = []
        for name, spectrum in zip(self.names, self.spectra, strict=True):
            x = self.wavelengths[np.isfinite(spectrum)]
            if x.size == 0:
                raise InvalidDataError(f"{self.source}: material '{name}' has no value (every cell is missing); "
                                       "remove it or give it values")
            out.append((float(x.min()), float(x.max())))
        return out

    def common_span(self) -> tuple[float, float]:
        """The wavelengths (nm) every material covers: ``(largest first, smallest last)``."""
        spans = self.spans()
        return max(lo for lo, _ in spans), min(hi for _, hi in spans)

    def covers(self, wavelengths: np.ndarray, fwhm: np.ndarray | None = None) -> np.ndarray:
        """``(C,)`` bool: the cube bands inside every material's range (within half a FWHM), which
        :meth:`resample` synthesises; the others get a material's nearest value.

        Args:
            wavelengths: ``(C,)`` finite cube band centres in nm.
            fwhm: ``(C,)`` cube band widths in nm (NaN/None: band spacing).
        """
        from hsi_app.data.resample import outside_range

        dst = np.asarray(wavelengths, dtype=np.float64)
        beyond = np.zeros(dst.shape, dtype=bool)
        for span in self.spans():
            beyond |= outside_range(np.array(span), dst, fwhm)
        return ~beyond

    def select(self, names: list[str] | None) -> SpectralLibrary:
        """A library with only ``names`` (all when ``None``), in that order; a name given twice (``--material a
        --material a``) is taken once (it made two identical score bands of one name).

        Raises:
            UnknownKeyError: a name is not in the library (close matches suggested).
        """
        if not names:
            return self
        from hsi_app.errors import UnknownKeyError, did_you_mean

        idx = []
        for n in dict.fromkeys(names):
            if n not in self.names:
                hint = did_you_mean(n, self.names, f"materials: {', '.join(self.names)}")
                raise UnknownKeyError(f"{self.source}: no material {n!r}; {hint}")
            idx.append(self.names.index(n))
        return SpectralLibrary([self.names[i] for i in idx], self.wavelengths, self.spectra[idx], self.source,
                               self.stored_as, self.from_wavenumbers)


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

    from hsi_app.io.csv_layout import SEPARATORS, csv_layout

    sep, decimal, header = csv_layout(path)
    try:
        df = pd.read_csv(path, comment="#", sep=sep, decimal=decimal, header=0 if header else None)
    except Exception as err:  # pandas raises ParserError, UnicodeDecodeError, EmptyDataError...
        raise InvalidDataError(f"{path}: not a readable CSV table ({err}); save the library as CSV") from err
    if df.shape[1] < 2 or len(df) < 2:
        raise InvalidDataError(
            f"{path}: need a wavelength column and at least one spectrum column with 2+ rows; "
            f"found {df.shape[1]} columns (separated by {SEPARATORS[sep]}) and {len(df)} rows; pass a CSV library "
            "(header row, wavelength column, one column per material, separated by commas, semicolons or tabs) "
            "or an ENVI .sli"
        )
    if not header:
        df.columns = ["wavelength", *(f"material_{i}" for i in range(1, df.shape[1]))]
    cols = [str(c) for c in df.columns]
    named = header and any(_says_wavelength(c) for c in cols)
    try:
        table = df.apply(pd.to_numeric, errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as err:
        if not named:  # column 0 as numbers: wavelengths there mean the columns are right, only a cell is bad
            _refuse_rows(path, df, header, decimal, _numeric_column(df.iloc[:, 0]))
        raise InvalidDataError(f"{path}: non-numeric values in the table ({err}); keep only numbers below the header") from err
    if not named:
        _refuse_rows(path, df, header, decimal, table[:, 0])
    wi = _wavelength_column(path, cols, table)
    wavenumbers = header and _says_wavenumber(cols[wi])
    if wavenumbers:  # cm^-1 to nm
        table = table.copy()  # pandas may hand back a read-only view
        table[:, wi] = _from_wavenumbers(path, cols[wi], table[:, wi])
    x_cols = _x_columns(cols, table, wi) if header else []  # x-columns besides wi, never materials
    reason = wavelength_problem(table[:, wi], ordered=not named)
    if reason is not None:
        numbers = _is_counting(table[:, wi])  # band numbers: no material either
        materials = ([] if not header else [c for i, c in enumerate(cols) if i != wi and i not in x_cols]
                     if named or numbers else cols)
        taken = ("" if named else "; no column is named for wavelengths, so the first was taken" if header
                 else "; the file has no header row, so its first column was taken as wavelengths")
        what = f"column '{cols[wi]}'" if header else "column 1"
        raise InvalidDataError(f"{path}: {what} {reason}{taken}: {layout_fix(materials)}")
    if not header:
        n = df.shape[1] - 1
        named_as = "material is named material_1" if n == 1 else f"materials are named material_1..material_{n}"
        warnings.warn(f"{path}: the first row is all numbers, so the file has no header row: the first column is "
                      f"read as wavelengths and the {named_as}; "
                      "add a header row (wavelength_nm,name1,...) to name them", HSIWarning, stacklevel=3)
    _check_x_columns(path, cols, table, wi, x_cols)
    keep = [i for i in range(len(cols)) if i != wi and i not in x_cols and not _is_index_column(cols[i], table[:, i])]
    if not keep:
        raise InvalidDataError(f"{path}: no material column besides '{cols[wi]}' and band numbers; add one column of "
                               "reflectance per material")
    return SpectralLibrary([cols[i].strip() for i in keep], table[:, wi], table[:, keep].T, str(path),
                           from_wavenumbers=wavenumbers)


def _x_columns(cols: list[str], table: np.ndarray, wi: int) -> list[int]:
    """The columns of ``table`` ``(L, columns)`` besides the wavelength column ``wi`` (already in nm when it
    held wavenumbers) that are x-columns, never materials: a column named for wavenumbers
    (:func:`_says_wavenumber`; :func:`_check_x_columns` refuses one that disagrees with ``wi``), a width column
    named :data:`WIDTH_PREFIXES` (``fwhm``, ``fwhm_nm``, ``bandwidth``), or a column named for wavelengths whose
    values, in nm by the unit its name gives (:func:`_column_nm`), agree with ``wi`` within
    :data:`X_COLUMNS_AGREE` at every row (``wavelength_um`` beside ``wavelength_nm``). A name alone says too
    little: ``Wavellite HS415.3B``, ``Quartz 125-500 um`` or ``NM-soil-01`` are materials.
    """
    ref = _column_nm("", table[:, wi])  # below 30: micrometres, as _tidy reads it
    out = []
    for j, name in enumerate(cols):
        if j == wi:
            continue
        if _says_wavenumber(name) or alnum_key(name).startswith(WIDTH_PREFIXES):
            out.append(j)
        elif _says_wavelength(name) and _agree(ref, _column_nm(name, table[:, j])).all():
            out.append(j)
    return out


def _column_nm(name: str, values: np.ndarray) -> np.ndarray:
    """``(L,)`` a length column's values in nm: micrometres when its name says so (``um``, ``microns``...),
    nanometres when it says ``nm``; failing both, micrometres when all are below :data:`MAX_MICROMETRES`, as
    :func:`_tidy` reads the wavelength column."""
    words = set("".join(ch if ch.isalnum() else " " for ch in name.strip().lower()).split())
    if words & MICROMETRES:
        return values * 1000.0
    if words & NANOMETRES:
        return values
    finite = values[np.isfinite(values)]
    return values * 1000.0 if finite.size and finite.max() < MAX_MICROMETRES else values


def _agree(ref: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``(L,)`` rows where two x-columns in nm agree within :data:`X_COLUMNS_AGREE` of ``ref``, or where
    either has no value (NaN in ``ref``, or ``other`` NaN; ``other`` infinite where it was a wavenumber of 0
    or below, which never agrees)."""
    both = np.isfinite(ref) & ~np.isnan(other)
    with np.errstate(invalid="ignore"):
        return ~both | (np.abs(other - ref) <= X_COLUMNS_AGREE * np.abs(ref))


def _check_x_columns(path: Path, cols: list[str], table: np.ndarray, wi: int, x_cols: list[int]) -> None:
    """Refuse, in one line naming the file and both columns, a wavenumber column of ``table`` ``(L, columns)``
    (among ``x_cols``) that disagrees with the x-column used, ``wi`` (already in nm when it held wavenumbers):
    once in nm (``1e7 / cm^-1``; ``wi`` in micrometres when below 30, as :func:`_tidy` reads it), they must
    agree within :data:`X_COLUMNS_AGREE` at every row where both have a value. Length and width x-columns
    (:func:`_x_columns`) are left out of the materials unchecked.

    Raises:
        InvalidDataError: two x-columns that disagree (one of them is no x-column, or its values are shifted).
    """
    ref = _column_nm("", table[:, wi])  # below 30: micrometres, as _tidy reads it
    for j in x_cols:
        if j == wi or not _says_wavenumber(cols[j]):
            continue
        v = table[:, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            other = np.where(v > 0, NM_PER_WAVENUMBER / v, np.inf)
        off = ~_agree(ref, np.where(np.isnan(v), np.nan, other))
        if off.any():
            r = int(np.flatnonzero(off)[0])
            raise InvalidDataError(
                f"{path}: columns '{cols[wi]}' and '{cols[j]}' both give the wavelengths but disagree (row {r + 1}: "
                f"{ref[r]:g} nm against {v[r]:g}, {other[r]:g} nm, more than {X_COLUMNS_AGREE:.0%} apart); keep one "
                "wavelength column (wavelength_nm or wavenumber_cm-1), or rename the other if it is a material"
            )


def _numeric_column(column: object) -> np.ndarray | None:
    """``(L,)`` a table column as numbers (NaN where a cell is no number) when most of its filled cells are
    numbers; ``None`` when most hold text (material names under ``name``).

    Args:
        column: a pandas Series as read (object dtype when a cell holds text).
    """
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    filled = np.asarray(pd.notna(column))
    if not filled.any() or np.isfinite(values[filled]).mean() <= 0.5:
        return None
    return values


def _refuse_rows(path: Path, df: object, header: bool, decimal: str, first: np.ndarray | None = None) -> None:
    """Refuse, in one line naming the file and the fix, a table whose spectra run along rows: its first row
    (after the first cell) holds wavelengths (:func:`~hsi_app.io.csv_layout.row_wavelengths`) while its first
    column does not (``first``, ``(L,)``: that column as numbers, NaN where a cell is no number; ``None`` when
    it mostly holds text, e.g. material names under ``name``, which then name the materials in the message).

    Args:
        df: the table as pandas read it (``header``: its column names are the first row).

    Raises:
        InvalidDataError: the spectra run along rows.
    """
    from hsi_app.io.csv_layout import row_wavelengths

    if first is not None and wavelength_problem(first, ordered=True) is None:
        return
    cells = [str(c) for c in df.columns] if header else [str(c) for c in df.iloc[0]]  # type: ignore[attr-defined]
    wl = row_wavelengths(cells, decimal) if header else row_wavelengths(["", *cells])  # no header: all are cells
    if wl is None and not header:
        wl = row_wavelengths(cells)  # a first cell that is no wavelength (a row number)
    if wl is None:
        return
    names = [str(n).strip() for n in df.iloc[:, 0]] if header and first is None else []  # type: ignore[attr-defined]
    where = "header row" if header else "first row"
    label = f" and column '{cells[0]}' names the materials" if names else ""
    raise InvalidDataError(
        f"{path}: the spectra run along rows: the {where} holds wavelengths {wl.min():g}-{wl.max():g}{label}; "
        f"transpose the table (one row per wavelength): {layout_fix(names)}"
    )


def _says_wavelength(name: str) -> bool:
    """True when a column name says wavelength: ``wavelength_nm``, ``WL``, ``lambda``, ``centre (nm)``..."""
    low = name.strip().lower()
    words = "".join(ch if ch.isalnum() else " " for ch in low).split()
    return (low.startswith(WAVE_PREFIXES) or any(w in LENGTH_UNITS for w in words)  # e.g. ``centre (nm)``
            or _says_wavenumber(name))


def _says_wavenumber(name: str) -> bool:
    """True when a column name says wavenumbers (cm^-1): ``wavenumber``/``wave number`` with or without a unit,
    or :data:`WAVENUMBER_COLUMN` (``cm-1``, ``ν (cm⁻¹)``, ``1/cm``...)."""
    return alnum_key(name).startswith("wavenumber") or WAVENUMBER_COLUMN.fullmatch(name) is not None


def _from_wavenumbers(path: Path, name: str, values: np.ndarray, *, what: str = "",
                      fix: str = "check the column, or name it wavelength_nm if it holds nm") -> np.ndarray:
    """``(L,)`` wavelengths in nm of a column of wavenumbers in cm^-1 (``nm = 1e7 / cm^-1``; NaN stays NaN).

    Args:
        what: what says the values are wavenumbers, in the refusal (default: ``column 'name' is named for
            wavenumbers (cm^-1)``); ``fix``: the refusal's fix.

    Raises:
        InvalidDataError: a wavenumber of 0 or below, or one above 1e5 cm^-1 (below 100 nm, where no library
            is measured).
    """
    from hsi_app.io.csv_layout import MIN_LIBRARY_NM

    v = values[np.isfinite(values)]
    if v.size and (v.min() <= 0 or NM_PER_WAVENUMBER / v.max() < MIN_LIBRARY_NM):
        said = what or f"column '{name}' is named for wavenumbers (cm^-1)"
        raise InvalidDataError(f"{path}: {said} but holds {v.min():g}-"
                               f"{v.max():g}; wavenumbers of a reflectance library are positive and below "
                               f"{NM_PER_WAVENUMBER / MIN_LIBRARY_NM:g} cm^-1 ({MIN_LIBRARY_NM:g} nm): {fix}")
    with np.errstate(divide="ignore"):
        return NM_PER_WAVENUMBER / values


def _is_counting(values: np.ndarray) -> bool:
    """True when the (non-NaN) values are distinct whole numbers, as band numbers are (1, 2, 3..., or with the
    bad bands left out: 1, 2, 5, 6...)."""
    v = np.sort(values[np.isfinite(values)])
    return v.size >= 2 and bool(np.all(v == np.round(v))) and bool(np.all(np.diff(v) >= 1.0))


def _is_index_column(name: str, values: np.ndarray) -> bool:
    """A band-number / row-index column: so named (or pandas' ``Unnamed: 0``) and distinct whole numbers from
    0 or 1 (a pandas index of whole-nm wavelengths, 350..2500, is the wavelength column)."""
    key = alnum_key(name)
    named = key in INDEX_NAMES or key.startswith("unnamed")
    finite = values[np.isfinite(values)]
    starts = finite.size > 0 and float(finite.min()) in (0.0, 1.0)
    return named and not _says_wavelength(name) and starts and _is_counting(values)


def _wavelength_column(path: Path, cols: list[str], table: np.ndarray) -> int:
    """Index of the wavelength column of a CSV library ``table`` ``(L, columns)``.

    A name that says wavelength wins (the first in a length unit before one in wavenumbers); then a column
    named ``band`` whose values look like
    wavelengths (not band numbers 1, 2, 3...); then the first column unless it is an index.

    Raises:
        InvalidDataError: only band numbers where the wavelengths should be.
    """
    named = [i for i, c in enumerate(cols) if _says_wavelength(c)]
    if named:
        return next((i for i in named if not _says_wavenumber(cols[i])), named[0])
    for i, c in enumerate(cols):
        v = table[:, i]
        if alnum_key(c).startswith("band") and not (_is_counting(v) and np.nanmin(v) < BAND_NUMBERS_BELOW):
            return i
    if _is_index_column(cols[0], table[:, 0]):
        raise InvalidDataError(f"{path}: column '{cols[0]}' holds band numbers, not wavelengths, and no column is "
                               f"named for wavelengths: {layout_fix(cols[1:])}")
    return 0


def _read_sli(path: Path) -> tuple[SpectralLibrary, np.ndarray]:
    """The library of an ENVI ``.sli`` (values that are the header's ``data ignore value`` as NaN) and
    ``(K, L)`` bool: where those values were.

    The header is parsed by :func:`hsi_app.io.envi.read_header` (UTF-8 or cp1252 whatever the locale, ``; comments``
    after values as GDAL reads them) and the ``lines x samples`` spectra read after its ``header offset`` in its
    byte order; Spectral Python's ``envi.open`` read the header in the locale's encoding (a cp1252 ``Forêt``
    refused as a binary file) and ignored the offset.
    """
    from spectral.io import envi

    from hsi_app.errors import CubeReadError
    from hsi_app.io.envi import find_data, find_header, read_header, spy_message

    hdr = find_header(path)
    if hdr is None:
        raise DatasetNotFoundError(f"{path}: ENVI library header ({path.with_suffix('.hdr').name} or {path.name}.hdr) "
                                   "not found next to it; put the library's .hdr beside it")
    fix = "export it again from ENVI or use a CSV library (wavelength column, one column per material)"
    try:
        header = read_header(hdr)
    except CubeReadError as err:
        raise InvalidDataError(f"{path}: not a readable ENVI spectral library ({err}); {fix}") from err
    if str(header.get("file type", "")).strip().lower() != "envi spectral library":
        raise InvalidDataError(f"{path}: the ENVI file is an image, not a spectral library; pass a .sli")
    stem = hdr.with_suffix("")
    data = path if path.suffix.lower() == ".sli" else next(
        (c for c in (Path(f"{stem}.sli"), Path(f"{stem}.SLI")) if c.is_file()), None) or find_data(hdr)
    if data is None:
        raise DatasetNotFoundError(f"{hdr}: the library's data file ({stem.name}.sli) is not next to it; put it beside "
                                   "the header")
    try:
        params = envi.gen_params({**header, "data type": str(int(header["data type"]))})
        rows, cols = int(header["lines"]), int(header["samples"])
        stored = np.fromfile(data, dtype=params.dtype, count=rows * cols, offset=int(params.offset))
        if stored.size != rows * cols:
            raise ValueError(f"{data.name} holds {stored.size} values, the header describes {rows} x {cols}")
        stored = stored.reshape(rows, cols).astype(stored.dtype.newbyteorder("="))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            lib = envi.SpectralLibrary(stored, header, params)
    except Exception as err:  # spectral raises EnviException / KeyError / ValueError; numpy OSError / ValueError
        raise InvalidDataError(f"{path}: not a readable ENVI spectral library ({spy_message(err)}); {fix}") from err
    ignored = _ignored(stored, header.get("data ignore value"), hdr)
    spectra = np.where(ignored | flagged(stored), np.nan, stored.astype(np.float64))  # before any scale factor
    centers = getattr(lib.bands, "centers", None)
    if not centers:
        raise InvalidDataError(f"{path}: the header has no 'wavelength' list; add it to {hdr.name}")
    wl = np.asarray(centers, dtype=np.float64)
    units = str(header.get("wavelength units", "") or "")  # SPy's band_unit says '<unspecified>' when absent
    wavenumbers = _says_wavenumber(units)  # ENVI's 'Wavenumber' (cm^-1): nm = 1e7 / cm^-1, as for a CSV column
    if wavenumbers:
        wl = _from_wavenumbers(hdr, "", wl, what=f"'wavelength units = {units.strip()}' says wavenumbers (cm^-1)",
                               fix="check the header's 'wavelength' list, or set 'wavelength units' to Nanometers if "
                               "it holds nm")
        units = "Nanometers"
    reason = not_wavelengths(wl, units) if is_length_unit(units) else None
    if reason is not None:
        raise InvalidDataError(f"{hdr}: 'wavelength' {reason}; a library needs its band centres, write them "
                               "(and 'wavelength units') into the header")
    per_unit = nm_factor(wl, units, str(hdr))  # the rule of every reader: guessed, or a mislabel overruled
    if per_unit is None:
        raise InvalidDataError(f"{hdr}: wavelength units {units!r} are not a length; set "
                               "'wavelength units' to Micrometers, Nanometers or Wavenumber (cm^-1), as the "
                               "'wavelength' list holds")
    wl = wl * per_unit
    names = [str(n) for n in (getattr(lib, "names", None) or [f"spectrum_{i + 1}" for i in range(len(spectra))])]
    factor = str(header.get("reflectance scale factor", "")).strip()
    try:
        scale = float(factor) if factor else 0.0
    except ValueError:
        raise InvalidDataError(f"{hdr}: 'reflectance scale factor = {factor}' is not a number; fix the header") from None
    if scale > 0:  # stored reflectance x scale (ENVI's convention, as for images)
        spectra = spectra / scale
        return SpectralLibrary(names, wl, spectra, str(path), f"reflectance x {scale:g} (header's scale factor)",
                               from_wavenumbers=wavenumbers), ignored
    return SpectralLibrary(names, wl, spectra, str(path), from_wavenumbers=wavenumbers), ignored


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
FLAG_VALUES = (-9999.0, -999.0, -99999.0)
"""Exact values that mark a missing cell (field-spectra and NASA/ESA exports), in the file's own units."""
PERCENT_MAX = 150.0
"""Largest value read as percent; larger values are reflectance x 10000."""
LOWEST_REFLECTANCE = -0.5
"""Lowest value accepted, as 0..1 reflectance after the percent / x 10000 guess; below it a value is no
reflectance (noise near zero is a few hundredths at most) but an unknown missing-value marker."""


def flagged(values: np.ndarray) -> np.ndarray:
    """``values``' shape, bool: the missing-value markers :data:`FLAG_VALUES` and fills of :data:`FILL_MIN` or more."""
    v = np.asarray(values, dtype=np.float64)
    return np.isin(v, FLAG_VALUES) | (np.abs(v) >= FILL_MIN)


def _tidy(lib: SpectralLibrary, ignored: np.ndarray | None = None) -> SpectralLibrary:
    """Units to nm and 0..1, sorted wavelengths, missing cells NaN (each material keeps its own channels).

    Missing: NaN (an empty cell), values of :data:`FILL_MIN` and more in magnitude (USGS's deleted
    channels), exactly -9999, -999 or -99999 (:data:`FLAG_VALUES`) and ``ignored``, ``(K, L)`` bool: the
    values an ENVI header's ``data ignore value`` marks (an ``.sli``'s markers were found before its
    scale factor). One warning counts them per material. Reflectance is then taken as 0..1 when no
    value left exceeds 1.5, as percent up to :data:`PERCENT_MAX`, and as reflectance x 10000 above
    (ENVI libraries are first divided by their ``reflectance scale factor``); a value still below
    :data:`LOWEST_REFLECTANCE` then refuses the file.

    Raises:
        InvalidDataError: a material with fewer than 2 values, or a value below :data:`LOWEST_REFLECTANCE`.
    """
    wl = np.asarray(lib.wavelengths, dtype=np.float64)
    sp = np.atleast_2d(np.asarray(lib.spectra, dtype=np.float64))
    missing = ~np.isfinite(sp) | flagged(sp)
    if ignored is not None:
        missing |= ignored
    sp = np.where(missing, np.nan, sp)
    rows = np.isfinite(wl) & ~missing.all(axis=0)
    if missing[:, np.isfinite(wl)].any():
        _warn_missing(lib, missing[:, np.isfinite(wl)], header=ignored is not None and bool(ignored.any()))
    wl, sp = wl[rows], sp[:, rows]
    short = [name for name, row in zip(lib.names, sp, strict=True) if np.isfinite(row).sum() < 2]
    if wl.size < 2 or sp.shape[0] == 0 or short:
        note = f" (spectra with missing values: {', '.join(short[:5])}{', ...' if len(short) > 5 else ''})" if short else ""
        raise InvalidDataError(f"{lib.source}: fewer than 2 rows of wavelength and reflectance values{note}; every "
                               "spectrum needs values at 2 or more wavelengths")
    wl = wl * (nm_factor(wl, None) or 1.0)  # no units in a CSV: micrometres when every centre is below 30
    top = float(np.nanmax(sp))
    stored_as = lib.stored_as
    then = "" if stored_as == SpectralLibrary.stored_as else f"{stored_as}, then "  # a header's factor stays named
    divisor = 1.0
    if top > PERCENT_MAX:  # integer reflectance x 10000, as sensors store it (EnMAP, AVIRIS products)
        divisor, stored_as = 10_000.0, f"{then}reflectance x 10000 (values above 150)"
    elif top > 1.5:  # percent
        divisor, stored_as = 100.0, f"{then}percent (values above 1.5)"
    _refuse_negative(lib, wl, sp, divisor, stored_as)
    sp = sp / divisor
    order = np.argsort(wl, kind="stable")
    return SpectralLibrary(list(lib.names), wl[order], sp[:, order], lib.source, stored_as, lib.from_wavenumbers)


def _refuse_negative(lib: SpectralLibrary, wl: np.ndarray, sp: np.ndarray, divisor: float, stored_as: str) -> None:
    """Refuse, in one line naming the file and column, a value ``sp`` (as read) whose reflectance,
    ``sp / divisor``, is below :data:`LOWEST_REFLECTANCE`: -1 in a 0..1 library, -60 in a percent one.

    Raises:
        InvalidDataError: such a value (an unknown missing-value marker, or not reflectance).
    """
    low = np.nan_to_num(sp / divisor, nan=np.inf) < LOWEST_REFLECTANCE
    if not low.any():
        return
    k, i = (int(v[0]) for v in np.nonzero(low))
    raise InvalidDataError(
        f"{lib.source}: column '{lib.names[k]}' holds {sp[k, i]:g} at {wl[i]:.0f} nm, below {LOWEST_REFLECTANCE} "
        f"as reflectance (the library reads as {stored_as}); mark a missing value with an empty cell, NaN, -9999 "
        "or -999"
    )


def _warn_missing(lib: SpectralLibrary, missing: np.ndarray, *, header: bool) -> None:
    """One warning: how many cells of which spectra are missing (``header``: some were the ENVI header's
    ``data ignore value``), and that each spectrum is interpolated across its own gaps."""
    counts = missing.sum(axis=1)
    rows = np.flatnonzero(counts)
    parts = [f"{lib.names[i]}: {int(counts[i])} of {missing.shape[1]} channels missing" for i in rows[:5]]
    parts += ["..."] if rows.size > 5 else []
    also = ", the header's data ignore value" if header else ""
    warnings.warn(
        f"{lib.source}: missing values (empty or NaN cells, -9999/-999/-99999 flags, fills of 1e30 and more in magnitude "
        f"such as USGS's -1.23e34 for deleted channels{also}): {', '.join(parts)}; "
        "each material uses its own channels, bridged linearly across its gaps",
        HSIWarning,
        stacklevel=4,
    )


def stores_integers(cube: Cube) -> bool:
    """Whether a cube's values are the integers its file stores (the ``integer`` of :func:`reflectance_scale`):
    an integer dtype, or a reader's float32 of an integer file (``attrs["file_dtype"]``: every ENVI file)
    with no scale/offset or reflectance scale factor applied (those values are physical, not the stored ones).
    """
    from hsi_app.io.envi import FILE_DTYPE_ATTR

    if np.issubdtype(cube.dtype, np.integer):
        return True
    attrs = cube.attrs
    stored = attrs.get(FILE_DTYPE_ATTR)
    try:
        integer_file = stored is not None and np.issubdtype(np.dtype(str(stored)), np.integer)
    except TypeError:
        return False
    return bool(integer_file and attrs.get("scale_offset") != "applied"
                and float(attrs.get("scale_factor", 1.0) or 1.0) == 1.0)


def reflectance_scale(values: np.ndarray, *, integer: bool = False) -> float:
    """Factor mapping 0..1 reflectance onto a cube's values (a guess from their range and storage).

    Surfaces reflect up to about 1.5 (clouds, snow, specular glints above 1), so a 99th percentile just
    above a power of ten (up to 1.5 times it) is read as bright pixels at that power, not as a ten times
    larger scale: a x 10000 scene with a few percent of cloud (p99 11000) is 10000, not 100000.
    Scaled integers (``integer``: int16/uint16 storage, as EnMAP, Sentinel-2 and most L2A GeoTIFFs write
    reflectance) are x 10000 whenever that puts the 99th percentile between 0.05 and 1.5 reflectance, so a
    dark (water, shadow) int16 scene is not taken as x 1000. Floats with a 99th percentile of 1000-1500
    are x 10000 too (a dark x 10000 scene), not bright pixels of a x 1000 one: reflectance is rarely
    stored x 1000.

    Args:
        values: any sample of the cube's values (NaN ignored).
        integer: the cube's values are the integers its file stores (:func:`stores_integers`: an integer
            dtype, or an ENVI reader's float32 of them; no scale/offset applied by the reader).

    Returns:
        1.0 when the 99th percentile is at most 2 (reflectance); 10000 for an integer cube whose 99th
        percentile is 500-15000; otherwise the power of ten just above it (10000 for Indian Pines' values of
        about 1000-9600), or the one below when it is within 1.5 times that one and is 100 or 10000
        (percent, or x 10000 with bright pixels).
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 1.0
    p99 = float(np.percentile(v, 99))
    if p99 <= 2.0:
        return 1.0
    if integer and 500.0 <= p99 <= 15000.0:
        return 10000.0
    scale = float(10.0 ** np.ceil(np.log10(p99)))
    if scale / 10.0 >= 100.0 and scale / 10.0 != 1000.0 and p99 <= 1.5 * scale / 10.0:  # bright pixels above 1
        scale /= 10.0
    return scale


def write_library_csv(path: str | os.PathLike[str], lib: SpectralLibrary) -> None:
    """Write a library as CSV (``wavelength_nm`` then one column per material), atomically."""
    from hsi_app.io.atomic import atomic_path

    header = ",".join(["wavelength_nm", *lib.names])
    rows = np.column_stack([lib.wavelengths, lib.spectra.T])
    with atomic_path(path) as tmp:
        np.savetxt(tmp, rows, delimiter=",", header=header, comments="", fmt="%.6g")
