"""hsi_app.io.read_values: a cube from open_cube knows whether it still holds the values read (GeoTIFF: lazy,
.mat v5: in memory), and a run's data_identity says when it was trained on a cube changed in Python."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio
from tif_writer import write_tif

from hsi_app.io.cube import make_cube
from hsi_app.io.open import open_cube
from hsi_app.io.read_values import holds_read_values
from hsi_app.provenance import data_identity


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("read_values")
    data = (np.random.default_rng(0).random((4, 6, 5)) * 10000).astype(np.int16)
    sio.savemat(d / "scene.mat", {"cube": data.transpose(1, 2, 0)})  # (H, W, bands)
    return {"tif": write_tif(d / "scene.tif", data, np.linspace(450, 900, 4)), "mat": d / "scene.mat"}


@pytest.mark.parametrize("fmt", ["tif", "mat"])
def test_values_as_read_hold_and_every_change_does_not(files: dict[str, Path], fmt: str) -> None:
    cube = open_cube(files[fmt])
    assert holds_read_values(cube)
    assert holds_read_values(cube.hsi.with_labels(np.ones((6, 5), np.int64), None))  # labels added
    assert holds_read_values(cube.assign_coords(bad_band=("band", [False, True, False, False])))
    assert holds_read_values(cube.isel(band=slice(None)))  # a no-op isel: the same values
    changed = {"scaled": cube * 0.0001, "where": cube.where(cube > 100), "band subset": cube.isel(band=[0, 2]),
               "crop": cube.isel(x=slice(1, 4)), "loaded": cube.copy(deep=True).load()}
    for what, other in changed.items():
        assert not holds_read_values(other), what


def test_a_cube_made_in_python_does_not_hold_a_files_values() -> None:
    assert not holds_read_values(make_cube(np.zeros((2, 3, 4), np.float32), fmt="geotiff", source="scene.tif"))


def test_an_in_memory_mark_is_forgotten_with_its_array(files: dict[str, Path]) -> None:
    """A .mat v5 cube is marked by its array through a weak reference: once the array is freed its mark is gone,
    so an array made later at the same address can never be taken for the values read."""
    from hsi_app.io import read_values

    cube = open_cube(files["mat"])
    key = int(cube.attrs[read_values.READ_VALUES_ATTR].split(":")[1])
    assert read_values._ARRAYS[key]() is cube.data
    stale = cube.copy(deep=False)
    stale.data = np.array(cube.data)  # same attrs (the mark), other array
    del cube
    gc.collect()
    assert key not in read_values._ARRAYS
    assert not holds_read_values(stale)


def test_data_identity_says_when_the_values_were_changed_in_python(files: dict[str, Path]) -> None:
    cube = open_cube(files["tif"])
    assert "changed_in_memory" not in data_identity(cube)["scene"]
    scaled = data_identity(cube * 0.0001)["scene"]
    assert scaled["changed_in_memory"] is True
    assert scaled["files"] == data_identity(cube)["scene"]["files"]  # still the file it came from
    assert "changed_in_memory" not in data_identity(make_cube(np.zeros((2, 3, 4)), fmt="unknown"))["scene"]  # no file
