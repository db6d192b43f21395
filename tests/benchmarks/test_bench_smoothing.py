"""The guided-filter benchmark (benchmarks/bench_smoothing.py): its summary rows, and scoring a real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from fixture_loader import benchmark_module

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_smoothing.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return benchmark_module("bench_smoothing")


def _row(plain: float, smoothed: float) -> dict:
    return {"plain": {"oa": plain, "aa": plain - 0.01, "kappa": plain - 0.02},
            "smoothed": {"oa": smoothed, "aa": smoothed - 0.01, "kappa": smoothed - 0.02}}


def test_summary_line_gives_means_and_the_paired_change(bench: ModuleType) -> None:
    rows = [_row(0.980, 0.990), _row(0.990, 0.992), _row(0.985, 0.983)]
    # smoothed 99.0, 99.2, 98.3: mean 98.83, population sd 0.386; changes +1.0, +0.2, -0.2 points:
    # mean 0.3333, sample sd 0.6110, se 0.3528
    line = bench.summary_line("all", rows)
    assert line.startswith("| all (3 runs) | 98.50 ± 0.41 | 98.83 ± 0.39 | 97.50 ± 0.41 | 97.83 ± 0.39 |")
    assert line.endswith("| +0.33 (se 0.35), up on 2 of 3 |")
    assert bench.summary_line("held out", []) == ""


def test_versus_line_gives_the_paired_change_between_two_settings(bench: ModuleType) -> None:
    rows = [dict(_row(0.980, 0.990), versus={"oa": 0.989, "aa": 0.970}),
            dict(_row(0.990, 0.992), versus={"oa": 0.989, "aa": 0.975})]
    # OA changes +0.1, +0.3 points: mean 0.2, se 0.1; AA (smoothed OA - 1) changes 98.0 - 97.0, 98.2 - 97.5 = +1.0, +0.7:
    # mean 0.85, se 0.15
    assert bench.versus_line("all", rows) == "| all (2 runs) | +0.20 (se 0.10), up on 2 of 2 | +0.85 (se 0.15), up on 2 of 2 |"
    assert bench.versus_line("held out", []) == ""


@pytest.mark.slow
def test_a_real_run_scores_as_hsi_train_did(tmp_path: Path) -> None:
    """End to end on Indian Pines: the plain score is the run's own metrics.json; smoothing is scored beside it."""
    run = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "hsi_app.cli.main", "train", "--data", "indian_pines", "--model", "test_ssfcn",
                    "--epochs", "2", "--out", str(run), "--quiet"], check=True, capture_output=True)
    out = subprocess.run([sys.executable, str(SCRIPT), str(run), "--tuning", str(run), "--versus", "guided:2,1e-4,1",
                          "--json", str(tmp_path / "s.json")], check=True, capture_output=True, text=True).stdout
    rows = json.loads((tmp_path / "s.json").read_text())
    own = json.loads((run / "metrics.json").read_text())
    assert rows[0]["plain"]["oa"] == pytest.approx(own["oa"], abs=1e-9) and rows[0]["tuning"] is True
    assert rows[0]["smoothed"]["oa"] != rows[0]["plain"]["oa"]
    assert "(tuning)" in out and "| all (1 runs) |" in out and "| held out" not in out
    assert "| random:0.1 (leaky) |" in out and rows[0]["leaky"] is True  # a dense model on a random split
    assert "guided:2,0.0001,1 -> guided:2,0.001,3" in out and "versus" in rows[0]


def test_one_run_gives_no_standard_error(bench: ModuleType) -> None:
    """A single paired change has no spread: '-' where 'se nan' was printed."""
    line = bench.summary_line("all", [_row(0.6405, 0.6532)])
    assert line.endswith("| +1.27 (se -), up on 1 of 1 |") and "nan" not in line


def test_a_smoothed_maps_reach_is_the_models_radius_plus_the_filters_2r(bench: ModuleType) -> None:
    """One training pixel and one test pixel 3 px away (Chebyshev): the per-pixel SVM's plain map does not leak; its
    map filtered with R = 2 reads 4 px around each pixel, so it does; R = 1 reads 2 px, so it does not. A radius-1
    model with R = 1 reaches exactly 3 px: leaky."""
    from hsi_app.data.splits import Split
    from hsi_app.tasks.prob_smoothing import SmoothSpec

    train, test = np.zeros((9, 9), np.int32), np.zeros((9, 9), np.int32)
    train[4, 1], test[2, 4] = 1, 2  # rows 2 apart, columns 3 apart
    split = Split(train, test, "random:0.1")
    assert bench.smoothed_leaks(split, 0) is False
    assert bench.smoothed_leaks(split, 0, SmoothSpec(radius=2)) is True
    assert bench.smoothed_leaks(split, 0, SmoothSpec(radius=1)) is False
    assert bench.smoothed_leaks(split, 1, SmoothSpec(radius=1)) is True
    assert bench.smoothed_leaks(split, 2) is False and bench.smoothed_leaks(split, 3) is True


def test_rows_carry_the_leak_verdict_of_their_maps(bench: ModuleType) -> None:
    row = {"protocol": "random:0.1", "leaky": False, "leaky_smoothed": False}
    assert bench.protocol_label(row) == "random:0.1"
    assert bench.protocol_label(dict(row, leaky_versus=True)) == "random:0.1 (leaky when smoothed)"
    assert bench.protocol_label(dict(row, leaky_smoothed=True)) == "random:0.1 (leaky when smoothed)"
    assert bench.protocol_label(dict(row, leaky=True, leaky_smoothed=True)) == "random:0.1 (leaky)"


def test_an_svm_run_on_a_random_split_is_labelled_leaky_when_smoothed(tmp_path: Path) -> None:
    """End to end on a tiny scene: the per-pixel SVM's plain map is not leaky on random:0.3, its guided-filtered map is
    (every test pixel has a training pixel within 4 px on this fully labelled scene)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    labels = np.repeat(np.repeat(np.arange(1, 5).reshape(2, 2), 12, axis=0), 12, axis=1).astype(np.uint8)  # 24 x 24
    spectra = rng.uniform(0.1, 0.5, size=(5, 8))
    cube = (spectra[labels].transpose(2, 0, 1) + 0.02 * rng.standard_normal((8, 24, 24))).astype(np.float32)
    profile = {"driver": "GTiff", "height": 24, "width": 24, "crs": "EPSG:32616",
               "transform": from_origin(440000.0, 3750000.0, 30.0, 30.0)}
    with rasterio.open(tmp_path / "scene.tif", "w", count=8, dtype="float32", **profile) as ds:
        ds.write(cube)
        ds.update_tags(wavelength=",".join(str(w) for w in np.linspace(450, 900, 8)), wavelength_units="nm")
    with rasterio.open(tmp_path / "labels.tif", "w", count=1, dtype="uint8", **profile) as ds:
        ds.write(labels[None])
    run = tmp_path / "svm"
    subprocess.run([sys.executable, "-m", "hsi_app.cli.main", "train", "--data", str(tmp_path / "scene.tif"),
                    "--labels", str(tmp_path / "labels.tif"), "--model", "svm", "--split", "random:0.3",
                    "--out", str(run), "--quiet"], check=True, capture_output=True)
    out = subprocess.run([sys.executable, str(SCRIPT), str(run), "--json", str(tmp_path / "s.json")], check=True,
                         capture_output=True, text=True).stdout
    row = json.loads((tmp_path / "s.json").read_text())[0]
    assert row["leaky"] is False and row["leaky_smoothed"] is True
    assert f"| {run} | random:0.3 (leaky when smoothed) | 0 |" in out and "se -" in out and "nan" not in out
