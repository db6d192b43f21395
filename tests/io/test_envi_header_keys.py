"""ENVI header keys beyond the basic layout, each checked against GDAL's own ENVI driver: per-band gain/offset,
the UTM hemisphere field, mixed-case keys."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.errors import CubeReadError, HSIWarning
from hsi_app.io.open import open_cube

C, H, W = 4, 3, 5
NODATA = -9999
GAIN = [0.0001, 0.0001, 0.0002, 0.0002]
OFFSET = [0.01, 0.01, 0.02, 0.02]


def raw_values() -> np.ndarray:
    raw = (np.arange(C * H * W, dtype=np.int16).reshape(C, H, W) * 100).astype(np.int16)
    raw[1, 0, 0] = NODATA
    return raw


def write_envi(folder: Path, name: str, extra: str, raw: np.ndarray | None = None) -> Path:
    """``name.img`` (int16 BSQ, little-endian) and ``name.hdr`` with the basic keys plus ``extra``."""
    raw = raw_values() if raw is None else raw
    c, h, w = raw.shape
    (folder / f"{name}.img").write_bytes(raw.astype("<i2").tobytes())
    hdr = folder / f"{name}.hdr"
    hdr.write_text(f"ENVI\nsamples = {w}\nlines = {h}\nbands = {c}\nheader offset = 0\nfile type = ENVI Standard\n"
                   f"data type = 2\ninterleave = bsq\nbyte order = 0\n{extra}")
    return hdr


def _list(values: list[float]) -> str:
    return "{" + ", ".join(f"{v:g}" for v in values) + "}"


def gdal_physical(img: Path) -> np.ndarray:
    """GDAL's reading: ``raw * scale + offset`` per band, no-data as NaN."""
    with rasterio.open(img) as ds:
        raw = ds.read().astype(np.float64)
        scales, offsets, nodata = np.array(ds.scales), np.array(ds.offsets), ds.nodata
    out = raw * scales[:, None, None] + offsets[:, None, None]
    return np.where(raw == nodata, np.nan, out)


def test_data_gain_and_offset_values_are_applied_as_gdal_applies_them(tmp_path: Path) -> None:
    """They were ignored: 3100 (raw DN) as ENVI, 0.64 after gdal_translate to GeoTIFF."""
    hdr = write_envi(tmp_path, "gain", f"data gain values = {_list(GAIN)}\ndata offset values = {_list(OFFSET)}\n"
                                       f"data ignore value = {NODATA}\nwavelength = {{400, 500, 600, 700}}\n")
    cube = open_cube(hdr)
    want = gdal_physical(hdr.with_suffix(".img"))
    assert np.isnan(want[1, 0, 0]) and want[2, 0, 1] == pytest.approx(3100 * 0.0002 + 0.02)
    np.testing.assert_allclose(cube.values, want, rtol=1e-6)
    assert cube.dtype == np.float32 and cube.attrs["scale_offset"] == "applied"
    np.testing.assert_allclose(cube.gain.values, GAIN)
    np.testing.assert_allclose(cube.offset.values, OFFSET)
    valid = cube.hsi.valid.values  # the ignore value is tested on raw values, before the gain
    assert not valid[0, 0] and valid.sum() == H * W - 1


def test_gain_alone_and_gain_with_a_reflectance_scale_factor(tmp_path: Path) -> None:
    raw = raw_values()
    hdr = write_envi(tmp_path, "g", f"data gain values = {_list([2.0] * C)}\n")
    np.testing.assert_allclose(open_cube(hdr).values, raw * 2.0)
    both = write_envi(tmp_path, "gs", f"data gain values = {_list([2.0] * C)}\ndata offset values = {_list([1.0] * C)}\n"
                                      "reflectance scale factor = 10\n")
    np.testing.assert_allclose(open_cube(both).values, (raw * 2.0 + 1.0) / 10.0, rtol=1e-6)


def test_unit_gain_and_a_wrong_length_change_nothing(tmp_path: Path) -> None:
    raw = raw_values().astype(np.float32)
    unit = open_cube(write_envi(tmp_path, "unit", f"data gain values = {_list([1.0] * C)}\n"))
    np.testing.assert_array_equal(unit.values, raw)
    assert "scale_offset" not in unit.attrs and "gain" not in unit.coords
    with pytest.warns(HSIWarning, match=r"short.hdr: 'data gain values' has 2 valid values for 4 bands; ignored"):
        short = open_cube(write_envi(tmp_path, "short", "data gain values = {2, 2}\n"))
    np.testing.assert_array_equal(short.values, raw)


@pytest.mark.parametrize(("hemisphere", "epsg"), [("North", 32611), ("north", 32611), ("N", 32611), ("South", 32711),
                                                  ("S", 32711), ("s", 32711)])
def test_utm_hemisphere_spellings(tmp_path: Path, hemisphere: str, epsg: int) -> None:
    hdr = write_envi(tmp_path, "utm", f"map info = {{UTM, 1, 1, 620430.0, 4183260.0, 15, 15, 11, {hemisphere}, "
                                      "WGS-84, units=Meters}\n")
    cube = open_cube(hdr)
    assert cube.rio.crs.to_epsg() == epsg
    if hemisphere in ("North", "South"):  # GDAL reads ENVI's own spelling the same way
        with rasterio.open(hdr.with_suffix(".img")) as ds:
            assert ds.crs.to_epsg() == epsg


@pytest.mark.parametrize(("fields", "said"), [("11, WGS-84", "'WGS-84' where the hemisphere belongs"),
                                              ("11", "no hemisphere"), ("11, Norht, WGS-84", "'Norht'")])
def test_a_utm_map_info_without_a_hemisphere_is_refused(tmp_path: Path, fields: str, said: str) -> None:
    """It was read as South (EPSG:32711, 10,000 km off) without a word."""
    hdr = write_envi(tmp_path, "hemi", f"map info = {{UTM, 1, 1, 620430.0, 4183260.0, 15, 15, {fields}, units=Meters}}\n")
    with pytest.raises(CubeReadError) as err:
        open_cube(hdr)
    msg = str(err.value)
    assert msg.startswith(f"{hdr}: 'map info' gives UTM {said}") and "North or South" in msg and "\n" not in msg


def test_mixed_case_keys_open_without_spectral_pythons_warning(tmp_path: Path) -> None:
    """Spectral Python's 'Parameters with non-lowercase names encountered' UserWarning leaked from open_cube."""
    raw = raw_values()
    hdr = tmp_path / "mixed.hdr"
    (tmp_path / "mixed.img").write_bytes(raw.astype("<i2").tobytes())
    hdr.write_text(f"ENVI\nSamples = {W}\nLines = {H}\nBands = {C}\nHeader Offset = 0\nData Type = 2\n"
                   "Interleave = bsq\nByte Order = 0\nWavelength Units = Nanometers\nWavelength = {400, 500, 600, 700}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cube = open_cube(hdr)
        values = cube.values
    np.testing.assert_array_equal(values, raw.astype(np.float32))
    np.testing.assert_allclose(cube.hsi.wavelengths, [400, 500, 600, 700])
