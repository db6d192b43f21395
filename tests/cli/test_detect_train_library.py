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


def test_a_detector_run_records_its_library_versions_and_inputs_like_a_classifier_run(
        kit: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """config.json ``data`` (the resolved path), ``extra.versions`` and ``extra.data_identity`` (the sha256 of the
    scene and of the --targets library), the same in metrics.json, as `hsi train` records them for a classifier."""
    import hashlib
    from importlib.metadata import version

    import hsi_app

    def identity(path: Path) -> dict:
        return {"path": str(path.resolve()), "bytes": path.stat().st_size,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}

    run = tmp_path / "run"
    code, _, err = _train(capsys, kit, run, "--quiet")
    assert code == 0, err
    cfg = json.loads((run / "config.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert cfg["data"] == metrics["data"] == str(kit["dark"].resolve())
    want = {"torch": version("torch"), "lightning": version("lightning"), "scikit-learn": version("scikit-learn"),
            "numpy": np.__version__, "hsi_app": hsi_app.__version__}
    assert cfg["extra"]["versions"] == metrics["versions"] == want
    assert cfg["extra"]["data_identity"] == metrics["data_identity"] == {
        "scene": {"files": [identity(kit["dark"])]}, "labels": [], "library": identity(kit["lib"])}


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


def _library(path: Path, top_nm: float) -> Path:
    """A two-material library measured from 400 nm to ``top_nm``."""
    wl = np.arange(400.0, top_nm + 1, 25.0)
    np.savetxt(path, np.column_stack([wl, np.full_like(wl, 0.3), 0.2 + 0.5 * (wl - 400) / (top_nm - 400)]),
               delimiter=",", header="wavelength,flat,ramp", comments="", fmt="%.6g")
    return path


@pytest.mark.parametrize("command", ["simulate-targets", "train"])
def test_a_library_covering_under_half_the_bands_is_refused(kit: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str], command: str) -> None:
    """The scene's 12 bands lie at 450-2400 nm, 177 nm apart (FWHM taken as that spacing): a 400-1000 nm library
    reaches the first 4 (982 nm is within half a FWHM), so 8 would be the nearest library value."""
    vnir = _library(tmp_path / "vnir.csv", 1000.0)
    args = (["simulate-targets", "--background", str(kit["dark"])] if command == "simulate-targets" else
            ["train", "--task", "detect", "--model", "test_point_detector", "--data", str(kit["dark"])])
    code, _, err = run_main(capsys, *args, "--targets", str(vnir), "--out", str(tmp_path / "out"), "--quiet")
    assert_one_error_line(code, err, f"{vnir}: covers 400-1000 nm, but 8 of the 12 good bands of {kit['dark']} "
                                     "(450-2400 nm) lie outside it", "at least 50% of the scene's bands")
    assert not (tmp_path / "out").exists()


def test_a_library_covering_half_the_bands_is_used_with_a_warning(kit: dict[str, Path], tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """400-1300 nm reaches 6 of the 12 bands (1336 nm is within half a FWHM, 1514 nm is not): exactly half, allowed;
    the run records how many bands took the nearest library value; hsi detect (no ground truth made) takes less,
    and scores on the bands the library covers."""
    half = _library(tmp_path / "half.csv", 1300.0)
    code, out, err = _train(capsys, kit, tmp_path / "run", "--quiet")  # the fixture library covers every band
    assert code == 0, err
    code, out, err = run_main(capsys, "train", "--task", "detect", "--model", "test_point_detector", "--data",
                              str(kit["dark"]), "--targets", str(half), "--epochs", "1", "--out", str(tmp_path / "run2"),
                              "--quiet")
    assert code == 0, err
    assert "6 cube bands lie outside the library's 400-1300 nm" in err
    assert json.loads((tmp_path / "run2" / "config.json").read_text())["extra"]["extrapolated_bands"] == 6
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["extrapolated_bands"] == 0
    vnir = _library(tmp_path / "vnir.csv", 1000.0)
    code, out, err = run_main(capsys, "detect", "--input", str(kit["dark"]), "--method", "ace", "--targets", str(vnir),
                              "--out", str(tmp_path / "ace.tif"), "--quiet")
    assert code == 0 and "so the 8 of the scene's 12 good bands outside it are left out" in err
