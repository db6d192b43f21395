"""An ENVI .sli whose header says ``wavelength units = Wavenumber`` (review s58 #4): its centres are cm^-1 and are
converted with nm = 1e7 / cm^-1, as a CSV wavenumber column is; it was refused with advice to relabel them nm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import InvalidDataError
from hsi_app.io.spectral_library import read_library

WN = np.linspace(25000.0, 4000.0, 50)  # cm^-1, as ENVI lists them: 400..2500 nm
NM = 1e7 / WN


def _spectrum(nm: np.ndarray) -> np.ndarray:
    return 0.2 + 0.1 * np.sin(nm / 300.0)


def _sli(folder: Path, units: str, centres: np.ndarray) -> Path:
    values = _spectrum(1e7 / centres).astype("<f4")[None]
    (folder / "wn.sli").write_bytes(values.tobytes())
    (folder / "wn.hdr").write_text(
        f"ENVI\nsamples = {centres.size}\nlines = 1\nbands = 1\nheader offset = 0\nfile type = ENVI Spectral Library\n"
        f"data type = 4\ninterleave = bsq\nbyte order = 0\nwavelength units = {units}\nspectra names = {{grass}}\n"
        "wavelength = {" + ", ".join(f"{v:.6g}" for v in centres) + "}\n")
    return folder / "wn.sli"


@pytest.mark.parametrize("units", ["Wavenumber", "wavenumber", "cm-1"])
def test_wavenumber_units_are_converted_to_nm(tmp_path: Path, units: str) -> None:
    lib = read_library(_sli(tmp_path, units, WN))
    assert lib.names == ["grass"] and lib.from_wavenumbers
    np.testing.assert_allclose(lib.wavelengths, np.sort(NM), rtol=1e-5)
    np.testing.assert_allclose(lib.spectra[0], _spectrum(lib.wavelengths), rtol=1e-4)
    # the same spectrum written in nm resamples to the same values
    csv = tmp_path / "nm.csv"
    csv.write_text("wavelength_nm,grass\n" + "".join(f"{a:.6g},{b:.6g}\n" for a, b in zip(NM, _spectrum(NM), strict=True)))
    cube = np.linspace(420.0, 2450.0, 30)
    np.testing.assert_allclose(lib.resample(cube), read_library(csv).resample(cube), rtol=1e-4, atol=1e-6)


def test_impossible_wavenumbers_are_one_line_naming_the_header(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError) as err:
        read_library(_sli(tmp_path, "Wavenumber", np.linspace(-10.0, 5000.0, 20)))
    msg = str(err.value)
    assert msg.startswith(f"{tmp_path / 'wn.hdr'}: 'wavelength units = Wavenumber' says wavenumbers (cm^-1) but holds")
    assert "\n" not in msg and msg.endswith("set 'wavelength units' to Nanometers if it holds nm")
