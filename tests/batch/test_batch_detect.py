"""`--task detect`: per scene the same score COG and points as `hsi detect`, sidecars, resume and CLI checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cli_runner import assert_cli_errors
from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch.state import sidecar_path
from hsi_app.batch.tasks import DetectOptions, detect_adapter
from hsi_app.cli.main import main

CLUSTER = ClusterOptions(workers=1, processes=False, dashboard=False)
# 8 bands like the batch kit's scenes: a saw-tooth spectrum unlike the smooth background
METAL = np.array([0.05, 0.55, 0.05, 0.55, 0.05, 0.55, 0.05, 0.55])
PLANTED = {"a": (7, 9), "b": (12, 5)}


def _scenes(tmp: Path, kit) -> dict[str, Path]:  # noqa: ANN001
    """Two small scenes with the METAL spectrum planted at one pixel each, and one corrupt file."""
    paths = {"a": kit.write_scene(tmp / "in" / "a.tif", 20, 24, 1, nodata_corner=False),
             "b": kit.write_scene(tmp / "in" / "sub" / "b.tif", 18, 22, 2)}
    for key, (r, c) in PLANTED.items():
        with rasterio.open(paths[key], "r+") as ds:
            data = ds.read()
            data[:, r, c] = np.round(METAL * 10000).astype(np.int16)
            ds.write(data)
    bad = tmp / "in" / "bad.tif"
    bad.write_bytes(b"II*\x00" + np.random.default_rng(3).bytes(2000))  # TIFF magic, garbage after it
    return {**paths, "bad": bad}


def _library(tmp: Path, kit) -> Path:  # noqa: ANN001
    lib = tmp / "lib.csv"
    wl = np.linspace(450.0, 2300.0, kit.BANDS)
    lib.write_text("wavelength,metal\n" + "".join(f"{w:.2f},{v}\n" for w, v in zip(wl, METAL)))
    return lib


def _rows(res) -> dict[str, object]:  # noqa: ANN001
    return {Path(r.input).stem: r for r in res.rows}


def _run(adapter, tmp: Path, **kw):  # noqa: ANN001, ANN202
    return run_batch(adapter, None, [str(tmp / "in")], tmp / "out", cluster=CLUSTER, progress=False,
                     echo=lambda s: None, **kw)


def test_batch_ace_equals_hsi_detect_and_resumes(tmp_path: Path, kit, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    import geopandas as gpd

    scenes, lib = _scenes(tmp_path, kit), _library(tmp_path, kit)
    adapter = detect_adapter(DetectOptions("ace", targets=str(lib), max_points=3))
    rows = _rows(_run(adapter, tmp_path))
    assert {k: r.status for k, r in rows.items()} == {"a": "done", "b": "done", "bad": "failed"}
    assert "bad.tif" in rows["bad"].error
    outs = {"a": tmp_path / "out" / "a_scores.tif", "b": tmp_path / "out" / "sub" / "b_scores.tif"}
    for key, out in outs.items():
        ref, ref_pts = tmp_path / f"ref_{key}.tif", tmp_path / f"ref_{key}.gpkg"
        try:
            main(["detect", "--input", str(scenes[key]), "--method", "ace", "--targets", str(lib), "--out", str(ref),
                  "--points", str(ref_pts), "--max-points", "3"])
        except SystemExit as exc:  # main exits only on errors
            pytest.fail(f"hsi detect failed ({exc.code}): {capsys.readouterr().err}")
        with rasterio.open(out) as a, rasterio.open(ref) as b:
            np.testing.assert_array_equal(a.read(), b.read())
            assert a.crs == b.crs and a.transform == b.transform and a.tags() == b.tags()
            assert a.descriptions == ("metal",)
        pts, want = gpd.read_file(out.with_name(f"{key}_points.gpkg")), gpd.read_file(ref_pts)
        assert list(pts.columns) == list(want.columns) and len(pts) == len(want) == 3
        for col in ("row", "col", "score", "x", "y"):
            np.testing.assert_allclose(pts[col], want[col])
        assert pts.crs == want.crs
        best = pts.sort_values("score").iloc[-1]  # independent expectation: the planted pixel scores highest
        assert (int(best["row"]), int(best["col"])) == PLANTED[key]
        assert rows[key].class_counts == {"metal": 3}
        side = json.loads(sidecar_path(out).read_text())
        assert side["task"] == "detect" and side["points"] == 3 and side["class_counts"] == {"metal": 3}
        assert side["library"].startswith(f"{lib}: 1 spectrum read as reflectance 0-1, times 10000 to the scene's "
                                          "units (guessed from the scene's values")  # a wrong guess can be seen
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["summary"] == {"done": 2, "skipped": 0, "failed": 1}
    assert report["model"].startswith("ace:") and report["model"].endswith("lib.csv")

    # rerun: done scenes are skipped (the report keeps their point counts); the corrupt one is retried
    again = _rows(_run(adapter, tmp_path))
    assert {k: r.status for k, r in again.items()} == {"a": "skipped", "b": "skipped", "bad": "failed"}
    assert again["a"].class_counts == {"metal": 3}
    # a deleted points file is redone, not counted as done (the sidecar records it and its size)
    points_a = outs["a"].with_name("a_points.gpkg")
    kept = gpd.read_file(points_a)
    points_a.unlink()
    redone = _rows(_run(adapter, tmp_path))
    assert redone["a"].status == "done" and redone["b"].status == "skipped"
    again_pts = gpd.read_file(points_a)
    np.testing.assert_allclose(again_pts["score"], kept["score"])
    # other point options or another library -> another hash -> redone
    redo = _rows(_run(detect_adapter(DetectOptions("ace", targets=str(lib), max_points=1)), tmp_path))
    assert redo["a"].status == "done" and redo["a"].class_counts == {"metal": 1}
    scaled = _rows(_run(detect_adapter(DetectOptions("ace", targets=str(lib), max_points=1, scale=1000.0)), tmp_path))
    assert scaled["a"].status == "done"  # --scale is part of the outputs' identity
    assert "times 1000 to the scene's units (--scale)" in json.loads(sidecar_path(outs["a"]).read_text())["library"]
    lib.write_text(lib.read_text().replace("0.55", "0.5"))
    redo = _rows(_run(detect_adapter(DetectOptions("ace", targets=str(lib), max_points=1)), tmp_path))
    assert redo["b"].status == "done"


def test_batch_rx_needs_no_library_and_threshold_filters(tmp_path: Path, kit) -> None:  # noqa: ANN001
    _scenes(tmp_path, kit)
    (tmp_path / "in" / "bad.tif").unlink()
    rows = _rows(_run(detect_adapter(DetectOptions("rx", threshold=1e9)), tmp_path))
    assert {k: r.status for k, r in rows.items()} == {"a": "done", "b": "done"}
    assert rows["a"].class_counts == {"anomaly": 0}  # no RX score is that high
    with rasterio.open(tmp_path / "out" / "a_scores.tif") as ds:
        scores = ds.read(1)
    assert np.unravel_index(np.nanargmax(scores), scores.shape) == PLANTED["a"]


def test_batch_detect_option_errors(tmp_path: Path, kit, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from hsi_app.errors import ConfigError, ModelLoadError

    with pytest.raises(ConfigError, match="--targets"):
        detect_adapter(DetectOptions("mf"))
    with pytest.raises(ConfigError, match="needs --model"):
        _run(detect_adapter(DetectOptions("learned")), tmp_path)
    with pytest.raises(ModelLoadError, match="not a detection run"):  # a classification run
        run_batch("detect", run_dir, [str(tmp_path)], tmp_path / "o", progress=False, echo=lambda s: None)
    cases = [
        (["--task", "detect"], "needs --method"),
        (["--task", "detect", "--method", "rx", "--model", str(run_dir)], "uses no model"),
        (["--task", "detect", "--method", "cem"], "--targets"),
        (["--task", "classify", "--method", "rx", "--model", str(run_dir)], "only used with --task detect"),
        (["--task", "classify"], "needs --model"),
    ]
    assert_cli_errors(capsys, [(["batch", *args], msg) for args, msg in cases],
                      "--inputs", str(tmp_path), "--out-dir", str(tmp_path / "o"), "--quiet")


def _detect_run(tmp: Path, kit) -> Path:  # noqa: ANN001
    """A randomly initialised ``test_point_detector`` run with one class (plumbing only, no training)."""
    import torch

    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.models import create_model

    wl = np.linspace(450.0, 2300.0, kit.BANDS)
    torch.manual_seed(0)
    net = create_model("test_point_detector", in_chans=kit.BANDS, num_classes=1, wavelengths=wl)
    cfg = RunConfig(task="detect", model_name="test_point_detector", model_args={}, in_chans=kit.BANDS, num_classes=1,
                    class_names=["background", "metal"], wavelengths=json_floats(wl), fwhm=[None] * kit.BANDS,
                    band_indices=list(range(kit.BANDS)), source_bands=kit.BANDS, mean=[3000.0] * kit.BANDS,
                    std=[1000.0] * kit.BANDS, receptive_radius=int(net.receptive_radius))
    return save_run(tmp / "det_run", cfg, dict(net.state_dict()))


def test_batch_learned_equals_hsi_detect(tmp_path: Path, kit, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    import geopandas as gpd

    from hsi_app.batch.tasks import default_detect_method

    scenes = _scenes(tmp_path, kit)
    (tmp_path / "in" / "bad.tif").unlink()
    run = _detect_run(tmp_path, kit)
    assert default_detect_method(run) == "learned"  # what the CLI uses when --method is left out
    res = run_batch("detect", run, [str(tmp_path / "in")], tmp_path / "out", cluster=CLUSTER, progress=False,
                    echo=lambda s: None)
    rows = _rows(res)
    assert {k: r.status for k, r in rows.items()} == {"a": "done", "b": "done"}, [r.error for r in res.rows]
    from hsi_app.batch.state import model_hash

    side = json.loads(sidecar_path(tmp_path / "out" / "a_scores.tif").read_text())
    assert side["model"] == str(run.absolute()) and side["model_hash"] != model_hash(run)  # run hash + point options
    ref, ref_pts = tmp_path / "ref.tif", tmp_path / "ref.gpkg"
    try:
        main(["detect", "--input", str(scenes["a"]), "--method", "learned", "--model", str(run), "--out", str(ref),
              "--points", str(ref_pts)])
    except SystemExit as exc:
        pytest.fail(f"hsi detect failed ({exc.code}): {capsys.readouterr().err}")
    with rasterio.open(tmp_path / "out" / "a_scores.tif") as a, rasterio.open(ref) as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert a.tags() == b.tags() and a.crs == b.crs
    pts, want = gpd.read_file(tmp_path / "out" / "a_points.gpkg"), gpd.read_file(ref_pts)
    assert len(pts) == len(want) == sum(rows["a"].class_counts.values())
    np.testing.assert_allclose(pts[["row", "col", "score"]].to_numpy(float), want[["row", "col", "score"]].to_numpy(float))
