"""``hsi train --task detect`` and ``hsi simulate-targets``: the library's scale (``--scale``, the guessed-scale line,
its record in the run) and libraries that cover too few of the scene's bands."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cli_runner import assert_one_error_line, run_main
from hsi_app.io.spectral_library import read_library

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> dict[str, Path]:  # noqa: ANN001
    """A dark background stored as reflectance x 10000 (99th percentile below 1000, so the guess is 1000)."""
    speclib: ModuleType = load_fixture("speclib")
    d = tmp_path_factory.mktemp("train_library")
    dark = speclib.background(3) * 10000 * 0.15
    assert 100 < np.percentile(dark, 99) < 1000
    return {"dark": speclib.write_geotiff(d / "dark.tif", dark), "lib": speclib.write_csv(d / "lib.csv"), "dir": d}


def _train(capsys: pytest.CaptureFixture[str], kit: dict[str, Path], out: Path, *extra: str) -> tuple[int, str, str]:
    return run_main(capsys, "train", "--task", "detect", "--data", str(kit["dark"]), "--targets", str(kit["lib"]),
                    "--model", "test_point_detector", "--epochs", "1", "--seed", "1", "--out", str(out), *extra)


def _library_at_scene_bands(lib: Path) -> np.ndarray:
    """The fixture library at the fixture cube's bands (450-2400 nm, 12 bands), 0-1 reflectance: ``(3, 12)``."""
    return read_library(lib).resample(np.linspace(450.0, 2400.0, 12))


def test_train_detect_says_and_records_the_guessed_scale(kit: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "guess"
    code, out, err = _train(capsys, kit, run)
    assert code == 0, err
    assert re.search(rf"^{re.escape(str(kit['lib']))}: 3 spectra read as reflectance 0-1, times 1000 to the scene's "
                     r"units \(guessed from the scene's values; --scale sets it\)$", err, re.M), err
    cfg = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    for record in (cfg["extra"], metrics):
        assert record["scale"] == 1000.0 and record["scale_guessed"] is True and record["library"] == str(kit["lib"])
    np.testing.assert_allclose(cfg["extra"]["target_spectra"], _library_at_scene_bands(kit["lib"]) * 1000, rtol=1e-5)


def test_train_detect_scale_sets_the_library_units(kit: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "set"
    code, out, err = _train(capsys, kit, run, "--scale", "10000")
    assert code == 0, err
    assert "times 10000 to the scene's units (--scale)" in err
    cfg = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    for record in (cfg["extra"], metrics):
        assert record["scale"] == 10000.0 and record["scale_guessed"] is False
    np.testing.assert_allclose(cfg["extra"]["target_spectra"], _library_at_scene_bands(kit["lib"]) * 10000, rtol=1e-5)
    code, out, err = _train(capsys, kit, tmp_path / "quiet", "--scale", "10000", "--quiet")
    assert code == 0 and "times 10000" not in err  # --quiet drops the line, as in hsi detect


@pytest.mark.parametrize(("args", "words"), [
    (["--scale", "0"], ("--scale 0: must be a positive number",)),
    (["--task", "classify", "--scale", "10000"], ("--scale", "--task classify does not use it")),
    (["--task", "denoise", "--scale", "10000"], ("--scale", "--task denoise does not use it")),
])
def test_train_scale_is_checked_before_the_scene_is_read(kit: dict[str, Path], tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str], args: list[str],
                                                         words: tuple[str, ...]) -> None:
    task = [] if "--task" in args else ["--task", "detect", "--targets", str(kit["lib"])]
    code, _, err = run_main(capsys, "train", *task, "--data", str(tmp_path / "missing.tif"), *args,
                            "--out", str(tmp_path / "r"))
    assert_one_error_line(code, err, *words)
    assert not (tmp_path / "r").exists()


def test_simulate_says_which_scale_it_guessed(kit: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "simulate-targets", "--background", str(kit["dark"]), "--targets",
                              str(kit["lib"]), "--n-targets", "3", "--out", str(tmp_path / "sim"))
    assert code == 0, err
    assert "times 1000 to the scene's units (guessed from the scene's values; --scale sets it)" in err
