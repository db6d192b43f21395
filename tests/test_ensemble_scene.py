"""`hsi ensemble` scores the scene its members were trained on, found from any folder, or refuses.

Runs record their scene as an absolute path with the identity of its contents; the scene opened
again is checked against it. Scenario of audit D (session 49, finding 1): members trained with a
relative ``--data scene.tif``, scored from another folder that holds a different scene of the same
name and size.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line, run_main
from tif_writer import write_tif
from hsi_app.cli.main import main

TRANSFORM = from_origin(440000.0, 3750000.0, 30.0, 30.0)
SIZE = (32, 30)


def _write_tif(path: Path, data: np.ndarray, wavelengths: np.ndarray | None = None) -> Path:
    return write_tif(path, data, wavelengths, transform=TRANSFORM)


def _scene_values() -> tuple[np.ndarray, np.ndarray]:
    """(12, 32, 30) int16 spectra of 4 classes in blocks, and the (32, 30) labels."""
    rng = np.random.default_rng(0)
    labels = np.zeros(SIZE, np.uint8)
    for k, (r, c) in enumerate([(1, 1), (1, 16), (17, 1), (17, 16)], start=1):
        labels[r:r + 13, c:c + 12] = k
    x = np.linspace(0, 1, 12)
    spectra = np.stack([0.2 + 0.1 * k * x + 0.05 * np.sin(6 * x * (k + 1)) for k in range(5)])
    cube = (spectra[labels].transpose(2, 0, 1) + 0.01 * rng.standard_normal((12, *SIZE))) * 10000
    return cube.astype(np.int16), labels


WAVELENGTHS = np.linspace(420, 2400, 12)


@contextmanager
def _cwd(folder: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _code(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def proj(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """proj/scene.tif and its labels; runs m0, m1 (init seeds 0, 1) trained there with ``--data scene.tif``
    (relative), and m2 with the scene's absolute path; all on one random:0.2 split (seed 0)."""
    root = tmp_path_factory.mktemp("ens_scene")
    folder = root / "proj"
    folder.mkdir()
    cube, labels = _scene_values()
    _write_tif(folder / "scene.tif", cube, WAVELENGTHS)
    _write_tif(folder / "scene_labels.tif", labels[None])
    with _cwd(folder):
        for name, data, seed in (("m0", "scene.tif", "0"), ("m1", "scene.tif", "1"),
                                 ("m2", str(folder / "scene.tif"), "2")):
            assert _code("train", "--data", data, "--labels", "scene_labels.tif", "--model", "test_ssfcn",
                         "--split", "random:0.2", "--epochs", "1", "--init-seed", seed, "--out", f"runs/{name}",
                         "--quiet") == 0
    return folder


@pytest.fixture(scope="module")
def reference_oa(proj: Path, tmp_path_factory: pytest.TempPathFactory) -> float:
    """OA of the m0 + m1 ensemble scored on proj/scene.tif named explicitly by its absolute path."""
    out = tmp_path_factory.mktemp("ens_ref") / "ens"
    assert _code("ensemble", "--model", str(proj / "runs/m0"), "--model", str(proj / "runs/m1"), "--data",
                 str(proj / "scene.tif"), "--out", str(out), "--quiet") == 0
    return float(json.loads((out / "metrics.json").read_text())["oa"])


def _other_folder(root: Path) -> Path:
    """root/other/scene.tif: the scene turned 180 degrees (same name, size and bands, other pixels)."""
    other = root / "other"
    other.mkdir()
    cube, _ = _scene_values()
    _write_tif(other / "scene.tif", np.ascontiguousarray(cube[:, ::-1, ::-1]), WAVELENGTHS)
    return other


def test_runs_record_the_scenes_absolute_path(proj: Path) -> None:
    """``--data scene.tif`` typed in proj is stored as proj/scene.tif resolved, and so are its identity's paths."""
    cfg = json.loads((proj / "runs/m0/config.json").read_text())
    want = str((proj / "scene.tif").resolve())
    assert cfg["data"] == want
    assert [f["path"] for f in cfg["extra"]["data_identity"]["scene"]["files"]] == [want]
    assert json.loads((proj / "runs/m2/config.json").read_text())["data"] == want


def test_another_folders_same_size_scene_is_not_scored(proj: Path, reference_oa: float, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """From a folder holding another scene.tif of the same size, the members' own scene is scored (the OA of
    naming it with --data), not the one in the current folder (whose OA differs)."""
    other = _other_folder(tmp_path)
    with _cwd(other):
        code, _, err = run_main(capsys, "ensemble", "--model", str(proj / "runs/m0"), "--model",
                                str(proj / "runs/m1"), "--out", "ens", "--quiet")
        assert code == 0, err
        assert "warning" not in err
        got = json.loads((other / "ens/metrics.json").read_text())
        assert run_main(capsys, "ensemble", "--model", str(proj / "runs/m0"), "--model", str(proj / "runs/m1"),
                        "--data", "scene.tif", "--out", "ens_other", "--quiet")[0] == 0
    wrong = json.loads((other / "ens_other/metrics.json").read_text())["oa"]
    assert got["oa"] == pytest.approx(reference_oa)
    assert wrong != pytest.approx(reference_oa)  # the rotated scene scores otherwise: the check above can fail
    assert got["data"] == str((proj / "scene.tif").resolve())


def test_a_changed_or_missing_scene_is_refused(proj: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """The members' scene replaced by another of the same name and size, or gone: one error line naming the
    member's config.json and --data; nothing is written."""
    copy = tmp_path / "proj"
    shutil.copytree(proj, copy)
    for name in ("m0", "m1"):  # runs that name the copy's scene, with its identity
        cfg = json.loads((copy / "runs" / name / "config.json").read_text())
        cfg["data"] = str(copy / "scene.tif")
        (copy / "runs" / name / "config.json").write_text(json.dumps(cfg, indent=2))
    members = ["--model", str(copy / "runs/m0"), "--model", str(copy / "runs/m1")]
    assert run_main(capsys, "ensemble", *members, "--out", str(tmp_path / "ok"), "--quiet")[0] == 0
    rotated = _other_folder(tmp_path) / "scene.tif"
    shutil.copy(rotated, copy / "scene.tif")
    assert (copy / "scene.tif").stat().st_size == (proj / "scene.tif").stat().st_size
    code, _, err = run_main(capsys, "ensemble", *members, "--out", str(tmp_path / "ens"), "--quiet")
    assert_one_error_line(code, err, f"{copy / 'runs/m0/config.json'} names scene {copy / 'scene.tif'}",
                          "missing or has changed since training", "pass --data SCENE")
    assert not (tmp_path / "ens").exists()
    (copy / "scene.tif").unlink()
    code, _, err = run_main(capsys, "ensemble", *members, "--out", str(tmp_path / "ens"), "--quiet")
    assert_one_error_line(code, err, "runs/m0/config.json names scene", "missing or has changed", "--data SCENE")
    assert not (tmp_path / "ens").exists()
    # --data still scores any scene of the split's size
    code, _, err = run_main(capsys, "ensemble", *members, "--data", str(proj / "scene.tif"), "--out",
                            str(tmp_path / "ens"), "--quiet")
    assert code == 0, err


def test_members_given_the_scene_relatively_and_absolutely_are_one_scene(proj: Path, reference_oa: float,
                                                                         tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "ensemble", "--model", str(proj / "runs/m0"), "--model", str(proj / "runs/m2"),
                            "--out", str(tmp_path / "ens"), "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "ens/metrics.json").read_text())
    assert metrics["n_test"] > 0 and len(metrics["members"]) == 2


def _as_old_run(run: Path, dest: Path) -> Path:
    """A copy of ``run`` as written before session 49: ``data`` as typed, no data_identity."""
    shutil.copytree(run, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["data"] = "scene.tif"
    del cfg["extra"]["data_identity"]
    (dest / "config.json").write_text(json.dumps(cfg, indent=2))
    return dest


def test_old_runs_resolve_their_scene_in_the_current_folder_with_one_warning(
        proj: Path, reference_oa: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = [_as_old_run(proj / "runs" / name, tmp_path / f"old_{name}") for name in ("m0", "m1")]
    members = [a for run in old for a in ("--model", str(run))]
    with _cwd(proj):
        code, _, err = run_main(capsys, "ensemble", *members, "--out", str(tmp_path / "ens"), "--quiet")
    assert code == 0, err
    assert err.count("hsi: warning:") == 1 and "could not be verified" in err and "--data SCENE" in err, err
    assert f"{old[0] / 'config.json'} names scene scene.tif" in err
    assert json.loads((tmp_path / "ens/metrics.json").read_text())["oa"] == pytest.approx(reference_oa)
    # from a folder without that file: refused, naming the config and --data (not only "scene.tif: no such file")
    empty = tmp_path / "empty"
    empty.mkdir()
    with _cwd(empty):
        code, _, err = run_main(capsys, "ensemble", *members, "--out", "ens", "--quiet")
    assert_one_error_line(code, err, "old_m0/config.json names scene scene.tif", "--data SCENE")
    # an old run and a new one on the same file are one scene when the old one's path resolves to it
    with _cwd(proj):
        code, _, err = run_main(capsys, "ensemble", "--model", str(old[0]), "--model", str(proj / "runs/m1"),
                                "--out", str(tmp_path / "mixed"), "--quiet")
    assert code == 0, err
    assert "warning" not in err  # the new member's identity verifies the scene


def test_members_trained_on_a_cube_changed_in_python_need_data(proj: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Runs trained in Python on the scene scaled to reflectance (``cube * 0.0001``) record that their values were
    changed after reading (``data`` still names the file): ``hsi ensemble`` without --data refuses with one line
    instead of scoring the file's raw values (x 10000) through them; given the values they were trained on, it
    scores them."""
    from hsi_app.ensemble import evaluate_ensemble, write_ensemble
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    scaled = open_cube(proj / "scene.tif", labels=proj / "scene_labels.tif") * 0.0001
    runs = []
    for seed in (0, 1):
        opts = TrainOptions(model="test_ssfcn", split="random:0.2", epochs=1, init_seed=seed, progress=False)
        train_classifier(scaled, tmp_path / f"s{seed}", opts)
        runs.append(tmp_path / f"s{seed}")
    cfg = json.loads((runs[0] / "config.json").read_text())
    assert cfg["data"] == str((proj / "scene.tif").resolve())
    assert cfg["extra"]["data_identity"]["scene"]["changed_in_memory"] is True
    members = [a for run in runs for a in ("--model", str(run))]
    code, _, err = run_main(capsys, "ensemble", *members, "--out", str(tmp_path / "ens"), "--quiet")
    assert_one_error_line(code, err, f"{runs[0] / 'config.json'}: trained on a cube changed in Python after it was "
                          f"read from {(proj / 'scene.tif').resolve()}", "pass --data SCENE")
    assert not (tmp_path / "ens").exists()
    folder = tmp_path / "ens_py"
    write_ensemble(folder, runs)
    metrics = evaluate_ensemble(folder, data=scaled, progress=False)
    assert metrics is not None and metrics["n_test"] > 0
