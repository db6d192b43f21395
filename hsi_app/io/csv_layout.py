"""The layout of a delimited text table (a spectral library): separator, decimal mark, header row.

pandas reads a comma-separated file by default; a semicolon-separated one (European Excel, often
with decimal commas) or a tab-separated one (ASD and ENVI ASCII exports) then comes out as one
column. :func:`csv_layout` looks at the first lines and says how to read the file.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

SEPARATORS = {",": "','", ";": "';'", "\t": "tabs"}
"""Column separators a library may use (comma; semicolon, as European Excel writes; tab, as ASD and
ENVI ASCII exports write), and how messages name them."""
PREFERENCE = (";", "\t", ",")
"""Ties between separators that split every line alike go to the first here: ``400,5;0,1`` is semicolons with
decimal commas, ``400\t0,1`` tabs with decimal commas."""
SNIFF_LINES = 50
"""Data lines looked at (besides the first line) to choose the separator and the decimal mark."""


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
