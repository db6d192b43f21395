"""Messages about a cube made in memory (``source`` is ``""``) name it "input", not an empty string (": every pixel
is no-data", ": 7 bands do not match ..."): hsi_app.io.cube.scene_name at the predict path's messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.errors import BandMismatchError, InvalidDataError
from hsi_app.infer import predict_scene
from hsi_app.io.cube import make_cube
from hsi_app.predictor import Predictor

WL = np.linspace(400.0, 800.0, 5)


def _cube(values: np.ndarray, wl: np.ndarray = WL):  # noqa: ANN202
    cube = make_cube(values.astype(np.float32), wavelength=wl)
    assert cube.attrs.get("source", None) == ""  # made in memory: no path to name
    return cube


def test_every_pixel_no_data(tmp_path: Path) -> None:
    cube = _cube(np.full((5, 6, 6), np.nan))
    with pytest.raises(InvalidDataError, match=r"^input: every pixel is no-data"):
        predict_scene(lambda x: np.full((3, *x.shape[1:]), 1 / 3, np.float32), cube, num_classes=3, halo=0,
                      keep_map=True, progress=False)


def test_band_mismatch_units_and_subset_messages(tmp_path: Path) -> None:
    pred = Predictor.load(make_run(tmp_path / "run", in_chans=5, wavelengths=WL), device="cpu")
    rng = np.random.default_rng(0)
    with pytest.raises(BandMismatchError, match=r"^input: 7 bands \(400-900 nm\) do not match"):
        pred.bind(_cube(rng.random((7, 6, 6)), np.linspace(400.0, 900.0, 7)))
    with pytest.raises(InvalidDataError, match=r"^input: values .* so the scene is in other units"):
        pred.bind(_cube(rng.random((5, 6, 6)) * 1e6))  # the run's statistics: mean 0, std 1
    with pytest.raises(BandMismatchError, match=r"^input: model 'test_ssfcn' needs all 5 training bands"):
        pred.subset_plan(_cube(rng.random((5, 6, 6))))


def test_empty_band_message(tmp_path: Path) -> None:
    from hsi_app.io.empty_bands import flag_empty_bands

    pred = Predictor.load(make_run(tmp_path / "run", in_chans=5, wavelengths=WL), device="cpu")
    values = np.random.default_rng(0).random((5, 6, 6))
    values[1] = np.nan
    with pytest.warns(Warning):
        cube = flag_empty_bands(_cube(values))
    assert cube is not None
    with pytest.raises(BandMismatchError, match=r"^input: band 2 \(500 nm\) holds no data at any pixel"):
        pred.plan(cube, check_units=False)
