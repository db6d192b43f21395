"""ENVI files as users get them from other tools (audit of session 53), checked against GDAL's ENVI driver.

Each case writes a tiny ENVI file (header text per the ENVI header format, raw numpy bytes) and compares
what ``open_cube`` reads with what rasterio (GDAL) reads from the same file.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from hsi_app.errors import CubeReadError, HSIWarning
from hsi_app.io.open import open_cube

CODES = {"u1": 1, "i2": 2, "i4": 3, "f4": 4, "f8": 5, "u2": 12}


def write_envi(folder: Path, name: str, arr: np.ndarray, extra: str = "", *, ext: str = ".img",
               header_name: str | None = None) -> tuple[Path, Path]:
    """Write ``arr`` ``(C, H, W)`` as BSQ little-endian ``name + ext`` and its header; extra header lines appended."""
    folder.mkdir(parents=True, exist_ok=True)
    c, h, w = arr.shape
    data = folder / f"{name}{ext}"
    data.write_bytes(np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"))).tobytes())
    header = folder / (header_name or f"{name}.hdr")
    header.write_text(f"ENVI\nsamples = {w}\nlines = {h}\nbands = {c}\nheader offset = 0\n"
                      f"file type = ENVI Standard\ndata type = {CODES[arr.dtype.str[1:]]}\ninterleave = bsq\n"
                      f"byte order = 0\n{extra}")
    return header, data


def gdal_view(data: Path) -> tuple[Affine, object]:
    """GDAL's transform and CRS of an ENVI file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(data) as ds:
            return ds.transform, ds.crs


TINY = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)


@pytest.mark.parametrize("units", ["Km", "Feet", "Yards", "Miles", "Nautical Miles", "Meters"])
def test_utm_map_info_in_other_length_units_is_placed_in_metres(tmp_path: Path, units: str) -> None:
    _, data = write_envi(tmp_path, "u", TINY, "map info = {UTM, 1, 1, 500.0, 4500.0, 0.03, 0.03, 33, North, "
                                              f"WGS-84, units={units}}}\n")
    cube = open_cube(data)
    gdal_t, gdal_crs = gdal_view(data)
    per_unit = gdal_crs.units_factor[1]  # GDAL keeps the units in a custom CRS: its metres per unit
    assert cube.rio.crs.to_epsg() == 32633
    np.testing.assert_allclose(tuple(cube.hsi.transform)[:6], np.array(tuple(gdal_t)[:6]) * per_unit, atol=1e-6)


@pytest.mark.parametrize("units", ["Seconds", "Minutes", "Degrees"])
def test_geographic_map_info_in_seconds_or_minutes_matches_gdal(tmp_path: Path, units: str) -> None:
    _, data = write_envi(tmp_path, "g", TINY, "map info = {Geographic Lat/Lon, 1, 1, 36000.0, 180000.0, 3.6, 3.6, "
                                              f"WGS-84, units={units}}}\n")
    cube = open_cube(data)
    gdal_t, gdal_crs = gdal_view(data)
    assert cube.rio.crs == gdal_crs
    np.testing.assert_allclose(tuple(cube.hsi.transform)[:6], tuple(gdal_t)[:6], rtol=1e-12)


def test_map_info_units_that_cannot_be_converted_keep_the_grid_without_a_crs(tmp_path: Path) -> None:
    _, data = write_envi(tmp_path, "n", TINY, "map info = {UTM, 1, 1, 5.0, 45.0, 0.1, 0.1, 33, North, WGS-84, "
                                              "units=Leagues}\n")
    with pytest.warns(HSIWarning, match=r"n\.hdr: 'map info' units='Leagues' cannot be converted"):
        cube = open_cube(data)
    assert cube.rio.crs is None
    assert tuple(cube.hsi.transform)[:6] == (0.1, 0.0, 5.0, 0.0, -0.1, 45.0)


@pytest.mark.parametrize(("ext", "open_name"), [(".sli", "lib.sli"), (".sli", "lib.hdr"), (".img", "lib.img")])
def test_a_spectral_library_passed_as_the_scene_says_to_pass_it_as_targets(tmp_path: Path, ext: str,
                                                                           open_name: str) -> None:
    spectra = np.random.default_rng(0).random((1, 3, 10)).astype(np.float32)  # 3 spectra x 10 channels
    wl = ", ".join(f"{0.4 + 0.2 * i:.2f}" for i in range(10))
    write_envi(tmp_path, "lib", spectra, "file type = ENVI Spectral Library\nspectra names = {a, b, c}\n"
                                         f"wavelength units = Micrometers\nwavelength = {{{wl}}}\n", ext=ext)
    from spectral.io import envi

    assert len(envi.open(str(tmp_path / "lib.hdr"), str(tmp_path / f"lib{ext}")).names) == 3  # SPy: a library
    with pytest.raises(CubeReadError, match=r"lib\.hdr: is an ENVI spectral library \(target spectra\), not an image; "
                                            r"pass it as --targets LIB"):
        open_cube(tmp_path / open_name)


def _esri_wkt(epsg: int) -> str:
    from rasterio.crs import CRS

    return CRS.from_epsg(epsg).to_wkt(version="WKT1_ESRI")  # as ENVI writes its coordinate system string


UTM33 = "map info = {UTM, 1, 1, 500000.0, 4500000.0, 30.0, 30.0, 33, North, WGS-84, units=Meters}\n"
GEO = "map info = {Geographic Lat/Lon, 1, 1, 10.0, 50.0, 0.001, 0.001, WGS-84, units=Degrees}\n"


@pytest.mark.parametrize(("map_info", "wkt_epsg"), [(UTM33, 32632), (UTM33, 32733), (GEO, 4269)])
def test_a_coordinate_system_string_that_contradicts_map_info_is_used_with_a_warning(
        tmp_path: Path, map_info: str, wkt_epsg: int) -> None:
    _, data = write_envi(tmp_path, "w", TINY, f"{map_info}coordinate system string = {{{_esri_wkt(wkt_epsg)}}}\n")
    with pytest.warns(HSIWarning, match=rf"w\.hdr: 'map info' names EPSG:\d+ but the 'coordinate system string' is "
                                        rf"EPSG:{wkt_epsg}; using the coordinate system string"):
        cube = open_cube(data)
    gdal_t, gdal_crs = gdal_view(data)
    assert cube.rio.crs == gdal_crs and tuple(cube.hsi.transform)[:6] == pytest.approx(tuple(gdal_t)[:6])


@pytest.mark.parametrize(("map_info", "wkt_epsg"), [(UTM33, 32633), (GEO, 4326)])
def test_a_coordinate_system_string_that_agrees_with_map_info_reads_quietly(tmp_path: Path, map_info: str,
                                                                            wkt_epsg: int) -> None:
    _, data = write_envi(tmp_path, "w", TINY, f"{map_info}coordinate system string = {{{_esri_wkt(wkt_epsg)}}}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(data)
    import pyproj

    assert pyproj.CRS.from_wkt(cube.rio.crs.to_wkt()).equals(pyproj.CRS.from_epsg(wkt_epsg), ignore_axis_order=True)


def test_a_comment_after_a_braced_value_is_named_with_its_line_and_fix(tmp_path: Path) -> None:
    header, data = write_envi(tmp_path, "c", TINY, "; written by a field script\n"
                                                   "wavelength = {450, 550} ; centres in nm\n")
    from spectral.io import envi

    with pytest.raises(envi.EnviException):  # SPy cannot parse it at all
        envi.read_envi_header(str(header))
    with pytest.raises(CubeReadError, match=r"c\.hdr: not a readable ENVI header .*; line 11 \('wavelength = "
                                            r"\{450, 550\} ; centres in nm'\) has a comment after its value; .*"
                                            r"move it to its own line"):
        open_cube(data)


def test_a_comment_after_a_scalar_value_keeps_the_value_as_gdal_does(tmp_path: Path) -> None:
    arr = TINY.copy()
    arr[:, 0, 0] = -9999
    _, data = write_envi(tmp_path, "s", arr, "data ignore value = -9999 ; fill of the swath edge\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(data) as ds:
            gdal_nodata = ds.nodata
    assert cube.attrs["raw_nodata"] == gdal_nodata == -9999
    assert not bool(cube.hsi.valid[0, 0]) and int(np.asarray(cube.hsi.valid).sum()) == 11


@pytest.mark.parametrize("interleave", ["Bil", "Bip", "Bsq", "bIL"])
def test_an_interleave_in_mixed_case_is_read_in_that_order(tmp_path: Path, interleave: str) -> None:
    truth = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    order = {"bsq": (0, 1, 2), "bil": (1, 0, 2), "bip": (1, 2, 0)}[interleave.lower()]
    _, data = write_envi(tmp_path, "m", truth)
    data.write_bytes(np.ascontiguousarray(truth.transpose(order)).astype("<i2").tobytes())
    header = tmp_path / "m.hdr"
    header.write_text(header.read_text().replace("interleave = bsq", f"interleave = {interleave}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(data) as ds:
            gdal = ds.read()
    cube = open_cube(data)
    np.testing.assert_array_equal(gdal, truth)
    np.testing.assert_array_equal(cube.values, truth)
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(cube.data)).compute(), truth)  # as a dask worker reads it


WINDOWS_LINES = ("description = {C:\\Daten\\M\u00fcller\\flug_3.img, 25 \u00b0C}\n"
                 "wavelength units = \u00b5m\nwavelength = {0.5, 0.6}\ndata ignore value = -9999\n")


def test_a_header_in_windows_cp1252_is_read_as_gdal_reads_it(tmp_path: Path) -> None:
    arr = TINY.copy()
    arr[:, 1, 2] = -9999
    header, data = write_envi(tmp_path, "w", arr)
    header.write_bytes(header.read_bytes() + WINDOWS_LINES.encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        header.read_text(encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(data) as ds:
            gdal, wl0, nodata = ds.read(), float(ds.tags(1)["wavelength"]), ds.nodata
    cube = open_cube(data)
    np.testing.assert_array_equal(np.nan_to_num(cube.values, nan=nodata), gdal)
    assert cube.attrs["raw_nodata"] == nodata and not bool(cube.hsi.valid[1, 2])
    np.testing.assert_allclose(cube.hsi.wavelengths, [wl0 * 1000.0, 600.0])  # µm in cp1252 read as micrometres


def test_a_tiff_header_in_cp1252_still_gives_its_wavelengths(tmp_path: Path) -> None:
    from rasterio.transform import from_origin

    tiff = tmp_path / "t.tif"
    with rasterio.open(tiff, "w", driver="GTiff", width=4, height=3, count=2, dtype="int16", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4100000.0, 30.0, 30.0)) as ds:
        ds.write(TINY)
    (tmp_path / "t.hdr").write_bytes(("ENVI\nsamples = 4\nlines = 3\nbands = 2\nheader offset = 0\nfile type = TIFF\n"
                                      "data type = 2\ninterleave = bsq\nbyte order = 0\n" + WINDOWS_LINES).encode("cp1252"))
    cube = open_cube(tiff)
    np.testing.assert_allclose(cube.hsi.wavelengths, [500.0, 600.0])


def _as_if_the_locale_were_cp1252(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Windows (cp1252) locale changes: the preferred encoding, and the encoding SPy opens headers in."""
    import io
    import locale
    import types

    from spectral.io import envi

    monkeypatch.setattr(locale, "getpreferredencoding", lambda do_setlocale=True: "cp1252")
    monkeypatch.setattr(envi, "builtins", types.SimpleNamespace(
        open=lambda file, mode="r", *a, **k: io.open(file, mode, *a, **{**k, "encoding": "cp1252"})))


def test_a_utf8_header_with_micro_sign_keeps_its_wavelengths_on_a_cp1252_locale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    header, data = write_envi(tmp_path, "u", TINY, "wavelength units = \u00b5m\nwavelength = {0.5, 0.6}\n"
                                                   "description = {M\u00fcller, 25 \u00b0C}\n")
    assert "\u00b5m".encode("utf-8").decode("cp1252") == "\u00c2\u00b5m"  # the bytes are valid cp1252 too
    _as_if_the_locale_were_cp1252(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(data)
    np.testing.assert_allclose(cube.hsi.wavelengths, [500.0, 600.0])


def test_a_tiff_header_in_utf8_keeps_its_wavelengths_on_a_cp1252_locale(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasterio.transform import from_origin

    tiff = tmp_path / "t.tif"
    with rasterio.open(tiff, "w", driver="GTiff", width=4, height=3, count=2, dtype="int16", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4100000.0, 30.0, 30.0)) as ds:
        ds.write(TINY)
    (tmp_path / "t.hdr").write_bytes(("ENVI\nsamples = 4\nlines = 3\nbands = 2\nheader offset = 0\nfile type = TIFF\n"
                                      "data type = 2\ninterleave = bsq\nbyte order = 0\n" + WINDOWS_LINES).encode("utf-8"))
    _as_if_the_locale_were_cp1252(monkeypatch)
    np.testing.assert_allclose(open_cube(tiff).hsi.wavelengths, [500.0, 600.0])


def test_comments_after_scalar_keys_are_dropped_as_gdal_reads_them(tmp_path: Path) -> None:
    truth = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    _, data = write_envi(tmp_path, "k", truth)
    data.write_bytes(np.ascontiguousarray(truth.transpose(1, 0, 2)).astype("<i2").tobytes())  # BIL
    header = tmp_path / "k.hdr"
    text = header.read_text()
    for key, value in (("data type", "2"), ("byte order", "0"), ("header offset", "0"), ("interleave", "bsq")):
        text = text.replace(f"{key} = {value}\n", f"{key} = {'bil' if key == 'interleave' else value} ; {key} note\n")
    header.write_text(text + "wavelength units = Micrometers ; um\nwavelength = {0.5, 0.6, 0.7}\n"
                             "description = {run 3; calibrated}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(data) as ds:
            gdal, gdal_wl = ds.read(), [float(ds.tags(i)["wavelength"]) for i in (1, 2, 3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(data)
    np.testing.assert_array_equal(gdal, truth)
    np.testing.assert_array_equal(cube.values, gdal)
    np.testing.assert_allclose(cube.hsi.wavelengths, np.array(gdal_wl) * 1000.0)
    from hsi_app.io.envi import read_header

    assert read_header(header)["description"] == "run 3; calibrated"


@pytest.mark.parametrize(("written", "dtype"), [("02", "<i2"), ("+4", "<f4"), ("012", "<u2")])
def test_a_data_type_code_with_a_sign_or_leading_zero_is_read_as_gdal_reads_it(tmp_path: Path, written: str,
                                                                                 dtype: str) -> None:
    truth = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(dtype)
    _, data = write_envi(tmp_path, "d", truth.astype(np.int16))
    data.write_bytes(truth.tobytes())
    header = tmp_path / "d.hdr"
    header.write_text(header.read_text().replace("data type = 2\n", f"data type = {written}\n"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(data) as ds:
            gdal = ds.read()
    assert gdal.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(open_cube(data).values, gdal)


def test_a_data_type_spectral_python_cannot_look_up_is_one_error_naming_the_header(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spectral.io import envi

    _, data = write_envi(tmp_path, "k", TINY)
    monkeypatch.setattr(envi, "envi_to_dtype", {k: v for k, v in envi.envi_to_dtype.items() if k != "2"})
    with pytest.raises(CubeReadError, match=r"k\.hdr: SPy cannot open this ENVI image \(KeyError: '2'\)"):
        open_cube(data)


def test_utm_map_info_in_us_survey_feet_is_placed_in_metres(tmp_path: Path) -> None:
    _, data = write_envi(tmp_path, "f", TINY, "map info = {UTM, 1, 1, 3937.0, 39370.0, 3.937, 3.937, 33, North, "
                                              "WGS-84, units=US Feet}\n")
    cube = open_cube(data)  # a US survey foot is 1200/3937 m
    assert cube.rio.crs.to_epsg() == 32633
    np.testing.assert_allclose(tuple(cube.hsi.transform)[:6], (1.2, 0.0, 1200.0, 0.0, -1.2, 12000.0), rtol=1e-12)


def _utm33_wkt(units: str, zone: int = 33) -> str:
    import pyproj

    return pyproj.CRS.from_proj4(f"+proj=utm +zone={zone} +datum=WGS84 +units={units}").to_wkt(version="WKT1_ESRI")


def test_a_coordinate_system_string_in_km_that_agrees_with_map_info_in_km_reads_quietly(tmp_path: Path) -> None:
    _, data = write_envi(tmp_path, "k", TINY, "map info = {UTM, 1, 1, 500.0, 4500.0, 0.03, 0.03, 33, North, WGS-84, "
                                              f"units=Km}}\ncoordinate system string = {{{_utm33_wkt('km')}}}\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(data)
    gdal_t, gdal_crs = gdal_view(data)
    assert cube.rio.crs.units_factor[1] == gdal_crs.units_factor[1] == 1000.0
    assert tuple(cube.hsi.transform)[:6] == pytest.approx(tuple(gdal_t)[:6])


def test_a_coordinate_system_string_in_km_of_another_zone_still_warns(tmp_path: Path) -> None:
    _, data = write_envi(tmp_path, "k", TINY, "map info = {UTM, 1, 1, 500.0, 4500.0, 0.03, 0.03, 33, North, WGS-84, "
                                              f"units=Km}}\ncoordinate system string = {{{_utm33_wkt('km', 32)}}}\n")
    with pytest.warns(HSIWarning, match=r"k\.hdr: 'map info' names EPSG:32633 but the 'coordinate system string'"):
        open_cube(data)


@pytest.mark.parametrize(("units", "wkt_units", "said"), [("Feet", "m", "metre"), ("Meters", "km", "kilometre"),
                                                           ("Nautical Miles", "m", "metre")])
def test_map_info_units_other_than_the_wkt_units_place_the_grid_where_gdal_does(tmp_path: Path, units: str,
                                                                                  wkt_units: str, said: str) -> None:
    _, data = write_envi(tmp_path, "f", TINY, "map info = {UTM, 1, 1, 500.0, 4500.0, 0.03, 0.03, 33, North, WGS-84, "
                                              f"units={units}}}\ncoordinate system string = "
                                              f"{{{_utm33_wkt(wkt_units)}}}\n")
    with pytest.warns(HSIWarning, match=rf"f\.hdr: 'map info' gives units={units} but the 'coordinate system string' "
                                        rf"is in {said}; the grid is read in {units}"):
        cube = open_cube(data)
    gdal_t, gdal_crs = gdal_view(data)
    ours = np.array(tuple(cube.hsi.transform)[:6]) * cube.rio.crs.units_factor[1]  # in metres
    np.testing.assert_allclose(ours, np.array(tuple(gdal_t)[:6]) * gdal_crs.units_factor[1], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("padding", [b"\x00" * 16, b"\x00" * 7 + b"\n", b"\r\n" + b"\x00" * 500])
def test_a_header_padded_with_nul_bytes_is_read_as_gdal_reads_it(tmp_path: Path, padding: bytes) -> None:
    """Some writers pad the header with NUL bytes to a block size: they end the text (GDAL and Spectral Python read
    the header); a NUL before the last key is still a binary file, refused in one line naming the header."""
    truth = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    header, data = write_envi(tmp_path, "p", truth, "wavelength = {400, 500}\n")
    text = header.read_bytes()
    header.write_bytes(text + padding)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(data) as ds:
            gdal, gdal_wl = ds.read(), [float(ds.tags(i)["wavelength"]) for i in (1, 2)]
    cube = open_cube(data)
    np.testing.assert_array_equal(gdal, truth)
    np.testing.assert_array_equal(cube.values, gdal)
    np.testing.assert_allclose(cube.hsi.wavelengths, gdal_wl)
    header.write_bytes(text.replace(b"interleave", b"\x00interleave") + padding)
    with pytest.raises(CubeReadError, match=r"p.hdr: not a readable ENVI header .*binary file"):
        open_cube(data)
