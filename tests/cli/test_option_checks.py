"""Bad option values and output/input clashes are refused with one line, exit 2, before any work."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.cli_runner import assert_one_error_line, run_main


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def refused(capsys: pytest.CaptureFixture[str], root: Path, args: list[str], *words: str) -> None:
    """``hsi ARGS`` run in ``root`` exits 2 with one error line naming ``words`` and changes no file under ``root``."""
    before = _tree(root)
    code, _, err = run_main(capsys, *args)
    assert_one_error_line(code, err, *words)
    assert _tree(root) == before


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty work folder (the cwd) holding two run folders R, R2 with a config.json each."""
    for name in ("R", "R2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text('{"task": "classification"}')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args, words", [
    (["denoise", "--model", "R", "--input", "indian_pines", "--out", "d.tif", "--reference", "indian_pines",
      "--metrics", "R/config.json"], ["--metrics", "--model"]),
    (["detect", "--input", "indian_pines", "--method", "learned", "--model", "R", "--out", "s.tif",
      "--truth", "t.gpkg", "--metrics", "R/config.json"], ["--metrics", "--model"]),
    (["predict", "--model", "R", "--input", "indian_pines", "--out", "R/map.tif"], ["--out", "--model"]),
    (["predict", "--model", "R2", "--model", "R", "--input", "indian_pines", "--out", "R/map.tif"], ["--model #2"]),
    (["ensemble", "--model", "R", "--model", "R2", "--out", "R2/ens"], ["--out", "--model #2"]),
    (["finetune", "--base", "R", "--data", "indian_pines", "--lora-rank", "2", "--out", "R/ft"], ["--out", "--base"]),
    (["batch", "--model", "R", "--inputs", "x.tif", "--out-dir", "R", "--no-dashboard"], ["--out-dir", "--model"]),
    (["train", "--data", "indian_pines", "--teacher", "R", "--out", "R/student"], ["--out", "--teacher"]),
])
def test_output_inside_an_input_folder_is_refused(capsys: pytest.CaptureFixture[str], runs: Path,
                                                  args: list[str], words: list[str]) -> None:
    refused(capsys, runs, args, *words)


@pytest.mark.parametrize("args, option", [
    (["train", "--data", "indian_pines", "--out", "o", "--seed", "-1"], "--seed"),
    (["train", "--data", "indian_pines", "--out", "o", "--init-seed", "-5"], "--init-seed"),
    (["train", "--data", "indian_pines", "--out", "o", "--seed", "99999999999"], "--seed"),
    (["train", "--task", "denoise", "--data", "indian_pines", "--out", "o", "--seed", "-1"], "--seed"),
    (["finetune", "--base", "R", "--data", "indian_pines", "--lora-rank", "2", "--out", "o", "--seed", "-1"], "--seed"),
    (["demo", "--out", "o", "--seed", "-1"], "--seed"),
    (["denoise", "--model", "R", "--input", "indian_pines", "--out", "d.tif", "--noise", "gaussian:50",
      "--seed", "4294967296"], "--seed"),
    (["simulate-targets", "--background", "indian_pines", "--targets", "lib.csv", "--out", "o", "--seed", "-2"], "--seed"),
])
def test_seed_outside_0_to_2_32_is_refused(capsys: pytest.CaptureFixture[str], runs: Path, args: list[str],
                                           option: str) -> None:
    refused(capsys, runs, args, option, "4294967295")


@pytest.mark.parametrize("extra, words", [
    (["--min-area", "inf"], ["--min-area inf", "positive"]),
    (["--min-area", "1e300"], ["--min-area 1e+300", "larger than the map", "5.99 ha"]),
    (["--min-pixels", "100000"], ["--min-pixels 100000", "larger than the map", "599"]),
    (["--min-pixels", "600"], ["--min-pixels 600", "599"]),
])
def test_vectorize_mapping_unit_larger_than_the_map_is_refused(capsys: pytest.CaptureFixture[str], runs: Path,
                                                               extra: list[str], words: list[str]) -> None:
    import numpy as np
    from rasterio.transform import from_origin

    from hsi_app.io.cog import write_class_map

    cls = np.ones((20, 30), np.uint8)
    cls[:, 15:] = 2
    write_class_map(runs / "map.tif", cls, None, crs="EPSG:32633", transform=from_origin(5e5, 4.1e6, 10.0, 10.0),
                    class_names=["unlabelled", "water", "forest"])
    refused(capsys, runs, ["vectorize", "--map", "map.tif", "--out", "p.gpkg", *extra], *words)


@pytest.mark.parametrize("extra, words", [
    (["--density", "1e9"], ["--density 1e+09", "at most", "--n-targets"]),
    (["--n-targets", "1000000000"], ["--n-targets 1000000000", "at most"]),
])
def test_simulate_more_targets_than_fit_is_refused(capsys: pytest.CaptureFixture[str], runs: Path,
                                                   extra: list[str], words: list[str]) -> None:
    lib = Path(__file__).parents[2] / "datasets" / "spectral_library_demo.csv"
    refused(capsys, runs, ["simulate-targets", "--background", "indian_pines", "--targets", str(lib), "--out", "o",
                           "--quiet", *extra], *words)  # --quiet: no line on the library's scale before the error


@pytest.mark.parametrize("address", ["notaurl", "tcp://host:x", "tcp://host:99999"])
def test_batch_malformed_scheduler_address_is_refused(capsys: pytest.CaptureFixture[str], runs: Path,
                                                      address: str) -> None:
    refused(capsys, runs, ["batch", "--model", "R", "--inputs", "x.tif", "--out-dir", "ob", "--no-dashboard",
                           "--scheduler", address], "--scheduler", "tcp://HOST:PORT")


def test_finetune_lora_rank_above_the_adapted_layers_is_refused(capsys: pytest.CaptureFixture[str],
                                                                runs: Path) -> None:
    from tests.tiny_runs import make_run

    make_run(runs / "base")
    refused(capsys, runs, ["finetune", "--base", "base", "--data", "indian_pines", "--lora-rank", "100000",
                           "--out", "o", "--quiet"], "--lora-rank 100000", "full rank")


@pytest.mark.parametrize("args, words", [
    (["train", "--data", "indian_pines", "--out", ""], ["--out is empty"]),
    (["finetune", "--base", "R", "--data", "indian_pines", "--lora-rank", "2", "--out", ""], ["--out is empty"]),
    (["finetune", "--base", "R", "--data", "indian_pines", "--lora-rank", "2", "--out", "o", "--window", "-4"],
     ["--window -4: must be a positive number of pixels, e.g. 512"]),
    (["ensemble", "--model", "R", "--model", "R2", "--out", " "], ["--out is empty"]),
    (["simulate-targets", "--background", "indian_pines", "--targets", "lib.csv", "--out", ""], ["--out is empty"]),
    (["batch", "--model", "R", "--inputs", "x.tif", "--out-dir", "", "--no-dashboard"], ["--out-dir is empty"]),
    (["train", "--data", "indian_pines", "--out", "o", "--label-smoothing", "nan"], ["--label-smoothing nan", "[0, 1)"]),
    (["train", "--data", "indian_pines", "--out", "o", "--val-fraction", "nan"], ["--val-fraction nan", "[0, 0.5)"]),
    (["train", "--data", "indian_pines", "--out", "o", "--split", "disjoint:0.5", "--buffer", "-1"],
     ["--buffer -1: use a whole number of pixels >= 0"]),
    (["evaluate", "--map", "m.tif", "--reference", "r.tif", "--json", "r.png"], ["--json", ".json"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--truth", "t.gpkg",
      "--metrics", "m.tif"], ["--metrics", ".json"]),
    (["denoise", "--model", "R", "--input", "indian_pines", "--out", "d.tif", "--reference", "indian_pines",
      "--metrics", "m.tif"], ["--metrics", ".json"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--points", "p.gpkg",
      "--threshold", "nan"], ["--threshold nan", "finite"]),
    (["batch", "--model", "R", "--inputs", "x.tif", "--out-dir", "ob", "--no-dashboard", "--split-windows", "0"],
     ["--split-windows 0"]),
    (["predict", "--model", "R", "--input", "indian_pines", "--out", "m.tif", "--exclude-masks", ","],
     ["--exclude-masks ','", "no mask name"]),
])
def test_bad_values_are_refused(capsys: pytest.CaptureFixture[str], runs: Path, args: list[str],
                                words: list[str]) -> None:
    refused(capsys, runs, args, *words)


@pytest.mark.parametrize("args, words", [
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--threshold", "5"],
     ["--threshold: it filters the --points file", "drop it"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--max-points", "5"],
     ["--max-points: it filters the --points file"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--rx-window", "3,9"],
     ["--rx-window: only --method rx-local uses a window, not rx"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--targets", "lib.csv"],
     ["--targets: only --method mf/ace/cem use target spectra, not rx", "drop it"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--target-pixel", "40,60"],
     ["--target-pixel: only --method mf/ace/cem use target spectra, not rx"]),
    (["detect", "--input", "indian_pines", "--method", "rx-local", "--out", "s.tif", "--material", "aluminium"],
     ["--material: only --method mf/ace/cem use target spectra, not rx-local"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--scale", "10000"],
     ["--scale: only --method mf/ace/cem use target spectra, not rx"]),
    (["detect", "--input", "indian_pines", "--method", "rx", "--out", "s.tif", "--model", "R"],
     ["--model: --method rx uses no model (only learned does)"]),
    (["detect", "--input", "indian_pines", "--method", "learned", "--model", "R", "--out", "s.tif", "--targets",
      "lib.csv"], ["--targets: only --method mf/ace/cem use target spectra, not learned"]),
    (["detect", "--input", "indian_pines", "--method", "ace", "--out", "s.tif", "--target-pixel", "40,60",
      "--material", "aluminium"], ["--material: it applies to a --targets library, and none is given"]),
    (["detect", "--input", "indian_pines", "--method", "ace", "--out", "s.tif", "--target-pixel", "40,60",
      "--scale", "100"], ["--scale: it applies to a --targets library, and none is given"]),
    (["batch", "--task", "detect", "--method", "rx", "--targets", "lib.csv", "--inputs", "x.tif", "--out-dir", "ob",
      "--no-dashboard"], ["--targets: only --method mf/ace/cem use target spectra, not rx"]),
    (["batch", "--task", "detect", "--method", "rx", "--material", "aluminium", "--scale", "10000", "--inputs",
      "x.tif", "--out-dir", "ob", "--no-dashboard"], ["--material: only --method mf/ace/cem use target spectra"]),
    (["batch", "--task", "detect", "--method", "rx", "--model", "R", "--inputs", "x.tif", "--out-dir", "ob",
      "--no-dashboard"], ["--model: --method rx uses no model"]),
    (["denoise", "--model", "R", "--input", "indian_pines", "--out", "d.tif", "--adapt-steps", "5"],
     ["--adapt-steps: it sets the steps of --adapt-sigma"]),
    (["simulate-targets", "--background", "indian_pines", "--targets", "lib.csv", "--out", "o", "--n-targets", "5",
      "--density", "0.01"], ["--density: --n-targets sets the number of targets instead"]),
    (["train", "--task", "denoise", "--data", "indian_pines", "--out", "o", "--split", "randm:0.1"],
     ["--split: --task denoise does not use it"]),
    (["train", "--task", "detect", "--data", "indian_pines", "--targets", "lib.csv", "--out", "o", "--class-weights",
      "7"], ["--class-weights: --task detect does not use it"]),
    (["train", "--data", "indian_pines", "--out", "o", "--noise", "zzz"], ["--noise: --task classify does not use it"]),
    (["train", "--data", "indian_pines", "--model", "svm", "--out", "o", "--epochs", "5"],
     ["--epochs: the SVM baseline fits the training spectra directly"]),
    (["train", "--data", "indian_pines", "--model", "svm", "--out", "o", "--buffer", "11"],
     ["--buffer 11: --split random:0.1 has no buffer (only a disjoint:F split has one)"]),
    (["train", "--data", "indian_pines", "--split", "disjoint:0.5", "--train-labels", "R/config.json", "--test-labels",
      "R2/config.json", "--out", "o", "--buffer", "11"], ["--buffer 11: --train-labels/--test-labels keep their own gap"]),
    (["train", "--task", "denoise", "--data", "indian_pines", "--out", "o", "--buffer", "11"],
     ["--buffer: --task denoise does not use it"]),
])
def test_an_option_that_would_be_ignored_is_refused(capsys: pytest.CaptureFixture[str], runs: Path,
                                                    args: list[str], words: list[str]) -> None:
    """The one rule for options of another method or mode: typed but unused is an error naming it (defaults pass)."""
    refused(capsys, runs, args, *words)


def test_too_many_local_workers_and_an_empty_model_are_refused(capsys: pytest.CaptureFixture[str], runs: Path) -> None:
    from hsi_app.batch.run import default_workers

    most = 4 * default_workers()
    refused(capsys, runs, ["batch", "--model", "R", "--inputs", "x.tif", "--out-dir", "o", "--no-dashboard",
                           "--workers", str(most + 1)], f"--workers {most + 1}", f"pass at most {most}")
    refused(capsys, runs, ["predict", "--model", "", "--input", "indian_pines", "--out", "m.tif"],
            "--model is empty")
