"""A band mismatch whose counts and ranges print the same says which band differs, and by how much."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.errors import BandMismatchError
from hsi_app.io.cube import make_cube
from hsi_app.predictor import Predictor


def test_rounded_centres_name_the_band_that_differs(tmp_path: Path) -> None:
    run_wl = np.linspace(400.0, 2500.0, 200)  # 10.55 nm apart: rounding to 10 nm moves some centres by up to 5 nm
    scene_wl = np.round(run_wl, -1)
    gaps = np.abs(scene_wl - run_wl)
    j = int(gaps.argmax())  # independent expectation: the band rounding moved most
    pred = Predictor.load(make_run(tmp_path / "run", in_chans=200, wavelengths=run_wl), device="cpu")
    cube = make_cube(np.zeros((200, 4, 4), dtype=np.float32), wavelength=scene_wl)
    with pytest.raises(BandMismatchError) as err:
        pred.bind(cube)
    msg = str(err.value)
    assert "200 bands (400-2500 nm) do not match the model's 200 bands (400-2500 nm)" in msg
    m = re.search(r"band (\d+) \(([\d.]+) nm\) vs the model's ([\d.]+) nm, the largest difference \(([\d.]+) nm", msg)
    assert m, msg
    assert int(m.group(1)) == j + 1 and float(m.group(2)) == pytest.approx(scene_wl[j], abs=0.05)
    assert float(m.group(3)) == pytest.approx(run_wl[j], abs=0.05)
    assert float(m.group(4)) == pytest.approx(gaps.max(), abs=0.05)
    assert "pass --resample" in msg and "\n" not in msg
    pred.bind(cube, resample=True)  # the fix it names works


def test_other_band_counts_keep_the_short_message(tmp_path: Path) -> None:
    pred = Predictor.load(make_run(tmp_path / "run", in_chans=5), device="cpu")
    cube = make_cube(np.zeros((7, 4, 4), dtype=np.float32), wavelength=np.linspace(400.0, 900.0, 7))
    with pytest.raises(BandMismatchError, match=r"7 bands \(400-900 nm\) do not match the model's 5 bands "
                                                r"\(400-800 nm\); pass --resample"):
        pred.bind(cube)
