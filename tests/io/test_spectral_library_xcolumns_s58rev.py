"""Library CSVs with wavenumber columns (review s58 #1, #2, #6): every column named for wavelengths or wavenumbers
is an x-column, never a material; a column named just ``wavenumber`` is read as cm^-1; the cm^-1 spellings are
told apart from material names that hold them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import BandMismatchError, InvalidDataError
from hsi_app.io.spectral_library import read_library

WN = np.linspace(4000.0, 25000.0, 50)  # cm^-1
NM = 1e7 / WN  # 2500..400 nm


def _grass(nm: np.ndarray) -> np.ndarray:
    return 0.1 + 0.3 * np.exp(-(((nm - 1200) / 400) ** 2))


def _write(path: Path, header: str, *columns: np.ndarray) -> Path:
    rows = [header] + [",".join(f"{v:.6g}" for v in row) for row in zip(*columns, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("header, columns", [
    ("wavenumber_cm-1,wavelength_nm,grass", (WN, NM)),
    ("wavelength_nm,wavenumber_cm-1,grass", (NM, WN)),
    ("Wavenumber (cm^-1),wavelength (um),grass", (WN, NM / 1000.0)),
])
def test_both_x_columns_give_one_material_at_its_own_reflectance(tmp_path: Path, header: str,
                                                                  columns: tuple[np.ndarray, np.ndarray]) -> None:
    lib = read_library(_write(tmp_path / "both.csv", header, *columns, _grass(NM)))
    assert lib.names == ["grass"]
    assert lib.stored_as == "reflectance 0-1"  # the x-column was a 'material' of 400-25000: read as x 10000
    np.testing.assert_allclose(lib.wavelengths, np.sort(NM), rtol=1e-5)
    np.testing.assert_allclose(lib.spectra[0], _grass(lib.wavelengths), rtol=1e-4)


def test_x_columns_that_disagree_are_refused_naming_both(tmp_path: Path) -> None:
    shifted = NM * 1.05  # 5% off: not the same axis
    path = _write(tmp_path / "off.csv", "wavenumber_cm-1,wavelength_nm,grass", WN, shifted, _grass(NM))
    with pytest.raises(InvalidDataError) as err:
        read_library(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: columns 'wavelength_nm' and 'wavenumber_cm-1' both give the wavelengths but "
                          "disagree (row 1: ")
    assert "\n" not in msg and msg.endswith("rename the other if it is a material")


def test_x_columns_within_rounding_agree(tmp_path: Path) -> None:
    rounded = np.round(WN)  # whole cm^-1: at most 0.0125% off at 4000 cm^-1
    lib = read_library(_write(tmp_path / "r.csv", "wavelength_nm,wavenumber_cm-1,grass", NM, rounded, _grass(NM)))
    assert lib.names == ["grass"] and not lib.from_wavenumbers  # the nm column is the one used


@pytest.mark.parametrize("name", ["wavenumber", "Wavenumber", "wave number", "WAVENUMBERS", "wavenumber (cm-1)"])
def test_a_column_named_wavenumber_is_read_as_cm1(tmp_path: Path, name: str) -> None:
    lib = read_library(_write(tmp_path / "wn.csv", f"{name},grass", WN, _grass(NM)))
    assert lib.from_wavenumbers
    np.testing.assert_allclose(lib.wavelengths, np.sort(NM), rtol=1e-5)


def test_a_mid_infrared_wavenumber_column_misses_a_vswir_cube(tmp_path: Path) -> None:
    wn = np.linspace(4000.0, 400.0, 200)  # FTIR mid-IR: 2500-25000 nm, no VSWIR band
    lib = read_library(_write(tmp_path / "midir.csv", "wavenumber,quartz", wn, 0.2 + 0.1 * np.sin(wn / 300)))
    with pytest.raises(BandMismatchError, match="the library covers 2500-25000 nm"):
        lib.resample(np.linspace(420.0, 2450.0, 30))


@pytest.mark.parametrize("name", ["Wavenumber cm–1", "cm^{-1}", "wavenumber[cm**-1]", "cm^(-1)", "wn (cm−1)"])
def test_more_spellings_of_cm1_are_wavenumbers(tmp_path: Path, name: str) -> None:
    lib = read_library(_write(tmp_path / "wn.csv", f"{name},grass", WN, _grass(NM)))
    assert lib.from_wavenumbers and lib.names == ["grass"]
    np.testing.assert_allclose(lib.wavelengths, np.sort(NM), rtol=1e-5)


def test_a_material_name_holding_cm1_is_a_material(tmp_path: Path) -> None:
    # the material first: a name taken for wavenumbers would be the x-column, the nm column a material
    lib = read_library(_write(tmp_path / "m.csv", "reflectance_cm-1_sample,wavelength_nm", _grass(NM), NM))
    assert lib.names == ["reflectance_cm-1_sample"] and not lib.from_wavenumbers


def test_a_nm_column_converted_from_cm1_is_read_as_nm(tmp_path: Path) -> None:
    lib = read_library(_write(tmp_path / "n.csv", "nm (from cm-1),grass", NM, _grass(NM)))
    assert not lib.from_wavenumbers
    np.testing.assert_allclose(lib.wavelengths, np.sort(NM), rtol=1e-5)


def test_a_second_length_column_is_no_material(tmp_path: Path) -> None:
    fwhm = np.full(NM.size, 10.0)  # band widths in nm: values of 10 made the whole table 'percent'
    lib = read_library(_write(tmp_path / "f.csv", "wavelength_nm,fwhm_nm,grass", NM, fwhm, _grass(NM)))
    assert lib.names == ["grass"] and lib.stored_as == "reflectance 0-1"
