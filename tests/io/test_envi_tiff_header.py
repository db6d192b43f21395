"""The header ENVI writes beside a TIFF (``x.hdr``, ``file type = TIFF``): its wavelengths, FWHM, bbl and ignore
value reach the GeoTIFF reader, and opening the .hdr opens the TIFF."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.errors import HSIWarning
from hsi_app.io.envi import find_data
from hsi_app.io.open import open_cube

C, H, W = 5, 6, 7
WL_UM = [0.45, 0.55, 0.65, 0.85, 1.65]
NODATA = -9999


def write_tiff(path: Path, *, tags: bool = False, nodata: float | None = None) -> np.ndarray:
    raw = (np.arange(C * H * W).reshape(C, H, W) * 10).astype(np.int16)
    raw[2, 1, 1] = NODATA
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=C, dtype="int16", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4100000.0, 30.0, 30.0), nodata=nodata) as ds:
        ds.write(raw)
        if tags:
            for i in range(C):
                ds.update_tags(i + 1, wavelength=f"{500 + 100 * i}", wavelength_units="nm")
    return raw


def envi_tiff_header(path: Path, *, samples: int = W, file_type: str = "TIFF") -> Path:
    """The header ENVI writes for a TIFF it has opened and annotated."""
    path.write_text(
        "ENVI\ndescription = {ENVI TIFF}\n"
        f"samples = {samples}\nlines = {H}\nbands = {C}\nheader offset = 0\nfile type = {file_type}\n"
        "data type = 2\ninterleave = bsq\nbyte order = 0\nwavelength units = Micrometers\n"
        "wavelength = {" + ", ".join(map(str, WL_UM)) + "}\nfwhm = {0.01, 0.01, 0.01, 0.012, 0.02}\n"
        f"bbl = {{1, 1, 1, 0, 1}}\ndata ignore value = {NODATA}\n")
    return path


def test_the_tiff_takes_wavelengths_fwhm_bbl_and_ignore_value_from_its_envi_header(tmp_path: Path) -> None:
    """They were dropped: `hsi info x.tif` said 'wavelengths unknown, bad bands 0'."""
    raw = write_tiff(tmp_path / "scene.tif")
    envi_tiff_header(tmp_path / "scene.hdr")
    cube = open_cube(tmp_path / "scene.tif")
    np.testing.assert_allclose(cube.hsi.wavelengths, np.array(WL_UM) * 1000.0)
    np.testing.assert_allclose(cube.hsi.fwhm, [10.0, 10.0, 10.0, 12.0, 20.0])
    assert cube.hsi.bad_bands == [3] and cube.attrs["format"] == "geotiff"
    assert cube.attrs["envi_header"] == str(tmp_path / "scene.hdr")
    valid = cube.hsi.valid.values
    assert not valid[1, 1] and valid.sum() == H * W - 1  # the ignore value, in a good band
    np.testing.assert_array_equal(cube.values[0], raw[0])


def test_opening_the_header_opens_its_tiff(tmp_path: Path) -> None:
    """It was 'no data file next to the header (looked for scene, scene.img, ...)' with scene.tif beside it."""
    write_tiff(tmp_path / "scene.tif")
    hdr = envi_tiff_header(tmp_path / "scene.hdr")
    assert find_data(hdr) == tmp_path / "scene.tif"  # batch and provenance: the header stands for the TIFF
    via_hdr, via_tif = open_cube(hdr), open_cube(tmp_path / "scene.tif")
    np.testing.assert_array_equal(via_hdr.values, via_tif.values)
    np.testing.assert_allclose(via_hdr.hsi.wavelengths, via_tif.hsi.wavelengths)
    assert via_hdr.hsi.bad_bands == [3] and via_hdr.rio.crs.to_epsg() == 32633


def test_tif_dot_hdr_naming_and_upper_case(tmp_path: Path) -> None:
    write_tiff(tmp_path / "A.TIF")
    hdr = envi_tiff_header(tmp_path / "A.TIF.hdr")
    assert find_data(hdr) == tmp_path / "A.TIF"
    np.testing.assert_allclose(open_cube(tmp_path / "A.TIF").hsi.wavelengths, np.array(WL_UM) * 1000.0)


def test_the_tiffs_own_wavelengths_and_nodata_win(tmp_path: Path) -> None:
    write_tiff(tmp_path / "tagged.tif", tags=True, nodata=0)
    envi_tiff_header(tmp_path / "tagged.hdr")
    cube = open_cube(tmp_path / "tagged.tif")
    np.testing.assert_allclose(cube.hsi.wavelengths, [500, 600, 700, 800, 900])
    assert cube.attrs["nodata"] == 0 and cube.hsi.bad_bands == [3]


def test_a_header_of_another_size_is_ignored_with_a_warning(tmp_path: Path) -> None:
    write_tiff(tmp_path / "scene.tif")
    envi_tiff_header(tmp_path / "scene.hdr", samples=W + 1)
    with pytest.warns(HSIWarning, match=r"scene.hdr: describes 5 x 6 x 8 .* scene.tif is 5 x 6 x 7"):
        cube = open_cube(tmp_path / "scene.tif")
    assert np.isnan(cube.hsi.wavelengths).all() and cube.hsi.bad_bands == []


def test_a_standard_header_beside_a_tiff_is_not_its_sidecar(tmp_path: Path) -> None:
    """gdal_translate's x.tif beside x.img + x.hdr (file type = ENVI Standard): the header is the .img's."""
    write_tiff(tmp_path / "scene.tif")
    envi_tiff_header(tmp_path / "scene.hdr", file_type="ENVI Standard")
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(tmp_path / "scene.tif")
    assert np.isnan(cube.hsi.wavelengths).all() and "envi_header" not in cube.attrs


def test_a_tiff_header_without_its_tiff_names_it(tmp_path: Path) -> None:
    hdr = envi_tiff_header(tmp_path / "lost.hdr")
    with pytest.raises(FileNotFoundError) as err:
        open_cube(hdr)
    msg = str(err.value)
    assert msg.startswith(f"{hdr}: says 'file type = TIFF' but no TIFF is beside it (looked for lost.tif, lost.tiff)")
    assert "open the TIFF itself" in msg and "\n" not in msg


SCALING = ("data gain values = {2, 2, 2, 2, 0.5}\ndata offset values = {0, 10, 0, 0, -5}\n"
           "reflectance scale factor = 10000\n")


def _header(path: Path, file_type: str, extra: str = SCALING) -> Path:
    envi_tiff_header(path, file_type=file_type)
    path.write_text(path.read_text() + extra)
    return path


def test_a_tiff_reads_in_the_units_of_its_envi_header_as_envi_bsq_does(tmp_path: Path) -> None:
    """The same product as ENVI BSQ and as TIFF + `file type = TIFF` header: the same values. The TIFF ignored the
    header's gain/offset and reflectance scale factor, so it read as DN x 10000 where the BSQ read 0-1."""
    raw = write_tiff(tmp_path / "scene.tif")
    _header(tmp_path / "scene.hdr", "TIFF")
    raw.astype("<i2").tofile(tmp_path / "bsq.img")
    _header(tmp_path / "bsq.hdr", "ENVI Standard")
    tiff, bsq = open_cube(tmp_path / "scene.tif"), open_cube(tmp_path / "bsq.img")
    assert bsq.attrs["format"] == "envi" and tiff.attrs["format"] == "geotiff"
    want = bsq.values
    np.testing.assert_allclose(want[1, 0, 1], (raw[1, 0, 1] * 2 + 10) / 10000, rtol=1e-6)  # the ENVI reading
    np.testing.assert_allclose(tiff.values, want, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(np.isnan(tiff.values), np.isnan(want))  # the ignore value, on the raw values
    np.testing.assert_array_equal(tiff.hsi.valid.values, bsq.hsi.valid.values)
    assert tiff.attrs["scale_offset"] == "applied"


@pytest.mark.parametrize("extra", ["reflectance scale factor = 10000\n", "data gain values = {2, 2, 2, 2, 2}\n"])
def test_the_scale_factor_or_the_gain_alone_is_applied(tmp_path: Path, extra: str) -> None:
    raw = write_tiff(tmp_path / "scene.tif")
    _header(tmp_path / "scene.hdr", "TIFF", extra)
    raw.astype("<i2").tofile(tmp_path / "bsq.img")
    _header(tmp_path / "bsq.hdr", "ENVI Standard", extra)
    np.testing.assert_allclose(open_cube(tmp_path / "scene.tif").values, open_cube(tmp_path / "bsq.img").values,
                               rtol=1e-6, equal_nan=True)


def test_the_tiffs_own_scale_offset_wins_over_a_different_header_with_a_warning(tmp_path: Path) -> None:
    raw = write_tiff(tmp_path / "scene.tif")
    with rasterio.open(tmp_path / "scene.tif", "r+") as ds:
        ds.scales, ds.offsets = [0.001] * C, [0.0] * C
    _header(tmp_path / "scene.hdr", "TIFF")
    with pytest.warns(HSIWarning, match=r"scene\.hdr: its data gain/offset values or reflectance scale factor are "
                                        r"ignored, as scene\.tif has band scale/offset of its own"):
        cube = open_cube(tmp_path / "scene.tif")
    np.testing.assert_allclose(cube.values[0], raw[0] * 0.001, rtol=1e-6)
