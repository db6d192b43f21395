"""MATLAB readers on exact-format fixtures (v5 and v7.3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import CubeReadError, HSIError, UnknownKeyError
from hsi_app.io import open_cube
from hsi_app.io.mat import mat_version


@pytest.mark.parametrize(
    ("name", "bands", "dtype", "n_classes"),
    [("indian_pines", 200, "uint16", 16), ("salinas", 204, "int16", 16), ("paviaU", 103, "uint16", 9), ("longkou", 270, "float32", 9)],
)
def test_known_v5_scenes(mat_fixtures: dict, name: str, bands: int, dtype: str, n_classes: int) -> None:
    cube = open_cube(mat_fixtures[name])
    arr, labels = mat_fixtures[name + "_array"], mat_fixtures[name + "_labels"]
    assert cube.dims == ("band", "y", "x")
    assert cube.hsi.shape == (bands, arr.shape[0], arr.shape[1])
    assert str(cube.dtype) == dtype
    np.testing.assert_array_equal(np.asarray(cube.values), arr.transpose(2, 0, 1))
    np.testing.assert_array_equal(cube.hsi.labels, labels)  # found *_gt.mat next to it
    assert len(cube.hsi.class_names) == n_classes + 1
    wl = cube.hsi.wavelengths
    assert wl.size == bands and np.isfinite(wl).all() and 350 < wl.min() < wl.max() < 2600  # catalog centres
    assert cube.attrs["format"] == "mat-v5"
    assert cube.rio.crs is None


def test_v73_is_read_lazily_and_transposed(mat_fixtures: dict) -> None:
    path = mat_fixtures["hanchuan"]
    assert mat_version(path) == "7.3"
    cube = open_cube(path)
    arr = mat_fixtures["hanchuan_array"]
    assert hasattr(cube.data, "dask")  # not loaded yet
    assert cube.hsi.shape == (274, arr.shape[0], arr.shape[1])
    window = cube.isel(y=slice(3, 9), x=slice(2, 7)).values
    np.testing.assert_array_equal(window, arr[3:9, 2:7].transpose(2, 0, 1))
    np.testing.assert_array_equal(cube.hsi.labels, mat_fixtures["hanchuan_labels"])
    assert cube.attrs["format"] == "mat-v7.3"


def test_ambiguous_file_lists_keys_and_key_option(mat_fixtures: dict) -> None:
    with pytest.raises(CubeReadError, match=r"two_cubes.mat: .*keys found: first, mask, second\. Pass --key NAME"):
        open_cube(mat_fixtures["two_cubes"])
    cube = open_cube(mat_fixtures["two_cubes"], key="second")
    assert cube.hsi.shape[0] == 10
    with pytest.raises(UnknownKeyError, match="no variable 'nope'; keys found"):
        open_cube(mat_fixtures["two_cubes"], key="nope")


def test_single_unknown_3d_array_is_used(mat_fixtures: dict) -> None:
    cube = open_cube(mat_fixtures["unknown_single"])
    assert cube.attrs["mat_key"] == "my_cube"
    assert np.isnan(cube.hsi.wavelengths).all()  # unknown file: no invented wavelengths


def test_2d_only_file_is_rejected(mat_fixtures: dict) -> None:
    with pytest.raises(CubeReadError, match=r"flat.mat: no 3-D array"):
        open_cube(mat_fixtures["flat"])
    with pytest.raises(CubeReadError, match=r"'image' is 2-D"):
        open_cube(mat_fixtures["flat"], key="image")


@pytest.mark.parametrize("name", ["truncated", "garbage"])
def test_corrupt_files_raise_one_clear_error(mat_fixtures: dict, name: str) -> None:
    with pytest.raises(CubeReadError) as info:
        open_cube(mat_fixtures[name])
    msg = str(info.value)
    assert str(mat_fixtures[name]) in msg and "\n" not in msg
    assert isinstance(info.value, OSError) and isinstance(info.value, HSIError)


def test_nan_pixels_are_invalid_with_a_warning(mat_fixtures: dict) -> None:
    with pytest.warns(UserWarning, match="NaN/inf; marked invalid"):
        cube = open_cube(mat_fixtures["nan_cube"])
    valid = np.asarray(cube.hsi.valid.values)
    assert not valid[0, 0] and not valid[5, 6]
    assert valid.sum() == valid.size - 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        open_cube(tmp_path / "nothing.mat")
