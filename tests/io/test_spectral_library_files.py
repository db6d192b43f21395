"""Spectral libraries written byte by byte as USGS and ENVI ship them: deleted channels, ignore values, header names."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsi_app.errors import HSIWarning, InvalidDataError
from hsi_app.io.spectral_library import read_library

WL_UM = np.round(np.linspace(0.4, 2.5, 50), 4)
VEG = 0.05 + 0.45 / (1 + np.exp(-(WL_UM - 0.715) / 0.015))
SOIL = 0.1 + 0.2 * (WL_UM - 0.4) / 2.1
USGS_DELETED = -1.23e34
"""What USGS splib07 writes for a deleted channel (ENVI .sli, ASCII and CSV forms alike)."""
DELETED = {0: [30], 1: [31, 32]}
"""Spectrum -> channels holding :data:`USGS_DELETED`."""


def _spectra(deleted: bool) -> np.ndarray:
    sp = np.stack([VEG, SOIL]).astype(np.float32)
    if deleted:
        for row, cols in DELETED.items():
            sp[row, cols] = USGS_DELETED
    return sp


def _header(extra: str = "", units: str = "Micrometers") -> str:
    lines = ["ENVI", "description = {USGS splib07 convolved (synthetic)}", f"samples = {WL_UM.size}", "lines = 2",
             "bands = 1", "header offset = 0", "file type = ENVI Spectral Library", "data type = 4",
             "interleave = bsq", "byte order = 0"]
    if units:
        lines.append(f"wavelength units = {units}")
    lines += ["spectra names = {Vegetation, Soil}", "wavelength = {" + ", ".join(map(str, WL_UM)) + "}"]
    return "\n".join(lines) + "\n" + extra


def write_sli(folder: Path, name: str, spectra: np.ndarray, extra: str = "", *, header_name: str | None = None,
              units: str = "Micrometers", dtype: str = "<f4") -> Path:
    """``name.sli`` (rows of little-endian values) and its header; returns the .sli."""
    sli = folder / f"{name}.sli"
    sli.write_bytes(spectra.astype(dtype).tobytes())
    (folder / (header_name or f"{name}.hdr")).write_text(_header(extra, units))
    return sli


def _deleted_mask() -> np.ndarray:
    """``(2, 50)`` bool: the cells :data:`DELETED` marks."""
    out = np.zeros((2, WL_UM.size), dtype=bool)
    for row, cols in DELETED.items():
        out[row, cols] = True
    return out


@pytest.mark.parametrize("declared", [True, False])
def test_usgs_deleted_channels_in_an_sli_are_missing_before_the_scale_guess(tmp_path: Path, declared: bool) -> None:
    """-1.23e34 made the whole library 'reflectance x 10000' (values / 10000) and leaked -1.23e30 into resampling.

    Each spectrum keeps its own channels: Vegetation's deleted channel 30 does not remove Soil's value there."""
    extra = "data ignore value = -1.23e34\n" if declared else ""
    sli = write_sli(tmp_path, "usgs", _spectra(deleted=True), extra)
    with pytest.warns(HSIWarning, match=r"usgs.sli: missing values .*Vegetation: 1 of 50 channels missing, Soil: 2 of "
                                        r"50 channels missing; each material uses its own channels"):
        lib = read_library(sli)
    assert lib.stored_as == "reflectance 0-1"
    np.testing.assert_allclose(lib.wavelengths, WL_UM * 1000.0)
    assert (np.isnan(lib.spectra) == _deleted_mask()).all()
    np.testing.assert_allclose(lib.spectra[~_deleted_mask()], _spectra(deleted=False)[~_deleted_mask()], rtol=1e-6)
    out = lib.resample(np.linspace(400, 2500, 211), np.full(211, 10.0))
    assert np.isfinite(out).all() and 0.0 < out.min() and out.max() <= 0.5 + 1e-6


def test_usgs_deleted_channels_in_a_csv_are_missing(tmp_path: Path) -> None:
    sp = _spectra(deleted=True).astype(np.float64)
    path = tmp_path / "usgs.csv"
    pd.DataFrame({"Wavelength_um": WL_UM, "Vegetation": sp[0], "Soil": sp[1]}).to_csv(path, index=False)
    with pytest.warns(HSIWarning, match="USGS's -1.23e34"):
        lib = read_library(path)
    assert lib.stored_as == "reflectance 0-1" and lib.wavelengths.size == 50
    assert (np.isnan(lib.spectra) == _deleted_mask()).all()
    np.testing.assert_allclose(lib.spectra[~_deleted_mask()], _spectra(deleted=False)[~_deleted_mask()], rtol=1e-6)


def test_the_headers_data_ignore_value_marks_missing_channels(tmp_path: Path) -> None:
    """An ignore value below 1e30 (here -1) is known only from the header; it is compared as the file's float32."""
    sp = _spectra(deleted=False)
    sp[1, 5] = -1.0
    sli = write_sli(tmp_path, "ignore", sp, "data ignore value = -1\n")
    with pytest.warns(HSIWarning, match=r"the header's data ignore value\): Soil: 1 of 50 channels missing;"):
        lib = read_library(sli)
    assert lib.wavelengths.size == 50 and np.isnan(lib.spectra[1, 5]) and np.nanmin(lib.spectra) > 0
    assert np.isfinite(np.delete(lib.spectra, 5, axis=1)).all() and np.isfinite(lib.spectra[0]).all()


def test_a_clean_library_reads_without_a_warning(tmp_path: Path) -> None:
    sli = write_sli(tmp_path, "clean", _spectra(deleted=False), "data ignore value = -1.23e34\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lib = read_library(sli)
    assert lib.wavelengths.size == 50 and lib.stored_as == "reflectance 0-1"


def test_a_spectrum_with_nothing_left_is_named(tmp_path: Path) -> None:
    sp = _spectra(deleted=False)
    sp[1, :] = USGS_DELETED
    with pytest.warns(HSIWarning), pytest.raises(InvalidDataError, match=r"spectra with missing values: Soil"):
        read_library(write_sli(tmp_path, "empty", sp))


def test_a_non_numeric_ignore_value_is_one_line(tmp_path: Path) -> None:
    sli = write_sli(tmp_path, "bad", _spectra(deleted=False), "data ignore value = none\n")
    with pytest.raises(InvalidDataError, match=r"bad.hdr: 'data ignore value = none' is not a number; fix the header"):
        read_library(sli)


def test_sli_dot_hdr_naming(tmp_path: Path) -> None:
    """``lib.sli`` + ``lib.sli.hdr`` (as the image reader accepts ``x.img.hdr``) was 'header lib.hdr not found'."""
    sli = write_sli(tmp_path, "dotted", _spectra(deleted=False), header_name="dotted.sli.hdr")
    lib = read_library(sli)
    assert lib.names == ["Vegetation", "Soil"] and lib.wavelengths.size == 50
    assert read_library(tmp_path / "dotted.sli.hdr").names == lib.names


def test_missing_header_names_both_spellings(tmp_path: Path) -> None:
    (tmp_path / "alone.sli").write_bytes(_spectra(deleted=False).tobytes())
    with pytest.raises(FileNotFoundError, match=r"alone.sli: ENVI library header \(alone.hdr or alone.sli.hdr\)"):
        read_library(tmp_path / "alone.sli")


def test_an_sli_without_wavelength_units_guesses_them(tmp_path: Path) -> None:
    """No 'wavelength units' line: SPy reports '<unspecified>', which was refused as 'not a length'."""
    lib = read_library(write_sli(tmp_path, "nounits", _spectra(deleted=False), units=""))
    np.testing.assert_allclose(lib.wavelengths, WL_UM * 1000.0)


def test_an_sli_with_a_cp1252_header_an_offset_and_big_endian_values_reads_as_written(tmp_path: Path) -> None:
    """ENVI on Windows writes 'Forêt' in cp1252 (Spectral Python's reader refused the header as a binary file), and a
    header offset and byte order 1 say where and how the values lie (SPy's library reader ignored the offset)."""
    spectra = _spectra(deleted=False)
    header = _header().replace("header offset = 0", "header offset = 16").replace("byte order = 0", "byte order = 1")
    header = header.replace("{Vegetation, Soil}", "{Forêt, Sol nu}")
    (tmp_path / "lib.hdr").write_bytes(header.encode("cp1252"))
    (tmp_path / "lib.sli").write_bytes(b"\x00" * 16 + spectra.astype(">f4").tobytes())
    for given in ("lib.sli", "lib.hdr"):
        lib = read_library(tmp_path / given)
        assert lib.names == ["Forêt", "Sol nu"], given
        np.testing.assert_allclose(lib.wavelengths, WL_UM * 1000.0)
        np.testing.assert_array_equal(lib.spectra, spectra.astype(np.float64))
    (tmp_path / "lib.sli").write_bytes(spectra.astype(">f4").tobytes())  # 16 bytes short of what the header says
    with pytest.raises(InvalidDataError, match=r"lib\.sli: not a readable ENVI spectral library \(lib\.sli holds 96 "
                                               r"values, the header describes 2 x 50\)"):
        read_library(tmp_path / "lib.sli")
