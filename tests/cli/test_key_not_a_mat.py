"""``--key`` names a ``.mat`` variable: given for a scene in another format (the run would ignore it), it is
refused with one line naming the option, the file and the fix, before anything is written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.io
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line, run_main
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("key")
    cube = np.random.default_rng(0).uniform(0.0, 1.0, size=(5, 12, 10)).astype(np.float32)
    scene = root / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", height=12, width=10, count=5, dtype="float32", crs="EPSG:32616",
                       transform=from_origin(0.0, 0.0, 30.0, 30.0)) as ds:
        ds.write(cube)
        ds.update_tags(wavelength=",".join(str(w) for w in WL), wavelength_units="nm")
    mat = root / "scene.mat"
    scipy.io.savemat(mat, {"cube": np.moveaxis(cube, 0, -1), "other": np.moveaxis(cube, 0, -1)})
    return {"scene": scene, "mat": mat, "run": make_run(root / "run", in_chans=5, num_classes=3, wavelengths=WL)}


@pytest.mark.parametrize("command", ["info", "predict"])
def test_key_for_a_geotiff_is_refused(command: str, files: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    scene, out = files["scene"], tmp_path / "m.tif"
    args = {"info": ["info", str(scene)],
            "predict": ["predict", "--model", str(files["run"]), "--input", str(scene), "--out", str(out), "--quiet"]}
    code, _, err = run_main(capsys, *args[command], "--key", "foo")
    assert_one_error_line(code, err, f"--key foo: {scene} is a GeoTIFF, not a .mat file", "drop it")
    assert not out.exists()


def test_key_still_chooses_a_mat_variable(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.io.open import is_mat

    code, _, err = run_main(capsys, "info", str(files["mat"]), "--key", "cube")
    assert code == 0, err
    assert is_mat(files["mat"]) and not is_mat(files["scene"]) and not is_mat(files["scene"].parent / "none.mat")


def test_key_for_a_built_in_scene_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "info", "indian_pines", "--key", "foo")
    assert_one_error_line(code, err, "--key foo: indian_pines is a built-in scene, not a .mat file", "drop it")


def test_denoise_key_goes_to_a_missing_mat_reference(files: dict[str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped ``--reference X.mat`` is reported missing, not blamed on ``--key`` and the GeoTIFF input."""
    model = Path(__file__).resolve().parents[2] / "models" / "indian_pines_hsdt_s_mixture"
    missing, out = tmp_path / "nosuch_clean.mat", tmp_path / "d.tif"
    code, _, err = run_main(capsys, "denoise", "--model", str(model), "--input", str(files["scene"]), "--reference",
                            str(missing), "--key", "cube", "--out", str(out), "--quiet")
    assert_one_error_line(code, err, str(missing), "no such file")
    assert "--key" not in err and not out.exists()
