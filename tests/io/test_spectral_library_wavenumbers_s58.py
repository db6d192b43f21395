"""A library CSV in wavenumbers (cm^-1): read when its column names that unit; otherwise refused, as before, but
with a line that says the values look like wavenumbers and how to fix the file."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from hsi_app.errors import BandMismatchError, InvalidDataError
from hsi_app.io.spectral_library import read_library

CUBE_NM = np.linspace(420.0, 2450.0, 60)


def _write(path: Path, header: str, x: np.ndarray, spectra: np.ndarray) -> Path:
    rows = [header] + [",".join([f"{v:.6g}", *(f"{s:.6g}" for s in col)]) for v, col in zip(x, spectra.T, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _spectra(nm: np.ndarray) -> np.ndarray:
    return np.stack([0.1 + 0.3 * np.exp(-(((nm - 1200) / 400) ** 2)), 0.05 + 1e-4 * nm])


@pytest.mark.parametrize("name", ["wavenumber_cm-1", "Wavenumber (cm^-1)", "cm-1", "wavenumber [1/cm]", "ν (cm⁻¹)"])
def test_a_column_named_for_cm1_is_read_as_wavenumbers(tmp_path: Path, name: str) -> None:
    wn = np.linspace(4000.0, 25000.0, 120)  # FTIR order: rising wavenumbers, falling wavelengths
    nm = 1e7 / wn
    lib = read_library(_write(tmp_path / "wn.csv", f"{name},grass,soil", wn, _spectra(nm)))
    assert lib.names == ["grass", "soil"] and lib.from_wavenumbers
    np.testing.assert_allclose(lib.wavelengths, np.sort(nm), rtol=1e-5)
    # the same spectra written in nm resample to the same values
    same = read_library(_write(tmp_path / "nm.csv", "wavelength_nm,grass,soil", nm, _spectra(nm)))
    np.testing.assert_allclose(lib.resample(CUBE_NM), same.resample(CUBE_NM), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bad", [0.0, -10.0, 2e5])
def test_a_wavenumber_column_with_impossible_values_is_one_line(tmp_path: Path, bad: float) -> None:
    wn = np.array([bad, 5000.0, 10000.0, 20000.0])
    with pytest.raises(InvalidDataError) as err:
        read_library(_write(tmp_path / "wn.csv", "wavenumber_cm-1,grass", wn, np.full((1, 4), 0.2)))
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'wn.csv'}: column 'wavenumber_cm-1' is named for wavenumbers (cm^-1)")
    assert "\n" not in msg and "wavelength_nm" in msg


@pytest.mark.parametrize("header", ["wavelength", "x"])  # "wavenumber" alone reads as cm^-1 (s58 review #2)
def test_unnamed_wavenumbers_are_refused_saying_so(tmp_path: Path, header: str) -> None:
    wn = np.linspace(4000.0, 25000.0, 80)
    lib = read_library(_write(tmp_path / "wn.csv", f"{header},grass,soil", wn, _spectra(1e7 / wn)))
    assert not lib.from_wavenumbers  # read as nm, as before
    with pytest.raises(BandMismatchError) as err:
        lib.resample(CUBE_NM)
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'wn.csv'}: no spectral overlap: the library covers 4000-25000 nm, the cube "
                          "420-2450 nm; its wavelengths 4000-25000 look like wavenumbers in cm^-1 (400-2500 nm")
    assert msg.endswith("convert the column with nm = 1e7 / cm^-1, or name it wavenumber_cm-1 to have it read as "
                        "wavenumbers")


def test_a_library_in_nm_that_misses_the_cube_gets_no_wavenumber_hint(tmp_path: Path) -> None:
    nm = np.linspace(400.0, 900.0, 40)  # VNIR library against a SWIR cube: read as cm^-1 it is 11-25 µm, no better
    lib = read_library(_write(tmp_path / "vnir.csv", "wavelength,grass,soil", nm, _spectra(nm)))
    with pytest.raises(BandMismatchError) as err:
        lib.resample(np.linspace(1200.0, 2450.0, 30))
    assert str(err.value) == (f"{tmp_path / 'vnir.csv'}: no spectral overlap: the library covers 400-900 nm, the cube "
                              "1200-2450 nm; use a library measured over the cube's bands")


def test_simulation_refusal_says_wavenumbers(tmp_path: Path, load_fixture) -> None:  # noqa: ANN001
    """simulate-targets and hsi train --task detect refuse a library outside most bands before resampling."""
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import target_spectra

    speclib: ModuleType = load_fixture("speclib")
    cube = open_cube(speclib.write_geotiff(tmp_path / "scene.tif", speclib.background(1)))
    wn = np.linspace(4000.0, 25000.0, 80)
    path = _write(tmp_path / "wn.csv", "wavelength,grass", wn, _spectra(1e7 / wn)[:1])
    with pytest.raises(BandMismatchError) as err:
        target_spectra(cube, library=path, scale=1.0, max_extrapolated=0.5)
    msg = str(err.value)
    assert "covers 4000-25000 nm, but" in msg and "look like wavenumbers in cm^-1 (400-2500 nm" in msg
    assert msg.endswith("or name it wavenumber_cm-1 to have it read as wavenumbers") and "\n" not in msg
