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
    with pytest.raises(CubeReadError, match=r"flat.mat: no 3-D arrays") as err:
        open_cube(mat_fixtures["flat"])
    assert "--key" not in str(err.value) and "save the scene in it as one (H, W, bands) array" in str(err.value)
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


def _mat73(path: Path, build) -> None:  # noqa: ANN001
    """An HDF5 file with MATLAB's 512-byte v7.3 header."""
    import h5py

    with h5py.File(path, "w", userblock_size=512) as f:
        build(f)
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


def test_v73_data_outside_the_file_is_refused(tmp_path: Path) -> None:
    """External storage, external links and virtual datasets could expose any file on the machine."""
    import h5py

    from hsi_app.io.labels import read_labels

    secret = tmp_path / "secret.bin"
    secret.write_bytes(bytes(range(256)) * 4)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.arange(60, dtype=np.float32).reshape(3, 4, 5)

    def vds(f) -> None:  # noqa: ANN001
        layout = h5py.VirtualLayout(shape=(3, 4, 5), dtype="f4")
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(3, 4, 5))
        f.create_virtual_dataset("cube", layout)

    builders = {
        "external.mat": lambda f: f.create_dataset("cube", shape=(4, 4, 64), dtype="u1",
                                                   external=[(str(secret), 0, 1024)]),
        "link.mat": lambda f: f.__setitem__("cube", h5py.ExternalLink(str(other), "/data")),
        "virtual.mat": vds,
    }
    for name, build in builders.items():
        _mat73(tmp_path / name, build)
        with pytest.raises(CubeReadError, match="only self-contained .mat files are read"):
            open_cube(tmp_path / name)
    _mat73(tmp_path / "plain.mat", lambda f: f.create_dataset("cube", data=np.ones((3, 4, 5), np.float32)))
    assert open_cube(tmp_path / "plain.mat").shape == (3, 5, 4)
    with pytest.raises(CubeReadError, match="only self-contained"):
        read_labels(tmp_path / "link.mat", open_cube(tmp_path / "plain.mat"))


def test_a_broken_ground_truth_warns_and_given_labels_replace_it(tmp_path: Path) -> None:
    from scipy.io import savemat

    from hsi_app.errors import HSIWarning

    cube = np.random.default_rng(0).uniform(size=(6, 5, 4)).astype(np.float32)
    savemat(tmp_path / "scene.mat", {"mycube": cube})
    savemat(tmp_path / "scene_gt.mat", {"labels": np.ones((6, 5), np.uint8), "mask": np.zeros((6, 5), np.uint8)})
    with pytest.warns(HSIWarning, match="labels not attached: .*scene_gt.mat: 2 2-D label arrays"):
        opened = open_cube(tmp_path / "scene.mat")
    assert opened.hsi.labels is None and opened.hsi.shape == (4, 6, 5)
    np.save(tmp_path / "mine.npy", np.full((6, 5), 2, np.int32))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)  # the sibling is not even read
        given = open_cube(tmp_path / "scene.mat", labels=tmp_path / "mine.npy")
    assert (given.hsi.labels == 2).all()


def test_complex_cubes_are_refused(tmp_path: Path) -> None:
    from scipy.io import savemat

    savemat(tmp_path / "c.mat", {"cube": (np.ones((4, 5, 3)) + 1j).astype(np.complex64)})
    with pytest.raises(CubeReadError, match="complex values"):
        open_cube(tmp_path / "c.mat")
    _mat73(tmp_path / "c73.mat", lambda f: f.create_dataset(
        "cube", data=np.zeros((3, 5, 4), dtype=[("real", "<f4"), ("imag", "<f4")])))
    with pytest.raises(CubeReadError, match="complex values"):
        open_cube(tmp_path / "c73.mat")


def test_hdf5_with_matlab_class_attributes_but_no_header_reads_column_major(tmp_path: Path) -> None:
    """MATLAB-compatible writers mark their datasets with MATLAB_class; that fixes the order."""
    import h5py

    data = np.arange(60, dtype=np.float32).reshape(3, 5, 4)  # MATLAB (4, 5, 3) stored transposed
    with h5py.File(tmp_path / "marked.mat", "w") as f:
        f["cube"] = data
        f["cube"].attrs["MATLAB_class"] = np.bytes_("single")
    assert mat_version(tmp_path / "marked.mat") == "7.3"
    np.testing.assert_array_equal(open_cube(tmp_path / "marked.mat").values, data.transpose(0, 2, 1))


def test_plain_hdf5_without_matlab_marks_is_refused_not_read_transposed(tmp_path: Path) -> None:
    """An (H, W, C) array saved with h5py looks exactly like a MATLAB (C, W, H) one: refuse it."""
    import h5py

    from hsi_app.io.labels import read_labels

    for name in ("plain.mat", "plain.h5"):
        with h5py.File(tmp_path / name, "w") as f:
            f["cube"] = np.zeros((11, 6, 30), np.float32)
        with pytest.raises(CubeReadError, match=r"plain HDF5 file .*axis order .* unknown; save it with MATLAB"):
            open_cube(tmp_path / name)
    from scipy.io import savemat

    savemat(tmp_path / "cube5.mat", {"cube": np.zeros((6, 11, 30), np.float32)})
    with h5py.File(tmp_path / "gt.mat", "w") as f:
        f["gt"] = np.zeros((11, 6), np.uint8)  # MATLAB order would make it a (6, 11) map
    with pytest.raises(CubeReadError, match="plain HDF5 file"):
        read_labels(tmp_path / "gt.mat", like=open_cube(tmp_path / "cube5.mat"))


def test_lazy_v73_cube_pickles_for_dask_workers(tmp_path: Path) -> None:
    import pickle

    data = np.arange(60, dtype=np.float32).reshape(3, 5, 4)
    _mat73(tmp_path / "lazy.mat", lambda f: f.create_dataset("cube", data=data))
    cube = open_cube(tmp_path / "lazy.mat")
    again = pickle.loads(pickle.dumps(cube))
    np.testing.assert_array_equal(again.values, data.transpose(0, 2, 1))
    np.testing.assert_array_equal(cube.hsi.window(1, 2, 2, 3).values, data.transpose(0, 2, 1)[:, 1:3, 2:5])


def _known_scene_moved(tmp_path: Path, load_fixture, key: str, hwc: tuple[int, int, int],  # noqa: ANN001
                       stored: tuple[int, int, int], v73: bool) -> tuple[np.ndarray, Path]:
    """Write a catalog scene's true ``(H, W, bands)`` cube with its axes stored as ``stored``; return it and the path."""
    from scipy.io import savemat

    truth = np.random.default_rng(1).integers(0, 255, hwc, dtype=np.uint8)
    path = tmp_path / f"{key}.mat"
    if v73:
        load_fixture("mat").write_v73(path, {key: truth.transpose(stored)})
    else:
        savemat(path, {key: truth.transpose(stored)})
    return truth, path


@pytest.mark.parametrize(
    ("key", "hwc", "stored", "v73"),
    [("indian_pines_corrected", (145, 145, 200), (2, 0, 1), False),  # bands first, as a (band, y, x) array
     ("indian_pines_corrected", (145, 145, 200), (0, 2, 1), True),  # (H, bands, W), MATLAB v7.3
     ("paviaU", (610, 340, 103), (1, 2, 0), False)],  # (W, bands, H): every axis out of place
)
def test_a_known_scene_saved_in_another_axis_order_is_read_as_h_w_bands(
        tmp_path: Path, load_fixture, key: str, hwc: tuple[int, int, int],  # noqa: ANN001
        stored: tuple[int, int, int], v73: bool) -> None:
    from hsi_app.errors import HSIWarning

    truth, path = _known_scene_moved(tmp_path, load_fixture, key, hwc, stored, v73)
    shown = tuple(hwc[i] for i in stored)
    with pytest.warns(HSIWarning) as record:
        cube = open_cube(path)
    msgs = [str(w.message) for w in record if issubclass(w.category, HSIWarning)]
    assert len(msgs) == 1 and msgs[0].startswith(f"{path}: '{key}' is stored as {shown}")
    assert "axes moved to (H, W, bands)" in msgs[0] and "\n" not in msgs[0]
    assert cube.hsi.shape == (hwc[2], hwc[0], hwc[1])
    np.testing.assert_array_equal(np.asarray(cube.values), truth.transpose(2, 0, 1))
    assert np.isfinite(cube.hsi.wavelengths).all()  # the catalog's band centres fit again


def test_a_known_key_whose_shape_fits_no_catalog_order_is_read_as_stored(tmp_path: Path) -> None:
    """A cropped scene under a known key is not rearranged, and is not warned about."""
    import warnings

    from scipy.io import savemat

    from hsi_app.errors import HSIWarning

    arr = np.arange(12 * 10 * 200, dtype=np.uint16).reshape(12, 10, 200)
    savemat(tmp_path / "Indian_pines_corrected.mat", {"indian_pines_corrected": arr})
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        cube = open_cube(tmp_path / "Indian_pines_corrected.mat")
    np.testing.assert_array_equal(np.asarray(cube.values), arr.transpose(2, 0, 1))
