"""Band numbers written where band centres belong are not read as wavelengths (1-50 nm, or 1000-29000 nm as µm)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.errors import HSIWarning, InvalidDataError
from hsi_app.io.open import open_cube
from hsi_app.io.spectral_library import read_library
from hsi_app.io.wavelength_units import nm_factor

H, W = 3, 4


def envi(folder: Path, name: str, wavelengths: list[float], units: str | None) -> Path:
    c = len(wavelengths)
    (folder / f"{name}.img").write_bytes(np.ones((c, H, W), "<i2").tobytes())
    text = (f"ENVI\nsamples = {W}\nlines = {H}\nbands = {c}\nheader offset = 0\ndata type = 2\ninterleave = bsq\n"
            f"byte order = 0\nwavelength = {{{', '.join(f'{v:g}' for v in wavelengths)}}}\n")
    if units is not None:
        text += f"wavelength units = {units}\n"
    hdr = folder / f"{name}.hdr"
    hdr.write_text(text)
    return hdr


@pytest.mark.parametrize("units", ["Unknown", None, "Nanometers"])
@pytest.mark.parametrize("count", [50, 20])
def test_band_numbers_in_an_envi_header_leave_wavelengths_unknown(tmp_path: Path, units: str | None,
                                                                  count: int) -> None:
    """50 bands read as 1-50 nm and 20 bands as 1000-20000 nm (taken as µm), without a word."""
    hdr = envi(tmp_path, "idx", list(range(1, count + 1)), units)
    with pytest.warns(HSIWarning, match=rf"idx.hdr: wavelength values 1, 2, ..., {count} are band numbers"):
        cube = open_cube(hdr)
    assert np.isnan(cube.hsi.wavelengths).all()


def test_zero_based_numbers_and_centres_below_200_nm(tmp_path: Path) -> None:
    with pytest.warns(HSIWarning, match="values 0, 1, ..., 9 are band numbers"):
        assert np.isnan(open_cube(envi(tmp_path, "zero", list(range(10)), "nm")).hsi.wavelengths).all()
    with pytest.warns(HSIWarning, match="below 200 nm where no optical band lies"):
        assert np.isnan(open_cube(envi(tmp_path, "low", [40.0, 95.5, 180.0], "nm")).hsi.wavelengths).all()


def test_band_numbers_in_geotiff_band_tags(tmp_path: Path) -> None:
    path = tmp_path / "tags.tif"
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=5, dtype="uint16", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4100000.0, 30.0, 30.0)) as ds:
        ds.write(np.ones((5, H, W), np.uint16))
        for i in range(5):
            ds.update_tags(i + 1, wavelength=str(i + 1), wavelength_units="Unknown")
    with pytest.warns(HSIWarning, match="values 1, 2, ..., 5 are band numbers"):
        assert np.isnan(open_cube(path).hsi.wavelengths).all()


def test_real_centres_stay_and_warn_nothing(tmp_path: Path) -> None:
    """Thermal centres 8-12 µm are consecutive whole numbers too, but not from 0 or 1; 1-nm spectrometer steps too."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(envi(tmp_path, "thermal", [8.0, 9.0, 10.0, 11.0, 12.0], "Micrometers"))
        assert nm_factor(np.arange(350.0, 2501.0), "nm") == 1.0
        assert nm_factor(np.array([1.0, 2.0]), None) == 1000.0  # two values: too few to tell
    np.testing.assert_allclose(cube.hsi.wavelengths, [8000, 9000, 10000, 11000, 12000])


def test_a_library_of_band_numbers_is_refused_with_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "lib.csv"
    csv.write_text("x,grass\n" + "".join(f"{i},{0.1 * i:.2f}\n" for i in range(1, 6)))
    with pytest.raises(InvalidDataError, match=r"lib.csv: column 'x' values 1, 2, ..., 5 are band numbers"):
        read_library(csv)
    sli = tmp_path / "lib.sli"
    sli.write_bytes(np.full((1, 5), 0.3, "<f4").tobytes())
    (tmp_path / "lib.hdr").write_text("ENVI\nsamples = 5\nlines = 1\nbands = 1\nheader offset = 0\n"
                                      "file type = ENVI Spectral Library\ndata type = 4\ninterleave = bsq\n"
                                      "byte order = 0\nwavelength = {1, 2, 3, 4, 5}\nspectra names = {grass}\n")
    with pytest.raises(InvalidDataError, match=r"lib.hdr: 'wavelength' values 1, 2, ..., 5 are band numbers"):
        read_library(sli)
