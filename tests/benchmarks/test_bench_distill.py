"""The distillation benchmark (benchmarks/bench_distill.py): its run layout and tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from fixture_loader import benchmark_module

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_distill.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return benchmark_module("bench_distill")


def _scores(oa: float, rate: float) -> dict:
    return {"oa": oa, "aa": oa - 0.01, "kappa": oa - 0.02, "pixels_per_second": rate}


def test_student_lives_beside_the_members(bench: ModuleType, tmp_path: Path) -> None:
    assert bench.student_dir(tmp_path, "random:0.1", "ssfcn", 3) == tmp_path / "random_0.1_ssfcn_3" / "student"


def test_gains_and_tables(bench: ModuleType) -> None:
    rows = [{"seed": s, "member0": _scores(m0, 100.0), "ensemble": _scores(e, 50.0), "student": _scores(st, 110.0)}
            for s, (m0, e, st) in enumerate([(0.980, 0.990, 0.985), (0.990, 0.992, 0.994), (0.985, 0.987, 0.984)])]
    # (mean ± population std, as every table here) student - member 0: +0.5, +0.4, -0.1 points: mean 0.2667, sample sd 0.3215, se 0.1856
    assert bench.gain(rows, "oa", "member0") == "+0.27 (se 0.19)"
    # student - ensemble: -0.5, +0.2, -0.3 points: mean -0.2, sample sd 0.3606, se 0.2082
    assert bench.gain(rows, "oa", "ensemble") == "-0.20 (se 0.21)"
    text = bench.table(rows)
    assert "| 1 | 99.00 | 99.20 | 99.40 | +0.40 | +0.20 |" in text
    assert "| mean ± std | 98.50 ± 0.41 | 98.97 ± 0.21 | 98.77 ± 0.45 | +0.27 (se 0.19) | -0.20 (se 0.21) |" in text
    summary = bench.summary(rows)
    assert "| student (one run, distilled) | 98.77 ± 0.45 | 97.77 ± 0.45 | 96.77 ± 0.45 | - | 110 |" in summary
    assert "| ensemble of the members | 98.97 ± 0.21 |" in summary and "| - | 50 |" in summary


def test_agreement_with_the_ensemble_on_test_pixels(bench: ModuleType) -> None:
    test = np.array([[True, True, False], [True, True, False]])
    ens = np.array([[1, 2, 3], [4, 1, 2]])
    row = {"member0": {"classes": np.array([[1, 1, 3], [4, 2, 9]])}, "ensemble": {"classes": ens},
           "student": {"classes": np.array([[1, 2, 1], [4, 1, 1]])}}
    bench.add_agreement(row, test)
    assert row["member0"] == {"agrees": 0.5} and row["student"] == {"agrees": 1.0}  # non-test pixels do not count
    assert "classes" not in row["ensemble"]


@pytest.mark.slow
def test_tiny_student_on_indian_pines(tmp_path: Path) -> None:
    """End to end on the real scene: teachers and student trained once, reused by a second call, scored."""
    cmd = [sys.executable, str(SCRIPT), "--model", "test_ssfcn", "--seeds", "1", "--epochs", "2", "--val-fraction", "0",
           "--teachers", str(tmp_path / "ens"), "--out", str(tmp_path / "dist"), "--json", str(tmp_path / "rows.json")]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert first.stdout.count("seed 0 student: OA") == 1 and "member 1 (init seed 1000)" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "student: OA" not in second.stdout and "member 0 (init seed" not in second.stdout  # all reused
    rows = json.loads((tmp_path / "rows.json").read_text())
    assert [r["seed"] for r in rows] == [0]
    config = json.loads((tmp_path / "dist" / "random_0.1_test_ssfcn_0" / "student" / "config.json").read_text())
    assert config["extra"]["init_seed"] == 0 and len(config["extra"]["teacher"]["runs"]) == 2
    assert 0 < rows[0]["student"]["oa"] <= 1 and rows[0]["student"]["pixels_per_second"] > 0
