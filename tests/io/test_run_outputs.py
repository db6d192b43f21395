"""Output guards: an output is never an input, run folders are published only on success."""

from __future__ import annotations

from pathlib import Path

import pytest

from hsi_app.errors import OutputError
from hsi_app.io.atomic import check_out_dir, check_outputs, staged_run_dir


def test_check_outputs_sees_the_same_file_through_links_and_relative_paths(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "scene.tif"
    src.write_bytes(b"data")
    (tmp_path / "link.tif").symlink_to(src)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(OutputError, match="--out would overwrite the --input input"):
        check_outputs({"--out": "link.tif"}, {"--input": str(src)})
    with pytest.raises(OutputError, match="--out and --points are the same file"):
        check_outputs({"--out": "new.tif", "--points": str(tmp_path / "new.tif")}, {"--input": "scene.tif"})
    check_outputs({"--out": "new.tif", "--png": None}, {"--input": "scene.tif", "--labels": None})  # fine
    check_outputs({"--out": "indian_pines.tif"}, {"--input": "indian_pines"})  # a built-in name is not a file


def test_check_out_dir(tmp_path: Path) -> None:
    (tmp_path / "file.tif").write_bytes(b"x")
    with pytest.raises(OutputError, match="is an existing file; pass a folder"):
        check_out_dir(tmp_path / "file.tif")
    with pytest.raises(OutputError, match="is not a folder"):
        check_out_dir(tmp_path / "file.tif" / "run")
    with pytest.raises(OutputError, match="cannot create the run folder"):  # /proc refuses even root
        with staged_run_dir("/proc/hsi_run"):
            pass
    assert check_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # checking creates nothing


def test_staged_run_dir_publishes_on_success_and_keeps_other_files(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("old")
    (run / "notes.txt").write_text("mine")
    with staged_run_dir(run) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".run.partial-")
        assert (run / "config.json").read_text() == "old"  # nothing visible until the end
        (stage / "config.json").write_text("new")
        (stage / "model.safetensors").write_bytes(b"w")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == {
        "config.json": b"new", "model.safetensors": b"w", "notes.txt": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_staged_run_dir_failure_changes_nothing(tmp_path: Path, error: type[BaseException]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("old")
    with pytest.raises(error):
        with staged_run_dir(run) as stage:
            (stage / "config.json").write_text("half")
            raise error()
    assert (run / "config.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    with pytest.raises(OutputError, match="would overwrite this input"):
        with staged_run_dir(run, protect=[run / "config.json"]) as stage:
            (stage / "config.json").write_text("new")
    assert (run / "config.json").read_text() == "old"


def test_check_writable_tries_the_folder_and_refuses_empty_paths(tmp_path: Path) -> None:
    from hsi_app.errors import DatasetNotFoundError, LabelError
    from hsi_app.io import open_cube
    from hsi_app.io.atomic import check_writable
    from hsi_app.io.labels import sniff_label_format

    with pytest.raises(OutputError, match="cannot create files in /proc"):  # refused even for root
        check_writable("/proc/map.tif")
    with pytest.raises(OutputError, match="empty output path"):
        check_writable("")
    assert check_writable(tmp_path / "ok.tif") == tmp_path / "ok.tif"
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    with pytest.raises(DatasetNotFoundError, match="empty input path"):
        open_cube("")
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(LabelError, match="not a valid .npy file"):
        sniff_label_format(tmp_path / "bad.npy")


def test_outputs_get_the_umask_permissions_even_from_private_writers(tmp_path: Path) -> None:
    """safetensors writes 0600 files; a run folder others read must not hide its weights."""
    import os

    from hsi_app.io.atomic import FILE_MODE, atomic_path, atomic_paths

    mask = os.umask(0)
    os.umask(mask)
    assert FILE_MODE == 0o666 & ~mask
    with atomic_path(tmp_path / "w.safetensors") as tmp:
        tmp.write_bytes(b"x")
        os.chmod(tmp, 0o600)
    with atomic_paths({"a": tmp_path / "a.bin"}) as tmps:
        tmps["a"].write_bytes(b"y")
        os.chmod(tmps["a"], 0o600)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {
        "w.safetensors": FILE_MODE, "a.bin": FILE_MODE}


def test_check_out_dir_refuses_another_kind_of_run_and_run_files_over_inputs(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "ensemble.json").write_text("{}")
    with pytest.raises(OutputError, match=r"holds an `hsi ensemble` \(ensemble.json\); write this run to a folder"):
        check_out_dir(run, other_runs=("adapter.safetensors", "ensemble.json"))
    assert check_out_dir(run, other_runs=("model.safetensors",)) == run
    (run / "map.tif").write_bytes(b"scene")
    with pytest.raises(OutputError, match="map.tif: the run would overwrite this input"):
        check_out_dir(run, protect=[run / "map.tif"], writes=("config.json", "map.tif"))
    assert check_out_dir(run, protect=[run / "map.tif"], writes=("config.json",)) == run


def test_check_out_dir_refuses_a_run_of_another_task(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text('{"task": "classification", "model_name": "ssfcn"}')
    for task in ("denoise", "detect"):
        with pytest.raises(OutputError, match=rf"run: holds a classification run \(config.json\); write this {task} run "
                                              r"to a folder of its own \(another --out\)"):
            check_out_dir(run, task=task)
    assert check_out_dir(run, task="classification") == run  # a rerun of the same task replaces it
    assert check_out_dir(run) == run  # not a training run
    (run / "config.json").write_text("not json")
    assert check_out_dir(run, task="denoise") == run  # nothing readable to protect
    assert check_out_dir(tmp_path / "new", task="denoise") == tmp_path / "new"


def test_staged_run_dir_removes_the_optional_files_of_an_earlier_run(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for name in ("train_labels.tif", "config.json", "notes.txt"):
        (run / name).write_text("old")
    with staged_run_dir(run, replaces=("train_labels.tif", "absent.tif")) as stage:
        (stage / "config.json").write_text("new")
    assert {p.name: p.read_text() for p in run.iterdir()} == {"config.json": "new", "notes.txt": "old"}
    with staged_run_dir(run, replaces=("config.json",)) as stage:
        (stage / "config.json").write_text("newer")  # written again: kept
    assert (run / "config.json").read_text() == "newer"


def test_a_failed_run_removes_the_parent_folders_it_created(tmp_path: Path) -> None:
    """``--out a/b/run`` creates a/ and a/b/; a failed run takes them away again, unless they hold something."""
    with pytest.raises(KeyboardInterrupt):
        with staged_run_dir(tmp_path / "a" / "b" / "run") as stage:
            (stage / "config.json").write_text("{}")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with staged_run_dir(tmp_path / "a" / "b" / "run"):
            (tmp_path / "a" / "notes.txt").write_text("someone else's")
            raise RuntimeError
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a", "a/notes.txt"]
