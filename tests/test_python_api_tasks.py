"""Task functions a notebook calls with a cube: a numpy array instead is one line naming make_cube; a
Predictor prints what it is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.errors import ConfigError
from hsi_app.io import make_cube
from hsi_app.predictor import Predictor

C, H, W = 5, 12, 14
WL = np.linspace(400.0, 800.0, C)


def _array() -> np.ndarray:
    return np.random.default_rng(0).random((C, H, W), dtype=np.float32)


def test_train_classifier_with_an_array_names_make_cube(tmp_path: Path) -> None:
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    opts = TrainOptions(model="test_ssfcn", split="random:0.5", epochs=1, progress=False)
    with pytest.raises(ConfigError, match=r"^train_classifier: takes a Cube .* got a numpy\.ndarray; wrap the "
                                          r"\(5, 12, 14\) array: hsi_app\.io\.make_cube"):
        train_classifier(_array(), tmp_path / "run", opts)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_predict_cube_subset_and_denoise_cube_with_an_array(tmp_path: Path) -> None:
    from hsi_app.tasks.band_subset import predict_cube_subset
    from hsi_app.tasks.denoise_scene import denoise_cube

    run = make_run(tmp_path / "run", in_chans=C)
    with pytest.raises(ConfigError, match=r"^predict_cube_subset: takes a Cube .* numpy\.ndarray"):
        predict_cube_subset(run, _array())
    cube = make_cube(_array(), wavelength=WL)
    with pytest.raises(ConfigError, match=r"^denoise_cube: takes a Cube .* numpy\.ndarray"):
        denoise_cube(None, _array(), tmp_path / "d.tif")  # type: ignore[arg-type]  # refused before the denoiser is used
    with pytest.raises(ConfigError, match=r"^denoise_cube\(reference=\.\.\.\): takes a Cube .* numpy\.ndarray"):
        denoise_cube(None, cube, tmp_path / "d.tif", reference=_array())  # type: ignore[arg-type]
    assert not (tmp_path / "d.tif").exists()


def test_predictor_repr_says_what_the_run_is(tmp_path: Path) -> None:
    run = make_run(tmp_path / "m0", in_chans=C, num_classes=3)
    pred = Predictor.load(run, device="cpu")
    text = repr(pred)
    assert text == (f"Predictor({str(run)!r}: test_ssfcn, 5 bands (400-800 nm), 3 classes [c1, c2, c3], "
                    f"receptive radius {pred.receptive_radius} px, device 'cpu')")
    many = Predictor.load(make_run(tmp_path / "m1", in_chans=C, num_classes=6), device="cpu")
    assert "6 classes [c1, c2, c3, c4, ... (+2)]" in repr(many)


def test_ensemble_repr_names_its_runs(tmp_path: Path) -> None:
    import shutil

    from hsi_app.ensemble import load_classifier

    run = make_run(tmp_path / "m0", in_chans=C, num_classes=3)
    twin = shutil.copytree(run, tmp_path / "m1")
    ens = load_classifier([run, twin], device="cpu")
    assert repr(ens) == (f"EnsemblePredictor(ensemble of 2 (test_ssfcn): {str(run)!r}, {str(twin)!r}; 3 classes "
                         f"[c1, c2, c3], receptive radius {ens.receptive_radius} px)")


def test_a_window_takes_integers_only() -> None:
    cube = make_cube(_array(), wavelength=WL)
    with pytest.raises(ConfigError, match=r"^window\(0, 0, 6\.0, 7\.0\): row, col, height and width are integers.*"
                                          r"h // 2, not h / 2"):
        cube.hsi.window(0, 0, H / 2, W / 2)  # even sizes: h / 2 is 6.0, refused as 6.5 would be
    got = cube.hsi.window(np.int64(1), 2, H // 2, W // 2)  # numpy integers (np.argwhere, .shape) are fine
    np.testing.assert_array_equal(got.values, _array()[:, 1:7, 2:9])
