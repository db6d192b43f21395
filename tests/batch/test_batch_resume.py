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
