"""`hsi train` / `hsi finetune` with user --train-labels/--test-labels that cannot be a split: one error line that
names the label files (it named only "train and test maps", leaving the user to guess which of their files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_runner import assert_one_error_line, run_main
from tif_writer import write_tif

WL = np.linspace(420.0, 2400.0, 10)


def test_overlapping_train_and_test_maps_are_refused_naming_both_files(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    labels = np.zeros((16, 18), np.uint8)
    labels[:, :9], labels[:, 9:] = 1, 2
    data = (0.2 + 0.1 * labels[None] * (WL[:, None, None] / 2400) + 0.01 * rng.random((WL.size, 16, 18))) * 10000
    scene = write_tif(tmp_path / "scene.tif", data.astype(np.float32), WL)
    train = labels.copy()
    train[::2] = 0
    test = labels.copy()
    test[::3] = 0  # rows 0, 6, 12 are in both
    train_tif = write_tif(tmp_path / "train.tif", train[None])
    test_tif = write_tif(tmp_path / "test.tif", test[None])
    n_both = int(((train > 0) & (test > 0)).sum())
    code, _, err = run_main(capsys, "train", "--data", str(scene), "--train-labels", str(train_tif), "--test-labels",
                            str(test_tif), "--model", "test_ssfcn", "--epochs", "1", "--quiet",
                            "--out", str(tmp_path / "run"))
    assert_one_error_line(code, err, f"{train_tif}, {test_tif}:", f"overlap at {n_both} pixels")
    assert not (tmp_path / "run").exists()
