"""Session 57 audit of ``hsi detect`` on user-like scenes: inputs it must refuse in one line, writing nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main


def _scene(path: Path, data: np.ndarray, wl: np.ndarray, nodata: float) -> Path:
    """Write ``data`` ``(C, H, W)`` as a float32 UTM GeoTIFF with wavelength tags and a no-data value."""
    import rasterio
    from rasterio.transform import from_origin

    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(400000.0, 5000000.0, 30.0, 30.0), nodata=nodata) as ds:
        ds.write(data.astype(np.float32))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wl), wavelength_units="nm")
    return path


def test_learned_detect_refuses_a_scene_that_is_all_no_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rx/mf/ace/cem refuse a scene whose every pixel is no-data; learned wrote an all-NaN score map (and an
    empty points file) and exited 0, as if it had looked and found nothing."""
    from tiny_runs import make_run

    wl = np.linspace(450.0, 900.0, 6)
    run = make_run(tmp_path / "run", model="test_point_detector", in_chans=6, num_classes=2, task="detect",
                   class_names=["background", "a", "b"], wavelengths=wl, mean=[0.2] * 6, std=[0.03] * 6)
    empty = _scene(tmp_path / "empty.tif", np.full((6, 20, 24), -9999.0), wl, -9999.0)
    out, pts = tmp_path / "scores.tif", tmp_path / "points.gpkg"
    code, _, err = run_main(capsys, "detect", "--input", str(empty), "--method", "learned", "--model", str(run),
                            "--out", str(out), "--points", str(pts), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(empty) in err and "no-data" in err, err
    assert not out.exists() and not pts.exists()
    # the same scene with data is scored (the refusal is about the data, not the run)
    rng = np.random.default_rng(0)
    full = _scene(tmp_path / "full.tif", 0.2 + 0.03 * rng.standard_normal((6, 20, 24)), wl, -9999.0)
    code, _, err = run_main(capsys, "detect", "--input", str(full), "--method", "learned", "--model", str(run),
                            "--out", str(out), "--quiet")
    assert code == 0 and out.is_file(), err


def _background(tmp_path: Path, load_fixture, *, empty_band: int | None = None, all_empty: bool = False) -> Path:  # noqa: ANN001
    """The speclib fixture's 12-band background (32 x 48, UTM) with no-data -9999 in one whole band or everywhere."""
    speclib = load_fixture("speclib")
    image = speclib.background(2).astype(np.float64)
    if empty_band is not None:
        image[empty_band] = -9999.0
    if all_empty:
        image[:] = -9999.0
    return _scene(tmp_path / "bg.tif", image, speclib.WAVELENGTHS, -9999.0)


def test_simulate_targets_flags_a_band_with_no_data_anywhere(tmp_path: Path, load_fixture,  # noqa: ANN001
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A band that is no-data at every pixel left no pixel valid: simulate-targets wrote an all-NaN scene.tif
    with 0 targets and exited 0. hsi detect and hsi train flag such a band bad; simulate-targets now does too."""
    import geopandas as gpd
    import rasterio

    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture, empty_band=4)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    out = tmp_path / "sim"
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(bg), "--targets", str(lib),
                            "--n-targets", "4", "--seed", "3", "--out", str(out), "--quiet")
    assert code == 0, err
    assert "band 5" in err and "no data at any pixel" in err, err
    with rasterio.open(out / "scene.tif") as ds:
        scene = ds.read()
        wl = [float(v) for v in ds.tags()["wavelength"].split(",")]
    assert scene.shape[0] == speclib.BANDS - 1 and np.isfinite(scene).all()
    np.testing.assert_allclose(wl, np.delete(speclib.WAVELENGTHS, 4), atol=0.01)
    assert len(gpd.read_file(out / "targets.gpkg")) == 4


@pytest.mark.parametrize("command", ["simulate-targets", "train"])
def test_background_that_is_all_no_data_is_refused_in_one_line(tmp_path: Path, load_fixture, command: str,  # noqa: ANN001
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """simulate-targets wrote an all-NaN scene with 0 targets (exit 0); train --task detect stopped with
    'BandStats.fit: the mask selects no pixel; pass the training-pixel mask', which names neither the file nor a fix."""
    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture, all_empty=True)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    out = tmp_path / "out"
    if command == "train":
        args = ["train", "--task", "detect", "--data", str(bg), "--model", "test_point_detector", "--epochs", "1"]
    else:
        args = ["simulate-targets", "--background", str(bg), "--n-targets", "2"]
    code, _, err = run_main(capsys, *args, "--targets", str(lib), "--out", str(out), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"hsi: error: {bg}: every pixel is no-data"), err
    assert not out.exists() or not any(out.iterdir())


def test_truth_points_without_a_class_are_named_as_such(tmp_path: Path, load_fixture,  # noqa: ANN001
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A truth point whose class cell is empty was refused as 'classes nan are not among the targets ...; rename
    them in the truth file, or score those materials too (--material)', as if a material were named 'nan'."""
    import geopandas as gpd
    from shapely.geometry import Point

    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    x0, y0 = 400000.0, 5000000.0  # the scene's corner (_scene), 30 m pixels
    points = [Point(x0 + 30 * (c + 0.5), y0 - 30 * (r + 0.5)) for r, c in ((5, 6), (20, 30), (12, 40))]
    truth = tmp_path / "truth.gpkg"
    gpd.GeoDataFrame({"class": ["alpha", None, "beta"]}, geometry=points, crs="EPSG:32633").to_file(truth)
    out = tmp_path / "ace.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "ace", "--targets", str(lib),
                            "--truth", str(truth), "--out", str(out), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{truth}: 1 of 3 points have no class" in err and "nan" not in err, err
    assert not out.exists()
    # rx names no class: the same file is scored
    code, out_text, err = run_main(capsys, "detect", "--input", str(bg), "--method", "rx", "--truth", str(truth),
                                   "--out", str(out), "--quiet")
    assert code == 0 and "3 targets, class-agnostic" in out_text, err


def test_a_material_named_twice_is_scored_once(tmp_path: Path, load_fixture,  # noqa: ANN001
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """--material beta --material alpha --material beta wrote three score bands, two of them named beta (a truth
    point of class beta then matched only the second)."""
    import rasterio

    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    out = tmp_path / "ace.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "ace", "--targets", str(lib),
                            "--material", "beta", "--material", "alpha", "--material", "beta", "--out", str(out),
                            "--quiet")
    assert code == 0, err
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("beta", "alpha")


def test_a_target_pixel_given_twice_is_scored_once(tmp_path: Path, load_fixture,  # noqa: ANN001
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """--target-pixel 5,6 --target-pixel 5,6 wrote two identical score bands, both named pixel_5_6."""
    import rasterio

    bg = _background(tmp_path, load_fixture)
    out = tmp_path / "cem.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "cem", "--target-pixel", "5,6",
                            "--target-pixel", "20,30", "--target-pixel", "5,6", "--out", str(out), "--quiet")
    assert code == 0, err
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("pixel_5_6", "pixel_20_30")


@pytest.mark.parametrize("command", ["detect", "simulate-targets"])
def test_a_library_material_that_is_all_zero_is_refused(tmp_path: Path, load_fixture, command: str,  # noqa: ANN001
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A library column of zeros (an empty column) made CEM's score band NaN at every valid pixel (its filter
    divides by d^T R^-1 d = 0), with numpy's 'invalid value encountered in divide' as the only hint, and exit 0."""
    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    spectra = speclib.library_spectra()
    spectra[1] = 0.0  # beta
    lib = tmp_path / "lib.csv"
    np.savetxt(lib, np.column_stack([speclib.LIB_WL, spectra.T]), delimiter=",", comments="", fmt="%.6g",
               header="wavelength," + ",".join(speclib.NAMES))
    out = tmp_path / "out"
    args = (["detect", "--input", str(bg), "--method", "cem", "--out", str(tmp_path / "out.tif")] if command == "detect"
            else ["simulate-targets", "--background", str(bg), "--n-targets", "2", "--out", str(out)])
    code, _, err = run_main(capsys, *args, "--targets", str(lib), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"hsi: error: {lib}: material 'beta' is 0 at every band"), err
    assert not (tmp_path / "out.tif").exists() and not out.exists()


def test_a_target_pixel_that_is_all_zero_is_refused(tmp_path: Path, load_fixture,  # noqa: ANN001
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A zero-filled pixel not marked no-data, passed as --target-pixel, gave CEM an all-NaN score map."""
    speclib = load_fixture("speclib")
    image = speclib.background(2).astype(np.float64)
    image[:, 7, 9] = 0.0
    bg = _scene(tmp_path / "bg.tif", image, speclib.WAVELENGTHS, -9999.0)
    out = tmp_path / "cem.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "cem", "--target-pixel", "7,9",
                            "--out", str(out), "--quiet")
    assert code != 0 and err.count("\n") == 1 and err.startswith("hsi: error: --target-pixel 7,9"), err
    assert "0 at every band" in err and not out.exists()


def test_truth_saved_in_another_crs_scores_as_the_original(tmp_path: Path, load_fixture,  # noqa: ANN001
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """simulate-targets' truth reprojected to EPSG:3035 (LAEA) in a GIS comes back onto the UTM scene ~2e-5 px off;
    its box edges (32.00002) then took one more row of pixels per target, so AUROC and mAP50 changed (0.918 -> 0.784
    on a 48 x 56 scene) for the very same targets."""
    def laea(gdf, folder: Path) -> Path:  # noqa: ANN001
        gdf.to_crs("EPSG:3035").to_file(folder / "truth_3035.gpkg")
        return folder / "truth_3035.gpkg"

    assert_truth_scores_as_the_original(tmp_path, capsys, load_fixture("speclib"), _background(tmp_path, load_fixture),
                                        laea)


def assert_truth_scores_as_the_original(tmp_path: Path, capsys: pytest.CaptureFixture[str], speclib, bg: Path,  # noqa: ANN001
                                        resave) -> None:  # noqa: ANN001
    """simulate-targets on ``bg``, then ``detect --method ace`` scored against its ``targets.gpkg`` and against
    ``resave(truth GeoDataFrame, folder) -> path`` (the truth saved otherwise): the same AUROC and mAPs."""
    import json

    import geopandas as gpd

    lib = speclib.write_csv(tmp_path / "lib.csv")
    sim = tmp_path / "sim"
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(bg), "--targets", str(lib),
                            "--n-targets", "8", "--seed", "5", "--out", str(sim), "--quiet")
    assert code == 0, err
    other = resave(gpd.read_file(sim / "targets.gpkg"), tmp_path)
    reports = []
    for truth in (sim / "targets.gpkg", other):
        metrics = tmp_path / f"{truth.stem}.json"
        code, _, err = run_main(capsys, "detect", "--input", str(sim / "scene.tif"), "--method", "ace", "--targets",
                                str(lib), "--out", str(tmp_path / f"{truth.stem}.tif"), "--truth", str(truth),
                                "--metrics", str(metrics), "--quiet")
        assert code == 0, err
        reports.append(json.loads(metrics.read_text()))
    for key in ("auroc", "mAP@1px", "mAP@2px", "mAP25", "mAP50", "n_targets"):
        assert reports[1][key] == pytest.approx(reports[0][key], abs=1e-12), key