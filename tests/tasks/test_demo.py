"""The demo job on a tiny fixture: every model of a protocol is scored on the same test pixels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hsi_app.data.splits import Split
from hsi_app.tasks.demo import format_table, run_demo


def test_models_share_one_split_per_protocol(mat_fixtures: dict, tmp_path: Path) -> None:
    rows = run_demo(tmp_path, protocols=("random:0.3", "disjoint:0.5"), models=("test_ssfcn", "svm"), epochs=2,
                    progress=False, data=str(mat_fixtures["paviaU"]))
    assert len(rows) == 4
    for protocol in ("random_0.3", "disjoint_0.5"):
        a = Split.load(tmp_path / protocol / "test_ssfcn" / "split.npz")
        b = Split.load(tmp_path / protocol / "svm" / "split.npz")
        np.testing.assert_array_equal(a.test, b.test)
        np.testing.assert_array_equal(a.train, b.train)
    disjoint = [r for r in rows if r["protocol"].startswith("disjoint")]
    assert {r["buffer_radius"] for r in disjoint} == {3}  # test_ssfcn's radius, applied to the SVM too
    assert disjoint[0]["n_test"] == disjoint[1]["n_test"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [s["model"] for s in summary] == ["test_ssfcn", "svm", "test_ssfcn", "svm"]
    table = format_table(rows)
    assert "random:0.3 (leaky)" in table and "| disjoint:0.5 |" in table
