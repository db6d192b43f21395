"""Library CSV x-columns (review s58 3 #1): a name that only starts with ``wave``/``wl``/``nm``/``lambda`` or holds a
unit word does not make a column an x-column; material names such as USGS's ``Wavellite HS415.3B`` or grain sizes
(``Quartz 125-500 um``) stay materials. A second wavelength column counts as an x-column only when its values agree
with the wavelength column once in nm by the unit its name gives; wavenumber and width columns by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.io.spectral_library import read_library

NM = np.linspace(400.0, 2500.0, 40)


def _spectrum(centre: float, depth: float) -> np.ndarray:
    """A reflectance spectrum of 0.2-0.6 with one absorption, different per material."""
    return 0.6 - depth * np.exp(-(((NM - centre) / 150.0) ** 2))


def _write(path: Path, header: str, *columns: np.ndarray) -> Path:
    rows = [header] + [",".join(f"{v:.6g}" for v in row) for row in zip(*columns, strict=True)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("header, scale", [
    ("Wavelength (microns),Kaolinite CM9,Wavellite HS415.3B,Alunite GDS84", 1e-3),  # USGS splib07 names
    ("Wavelength (micrometers),Quartz 125-500 um,Calcite (75 um),Gypsum", 1e-3),    # grain sizes in the name
    ("wavelength,NM-soil-01,Lambda Rock,grass", 1.0),                                 # sample ids
    ("wavelength_nm,wl-test-plot,µm-dust,micron fines", 1.0),
])
def test_material_names_that_sound_like_units_stay_materials(tmp_path: Path, header: str, scale: float) -> None:
    spectra = [_spectrum(900.0, 0.3), _spectrum(1400.0, 0.2), _spectrum(2200.0, 0.4)]
    lib = read_library(_write(tmp_path / "lib.csv", header, NM * scale, *spectra))
    assert lib.names == [n.strip() for n in header.split(",")[1:]]
    np.testing.assert_allclose(lib.wavelengths, NM, rtol=1e-5)
    for got, want in zip(lib.spectra, spectra, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4)


@pytest.mark.parametrize("header, second", [
    ("wavelength_nm,wavelength_um,grass", NM / 1000.0),
    ("Wavelength (um),wl (nm),grass", NM),
    ("wavelength_nm,Lambda,grass", NM / 1000.0),  # no unit: below 30 is micrometres
])
def test_a_second_wavelength_column_that_agrees_is_no_material(tmp_path: Path, header: str,
                                                               second: np.ndarray) -> None:
    first = NM / 1000.0 if "(um)" in header else NM
    lib = read_library(_write(tmp_path / "two.csv", header, first, second, _spectrum(1200.0, 0.3)))
    assert lib.names == ["grass"] and lib.stored_as == "reflectance 0-1"
    np.testing.assert_allclose(lib.spectra[0], _spectrum(1200.0, 0.3), rtol=1e-4)


@pytest.mark.parametrize("name", ["fwhm", "FWHM (um)", "bandwidth", "Band width nm"])
def test_width_columns_are_no_materials(tmp_path: Path, name: str) -> None:
    width = np.full(NM.size, 10.0)  # as a material: values of 10 make the table read as percent
    lib = read_library(_write(tmp_path / "w.csv", f"wavelength_nm,{name},grass", NM, width, _spectrum(1200.0, 0.3)))
    assert lib.names == ["grass"] and lib.stored_as == "reflectance 0-1"


def test_a_wavenumber_column_beside_the_nm_column_is_still_no_material(tmp_path: Path) -> None:
    grass = _spectrum(1200.0, 0.3)
    lib = read_library(_write(tmp_path / "wn.csv", "wavenumber_cm-1,wavelength_nm,grass", 1e7 / NM, NM, grass))
    assert lib.names == ["grass"]
    np.testing.assert_allclose(lib.spectra[0], grass, rtol=1e-4)  # ~0.4, not ~4e-5 (read as x 10000)
