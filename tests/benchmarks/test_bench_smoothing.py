"""The guided-filter benchmark (benchmarks/bench_smoothing.py): its summary rows, and scoring a real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

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
    assert "guided:2,0.0001,1 -> guided:2,0.001,3" in out and "versus" in rows[0]
