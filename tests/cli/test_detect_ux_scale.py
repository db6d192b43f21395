"""The guessed library scale on scenes as they come: int16 reflectance x 10000 with some cloud, or dark water;
percent and x 10000 floats with bright pixels above reflectance 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main
from hsi_app.io.spectral_library import reflectance_scale

WL = np.linspace(420.0, 2400.0, 30)
TARGETS = [(8, 10), (20, 33), (30, 18), (12, 40)]


def _reflectance(rng: np.random.Generator, h: int = 40, w: int = 50, cloud: float = 0.0) -> np.ndarray:
    """``(C, H, W)`` reflectance 0..1 (vegetation/soil mixtures), the top ``cloud`` share of rows at 1.1-1.2."""
    veg = 0.05 + 0.4 / (1 + np.exp(-(WL - 710.0) / 15.0))
    soil = 0.1 + 0.25 * (WL - 400.0) / 2000.0
    a = rng.random((h, w))
    cube = a[None] * veg[:, None, None] + (1 - a[None]) * soil[:, None, None] + rng.normal(0, 0.005, (WL.size, h, w))
    cube[:, h - int(round(cloud * h)):, :] = rng.uniform(1.1, 1.2, (WL.size, int(round(cloud * h)), w))
    return cube


@pytest.mark.parametrize(("reflectance", "factor", "integer"), [
    ("cloudy", 10000, True),  # int16 x 10000, 5 % cloud at 1.1-1.2: p99 above 10000 (was guessed 100000)
    ("dark", 10000, True),  # int16 x 10000 water/shadow, p99 of 0.08 (was 1000)
    ("cloudy", 100, False),  # float percent with cloud (was 1000)
    ("cloudy", 10000, False),  # float x 10000 with cloud, as GDAL's float conversion keeps it (was 100000)
    ("plain", 10000, True), ("plain", 100, False), ("plain", 1, False),  # unchanged
    ("water", 10000, False),  # float x 10000 water, p99 about 1390 (was 1000: x 1000 is rarely stored)
])
def test_the_guess_is_the_factor_the_scene_was_stored_with(reflectance: str, factor: int, integer: bool) -> None:
    rng = np.random.default_rng(3)
    refl = {"cloudy": _reflectance(rng, cloud=0.05), "plain": _reflectance(rng),
            "dark": 0.02 + 0.06 * rng.random((WL.size, 40, 50)),
            "water": 0.02 + 0.12 * rng.random((WL.size, 40, 50))}[reflectance]
    values = np.round(refl * factor) if integer else refl * factor
    assert reflectance_scale(values, integer=integer) == factor


def test_detect_on_a_cloudy_int16_scene_guesses_x10000(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """10 % of cloud at reflectance 1.1-1.2 made the guess 100000: the library then lay ten times below the
    background that ACE subtracts from it, and ACE missed the targets (mAP@1px 0.02 on a like scene)."""
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    rng = np.random.default_rng(5)
    target = 0.6 - 0.3 * np.exp(-(((WL - 1000.0) / 80.0) ** 2))
    cube = _reflectance(rng, cloud=0.1)  # 4 rows of cloud: one of them in the every-4th-row sample of the guess
    for r, c in TARGETS:
        cube[:, r, c] = 0.7 * target + 0.3 * cube[:, r, c]
    t = from_origin(500000.0, 4200000.0, 30.0, 30.0)
    with rasterio.open(tmp_path / "scene.tif", "w", driver="GTiff", height=40, width=50, count=WL.size,
                       dtype="int16", crs="EPSG:32633", transform=t, nodata=-9999) as ds:
        ds.write(np.round(cube * 10000).astype(np.int16))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in WL), wavelength_units="nm")
    lib_wl = np.arange(400.0, 2501.0, 10.0)
    np.savetxt(tmp_path / "lib.csv", np.column_stack([lib_wl, 0.6 - 0.3 * np.exp(-(((lib_wl - 1000.0) / 80.0) ** 2))]),
               delimiter=",", header="wavelength,paint", comments="", fmt="%.6g")
    pts = [Point(*(t * (c + 0.5, r + 0.5))) for r, c in TARGETS]
    gpd.GeoDataFrame({"class": ["paint"] * 4}, geometry=pts, crs="EPSG:32633").to_file(tmp_path / "truth.gpkg")
    code, out, err = run_main(capsys, "detect", "--input", str(tmp_path / "scene.tif"), "--method", "ace",
                              "--targets", str(tmp_path / "lib.csv"), "--out", str(tmp_path / "ace.tif"),
                              "--truth", str(tmp_path / "truth.gpkg"), "--metrics", str(tmp_path / "m.json"))
    assert code == 0, err
    assert "times 10000 to the scene's units (guessed" in err
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["scale"] == 10000 and m["scale_guessed"] is True and m["mAP@1px"] == 1.0


@pytest.mark.parametrize(("scale", "warned"), [("1", True), ("100", True), ("10000", False)])
def test_a_scale_far_from_the_scenes_units_is_warned(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     scale: str, warned: bool) -> None:
    """--scale 1 (or 100) with a 0..1 library on an int16 x 10000 scene: ACE then finds nothing, and said nothing."""
    import rasterio
    from rasterio.transform import from_origin

    cube = _reflectance(np.random.default_rng(8))
    with rasterio.open(tmp_path / "s.tif", "w", driver="GTiff", height=40, width=50, count=WL.size, dtype="int16",
                       crs="EPSG:32633", transform=from_origin(500000.0, 4200000.0, 30.0, 30.0), nodata=-9999) as ds:
        ds.write(np.round(cube * 10000).astype(np.int16))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in WL), wavelength_units="nm")
    lib_wl = np.arange(400.0, 2501.0, 10.0)
    np.savetxt(tmp_path / "lib.csv", np.column_stack([lib_wl, np.full(lib_wl.size, 0.05)]), delimiter=",",
               header="wavelength,black_panel", comments="", fmt="%.6g")  # a dark target: 0.05 against ~0.25
    code, _, err = run_main(capsys, "detect", "--input", str(tmp_path / "s.tif"), "--method", "ace", "--targets",
                            str(tmp_path / "lib.csv"), "--scale", scale, "--out", str(tmp_path / "a.tif"), "--quiet")
    assert code == 0, err
    assert ("times below the scene's bright values" in err and "check --scale" in err) == warned, err


def test_simulate_targets_warns_of_a_scale_far_from_the_scenes_units(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Targets implanted at --scale 1 in an int16 x 10000 background are ten thousand times too dark: invisible
    ground truth, which trained and scored detectors without a word."""
    import rasterio
    from rasterio.transform import from_origin

    cube = _reflectance(np.random.default_rng(9))
    with rasterio.open(tmp_path / "bg.tif", "w", driver="GTiff", height=40, width=50, count=WL.size, dtype="int16",
                       crs="EPSG:32633", transform=from_origin(500000.0, 4200000.0, 30.0, 30.0), nodata=-9999) as ds:
        ds.write(np.round(cube * 10000).astype(np.int16))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in WL), wavelength_units="nm")
    lib_wl = np.arange(400.0, 2501.0, 10.0)
    np.savetxt(tmp_path / "lib.csv", np.column_stack([lib_wl, np.full(lib_wl.size, 0.5)]), delimiter=",",
               header="wavelength,panel", comments="", fmt="%.6g")
    for scale, warned in (("1", True), ("10000", False)):
        code, _, err = run_main(capsys, "simulate-targets", "--background", str(tmp_path / "bg.tif"), "--targets",
                                str(tmp_path / "lib.csv"), "--scale", scale, "--n-targets", "3",
                                "--out", str(tmp_path / f"sim{scale}"), "--quiet")
        assert code == 0, err
        assert ("times below the scene's bright values" in err and "check --scale" in err) == warned, err


def _envi_int16(path: Path, raw: np.ndarray) -> Path:
    """``raw`` ``(C, H, W)`` as an ENVI int16 (data type 2) BSQ file with its header; returns the data file."""
    c, h, w = raw.shape
    raw.astype("<i2").tofile(path)
    path.with_suffix(".hdr").write_text(
        f"ENVI\nsamples = {w}\nlines = {h}\nbands = {c}\nheader offset = 0\nfile type = ENVI Standard\n"
        "data type = 2\ninterleave = bsq\nbyte order = 0\nwavelength units = Nanometers\n"
        f"wavelength = {{{', '.join(f'{v:.1f}' for v in WL)}}}\n")
    return path


@pytest.mark.parametrize("top", [0.14, 0.08])  # p99 about 1390 and 790 as stored
def test_detect_on_a_dark_envi_int16_scene_guesses_x10000(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          top: float) -> None:
    """The ENVI reader returns float32, so the guess took an int16 x 10000 water scene for floats: x 1000 (ten
    times off) instead of the integer rule's x 10000; the file's storage is now recorded and read."""
    from hsi_app.io import open_cube
    from hsi_app.io.spectral_library import stores_integers

    refl = 0.02 + (top - 0.02) * np.random.default_rng(4).random((WL.size, 40, 50))
    img = _envi_int16(tmp_path / "water.img", np.round(refl * 10000))
    cube = open_cube(img)
    assert cube.dtype == np.float32 and cube.attrs["file_dtype"] == "int16"
    assert stores_integers(cube) and stores_integers(cube.isel(y=slice(0, 8))) and stores_integers(
        cube.hsi.window(0, 0, 8, 8))  # the record survives crops and windows
    lib_wl = np.arange(400.0, 2501.0, 10.0)
    np.savetxt(tmp_path / "lib.csv", np.column_stack([lib_wl, np.full(lib_wl.size, 0.05)]), delimiter=",",
               header="wavelength,panel", comments="", fmt="%.6g")
    code, _, err = run_main(capsys, "detect", "--input", str(img), "--method", "ace", "--targets",
                            str(tmp_path / "lib.csv"), "--out", str(tmp_path / "a.tif"))
    assert code == 0, err
    assert "times 10000 to the scene's units (guessed" in err, err


def test_a_scaled_envi_or_geotiff_is_not_taken_for_stored_integers(tmp_path: Path) -> None:
    """Values a reader scaled (ENVI reflectance scale factor, GeoTIFF band scale/offset) are physical: the integer
    rule does not apply, though the file's storage is recorded."""
    import rasterio

    from hsi_app.io import open_cube
    from hsi_app.io.spectral_library import stores_integers

    raw = np.round(0.3 * np.random.default_rng(2).random((WL.size, 6, 7)) * 10000)
    img = _envi_int16(tmp_path / "scaled.img", raw)
    hdr = img.with_suffix(".hdr")
    hdr.write_text(hdr.read_text() + "reflectance scale factor = 10000\n")
    assert open_cube(img).attrs["file_dtype"] == "int16" and not stores_integers(open_cube(img))
    from rasterio.transform import from_origin

    with rasterio.open(tmp_path / "s.tif", "w", driver="GTiff", height=6, width=7, count=WL.size, dtype="int16",
                       crs="EPSG:32633", transform=from_origin(500000.0, 4200000.0, 30.0, 30.0)) as ds:
        ds.write(raw.astype(np.int16))
        ds.scales, ds.offsets = [1e-4] * WL.size, [0.0] * WL.size
    cube = open_cube(tmp_path / "s.tif")
    assert cube.dtype == np.float32 and cube.attrs["file_dtype"] == "int16" and not stores_integers(cube)


def _ocean(path: Path) -> list[tuple[int, int]]:
    """Open water (reflectance 0.04 in the blue, ~0.002 beyond 700 nm) with two ships at 0.4-0.6, as float32
    reflectance; returns the ships' pixels."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(1)
    wl = np.linspace(420.0, 2400.0, 60)
    cube = (0.04 * np.exp(-(((wl - 450.0) / 150.0) ** 2)) + 0.002)[:, None, None] + rng.normal(0, 0.001, (60, 40, 50))
    ships = [(10, 10), (25, 30)]
    for r, c in ships:
        cube[:, r, c] = 0.5 + 0.1 * np.sin(wl / 300.0)
    with rasterio.open(path, "w", driver="GTiff", height=40, width=50, count=60, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(500000.0, 4200000.0, 30.0, 30.0)) as ds:
        ds.write(cube.astype(np.float32))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wl), wavelength_units="nm")
    return ships


def test_a_bright_target_over_open_water_is_not_taken_for_a_scale_mistake(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The scene's median band over water is ~0.002 (SWIR): a ship's pixel (0.5) lay 200 times above it and the
    warning blamed the library and --scale, even for --target-pixel (no library, in the scene's units)."""
    ships = _ocean(tmp_path / "ocean.tif")
    code, _, err = run_main(capsys, "detect", "--input", str(tmp_path / "ocean.tif"), "--method", "ace",
                            "--target-pixel", f"{ships[0][0]},{ships[0][1]}", "--out", str(tmp_path / "p.tif"),
                            "--quiet")
    assert code == 0, err
    assert "check --scale" not in err, err
    lib_wl = np.arange(400.0, 2501.0, 10.0)  # the ship's spectrum as a 0..1 library: --scale 1 is right
    np.savetxt(tmp_path / "ship.csv", np.column_stack([lib_wl, 0.5 + 0.1 * np.sin(lib_wl / 300.0)]), delimiter=",",
               header="wavelength,ship", comments="", fmt="%.6g")
    for scale, warned in (("1", False), ("100", True), ("10000", True)):
        code, _, err = run_main(capsys, "detect", "--input", str(tmp_path / "ocean.tif"), "--method", "ace",
                                "--targets", str(tmp_path / "ship.csv"), "--scale", scale,
                                "--out", str(tmp_path / f"l{scale}.tif"), "--quiet")
        assert code == 0, err
        assert ("times above the scene's bright values" in err and "check --scale" in err) == warned, (scale, err)


@pytest.mark.parametrize("n_pixels", [2, 1])
def test_truth_against_target_pixels_is_scored_class_agnostic(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              n_pixels: int) -> None:
    """Two --target-pixel targets (pixel_R_C) with truth named after its material ('ship') were refused, and
    the advice (--material) is refused with --target-pixel: the truth is now scored on the best of the maps."""
    import geopandas as gpd
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    ships = _ocean(tmp_path / "ocean.tif")
    t = from_origin(500000.0, 4200000.0, 30.0, 30.0)
    pts = [Point(*(t * (c + 0.5, r + 0.5))) for r, c in ships]
    gpd.GeoDataFrame({"class": ["ship"] * 2}, geometry=pts, crs="EPSG:32633").to_file(tmp_path / "truth.gpkg")
    given = [a for r, c in ships[:n_pixels] for a in ("--target-pixel", f"{r},{c}")]
    code, out, err = run_main(capsys, "detect", "--input", str(tmp_path / "ocean.tif"), "--method", "ace", *given,
                              "--out", str(tmp_path / "p.tif"), "--truth", str(tmp_path / "truth.gpkg"),
                              "--metrics", str(tmp_path / "m.json"), "--quiet")
    assert code == 0, err
    assert "2 targets, class-agnostic" in out and "scored as" not in err, (out, err)
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["mAP@1px"] == 1.0 and m["auroc"] > 0.99
