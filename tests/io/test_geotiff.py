"""GeoTIFF reader: laziness, wavelengths from tags/descriptions, georeference, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.errors import CubeReadError, HSIError, HSIWarning, InvalidDataError
from hsi_app.io import open_cube
from hsi_app.io.summary import summarize


def _write(path: Path, data: np.ndarray, *, crs: str | None = "EPSG:32633", nodata: float | None = None,
           descriptions: list[str] | None = None, band_tags: list[dict] | None = None, tags: dict | None = None) -> Path:
    c, h, w = data.shape
    profile = {"driver": "GTiff", "height": h, "width": w, "count": c, "dtype": data.dtype, "tiled": True,
               "blockxsize": 16, "blockysize": 16}
    if crs:
        profile.update(crs=crs, transform=from_origin(500000.0, 4100000.0, 30.0, 30.0))
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
        for i, t in enumerate(band_tags or []):
            ds.update_tags(i + 1, **t)
        if tags:
            ds.update_tags(**tags)
    return path


@pytest.fixture()
def cube_array() -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 10000, size=(6, 40, 33)).astype(np.int16)


def test_lazy_window_read_and_georeference(tmp_path: Path, cube_array: np.ndarray) -> None:
    path = _write(tmp_path / "scene.tif", cube_array, tags={"wavelength": "450,550,650,750,850,950", "wavelength_units": "nm"})
    cube = open_cube(path, chunks=16)
    assert hasattr(cube.data, "dask")
    np.testing.assert_array_equal(cube.isel(y=slice(5, 21), x=slice(3, 30)).values, cube_array[:, 5:21, 3:30])
    assert cube.rio.crs.to_epsg() == 32633
    assert cube.rio.transform() == from_origin(500000.0, 4100000.0, 30.0, 30.0)
    np.testing.assert_allclose(cube.hsi.wavelengths, [450, 550, 650, 750, 850, 950])
    assert float(cube.x[0]) == 500015.0 and float(cube.y[0]) == 4099985.0  # pixel centres
    xs, ys = cube.hsi.map_coords(np.array([0, 3]), np.array([0, 7]))
    np.testing.assert_allclose(xs, [500015.0, 500225.0])
    np.testing.assert_allclose(ys, [4099985.0, 4099895.0])
    assert cube.hsi.window(5, 3, 16, 27).rio.transform() == from_origin(500090.0, 4099850.0, 30.0, 30.0)


def test_windows_outside_the_scene_are_refused_and_cut_at_the_far_edge(tmp_path: Path, cube_array: np.ndarray) -> None:
    """numpy would read window(-5, ...) from the bottom rows and window(50, ...) as empty, silently."""
    from hsi_app.errors import ConfigError

    cube = open_cube(_write(tmp_path / "scene.tif", cube_array))
    _, h, w = cube.hsi.shape
    for args, words in [((-5, 0, 3, 3), "offsets must be 0 or more"), ((0, -1, 3, 3), "offsets must be 0 or more"),
                        ((0, 0, 0, 3), "sizes 1 or more"), ((h, 0, 5, 5), f"starts outside the {h} x {w} px scene"),
                        ((0, w + 3, 5, 5), "starts outside")]:
        with pytest.raises(ConfigError, match=words):
            cube.hsi.window(*args)
    edge = cube.hsi.window(h - 2, w - 3, 10, 10)  # reaches past the corner: cut there
    assert edge.hsi.shape[1:] == (2, 3)
    np.testing.assert_array_equal(edge.values, cube_array[:, h - 2:, w - 3:])


def test_rotated_grid_map_coordinates_and_window_transform(tmp_path: Path, cube_array: np.ndarray) -> None:
    """A 30-degree rotated grid: x/y coordinates cannot describe it, the transform must be used."""
    from rasterio.transform import Affine

    t = Affine.translation(500000.0, 4100000.0) * Affine.rotation(-30.0) * Affine.scale(10.0, -10.0)
    path = tmp_path / "rot.tif"
    c, h, w = cube_array.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="int16", crs="EPSG:32633",
                       transform=t) as ds:
        ds.write(cube_array)
    cube = open_cube(path)
    assert cube.rio.transform().almost_equals(t)
    rows, cols = np.array([0, 10, 39]), np.array([0, 20, 32])
    xs, ys = cube.hsi.map_coords(rows, cols)
    for x, y, r, col in zip(xs, ys, rows, cols, strict=True):
        ex, ey = t * (col + 0.5, r + 0.5)
        assert (x, y) == pytest.approx((ex, ey))
    assert not np.isclose(xs[1], float(cube.x[20]))  # the coordinate is not the map position here
    win = cube.hsi.window(10, 7, 10, 23)
    assert win.rio.transform().almost_equals(t * Affine.translation(7, 10))
    np.testing.assert_allclose(win.hsi.map_coords(0, 13), cube.hsi.map_coords(10, 20))


def test_wavelengths_from_band_tags_in_micrometres(tmp_path: Path, cube_array: np.ndarray) -> None:
    tags = [{"wavelength": f"{0.4 + 0.1 * i:.3f}", "fwhm": "0.01", "wavelength_units": "micrometers"} for i in range(6)]
    cube = open_cube(_write(tmp_path / "t.tif", cube_array, band_tags=tags))
    np.testing.assert_allclose(cube.hsi.wavelengths, 400 + 100 * np.arange(6))
    np.testing.assert_allclose(cube.hsi.fwhm, 10.0)


def test_wavelengths_from_descriptions(tmp_path: Path, cube_array: np.ndarray) -> None:
    desc = [f"band {i + 1} ({500 + 10 * i}.5 nm)" for i in range(6)]
    cube = open_cube(_write(tmp_path / "d.tif", cube_array, descriptions=desc))
    np.testing.assert_allclose(cube.hsi.wavelengths, 500.5 + 10 * np.arange(6))


def test_scientific_notation_in_descriptions(tmp_path: Path, cube_array: np.ndarray) -> None:
    desc = [f"Band {i + 1} ({450 + 10 * i:.3e} nm)" for i in range(6)]  # "4.500e+02 nm"
    cube = open_cube(_write(tmp_path / "e.tif", cube_array, descriptions=desc))
    np.testing.assert_allclose(cube.hsi.wavelengths, 450 + 10 * np.arange(6))


def test_precise_band_tags_win_over_gdal_rounded_imagery(tmp_path: Path, cube_array: np.ndarray) -> None:
    """GDAL's ENVI->GTiff conversion writes IMAGERY values rounded to 1 nm next to the exact tags."""
    wl = 404.42 + 38.44 * np.arange(6)
    path = _write(tmp_path / "g.tif", cube_array,
                  band_tags=[{"wavelength": f"{w / 1000:.6f}", "wavelength_units": "Micrometers"} for w in wl])
    with rasterio.open(path, "r+") as ds:
        for i, w in enumerate(wl, start=1):
            ds.update_tags(i, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=f"{w / 1000:.3f}", FWHM_UM="0.009")
    cube = open_cube(path)
    np.testing.assert_allclose(cube.hsi.wavelengths, wl, atol=1e-6)
    np.testing.assert_allclose(cube.hsi.fwhm, 9.0)  # only the IMAGERY FWHM exists


def test_wavelengths_from_the_imagery_domain_alone_keep_band_order(tmp_path: Path, cube_array: np.ndarray) -> None:
    """A GDAL-converted file with only IMAGERY/CENTRAL_WAVELENGTH_UM gives band i its own wavelength."""
    path = _write(tmp_path / "imagery.tif", cube_array)
    with rasterio.open(path, "r+") as ds:
        for i in range(1, 7):
            ds.update_tags(i, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=f"{0.35 + 0.1 * i:.2f}", FWHM_UM=f"{0.005 * i:.3f}")
    cube = open_cube(path)
    np.testing.assert_allclose(cube.hsi.wavelengths, [450, 550, 650, 750, 850, 950])
    np.testing.assert_allclose(cube.hsi.fwhm, [5, 10, 15, 20, 25, 30])


def test_no_georeference_warns_and_uses_pixel_coordinates(tmp_path: Path, cube_array: np.ndarray) -> None:
    with pytest.warns(HSIWarning, match="no georeference"):
        cube = open_cube(_write(tmp_path / "plain.tif", cube_array, crs=None))
    assert cube.rio.crs is None
    np.testing.assert_array_equal(cube.x.values[:3], [0.5, 1.5, 2.5])


@pytest.mark.parametrize("angle", [-30.0, 30.0])
def test_info_of_a_rotated_grid_gives_the_pixel_sides_and_the_turn(tmp_path: Path, cube_array: np.ndarray,
                                                                    angle: float) -> None:
    """30 x 20 m pixels turned 30 degrees: |a| and |e| of the affine (25.98 x 17.32) are not the pixel size."""
    from rasterio.transform import Affine

    from hsi_app.io.summary import format_summary

    t = Affine.translation(500000.0, 4100000.0) * Affine.rotation(angle) * Affine.scale(30.0, -20.0)
    path = tmp_path / "rot.tif"
    c, h, w = cube_array.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="int16", crs="EPSG:32633",
                       transform=t) as ds:
        ds.write(cube_array)
    info = summarize(open_cube(path))
    assert info["resolution"] == pytest.approx([30.0, 20.0])
    assert info["grid_rotation_deg"] == pytest.approx(angle)  # counterclockwise, as Affine.rotation
    turn = "clockwise" if angle < 0 else "counterclockwise"
    assert "\nresolution   30 x 20 m (grid rotated 30.0° " + turn + ")\n" in format_summary(info)


@pytest.mark.parametrize(("transform", "note", "keys"), [
    ((30.0, 5.0, 500000.0, 0.0, -30.0, 4100000.0), " (sheared 9.5°)", {"grid_shear_deg"}),
    ((30.0, 0.0, 500000.0, 0.0, 30.0, 4100000.0), " (south-up: rows run north)", {"south_up"}),
    ((-30.0, 0.0, 500000.0, 0.0, -30.0, 4100000.0), " (mirrored: columns run west)", {"west_running"}),
], ids=["sheared", "south-up", "west-running"])
def test_info_names_sheared_and_south_up_grids(tmp_path: Path, cube_array: np.ndarray, transform: tuple,
                                               note: str, keys: set[str]) -> None:
    """A shear is not a 0-degree rotation, and a positive pixel height is not a north-up grid."""
    from rasterio.transform import Affine

    from hsi_app.io.summary import format_summary
    from hsi_app.tasks.map_summary import format_class_map_summary, summarize_class_map

    path = tmp_path / "g.tif"
    c, h, w = cube_array.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="int16", crs="EPSG:32633",
                       transform=Affine(*transform)) as ds:
        ds.write(cube_array)
    info = summarize(open_cube(path))
    assert keys <= set(info) and "grid_rotation_deg" not in info
    assert f"\nresolution   {info['resolution'][0]:g} x {info['resolution'][1]:g} m{note}\n" in format_summary(info)
    classes = tmp_path / "map.tif"
    with rasterio.open(classes, "w", driver="GTiff", height=h, width=w, count=1, dtype="uint8", crs="EPSG:32633",
                       transform=Affine(*transform)) as ds:
        ds.write(np.ones((1, h, w), np.uint8))
    assert note + "\n" in format_class_map_summary(summarize_class_map(classes))


def test_info_of_a_north_up_grid_is_unchanged(tmp_path: Path, cube_array: np.ndarray) -> None:
    from hsi_app.io.summary import format_summary

    path = _write(tmp_path / "north.tif", cube_array)  # 30 m pixels, north-up
    info = summarize(open_cube(path))
    assert info["resolution"] == [30.0, 30.0] and "grid_rotation_deg" not in info
    assert "\nresolution   30 x 30 m\n" in format_summary(info)
    info["masks"] = {"cloud": 0.5, "cloudshadow": 0.0358}  # EnMAP's longest layer name keeps its space
    assert "\nmask cloud        50.00% flagged\nmask cloudshadow  3.58% flagged" in format_summary(info)


def test_gcp_georeference_is_named_not_reported_missing(tmp_path: Path, cube_array: np.ndarray) -> None:
    from rasterio.control import GroundControlPoint

    from hsi_app.io.summary import format_summary

    path = tmp_path / "gcp.tif"
    c, h, w = cube_array.shape
    gcps = [GroundControlPoint(row=r, col=col, x=500000.0 + 30 * col, y=4100000.0 - 30 * r)
            for r, col in ((0, 0), (0, w), (h, 0), (h, w))]
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="int16") as ds:
        ds.write(cube_array)
        ds.gcps = (gcps, rasterio.crs.CRS.from_epsg(32633))
    with pytest.warns(HSIWarning, match="4 ground control points .EPSG:32633.*gdalwarp"):
        cube = open_cube(path)
    assert cube.rio.crs is None
    text = format_summary(summarize(cube))
    assert "gcps         4 ground control points (EPSG:32633), not applied" in text


def test_nodata_and_all_nodata(tmp_path: Path, cube_array: np.ndarray) -> None:
    arr = cube_array.copy()
    arr[:, :10, :] = -9999
    cube = open_cube(_write(tmp_path / "nd.tif", arr, nodata=-9999))
    assert summarize(cube)["valid_fraction"] == pytest.approx(30 / 40)
    empty = np.full_like(cube_array, -9999)
    with pytest.raises(InvalidDataError, match="every pixel is no-data"):
        summarize(open_cube(_write(tmp_path / "empty.tif", empty, nodata=-9999)))


def test_truncated_and_garbage_tiff(tmp_path: Path, cube_array: np.ndarray) -> None:
    good = _write(tmp_path / "good.tif", cube_array)
    raw = good.read_bytes()
    (tmp_path / "trunc.tif").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "junk.tif").write_bytes(b"II*\x00" + b"\x07" * 200)
    for name in ("trunc.tif", "junk.tif"):
        with pytest.raises(CubeReadError, match=name):
            open_cube(tmp_path / name)


def test_unrecognised_content(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CubeReadError, match="unrecognised file content; supported"):
        open_cube(tmp_path / "notes.txt")


def test_a_vrt_saved_as_tif_is_never_opened(tmp_path: Path) -> None:
    """GDAL opens by content: a VRT named .tif could read any file (here a secret) as pixels."""
    from hsi_app.io.cog import read_class_map
    from hsi_app.io.cube import make_cube
    from hsi_app.io.geotiff import read_geotiff
    from hsi_app.io.labels import read_labels

    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"password=hunter2\n" * 8)
    vrt = (f'<VRTDataset rasterXSize="16" rasterYSize="8"><VRTRasterBand dataType="Byte" band="1" '
           f'subClass="VRTRawRasterBand"><SourceFilename relativetoVRT="0">{secret}</SourceFilename>'
           '<ImageOffset>0</ImageOffset><PixelOffset>1</PixelOffset><LineOffset>16</LineOffset>'
           '</VRTRasterBand></VRTDataset>')
    fake = tmp_path / "scene.tif"
    fake.write_text(vrt)
    with rasterio.open(fake) as ds:  # what GDAL would do unrestricted
        assert ds.read(1).tobytes()[:8] == b"password"
    with pytest.raises(CubeReadError):
        read_geotiff(fake)
    with pytest.raises(HSIError):
        read_class_map(fake)
    with pytest.raises(HSIError):
        read_labels(fake, make_cube(np.zeros((1, 8, 16), np.float32)))


def test_band_scale_and_offset_give_physical_values(tmp_path: Path, cube_array: np.ndarray) -> None:
    """As ENVI's reflectance scale factor and EnMAP's gain are applied, so is GDAL's scale/offset."""
    data = cube_array.copy()
    data[:, 2, 3] = -9999
    path = _write(tmp_path / "s.tif", data, nodata=-9999)
    with rasterio.open(path, "r+") as ds:
        ds.scales = [1e-4] * 6
        ds.offsets = [0.01] * 6
    cube = open_cube(path)
    values = cube.values
    expected = cube_array.astype(np.float32) * np.float32(1e-4) + np.float32(0.01)
    keep = np.ones((40, 33), bool)
    keep[2, 3] = False
    np.testing.assert_allclose(values[:, keep], expected[:, keep], rtol=1e-6)
    assert np.isnan(values[:, 2, 3]).all() and not bool(cube.hsi.valid[2, 3]) and bool(cube.hsi.valid[0, 0])
    assert cube.dtype == np.float32


def test_complex_geotiff_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.tif", (np.ones((2, 8, 8)) + 1j).astype(np.complex64))
    with pytest.raises(CubeReadError, match="complex pixel values"):
        open_cube(path)


def test_internal_mask_and_alpha_band_mark_no_data(tmp_path: Path, cube_array: np.ndarray) -> None:
    """GDAL's internal (per-dataset) mask and an alpha band say which pixels hold data."""
    hidden = np.zeros((40, 33), bool)
    hidden[:10] = True  # 25 % of the rows
    path = _write(tmp_path / "m.tif", cube_array)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "r+") as ds:
        ds.write_mask(np.where(hidden, 0, 255).astype(np.uint8))
    cube = open_cube(path)
    np.testing.assert_array_equal(np.asarray(cube.hsi.valid), ~hidden)
    assert summarize(cube)["valid_fraction"] == pytest.approx(0.75)

    rgba = np.concatenate([cube_array[:3], np.where(hidden, 0, 255)[None].astype(np.int16)])
    path = _write(tmp_path / "a.tif", rgba, tags={"wavelength": "450,550,650,0", "wavelength_units": "nm"})
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [rasterio.enums.ColorInterp.red, rasterio.enums.ColorInterp.green,
                          rasterio.enums.ColorInterp.blue, rasterio.enums.ColorInterp.alpha]
    cube = open_cube(path)
    assert cube.hsi.shape == (3, 40, 33) and cube.attrs["alpha_bands"] == [4]
    np.testing.assert_array_equal(cube.values, cube_array[:3])
    np.testing.assert_array_equal(np.asarray(cube.hsi.valid), ~hidden)


def test_bad_bands_are_renumbered_after_a_leading_alpha_band(tmp_path: Path, cube_array: np.ndarray) -> None:
    """Alpha as file band 1 and bad_bands "2" (0-based, the file's 2nd spectral band) -> cube band 1 is bad."""
    hidden = np.zeros((40, 33), bool)
    hidden[:, :5] = True
    data = np.concatenate([np.where(hidden, 0, 255)[None].astype(np.int16), cube_array[:3]])
    path = _write(tmp_path / "alpha_first.tif", data, tags={"bad_bands": "2"})
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [rasterio.enums.ColorInterp.alpha, rasterio.enums.ColorInterp.gray,
                          rasterio.enums.ColorInterp.undefined, rasterio.enums.ColorInterp.undefined]
    cube = open_cube(path)
    assert cube.hsi.shape == (3, 40, 33) and cube.attrs["alpha_bands"] == [1]
    assert list(cube.hsi.bad_bands) == [1]
    np.testing.assert_array_equal(cube.values, cube_array[:3])
    np.testing.assert_array_equal(np.asarray(cube.hsi.valid), ~hidden)


def test_a_gdal_copy_of_an_envi_file_in_micrometres_reads_the_wavelengths_envi_gives(tmp_path: Path) -> None:
    """GDAL copies ENVI's unit text (here the British spelling) into the GeoTIFF: one rule reads both."""
    import warnings

    from rasterio.shutil import copy as gdal_copy

    from fixture_loader import fixture_module
    from hsi_app.io.envi import read_envi

    fx = fixture_module("envi")
    hdr = fx.make(tmp_path, units="um")
    hdr.write_text(hdr.read_text().replace("wavelength units = Micrometers", "wavelength units = micrometres"))
    tif = tmp_path / "copy.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GDAL: the ENVI file has no georeference
        gdal_copy(hdr.with_suffix(".img"), tif, driver="GTiff")
    with rasterio.open(tif) as ds:
        assert "micrometres" in {v for i in (1, ds.count) for k, v in ds.tags(i).items()} | set(ds.tags().values())
    envi_wl = read_envi(hdr).hsi.wavelengths
    assert 400 < envi_wl.min() < envi_wl.max() < 2600
    np.testing.assert_allclose(open_cube(tif).hsi.wavelengths, envi_wl, rtol=1e-6)


@pytest.mark.parametrize(("units", "values", "expected", "warns"), [
    ("Unknown", [0.45, 0.55, 0.65, 0.75, 0.85, 0.95], [450, 550, 650, 750, 850, 950], None),
    ("Nanometers", [0.45, 0.55, 0.65, 0.75, 0.85, 0.95], [450, 550, 650, 750, 850, 950], "look like micrometres"),
    ("Micrometers", [450, 550, 650, 750, 850, 950], [450, 550, 650, 750, 850, 950], "look like nanometres"),
    ("Index", [1, 2, 3, 4, 5, 6], [np.nan] * 6, "'Index' are not a length"),
])
def test_band_tag_units_follow_one_rule_and_warn_once(tmp_path: Path, cube_array: np.ndarray, units: str,
                                                      values: list[float], expected: list[float],
                                                      warns: str | None) -> None:
    import warnings

    tags = [{"wavelength": str(v), "wavelength_units": units} for v in values]
    path = _write(tmp_path / "t.tif", cube_array, band_tags=tags)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cube = open_cube(path)
    mine = [str(w.message) for w in caught if issubclass(w.category, HSIWarning) and "wavelength units" in str(w.message)]
    np.testing.assert_allclose(cube.hsi.wavelengths, expected)
    if warns is None:
        assert mine == []
    else:
        assert len(mine) == 1 and warns in mine[0] and str(path) in mine[0], mine


def test_a_crs_without_a_geotransform_gives_pixel_coordinates_not_the_crs_origin(tmp_path: Path,
                                                                                cube_array: np.ndarray) -> None:
    """A tool that set only the SRS: GDAL reports the identity transform. Written back with the CRS, a
    map would sit upside down at the UTM origin, with 1 m² pixels; it is read like no georeference."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    from hsi_app.io.cog import write_cube

    c, h, w = cube_array.shape
    path = tmp_path / "srs_only.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype=cube_array.dtype,
                           crs="EPSG:32633") as ds:
            ds.write(cube_array)
        with rasterio.open(path) as ds:
            assert ds.crs.to_epsg() == 32633 and ds.transform.is_identity
    with pytest.warns(HSIWarning, match=r"srs_only.tif: a CRS \(EPSG:32633\) but no geotransform"):
        cube = open_cube(path)
    assert cube.rio.crs is None and not cube.hsi.georeferenced
    out = tmp_path / "copy.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        write_cube(out, cube)
        with rasterio.open(out) as ds:
            assert ds.crs is None  # no CRS that would place the pixels at its origin


@pytest.mark.parametrize(("dtype", "nodata"), [("int16", None), ("int16", -9999), ("uint16", 65535), ("uint8", None)])
def test_rioxarray_reads_the_nodata_of_integer_cubes(tmp_path: Path, cube_array: np.ndarray, dtype: str,
                                                     nodata: int | None) -> None:
    """``cube.rio.nodata`` is the file's own value (as rasterio gives it), ``None`` without one; it raised before."""
    arr = (cube_array % 200).astype(dtype)
    path = _write(tmp_path / "int.tif", arr, nodata=nodata)
    with rasterio.open(path) as ds:
        expected = ds.nodata
    cube = open_cube(path)
    assert cube.dtype == np.dtype(dtype)
    for view in (cube, cube.isel(y=slice(2, 9), x=slice(1, 5)), cube.hsi.window(2, 1, 7, 4)):
        assert (view.rio.nodata is None) if expected is None else view.rio.nodata == expected
    np.testing.assert_array_equal(cube.values, arr)


def test_float_cubes_keep_nan_as_their_nodata(tmp_path: Path, cube_array: np.ndarray) -> None:
    cube = open_cube(_write(tmp_path / "f.tif", cube_array.astype(np.float32)))
    assert np.isnan(cube.rio.nodata) and np.isnan(cube.attrs["nodata"])


def test_greek_mu_spells_micrometres_like_the_micro_sign() -> None:
    """U+03BC (Greek mu) and U+00B5 (micro sign) both write µm; a header with either reads nm."""
    from hsi_app.io.wavelength_units import nm_factor

    values = np.array([0.45, 0.55])
    assert nm_factor(values, "\u03bcm") == nm_factor(values, "\u00b5m") == 1000.0
