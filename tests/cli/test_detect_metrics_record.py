"""``hsi detect --metrics``: the JSON names the scene, the outputs, the model run or library and scale, the window
and the masks, besides the scores."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import ModuleType

import pytest

from cli_runner import run_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> dict[str, Path]:  # noqa: ANN001
    """A simulated scene with its truth, the library, and a tiny detect run trained on the background."""
    from hsi_app.cli.main import main

    speclib: ModuleType = load_fixture("speclib")
    d = tmp_path_factory.mktemp("detect_record")
    kit = {"bg": speclib.write_geotiff(d / "bg.tif", speclib.background(3)), "lib": speclib.write_csv(d / "lib.csv"),
           "sim": d / "sim", "run": d / "run", "dir": d}
    for args in (["simulate-targets", "--background", str(kit["bg"]), "--targets", str(kit["lib"]), "--seed", "4",
                  "--n-targets", "6", "--out", str(kit["sim"]), "--quiet"],
                 ["train", "--task", "detect", "--data", str(kit["bg"]), "--targets", str(kit["lib"]), "--model",
                  "test_point_detector", "--epochs", "1", "--out", str(kit["run"]), "--quiet"]):
        try:
            main(args)
        except SystemExit as exc:
            assert not exc.code
    return kit


def _detect(capsys: pytest.CaptureFixture[str], kit: dict[str, Path], tmp: Path, *args: str) -> dict:
    code, _, err = run_main(capsys, "detect", "--input", str(kit["sim"] / "scene.tif"), "--out", str(tmp / "s.tif"),
                            "--truth", str(kit["sim"] / "targets.gpkg"), "--metrics", str(tmp / "m.json"), "--quiet",
                            *args)
    assert code == 0, err
    return json.loads((tmp / "m.json").read_text())


def test_learned_metrics_name_the_run_and_the_sha256_of_its_weights(kit: dict[str, Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    m = _detect(capsys, kit, tmp_path, "--method", "learned", "--model", str(kit["run"]), "--points",
                str(tmp_path / "p.gpkg"))
    sha = hashlib.sha256((kit["run"] / "model.safetensors").read_bytes()).hexdigest()
    assert m["model_dir"] == str(kit["run"].resolve()) and m["weights_sha256"] == sha
    assert m["input"] == str(kit["sim"] / "scene.tif") and m["output"] == str(tmp_path / "s.tif")
    assert m["points"] == str(tmp_path / "p.gpkg") and m["exclude_masks"] == []
    assert "library" not in m and "rx_window" not in m and "mAP@2px" in m


def test_library_metrics_name_the_library_materials_and_scale(kit: dict[str, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    m = _detect(capsys, kit, tmp_path, "--method", "cem", "--targets", str(kit["lib"]), "--material", "gamma",
                "--material", "alpha", "--material", "beta", "--exclude-masks", "all")
    assert m["library"] == str(kit["lib"]) and m["materials"] == ["gamma", "alpha", "beta"]  # as selected
    assert m["scale"] == 1.0 and m["scale_guessed"] is True  # a reflectance scene: guessed 1
    assert m["points"] is None and m["exclude_masks"] == ["all"] and m["target_pixels"] == []
    m = _detect(capsys, kit, tmp_path, "--method", "ace", "--targets", str(kit["lib"]), "--scale", "2",
                "--target-pixel", "3,4")
    assert m["scale"] == 2.0 and m["scale_guessed"] is False and m["materials"] == ["alpha", "beta", "gamma"]
    assert m["target_pixels"] == [[3, 4]]


def test_local_rx_metrics_name_the_window(kit: dict[str, Path], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    m = _detect(capsys, kit, tmp_path, "--method", "rx-local", "--rx-window", "3,9")
    assert m["rx_window"] == [3, 9] and m["input"] == str(kit["sim"] / "scene.tif")
    assert "library" not in m and "model_dir" not in m
