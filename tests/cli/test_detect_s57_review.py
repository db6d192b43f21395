"""Session 57 review of the detection fixes: ``hsi detect``/``simulate-targets``/``train --task detect`` lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main


def _scene(path: Path, data: np.ndarray, wl: np.ndarray, nodata: float = -9999.0, pixel: float = 30.0) -> Path:
    """Write ``data`` ``(C, H, W)`` as a float32 UTM GeoTIFF (``pixel`` m pixels) with wavelength tags and a no-data
    value."""
    import rasterio
    from rasterio.transform import from_origin

    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(400000.0, 5000000.0, pixel, pixel), nodata=nodata) as ds:
        ds.write(data.astype(np.float32))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wl), wavelength_units="nm")
    return path


def _background(tmp_path: Path, load_fixture) -> Path:  # noqa: ANN001
    """The speclib fixture's 12-band background (32 x 48, UTM)."""
    speclib = load_fixture("speclib")
    return _scene(tmp_path / "bg.tif", speclib.background(2).astype(np.float64), speclib.WAVELENGTHS)


def _truth(path: Path, classes: list[str | None]) -> Path:
    """Points at pixels (5, 6), (20, 30), (12, 40)... of the background, one per class cell."""
    import geopandas as gpd
    from shapely.geometry import Point

    x0, y0 = 400000.0, 5000000.0
    cells = [(5, 6), (20, 30), (12, 40), (25, 10)][:len(classes)]
    points = [Point(x0 + 30 * (c + 0.5), y0 - 30 * (r + 0.5)) for r, c in cells]
    gpd.GeoDataFrame({"class": classes}, geometry=points, crs="EPSG:32633").to_file(path)
    return path


@pytest.mark.parametrize("cell", [None, "", "  "])
def test_one_target_scores_truth_points_without_a_class(tmp_path: Path, load_fixture, cell: str | None,  # noqa: ANN001
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Scoring one target (--material alpha), every truth point is scored as it (README); a point with an empty
    class cell was refused ('have no class ... fill in each point's target (alpha)') instead."""
    import json

    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    truth = _truth(tmp_path / "truth.gpkg", [cell, "alpha", cell])
    metrics = tmp_path / "m.json"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "ace", "--targets", str(lib),
                            "--material", "alpha", "--truth", str(truth), "--out", str(tmp_path / "ace.tif"),
                            "--metrics", str(metrics), "--quiet")
    assert code == 0, err
    assert "2 of 3 points have no class" in err and "scored as the target alpha" in err, err
    assert json.loads(metrics.read_text())["n_targets"] == 3


@pytest.mark.parametrize("cell", ["", "   "])
def test_an_empty_text_class_cell_is_no_class(tmp_path: Path, load_fixture, cell: str,  # noqa: ANN001
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A GeoPackage gives an empty text cell back as '' (not missing): with two targets it was refused as
    'classes  are not among the targets alpha, beta; rename them', naming a class of no letters."""
    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    truth = _truth(tmp_path / "truth.gpkg", ["alpha", cell, "beta"])
    out = tmp_path / "ace.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "ace", "--targets", str(lib),
                            "--truth", str(truth), "--out", str(out), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{truth}: 1 of 3 points have no class" in err and "alpha, beta" in err, err
    assert not out.exists()


class _WholeRead(Exception):
    """Raised by the test's stand-in for the whole-scene read."""


@pytest.mark.parametrize("command", ["simulate-targets", "train"])
def test_a_library_is_refused_before_the_whole_background_is_read(tmp_path: Path, load_fixture, command: str,  # noqa: ANN001
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """caa8144 read the whole background (to refuse one with no valid pixel) before the library was checked, so a
    library that misses the scene's range was refused only after that read (4x longer on a 1500 x 1500 scene)."""
    import hsi_app.tasks.train_classifier as tc

    def whole_read(*args: object, **kwargs: object) -> None:
        raise _WholeRead

    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    swir = tmp_path / "swir.csv"
    wl = np.linspace(2000.0, 2500.0, 20)
    np.savetxt(swir, np.column_stack([wl, 0.3 + 0 * wl]), delimiter=",", comments="", fmt="%.6g",
               header="wavelength,alpha")
    monkeypatch.setattr(tc, "scene_in_memory", whole_read)
    args = (["train", "--task", "detect", "--data", str(bg), "--model", "test_point_detector", "--epochs", "1"]
            if command == "train" else ["simulate-targets", "--background", str(bg), "--n-targets", "2"])
    code, _, err = run_main(capsys, *args, "--targets", str(swir), "--out", str(tmp_path / "out"), "--quiet")
    assert code != 0 and err.startswith(f"hsi: error: {swir}: covers 2000-2500 nm"), err
    # a library that fits goes on to read the whole scene (the stand-in above): the read comes after the checks
    code, _, err = run_main(capsys, *args, "--targets", str(speclib.write_csv(tmp_path / "lib.csv")),
                            "--out", str(tmp_path / "out2"), "--quiet")
    assert code != 0 and "unexpected _WholeRead" in err, err


def test_train_names_no_material_option_for_an_all_zero_column(tmp_path: Path, load_fixture,  # noqa: ANN001
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """hsi train --task detect told the user to leave an all-zero library column out with --material NAME, an
    option hsi train does not have (it trains on every material of the library)."""
    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    spectra = speclib.library_spectra()
    spectra[1] = 0.0  # beta
    lib = tmp_path / "lib.csv"
    np.savetxt(lib, np.column_stack([speclib.LIB_WL, spectra.T]), delimiter=",", comments="", fmt="%.6g",
               header="wavelength," + ",".join(speclib.NAMES))
    code, _, err = run_main(capsys, "train", "--task", "detect", "--data", str(bg), "--targets", str(lib), "--model",
                            "test_point_detector", "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"hsi: error: {lib}: material 'beta' is 0 at every band"), err
    assert "--material" not in err and "remove that column from the library" in err, err
    # detect has --material: its line still names it
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "ace", "--targets", str(lib),
                            "--out", str(tmp_path / "ace.tif"), "--quiet")
    assert code != 0 and "--material NAME (names= in Python) picks the others" in err, err


def test_truth_saved_as_geojson_in_degrees_scores_as_the_original(tmp_path: Path, load_fixture,  # noqa: ANN001
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """simulate-targets' truth saved as GeoJSON in EPSG:4326 with 7 decimals (~1 cm) comes back onto a 1 m-pixel
    scene ~0.005 px off; box edges were snapped only within 0.001 px, so each target took one more row or column
    of pixels and AUROC / mAP50 of the very same targets changed."""
    from tests.cli.test_detect_s57_audit import assert_truth_scores_as_the_original

    def degrees_7(gdf, folder: Path) -> Path:  # noqa: ANN001
        gdf.to_crs("EPSG:4326").to_file(folder / "truth_4326.geojson", driver="GeoJSON", COORDINATE_PRECISION=7)
        return folder / "truth_4326.geojson"

    speclib = load_fixture("speclib")
    bg = _scene(tmp_path / "bg.tif", speclib.background(2).astype(np.float64), speclib.WAVELENGTHS, pixel=1.0)
    assert_truth_scores_as_the_original(tmp_path, capsys, speclib, bg, degrees_7)


@pytest.mark.parametrize("method", ["cem", "ace", "mf"])
def test_a_target_pixel_of_zeros_but_a_dead_band_is_named(tmp_path: Path, load_fixture, method: str,  # noqa: ANN001
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A fill pixel (0 in every live band) holds a dead band's constant: it passed the zero check, the dead band was
    left out after the statistics pass, and the refusal then came in the Python API's words ('target spectrum 0
    (0-based row of targets) is 0 at every band'), naming neither the pixel nor the band."""
    speclib = load_fixture("speclib")
    image = speclib.background(2).astype(np.float64)
    image[11] = 0.5  # band 12: constant (a dead or saturated band)
    image[:11, 7, 9] = 0.0
    bg = _scene(tmp_path / "bg.tif", image, speclib.WAVELENGTHS)
    out = tmp_path / "out.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", method, "--target-pixel", "7,9",
                            "--out", str(out), "--quiet")
    error = [line for line in err.splitlines() if line.startswith("hsi: error:")]
    assert code != 0 and len(error) == 1 and "Traceback" not in err, err
    assert error[0].startswith("hsi: error: --target-pixel 7,9 (pixels= in Python): that pixel is 0 at every band "
                               "but band 12"), err
    assert "pick another pixel" in error[0] and not out.exists()
