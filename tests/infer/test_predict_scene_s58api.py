"""predict_scene / predict_cube_subset / predict_band_subset called from a notebook with arguments they cannot use:
one HSIError line naming the argument and the fix, not numpy's or torch's traceback, and never a silently wrong
map (s58 Python API audit)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.errors import BandMismatchError, ConfigError, InvalidDataError
from hsi_app.infer import predict_scene
from hsi_app.io import make_cube, open_cube
from hsi_app.predictor import Predictor
from hsi_app.tasks.band_subset import predict_band_subset, predict_cube_subset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tif_writer import write_tif  # noqa: E402
from tiny_runs import make_run  # noqa: E402

C, H, W = 5, 12, 14
WL = np.linspace(400.0, 800.0, C)


def _data() -> np.ndarray:
    return np.random.default_rng(0).random((C, H, W), dtype=np.float32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("runs")
    return (make_run(root / "ssfcn", in_chans=C, like=_data()),
            make_run(root / "cvit", model="test_channel_vit", in_chans=C, wavelengths=WL, like=_data()))


def _argmax_fn(k: int):  # type: ignore[no-untyped-def]
    """A per-pixel prob_fn for K classes: class (sum of the spectrum's bands * 7) mod K."""
    def fn(x: np.ndarray) -> np.ndarray:
        cls = (np.nan_to_num(x).sum(0) * 7).astype(int) % k
        return (np.arange(k)[:, None, None] == cls[None]).astype(np.float32)
    return fn


@pytest.mark.parametrize("kwargs, match", [
    ({"window": 2.5}, r"window=2\.5; it is the core window side in pixels, a whole number, 1 or more"),
    ({"window": "8"}, r"window='8'; it is the core window side"),
    ({"halo": "3"}, r"halo='3'; it is a number of pixels .*a whole number, 0 or more"),
    ({"halo": 1.5}, r"halo=1\.5; it is a number of pixels"),
    ({"num_classes": 0}, r"num_classes=0; it is the classes prob_fn returns \(K\), a whole number, 1 or more"),
    ({"class_names": "abcd"}, r"class_names='abcd' is one string; pass a list of 4 names"),
])
def test_predict_scene_arguments_in_one_line(runs, kwargs: dict, match: str) -> None:  # type: ignore[no-untyped-def]
    pred = Predictor.load(runs[0], device="cpu")
    cube = make_cube(_data(), wavelength=WL)
    with pytest.raises(ConfigError, match=rf"^predict_scene: {match}") as err:
        predict_scene(pred.bind(cube), cube, keep_map=True, progress=False, **kwargs)
    assert "\n" not in str(err.value)


def test_more_classes_than_a_uint8_map_holds_is_refused(tmp_path: Path) -> None:
    cube = make_cube(_data(), wavelength=WL)
    # 300 classes: class 256 used to wrap to 0 (no data) in the uint8 map, and 257 to class 1
    with pytest.raises(ConfigError, match=r"^predict_scene: num_classes=300; a class map holds at most 255 classes"):
        predict_scene(_argmax_fn(300), cube, num_classes=300, halo=0, keep_map=True, progress=False)
    got = predict_scene(_argmax_fn(255), cube, num_classes=255, halo=0, keep_map=True, progress=False).classes
    want = (np.nan_to_num(_data()).sum(0) * 7).astype(int) % 255 + 1
    np.testing.assert_array_equal(got, want)


def test_a_predictor_itself_is_not_a_prob_fn(runs) -> None:  # type: ignore[no-untyped-def]
    pred = Predictor.load(runs[0], device="cpu")
    cube = make_cube(_data(), wavelength=WL)
    with pytest.raises(ConfigError, match=r"^predict_scene: prob_fn must be a function of a window; a Predictor is "
                                          r"not one: pass its pred\.bind\(cube\)$"):
        predict_scene(pred, cube, keep_map=True, progress=False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^predict_scene: prob_fn must be a function of a window; pass a run's"):
        predict_scene(None, cube, num_classes=3, halo=0, keep_map=True, progress=False)  # type: ignore[arg-type]


def test_a_geotiff_map_keeps_the_scene_grid_and_the_cube(runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tif = write_tif(tmp_path / "s.tif", _data(), WL)
    cube = open_cube(tif)
    before = cube.copy(deep=True)
    pred = Predictor.load(runs[0], device="cpu")
    res = predict_scene(pred.bind(cube), cube, out=tmp_path / "m.tif", keep_map=True, window=5, progress=False)
    assert cube.identical(before)
    with rasterio.open(tmp_path / "m.tif") as out, rasterio.open(tif) as src:
        assert (out.crs, out.transform) == (src.crs, src.transform)
        np.testing.assert_array_equal(out.read(1), res.classes)


@pytest.mark.parametrize("window", [0, -1, 2.5])
def test_band_subset_window_in_one_line(runs, window) -> None:  # type: ignore[no-untyped-def]
    cube = make_cube(_data(), wavelength=WL)
    with pytest.raises(ConfigError, match=rf"^predict_cube_subset: window={window!r}; it is the core window side"):
        predict_cube_subset(runs[1], cube, window=window)
    with pytest.raises(ConfigError, match=rf"^predict_band_subset: window={window!r}; it is the core window side"):
        predict_band_subset(runs[1], _data(), WL, window=window)


def test_band_subset_fwhm_one_per_band(runs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BandMismatchError, match=r"^predict_band_subset: 2 fwhm values for 5 bands; pass one per band"):
        predict_band_subset(runs[1], _data(), WL, fwhm=np.ones(2))


def test_band_subset_of_a_cube_points_to_predict_cube_subset(runs) -> None:  # type: ignore[no-untyped-def]
    data = _data()
    data[:, 2, 3] = -9999.0
    cube = make_cube(data, wavelength=WL, nodata=-9999.0)  # -9999 was read as a value, not as no data
    with pytest.raises(ConfigError, match=r"^predict_band_subset: image is a DataArray \(a Cube\); pass it to "
                                          r"predict_cube_subset\(run_dir, cube\)"):
        predict_band_subset(runs[1], cube, WL)
    got = predict_cube_subset(runs[1], cube)
    assert got[2, 3] == 0 and (np.delete(got.ravel(), 2 * W + 3) > 0).all()


def test_band_subset_of_a_cube_without_data_is_one_line(runs) -> None:  # type: ignore[no-untyped-def]
    empty = make_cube(np.full((C, H, W), np.nan, np.float32), wavelength=WL)
    with pytest.raises(InvalidDataError, match=r": every pixel is no-data; nothing to predict$"):
        predict_cube_subset(runs[1], empty)  # was an all-0 map
    data = _data()
    data[1] = np.nan  # one band without data: no pixel valid in every band
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(InvalidDataError, match=r"holds no data at any pixel, so no pixel is valid; flag them bad "
                                                   r"first"):
            predict_cube_subset(runs[1], make_cube(data, wavelength=WL))
        kept = predict_cube_subset(runs[1], make_cube(data, wavelength=WL, bad_bands=[1]))  # the fix works
    assert (kept > 0).all()


def test_band_subset_wavelengths_in_micrometres_say_so(runs) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(BandMismatchError, match=r"^input: wavelengths 0\.4-0\.8 look like micrometres; the model's are "
                                                r"in nm \(400-800\): pass wavelengths \* 1000$"):
        predict_band_subset(runs[1], _data(), WL / 1000)
    assert predict_band_subset(runs[1], _data(), WL / 1000 * 1000).shape == (3, H, W)
