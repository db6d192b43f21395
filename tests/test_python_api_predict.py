"""predict_scene from a notebook: a run's bound function is enough, and the map is the one `hsi predict` writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from cli_runner import run_main
from rasterio.transform import from_origin
from tiny_runs import make_run

from hsi_app.ensemble import load_classifier
from hsi_app.errors import ConfigError
from hsi_app.infer import predict_scene
from hsi_app.io import make_cube, open_cube
from hsi_app.io.cog import write_cube
from hsi_app.predictor import Predictor

C, H, W = 5, 40, 50


@pytest.fixture()
def scene_and_run(tmp_path: Path) -> tuple[Path, Path]:
    data = (np.random.default_rng(3).random((C, H, W)) * 1000).astype(np.float32)
    cube = make_cube(data, wavelength=np.linspace(400.0, 800.0, C), crs="EPSG:32633",
                     transform=from_origin(500000.0, 4000000.0, 30.0, 30.0))
    write_cube(tmp_path / "scene.tif", cube, progress=False)
    return tmp_path / "scene.tif", make_run(tmp_path / "run", in_chans=C, num_classes=3, like=data)


def _read(path: Path) -> tuple[np.ndarray, dict[str, str], tuple[str | None, ...]]:
    with rasterio.open(path) as src:
        return src.read(), src.tags(), src.descriptions


def test_bound_run_alone_gives_the_cli_map(scene_and_run: tuple[Path, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    scene, run = scene_and_run
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene), "--out",
                            str(tmp_path / "cli.tif"), "--window", "16", "--quiet", "--device", "cpu")
    assert code == 0, err
    cube = open_cube(scene)
    pred = Predictor.load(run, device="cpu")
    res = predict_scene(pred.bind(cube), cube, out=tmp_path / "py.tif", window=16, progress=False)
    assert res.windows == 12  # 40 x 50 px in 16 px windows: 3 x 4
    cli, py = _read(tmp_path / "cli.tif"), _read(tmp_path / "py.tif")
    np.testing.assert_array_equal(py[0], cli[0])  # classes and confidence, every pixel, seams included
    assert py[1] == cli[1] and "c3" in py[1]["CLASS_NAMES"]  # the run's class names, as the CLI writes them
    twin = shutil.copytree(run, tmp_path / "twin")  # an ensemble of two equal runs: the mean is each one's
    ens = load_classifier([run, twin], device="cpu")  # an ensemble's bound function carries K and halo too
    res2 = predict_scene(ens.bind(cube), cube, out=tmp_path / "ens.tif", window=16, progress=False)
    assert res2.windows == 12
    np.testing.assert_array_equal(_read(tmp_path / "ens.tif")[0][0], cli[0][0])


def test_a_halo_that_changes_the_map_is_refused(scene_and_run: tuple[Path, Path]) -> None:
    scene, run = scene_and_run
    cube = open_cube(scene)
    pred = Predictor.load(run, device="cpu")
    r = pred.receptive_radius
    assert r > 0
    fn = pred.bind(cube)
    good = predict_scene(fn, cube, window=16, keep_map=True, progress=False).classes
    with pytest.raises(ConfigError, match=r"^predict_scene: halo=-1; .*0 or more"):
        predict_scene(fn, cube, halo=-1, window=16, keep_map=True, progress=False)
    with pytest.raises(ConfigError, match=rf"^predict_scene: halo=0 is below the bound model's receptive radius {r};"):
        predict_scene(fn, cube, halo=0, window=16, keep_map=True, progress=False)
    wider = predict_scene(fn, cube, halo=r + 2, window=16, keep_map=True, progress=False).classes
    np.testing.assert_array_equal(wider, good)  # more context than needed: the same map
    with pytest.raises(ConfigError, match="pass num_classes=K"):  # a plain function still needs K and the halo
        predict_scene(lambda x: np.full((3, *x.shape[1:]), 1 / 3, np.float32), cube, progress=False)


def test_a_numpy_array_for_the_cube_is_one_line(scene_and_run: tuple[Path, Path]) -> None:
    scene, run = scene_and_run
    cube = open_cube(scene)
    pred = Predictor.load(run, device="cpu")
    with pytest.raises(ConfigError, match=r"^predict_scene: takes a Cube .* got a numpy\.ndarray; wrap the "
                                          r"\(5, 40, 50\) array: hsi_app\.io\.make_cube\(array, wavelength=\.\.\.\)"):
        predict_scene(pred.bind(cube), np.asarray(cube.values), progress=False)
    with pytest.raises(ConfigError, match=r"got a xarray\.Dataset; pick its variable"):
        predict_scene(pred.bind(cube), cube.to_dataset(name="r"), progress=False)
