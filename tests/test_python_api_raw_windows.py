"""A run bound to a cube, given windows the way a notebook makes them (raw ``.values``, a numpy array, no pixel)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from tiny_runs import make_run

from hsi_app.ensemble import load_classifier
from hsi_app.errors import BandMismatchError, ConfigError
from hsi_app.infer import predict_scene
from hsi_app.io import open_cube
from hsi_app.predictor import Predictor

C, H, W = 5, 24, 30


@pytest.fixture()
def scene_and_run(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """An int16 GeoTIFF whose no-data value -9999 fills a few pixels (one band only in one of them), and a run."""
    data = (np.random.default_rng(0).random((C, H, W)) * 1000 + 100).astype(np.int16)
    data[:, 10, 10] = -9999
    data[:, 3:5, 20:23] = -9999
    data[2, 15, 5] = -9999  # one good band of a pixel: the whole pixel is no data
    path = tmp_path / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=C, dtype="int16", crs="EPSG:32633",
                       transform=from_origin(500000, 4600000, 30, 30), nodata=-9999) as ds:
        ds.write(data)
        for i in range(C):
            ds.set_band_description(i + 1, f"{400 + 100 * i} nm")
    good = data[:, data.min(0) > 0].astype(np.float32)[:, :, None]
    return path, make_run(tmp_path / "run", in_chans=C, num_classes=3, like=good), data


def test_raw_values_of_a_window_give_what_the_scene_map_reads(scene_and_run: tuple[Path, Path, np.ndarray],
                                                             tmp_path: Path) -> None:
    """README's `pred.bind(cube)(cube.isel(...).values)`: the -9999 fill is no data (NaN in every band), as in
    `predict_scene` and an xarray window, so the pixels next to it get the same probabilities (not -9999's)."""
    scene, run, data = scene_and_run
    cube = open_cube(scene)
    pred = Predictor.load(run, device="cpu")
    window = cube.isel(y=slice(0, 20), x=slice(0, 26))
    raw = window.values
    before = raw.copy()
    masked = np.where((data[:, :20, :26] == -9999).any(0), np.nan, data[:, :20, :26]).astype(np.float32)
    expected = pred.bind(cube)(masked)  # NaN pixels: what read_window gives the model
    for fn in (pred.bind(cube), load_classifier([run, shutil.copytree(run, tmp_path / "twin")], device="cpu").bind(cube)):
        np.testing.assert_allclose(fn(raw), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(fn(window), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(raw, before)  # the caller's array is not written
    res = predict_scene(pred.bind(cube), cube, keep_map=True, progress=False, window=8)
    r = pred.receptive_radius  # pixels that far from the window's lower and right edges see the same context
    classes = np.argmax(expected, axis=0)[: 20 - r, : 26 - r] + 1
    ok = ~(data[:, : 20 - r, : 26 - r] == -9999).any(0)
    np.testing.assert_array_equal(res.classes[: 20 - r, : 26 - r][ok], classes[ok])  # the map is what they say


def test_bind_refuses_a_numpy_array_and_a_window_of_no_pixel(scene_and_run: tuple[Path, Path, np.ndarray]) -> None:
    scene, run, data = scene_and_run
    pred = Predictor.load(run, device="cpu")
    with pytest.raises(ConfigError, match=r"bind\(cube\): takes a Cube .* hsi_app.io.make_cube"):
        pred.bind(data)
    fn = pred.bind(open_cube(scene))
    with pytest.raises(BandMismatchError, match=r"\(5, 0, 0\), no pixel"):
        fn(data[:, :0, :0])
    with pytest.raises(BandMismatchError, match=r"\(5, 3, 0\), no pixel"):
        pred.probs(data[:, :3, :0].astype(np.float32))


def test_an_ensemble_refuses_a_numpy_array_in_one_line(scene_and_run: tuple[Path, Path, np.ndarray],
                                                        tmp_path: Path) -> None:
    """`load_classifier([run, run2]).bind(array)` failed with "'numpy.ndarray' object has no attribute 'hsi'"."""
    _, run, data = scene_and_run
    other = shutil.copytree(run, tmp_path / "run2")
    ens = load_classifier([run, other], device="cpu")
    with pytest.raises(ConfigError, match=r"^ensemble: bind\(cube\): takes a Cube .* hsi_app.io.make_cube"):
        ens.bind(data)


def test_a_pixel_with_nan_in_one_band_is_no_data_whatever_else_the_window_holds(
        scene_and_run: tuple[Path, Path, np.ndarray]) -> None:
    """A raw window with NaN in one good band of a pixel and no -9999 anywhere: the pixel stayed partly NaN (so its
    neighbours' probabilities differed from read_window's), unless a -9999 sat elsewhere in the window (review s56 #4)."""
    scene, run, data = scene_and_run
    cube = open_cube(scene)
    fn = Predictor.load(run, device="cpu").bind(cube)
    window = data[:, 6:9, 0:8].astype(np.float32)  # no -9999 in these rows
    assert (window != -9999).all()
    window[1, 1, 3] = np.nan
    masked = window.copy()
    masked[:, 1, 3] = np.nan
    np.testing.assert_array_equal(fn(window), fn(masked))
    window[0, 0, 0] = np.inf  # inf is no measurement either
    masked[:, 0, 0] = np.nan
    np.testing.assert_array_equal(fn(window), fn(masked))


def test_a_hand_built_dataarray_without_bad_band_flags_binds(scene_and_run: tuple[Path, Path, np.ndarray]) -> None:
    """A DataArray with dims (band, y, x) and a wavelength coordinate only bound before the raw-window masking, then
    failed with KeyError 'bad_band' (review s56 #2): every band is good."""
    import xarray as xr

    scene, run, data = scene_and_run
    cube = open_cube(scene)
    bare = xr.DataArray(np.where(data == -9999, np.nan, data).astype(np.float32), dims=("band", "y", "x"),
                        coords={"wavelength": ("band", cube.wavelength.values)})
    fn = Predictor.load(run, device="cpu").bind(bare)
    assert bare.hsi.bad_bands == [] and bare.hsi.good_band_indices.tolist() == list(range(C))
    np.testing.assert_array_equal(fn(bare.values[:, :8, :8]), Predictor.load(run, device="cpu").bind(cube)(
        cube.isel(y=slice(0, 8), x=slice(0, 8)).hsi.read_masked()[0]))


def test_every_bad_band_reader_takes_a_dataarray_without_flags_as_all_good() -> None:
    """good_bands(), the denoiser's window flags and the band-subset plan read coords['bad_band'] directly and
    failed with KeyError on a hand-built DataArray (final read s56 #6)."""
    import xarray as xr

    from hsi_app.tasks.denoise_scene import _bad_bands

    bare = xr.DataArray(np.ones((3, 4, 5), np.float32), dims=("band", "y", "x"),
                        coords={"wavelength": ("band", [500.0, 600.0, 700.0])})
    assert bare.hsi.good_bands().sizes["band"] == 3
    assert _bad_bands(bare).tolist() == [False, False, False]
    mask = bare.hsi.bad_band_mask
    mask[0] = True  # a copy: the cube is not changed
    assert bare.hsi.bad_band_mask.tolist() == [False, False, False]
