"""detect_scene / write_detections called from a notebook with arguments they cannot use: one ConfigError line
naming the argument and the fix, before any pass over the scene (s58 Python API audit)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import ConfigError
from hsi_app.io import make_cube, open_cube
from hsi_app.tasks.detection import detect_scene, write_detections

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tif_writer import write_tif  # noqa: E402

C, H, W = 6, 16, 18
WL = np.linspace(450.0, 850.0, C)


@pytest.fixture()
def scene(tmp_path: Path):  # type: ignore[no-untyped-def]
    data = (np.random.default_rng(0).random((C, H, W)) * 0.5 + 0.1).astype(np.float32)
    return open_cube(write_tif(tmp_path / "s.tif", data, WL)), data


@pytest.mark.parametrize("kwargs, match", [
    ({"threshold": "0.5"}, r"threshold='0\.5'; it is a score"),
    ({"threshold": float("nan")}, r"threshold=nan; it is a score"),
    ({"max_per_class": -1}, r"max_per_class=-1; it is a whole number of peaks, 0 or more"),
    ({"max_per_class": 2.5}, r"max_per_class=2\.5; it is a whole number"),
    ({"valid": np.ones((W, H), bool)}, r"valid is \(18, 16\) but the scene is \(16, 18\) \(H, W\)"),
    ({"valid": np.ones((3, 3), bool)}, r"valid is \(3, 3\) but the scene is \(16, 18\)"),
])
def test_detect_scene_refuses_arguments_in_one_line(scene, kwargs: dict, match: str) -> None:  # type: ignore[no-untyped-def]
    cube, _ = scene
    with pytest.raises(ConfigError, match=rf"^detect_scene: {match}") as err:
        detect_scene(cube, "rx", **kwargs)
    assert "\n" not in str(err.value)


def test_max_per_class_keeps_the_strongest_peaks(scene) -> None:  # type: ignore[no-untyped-def]
    cube, _ = scene
    every = detect_scene(cube, "rx").detections
    top = detect_scene(cube, "rx", max_per_class=3).detections
    assert len(top) == 3 and np.array_equal(top.score, np.sort(every.score)[::-1][:3])
    assert len(detect_scene(cube, "rx", max_per_class=0).detections) == 0


def test_detect_scene_spectra_and_names_of_the_wrong_type(scene) -> None:  # type: ignore[no-untyped-def]
    cube, data = scene
    with pytest.raises(ConfigError, match=r"^detect_scene: spectra is a str that is not numbers; pass a \(K, C\)"):
        detect_scene(cube, "mf", spectra="grass")
    six = np.stack([data[:, r, r] for r in range(6)])  # six targets: a six-letter string would pass as six names
    with pytest.raises(ConfigError, match=r"^detect_scene: names='target' is one string; pass a list"):
        detect_scene(cube, "ace", spectra=six, names="target")


def test_write_detections_refuses_what_is_not_points_cube_or_names(scene, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cube, data = scene
    res = detect_scene(cube, "rx", max_per_class=4)
    out = tmp_path / "p.gpkg"
    with pytest.raises(ConfigError, match=r"^write_detections: takes a Cube .* numpy\.ndarray; wrap"):
        write_detections(out, res.detections, data, res.names)
    with pytest.raises(ConfigError, match=r"^write_detections: det is a whole DetectionResult; pass its points and "
                                          r"names: write_detections\(path, result\.detections, cube, result\.names\)"):
        write_detections(out, res, cube, res.names)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^write_detections: names='anomaly'; pass a list of class names"):
        write_detections(out, res.detections, cube, "anomaly")  # type: ignore[arg-type]  # was written as class 'a'
    with pytest.raises(ConfigError, match=r"^write_detections: names=None; pass a list"):
        write_detections(out, res.detections, cube, None)  # type: ignore[arg-type]
    assert not out.exists()


def test_written_points_keep_the_scene_grid(scene, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import geopandas as gpd

    cube, _ = scene
    res = detect_scene(cube, "rx", max_per_class=4)
    write_detections(tmp_path / "p.gpkg", res.detections, cube, res.names)
    got = gpd.read_file(tmp_path / "p.gpkg")
    assert got.crs == cube.rio.crs and list(got["class"]) == ["anomaly"] * 4
    # the tif's grid: 30 m pixels from (440000, 3750000), north up; points at pixel centres
    np.testing.assert_allclose(got.geometry.x, 440000.0 + 30.0 * res.detections.col)
    np.testing.assert_allclose(got.geometry.y, 3750000.0 - 30.0 * res.detections.row)
    nocrs = make_cube(cube.values, wavelength=WL)
    write_detections(tmp_path / "q.gpkg", res.detections, nocrs, list(res.names))
    np.testing.assert_allclose(gpd.read_file(tmp_path / "q.gpkg")["x"], res.detections.col)


def test_spectra_at_every_band_of_a_cube_with_bad_bands_name_the_good_bands(scene) -> None:  # type: ignore[no-untyped-def]
    _, data = scene
    cube = make_cube(data, wavelength=WL, bad_bands=[2])
    full = data[:, 3, 4][None]  # a pixel's spectrum at all 6 bands: it used to say "the cube has 5"
    with pytest.raises(ConfigError, match=r"^detect_scene: spectra have 6 bands, all of the cube's, but detection reads "
                                          r"its 5 good bands .*: pass spectra\[:, cube\.hsi\.good_band_indices\]$"):
        detect_scene(cube, "ace", spectra=full)
    res = detect_scene(cube, "ace", spectra=full[:, cube.hsi.good_band_indices])
    assert np.nanargmax(res.scores[0]) == 3 * W + 4  # the fix named finds the target pixel itself


@pytest.mark.parametrize("window", [7, "5,21", (3, 7, 9)])
def test_rx_local_window_is_a_pair(scene, window) -> None:  # type: ignore[no-untyped-def]
    cube, _ = scene
    with pytest.raises(ConfigError, match=r"^detect_scene: window=.*; rx-local takes a pair \(inner, outer\) of odd "
                                          r"pixel sizes, e.g\. window=\(5, 21\)$"):
        detect_scene(cube, "rx-local", window=window)
    assert detect_scene(cube, "rx", window=window).scores.shape == (1, H, W)  # only rx-local reads it
