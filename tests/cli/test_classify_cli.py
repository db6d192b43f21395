"""CLI end to end on a tiny georeferenced fixture: train -> predict -> COG, and the fault cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line, run_main
from hsi_app.cli.main import main
from hsi_app.io.cog import read_class_map

TRANSFORM = from_origin(440000.0, 3750000.0, 30.0, 30.0)



def _write_tif(path: Path, data: np.ndarray, *, nodata: float | None = None, wavelengths: np.ndarray | None = None) -> Path:
    c, h, w = data.shape
    profile = {"driver": "GTiff", "height": h, "width": w, "count": c, "dtype": data.dtype, "crs": "EPSG:32616",
               "transform": TRANSFORM, "nodata": nodata}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
        if wavelengths is not None:
            ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wavelengths), wavelength_units="nm")
    return path


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 40 x 36, 30-band int16 scene with 4 classes in blocks, plus its label GeoTIFF."""
    root = tmp_path_factory.mktemp("scene")
    rng = np.random.default_rng(0)
    labels = np.zeros((40, 36), dtype=np.uint8)
    for k, (r, c) in enumerate([(2, 2), (2, 20), (22, 2), (22, 20)], start=1):
        labels[r : r + 14, c : c + 12] = k
    x = np.linspace(0, 1, 30)
    spectra = np.stack([0.2 + 0.1 * k * x + 0.05 * np.sin(6 * x * (k + 1)) for k in range(5)])
    cube = (spectra[labels].transpose(2, 0, 1) + 0.01 * rng.standard_normal((30, 40, 36))) * 10000
    wl = np.linspace(420, 2400, 30)
    return {
        "cube": _write_tif(root / "scene.tif", cube.astype(np.int16), wavelengths=wl),
        "labels": _write_tif(root / "labels.tif", labels[None]),
        "other_bands": _write_tif(root / "other.tif", cube[:20].astype(np.int16), wavelengths=np.linspace(450, 900, 20)),
        "empty": _write_tif(root / "empty.tif", np.full((30, 40, 36), -9999, dtype=np.int16), nodata=-9999, wavelengths=wl),
        "root": root,
    }


@pytest.fixture(scope="module")
def trained(scene: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run"
    code = main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "test_ssfcn",
                     "--split", "random:0.2", "--epochs", "3", "--out", str(out), "--quiet")
    assert code == 0
    return out


def main_code(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_train_without_model_uses_the_snv_default(scene: dict[str, Path], tmp_path: Path) -> None:
    """No --model: ssfcn_snv, whose SNV statistics are those of this run's training pixels (from torchgeo tiles)."""
    from safetensors.numpy import load_file

    out = tmp_path / "default"
    code = main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--split", "random:0.2",
                     "--epochs", "1", "--out", str(out), "--quiet")
    assert code == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_name"] == "ssfcn_snv" and cfg["in_chans"] == 30
    weights = load_file(str(out / "model.safetensors"))
    np.testing.assert_allclose(weights["snv.band_mean"], cfg["mean"], rtol=1e-6)
    np.testing.assert_allclose(weights["snv.band_std"], cfg["std"], rtol=1e-6)
    assert np.all(weights["snv.snv_std"] > 0) and not np.allclose(weights["snv.snv_mean"], 0.0)


def test_train_writes_the_run_folder(trained: Path) -> None:
    for name in ("model.safetensors", "config.json", "metrics.json", "split.npz", "confusion.png", "map.tif", "map.png"):
        assert (trained / name).is_file(), name
    # a georeferenced GeoTIFF is tiled from disk by torchgeo against this label raster
    with rasterio.open(trained / "train_labels.tif") as ds:
        assert ds.crs.to_epsg() == 32616 and ds.transform == TRANSFORM
    metrics = json.loads((trained / "metrics.json").read_text())
    for key in ("oa", "aa", "kappa", "per_class_accuracy", "confusion_matrix", "n_train", "n_test", "protocol", "train_seconds"):
        assert key in metrics
    assert metrics["protocol"] == "random:0.2" and metrics["leaky"] is True
    assert metrics["n_train"] + metrics["n_test"] == 4 * 14 * 12
    assert np.asarray(metrics["confusion_matrix"]).sum() == metrics["n_test"]


def test_predict_equals_training_map_and_keeps_georeference(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pred.tif"
    code, stdout, err = run_main(capsys, "predict", "--model", str(trained), "--input", str(scene["cube"]),
                                 "--out", str(out), "--window", "16", "--quiet")
    assert code == 0, err
    got = read_class_map(out)
    ref = read_class_map(trained / "map.tif")  # one 512-px window during training
    np.testing.assert_array_equal(got.classes, ref.classes)
    assert got.crs.to_epsg() == 32616 and got.transform == TRANSFORM
    assert got.class_names[0] == "unlabelled" and len(got.class_names) == 5
    assert "px/s" in stdout


def test_predict_tta_is_window_independent(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bands = {}
    for name, window in (("small", "16"), ("whole", "512"), ("plain", "512")):
        flag = [] if name == "plain" else ["--tta"]
        code, _, err = run_main(capsys, "predict", "--model", str(trained), "--input", str(scene["cube"]),
                                "--out", str(tmp_path / f"{name}.tif"), "--window", window, "--quiet", *flag)
        assert code == 0, err
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            bands[name] = ds.read().astype(np.float64)
            assert ds.crs.to_epsg() == 32616 and ds.transform == TRANSFORM
    # the eight views of each window (halo = receptive radius) give the eight views of the scene
    np.testing.assert_array_equal(bands["small"][0], bands["whole"][0])
    np.testing.assert_allclose(bands["small"][1], bands["whole"][1], atol=1e-3)
    assert np.abs(bands["whole"][1] - bands["plain"][1]).max() > 1e-3  # the averaged confidence is a different number


def test_predict_smooth_is_window_independent_and_keeps_georeference(trained: Path, scene: dict[str, Path],
                                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bands = {}
    for name, window, smooth in (("small", "8", "guided:2,0.01"), ("whole", "512", "guided:2,0.01"), ("plain", "512", "none")):
        code, _, err = run_main(capsys, "predict", "--model", str(trained), "--input", str(scene["cube"]),
                                "--out", str(tmp_path / f"{name}.tif"), "--window", window, "--smooth", smooth, "--quiet")
        assert code == 0, err
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            bands[name] = ds.read().astype(np.float64)
            assert ds.crs.to_epsg() == 32616 and ds.transform == TRANSFORM
    # each 8-px window is read with the model's halo plus 2R: the filtered map equals the one-window map
    np.testing.assert_array_equal(bands["small"][0], bands["whole"][0])
    np.testing.assert_allclose(bands["small"][1], bands["whole"][1], atol=1)  # uint8 confidence, 255 = 1
    # band 2 is the filtered probability of the chosen class: a different number from the model's own
    assert np.abs(bands["whole"][1] - bands["plain"][1]).max() >= 2


def test_val_fraction_zero_trains_every_epoch_without_validation(scene: dict[str, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "noval"
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                            "--model", "test_ssfcn", "--split", "random:0.2", "--epochs", "3", "--val-fraction", "0",
                            "--out", str(out), "--quiet")
    assert code == 0, err
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    assert [e["epoch"] for e in epochs] == [0, 1, 2]  # no early stopping
    assert all("val_oa" not in e for e in epochs)  # nothing held out, nothing scored during training
    assert json.loads((out / "config.json").read_text())["extra"]["val_fraction"] == 0.0
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                            "--val-fraction", "0.7", "--out", str(tmp_path / "bad"), "--quiet")
    assert code != 0 and "--val-fraction" in err


def test_label_smoothing_reaches_the_training_loss(scene: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    losses = {}
    for smoothing in ("0", "0.5"):
        out = tmp_path / f"ls{smoothing}"
        code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                                "--model", "test_ssfcn", "--split", "random:0.2", "--epochs", "2", "--val-fraction", "0",
                                "--label-smoothing", smoothing, "--out", str(out), "--quiet")
        assert code == 0, err
        assert json.loads((out / "config.json").read_text())["extra"]["label_smoothing"] == float(smoothing)
        losses[smoothing] = [e["train_loss"] for e in json.loads((out / "metrics.json").read_text())["epochs"]]
    # same seed, tiles and initial weights: only the loss target differs, and smoothing keeps it
    # above the entropy of the smoothed target (0.5 + 0.5/4 on the true class of 4)
    floor = -(0.625 * np.log(0.625) + 3 * 0.125 * np.log(0.125))
    assert losses["0"] != losses["0.5"] and min(losses["0.5"]) > floor
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                            "--label-smoothing", "1", "--out", str(tmp_path / "bad"), "--quiet")
    assert code != 0 and "--label-smoothing" in err


def test_class_weights_reach_the_training_loss(scene: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with rasterio.open(scene["labels"]) as ds:
        labels = ds.read(1)
    train = labels.copy()  # class 1 keeps its whole block, classes 2-4 keep 10 pixels each
    for k in (2, 3, 4):
        rows, cols = np.nonzero(labels == k)
        train[rows[10:], cols[10:]] = 0
    test = np.where(train == 0, labels, 0).astype(np.uint8)
    paths = [_write_tif(tmp_path / f"{n}.tif", m[None].astype(np.uint8)) for n, m in (("tr", train), ("te", test))]
    losses = {}
    for power in ("0", "1"):
        out = tmp_path / f"cw{power}"
        code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--train-labels", str(paths[0]),
                                "--test-labels", str(paths[1]), "--model", "test_ssfcn", "--epochs", "2",
                                "--val-fraction", "0", "--class-weights", power, "--out", str(out), "--quiet")
        assert code == 0, err
        assert json.loads((out / "config.json").read_text())["extra"]["class_weight_power"] == float(power)
        losses[power] = [e["train_loss"] for e in json.loads((out / "metrics.json").read_text())["epochs"]]
    # same seed, tiles and initial weights: the class sizes differ (168 / 10 / 10 / 10), so reweighting changes the loss
    assert losses["0"] != losses["1"]
    for bad, flag in ((("--class-weights", "1.5"), "--class-weights"), (("--model", "svm", "--class-weights", "0.5"), "SVM")):
        code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                                *bad, "--out", str(tmp_path / "bad"), "--quiet")
        assert code != 0 and flag in err and not (tmp_path / "bad").exists()


def test_svm_baseline_same_metrics_schema(scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                                 "--model", "svm", "--split", "fixed:10", "--out", str(tmp_path / "svm"), "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "svm" / "metrics.json").read_text())
    assert metrics["n_train"] == 40 and metrics["oa"] > 0.9
    assert "svm on fixed:10: OA" in stdout and "LEAKY" not in stdout  # per-pixel: no patches, no leak
    assert metrics["leaky"] is False


def _replay_split(capsys: pytest.CaptureFixture[str], base: list[str], run: Path, out: Path) -> tuple[int, str, str]:
    """README's replay: the run's split.npz saved with numpy.save, trained again through --train-labels/--test-labels."""
    split = np.load(run / "split.npz")
    train, test = out.parent / f"{out.name}_train.npy", out.parent / f"{out.name}_test.npy"
    np.save(train, split["train"])
    np.save(test, split["test"])
    return run_main(capsys, *base, "--train-labels", str(train), "--test-labels", str(test), "--out", str(out))


def test_svm_leak_verdict_is_the_same_for_a_drawn_and_a_replayed_split(scene: dict[str, Path], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """README's replay (split.npz -> numpy.save -> --train-labels/--test-labels) gets the drawn split's verdict."""
    base = ["train", "--data", str(scene["cube"]), "--model", "svm", "--quiet"]
    code, out_a, err = run_main(capsys, *base, "--labels", str(scene["labels"]), "--split", "random:0.1",
                                "--out", str(tmp_path / "a"))
    assert code == 0, err
    code, out_b, err = _replay_split(capsys, base, tmp_path / "a", tmp_path / "b")
    assert code == 0, err
    a, b = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("a", "b"))
    assert a["leaky"] is b["leaky"] is False and a["oa"] == b["oa"] and a["n_test"] == b["n_test"]
    assert "LEAKY" not in out_a + out_b


def test_a_replayed_split_on_another_numbering_than_labels_is_refused(scene: dict[str, Path], trained: Path,
                                                                      tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A split whose ids are not --labels' numbering would train a map with wrong class names (audit K #2)."""
    base = ["train", "--data", str(scene["cube"]), "--model", "svm", "--quiet", "--labels", str(scene["labels"])]
    code, _, err = run_main(capsys, *base, "--split", "random:0.1", "--out", str(tmp_path / "a"))
    assert code == 0, err
    code, _, err = _replay_split(capsys, base, tmp_path / "a", tmp_path / "b")  # its own --labels: agrees
    assert code == 0, err
    split = np.load(tmp_path / "a" / "split.npz")
    shift = np.array([0, 2, 3, 4, 1], np.int32)  # the same pixels numbered on another list
    train, test = tmp_path / "other_train.npy", tmp_path / "other_test.npy"
    np.save(train, shift[split["train"]])
    np.save(test, shift[split["test"]])
    code, _, err = run_main(capsys, *base, "--train-labels", str(train), "--test-labels", str(test),
                            "--out", str(tmp_path / "c"))
    assert_one_error_line(code, err, "other_train.npy", str(scene["labels"]), "its ids are not --labels",
                          "id 1 lies mostly on its class 4")
    assert not (tmp_path / "c").exists()
    code, _, err = run_main(capsys, "finetune", "--base", str(trained), "--data", str(scene["cube"]), "--labels",
                            str(scene["labels"]), "--train-labels", str(train), "--test-labels", str(test),
                            "--lora-rank", "2", "--out", str(tmp_path / "ft"), "--quiet")
    assert_one_error_line(code, err, "other_train.npy", str(scene["labels"]), "its ids are not --labels",
                          "id 1 lies mostly on its class 4")
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--model", "svm", "--quiet",
                            "--train-labels", str(train), "--test-labels", str(test), "--out", str(tmp_path / "d"))
    assert code == 0, err  # no --labels: the ids are the user's own numbering


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("other_bands", "do not match the model's 30 bands"),
        ("empty", "every pixel is no-data"),
        ("unwritable", "does not exist; create it first"),
        ("bad_window", "--window 0"),
        ("missing_model", "no config.json"),
        ("bad_smooth", "--smooth 'gaussian': use none, guided, guided:R,EPS or guided:R,EPS,K"),
    ],
)
def test_faults_give_one_line(case: str, needle: str, trained: Path, scene: dict[str, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    args = {"model": str(trained), "input": str(scene["cube"]), "out": str(tmp_path / "o.tif"), "window": "64"}
    if case in ("other_bands", "empty"):
        args["input"] = str(scene[case])
    elif case == "unwritable":
        args["out"] = str(tmp_path / "no_such_dir" / "o.tif")
    elif case == "bad_window":
        args["window"] = "0"
    elif case == "missing_model":
        (tmp_path / "not_a_run").mkdir()  # a folder without config.json (beside --out: not its input folder)
        args["model"] = str(tmp_path / "not_a_run")
    elif case == "bad_smooth":
        args["smooth"] = "gaussian"
    code, _, err = run_main(capsys, "predict", *[f"--{k}={v}" for k, v in args.items()], "--quiet")
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("hsi: error")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "o.tif").exists()


def test_resample_lets_other_bands_through(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # 20 bands over 450-900 nm cannot cover a 420-2400 nm model: refused even with --resample, in one line naming
    # the scene, the run and the bands it needs (not the resampler's "target"/"source"), the edge rule and a fix
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--input", str(scene["other_bands"]),
                            "--out", str(tmp_path / "r.tif"), "--resample", "--quiet")
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"hsi: error: {scene['other_bands']}: the model {trained} needs ")
    assert "nm here) beyond this scene's 450-900 nm" in err and "within 6 FWHM of a scene's range" in err
    assert "use a model trained on bands within 450-900 nm, or a scene that covers " in err
    assert "target" not in err and "source" not in err


def test_window_larger_than_scene_warns_and_works(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--input", str(scene["cube"]),
                            "--out", str(tmp_path / "w.tif"), "--window", "4096", "--quiet")
    assert code == 0 and "larger than the scene" in err
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--input", str(scene["cube"]),
                            "--out", str(tmp_path / "d.tif"), "--quiet")  # the default 512 on a small scene: no noise
    assert code == 0 and "larger than the scene" not in err


def test_predict_routes_a_band_subset_to_channel_vit(scene: dict[str, Path], trained: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A wavelength-aware run maps a cube holding only every other training band; a fixed-band run refuses it."""
    from hsi_app.io import open_cube
    from hsi_app.tasks.band_subset import predict_band_subset
    from hsi_app.tasks.train_classifier import scene_in_memory

    run = tmp_path / "cvit"
    assert main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model",
                     "test_channel_vit", "--split", "random:0.2", "--epochs", "2", "--out", str(run), "--quiet") == 0
    with rasterio.open(scene["cube"]) as ds:
        full = ds.read()
    wl = np.linspace(420, 2400, 30)
    keep = np.arange(0, 30, 2)
    subset = _write_tif(tmp_path / "half.tif", full[keep], wavelengths=wl[keep])
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(subset),
                            "--out", str(tmp_path / "half_map.tif"), "--quiet")
    assert code == 0, err
    classes = read_class_map(tmp_path / "half_map.tif").classes
    image, _, _ = scene_in_memory(open_cube(subset))
    expected = predict_band_subset(run, image, wl[keep]).argmax(axis=0) + 1
    assert (classes == expected).mean() > 0.99  # same model, same bands; only float rounding may differ
    from hsi_app.batch import ClusterOptions, run_batch

    for window, folder in ((512, "whole"), (16, "split")):  # one task for the scene / one per 16 px window
        batch = run_batch("classify", run, [str(subset)], tmp_path / folder, progress=False, echo=lambda s: None,
                          cluster=ClusterOptions(workers=1, processes=False, dashboard=False), window=window,
                          split_windows=1)
        [row] = batch.rows
        assert (row.status, row.split) == ("done", folder == "split"), row.error
        np.testing.assert_array_equal(read_class_map(tmp_path / folder / "half_classes.tif").classes, classes)
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--input", str(subset),
                            "--out", str(tmp_path / "refused.tif"), "--quiet")
    assert code != 0 and "do not match the model's 30 bands" in err and not (tmp_path / "refused.tif").exists()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_outputs_that_are_inputs_are_refused(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    src = tmp_path / "copy.tif"
    shutil.copy(scene["cube"], src)
    before = src.read_bytes()
    cases = [
        (["predict", "--model", str(trained), "--input", str(src), "--out", str(src)], "--out would overwrite the --input"),
        (["predict", "--model", str(trained), "--input", str(src), "--out", str(tmp_path / "m.tif"), "--png",
          str(tmp_path / "m.tif")], "--out and --png are the same file"),
        (["finetune", "--base", str(trained), "--data", str(src), "--labels", str(scene["labels"]), "--lora-rank", "2",
          "--out", str(trained)], "--out would overwrite the --base input"),
        (["train", "--data", str(src), "--labels", str(scene["labels"]), "--model", "svm", "--out", str(src)],
         "--out would overwrite the --data input"),
    ]
    run_before = _snapshot(trained)
    for args, needle in cases:
        code, _, err = run_main(capsys, *args, "--quiet")
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("hsi: error")]
        assert code == 2 and len(lines) == 1 and needle in lines[0], (args, err)
    assert src.read_bytes() == before and _snapshot(trained) == run_before
    assert not (tmp_path / "m.tif").exists()


def test_output_names_whose_extension_promises_another_format_are_refused(
        trained: Path, scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = str(scene["cube"])
    cases = [
        (["predict", "--model", str(trained), "--input", src, "--out", str(tmp_path / "map.png")], "map.png", ".tif or .tiff"),
        (["predict", "--model", str(trained), "--input", src, "--out", str(tmp_path / "m.tif"), "--png",
          str(tmp_path / "q.jpg")], "q.jpg", ".png name"),
        (["detect", "--input", src, "--method", "rx", "--out", str(tmp_path / "rx.png")], "rx.png", ".tif or .tiff"),
        (["detect", "--input", src, "--method", "rx", "--out", str(tmp_path / "rx.tif"), "--points",
          str(tmp_path / "pts.shp")], "pts.shp", ".gpkg name"),
        (["vectorize", "--map", src, "--out", str(tmp_path / "p.kml")], "p.kml", ".gpkg or .shp"),
        (["evaluate", "--map", src, "--reference", str(scene["labels"]), "--confusion", str(tmp_path / "c.pdf")],
         "c.pdf", ".png name"),
    ]
    for args, name, needle in cases:
        code, _, err = run_main(capsys, *args, "--quiet") if args[0] == "predict" else run_main(capsys, *args)
        lines = [ln for ln in err.strip().splitlines() if ln.startswith("hsi: error")]
        assert code == 2 and len(lines) == 1 and name in lines[0] and needle in lines[0], (args, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    upper = tmp_path / "MAP.TIFF"  # the extension is matched without regard to case
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--input", src, "--out", str(upper), "--quiet")
    assert code == 0 and upper.is_file(), err


def test_a_run_file_never_replaces_an_input_in_the_run_folder(scene: dict[str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    folder = tmp_path / "work"
    folder.mkdir()
    data = folder / "map.tif"  # the name of the run's own class map
    shutil.copy(scene["cube"], data)
    before = data.read_bytes()

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("the clash is found before training starts")

    monkeypatch.setattr("hsi_app.tasks.train_classifier._train_into", no_training)
    code, _, err = run_main(capsys, "train", "--data", str(data), "--labels", str(scene["labels"]), "--model", "svm",
                            "--out", str(folder), "--quiet")
    assert_one_error_line(code, err, "map.tif: the run would overwrite this input")
    assert data.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["map.tif"]


def test_a_folder_holding_another_kind_of_run_is_refused_before_training(
        trained: Path, second_member: Path, scene: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An ensemble.json or adapter left beside a new run would make `--model DIR` load the old one."""
    ens = tmp_path / "ens"
    assert run_main(capsys, "ensemble", "--model", str(trained), "--model", str(second_member), "--out", str(ens),
                    "--quiet")[0] == 0
    adapter = tmp_path / "ft"
    adapter.mkdir()
    (adapter / "adapter.safetensors").write_bytes(b"x")
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    folders = {f: _snapshot(f) for f in (ens, adapter, run)}

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("refused before training")

    monkeypatch.setattr("hsi_app.tasks.train_classifier._train_into", no_training)
    train = ["train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "svm", "--quiet"]
    code, _, err = run_main(capsys, *train, "--out", str(ens))
    assert_one_error_line(code, err, f"{ens}: holds an `hsi ensemble` (ensemble.json)", "folder of its own")
    code, _, err = run_main(capsys, *train, "--out", str(adapter))
    assert_one_error_line(code, err, "holds an `hsi finetune` adapter (adapter.safetensors)")
    code, _, err = run_main(capsys, "finetune", "--base", str(trained), "--data", str(scene["cube"]), "--labels",
                            str(scene["labels"]), "--lora-rank", "2", "--out", str(run), "--quiet")
    assert_one_error_line(code, err, "holds a trained model (model.safetensors)")
    assert {f: _snapshot(f) for f in folders} == folders


def test_retraining_removes_the_earlier_runs_training_labels(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The folder holds the new run whole: no train_labels.tif of a run that is gone."""
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    assert (run / "train_labels.tif").is_file()  # the dense GeoTIFF run sampled its tiles against it
    (run / "notes.txt").write_text("mine")
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                            "--model", "svm", "--out", str(run), "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in run.iterdir()) == sorted(
        ["config.json", "model.safetensors", "split.npz", "metrics.json", "confusion.png", "map.tif", "map.png",
         "notes.txt"])


def test_a_scene_without_labels_is_named(scene: dict[str, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--out", str(tmp_path / "run"), "--quiet")
    assert_one_error_line(code, err, f"{scene['cube']}: no labels; pass --labels")
    assert not (tmp_path / "run").exists()


def test_weights_get_the_same_permissions_as_the_other_run_files(trained: Path) -> None:
    mode = {p.name: p.stat().st_mode & 0o777 for p in trained.iterdir()}
    assert mode["model.safetensors"] == mode["config.json"] == mode["metrics.json"]


def test_a_failed_training_leaves_the_previous_run_as_it_was(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The run is staged: an error after the weights were saved (here: while mapping) publishes nothing."""
    import shutil

    from hsi_app.io import open_cube
    from hsi_app.tasks import train_classifier as tc

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = _snapshot(run)

    def boom(*args: object, **kwargs: object) -> None:
        assert (Path(str(args[0])) / "model.safetensors").is_file()  # weights were written (to the staging folder)
        raise KeyboardInterrupt

    monkeypatch.setattr(tc, "evaluate_run", boom)
    cube = open_cube(scene["cube"], labels=scene["labels"])
    with pytest.raises(KeyboardInterrupt):
        tc.train_classifier(cube, run, tc.TrainOptions(model="svm", split="random:0.3", progress=False))
    assert _snapshot(run) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no staging folder left behind


@pytest.mark.parametrize(
    ("extra", "labels", "needle"),
    [
        (["--model", "hsdt_s"], None, "--model hsdt_s is a denoise model"),
        (["--epochs", "0"], None, "--epochs 0: must be at least 1"),
        (["--window", "0"], None, "--window 0: must be a positive"),
        (["--model", "svm"], "one_class", "one_class.npy: every training pixel is class 2"),
        (["--model", "svm"], "zeros", "zeros.npy: the labels have no labelled pixel (all 0)"),
        (["--model", "svm", "--train-labels", "ONE", "--test-labels", "ZEROS"], None,
         "one_train.npy, ZEROS: every training pixel is class 2"),
        (["--model", "svm"], "fill", "label value 65535 at row 0, col 0"),
        (["--model", "svm"], "fill255", "fill255.npy: label id 255 looks like a fill value"),
        (["--model", "svm", "--train-labels", "LABELS", "--test-labels", "ZEROS"], None, "leaves no test pixel"),
        (["--model", "svm", "--split", "disjoint:0.5", "--buffer", "100"], None,
         "--buffer 100: blocks of 201 px with a 100-px gap do not fit the 40 x 36 scene, so no test pixel is left; "
         "use a smaller --buffer (at most 19 here"),
    ],
)
def test_training_inputs_are_checked_before_training(extra: list[str], labels: str | None, needle: str,
                                                     scene: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    lab_path = scene["labels"]
    if labels is not None:
        with rasterio.open(scene["labels"]) as ds:
            lab = ds.read(1).astype(np.int64)
        lab = {"one_class": np.where(lab > 0, 2, 0), "zeros": np.zeros_like(lab),
               "fill": np.where(lab > 0, lab, 65535),
               "fill255": np.where(lab > 0, lab, 255).astype(np.uint8)}[labels]
        lab_path = tmp_path / f"{labels}.npy"
        np.save(lab_path, lab)
    zeros = tmp_path / "no_test.npy"
    np.save(zeros, np.zeros((40, 36), np.int64))
    one = tmp_path / "one_train.npy"
    with rasterio.open(scene["labels"]) as ds:
        np.save(one, np.where(ds.read(1) == 2, 2, 0).astype(np.int64))  # class 2 of --labels alone
    needle = needle.replace("one_train.npy, ZEROS", f"{one}, {zeros}")
    extra = [{"LABELS": str(scene["labels"]), "ZEROS": str(zeros), "ONE": str(one)}.get(a, a) for a in extra]
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(lab_path), *extra,
                            "--out", str(tmp_path / "run"), "--quiet")
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("hsi: error")]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err
    assert not (tmp_path / "run").exists()


def test_predict_refuses_a_run_of_another_task(scene: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.checkpoint import RunConfig, save_run

    run = save_run(tmp_path / "dn", RunConfig(task="denoise", model_name="test_hsdt", model_args={}, in_chans=30,
                                              num_classes=1, class_names=[], wavelengths=[None] * 30,
                                              fwhm=[None] * 30, band_indices=list(range(30)), source_bands=30,
                                              mean=[0.0] * 30, std=[1.0] * 30, receptive_radius=4), {})
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene["cube"]),
                            "--out", str(tmp_path / "p.tif"), "--quiet")
    assert code == 2 and "a 'denoise' run, not a classifier" in err and "hsi denoise" in err
    assert not (tmp_path / "p.tif").exists()


def test_evaluate_on_the_runs_test_pixels_reproduces_its_metrics(trained: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`hsi evaluate` (numpy) on map.tif against split.npz's test pixels = metrics.json (torchmetrics)."""
    from hsi_app.data.splits import Split

    split = Split.load(trained / "split.npz")
    np.save(tmp_path / "test.npy", split.test)
    code, _, _ = run_main(capsys, "evaluate", "--map", str(trained / "map.tif"), "--reference",
                          str(tmp_path / "test.npy"), "--json", str(tmp_path / "acc.json"))
    got = json.loads((tmp_path / "acc.json").read_text())
    want = json.loads((trained / "metrics.json").read_text())
    assert code == 0
    assert got["oa"] == pytest.approx(want["oa"]) and got["kappa"] == pytest.approx(want["kappa"], abs=1e-6)
    assert got["confusion_matrix"] == want["confusion_matrix"] and got["n_reference"] == want["n_test"]


@pytest.fixture(scope="module")
def second_member(trained: Path, scene: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``trained``'s split (seed 0) with another initialisation seed: an ensemble member."""
    out = tmp_path_factory.mktemp("member") / "member"
    code = main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "test_ssfcn",
                     "--split", "random:0.2", "--epochs", "3", "--init-seed", "7", "--out", str(out), "--quiet")
    assert code == 0
    return out


def test_init_seed_changes_the_model_not_the_split(trained: Path, second_member: Path) -> None:
    from safetensors.numpy import load_file

    from hsi_app.data.splits import Split

    a, b = Split.load(trained / "split.npz"), Split.load(second_member / "split.npz")
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    assert json.loads((trained / "config.json").read_text())["extra"]["init_seed"] == 0
    assert json.loads((second_member / "config.json").read_text())["extra"]["init_seed"] == 7
    wa, wb = load_file(str(trained / "model.safetensors")), load_file(str(second_member / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert any(not np.array_equal(wa[k], wb[k]) for k in wa)


def test_predict_with_two_runs_maps_their_mean_probabilities(trained: Path, second_member: Path,
                                                            scene: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The ensemble map = argmax of the mean of each run's own probabilities; windowing does not change it."""
    from hsi_app.io import open_cube
    from hsi_app.predictor import Predictor

    maps = {}
    for window in ("12", "512"):
        out = tmp_path / f"ens{window}.tif"
        code, stdout, err = run_main(capsys, "predict", "--model", str(trained), "--model", str(second_member),
                                     "--input", str(scene["cube"]), "--out", str(out), "--window", window, "--quiet")
        assert code == 0, err
        maps[window] = read_class_map(out)
    cube = open_cube(str(scene["cube"]))
    image = np.asarray(cube.values, dtype=np.float32)
    probs = [Predictor.load(run).bind(cube)(image) for run in (trained, second_member)]
    mean = (probs[0] + probs[1]) / 2
    assert not np.allclose(probs[0], probs[1])  # two different members
    got = maps["512"]
    np.testing.assert_array_equal(got.classes, mean.argmax(0) + 1)
    np.testing.assert_allclose(got.confidence, mean.max(0), atol=1 / 255)  # the COG stores it in steps of 1/255
    np.testing.assert_array_equal(maps["12"].classes, got.classes)
    assert got.crs.to_epsg() == 32616 and got.transform == TRANSFORM


@pytest.fixture(scope="module")
def other_split_run(scene: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run on another random:0.2 split (seed 1) of the same scene."""
    out = tmp_path_factory.mktemp("seed1") / "seed1"
    assert main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "test_ssfcn",
                     "--split", "random:0.2", "--seed", "1", "--epochs", "1", "--out", str(out), "--quiet") == 0
    return out


def test_ensembles_of_runs_on_different_splits_warn_and_are_not_scored(
        trained: Path, other_split_run: Path, scene: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--model", str(other_split_run), "--input",
                            str(scene["cube"]), "--out", str(tmp_path / "e.tif"), "--quiet")
    assert code == 0, err
    assert "different splits" in err and "random:0.2 seed 0" in err and "random:0.2 seed 1" in err
    code, stdout, err = run_main(capsys, "ensemble", "--model", str(trained), "--model", str(other_split_run),
                                 "--out", str(tmp_path / "ens"), "--quiet")
    assert code == 0, err
    assert "different splits" in err and "not scored" in stdout
    assert (tmp_path / "ens" / "ensemble.json").is_file() and not (tmp_path / "ens" / "metrics.json").exists()


def test_ensemble_faults_give_one_line(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    # the same run twice (once through its config.json) is not an ensemble
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--model", str(trained / "config.json"),
                            "--input", str(scene["cube"]), "--out", str(tmp_path / "a.tif"), "--quiet")
    assert_one_error_line(code, err, "given twice")
    # a run with other classes
    labels3 = tmp_path / "labels3.tif"
    with rasterio.open(scene["labels"]) as ds:
        lab = ds.read(1)
    _write_tif(labels3, np.where(lab == 4, 0, lab).astype(np.uint8)[None])
    three = tmp_path / "three"
    assert main_code("train", "--data", str(scene["cube"]), "--labels", str(labels3), "--model", "test_ssfcn",
                     "--split", "random:0.2", "--epochs", "1", "--out", str(three), "--quiet") == 0
    capsys.readouterr()
    code, _, err = run_main(capsys, "predict", "--model", str(trained), "--model", str(three),
                            "--input", str(scene["cube"]), "--out", str(tmp_path / "b.tif"), "--quiet")
    assert_one_error_line(code, err, str(three), "classes", "same classes")
    assert not (tmp_path / "a.tif").exists() and not (tmp_path / "b.tif").exists()
    # --init-seed belongs to classification
    code, _, err = run_main(capsys, "train", "--task", "denoise", "--data", str(scene["cube"]), "--init-seed", "3",
                            "--out", str(tmp_path / "dn"), "--quiet")
    assert_one_error_line(code, err, "--init-seed", "--seed")


def test_ensemble_folder_is_scored_on_the_members_split(trained: Path, second_member: Path, scene: dict[str, Path],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hsi ensemble` = the two runs averaged: its map is `hsi predict` with both runs, and its metrics score that
    map on the shared split's test pixels (checked through `hsi evaluate`)."""
    from hsi_app.data.splits import Split

    ens = tmp_path / "runs" / "ens"
    code, stdout, err = run_main(capsys, "ensemble", "--model", str(trained), "--model", str(second_member),
                                 "--out", str(ens), "--quiet")
    assert code == 0, err
    doc = json.loads((ens / "ensemble.json").read_text())
    assert [(ens / m["path"]).resolve() for m in doc["members"]] == [trained.resolve(), second_member.resolve()]
    assert all(not Path(m["path"]).is_absolute() for m in doc["members"])
    metrics = json.loads((ens / "metrics.json").read_text())
    assert metrics["model"] == "ensemble of 2 (test_ssfcn)" and metrics["protocol"] == "random:0.2"
    assert [m["oa"] for m in metrics["members"]] == [json.loads((r / "metrics.json").read_text())["oa"]
                                                     for r in (trained, second_member)]
    assert f"OA {100 * metrics['oa']:.2f}%" in stdout and "LEAKY" in stdout
    # the map equals predicting with the two runs, and with the folder
    for args, name in (([str(trained), str(second_member)], "two"), ([str(ens)], "folder")):
        code, _, err = run_main(capsys, "predict", *[a for m in args for a in ("--model", m)], "--input",
                                str(scene["cube"]), "--out", str(tmp_path / f"{name}.tif"), "--quiet")
        assert code == 0, err
        np.testing.assert_array_equal(read_class_map(tmp_path / f"{name}.tif").classes, read_class_map(ens / "map.tif").classes)
    np.save(tmp_path / "test.npy", Split.load(trained / "split.npz").test)
    code, _, _ = run_main(capsys, "evaluate", "--map", str(ens / "map.tif"), "--reference", str(tmp_path / "test.npy"),
                          "--json", str(tmp_path / "acc.json"))
    assert code == 0
    assert json.loads((tmp_path / "acc.json").read_text())["oa"] == pytest.approx(metrics["oa"])
    # the folder moves with its runs: member paths are relative
    moved = tmp_path / "moved"
    moved.mkdir()
    for src in (trained, second_member):
        (moved / src.parent.name).symlink_to(src.parent.resolve(), target_is_directory=True)
    doc["members"] = [{**m, "path": str(Path("..") / Path(m["path"]).parent.name / Path(m["path"]).name)}
                      for m in doc["members"]]
    (moved / "ens").mkdir()
    (moved / "ens" / "ensemble.json").write_text(json.dumps(doc))
    code, _, err = run_main(capsys, "predict", "--model", str(moved / "ens" / "ensemble.json"), "--input",
                            str(scene["cube"]), "--out", str(tmp_path / "moved.tif"), "--quiet")
    assert code == 0, err
    np.testing.assert_array_equal(read_class_map(tmp_path / "moved.tif").classes, read_class_map(ens / "map.tif").classes)


def test_ensemble_command_faults(trained: Path, second_member: Path, scene: dict[str, Path], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "ensemble", "--model", str(trained), "--out", str(tmp_path / "one"))
    assert_one_error_line(code, err, "at least two runs")
    code, _, err = run_main(capsys, "ensemble", "--model", str(trained), "--model", str(second_member),
                            "--out", str(trained))
    assert_one_error_line(code, err, "--out would overwrite the --model #1 input")
    assert not (trained / "ensemble.json").exists()
    with rasterio.open(scene["cube"]) as ds:  # the members' bands, but not their scene's size
        small = _write_tif(tmp_path / "small.tif", ds.read()[:, :20, :18], wavelengths=np.linspace(420, 2400, 30))
    code, _, err = run_main(capsys, "ensemble", "--model", str(trained), "--model", str(second_member),
                            "--out", str(tmp_path / "ens_small"), "--data", str(small), "--quiet")
    assert_one_error_line(code, err, "20 x 18 px", "40 x 36", "--data")
    # an ensemble whose member changed afterwards is refused by name
    ens = tmp_path / "ens"
    member = tmp_path / "member_copy"
    shutil.copytree(second_member, member)
    assert run_main(capsys, "ensemble", "--model", str(trained), "--model", str(member), "--out", str(ens),
                    "--quiet")[0] == 0
    shutil.copy(trained / "model.safetensors", member / "model.safetensors")
    code, _, err = run_main(capsys, "predict", "--model", str(ens), "--input", str(scene["cube"]),
                            "--out", str(tmp_path / "p.tif"), "--quiet")
    assert_one_error_line(code, err, "member_copy", "changed since the ensemble was written", "hsi ensemble")
    shutil.rmtree(member)
    code, _, err = run_main(capsys, "predict", "--model", str(ens), "--input", str(scene["cube"]),
                            "--out", str(tmp_path / "p.tif"), "--quiet")
    assert_one_error_line(code, err, "member_copy is missing")
    assert not (tmp_path / "p.tif").exists()


def _hashes(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``folder``."""
    import hashlib

    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_refused_ensemble_leaves_its_folder_as_it_was(trained: Path, second_member: Path, other_split_run: Path,
                                                        scene: dict[str, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    ens = tmp_path / "ens"
    assert run_main(capsys, "ensemble", "--model", str(trained), "--model", str(second_member), "--out", str(ens),
                    "--quiet")[0] == 0
    before = _hashes(ens)
    assert {"ensemble.json", "map.tif", "metrics.json"} <= set(before)
    member = tmp_path / "member_b"
    shutil.copytree(second_member, member)
    with rasterio.open(scene["cube"]) as ds:  # the members' bands, but not their scene's size
        small = _write_tif(tmp_path / "small.tif", ds.read()[:, :20, :18], wavelengths=np.linspace(420, 2400, 30))
    code, out, err = run_main(capsys, "ensemble", "--model", str(trained), "--model", str(member), "--out", str(ens),
                              "--data", str(small), "--quiet")
    assert_one_error_line(code, err, "20 x 18 px", "--data")
    assert _hashes(ens) == before
    assert "members" not in out
    assert not [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    # members on different splits: a new ensemble.json, and the earlier ensemble's map and metrics are gone with it
    code, out, err = run_main(capsys, "ensemble", "--model", str(trained), "--model", str(other_split_run),
                              "--out", str(ens), "--quiet")
    assert code == 0 and "not scored" in out, err
    assert sorted(_hashes(ens)) == ["ensemble.json"]
    doc = json.loads((ens / "ensemble.json").read_text())
    assert [(ens / m["path"]).resolve() for m in doc["members"]] == [trained.resolve(), other_split_run.resolve()]


def _weights(run: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(run / "model.safetensors"))


@pytest.fixture(scope="module")
def student(trained: Path, second_member: Path, scene: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``trained``'s split and initialisation, distilled from the ensemble of ``trained`` and ``second_member``."""
    out = tmp_path_factory.mktemp("student") / "student"
    assert main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "test_ssfcn",
                     "--split", "random:0.2", "--epochs", "3", "--teacher", str(trained), "--teacher",
                     str(second_member), "--out", str(out), "--quiet") == 0
    return out


def test_distilled_run_records_its_teacher_and_learns_from_it(student: Path, trained: Path, second_member: Path) -> None:
    from hsi_app.batch.state import model_hash
    from hsi_app.data.splits import Split

    extra = json.loads((student / "config.json").read_text())["extra"]
    split = Split.load(student / "split.npz")
    np.testing.assert_array_equal(split.test, Split.load(trained / "split.npz").test)
    assert extra["init_seed"] == 0
    teacher = extra["teacher"]
    assert teacher["runs"] == [str(trained.absolute()), str(second_member.absolute())]
    assert teacher["sha256"] == [model_hash(trained), model_hash(second_member)]
    assert teacher["weight"] == 1.0 and teacher["temperature"] == 1.0
    _, val = split.validation(0.1, seed=0)  # the default --val-fraction's pixels
    assert teacher["pixels"] == 40 * 36 - int((split.test > 0).sum()) - int((val > 0).sum()) > 40 * 36 // 2
    # same split, initial weights and tiles as `trained`: only the teacher's loss term differs
    wa, wb = _weights(trained), _weights(student)
    assert wa.keys() == wb.keys() and any(not np.array_equal(wa[k], wb[k]) for k in wa)
    metrics = json.loads((student / "metrics.json").read_text())
    assert metrics["n_test"] == int((split.test > 0).sum()) and 0.0 <= metrics["oa"] <= 1.0
    assert metrics["teacher"] == teacher  # the scores say they are a distilled run's (audit s56)


def test_teacher_targets_at_test_pixels_do_not_reach_the_student(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two teachers that differ only at the split's test pixels train bit-identical students."""
    import hsi_app.tasks.distill as distill
    from hsi_app.data.splits import Split

    test = Split.load(trained / "split.npz").test > 0
    real = distill.teacher_probs

    def scrambled(teachers: Any, cube: Any, **kw: Any) -> np.ndarray:
        probs = real(teachers, cube, **kw)
        probs[:, test] = probs[::-1][:, test]  # other classes at the test pixels only
        return probs

    runs = {}
    for name, fn in (("real", real), ("scrambled", scrambled)):
        monkeypatch.setattr(distill, "teacher_probs", fn)
        runs[name] = tmp_path / name
        assert main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model",
                         "test_ssfcn", "--split", "random:0.2", "--epochs", "2", "--teacher", str(trained),
                         "--out", str(runs[name]), "--quiet") == 0
    wa, wb = _weights(runs["real"]), _weights(runs["scrambled"])
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)


def test_a_heavy_teacher_moves_the_unlabelled_pixels_to_its_class(trained: Path, scene: dict[str, Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A teacher that calls every pixel class 3, weighted heavily, makes the student map the unlabelled
    background (which no label constrains) as class 3; without it the background is not class 3."""
    import hsi_app.tasks.distill as distill

    def class3(teachers: Any, cube: Any, **kw: Any) -> np.ndarray:
        probs = np.zeros((4, 40, 36), np.float32)
        probs[2] = 1.0
        return probs

    monkeypatch.setattr(distill, "teacher_probs", class3)
    out = tmp_path / "heavy"
    assert main_code("train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "test_ssfcn",
                     "--split", "random:0.2", "--epochs", "3", "--teacher", str(trained), "--distill-weight", "5",
                     "--out", str(out), "--quiet") == 0
    with rasterio.open(scene["labels"]) as ds:
        background = ds.read(1) == 0
    heavy, plain = read_class_map(out / "map.tif").classes, read_class_map(trained / "map.tif").classes
    assert (heavy[background] == 3).mean() > 0.9
    assert (plain[background] == 3).mean() < 0.5


def test_teacher_faults_give_one_line(trained: Path, other_split_run: Path, scene: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    base = ["train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--split", "random:0.2",
            "--epochs", "1", "--quiet"]
    # a teacher trained on another split has seen some of this split's test pixels
    code, _, err = run_main(capsys, *base, "--model", "test_ssfcn", "--teacher", str(other_split_run),
                            "--out", str(tmp_path / "a"))
    assert_one_error_line(code, err, "seed1", "of this run's test pixels", "same split")
    code, _, err = run_main(capsys, *base, "--model", "test_ssfcn", "--teacher", str(trained), "--distill-weight", "0",
                            "--out", str(tmp_path / "b"))
    assert_one_error_line(code, err, "--distill-weight 0.0")
    no_epochs = [a for a in base if a not in ("--epochs", "1")]  # the SVM refuses --epochs first
    code, _, err = run_main(capsys, *no_epochs, "--model", "svm", "--teacher", str(trained), "--out", str(tmp_path / "c"))
    assert_one_error_line(code, err, "SVM baseline does not take it")
    code, _, err = run_main(capsys, "train", "--task", "denoise", "--data", str(scene["cube"]), "--teacher", str(trained),
                            "--out", str(tmp_path / "d"), "--quiet")
    assert_one_error_line(code, err, "--teacher distils classifiers")
    bare = tmp_path / "bare"
    shutil.copytree(trained, bare)
    (bare / "split.npz").unlink()
    code, _, err = run_main(capsys, *base, "--model", "test_ssfcn", "--teacher", str(bare), "--out", str(tmp_path / "e"))
    assert_one_error_line(code, err, "no split.npz")
    renamed = tmp_path / "renamed"  # a teacher whose classes are others (here: one renamed)
    shutil.copytree(trained, renamed)
    config = json.loads((renamed / "config.json").read_text())
    config["class_names"][2] = "water"
    (renamed / "config.json").write_text(json.dumps(config))
    code, _, err = run_main(capsys, *base, "--model", "test_ssfcn", "--teacher", str(renamed),
                            "--out", str(tmp_path / "f"))
    assert_one_error_line(code, err, "renamed", "water", "same classes")
    assert not any((tmp_path / n).exists() for n in "abcdef")


def test_finetune_of_an_ensemble_points_to_distillation(trained: Path, second_member: Path, scene: dict[str, Path],
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ens = tmp_path / "ens"
    assert run_main(capsys, "ensemble", "--model", str(trained), "--model", str(second_member), "--out", str(ens),
                    "--quiet")[0] == 0
    code, _, err = run_main(capsys, "finetune", "--base", str(ens), "--data", str(scene["cube"]), "--labels",
                            str(scene["labels"]), "--lora-rank", "2", "--out", str(tmp_path / "ft"), "--quiet")
    assert_one_error_line(code, err, "is an ensemble", "--teacher")
    assert not (tmp_path / "ft").exists()


def test_readme_split_replay_keeps_the_class_names(scene: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """README's replay recipe passes the original --labels, so the replayed run keeps its names; its map is
    scored against the held-out test.npy (the run's own score), not the label file that holds its training
    pixels (audit O #2: that scored 81.94 % where the run's test OA was 33.13 %)."""
    import geopandas as gpd
    from shapely.geometry import box

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "hsi train --data scene.tif --labels fields.gpkg --train-labels train.npy --test-labels test.npy" in readme
    assert "hsi evaluate --map replay/map.tif --reference test.npy" in readme
    assert "--reference fields.gpkg\n" not in readme  # the training label file: an inflated score
    names = ["maize", "Oats", "rye", "wheat"]  # the blocks of the scene fixture, rows/cols as its labels
    geoms = []
    for r, c in [(2, 2), (2, 20), (22, 2), (22, 20)]:
        x0, y0 = TRANSFORM * (c, r)
        x1, y1 = TRANSFORM * (c + 12, r + 14)
        geoms.append(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    fields = tmp_path / "fields.gpkg"
    gpd.GeoDataFrame({"class": names}, geometry=geoms, crs="EPSG:32616").to_file(fields, driver="GPKG")
    base = ["train", "--data", str(scene["cube"]), "--labels", str(fields), "--model", "svm", "--quiet"]
    assert run_main(capsys, *base, "--split", "random:0.1", "--out", str(tmp_path / "run"))[0] == 0
    code, _, err = _replay_split(capsys, base, tmp_path / "run", tmp_path / "replay")
    assert code == 0, err
    config = json.loads((tmp_path / "replay" / "config.json").read_text())
    assert config["class_names"] == ["unlabelled", *names]
    code, out, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "replay" / "map.tif"),
                              "--reference", str(tmp_path / "replay_test.npy"), "--json", str(tmp_path / "ev.json"))
    assert code == 0 and "maize" in out, err
    report = json.loads((tmp_path / "ev.json").read_text())
    metrics = json.loads((tmp_path / "replay" / "metrics.json").read_text())
    assert report["n_reference"] == metrics["n_test"] and report["oa"] == pytest.approx(metrics["oa"])


def test_disjoint_buffer_sets_the_split_and_is_recorded(scene: dict[str, Path], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """--buffer R draws make_split(labels, disjoint, radius=R) (block edge max(2R+1, ceil(sqrt(40 * 36) / 10)) = 5 for
    R = 2, 4 for R = 0); split.npz, metrics.json and config.json record the buffer and the block edge, and a buffer
    below the default model's radius 11 gets the one-line layout note."""
    from hsi_app.data.splits import Split, make_split

    with rasterio.open(scene["labels"]) as ds:
        labels = ds.read(1).astype(np.int32)
    base = ["train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "svm",
            "--split", "disjoint:0.5", "--quiet"]
    for buffer, extra, block in ((2, ["--buffer", "2"], 5), (0, [], 4)):
        out = tmp_path / f"b{buffer}"
        code, stdout, err = run_main(capsys, *base, *extra, "--out", str(out))
        assert code == 0, err
        expected = make_split(labels, "disjoint:0.5", seed=0, radius=buffer)
        saved = Split.load(out / "split.npz")
        np.testing.assert_array_equal(saved.train, expected.train)
        np.testing.assert_array_equal(saved.test, expected.test)
        assert (saved.radius, saved.block) == (buffer, block)
        metrics = json.loads((out / "metrics.json").read_text())
        assert (metrics["buffer_radius"], metrics["block"]) == (buffer, block)
        assert json.loads((out / "config.json").read_text())["split"]["block"] == block
        lines = stdout.splitlines()
        assert lines[-1].startswith(f"note: this disjoint:0.5 split (buffer {buffer} px, blocks {block} px)")
        assert "--buffer 11" in lines[-1] and lines[-2].startswith("svm on disjoint:0.5: OA")


def test_the_layout_note_comes_from_the_run_not_from_reading_split_npz_again(
        scene: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`hsi train` prints the note from what the run returned; the note is the one of the saved split."""
    from hsi_app.data.splits import Split
    from hsi_app.tasks.train_classifier import layout_note

    def no_reread(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("split.npz read again")

    monkeypatch.setattr(Split, "load", no_reread)
    out = tmp_path / "svm"
    code, stdout, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]),
                                 "--model", "svm", "--split", "disjoint:0.5", "--quiet", "--out", str(out))
    assert code == 0, err
    monkeypatch.undo()
    split = Split.load(out / "split.npz")
    note = layout_note(split.protocol, split.radius, split.block, split.train.shape)
    assert note.startswith("note: this disjoint:0.5 split (buffer 0 px, blocks 4 px)")
    assert stdout.splitlines()[-1] == note


def test_a_dense_models_buffer_below_its_radius_is_labelled_leaky(scene: dict[str, Path], tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """test_ssfcn (radius 3): --buffer 0 leaves test pixels inside its training patches (LEAKY), --buffer 3 does not."""
    base = ["train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model", "test_ssfcn",
            "--split", "disjoint:0.5", "--epochs", "1", "--quiet"]
    for buffer, leaky in ((0, True), (3, False)):
        code, stdout, err = run_main(capsys, *base, "--buffer", str(buffer), "--out", str(tmp_path / f"b{buffer}"))
        assert code == 0, err
        assert json.loads((tmp_path / f"b{buffer}" / "metrics.json").read_text())["leaky"] is leaky
        assert ("LEAKY protocol" in stdout) is leaky


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_records_its_epochs_library_versions_and_input_files(trained: Path, scene: dict[str, Path]) -> None:
    """config.json extra and metrics.json: --epochs 3 requested and run (patience 20 never stops 3 epochs early),
    the versions of torch, lightning, scikit-learn, numpy and hsi_app, and the sha256 of the scene and label files."""
    from importlib.metadata import version

    import hsi_app

    cfg = json.loads((trained / "config.json").read_text())
    metrics = json.loads((trained / "metrics.json").read_text())
    assert cfg["extra"]["epochs_requested"] == metrics["epochs_requested"] == 3
    assert metrics["epochs_run"] == 3 == len(metrics["epochs"])
    want = {"torch": version("torch"), "lightning": version("lightning"), "scikit-learn": version("scikit-learn"),
            "numpy": np.__version__, "hsi_app": hsi_app.__version__}
    assert cfg["extra"]["versions"] == metrics["versions"] == want
    ident = metrics["data_identity"]
    assert cfg["extra"]["data_identity"] == ident
    assert ident["scene"]["files"] == [{"path": str(scene["cube"]), "bytes": scene["cube"].stat().st_size,
                                        "sha256": _sha256(scene["cube"])}]
    assert ident["labels"] == [{"path": str(scene["labels"]), "bytes": scene["labels"].stat().st_size,
                                "sha256": _sha256(scene["labels"])}]


def test_an_svm_run_records_no_epochs(scene: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "train", "--data", str(scene["cube"]), "--labels", str(scene["labels"]), "--model",
                            "svm", "--split", "fixed:10", "--out", str(tmp_path / "svm"), "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "svm" / "metrics.json").read_text())
    assert metrics["epochs_requested"] is None and metrics["epochs_run"] == 0
    assert metrics["data_identity"]["scene"]["files"][0]["sha256"] == _sha256(scene["cube"])


def test_a_run_written_before_the_records_loads_and_predicts_unchanged(trained: Path, scene: dict[str, Path],
                                                                       tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Keys are additive: a run folder without epochs_requested / versions / data_identity / block (config.json,
    metrics.json, split.npz as written before session 49) loads, predicts the same map and replays its split."""
    from hsi_app.data.splits import Split

    old = tmp_path / "old"
    shutil.copytree(trained, old)
    cfg = json.loads((old / "config.json").read_text())
    for key in ("epochs_requested", "versions", "data_identity"):
        del cfg["extra"][key]
    del cfg["split"]["block"]
    (old / "config.json").write_text(json.dumps(cfg))
    metrics = json.loads((old / "metrics.json").read_text())
    for key in ("epochs_requested", "epochs_run", "versions", "data_identity", "block"):
        del metrics[key]
    (old / "metrics.json").write_text(json.dumps(metrics))
    with np.load(old / "split.npz") as raw:
        arrays = {k: raw[k] for k in raw.files if k != "block"}
    np.savez_compressed(old / "split.npz", **arrays)
    assert Split.load(old / "split.npz").block == 0
    code, _, err = run_main(capsys, "predict", "--model", str(old), "--input", str(scene["cube"]),
                            "--out", str(tmp_path / "old.tif"), "--quiet")
    assert code == 0, err
    np.testing.assert_array_equal(read_class_map(tmp_path / "old.tif").classes,
                                  read_class_map(trained / "map.tif").classes)
    code, _, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "old.tif"), "--reference", str(scene["labels"]))
    assert code == 0, err
