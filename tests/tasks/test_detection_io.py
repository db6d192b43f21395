"""Spectral libraries (CSV, ENVI .sli), target spectra, score-map COG and GeoPackage round trips."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import rasterio

from hsi_app.errors import BandMismatchError, HSIWarning, InvalidDataError, UnknownKeyError
from hsi_app.io.open import open_cube
from hsi_app.io.spectral_library import read_library, reflectance_scale
from hsi_app.tasks.detect_metrics import Detections
from hsi_app.tasks.detection import read_detections, target_spectra, write_detections, write_score_map


@pytest.fixture(scope="module")
def speclib(load_fixture) -> ModuleType:  # noqa: ANN001
    return load_fixture("speclib")


def test_csv_and_sli_libraries_agree(tmp_path: Path, speclib: ModuleType) -> None:
    csv = read_library(speclib.write_csv(tmp_path / "lib.csv"))
    um = read_library(speclib.write_csv(tmp_path / "lib_um.csv", micrometres=True, percent=True))
    sli = read_library(speclib.write_sli(tmp_path / "lib.sli"))
    for lib in (csv, um, sli):
        assert lib.names == speclib.NAMES
        np.testing.assert_allclose(lib.wavelengths, speclib.LIB_WL)
        np.testing.assert_allclose(lib.spectra, speclib.library_spectra(), atol=1e-5)
    assert (csv.stored_as, sli.stored_as) == ("reflectance 0-1", "reflectance 0-1")
    assert um.stored_as.startswith("percent")


def test_libraries_stored_as_reflectance_times_10000_are_scaled(tmp_path: Path, speclib: ModuleType) -> None:
    """A CSV of integer reflectance x 10000 is not percent, and an .sli's reflectance scale factor is applied."""
    import csv as csvmod

    from spectral.io import envi

    truth = speclib.library_spectra()
    rows = list(csvmod.reader(speclib.write_csv(tmp_path / "lib.csv").read_text().splitlines()))
    scaled = tmp_path / "lib_x10000.csv"
    scaled.write_text("\n".join([",".join(rows[0])] + [",".join([r[0], *(f"{float(v) * 10000:.0f}" for v in r[1:])])
                                                      for r in rows[1:]]))
    np.testing.assert_allclose(read_library(scaled).spectra, truth, atol=1e-4)
    assert read_library(scaled).stored_as.startswith("reflectance x 10000")
    header = {"wavelength": [f"{w / 1000:g}" for w in speclib.LIB_WL], "wavelength units": "Micrometers",
              "spectra names": speclib.NAMES, "reflectance scale factor": 5000}
    envi.SpectralLibrary(truth * 5000, header, {}).save(str(tmp_path / "scaled"))
    lib = read_library(tmp_path / "scaled.sli")
    np.testing.assert_allclose(lib.spectra, truth, atol=1e-5)
    np.testing.assert_allclose(lib.wavelengths, speclib.LIB_WL)
    assert lib.stored_as == "reflectance x 5000 (header's scale factor)"
    envi.SpectralLibrary(truth * 500000, header, {}).save(str(tmp_path / "wrong"))  # the header's factor is 100x off
    assert read_library(tmp_path / "wrong.sli").stored_as == ("reflectance x 5000 (header's scale factor), then "
                                                              "percent (values above 1.5)")
    assert lib.select([speclib.NAMES[1]]).stored_as == lib.stored_as


@pytest.mark.parametrize(
    ("header", "wl_col", "idx_col", "wl_factor", "first_index"),
    [("band,wavelength_nm,grass,soil", 1, 0, 1.0, 1), ("wavelength_nm,band,grass,soil", 0, 1, 1.0, 1),
     ("Unnamed: 0,Wavelength (um),grass,soil", 1, 0, 1e-3, 0), ("id,grass,Band centre (nm),soil", 2, 0, 1.0, 1)],
)
def test_a_band_number_column_is_neither_wavelengths_nor_a_material(
        tmp_path: Path, header: str, wl_col: int, idx_col: int, wl_factor: float, first_index: int) -> None:
    """Band numbers (1..4, or pandas' index 0..3) next to a wavelength column are dropped, whatever the order;
    the scale guess sees the materials only (0..1 here, so nothing is divided)."""
    wl_nm = np.array([450.0, 550.0, 650.0, 850.0])
    grass, soil = np.array([0.05, 0.10, 0.06, 0.45]), np.array([0.10, 0.15, 0.20, 0.25])
    materials = iter([grass, soil])
    columns = [wl_nm * wl_factor if i == wl_col else np.arange(4.0) + first_index if i == idx_col else next(materials)
               for i in range(4)]
    path = tmp_path / "lib.csv"
    np.savetxt(path, np.column_stack(columns), delimiter=",", header=header, comments="", fmt="%.6g")
    lib = read_library(path)
    assert lib.names == ["grass", "soil"] and lib.stored_as == "reflectance 0-1"
    np.testing.assert_allclose(lib.wavelengths, wl_nm)
    np.testing.assert_allclose(lib.spectra, [grass, soil])


def test_a_band_column_alone_is_wavelengths_only_when_it_looks_like_them(tmp_path: Path) -> None:
    """``band`` of 450, 550... stays the wavelength column; ``band`` of 1, 2, 3 is refused, naming the file and fix."""
    as_nm = tmp_path / "nm.csv"
    as_nm.write_text("band,grass\n450,0.05\n550,0.1\n650,0.06\n")
    lib = read_library(as_nm)
    assert lib.names == ["grass"]
    np.testing.assert_allclose(lib.wavelengths, [450.0, 550.0, 650.0])
    np.testing.assert_allclose(lib.spectra, [[0.05, 0.1, 0.06]])
    numbers = tmp_path / "numbers.csv"
    numbers.write_text("band,grass\n1,0.05\n2,0.1\n3,0.06\n")
    with pytest.raises(InvalidDataError) as info:
        read_library(numbers)
    msg = str(info.value)
    assert msg.startswith(f"{numbers}: column 'band' holds band numbers") and "wavelength_nm" in msg
    assert "\n" not in msg


def test_a_broken_sli_header_is_one_line_with_a_fix(tmp_path: Path, speclib: ModuleType) -> None:
    sli = speclib.write_sli(tmp_path / "lib.sli")
    sli.with_suffix(".hdr").write_text("not an ENVI header\n")
    with pytest.raises(InvalidDataError) as info:
        read_library(sli)
    msg = str(info.value)
    assert msg.startswith(f"{sli}: not a readable ENVI spectral library") and "CSV library" in msg
    assert "\n" not in msg and "  " not in msg  # Spectral Python's padded text is passed on as one clean line


def test_resampling_to_cube_bands(tmp_path: Path, speclib: ModuleType) -> None:
    lib = read_library(speclib.write_csv(tmp_path / "lib.csv"))
    out = lib.resample(speclib.WAVELENGTHS)
    assert out.shape == (3, speclib.BANDS)
    # alpha is linear in wavelength, so a (symmetric, interior) Gaussian response returns its value at the centre
    expected = 0.2 + 0.5 * (speclib.WAVELENGTHS - 400) / 2100
    np.testing.assert_allclose(out[0, 1:-1], expected[1:-1], atol=1e-4)
    with pytest.raises(BandMismatchError, match="no spectral overlap"):
        lib.resample(np.array([3000.0, 3100.0, 3200.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        part = lib.resample(np.array([2000.0, 2400.0, 2900.0]))
    assert any(issubclass(w.category, HSIWarning) for w in caught)
    np.testing.assert_allclose(part[:, 2], lib.spectra[:, -1])
    with pytest.raises(UnknownKeyError, match="did you mean beta"):
        lib.select(["betta"])


def test_reflectance_scale_guess() -> None:
    assert reflectance_scale(np.array([0.05, 0.4, 0.9])) == 1.0
    assert reflectance_scale(np.linspace(955, 9604, 100)) == 10000.0


def test_target_spectra_from_library_and_pixel(tmp_path: Path, speclib: ModuleType) -> None:
    img = speclib.background(0)
    cube = open_cube(speclib.write_geotiff(tmp_path / "bg.tif", img))
    spectra, names = target_spectra(cube, library=speclib.write_csv(tmp_path / "lib.csv"), pixels=[(3, 4)])
    assert names == [*speclib.NAMES, "pixel_3_4"]
    np.testing.assert_allclose(spectra[-1], img[:, 3, 4])
    assert spectra.shape == (4, speclib.BANDS)


def test_score_map_and_points_round_trip_keep_crs(tmp_path: Path, speclib: ModuleType) -> None:
    cube = open_cube(speclib.write_geotiff(tmp_path / "bg.tif", speclib.background(0)))
    scores = np.random.default_rng(0).random((2, 32, 48)).astype(np.float32)
    write_score_map(tmp_path / "s.tif", scores, cube, ["a", "b"], "ace")
    with rasterio.open(tmp_path / "s.tif") as ds:
        assert ds.crs.to_epsg() == 32616 and ds.transform == cube.rio.transform()
        assert ds.descriptions == ("a", "b") and ds.dtypes[0] == "float32"
        np.testing.assert_array_equal(ds.read(), scores)
    det = Detections(np.array([3.25, 20.5]), np.array([7.75, 40.5]), np.array([2, 1]), np.array([0.9, 0.4]),
                     np.array([[2, 7, 5, 9], [20, 40, 21, 41]], float))
    write_detections(tmp_path / "p.gpkg", det, cube, ["a", "b"])
    import geopandas as gpd

    gdf = gpd.read_file(tmp_path / "p.gpkg")
    assert gdf.crs.to_epsg() == 32616 and list(gdf["class"]) == ["b", "a"]
    # map x/y: origin (500000, 4100000), 10 m pixels
    np.testing.assert_allclose(gdf["x"], 500000 + 10 * det.col)
    np.testing.assert_allclose(gdf["y"], 4100000 - 10 * det.row)
    back = read_detections(tmp_path / "p.gpkg", cube)
    np.testing.assert_allclose(back.row, det.row)
    np.testing.assert_allclose(back.col, det.col)
    np.testing.assert_array_equal(back.class_id, det.class_id)
    np.testing.assert_allclose(back.score, det.score)
    np.testing.assert_allclose(back.box, det.box)


def test_sli_units_follow_the_readers_rule(tmp_path: Path, speclib: ModuleType) -> None:
    """A .sli header saying Micrometers over nm values is overruled with a warning (it gave 400,000 nm), and a
    unit that is not a length is refused with one line."""
    from spectral.io import envi

    from hsi_app.errors import HSIWarning, InvalidDataError

    header = {"wavelength": [f"{w:g}" for w in speclib.LIB_WL], "wavelength units": "Micrometers",
              "spectra names": speclib.NAMES}
    envi.SpectralLibrary(speclib.library_spectra(), header, {}).save(str(tmp_path / "mislabelled"))
    with pytest.warns(HSIWarning, match="look like nanometres"):
        lib = read_library(tmp_path / "mislabelled.sli")
    np.testing.assert_allclose(lib.wavelengths, speclib.LIB_WL)
    envi.SpectralLibrary(speclib.library_spectra(), {**header, "wavelength units": "Index"}, {}).save(
        str(tmp_path / "index"))
    with pytest.raises(InvalidDataError, match=r"index.hdr: wavelength units 'Index' are not a length"):
        read_library(tmp_path / "index.sli")
