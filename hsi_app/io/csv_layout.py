"""The layout of a delimited text table (a spectral library): separator, decimal mark, header row.

pandas reads a comma-separated file by default; a semicolon-separated one (European Excel, often
with decimal commas) or a tab-separated one (ASD and ENVI ASCII exports) then comes out as one
column. :func:`csv_layout` looks at the first lines and says how to read the file.

A library's spectra run down its columns, next to a wavelength column. Tables laid out otherwise (a
headerless table of reflectances, spectra in rows under a header of wavelengths) are told apart by
:func:`wavelength_problem` and :func:`row_wavelengths`, so the reader can say what it found and how to
lay the file out (:func:`layout_fix`).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from hsi_app.io.wavelength_units import MIN_VALUES_TO_JUDGE, nm_factor, not_wavelengths

SEPARATORS = {",": "','", ";": "';'", "\t": "tabs"}
"""Column separators a library may use (comma; semicolon, as European Excel writes; tab, as ASD and
ENVI ASCII exports write), and how messages name them."""
PREFERENCE = (";", "\t", ",")
"""Ties between separators that split every line alike go to the first here: ``400,5;0,1`` is semicolons with
decimal commas, ``400\t0,1`` tabs with decimal commas."""
SNIFF_LINES = 50
"""Data lines looked at (besides the first line) to choose the separator and the decimal mark."""
MIN_LIBRARY_NM = 100.0
"""No library wavelength lies below this (nm): reflectance is not measured in the vacuum ultraviolet (lab
spectrometers start near 175-250 nm). A column of 0..1 reflectance read as µm starts below it."""
MAX_STEPS_AGAINST = 0.05
"""Share of row-to-row steps a wavelength column may take against its direction: a spectrometer's
detectors can overlap where they are spliced (SVC exports), a step back or two in a thousand rows; a
column of reflectance goes up and down far more often."""


def _first_lines(path: Path, n: int = SNIFF_LINES + 1) -> list[str]:
    """The first ``n`` lines that are neither blank nor ``#`` comments (a BOM dropped)."""
    lines: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            for line in fh:
                if line.strip() and not line.lstrip().startswith("#"):
                    lines.append(line.rstrip("\r\n"))
                    if len(lines) == n:
                        break
    except OSError:
        pass
    return lines


def _is_number(text: str, decimal: str = ".") -> bool:
    """True when ``text`` reads as a number with ``decimal`` as its decimal mark."""
    try:
        float(text.strip().replace(decimal, ".") if decimal != "." else text.strip())
    except ValueError:
        return False
    return True


def _cells(line: str, sep: str) -> list[str]:
    """The cells of one line split at ``sep`` (quoted cells kept whole)."""
    return next(csv.reader([line], delimiter=sep), [])


def _separator(lines: list[str]) -> str:
    """The separator that splits the lines most consistently into 2 or more cells.

    Each candidate's score is the share of lines with its most common cell count (when that count is 2 or
    more); the highest wins, ties going to :data:`PREFERENCE`. So a ``;`` inside a material name of a comma
    file (``wavelength,grass; dry,soil``) splits only the header and does not win; ``,`` alone is the
    fallback.
    """
    best, best_score = ",", 0.0
    for sep in PREFERENCE:
        counts = Counter(len(_cells(line, sep)) for line in lines)
        width, n = counts.most_common(1)[0] if counts else (0, 0)
        score = n / len(lines) if width >= 2 else 0.0
        if score > best_score:
            best, best_score = sep, score
    return best


def csv_layout(path: Path) -> tuple[str, str, bool]:
    """``(separator, decimal mark, has a header row)`` of a CSV library, from its first lines.

    Up to :data:`SNIFF_LINES` data lines are read. The separator is the one of ``;``, tab and ``,`` that
    splits them most consistently (:func:`_separator`). With ``;`` or tabs, the decimal mark is ``,`` when a
    cell below the first line holds a comma (German/European exports: ``0,5``). A first line whose cells are
    all numbers is data, not a header.
    """
    lines = _first_lines(path)
    first = lines[0] if lines else ""
    sep = _separator(lines) if lines else ","
    data_commas = any("," in cell for line in lines[1:] for cell in _cells(line, sep))
    decimal = "," if sep != "," and data_commas else "."
    cells = [c.strip().strip('"').strip("'") for c in _cells(first, sep)]
    filled = [c for c in cells if c]
    header = not (len(filled) >= 2 and all(_is_number(c, decimal) for c in filled))
    return sep, decimal, header


def _steps_against(values: np.ndarray) -> float:
    """Share of the non-zero steps between consecutive ``values`` ``(L,)`` that go against the majority direction."""
    steps = np.sign(np.diff(values))
    steps = steps[steps != 0]
    if steps.size == 0:
        return 0.0
    return float(min((steps > 0).sum(), (steps < 0).sum()) / steps.size)


def wavelength_problem(values: np.ndarray, *, ordered: bool) -> str | None:
    """Why a library column (as written, no unit given) cannot hold its wavelengths, or ``None`` when it may.

    Refused: band numbers and values below 200 nm (:func:`~hsi_app.io.wavelength_units.not_wavelengths`); values
    starting below :data:`MIN_LIBRARY_NM` once in nm (values below 30 are micrometres, so a column of 0..1
    reflectance starts at a few tens of nm); with ``ordered``, values that go up and down from row to row
    (more than :data:`MAX_STEPS_AGAINST` of the steps against the column's direction), as a spectrum does and
    wavelengths, increasing or decreasing, do not. Fewer than 3 values are too few to judge.

    Args:
        values: ``(L,)`` the column, NaN for empty cells.
        ordered: also require the values to run one way (for a column taken as wavelengths by its position only).

    Returns:
        The reason, worded to follow ``"column 'x' "``, e.g. ``"holds 0.02-0.61, not wavelengths in nm or µm ..."``.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < MIN_VALUES_TO_JUDGE:
        return None
    reason = not_wavelengths(v, None)
    if reason is not None:
        return reason
    found = f"holds {v.min():g}-{v.max():g}, not wavelengths in nm or µm"
    factor = nm_factor(v, None) or 1.0  # below 30: micrometres
    if v.min() * factor < MIN_LIBRARY_NM:
        unit = "µm" if factor != 1.0 else "nm"
        return f"{found} (read as {unit} they start at {v.min() * factor:g} nm, below {MIN_LIBRARY_NM:g} nm)"
    if ordered and _steps_against(v) > MAX_STEPS_AGAINST:
        return (f"{found} (they go up and down from row to row, {_steps_against(v):.0%} of the steps against the "
                "rest, as a spectrum does; wavelengths rise or fall row by row)")
    return None


def row_wavelengths(cells: list[str], decimal: str = ".") -> np.ndarray | None:
    """``(N,)`` the wavelengths a table's first row holds after its first cell, when they look like wavelengths
    (the spectra then run along rows, not down columns), else ``None``.

    Every cell after the first must be a number (trailing empty cells aside), 3 or more, and pass
    :func:`wavelength_problem` with ``ordered``.

    Args:
        cells: the first row's cells as text (a header row, or a first row of numbers).
        decimal: the file's decimal mark.
    """
    rest = [c.strip().strip('"').strip("'") for c in cells[1:]]
    while rest and not rest[-1]:
        rest.pop()
    if len(rest) < MIN_VALUES_TO_JUDGE or not all(_is_number(c, decimal) for c in rest):
        return None
    values = np.array([float(c.replace(decimal, ".")) for c in rest])
    return values if wavelength_problem(values, ordered=True) is None else None


def layout_fix(names: list[str]) -> str:
    """The expected layout of a CSV library, with an example header row built on ``names`` (material names;
    ``grass``, ``asphalt`` when none are known)."""
    shown = [n for n in names if n.strip()][:3] or ["grass", "asphalt"]
    more = ",..." if len(names) > len(shown) else ""
    return ("a CSV library needs a wavelength column in nm or µm and one column of reflectance per material, "
            f"with a header row such as 'wavelength_nm,{','.join(shown)}{more}'")
