"""The deep-ensemble benchmark (benchmarks/bench_ensemble.py): its member seeds and tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from fixture_loader import benchmark_module

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_ensemble.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return benchmark_module("bench_ensemble")


def _row(seed: int, members: list[float], ens: float) -> dict:
    return {"seed": seed, "members": [{"oa": v, "aa": v - 0.01, "kappa": v - 0.02} for v in members],
            "ensembles": {2: {"oa": ens, "aa": ens - 0.01, "kappa": ens - 0.02}}}


def test_member_zero_keeps_the_split_seed(bench: ModuleType, tmp_path: Path) -> None:
    assert [bench.init_seed(3, m) for m in range(3)] == [3, 1003, 2003]
    assert bench.member_dir(tmp_path, "random:0.1", "ssfcn", 3, 1) == tmp_path / "random_0.1_ssfcn_3" / "member_1"


def test_paired_gain_and_tables(bench: ModuleType) -> None:
    rows = [_row(0, [0.980, 0.985], 0.990), _row(1, [0.990, 0.980], 0.992), _row(2, [0.985, 0.990], 0.987)]
    # gains 1.0, 0.2, 0.2 points: mean 0.4667, sample sd 0.4619, se 0.2667
    assert bench.paired_gain(rows, 2) == "+0.47 (se 0.27)"
    # against the members' mean: 0.75, 0.70, -0.05 points: mean 0.4667, sample sd 0.4481, se 0.2587
    assert bench.paired_gain(rows, 2, against="mean") == "+0.47 (se 0.26)"
    text = bench.table(rows, 2)
    assert "| 1 | 99.00 | 98.00 | 99.20 |" in text
    assert "| mean ± std | 98.50 ± 0.41 | 98.50 ± 0.41 | 98.97 ± 0.21 |" in text
    summary = bench.summary(rows, 2)
    assert "| member 0 (single run) | 98.50 ± 0.41 | 97.50 ± 0.41 | 96.50 ± 0.41 | - | - |" in summary
    assert "| ensemble of 2 | 98.97 ± 0.21 |" in summary and summary.rstrip().endswith("| - | - |")
    for i, r in enumerate(rows):
        r["ensembles"][2]["pixels_per_second"] = 1000.0 * (i + 1)
    assert bench.summary(rows, 2).rstrip().endswith("| - | 2,000 |")


@pytest.mark.slow
def test_two_tiny_members_on_indian_pines(tmp_path: Path) -> None:
    """End to end on the real scene: members trained once, reused by a second call, ensemble scored."""
    cmd = [sys.executable, str(SCRIPT), "--model", "test_ssfcn", "--seeds", "1", "--members", "2", "--epochs", "2",
           "--out", str(tmp_path / "ens"), "--json", str(tmp_path / "rows.json")]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert first.stdout.count("member 0 (init seed 0)") == 1 and "member 1 (init seed 1000)" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "init seed" not in second.stdout  # both members reused, not retrained
    rows = json.loads((tmp_path / "rows.json").read_text())
    members = [json.loads((tmp_path / "ens" / "random_0.1_test_ssfcn_0" / f"member_{m}" / "metrics.json").read_text())
               for m in range(2)]
    assert [m["oa"] for m in rows[0]["members"]] == [m["oa"] for m in members]
    assert 0.0 < rows[0]["ensembles"]["2"]["oa"] <= 1.0
