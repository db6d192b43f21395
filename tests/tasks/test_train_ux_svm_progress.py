"""`hsi train --model svm` says what it fits and when it is done (a grid search and a fit that grow ~quadratically
with the training spectra ran without a line between the split and the map), on stderr like every progress line
(stdout is for results); --quiet keeps it silent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.io.cube import make_cube
from hsi_app.tasks.train_classifier import TrainOptions, train_classifier


def _cube():  # noqa: ANN202
    rng = np.random.default_rng(0)
    labels = np.zeros((10, 12), np.int32)
    labels[:, :6], labels[:, 6:] = 1, 2
    data = 0.2 + 0.05 * labels[None] * np.linspace(0.5, 1.5, 6)[:, None, None] + 0.01 * rng.random((6, 10, 12))
    return make_cube(data.astype(np.float32), wavelength=np.linspace(450, 900, 6), labels=labels)


@pytest.mark.parametrize("progress", [True, False])
def test_the_svm_fit_is_announced_with_its_size_and_reported_when_done(tmp_path: Path, progress: bool,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    metrics = train_classifier(_cube(), tmp_path / "svm", TrainOptions(model="svm", split="random:0.5",
                                                                        progress=progress))
    captured = capsys.readouterr()
    assert not [ln for ln in captured.out.splitlines() if ln.startswith("svm:")]  # stdout is for results only
    lines = [ln for ln in captured.err.splitlines() if ln.startswith("svm:")]
    if not progress:
        assert lines == []
        return
    assert len(lines) == 2, lines
    assert f"on {metrics['n_train']:,} training spectra of 6 bands" in lines[0]
    assert lines[1].endswith(" s") and "C " in lines[1] and "gamma " in lines[1]
