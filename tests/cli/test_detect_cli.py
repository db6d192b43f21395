"""CLI end to end on a tiny georeferenced fixture: simulate-targets -> detect (+ truth), train --task detect."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import rasterio

from cli_runner import run_main



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
