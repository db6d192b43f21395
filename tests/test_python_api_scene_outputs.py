"""predict_scene with what a notebook passes: K class names, a plain function that returns NaN."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.infer import predict_scene
from hsi_app.io import make_cube

K = 3


def _cube() -> object:
    data = np.random.default_rng(0).random((4, 12, 10)).astype(np.float32)
    return make_cube(data, wavelength=[450, 550, 650, 750], crs="EPSG:32633", transform=from_origin(5e5, 4e6, 30, 30))


def _probs(image: np.ndarray) -> np.ndarray:
    """Class 2 everywhere."""
    out = np.zeros((K, *image.shape[1:]), np.float32)
    out[1] = 1.0
    return out


def test_k_class_names_are_refused_not_shifted(tmp_path: Path) -> None:
    """['water', 'crop', 'urban'] for K = 3 was written as names of 0..2: class 2 (crop) labelled 'urban'."""
    with pytest.raises(ConfigError, match=r"3 class_names for num_classes=3; it takes 4, .*=\['no data', \*names\]"):
        predict_scene(_probs, _cube(), num_classes=K, halo=0, out=tmp_path / "m.tif", progress=False,
                      class_names=["water", "crop", "urban"])
    assert not (tmp_path / "m.tif").exists()
    predict_scene(_probs, _cube(), num_classes=K, halo=0, out=tmp_path / "m.tif", progress=False,
                  class_names=["no data", "water", "crop", "urban"])
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert (ds.read(1) == 2).all() and json.loads(ds.tags()["CLASS_NAMES"])[2] == "crop"


def test_nan_probabilities_at_valid_pixels_are_refused() -> None:
    """argmax of NaN is 0: the map said class 1 (confidence NaN) wherever the function failed."""
    def nan_in_a_corner(image: np.ndarray) -> np.ndarray:
        out = _probs(image)
        out[:, :2, :3] = np.nan
        return out

    with pytest.raises(InvalidDataError, match=r"NaN or inf at 6 valid pixels of the window at row 0, col 0"):
        predict_scene(nan_in_a_corner, _cube(), num_classes=K, halo=0, progress=False, keep_map=True)
    # NaN where the scene has no data is fine: those pixels are class 0 anyway
    cube = _cube()
    cube = cube.where(~((cube.y > 4e6 - 60) & (cube.x < 5e5 + 90)))  # the 2 x 3 corner is no data
    res = predict_scene(nan_in_a_corner, cube, num_classes=K, halo=0, progress=False, keep_map=True)
    assert (res.classes[:2, :3] == 0).all() and (res.classes[2:] == 2).all()


def test_class_names_as_a_numpy_array_are_checked_like_a_list() -> None:
    """`if class_names and ...` raised numpy's 'truth value of an array is ambiguous' (final read s56 #9)."""
    from hsi_app.infer import scene_settings

    def fn(x: np.ndarray) -> np.ndarray:
        return np.full((2, *x.shape[1:]), 0.5, np.float32)

    with pytest.raises(ConfigError, match=r"2 class_names for num_classes=2"):
        scene_settings(fn, 2, 0, np.array(["a", "b"]))
