"""ENVI reader against the seeded AVIRIS-like files of tests/data/envi/make.py."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine

from fixture_loader import fixture_module
from hsi_app.errors import CubeReadError, DatasetNotFoundError, HSIError
from hsi_app.io.envi import is_envi, read_envi, to_nanometres


fx = fixture_module("envi")
TRUTH = fx.truth(0)
EXPECTED = np.where(TRUTH.raw == fx.NODATA, np.nan, TRUTH.raw.astype(np.float32) / np.float32(fx.SCALE))


def data_of(hdr: Path, ext: str = ".img") -> Path:
    return hdr.with_suffix(ext)


@pytest.mark.parametrize(
    ("interleave", "byte_order", "offset"),
    [("bsq", 0, 0), ("bil", 0, 0), ("bip", 0, 0), ("bsq", 1, 0), ("bil", 1, 512), ("bip", 1, 37)],
)
def test_every_interleave_and_byte_order(tmp_path: Path, interleave: str, byte_order: int, offset: int) -> None:
    hdr = fx.make(tmp_path, interleave=interleave, byte_order=byte_order, header_offset=offset)
    cube = read_envi(hdr)
    assert isinstance(cube.data, da.Array) and cube.dtype == np.float32
    assert cube.hsi.shape == (fx.BANDS, fx.LINES, fx.SAMPLES)
    np.testing.assert_array_equal(cube.values, EXPECTED)
    assert cube.attrs["format"] == "envi" and cube.attrs["interleave"] == interleave


@pytest.mark.parametrize("units", ["um", "nm"])
def test_wavelengths_in_nm_whatever_the_header_units(tmp_path: Path, units: str) -> None:
    cube = read_envi(fx.make(tmp_path, units=units))
    np.testing.assert_allclose(cube.hsi.wavelengths, TRUTH.wavelength_nm, atol=1e-6)
    np.testing.assert_allclose(cube.hsi.fwhm, TRUTH.fwhm_nm, atol=1e-6)
    assert 400 < cube.hsi.wavelengths[0] < 410 and cube.hsi.wavelengths[-1] > 2400


def test_unitless_header_scales_fwhm_like_wavelength(tmp_path: Path) -> None:
    for units in ("um", "nm"):
        hdr = fx.make(tmp_path / units, units=units)
        hdr.write_text("\n".join(ln for ln in hdr.read_text().splitlines() if "wavelength units" not in ln))
        cube = read_envi(hdr)
        np.testing.assert_allclose(cube.hsi.wavelengths, TRUTH.wavelength_nm, atol=1e-6)
        np.testing.assert_allclose(cube.hsi.fwhm, TRUTH.fwhm_nm, atol=1e-6)


def test_unit_rules() -> None:
    vals = np.array([0.45, 2.1])
    np.testing.assert_allclose(to_nanometres(vals, "Micrometers"), [450.0, 2100.0])
    np.testing.assert_allclose(to_nanometres(vals, None), [450.0, 2100.0])  # small, unitless: µm
    np.testing.assert_allclose(to_nanometres(np.array([450.0]), "Unknown"), [450.0])
    assert to_nanometres(vals, "Index") is None


def test_bbl_marks_bad_bands(tmp_path: Path) -> None:
    cube = read_envi(fx.make(tmp_path))
    want = np.flatnonzero(TRUTH.bbl == 0)
    assert want.size >= 4 and cube.hsi.bad_bands == want.tolist()
    wl = cube.hsi.wavelengths[want]
    assert np.all((np.abs(wl - 1400) < 70) | (np.abs(wl - 1880) < 90))


def test_data_ignore_value_is_nan_and_invalid(tmp_path: Path) -> None:
    cube = read_envi(fx.make(tmp_path))
    vals = cube.values
    assert np.isnan(cube.attrs["nodata"]) and cube.attrs["raw_nodata"] == fx.NODATA
    np.testing.assert_array_equal(np.isnan(vals), TRUTH.raw == fx.NODATA)
    valid = np.asarray(cube.hsi.valid.values)
    good = TRUTH.bbl == 1
    np.testing.assert_array_equal(valid, ~(TRUTH.raw[good] == fx.NODATA).any(axis=0))
    b, r, c = fx.SINGLE
    assert not valid[0, 0] and not valid[r, c] and valid[r, c + 1] and valid.sum() == valid.size - 16


def test_band_names_kept(tmp_path: Path) -> None:
    names = read_envi(fx.make(tmp_path, units="nm")).attrs["band_names"]
    assert len(names) == fx.BANDS and names[0] == f"Band 1 ({TRUTH.wavelength_nm[0]:.2f} nm)"


def test_utm_map_info_gives_crs_and_transform(tmp_path: Path) -> None:
    cube = read_envi(fx.make(tmp_path, georef="utm"))
    u = fx.UTM
    assert cube.rio.crs.to_epsg() == 32600 + u["zone"] and cube.hsi.georeferenced
    assert cube.rio.transform() == Affine(u["pixel"], 0, u["x"], 0, -u["pixel"], u["y"])
    np.testing.assert_allclose(cube.x.values[:2], [u["x"] + 7.5, u["x"] + 22.5])
    np.testing.assert_allclose(cube.y.values[:2], [u["y"] - 7.5, u["y"] - 22.5])


@pytest.mark.parametrize("georef", ["utm", "utm_south", "geographic"])
def test_map_info_agrees_with_gdal(tmp_path: Path, georef: str) -> None:
    hdr = fx.make(tmp_path, georef=georef)
    cube = read_envi(hdr)
    with rasterio.open(data_of(hdr)) as ds:  # GDAL's own ENVI driver, an independent parser
        assert cube.rio.crs == ds.crs
        assert cube.rio.transform().almost_equals(ds.transform, precision=1e-9)


def test_reference_pixel_is_one_based(tmp_path: Path) -> None:
    cube = read_envi(fx.make(tmp_path, georef="utm_south"))
    # map info: pixel (3.5, 5.5) -> (300045, 7400075), i.e. the centre of column 2, row 4.
    assert cube.rio.crs.to_epsg() == 32723
    assert cube.x.values[2] == 300045.0 and cube.y.values[4] == 7400075.0


def test_coordinate_system_string_wins(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cube = read_envi(fx.make(tmp_path, georef="wkt"))
    assert cube.rio.crs.to_epsg() == fx.LAEA_WKT_EPSG
    assert cube.rio.transform() == Affine(30.0, 0, 4321000.0, 0, -30.0, 3210000.0)


def test_no_map_info_gives_pixel_coordinates(tmp_path: Path) -> None:
    cube = read_envi(fx.make(tmp_path, georef="none"))
    assert not cube.hsi.georeferenced and cube.rio.crs is None
    np.testing.assert_array_equal(cube.x.values, np.arange(fx.SAMPLES) + 0.5)


@pytest.mark.parametrize("rotation", [-66.0, 12.5, 90.0])
def test_rotated_map_info_matches_gdal_for_square_pixels_at_the_first_pixel(tmp_path: Path, rotation: float) -> None:
    """AVIRIS-NG flight lines: square pixels referenced at (1, 1), rotation=-66; GDAL is the reference."""
    hdr = fx.make(tmp_path)
    text = hdr.read_text()
    start = text.index("map info")
    end = text.index("}", start) + 1
    hdr.write_text(text[:start] + "map info = {UTM, 1.000, 1.000, 736600.089, 4078126.750, 2.7, 2.7, 12, North, "
                   f"WGS-84, units=Meters, rotation={rotation}}}" + text[end:])
    cube = read_envi(hdr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(data_of(hdr)) as ds:
            gdal_transform, gdal_crs = ds.transform, ds.crs
    assert cube.rio.crs == gdal_crs == rasterio.crs.CRS.from_epsg(32612)
    np.testing.assert_allclose(tuple(cube.rio.transform())[:6], tuple(gdal_transform)[:6], rtol=0, atol=1e-6)
    x, y = cube.hsi.map_coords(7, 3)
    assert (x, y) == pytest.approx(gdal_transform * (3 + 0.5, 7 + 0.5), abs=1e-6)
    if rotation % 90:  # a turned grid has no per-axis coordinates: x/y stay pixel-centre indices
        np.testing.assert_array_equal(cube.x.values, np.arange(cube.sizes["x"]) + 0.5)


def test_rotated_map_info_keeps_the_reference_pixel_and_rectangular_pixels(tmp_path: Path) -> None:
    """Non-square pixels and a reference pixel inside the grid: invariants of a turned rectangle grid."""
    from hsi_app.io.envi_georef import rotated_grid

    theta = np.radians(30.0)
    t = rotated_grid(2.5, 3.5, 500000.0, 4200000.0, 30.0, 20.0, theta)
    assert t * (1.5, 2.5) == pytest.approx((500000.0, 4200000.0))  # 1-based (2.5, 3.5) is 0-based (1.5, 2.5)
    col, row = np.array([t.a, t.d]), np.array([t.b, t.e])
    assert np.linalg.norm(col) == pytest.approx(30.0) and np.linalg.norm(row) == pytest.approx(20.0)
    assert col @ row == pytest.approx(0.0, abs=1e-9)
    assert np.degrees(np.arctan2(col[1], col[0])) == pytest.approx(30.0)  # rows run 30 degrees north of east
    assert tuple(rotated_grid(1, 1, 10.0, 20.0, 3.0, 4.0, 0.0))[:6] == (3.0, 0.0, 10.0, 0.0, -4.0, 20.0)


@pytest.mark.parametrize("ext", ["", ".img", ".dat", ".bsq", ".raw"])
def test_header_or_data_path_and_data_extensions(tmp_path: Path, ext: str) -> None:
    hdr = fx.make(tmp_path, data_ext=ext)
    data = Path(f"{hdr.with_suffix('')}{ext}")
    for p in (hdr, data, str(data)):
        assert is_envi(p)
        np.testing.assert_array_equal(read_envi(p).values, EXPECTED)


def test_img_dot_hdr_naming(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path, data_ext=".img")
    renamed = hdr.rename(tmp_path / f"{hdr.stem}.img.hdr")
    for p in (renamed, data_of(hdr)):
        np.testing.assert_array_equal(read_envi(p).values, EXPECTED)


def test_classification_class_names_are_ignored(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path)
    text = hdr.read_text().replace("file type = ENVI Standard", "file type = ENVI Classification")
    extra = "classes = 3\nclass lookup = {0, 0, 0, 255, 0, 0, 0, 255, 0}\nclass names = {Unclassified, a, b}\n"
    hdr.write_text(text + extra)
    cube = read_envi(hdr)
    assert cube.hsi.class_names is None
    np.testing.assert_array_equal(cube.values, EXPECTED)


def test_lazy_windows_and_pickling(tmp_path: Path) -> None:
    cube = read_envi(fx.make(tmp_path, interleave="bil"), chunks=7)
    assert cube.data.chunks[1] == (7, 7, 7, 3)
    np.testing.assert_array_equal(cube.isel(y=slice(3, 19), x=slice(6, 15)).values, EXPECTED[:, 3:19, 6:15])
    again = pickle.loads(pickle.dumps(cube))  # graphs travel to dask workers
    np.testing.assert_array_equal(again.values, EXPECTED)


def test_is_envi_is_content_based(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path)
    assert is_envi(hdr) and is_envi(data_of(hdr))
    fake = tmp_path / "notes.hdr"
    fake.write_text("samples = 3\n")
    assert not is_envi(fake) and not is_envi(tmp_path / "absent.img")
    tif = tmp_path / "x.tif"
    profile = {"driver": "GTiff", "width": 2, "height": 2, "count": 1, "dtype": "uint8"}
    with rasterio.open(tif, "w", crs="EPSG:32611", transform=Affine(30, 0, 0, 0, -30, 0), **profile) as ds:
        ds.write(np.zeros((1, 2, 2), np.uint8))
    assert not is_envi(tif)


def test_open_cube_routes_raw_data_with_tiff_bytes_and_upper_case_headers_to_envi(tmp_path: Path) -> None:
    """Raw pixels that begin with a TIFF signature, and an ``X.HDR`` header, still open as ENVI."""
    from hsi_app.io import open_cube

    hdr = fx.make(tmp_path / "magic", header_offset=4)
    data = data_of(hdr)
    with open(data, "r+b") as fh:  # the embedded header's four bytes become "II*\0"
        fh.write(b"II*\x00")
    cube = open_cube(data)
    assert cube.attrs["format"] == "envi"
    np.testing.assert_array_equal(cube.values, EXPECTED)
    hdr = fx.make(tmp_path / "upper")
    hdr.rename(hdr.with_suffix(".HDR"))
    np.testing.assert_array_equal(open_cube(data_of(hdr)).values, EXPECTED)


def test_geotiff_beside_another_files_envi_header_stays_a_geotiff(tmp_path: Path) -> None:
    """``x.img`` + ``x.hdr`` + ``x.tif`` (as gdal_translate leaves them): ``x.tif`` is its own GeoTIFF."""
    from hsi_app.io import open_cube

    hdr = fx.make(tmp_path)
    tif = hdr.with_suffix(".tif")
    values = np.arange(2 * 5 * 4, dtype=np.float32).reshape(2, 5, 4)
    profile = {"driver": "GTiff", "width": 4, "height": 5, "count": 2, "dtype": "float32"}
    with rasterio.open(tif, "w", crs="EPSG:32611", transform=Affine(30, 0, 0, 0, -30, 0), **profile) as ds:
        ds.write(values)
    cube = open_cube(tif)
    assert cube.attrs["format"] != "envi"
    np.testing.assert_array_equal(cube.values, values)
    np.testing.assert_array_equal(open_cube(data_of(hdr)).values, EXPECTED)


def _raises(exc: type[HSIError], path: Path, *words: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with pytest.raises(exc) as info:
            read_envi(path)
    msg = str(info.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_truncated_data_file_raises(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path)
    data = data_of(hdr)
    data.write_bytes(data.read_bytes()[:-100])
    _raises(CubeReadError, hdr, "truncated", data.name)


def test_oversized_data_file_means_a_wrong_header(tmp_path: Path) -> None:
    """A header whose data type or band count is wrong reads garbage: refused, not read."""
    hdr = fx.make(tmp_path)
    data = data_of(hdr)
    raw = data.read_bytes()
    data.write_bytes(raw + raw)  # e.g. float32 data described as int16
    _raises(CubeReadError, hdr, "data type or band count does not match", data.name)
    data.write_bytes(raw + b"\0" * 3)  # a few spare bytes at the end: read, with a warning
    with pytest.warns(UserWarning, match="ignoring the 3 bytes"):
        np.testing.assert_array_equal(read_envi(hdr).values, EXPECTED)


@pytest.mark.parametrize(("key", "value"), [("byte order", "2"), ("interleave", "xyz"), ("header offset", "-10")])
def test_impossible_layout_keys_are_refused(tmp_path: Path, key: str, value: str) -> None:
    hdr = fx.make(tmp_path)
    lines = [ln for ln in hdr.read_text().splitlines() if not ln.lower().startswith(key)]
    hdr.write_text("\n".join([*lines, f"{key} = {value}"]) + "\n")
    _raises(CubeReadError, hdr, "byte order 0 or 1, interleave bsq/bil/bip", "fix the .hdr")


def test_utm_zone_out_of_range_is_refused(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path, georef="utm")
    text = hdr.read_text()
    zone = f", {fx.UTM['zone']}, North"
    assert zone in text
    hdr.write_text(text.replace(zone, ", 61, North"))
    _raises(CubeReadError, hdr, "UTM zone '61'; zones are whole numbers 1-60")


def test_missing_data_file_raises(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path)
    data_of(hdr).unlink()
    _raises(DatasetNotFoundError, hdr, "no data file", hdr.name)
    _raises(DatasetNotFoundError, tmp_path / "absent.hdr", "absent.hdr")
    # a lone header that also lacks a key: the missing data file is said first (it said "lacks 'byte order'")
    hdr.write_text("\n".join(ln for ln in hdr.read_text().splitlines() if not ln.startswith("byte order")) + "\n")
    _raises(DatasetNotFoundError, hdr, "no data file", hdr.name)


@pytest.mark.parametrize("key", ["samples", "lines", "bands", "data type"])
def test_header_missing_required_key_raises(tmp_path: Path, key: str) -> None:
    hdr = fx.make(tmp_path)
    lines = [ln for ln in hdr.read_text().splitlines() if not ln.startswith(key)]
    hdr.write_text("\n".join(lines) + "\n")
    _raises(CubeReadError, hdr, repr(key), hdr.name)


def test_unsupported_data_type_and_non_envi_header_raise(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path)
    hdr.write_text(hdr.read_text().replace("data type = 2", "data type = 6"))
    _raises(CubeReadError, hdr, "data type 6")
    hdr.write_text("samples = 3\nlines = 2\n")
    _raises(CubeReadError, hdr, "ENVI", hdr.name)
    with pytest.raises(CubeReadError) as info:
        read_envi(hdr)
    assert "  " not in str(info.value), "the reader's padded message is passed on with its runs of spaces"


def test_nanometre_values_labelled_micrometres_and_british_spelling(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path, units="nm")
    text = hdr.read_text()
    um = hdr.with_name("um.hdr")
    um.write_text(text.replace("wavelength units = Nanometers", "wavelength units = Micrometers"))
    data_of(hdr).rename(data_of(um))
    assert "Micrometers" in um.read_text()
    with pytest.warns(UserWarning, match="look like nanometres"):
        cube = read_envi(um)
    assert 300 < cube.hsi.wavelengths.min() < cube.hsi.wavelengths.max() < 2600
    br = hdr.with_name("br.hdr")
    br.write_text(text.replace("wavelength units = Nanometers", "wavelength units = nanometres"))
    data_of(um).rename(data_of(br))
    np.testing.assert_allclose(read_envi(br).hsi.wavelengths, cube.hsi.wavelengths)


def test_zero_sizes_bom_and_zero_pixel_size(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path / "a")
    text = hdr.read_text()
    assert f"lines   = {fx.LINES}" in text
    hdr.write_text(text.replace(f"lines   = {fx.LINES}", "lines   = 0"))
    _raises(CubeReadError, hdr, "every size must be >= 1")
    hdr = fx.make(tmp_path / "b")
    hdr.write_bytes(b"\xef\xbb\xbf" + hdr.read_bytes())
    _raises(CubeReadError, hdr, "byte-order mark")
    hdr = fx.make(tmp_path / "c", georef="utm")
    px = f"{fx.UTM['pixel']:.7e}"
    hdr.write_text(hdr.read_text().replace(f"{px}, {px}", f"0, {px}"))
    with pytest.warns(UserWarning, match="pixel size 0"):
        cube = read_envi(hdr)
    assert not cube.hsi.georeferenced


def test_bad_coordinate_system_string_warns_quietly(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    hdr = fx.make(tmp_path, georef="utm")
    hdr.write_text(hdr.read_text() + 'coordinate system string = {PROJCS["bad", GEOGCS}\n')
    with pytest.warns(UserWarning, match="unreadable 'coordinate system string'; using 'map info'"):
        cube = read_envi(hdr)
    assert cube.rio.crs.to_epsg() == 32600 + fx.UTM["zone"]
    assert "ERROR" not in capfd.readouterr().err  # no raw GDAL/PROJ line next to the warning


@pytest.mark.parametrize("zone", ["33N", "33.7", "zone"])
def test_utm_zone_that_is_not_a_whole_number_is_one_error(tmp_path: Path, zone: str) -> None:
    hdr = fx.make(tmp_path, georef="utm")
    hdr.write_text(hdr.read_text().replace(f", {fx.UTM['zone']}, North", f", {zone}, North"))
    _raises(CubeReadError, hdr, f"UTM zone {zone!r}; zones are whole numbers 1-60", "fix the .hdr")


@pytest.mark.parametrize(
    ("georef", "datum", "epsg", "gdal_knows"),
    [("utm", "North America 1983", 26911, True), ("utm", "NAD83", 26911, False), ("utm", "WGS84", 32611, True),
     ("utm", "North America 1927", 26711, True), ("geographic", "North America 1983", 4269, True),
     ("geographic", "WGS 84", 4326, False)],
)
def test_datum_spellings_envi_writes_give_the_crs_gdal_reads(tmp_path: Path, georef: str, datum: str,
                                                              epsg: int, gdal_knows: bool) -> None:
    hdr = fx.make(tmp_path, georef=georef)
    hdr.write_text(hdr.read_text().replace(", WGS-84,", f", {datum},"))
    cube = read_envi(hdr)
    assert cube.rio.crs.to_epsg() == epsg
    if gdal_knows:  # GDAL's ENVI driver reads the same header independently (it takes NAD83 for WGS84)
        with rasterio.open(data_of(hdr)) as ds:
            assert ds.crs.to_epsg() == epsg


def test_unknown_datum_is_named_in_the_warning(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path, georef="utm")
    hdr.write_text(hdr.read_text().replace(", WGS-84,", ", Tokyo,"))
    with pytest.warns(UserWarning, match="map info datum 'Tokyo' of projection 'UTM' is not recognised"):
        cube = read_envi(hdr)
    assert cube.rio.crs is None and cube.rio.transform().c == fx.UTM["x"]


def test_micrometre_values_labelled_nanometres_are_read_as_micrometres(tmp_path: Path) -> None:
    hdr = fx.make(tmp_path, units="um")
    hdr.write_text(hdr.read_text().replace("wavelength units = Micrometers", "wavelength units = Nanometers"))
    assert "Nanometers" in hdr.read_text()
    with pytest.warns(UserWarning, match="look like micrometres; reading them as µm"):
        cube = read_envi(hdr)
    np.testing.assert_allclose(cube.hsi.wavelengths, TRUTH.wavelength_nm, atol=1e-6)
    np.testing.assert_allclose(cube.hsi.fwhm, TRUTH.fwhm_nm, atol=1e-6)
