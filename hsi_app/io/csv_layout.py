"""The layout of a delimited text table (a spectral library): separator, decimal mark, header row.

pandas reads a comma-separated file by default; a semicolon-separated one (European Excel, often
with decimal commas) or a tab-separated one (ASD and ENVI ASCII exports) then comes out as one
column. :func:`csv_layout` looks at the first lines and says how to read the file.
"""

from __future__ import annotations

from pathlib import Path

SEPARATORS = {",": "','", ";": "';'", "\t": "tabs"}
"""Column separators a library may use (comma; semicolon, as European Excel writes; tab, as ASD and
ENVI ASCII exports write), and how messages name them."""


def _first_lines(path: Path, n: int = 2) -> list[str]:
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


def csv_layout(path: Path) -> tuple[str, str, bool]:
    """``(separator, decimal mark, has a header row)`` of a CSV library, from its first lines.

    The separator is the first of ``,``, ``;`` and tab found in the first line (a comma only where the
    line has no semicolon: ``0,5;0,7`` is semicolons with decimal commas); with ``;``, the decimal mark is
    ``,`` when the second line has a comma. A first line whose cells are all numbers is data, not a header.
    """
    lines = _first_lines(path)
    first = lines[0] if lines else ""
    sep = ","
    if ";" in first:
        sep = ";"
    elif "," not in first and "\t" in first:
        sep = "\t"
    decimal = "," if sep == ";" and len(lines) > 1 and "," in lines[1] else "."
    cells = [c.strip().strip('"').strip("'") for c in first.split(sep)]
    filled = [c for c in cells if c]
    header = not (len(filled) >= 2 and all(_is_number(c, decimal) for c in filled))
    return sep, decimal, header
