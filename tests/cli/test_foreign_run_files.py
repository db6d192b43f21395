"""A run folder's or a default output's name already taken by a file hsi did not write is refused, not replaced."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hsi_app.errors import OutputError
from hsi_app.io.atomic import check_out_dir
from tests.cli_runner import assert_one_error_line, run_main

LIB = Path(__file__).parents[2] / "datasets" / "spectral_library_demo.csv"


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cwd: a folder ``res`` holding the user's own ``map.tif`` (bytes no run writes), and a base run ``R``."""
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "map.tif").write_bytes(b"the user's own map")
    (tmp_path / "R").mkdir()
    (tmp_path / "R" / "config.json").write_text('{"task": "classification"}')
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["train", "--model", "svm", "--data", "indian_pines", "--out", "res"],
    ["finetune", "--base", "R", "--data", "indian_pines", "--lora-rank", "2", "--out", "res"],
])
def test_a_user_file_with_a_run_file_name_is_refused_before_any_work(capsys: pytest.CaptureFixture[str], work: Path,
                                                                     args: list[str]) -> None:
    before = _tree(work)
    code, _, err = run_main(capsys, *args)
    assert_one_error_line(code, err, "res", "map.tif", "move it", "--out")
    assert _tree(work) == before  # the user's map is still there, byte for byte


def test_detector_training_refuses_a_user_metrics_file(capsys: pytest.CaptureFixture[str], work: Path) -> None:
    (work / "res" / "metrics.json").write_text('{"my": "notes"}')
    before = _tree(work)
    code, _, err = run_main(capsys, "train", "--task", "detect", "--data", "indian_pines", "--targets", str(LIB),
                            "--out", "res")
    assert_one_error_line(code, err, "metrics.json", "--out")
    assert _tree(work) == before


@pytest.mark.parametrize("task, writes", [
    ("classification", ("config.json", "map.tif", "metrics.json")),
    ("denoise", ("config.json", "model.safetensors", "metrics.json")),
])
def test_check_out_dir_names_every_foreign_file(tmp_path: Path, task: str, writes: tuple[str, ...]) -> None:
    for name in ("metrics.json", "notes.txt", "config.json"):
        (tmp_path / name).write_text("{}")  # a config.json without a task is no earlier run
    with pytest.raises(OutputError) as err:
        check_out_dir(tmp_path, writes=writes, task=task)
    assert "config.json, metrics.json" in str(err.value) and "notes.txt" not in str(err.value)
    assert f"no earlier {task} run (its config.json is unreadable or records no task)" in str(err.value)
    (tmp_path / "metrics.json").unlink()
    (tmp_path / "config.json").write_text('{"task": "classif')  # cut short: unreadable
    with pytest.raises(OutputError, match=r"holds config.json but no earlier .* run \(its config.json is unreadable"):
        check_out_dir(tmp_path, writes=writes, task=task)


def test_a_rerun_into_an_earlier_run_of_this_kind_still_replaces_its_files(tmp_path: Path) -> None:
    (tmp_path / "map.tif").write_bytes(b"earlier run's map")
    (tmp_path / "config.json").write_text(json.dumps({"task": "classification"}))
    assert check_out_dir(tmp_path, writes=("config.json", "map.tif"), task="classification") == tmp_path
    ft = tmp_path / "ft"
    ft.mkdir()
    (ft / "map.tif").write_bytes(b"earlier fine-tune's map")
    with pytest.raises(OutputError, match="no earlier run with adapter.safetensors"):
        check_out_dir(ft, writes=("adapter.safetensors", "map.tif"), marker="adapter.safetensors")
    (ft / "adapter.safetensors").write_bytes(b"adapter")
    assert check_out_dir(ft, writes=("adapter.safetensors", "map.tif"), marker="adapter.safetensors") == ft
    assert check_out_dir(tmp_path / "new", writes=("map.tif",), task="classification") == tmp_path / "new"


def test_denoise_default_metrics_path_refuses_a_file_hsi_did_not_write(capsys: pytest.CaptureFixture[str],
                                                                       work: Path) -> None:
    (work / "d.metrics.json").write_text('{"my": "notes"}')
    before = _tree(work)
    code, _, err = run_main(capsys, "denoise", "--model", "R", "--input", "indian_pines", "--reference",
                            "indian_pines", "--out", "d.tif")
    assert_one_error_line(code, err, "d.metrics.json", "not an earlier hsi denoise metrics file", "--metrics")
    assert _tree(work) == before


def test_denoise_stale_metrics_removes_only_an_earlier_denoise_report(tmp_path: Path) -> None:
    from hsi_app.cli.denoise_cmd import stale_metrics

    out = tmp_path / "d.tif"
    mine = tmp_path / "d.metrics.json"
    mine.write_text('{"my": "notes"}')
    assert stale_metrics(str(out), None) == []  # the user's file is not deleted when no metrics are written
    mine.write_text(json.dumps({"model": "hsdt_s", "window": 256, "halo": 117, "seconds": 1.0, "psnr": 30}))
    assert stale_metrics(str(out), None) == [mine.absolute()]  # an earlier run's scores go with its cube
    assert stale_metrics(str(out), mine) == []  # rewritten by this run
