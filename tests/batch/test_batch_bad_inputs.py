"""Bad `hsi batch` options are refused up front: one line, exit 2, before any cluster starts or output is made."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cli_runner import assert_one_error_line, run_main


@pytest.fixture
def scenes(tmp_path: Path, kit) -> Path:  # noqa: ANN001
    kit.write_scene(tmp_path / "sc" / "a.tif", 12, 10, 1)
    kit.write_scene(tmp_path / "sc" / "b.tif", 12, 10, 2)
    return tmp_path / "sc"


def _run_of_task(src: Path, dst: Path, task: str) -> Path:
    """A copy of the classification run whose config.json says it was trained for ``task``."""
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg["task"] = task
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def _batch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code, _, err = run_main(capsys, "batch", "--quiet", "--no-dashboard", *args)
    return code, err


@pytest.mark.parametrize("value", ["banana", "-1GB", "4XB"])
def test_memory_limit_is_parsed_up_front(scenes: Path, run_dir: Path, tmp_path: Path, value: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _batch(capsys, "--model", str(run_dir), "--inputs", str(scenes), "--out-dir", str(out),
                       "--memory-limit", value)
    assert_one_error_line(code, err, "--memory-limit", "4GB")
    assert not out.exists()


@pytest.mark.parametrize("value", ["4GB", "512 MiB", "auto", "0", "0.5"])
def test_memory_limit_accepts_what_dask_accepts(value: str) -> None:
    from hsi_app.cli.batch_cmd import check_memory_limit

    check_memory_limit(value)


@pytest.mark.parametrize("args", [("--workers", "0"), ("--workers", "-2"), ("--threads-per-worker", "0")])
def test_workers_at_least_one(scenes: Path, run_dir: Path, tmp_path: Path, args: tuple[str, str],
                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _batch(capsys, "--model", str(run_dir), "--inputs", str(scenes), "--out-dir", str(out), *args)
    assert_one_error_line(code, err, args[0], "at least 1")
    assert not out.exists()


def test_out_dir_that_is_a_file_or_cannot_be_created(scenes: Path, run_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    scene = scenes / "a.tif"
    before = scene.read_bytes()
    for out in (scene, scene / "sub"):
        code, err = _batch(capsys, "--model", str(run_dir), "--inputs", str(scenes), "--out-dir", str(out))
        assert_one_error_line(code, err, "--out-dir", "a.tif")
    assert scene.read_bytes() == before
    if os.path.isdir("/proc"):  # a folder nobody can create a folder in, even root
        code, err = _batch(capsys, "--model", str(run_dir), "--inputs", str(scenes), "--out-dir", "/proc/hsi_batch_out")
        assert_one_error_line(code, err, "--out-dir", "/proc/hsi_batch_out")


@pytest.mark.parametrize(("task", "run_task", "hint"), [
    ("denoise", "classification", "--task classify"),
    ("classify", "denoise", "--task denoise"),
    ("classify", "detect", "--task detect"),
])
def test_run_of_another_task_is_refused_before_the_cluster(scenes: Path, run_dir: Path, tmp_path: Path, task: str,
                                                           run_task: str, hint: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    model = run_dir if run_task == "classification" else _run_of_task(run_dir, tmp_path / f"{run_task}_run", run_task)
    out = tmp_path / "out"
    code, err = _batch(capsys, "--task", task, "--model", str(model), "--inputs", str(scenes), "--out-dir", str(out),
                       "--workers", "1")
    assert_one_error_line(code, err, str(model), repr(run_task), f"--task {task}", hint)
    assert not out.exists()  # nothing started, nothing written, no report


def test_scenes_only_inside_out_dir_say_so(scenes: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _batch(capsys, "--model", str(run_dir), "--inputs", str(scenes / "*.tif"), "--out-dir", str(scenes))
    assert_one_error_line(code, err, "inside --out-dir", "outside")
    assert "quote globs" not in err
    assert sorted(p.name for p in scenes.iterdir()) == ["a.tif", "b.tif"]


def test_no_scenes_at_all_is_one_line(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = _batch(capsys, "--model", str(run_dir), "--out-dir", str(tmp_path / "out"))
    assert_one_error_line(code, err, "no scenes", "--inputs")
    assert not (tmp_path / "out").exists()


def test_a_glob_the_shell_expanded_is_taken_whole(scenes: Path, run_dir: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`--inputs sc/*.tif` unquoted reaches us as `--inputs sc/a.tif sc/b.tif`: both scenes run."""
    out = tmp_path / "out"
    code, err = _batch(capsys, "--model", str(run_dir), "--inputs", str(scenes / "a.tif"), str(scenes / "b.tif"),
                       "--out-dir", str(out), "--workers", "1")
    assert code == 0, err
    rows = json.loads((out / "report.json").read_text())["inputs"]
    assert sorted((Path(r["input"]).name, r["status"]) for r in rows) == [("a.tif", "done"), ("b.tif", "done")]


@pytest.mark.parametrize(("args", "needles"), [
    (("--smooth", "median"), ("--smooth 'median'", "guided:R,EPS")),
    (("--smooth", "guided", "--task", "denoise"), ("--smooth", "only used with --task classify", "--task denoise")),
])
def test_smooth_is_checked_before_the_cluster(scenes: Path, run_dir: Path, tmp_path: Path, args: tuple[str, ...],
                                              needles: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = _batch(capsys, "--model", str(run_dir), "--inputs", str(scenes), "--out-dir", str(out), *args)
    assert_one_error_line(code, err, *needles)
    assert not out.exists()


@pytest.mark.parametrize(("edit", "detail"), [("std", "'std' entry 2 is 0.0"), ("nan", "hold NaN or inf")])
def test_a_run_that_would_fail_every_scene_is_refused_before_the_cluster(scenes: Path, run_dir: Path, tmp_path: Path,
                                                                         edit: str, detail: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """README: exit 2 for a bad model folder (it was exit 1 after every scene failed in a worker)."""
    import json
    import shutil

    import numpy as np
    from safetensors.numpy import load_file, save_file

    bad = tmp_path / "bad_run"
    shutil.copytree(run_dir, bad)
    if edit == "std":
        cfg = json.loads((bad / "config.json").read_text())
        cfg["std"][2] = 0.0
        (bad / "config.json").write_text(json.dumps(cfg))
    else:
        tensors = load_file(str(bad / "model.safetensors"))
        key = next(k for k in sorted(tensors) if tensors[k].ndim > 1)
        tensors[key] = np.full_like(tensors[key], np.nan)
        save_file(tensors, str(bad / "model.safetensors"))
    out = tmp_path / "out"
    code, err = _batch(capsys, "--model", str(bad), "--inputs", str(scenes), "--out-dir", str(out), "--workers", "1")
    assert_one_error_line(code, err, str(bad), detail)
    assert not out.exists()
