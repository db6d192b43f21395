"""CSV libraries laid out otherwise than a wavelength column and one column per material: each is refused in
one line naming the file, what its first column or row holds, and the expected layout; valid layouts still read."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import HSIWarning, InvalidDataError
from hsi_app.io.spectral_library import read_library

WL = np.arange(400.0, 1010.0, 10.0)  # 61 rows
RNG = np.random.default_rng(7)
RAMP = np.round(0.02 + 0.59 * (WL - 400.0) / 600.0, 4)  # 0.02-0.61, as a dark-to-bright soil
GRASS = np.round(np.clip(0.05 + 0.4 / (1 + np.exp(-(WL - 720.0) / 15.0)) + RNG.normal(0, 0.01, WL.size), 0.01, None), 4)
BRIGHT = np.round(0.45 + 0.1 * np.sin(WL / 37.0) + RNG.normal(0, 0.01, WL.size), 4)  # 0.3-0.6: as µm, 300-600 nm


def _lines(path: Path, rows: list[list[object]], header: str | None = None) -> Path:
    text = ([header] if header else []) + [",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in r)
                                           for r in rows]
    path.write_text("\n".join(text) + "\n")
    return path


def _refused(path: Path) -> str:
    with pytest.raises(InvalidDataError) as info:
        read_library(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"{path}: "), msg
    assert "a CSV library needs a wavelength column in nm or µm and one column of reflectance per material" in msg
    return msg


def test_a_headerless_table_of_reflectances_is_refused_naming_its_values(tmp_path: Path) -> None:
    """Its first column (0.02-0.61) was read as µm, 20-610 nm: targets from a reflectance curve, or 'no overlap'."""
    path = _lines(tmp_path / "refl.csv", [[a, b] for a, b in zip(RAMP, GRASS, strict=True)])
    msg = _refused(path)
    assert "column 1 holds 0.02-0.61, not wavelengths in nm or µm (read as µm they start at 20 nm" in msg
    assert "no header row" in msg and "'wavelength_nm," in msg


def test_a_header_of_material_names_only_is_refused_and_the_example_keeps_them(tmp_path: Path) -> None:
    path = _lines(tmp_path / "names.csv", [[a, b] for a, b in zip(RAMP, GRASS, strict=True)], "metal,grass")
    msg = _refused(path)
    assert "column 'metal' holds 0.02-0.61, not wavelengths" in msg and "no column is named for wavelengths" in msg
    assert msg.endswith("'wavelength_nm,metal,grass'")


@pytest.mark.parametrize("factor", [1.0, 10_000.0])
def test_bright_or_scaled_reflectance_in_the_first_column_goes_up_and_down(tmp_path: Path, factor: float) -> None:
    """0.3-0.6 read as µm (300-600 nm) and x 10000 values read as nm (3000-6000) both look like wavelengths by range;
    they go up and down from row to row as wavelengths never do."""
    first = np.round(BRIGHT * factor, 4)
    path = _lines(tmp_path / "bright.csv", [[a, b] for a, b in zip(first, GRASS * factor, strict=True)])
    msg = _refused(path)
    assert f"column 1 holds {first.min():g}-{first.max():g}, not wavelengths in nm or µm (they go up and down" in msg


@pytest.mark.parametrize("first", ["name", "material"])
def test_spectra_in_rows_under_a_header_of_wavelengths_are_told_to_be_transposed(tmp_path: Path, first: str) -> None:
    """'non-numeric values in the table (Unable to parse string 'metal'...); keep only numbers below the header'."""
    rows = [["metal", *RAMP], ["grass", *GRASS]]
    path = _lines(tmp_path / "rows.csv", rows, ",".join([first, *(f"{w:g}" for w in WL)]))
    msg = _refused(path)
    assert f"the spectra run along rows: the header row holds wavelengths 400-1000 and column '{first}' names" in msg
    assert "transpose the table" in msg and msg.endswith("'wavelength_nm,metal,grass'")


def test_headerless_spectra_in_rows_are_told_to_be_transposed(tmp_path: Path) -> None:
    """Was 'no spectral overlap: the library covers 0-400 nm' (the first column: 400, then reflectances)."""
    path = _lines(tmp_path / "rows.csv", [list(WL), list(RAMP), list(GRASS)])
    msg = _refused(path)
    assert "the spectra run along rows: the first row holds wavelengths 400-1000; transpose the table" in msg


def test_band_numbers_without_a_header_name_the_layout(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bands.csv", [[float(i + 1), a] for i, a in enumerate(GRASS)])
    msg = _refused(path)
    assert "column 1 values 1, 2, ..., 61 are band numbers" in msg


@pytest.mark.parametrize("header", ["x,1001,1002,1003", None])
def test_a_bad_cell_under_a_wavelength_column_is_named_not_taken_for_rows(tmp_path: Path, header: str | None) -> None:
    """Column 0 holds wavelengths 400-1000 and one cell is '-': the columns are right, only that cell is wrong.
    Was 'the spectra run along rows: the header row holds wavelengths 1001-1003' (sample IDs as the header) or,
    headerless, '... the first row holds wavelengths 0.1-0.3' (the first row's reflectances)."""
    rows: list[list[object]] = [[w, a, b, c] for w, a, b, c in zip(WL, RAMP, GRASS, BRIGHT, strict=True)]
    rows[0] = [400.0, 0.1, 0.2, 0.3]
    rows[5][2] = "-"
    path = _lines(tmp_path / "cell.csv", rows, header)
    with pytest.raises(InvalidDataError) as info:
        read_library(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: non-numeric values in the table") and "'-'" in msg, msg
    assert "run along rows" not in msg and "transpose" not in msg


def test_names_in_column_0_with_a_bad_cell_still_say_transpose(tmp_path: Path) -> None:
    """Mostly text in column 0 (material names), one of them a number: still spectra in rows, named."""
    rows = [["metal", *RAMP], ["grass", *GRASS], ["7", *GRASS]]
    path = _lines(tmp_path / "rows.csv", rows, ",".join(["name", *(f"{w:g}" for w in WL)]))
    msg = _refused(path)
    assert "the spectra run along rows: the header row holds wavelengths 400-1000 and column 'name' names" in msg


def test_a_pandas_written_library_indexed_by_whole_nm_reads(tmp_path: Path) -> None:
    """DataFrame.to_csv with the wavelengths as index: header ',grass', 'Unnamed: 0' = 350..2500 step 1 nm.
    Was refused as 'column 'Unnamed: 0' holds band numbers, not wavelengths'."""
    import pandas as pd

    wl = np.arange(350, 2501)
    grass = np.round(np.linspace(0.05, 0.5, wl.size), 5)
    path = tmp_path / "pandas.csv"
    pd.DataFrame({"grass": grass}, index=wl).to_csv(path)
    lib = read_library(path)
    assert lib.names == ["grass"]
    np.testing.assert_array_equal(lib.wavelengths, wl)
    np.testing.assert_allclose(lib.spectra[0], grass)


@pytest.mark.parametrize("start", [0, 1])
def test_a_pandas_index_of_band_numbers_stays_refused(tmp_path: Path, start: int) -> None:
    import pandas as pd

    path = tmp_path / "pandas.csv"
    pd.DataFrame({"grass": GRASS}, index=np.arange(start, start + GRASS.size)).to_csv(path)
    msg = _refused(path)
    assert "column 'Unnamed: 0' holds band numbers, not wavelengths" in msg


@pytest.mark.parametrize("layout", ["micrometres", "micrometres, no header", "decreasing", "detector overlap",
                                    "few rows"])
def test_valid_layouts_still_read(tmp_path: Path, layout: str) -> None:
    """µm without a unit (converted to nm), decreasing wavelengths, one step back where two detectors are spliced."""
    wl, grass = WL.copy(), GRASS.copy()
    if layout == "decreasing":
        wl, grass = wl[::-1], grass[::-1]
    if layout == "detector overlap":  # 400..700, then 690..1000: one step back of 61
        wl, grass = np.concatenate([WL[:31], WL[30:] - 10.0]), np.concatenate([GRASS[:31], GRASS[30:]])
    if layout == "few rows":
        wl, grass = np.array([450.0, 550.0, 650.0]), np.array([0.6, 0.1, 0.3])
    um = layout.startswith("micrometres")
    first = wl / 1000.0 if um else wl
    header = None if layout.endswith("no header") else "x,grass"
    path = _lines(tmp_path / "ok.csv", [[a, b] for a, b in zip(first, grass, strict=True)], header)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HSIWarning)  # the no-header warning
        lib = read_library(path)
    order = np.argsort(wl, kind="stable")
    np.testing.assert_allclose(lib.wavelengths, wl[order])
    np.testing.assert_allclose(lib.spectra[0], grass[order])


def test_hsi_detect_with_a_headerless_reflectance_table_says_so_not_no_overlap(
        tmp_path: Path, load_fixture, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    """Was 'lib.csv: no spectral overlap: the library covers 20-300 nm, the cube 450-2400 nm; use a library measured
    over the cube's bands' (the reflectances read as µm)."""
    from cli_runner import assert_one_error_line, run_main

    speclib = load_fixture("speclib")
    scene = speclib.write_geotiff(tmp_path / "bg.tif", speclib.background(3, (8, 8)))
    first = np.round(np.linspace(0.02, 0.3, 30), 4)
    lib = _lines(tmp_path / "lib.csv", [[a, b] for a, b in zip(first, GRASS[:30], strict=True)])
    code, _, err = run_main(capsys, "detect", "--input", str(scene), "--method", "cem", "--targets", str(lib),
                            "--out", str(tmp_path / "x.tif"))
    assert_one_error_line(code, err, f"{lib}: column 1 holds 0.02-0.3, not wavelengths in nm or µm", "wavelength_nm")
    assert "overlap" not in err and not (tmp_path / "x.tif").exists()
