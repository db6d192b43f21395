"""Temporaries left by a hard-killed run (SIGKILL, OOM killer) are swept after the next successful publish
beside them; ones younger than an hour, or whose writer is still running, are spared."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from hsi_app.io.atomic import atomic_path, partial_path, take_published
from hsi_app.io.stale_temporaries import is_stale, sweep_stale
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])
HOURS_AGO = time.time() - 2 * 3600


def dead_pid() -> int:
    """The pid of a process that has finished."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def make_old(path: Path, *, folder: bool = False) -> Path:
    """A temporary file (or staging folder with a file) last touched two hours ago."""
    if folder:
        path.mkdir()
        (path / "model.safetensors").write_bytes(b"half")
        os.utime(path / "model.safetensors", (HOURS_AGO, HOURS_AGO))
    else:
        path.write_bytes(b"half")
    os.utime(path, (HOURS_AGO, HOURS_AGO))
    return path


def test_only_old_temporaries_of_gone_writers_are_swept(tmp_path: Path) -> None:
    gone = dead_pid()
    out = tmp_path / "pred.tif"
    stale = [make_old(tmp_path / f".pred.tif.partial-{gone}-0a1b2c3d.tif"),
             make_old(tmp_path / f".pred.stage.tif.partial-{gone}-0a1b2c3d.tif"),
             make_old(tmp_path / ".pred.tif.partial-deadbeef.tif")]  # an older name, without a pid
    spared = [tmp_path / f".pred.tif.partial-{gone}-11111111.tif",  # fresh: a concurrent writer may own it
              make_old(tmp_path / f".pred.tif.partial-{os.getpid()}-22222222.tif"),  # its writer is running
              make_old(tmp_path / f".other.tif.partial-{gone}-33333333.tif"),  # another output's
              make_old(tmp_path / "pred.tif")]
    spared[0].write_bytes(b"in progress")
    assert sweep_stale([out]) == sorted(stale)
    assert all(p.exists() for p in spared) and not any(p.exists() for p in stale)


def test_a_staging_folder_counts_its_newest_file(tmp_path: Path) -> None:
    gone = dead_pid()
    old = make_old(tmp_path / f".run.partial-{gone}-0a1b2c3d", folder=True)
    busy = make_old(tmp_path / f".run.partial-{gone}-11111111", folder=True)
    (busy / "config.json").write_text("{}")  # written just now: the run may still be going
    os.utime(busy, (HOURS_AGO, HOURS_AGO))
    assert is_stale(old) and not is_stale(busy)
    assert sweep_stale([tmp_path / "run"]) == [old]
    assert busy.is_dir() and not old.exists()


def test_temporary_names_carry_the_writers_pid_and_publishing_is_recorded(tmp_path: Path) -> None:
    assert partial_path(tmp_path / "a.json").name.startswith(f".a.json.partial-{os.getpid()}-")
    take_published()
    with atomic_path(tmp_path / "a.json") as tmp:
        tmp.write_text("{}")
    assert take_published() == {tmp_path / "a.json"} and take_published() == set()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stale")
    labels = np.zeros((12, 10), np.uint8)
    labels[1:6, 1:9], labels[7:11, 1:9] = 1, 2
    cube = (np.arange(600).reshape(5, 12, 10) % 97 + labels.astype(np.int64) * 200).astype(np.int16)
    paths = {"scene": root / "scene.tif", "labels": root / "labels.tif"}
    for path, data in ((paths["scene"], cube), (paths["labels"], labels[None])):
        with rasterio.open(path, "w", driver="GTiff", height=12, width=10, count=data.shape[0], dtype=data.dtype,
                           crs="EPSG:32616", transform=from_origin(0.0, 0.0, 30.0, 30.0)) as ds:
            ds.write(data)
            ds.update_tags(wavelength=",".join(str(w) for w in WL[:data.shape[0]]), wavelength_units="nm")
    paths["run"] = make_run(root / "run", in_chans=5, num_classes=2, wavelengths=WL, like=cube)
    return paths


def test_predict_sweeps_what_a_killed_predict_left_and_says_so(files: dict[str, Path], tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    gone = dead_pid()
    stale = [make_old(tmp_path / f".pred.stage.tif.partial-{gone}-4e9ae55f.tif"),
             make_old(tmp_path / f".pred.tif.partial-{gone}-84467398.tif.ovr.tmp")]
    fresh = tmp_path / f".pred.tif.partial-{gone}-0badf00d.tif"
    fresh.write_bytes(b"another predict, still writing")
    code, _, err = run_main(capsys, "predict", "--model", str(files["run"]), "--input", str(files["scene"]),
                            "--out", str(tmp_path / "pred.tif"), "--quiet")
    assert code == 0, err
    assert not any(p.exists() for p in stale) and fresh.exists()
    assert err == (f"hsi: note: removed 2 stale temporary file(s) that an interrupted earlier run left in "
                   f"{tmp_path}\n")
    code, _, err = run_main(capsys, "predict", "--model", str(files["run"]), "--input", str(files["scene"]),
                            "--out", str(tmp_path / "pred.tif"), "--quiet")
    assert code == 0 and err == ""  # nothing more to sweep, nothing said


def test_train_sweeps_a_killed_runs_staging_folder(files: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    stale = make_old(tmp_path / f".run.partial-{dead_pid()}-99c87dc0", folder=True)
    code, _, err = run_main(capsys, "train", "--data", str(files["scene"]), "--labels", str(files["labels"]),
                            "--model", "svm", "--out", str(tmp_path / "run"), "--quiet")
    assert code == 0, err
    assert not stale.exists() and (tmp_path / "run" / "config.json").is_file()
    assert "hsi: note: removed 1 stale temporary file(s)" in err
