"""CSV libraries as users export them: -9999 flags, negative values, no header row, ';' and tab separators."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import HSIWarning, InvalidDataError
from hsi_app.io.spectral_library import read_library

WL = np.arange(400.0, 1010.0, 10.0)  # 61 rows
METAL = np.round(0.5 + 0.0001 * (WL - 400.0), 5)
TARP = np.round(0.1 + 0.0002 * (WL - 400.0), 5)


def _write(path: Path, metal: np.ndarray, tarp: np.ndarray, *, sep: str = ",", decimal: str = ".",
           header: bool = True) -> Path:
    lines = [sep.join(["wavelength_nm", "metal", "tarp"])] if header else []
    for w, a, b in zip(WL, metal, tarp, strict=True):
        cells = [f"{w:g}", "" if np.isnan(a) else f"{a:g}", "" if np.isnan(b) else f"{b:g}"]
        lines.append(sep.join(c.replace(".", decimal) for c in cells))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("flag", [-9999.0, -999.0, -99999.0])
def test_minus_9999_is_missing_and_leaves_the_other_materials_and_the_scale_alone(tmp_path: Path, flag: float) -> None:
    """Five -9999 cells made the whole library 'reflectance x 10000', so every target became 10000 times darker."""
    tarp = TARP.copy()
    tarp[20:25] = flag
    with pytest.warns(HSIWarning, match=r"tarp: 5 of 61 channels missing; each material uses its own channels"):
        lib = read_library(_write(tmp_path / "flag.csv", METAL, tarp))
    assert lib.stored_as == "reflectance 0-1"
    np.testing.assert_allclose(lib.spectra[0], METAL)
    assert np.isnan(lib.spectra[1, 20:25]).all()
    np.testing.assert_allclose(np.delete(lib.spectra[1], range(20, 25)), np.delete(TARP, range(20, 25)))


def test_minus_9999_in_a_percent_library_does_not_make_it_x_10000(tmp_path: Path) -> None:
    """The percent / x 10000 guess looks at the values left (largest 56 here): percent."""
    tarp = TARP * 100
    tarp[3] = -9999.0
    with pytest.warns(HSIWarning, match="tarp: 1 of 61 channels missing"):
        lib = read_library(_write(tmp_path / "pct.csv", METAL * 100, tarp))
    assert lib.stored_as.startswith("percent")
    np.testing.assert_allclose(lib.spectra[0], METAL)


def test_minus_one_in_a_reflectance_library_is_refused_in_one_line(tmp_path: Path) -> None:
    """-1 in 0..1 units is no reflectance (an unknown marker); it lowered the tarp score from 0.59 to 0.24."""
    tarp = TARP.copy()
    tarp[30] = -1.0
    path = _write(tmp_path / "m1.csv", METAL, tarp)
    with pytest.raises(InvalidDataError) as err:
        read_library(path)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{path}: column 'tarp' holds -1 at 700 nm, below -0.5")
    assert "empty cell, NaN, -9999 or -999" in text


def test_minus_one_in_a_percent_library_is_noise_near_zero(tmp_path: Path) -> None:
    """In percent, -1 is -0.01 reflectance: kept as a value, as a dark target's noise can be."""
    tarp = TARP * 100
    tarp[30] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lib = read_library(_write(tmp_path / "pct_m1.csv", METAL * 100, tarp))
    assert lib.spectra[1, 30] == pytest.approx(-0.01)


def test_minus_60_percent_is_refused(tmp_path: Path) -> None:
    tarp = TARP * 100
    tarp[0] = -60.0
    with pytest.raises(InvalidDataError, match=r"column 'tarp' holds -60 at 400 nm, below -0.5 as reflectance \(the "
                                               r"library reads as percent"):
        read_library(_write(tmp_path / "pct_m60.csv", METAL * 100, tarp))


def test_a_library_without_a_header_row_keeps_its_first_row(tmp_path: Path) -> None:
    """The 400 nm row was taken as the header and the materials were named '0.5', '0.1'."""
    with pytest.warns(HSIWarning, match=r"no header row: the first column is read as wavelengths and the materials "
                                        r"are named material_1..material_2"):
        lib = read_library(_write(tmp_path / "nohead.csv", METAL, TARP, header=False))
    assert lib.names == ["material_1", "material_2"]
    np.testing.assert_allclose(lib.wavelengths, WL)
    np.testing.assert_allclose(lib.spectra, np.stack([METAL, TARP]))


@pytest.mark.parametrize("sep, decimal", [(";", "."), (";", ","), ("\t", "."), ("\t", ",")])
def test_semicolon_and_tab_separated_libraries_read_as_the_comma_one(tmp_path: Path, sep: str, decimal: str) -> None:
    lib = read_library(_write(tmp_path / "lib.txt", METAL, TARP, sep=sep, decimal=decimal))
    assert lib.names == ["metal", "tarp"] and lib.stored_as == "reflectance 0-1"
    np.testing.assert_allclose(lib.wavelengths, WL)
    np.testing.assert_allclose(lib.spectra, np.stack([METAL, TARP]))


def test_a_semicolon_library_whose_first_row_is_whole_numbers_keeps_its_decimal_commas(tmp_path: Path) -> None:
    """Only the first data row was looked at: 400;0;0 has no comma, so '0,5' was refused as non-numeric."""
    path = tmp_path / "semi.csv"
    path.write_text("wavelength;grass;soil\n400;0;0\n410;0,5;0,25\n420;0,6;0,3\n")
    lib = read_library(path)
    assert lib.names == ["grass", "soil"]
    np.testing.assert_allclose(lib.spectra, [[0.0, 0.5, 0.6], [0.0, 0.25, 0.3]])


def test_a_semicolon_in_a_material_name_does_not_make_a_comma_file_semicolon_separated(tmp_path: Path) -> None:
    """'grass; dry' in the header made the whole file ';'-separated (one column, refused)."""
    for name, header in (("plain.csv", "wavelength,grass; dry,soil"), ("quoted.csv", 'wavelength,"grass; dry",soil')):
        path = tmp_path / name
        path.write_text(header + "\n400,0.1,0.2\n410,0.5,0.25\n")
        lib = read_library(path)
        assert lib.names == ["grass; dry", "soil"], name
        np.testing.assert_allclose(lib.spectra, [[0.1, 0.5], [0.2, 0.25]])


def test_one_headerless_material_is_named_material_1(tmp_path: Path) -> None:
    """The warning said 'named material_1..material_1'."""
    path = tmp_path / "one.csv"
    path.write_text("400,0.1\n410,0.5\n")
    with pytest.warns(HSIWarning, match=r"the material is named material_1; add a header row") as rec:
        lib = read_library(path)
    assert lib.names == ["material_1"] and "material_1..material_1" not in str(rec[0].message)


def test_an_unknown_separator_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "pipes.csv"
    path.write_text("wavelength_nm|metal\n400|0.5\n410|0.6\n")
    with pytest.raises(InvalidDataError, match=r"found 1 columns \(separated by ','\) and 2 rows.*separated by "
                                               r"commas, semicolons or tabs"):
        read_library(path)
