"""``hsi info``'s text names its units: pixel sides in the CRS's unit, the CRS by name, the file's own dtype.

Before: ``resolution   100 x 100`` for a US-survey-feet State Plane grid and for a UTM one alike, ``0.0003 x 0.0003``
for degrees; a CRS without an EPSG code printed as a whole WKT line; an int16 ENVI file or a scaled uint16 GeoTIFF
said ``(float32)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from cli_runner import run_main

from hsi_app.io.open import open_cube
from hsi_app.io.summary import format_summary, summarize

C, H, W = 3, 10, 12
TM = "+proj=tmerc +lat_0=0 +lon_0=15.5 +k=0.9996 +x_0=500000 +y_0=0 +ellps=WGS84 +units=m +no_defs"


def _tif(path: Path, crs: object, res: float, *, dtype: str = "float32", scale: float | None = None) -> Path:
    values = np.random.default_rng(0).integers(1, 1000, (C, H, W)).astype(dtype)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype=dtype, crs=crs,
                       transform=from_origin(1000.0, 2000.0, res, res)) as ds:
        ds.write(values)
        if scale is not None:
            ds.scales = [scale] * C
    return path


def _line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(key))


def test_resolution_names_the_crs_unit(tmp_path: Path) -> None:
    cases = {  # CRS -> the unit its axes are in (EPSG registry)
        "EPSG:32633": "m",  # WGS 84 / UTM zone 33N
        "EPSG:2227": "US ft",  # NAD83 / California zone 3 (ftUS)
        "EPSG:4326": "degrees",
        "EPSG:4807": "grads",  # NTF (Paris): its axes are in grads, which were called degrees (review 4 #3)
    }
    for crs, unit in cases.items():
        res = 0.0003 if unit in ("degrees", "grads") else 100.0
        info = summarize(open_cube(_tif(tmp_path / f"{crs[5:]}.tif", crs, res)))
        assert info["resolution"] == [res, res] and info["resolution_unit"] == unit
        assert _line(format_summary(info), "resolution") == f"resolution   {res:g} x {res:g} {unit}"


def test_crs_line_gives_the_name_not_the_wkt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = summarize(open_cube(_tif(tmp_path / "utm.tif", "EPSG:32633", 30.0)))
    assert _line(format_summary(info), "crs") == "crs          EPSG:32633 (WGS 84 / UTM zone 33N)"
    path = _tif(tmp_path / "tm.tif", CRS.from_proj4(TM), 2.0)
    code, out, err = run_main(capsys, "info", str(path))
    assert code == 0, err
    line = _line(out, "crs")
    assert "PROJCS" not in line and len(line) < 100 and "Transverse Mercator" in line
    info = json.loads(run_main(capsys, "info", str(path), "--json")[1])
    assert CRS.from_string(info["crs"]) == CRS.from_proj4(TM)  # --json keeps the whole CRS


def test_size_line_names_the_file_dtype_of_a_decoded_file(tmp_path: Path) -> None:
    path = _tif(tmp_path / "scaled.tif", "EPSG:32633", 30.0, dtype="uint16", scale=1e-4)
    info = summarize(open_cube(path))
    assert (info["dtype"], info["file_dtype"]) == ("float32", "uint16")
    assert _line(format_summary(info), "size").endswith("(uint16 in the file, read as float32)")
    plain = summarize(open_cube(_tif(tmp_path / "plain.tif", "EPSG:32633", 30.0, dtype="int16")))
    assert "file_dtype" not in plain and _line(format_summary(plain), "size").endswith("(int16)")


def test_wavelength_line_gives_fwhm_and_how_many_centres_are_known(tmp_path: Path) -> None:
    """Centres and FWHM in µm tags: the line gives both ranges in nm; with a band untagged, says how many are known."""
    path = _tif(tmp_path / "um.tif", "EPSG:32633", 30.0)
    with rasterio.open(path, "r+") as ds:
        for band, (wl, fw) in enumerate([(0.4512, 0.0101), (0.5523, 0.0112), (2.2015, 0.0134)], start=1):
            ds.update_tags(band, wavelength=str(wl), fwhm=str(fw), wavelength_units="micrometers")
    info = summarize(open_cube(path))
    assert info["wavelengths_nm"] == [451.2, 552.3, 2201.5]
    assert _line(format_summary(info), "wavelengths") == "wavelengths  451.2-2201.5 nm, FWHM 10.1-13.4 nm"
    part = _tif(tmp_path / "part.tif", "EPSG:32633", 30.0)
    with rasterio.open(part, "r+") as ds:
        ds.descriptions = ("band 1 (451.2 nm)", "", "band 3 (2201.5 nm)")
    info = summarize(open_cube(part))
    known = sum(v is not None for v in info["wavelengths_nm"])
    assert _line(format_summary(info), "wavelengths") == f"wavelengths  451.2-2201.5 nm ({known} of 3 bands known)"
    assert known == 2


def test_valid_line_counts_pixels_and_never_rounds_to_all(tmp_path: Path) -> None:
    """One no-data pixel in 60,000 printed as ``valid pixels 100.00%``: the line now gives the count and does not
    round a missing pixel away."""
    values = np.full((2, 200, 300), 5, np.uint16)
    values[:, 7, 9] = 0
    path = tmp_path / "one.tif"
    with rasterio.open(path, "w", driver="GTiff", height=200, width=300, count=2, dtype="uint16", nodata=0,
                       crs="EPSG:32633", transform=from_origin(1000.0, 2000.0, 30, 30)) as ds:
        ds.write(values)
    info = summarize(open_cube(path))
    expected = int((values != 0).all(0).sum())
    assert info["valid_pixels"] == expected == 59_999
    assert _line(format_summary(info), "valid pixels") == "valid pixels >99.99% (59,999 of 60,000)"
