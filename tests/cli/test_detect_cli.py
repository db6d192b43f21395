"""CLI end to end on a tiny georeferenced fixture: simulate-targets -> detect (+ truth), train --task detect."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import rasterio

from cli_runner import run_main
from hsi_app.io.spectral_library import reflectance_scale


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> dict[str, Path]:  # noqa: ANN001
    speclib: ModuleType = load_fixture("speclib")
    d = tmp_path_factory.mktemp("detect_cli")
    return {"bg": speclib.write_geotiff(d / "bg.tif", speclib.background(3)), "lib": speclib.write_csv(d / "lib.csv"),
            "dir": d}


def test_simulate_then_detect_with_truth(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    sim = files["dir"] / "sim"
    code, out, err = run_main(capsys, "simulate-targets", "--background", str(files["bg"]), "--targets",
                              str(files["lib"]), "--seed", "4", "--n-targets", "6", "--out", str(sim))
    assert code == 0, err
    import geopandas as gpd

    truth = gpd.read_file(sim / "targets.gpkg")
    assert truth.crs.to_epsg() == 32616 and len(truth) >= 4
    assert {"class", "class_id", "row", "col", "x", "y", "size_bin", "box_row0"} <= set(truth.columns)
    with rasterio.open(sim / "abundance.tif") as ds:
        ab = ds.read(1)
        assert ds.crs.to_epsg() == 32616 and ds.count == 2
    assert ab.max() <= 1.0 and (ab > 0).sum() >= len(truth)
    code, out, err = run_main(
        capsys, "detect", "--input", str(sim / "scene.tif"), "--method", "ace", "--targets", str(files["lib"]),
        "--out", str(files["dir"] / "ace.tif"), "--points", str(files["dir"] / "ace.gpkg"), "--max-points", "5",
        "--truth", str(sim / "targets.gpkg"), "--metrics", str(files["dir"] / "m.json"),
    )
    assert code == 0, err
    assert "mAP@2px" in out
    scale = re.search(rf"{re.escape(str(files['lib']))}: 3 spectra read as reflectance 0-1, times (\S+) to the scene's "
                      r"units \(guessed from the scene's values; --scale sets it\)", err)
    assert scale is not None, err
    with rasterio.open(sim / "scene.tif") as ds:
        assert float(scale.group(1)) == reflectance_scale(ds.read()[:, ::4, ::4])
    metrics = json.loads((files["dir"] / "m.json").read_text())
    assert metrics["n_targets"] == len(truth) and 0.0 <= metrics["mAP50"] <= 1.0 and metrics["auroc"] > 0.8
    pts = gpd.read_file(files["dir"] / "ace.gpkg")
    assert pts.crs.to_epsg() == 32616 and 0 < len(pts) <= 5 * 3
    assert {"class", "score", "row", "col", "x", "y"} <= set(pts.columns)
    with rasterio.open(files["dir"] / "ace.tif") as ds:
        assert ds.count == 3 and ds.dtypes[0] == "float32" and ds.crs.to_epsg() == 32616


def test_rx_from_target_pixel_free_anomaly(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "detect", "--input", str(files["bg"]), "--method", "mf", "--target-pixel", "5,9",
                              "--out", str(files["dir"] / "mf.tif"))
    assert code == 0, err
    with rasterio.open(files["dir"] / "mf.tif") as ds:
        scores = ds.read(1)
    assert np.unravel_index(np.argmax(scores), scores.shape) == (5, 9)  # the target pixel itself scores highest


def test_bad_inputs_give_one_line(files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_main(capsys, "detect", "--input", str(files["bg"]), "--method", "acee", "--out", str(tmp_path / "x.tif"))
    assert code == 2 and "did you mean ace" in err and err.count("\n") == 1
    far = tmp_path / "far.csv"
    far.write_text("wavelength,x\n3000,0.1\n3100,0.2\n")
    code, _, err = run_main(capsys, "detect", "--input", str(files["bg"]), "--method", "cem", "--targets", str(far),
                            "--out", str(tmp_path / "x.tif"))
    assert code == 2 and "no spectral overlap" in err and err.count("\n") == 1
    code, _, err = run_main(capsys, "detect", "--input", str(files["bg"]), "--method", "learned", "--out", str(tmp_path / "x.tif"))
    assert code == 2 and "--model" in err
    code, _, err = run_main(capsys, "train", "--task", "detect", "--data", str(files["bg"]), "--out", str(tmp_path / "r"))
    assert code == 2 and "--targets" in err
    assert not (tmp_path / "x.tif").exists()


def test_train_detect_then_learned_detect(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    run = files["dir"] / "run"
    code, out, err = run_main(capsys, "train", "--task", "detect", "--data", str(files["bg"]), "--targets",
                              str(files["lib"]), "--model", "test_point_detector", "--epochs", "1", "--seed", "1",
                              "--quiet", "--out", str(run))
    assert code == 0, err
    assert "mAP50" in out
    assert json.loads((run / "config.json").read_text())["task"] == "detect"
    code, out, err = run_main(capsys, "detect", "--input", str(files["bg"]), "--method", "learned", "--model", str(run),
                              "--out", str(files["dir"] / "learned.tif"), "--points", str(files["dir"] / "l.gpkg"))
    assert code == 0, err
    with rasterio.open(files["dir"] / "learned.tif") as ds:
        heat = ds.read()
        assert ds.count == 3 and ds.crs.to_epsg() == 32616
    assert np.nanmin(heat) >= 0 and np.nanmax(heat) <= 1


def _crop_rows(src: Path, dst: Path, first: int) -> Path:
    """``src`` without its first rows, georeferenced where those pixels lie (a window of the same grid)."""
    from rasterio.windows import Window

    with rasterio.open(src) as ds:
        win = Window(0, first, ds.width, ds.height - first)
        profile = {**ds.profile, "driver": "GTiff", "height": ds.height - first, "transform": ds.window_transform(win)}
        for key in ("blockxsize", "blockysize", "tiled", "compress", "interleave"):
            profile.pop(key, None)
        with rasterio.open(dst, "w", **profile) as out:
            out.write(ds.read(window=win))
            out.update_tags(**ds.tags())
            for i in range(1, ds.count + 1):
                out.update_tags(i, **ds.tags(i))
    return dst


@pytest.fixture(scope="module")
def simulated(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hsi simulate-targets`` output (scene.tif, targets.gpkg) of six targets in the fixture background."""
    from hsi_app.cli.main import main

    sim = tmp_path_factory.mktemp("simulated") / "sim"
    try:
        main(["simulate-targets", "--background", str(files["bg"]), "--targets", str(files["lib"]), "--seed", "4",
              "--n-targets", "6", "--out", str(sim)])
    except SystemExit as exc:
        assert not exc.code
    return sim


def test_truth_on_a_cropped_scene_is_scored_on_its_grid(files: dict[str, Path], simulated: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import geopandas as gpd

    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detect_metrics import pixel_auroc
    from hsi_app.tasks.detection import read_detections, truth_mask

    sim = simulated
    crop = _crop_rows(sim / "scene.tif", tmp_path / "crop.tif", 6)
    gpkg = sim / "targets.gpkg"
    code, out, err = run_main(capsys, "detect", "--input", str(crop), "--method", "ace", "--targets", str(files["lib"]),
                              "--out", str(tmp_path / "crop_ace.tif"), "--truth", str(gpkg),
                              "--metrics", str(tmp_path / "m.json"))
    assert code == 0, err
    rows = gpd.read_file(gpkg)["box_row1"].to_numpy()  # last row (exclusive) of each target's footprint
    left_out = int((rows <= 6).sum())
    assert (f"{left_out} of {len(rows)} targets lie outside the scene {crop}" in err) == (left_out > 0)
    assert "All-NaN" not in err
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["n_targets"] == len(rows) - left_out
    # AUROC against the full scene's truth pixels, cut to the crop's rows (the truth boxes on the full grid)
    full = read_detections(gpkg, open_cube(sim / "scene.tif"), ["alpha", "beta", "gamma"])
    with rasterio.open(tmp_path / "crop_ace.tif") as ds:
        best = ds.read().max(axis=0)
    assert metrics["auroc"] == pytest.approx(pixel_auroc(best, truth_mask(full, (32, 48))[6:]))
    assert metrics["auroc"] > 0.8


def test_truth_for_another_place_is_one_error_line(simulated: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import geopandas as gpd

    from cli_runner import assert_one_error_line

    sim = simulated
    far = gpd.read_file(sim / "targets.gpkg")
    far.geometry = far.geometry.translate(14000.0, 0.0)  # 14 km east of the scene
    far.to_file(tmp_path / "far.gpkg", driver="GPKG")
    code, out, err = run_main(capsys, "detect", "--input", str(sim / "scene.tif"), "--method", "rx",
                              "--out", str(tmp_path / "rx.tif"), "--truth", str(tmp_path / "far.gpkg"))
    assert_one_error_line(code, err, f"{tmp_path / 'far.gpkg'}: none of the {len(far)} points overlaps the scene",
                          str(sim / "scene.tif"), "CRS")
    assert not (tmp_path / "rx.tif").exists()


def test_no_data_pixels_give_no_numpy_warning(files: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str], load_fixture) -> None:  # noqa: ANN001
    speclib: ModuleType = load_fixture("speclib")
    image = speclib.background(3)
    image[:, :4, :] = np.nan  # a strip of no-data (NaN in every band), as at a flight line's edge
    scene = speclib.write_geotiff(tmp_path / "holes.tif", image)
    sim = tmp_path / "sim"
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(scene), "--targets", str(files["lib"]),
                            "--seed", "4", "--n-targets", "6", "--out", str(sim))
    assert code == 0, err
    code, out, err = run_main(capsys, "detect", "--input", str(sim / "scene.tif"), "--method", "rx",
                              "--out", str(tmp_path / "rx.tif"), "--truth", str(sim / "targets.gpkg"))
    assert code == 0, err
    bars = ("rx: statistics", "rx: scores")  # the two passes' progress bars over strips
    other = [ln for ln in err.replace("\r", "\n").splitlines() if ln.strip() and not ln.startswith(bars)]
    assert "auroc" in out and other == []
    code, out, err = run_main(capsys, "train", "--task", "detect", "--data", str(scene), "--targets", str(files["lib"]),
                              "--model", "test_point_detector", "--epochs", "1", "--seed", "1", "--quiet",
                              "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert "AUROC" in out and "All-NaN" not in err


def test_simulated_abundance_names_its_classes_in_json(simulated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """abundance.tif's CLASS_NAMES is the JSON list every class-map writer uses, indexed by the truth's class_id."""
    import geopandas as gpd

    with rasterio.open(simulated / "abundance.tif") as ds:
        names = json.loads(ds.tags()["CLASS_NAMES"])
        classes = ds.read(2)
    truth = gpd.read_file(simulated / "targets.gpkg")
    assert names[0] == "none" and len(names) == 4
    assert all(names[int(i)] == c for i, c in zip(truth["class_id"], truth["class"]))
    assert set(np.unique(classes)) <= set(range(len(names)))
    code, out, err = run_main(capsys, "info", str(simulated / "abundance.tif"))
    assert code == 0 and "unexpected" not in err, err
    assert "2 bands" in out  # band 1 is float abundance: an image, not a class map


def test_learned_detect_resamples_other_bands_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The band-mismatch line tells `hsi detect` users to pass --resample, and `hsi detect` takes it."""
    from rasterio.transform import from_origin

    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube
    from tiny_runs import make_run

    run = make_run(tmp_path / "run", model="test_point_detector", in_chans=12, num_classes=2, task="detect",
                   class_names=["background", "a", "b"], wavelengths=np.linspace(450.0, 900.0, 12))
    rng = np.random.default_rng(0)
    data = (1000 + 100 * rng.standard_normal((10, 20, 24))).astype(np.float32)
    scene = tmp_path / "scene.tif"
    write_cube(scene, make_cube(data, wavelength=np.linspace(455.0, 895.0, 10), crs="EPSG:32633",
                                transform=from_origin(300000, 5000000, 30, 30)))
    base = ["detect", "--input", str(scene), "--method", "learned", "--model", str(run), "--quiet"]
    code, _, err = run_main(capsys, *base, "--out", str(tmp_path / "no.tif"))
    assert code == 2 and err.count("\n") == 1 and "pass --resample (resample=True in Python) to resample spectrally" in err, err
    assert not (tmp_path / "no.tif").exists()
    code, out, err = run_main(capsys, *base, "--resample", "--out", str(tmp_path / "yes.tif"))
    assert code == 0, err
    with rasterio.open(tmp_path / "yes.tif") as ds, rasterio.open(scene) as src:
        heat = ds.read()
        assert (ds.count, ds.height, ds.width) == (2, 20, 24) and ds.transform == src.transform
    assert np.isfinite(heat).all() and heat.min() >= 0 and heat.max() <= 1
    code, _, err = run_main(capsys, "detect", "--input", str(scene), "--method", "rx", "--resample",
                            "--out", str(tmp_path / "rx.tif"))
    assert code == 2 and err.count("\n") == 1 and "--resample: only --method learned" in err, err


def test_train_detect_into_a_classification_run_folder_is_refused(files: dict[str, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from tiny_runs import make_run

    folder = make_run(tmp_path / "cls")
    (folder / "map.tif").write_bytes(b"old map")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, _, err = run_main(capsys, "train", "--task", "detect", "--data", str(files["bg"]), "--targets",
                            str(files["lib"]), "--model", "test_point_detector", "--epochs", "1", "--quiet",
                            "--out", str(folder))
    assert code == 2 and err.count("\n") == 1, err
    assert f"{folder}: holds a classification run (config.json); write this detect run to a folder of its own" in err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_simulate_says_how_many_bands_scene_tif_keeps(files: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str], load_fixture) -> None:  # noqa: ANN001
    from rasterio.transform import from_origin

    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube

    speclib: ModuleType = load_fixture("speclib")
    image = speclib.background(5)
    bg = tmp_path / "bb.tif"
    write_cube(bg, make_cube(image, wavelength=speclib.WAVELENGTHS, bad_bands=[3, 7], crs="EPSG:32616",
                             transform=from_origin(500000.0, 4100000.0, 10.0, 10.0)))
    code, out, err = run_main(capsys, "simulate-targets", "--background", str(bg), "--targets", str(files["lib"]),
                              "--seed", "1", "--n-targets", "2", "--out", str(tmp_path / "sim"))
    assert code == 0, err
    n = image.shape[0]
    assert f"scene.tif: {n - 2} of the background's {n} bands; its 2 bad band(s) are left out" in out
    with rasterio.open(tmp_path / "sim" / "scene.tif") as ds:
        assert ds.count == n - 2
    code, out, _ = run_main(capsys, "simulate-targets", "--background", str(files["bg"]), "--targets",
                            str(files["lib"]), "--seed", "1", "--n-targets", "2", "--out", str(tmp_path / "sim2"))
    assert code == 0 and "bad band" not in out  # nothing left out, nothing to say


def test_truth_metrics_say_they_rank_every_peak(files: dict[str, Path], simulated: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """AP over all peaks: a --threshold that keeps no point leaves the metrics as they are, and says so."""
    base = ["detect", "--input", str(simulated / "scene.tif"), "--method", "ace", "--targets", str(files["lib"]),
            "--truth", str(simulated / "targets.gpkg"), "--quiet"]
    code, plain_out, err = run_main(capsys, *base, "--out", str(tmp_path / "a.tif"), "--metrics", str(tmp_path / "a.json"))
    assert code == 0, err
    code, out, err = run_main(capsys, *base, "--out", str(tmp_path / "b.tif"), "--points", str(tmp_path / "b.gpkg"),
                              "--threshold", "1e9", "--metrics", str(tmp_path / "b.json"))
    assert code == 0, err
    import geopandas as gpd

    assert len(gpd.read_file(tmp_path / "b.gpkg")) == 0
    plain, filtered = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "ab")
    assert plain["mAP@2px"] == filtered["mAP@2px"] and plain["mAP50"] == filtered["mAP50"]
    assert filtered["points_filter"] == {"threshold": 1e9, "max_points": 100} and plain["points_filter"] is None
    assert "every peak" in filtered["scored_peaks"] and "--points" in filtered["scored_peaks"]
    assert "AP ranks every peak" in out and "AP ranks every peak" not in plain_out
    with rasterio.open(tmp_path / "b.tif") as ds:  # the best peak is the map's maximum
        best = float(np.nanmax(ds.read()))
    assert f"0 points -> {tmp_path / 'b.gpkg'} (highest peak {best:.4g}; --threshold 1e+09 is a raw score, " \
           "not a percentile)" in out
    assert "highest peak" not in plain_out


def test_local_rx_window_wider_than_the_scene_names_the_file_and_the_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], load_fixture) -> None:  # noqa: ANN001
    """An 8-row scene with the default 5,21 window: one line with the file, the largest outer size and --rx-window."""
    from cli_runner import assert_one_error_line

    speclib = load_fixture("speclib")
    narrow = speclib.write_geotiff(tmp_path / "narrow.tif", speclib.background(1, (8, 30)))
    code, _, err = run_main(capsys, "detect", "--input", str(narrow), "--method", "rx-local", "--out",
                            str(tmp_path / "x.tif"), "--quiet")
    assert_one_error_line(code, err, f"{narrow}: local RX window 5,21: the outer window (21 px) is larger than the scene "
                                     "(8 x 30 px); pass --rx-window INNER,OUTER", "OUTER <= 7")
    code, _, err = run_main(capsys, "detect", "--input", str(narrow), "--method", "rx-local", "--rx-window", "3,7",
                            "--out", str(tmp_path / "x.tif"), "--quiet")
    assert code == 0, err


@pytest.mark.parametrize("window", ["21,5", "-1,3", "4,20"])
def test_local_rx_window_out_of_order_names_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       load_fixture, window: str) -> None:  # noqa: ANN001
    """Sizes not odd or not INNER < OUTER: the line starts with the option and the value as typed."""
    from cli_runner import assert_one_error_line

    speclib = load_fixture("speclib")
    scene = speclib.write_geotiff(tmp_path / "s.tif", speclib.background(1, (30, 30)))
    code, _, err = run_main(capsys, "detect", "--input", str(scene), "--method", "rx-local", "--rx-window", window,
                            "--out", str(tmp_path / "x.tif"), "--quiet")
    assert_one_error_line(code, err, f"hsi: error: --rx-window {window}: use odd sizes INNER < OUTER, e.g. 5,21")
    assert not (tmp_path / "x.tif").exists()


def test_learned_detect_refuses_a_scene_in_other_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A detector trained on reflectance x 10000 refuses the same scene as 0-1 reflectance, in one line, and takes it x 10000."""
    from rasterio.transform import from_origin

    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube
    from tiny_runs import make_run

    wl = np.linspace(450.0, 900.0, 6)
    run = make_run(tmp_path / "run", model="test_point_detector", in_chans=6, num_classes=2, task="detect",
                   class_names=["background", "a", "b"], wavelengths=wl, mean=[2000.0] * 6, std=[300.0] * 6)
    rng = np.random.default_rng(0)
    reflectance = (0.2 + 0.03 * rng.standard_normal((6, 20, 24))).astype(np.float32)
    paths = {}
    for name, data in (("unit", reflectance), ("x10000", reflectance * 10000)):
        paths[name] = tmp_path / f"{name}.tif"
        write_cube(paths[name], make_cube(data, wavelength=wl, crs="EPSG:32633",
                                          transform=from_origin(300000, 5000000, 30, 30)))
    base = ["detect", "--method", "learned", "--model", str(run), "--quiet"]
    code, _, err = run_main(capsys, *base, "--input", str(paths["unit"]), "--out", str(tmp_path / "no.tif"))
    assert code != 0 and err.count("\n") == 1, err
    assert "so the scene is in other units; its values are ~1/10,000 of the training data's: convert the scene" in err, err
    assert not (tmp_path / "no.tif").exists()
    code, _, err = run_main(capsys, *base, "--input", str(paths["x10000"]), "--out", str(tmp_path / "yes.tif"))
    assert code == 0, err
    assert (tmp_path / "yes.tif").is_file()


def test_quiet_help_says_every_method_shows_progress(capsys: pytest.CaptureFixture[str]) -> None:
    """The help said only rx-local and learned show a bar; rx/mf/ace/cem show two (statistics, scores)."""
    code, out, _ = run_main(capsys, "detect", "--help")
    flat = " ".join(out.split())
    assert code == 0 and "No progress bars (every method shows them)" in flat and "rx-local and learned show" not in flat
