"""Resume after `kill -9` of a running `hsi batch`: nothing done is lost, nothing is done twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio

from hsi_app.batch import ClusterOptions, run_batch
from hsi_app.batch.state import is_done, model_hash

HSI = Path(sys.executable).parent / "hsi"
N = 6
SIZE = 160


def test_kill_minus_nine_then_rerun(run_dir: Path, kit, tmp_path: Path) -> None:  # noqa: ANN001
    scenes = [kit.write_scene(tmp_path / "scenes" / f"s{i}.tif", SIZE, SIZE, i) for i in range(N)]
    out = tmp_path / "out"
    cmd = [str(HSI), "batch", "--task", "classify", "--model", str(run_dir), "--inputs", str(tmp_path / "scenes" / "*.tif"),
           "--out-dir", str(out), "--workers", "1", "--no-dashboard", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("*.hsi.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the client and its worker processes, like kill -9 of the job
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    sha = model_hash(run_dir)
    outputs = [out / f"s{i}_classes.tif" for i in range(N)]
    done_before = {o: o.stat().st_mtime_ns for o, s in zip(outputs, scenes)
                   if is_done(o, task="classify", model_sha=sha, source=s)}
    assert 1 <= len(done_before) < N, "the kill should land mid-way"

    res = run_batch("classify", run_dir, [str(tmp_path / "scenes" / "*.tif")], out, progress=False, echo=lambda s: None,
                    cluster=ClusterOptions(workers=1, processes=False, dashboard=False))
    status = {Path(r.output).name: r.status for r in res.rows}
    assert all(status[o.name] == "skipped" for o in done_before)  # nothing done twice...
    assert all(status[o.name] == "done" for o in outputs if o not in done_before)  # ...nothing lost
    assert {o: o.stat().st_mtime_ns for o in done_before} == done_before
    expected = {o.name for o in outputs} | {o.name + ".hsi.json" for o in outputs} | {"report.json", "report.csv"}
    assert {p.name for p in out.iterdir()} == expected  # no duplicates, no temporary files

    from hsi_app.infer import predict_scene
    from hsi_app.io.open import open_cube
    from hsi_app.predictor import Predictor

    pred = Predictor.load(run_dir, device="cpu")
    for o, s in zip(outputs, scenes):
        cube = open_cube(s)
        ref = predict_scene(pred.bind(cube), cube, num_classes=pred.num_classes, halo=pred.receptive_radius,
                            keep_map=True, progress=False).classes
        with rasterio.open(o) as ds:
            np.testing.assert_array_equal(ds.read(1), ref)


def _local() -> ClusterOptions:
    return ClusterOptions(workers=1, processes=False, dashboard=False)


def test_one_batch_per_output_folder_and_stale_locks_are_taken_over(run_dir: Path, kit, tmp_path: Path) -> None:  # noqa: ANN001
    import pytest

    from hsi_app.batch.state import LOCK_NAME, out_dir_lock
    from hsi_app.errors import ConfigError

    kit.write_scene(tmp_path / "in" / "a.tif", 20, 24, 1)
    out = tmp_path / "out"
    out.mkdir()
    with out_dir_lock(out):  # another batch (this process) holds the folder ...
        (out / LOCK_NAME).write_text("1")  # ... as a live pid (init) would
        with pytest.raises(ConfigError, match="another `hsi batch` \\(pid 1\\) is writing there"):
            run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None,
                      cluster=_local())
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    (out / LOCK_NAME).write_text(str(ended.pid))  # a lock left by a process that has ended
    res = run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None,
                    cluster=_local())
    assert [r.status for r in res.rows] == ["done"] and not (out / LOCK_NAME).exists()


def test_a_lock_is_held_from_its_first_moment_not_only_once_its_pid_is_written(tmp_path: Path) -> None:
    """An owner that has created the lock file but not yet written its pid still holds the folder."""
    import fcntl

    import pytest

    from hsi_app.batch.state import LOCK_NAME, out_dir_lock
    from hsi_app.errors import ConfigError

    lock = tmp_path / LOCK_NAME
    fd = os.open(lock, os.O_CREAT | os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # an owner in the moment before it writes its pid
        with pytest.raises(ConfigError, match=r"another `hsi batch` \(pid starting\) is writing there"):
            with out_dir_lock(tmp_path):
                pass
        assert lock.exists() and lock.read_text() == ""  # the owner's lock is untouched
    finally:
        os.close(fd)
    with out_dir_lock(tmp_path):  # released (as when the owner's process ends): taken
        assert lock.read_text() == str(os.getpid())
    assert not lock.exists()


def test_leftover_temporaries_are_swept_and_envi_header_edits_redo_the_scene(run_dir: Path, kit,  # noqa: ANN001
                                                                            tmp_path: Path) -> None:
    from hsi_app.batch.state import input_fingerprint
    from hsi_app.io.open import open_cube

    kit.write_scene(tmp_path / "in" / "a.tif", 20, 24, 1)
    out = tmp_path / "out"
    run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None, cluster=_local())
    junk = out / ".a_classes.stage.tif.partial-deadbeef.tif"  # what a killed worker's attempt leaves
    junk.write_bytes(b"half")
    res = run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None,
                    cluster=_local())
    assert [r.status for r in res.rows] == ["skipped"] and not junk.exists()

    envi = tmp_path / "envi"
    envi.mkdir()
    import spectral.io.envi as spy

    cube = open_cube(tmp_path / "in" / "a.tif")
    spy.save_image(str(envi / "b.hdr"), np.asarray(cube.values).transpose(1, 2, 0), interleave="bsq",
                   metadata={"wavelength": [f"{w:.2f}" for w in cube.hsi.wavelengths]})
    before = input_fingerprint(envi / "b.img")
    hdr = envi / "b.hdr"
    time.sleep(0.01)
    hdr.write_text(hdr.read_text() + "description = {edited}\n")  # only the header changes
    assert input_fingerprint(envi / "b.img") != before
    assert input_fingerprint(hdr) == input_fingerprint(envi / "b.img")  # the pair, whichever file is named


def test_an_output_damaged_in_place_at_the_same_size_is_redone(run_dir: Path, kit, tmp_path: Path) -> None:  # noqa: ANN001
    kit.write_scene(tmp_path / "in" / "a.tif", 20, 24, 1)
    out = tmp_path / "out"
    run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None, cluster=_local())
    dst = out / "a_classes.tif"
    good = dst.read_bytes()
    damaged = bytearray(good)
    damaged[8:16] = bytes(8)  # same size, broken header
    time.sleep(0.01)
    dst.write_bytes(bytes(damaged))
    res = run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None,
                    cluster=_local())
    assert [r.status for r in res.rows] == ["done"]
    with rasterio.open(dst) as ds:
        assert ds.read(1).shape == (20, 24)


def test_an_interrupted_batch_still_writes_its_report(run_dir: Path, kit, tmp_path: Path,  # noqa: ANN001
                                                      monkeypatch) -> None:  # noqa: ANN001
    import json

    import pytest

    from hsi_app.batch import driver

    for i in range(2):
        kit.write_scene(tmp_path / "in" / f"s{i}.tif", 20, 24, i + 1)
    out = tmp_path / "out"

    from hsi_app.io.atomic import partial_path

    half_written: list[Path] = []

    def first_then_ctrl_c(client, settings, todo, rows, progress, *, stop=None) -> None:  # noqa: ANN001
        rows[todo[0][0]] = driver.SceneReport(str(todo[0][1].source), "done", 1.0, str(todo[0][2]), 20, 24, 1)
        half_written.append(partial_path(todo[1][2]))  # the second scene's worker was writing when the signal came
        half_written[0].write_bytes(b"II*\x00")
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "_collect", first_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None,
                  cluster=_local())
    report = json.loads((out / "report.json").read_text())
    assert report["interrupted"] is True and report["unfinished"] == 1 and report["summary"]["done"] == 1
    assert not (out / ".hsi_batch.lock").exists()
    assert half_written and not half_written[0].exists()


def test_sigterm_is_handled_like_ctrl_c() -> None:
    """`kill` a running hsi command: one 'interrupted' line and exit 130, like Ctrl-C."""
    # the command itself sends the signal, so it always arrives after main() set its handler
    code = ("import os, signal, sys, time; sys.argv = ['hsi', 'info', 'indian_pines'];"
            "from hsi_app.cli import main as m;"
            "m.cli.main = lambda **kw: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(30)); m.main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 130 and "hsi: interrupted" in proc.stderr, (proc.returncode, proc.stderr)


def test_an_interrupted_report_counts_scenes_finished_on_disk(run_dir: Path, kit, tmp_path: Path,  # noqa: ANN001
                                                              monkeypatch) -> None:  # noqa: ANN001
    """A worker finished a scene (output and sidecar written) but the signal came before the client heard:
    the report counts it done, as the rerun does (it skips it)."""
    import json

    import pytest

    from hsi_app.batch import driver
    from hsi_app.batch.run import scene_task

    for i in range(3):
        kit.write_scene(tmp_path / "in" / f"s{i}.tif", 20, 24, i + 1)
    out = tmp_path / "out"

    def two_finish_then_ctrl_c(client, settings, todo, rows, progress, *, stop=None) -> None:  # noqa: ANN001
        i0, item0, dst0, fp0 = todo[0]
        assert scene_task(settings, item0, str(dst0), fp0)["status"] == "done"
        rows[i0] = driver.SceneReport(str(item0.source), "done", 1.0, str(dst0), 20, 24, 1)
        _, item1, dst1, fp1 = todo[1]
        assert scene_task(settings, item1, str(dst1), fp1)["status"] == "done"  # finished, not yet collected
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "_collect", two_finish_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None,
                  cluster=_local())
    monkeypatch.undo()
    report = json.loads((out / "report.json").read_text())
    assert report["unfinished"] == 1 and report["summary"]["done"] == 2
    again = run_batch("classify", run_dir, [str(tmp_path / "in")], out, progress=False, echo=lambda s: None,
                      cluster=_local())
    assert sorted(r.status for r in again.rows) == ["done", "skipped", "skipped"]
