"""A task that kills its workers (out of memory at --memory-limit) fails its scene with one line saying what to change."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from distributed import Client, KilledWorker, LocalCluster

from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch import driver, run
from hsi_app.cli.main import main

WINDOW = 16  # big.tif (70 x 60) has 20 windows: split into window tasks
THREADS = ClusterOptions(workers=1, threads_per_worker=1, processes=False, dashboard=False)
HINT = "killed, most likely out of memory; pass a smaller --window or a larger --memory-limit"


def _killed(*args: Any, **kwargs: Any) -> Any:
    """What the client sees after dask gave up on a task whose workers all died."""
    raise KilledWorker("scene-0", SimpleNamespace(address="tcp://127.0.0.1:1"), 3)


def test_one_line_error_of_a_killed_worker_names_memory_and_the_options() -> None:
    line = run.one_line_error(KilledWorker("scene-0", SimpleNamespace(address="tcp://127.0.0.1:1"), 3))
    assert line.startswith("KilledWorker: ") and HINT in line and "\n" not in line


@pytest.mark.parametrize(("target", "scene"), [("scene_task", "a.tif"), ("window_task", "big.tif")])
def test_killed_scene_and_killed_window_fail_only_their_scene(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               run_dir: Path, kit, target: str, scene: str) -> None:  # noqa: ANN001
    kit.write_scene(tmp_path / "scenes" / scene, *((70, 60) if scene == "big.tif" else (24, 20)), 1)
    monkeypatch.setattr(driver if target == "scene_task" else run, target, _killed)
    result = run_batch("classify", run_dir, [str(tmp_path / "scenes")], tmp_path / "out", cluster=THREADS,
                       window=WINDOW, progress=False, echo=lambda s: None)
    [row] = result.rows
    assert row.status == "failed" and HINT in row.error
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert HINT in json.dumps(report)


def test_a_result_reporting_a_killed_worker_is_explained() -> None:
    row = driver._row(SimpleNamespace(source="x.tif"), Path("x_classes.tif"),  # type: ignore[arg-type]
                      {"status": "failed", "error": "KilledWorker: Attempted to run task 'scene-0' on 3 workers"})
    assert row.error == run.KILLED_WORKER


def test_cli_prints_one_line_per_killed_scene_and_exits_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          run_dir: Path, kit, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    for name, seed in (("a.tif", 1), ("b.tif", 2)):
        kit.write_scene(tmp_path / "scenes" / name, 24, 20, seed)
    monkeypatch.setattr(driver, "scene_task", _killed)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster), pytest.raises(SystemExit) as exit_info:
        main(["batch", "--task", "classify", "--model", str(run_dir), "--inputs", str(tmp_path / "scenes"),
              "--out-dir", str(tmp_path / "out"), "--scheduler", cluster.scheduler_address, "--quiet"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("hsi batch: failed:")]
    assert len(lines) == 2 and all(HINT in ln for ln in lines), lines
    assert "unexpected" not in err
