"""What the Python API of trained runs accepts: (C, h, w) windows only, one run as a plain path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.ensemble import EnsemblePredictor, load_classifier
from hsi_app.errors import BandMismatchError
from hsi_app.io.cube import make_cube
from hsi_app.predictor import Predictor

C, H, W = 5, 12, 9  # more rows than bands: an (H, W, C) array's rows could be taken for bands


def _cube(c: int = C):  # noqa: ANN202
    data = np.random.default_rng(0).random((c, H, W), dtype=np.float32)
    return make_cube(data, wavelength=np.linspace(400.0, 800.0, c) if c == C else np.linspace(400.0, 900.0, c))


def test_an_hwc_window_is_refused_with_the_transpose(tmp_path: Path) -> None:
    pred = Predictor.load(make_run(tmp_path / "m0", in_chans=C), device="cpu")
    cube = _cube()
    chw = np.asarray(cube.values)
    hwc = chw.transpose(1, 2, 0)
    fn = pred.bind(cube)
    expected = fn(chw)
    assert expected.shape == (3, H, W)
    with pytest.raises(BandMismatchError, match=r"m0: bind\(cube\)\(image\): image has shape \(12, 9, 5\); it takes "
                                                r"\(C, h, w\) with C = 5, the bound cube's bands: pass "
                                                r"image\.transpose\(2, 0, 1\) \(it looks \(H, W, C\)\)$"):
        fn(hwc)
    np.testing.assert_array_equal(fn(hwc.transpose(2, 0, 1)), expected)  # the fix named works
    with pytest.raises(BandMismatchError, match=r"probs\(image\): image has shape \(12, 9, 5\).*the model's bands.*"
                                                r"transpose\(2, 0, 1\)"):
        pred.probs(hwc)
    np.testing.assert_array_equal(pred.probs(chw), expected)
    with pytest.raises(BandMismatchError, match=r"shape \(4, 12, 9\); .* C = 5.*pass a \(5, h, w\) array$"):
        fn(chw[:4])
    with pytest.raises(BandMismatchError, match=r"shape \(12, 9\)"):
        fn(chw[0])


def test_a_window_of_the_models_bands_is_not_one_of_the_cubes(tmp_path: Path) -> None:
    """A 7-band cube bound to a 5-band model takes 7-band windows (it picks the 5 itself)."""
    pred = Predictor.load(make_run(tmp_path / "m0", in_chans=C), device="cpu")
    wide = make_cube(np.random.default_rng(1).random((7, H, W), dtype=np.float32),
                     wavelength=[400.0, 450.0, 500.0, 600.0, 700.0, 750.0, 800.0])
    fn = pred.bind(wide)
    image = np.asarray(wide.values)
    np.testing.assert_array_equal(fn(image), pred.probs(image[[0, 2, 3, 4, 6]]))
    with pytest.raises(BandMismatchError, match=r"C = 7, the bound cube's bands"):
        fn(image[[0, 2, 3, 4, 6]])


def test_an_ensemble_refuses_an_hwc_window(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / f"m{i}", in_chans=C, seed=i) for i in range(2)]
    ens = EnsemblePredictor.load(runs, device="cpu")
    cube = _cube()
    chw = np.asarray(cube.values)
    fn = ens.bind(cube)
    members = [Predictor.load(r, device="cpu").probs(chw) for r in runs]
    np.testing.assert_allclose(fn(chw), (members[0] + members[1]) / 2, rtol=1e-6)
    with pytest.raises(BandMismatchError, match=r"transpose\(2, 0, 1\)"):
        fn(chw.transpose(1, 2, 0))
    with pytest.raises(BandMismatchError, match=r"transpose\(2, 0, 1\)"):
        ens.apply_plan(ens.plan(cube), chw.transpose(1, 2, 0))


def test_an_xarray_window_is_taken_as_its_values(tmp_path: Path) -> None:
    """``pred.bind(cube)(cube[:, :6, :5])``: a DataArray window gives what its values give."""
    runs = [make_run(tmp_path / f"m{i}", in_chans=C, seed=i) for i in range(2)]
    pred = Predictor.load(runs[0], device="cpu")
    cube = _cube()
    window = cube[:, :6, :5]
    values = np.asarray(window.values)
    np.testing.assert_array_equal(pred.bind(cube)(window), pred.bind(cube)(values))
    np.testing.assert_array_equal(pred.probs(cube.isel(x=slice(2, 7))), pred.probs(np.asarray(cube.values)[:, :, 2:7]))
    ens = EnsemblePredictor.load(runs, device="cpu")
    np.testing.assert_array_equal(ens.bind(cube)(window), ens.bind(cube)(values))
    wide = make_cube(np.random.default_rng(1).random((7, H, W), dtype=np.float32),
                     wavelength=[400.0, 450.0, 500.0, 600.0, 700.0, 750.0, 800.0])
    np.testing.assert_array_equal(pred.bind(wide)(wide[:, :4, :4]), pred.bind(wide)(np.asarray(wide.values)[:, :4, :4]))
    with pytest.raises(BandMismatchError, match=r"transpose\(2, 0, 1\)"):
        pred.bind(cube)(window.transpose("y", "x", "band"))


def test_an_xarray_window_reads_its_no_data_as_nan(tmp_path: Path) -> None:
    """A window of a cube with ``nodata=-9999`` goes to the model as ``read_window`` reads it (NaN at no
    data), not as raw -9999 (which changed the valid pixels near them, by up to 0.06)."""
    runs = [make_run(tmp_path / f"m{i}", in_chans=C, seed=i) for i in range(2)]
    pred = Predictor.load(runs[0], device="cpu")
    data = np.random.default_rng(0).standard_normal((C, H, W)).astype(np.float32)
    data[:, :3, :3] = -9999.0
    cube = make_cube(data, wavelength=[400.0, 500.0, 600.0, 700.0, 800.0], nodata=-9999)
    window = cube[:, :6, :5]
    masked, valid = window.hsi.read_masked()
    assert not valid.all() and np.isnan(masked[:, 0, 0]).all()
    np.testing.assert_array_equal(pred.bind(cube)(window), pred.bind(cube)(masked))
    np.testing.assert_array_equal(pred.probs(window), pred.probs(masked))
    ens = EnsemblePredictor.load(runs, device="cpu")
    np.testing.assert_array_equal(ens.bind(cube)(window), ens.bind(cube)(masked))
    assert not np.array_equal(pred.probs(window), pred.probs(np.asarray(window.values)))  # the raw fills differ


def test_load_classifier_takes_one_run_as_a_path(tmp_path: Path) -> None:
    run = make_run(tmp_path / "m0", in_chans=C)
    image = np.asarray(_cube().values)
    expected = load_classifier([run], device="cpu").probs(image)
    for given in (str(run), run, str(run / "config.json")):
        pred = load_classifier(given, device="cpu")
        assert isinstance(pred, Predictor) and Path(pred.run_dir) == run
        np.testing.assert_array_equal(pred.probs(image), expected)


def test_python_messages_give_the_python_keyword_beside_the_flag(tmp_path: Path) -> None:
    from hsi_app.errors import ConfigError

    run = make_run(tmp_path / "m0", in_chans=C)
    pred = Predictor.load(run, device="cpu")
    with pytest.raises(BandMismatchError, match=r"pass --resample \(resample=True in Python\) to resample spectrally"):
        pred.bind(_cube(7))
    with pytest.raises(ConfigError, match=r"given twice as --model \(twice in the list of runs in Python\)"):
        load_classifier([run, run], device="cpu")
    with pytest.raises(ConfigError, match=r"--model RUN_DIR one or more times \(a list of run folders in Python\)"):
        EnsemblePredictor([], [])
    from hsi_app.viewer.messages import RESAMPLE_LABEL, in_viewer_terms

    with pytest.raises(BandMismatchError) as err:  # the viewer still turns the hint into its checkbox
        pred.bind(_cube(7))
    assert f'tick "{RESAMPLE_LABEL}"' in in_viewer_terms(str(err.value)) and "--resample" not in in_viewer_terms(str(err.value))
