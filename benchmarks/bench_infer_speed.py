"""``hsi predict`` of one code version against another, interleaved: wall time, the prediction loop's time,
peak RSS, and whether the two maps are the same bytes.

Each case (a run folder and a scene: a file or a built-in name) is predicted by the baseline's code and
by this checkout's, in fresh processes, alternating which goes first, ``--repeats`` times each, so that
other load on the machine falls on both. The baseline is ``git archive REV hsi_app`` of this repository
(its ``datasets/`` and ``models/`` are this checkout's). A large synthetic scene and a random-weight
``ssfcn`` run are made with ``--size N`` (bench_scene_scale.py's int16 tiled GeoTIFF, ``--bands``).

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_infer_speed.py --baseline REV
[--case RUN INPUT ...] [--size 2048 --bands 200] [--repeats 2]``
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def baseline_source(rev: str, dest: Path) -> Path:
    """``hsi_app`` of ``rev`` unpacked under ``dest`` (with links to this checkout's datasets and models)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "baseline.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev, "hsi_app"], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    for name in ("datasets", "models"):
        (dest / name).symlink_to(ROOT / name)
    return dest


def predict(src: Path, run: str, scene: str, out: Path) -> tuple[float, float, float, float]:
    """``hsi predict`` with the code under ``src`` in a fresh process: (wall s, loop s, peak RSS GiB, CPU s).

    It runs in ``src`` (``python -m`` puts the working directory first on ``sys.path``, before ``PYTHONPATH``)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, "-m", "hsi_app.cli.main", "predict", "--model", run, "--input", scene, "--out", str(out),
           "--quiet"]
    # the child writes into files, not pipes: a pipe read only after the wait blocks a child that fills it (64 KiB)
    # forever; os.wait4 gives this child's own peak RSS (RUSAGE_CHILDREN's ru_maxrss is the largest of all children)
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=src, stdout=out_f, stderr=err_f, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
        wall = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        text, err = out_f.read(), err_f.read()
    if proc.returncode != 0:
        raise SystemExit(f"hsi predict ({src}) failed on {scene}: {err[-4000:]}")
    loop = re.search(r"windows, ([0-9.]+) s", text)
    return (wall, float(loop.group(1)) if loop else float("nan"), usage.ru_maxrss / 1024**2,
            usage.ru_utime + usage.ru_stime)


def same_map(a: Path, b: Path) -> str:
    """``"bytes"`` when the two COGs are the same file, else what agrees (class band, confidence band)."""
    if a.read_bytes() == b.read_bytes():
        return "bytes"
    import rasterio

    with rasterio.open(a) as da, rasterio.open(b) as db:
        x, y = da.read(), db.read()
    cls = "class same" if np.array_equal(x[0], y[0]) else f"class DIFFERS at {(x[0] != y[0]).sum()} px"
    return f"{cls}; confidence differs at {(x[1] != y[1]).sum()} px"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision of the code to compare against")
    parser.add_argument("--case", nargs=2, action="append", default=[], metavar=("RUN", "INPUT"))
    parser.add_argument("--size", type=int, default=0, help="also a synthetic SIZE x SIZE int16 scene (random ssfcn)")
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        old = baseline_source(args.baseline, root / "old")
        cases = [tuple(str(Path(p).resolve()) if Path(p).exists() else p for p in c) for c in args.case]
        if args.size:
            from bench_scene_scale import make_run, write_scene

            scene = root / f"scene_{args.size}.tif"
            make_run(root / "run_big", write_scene(scene, args.size, bands=args.bands))
            cases.append((str(root / "run_big"), str(scene)))
        rows = []
        for i, (run, scene_name) in enumerate(cases):
            times: dict[str, list[tuple[float, float, float, float]]] = {"old": [], "new": []}
            outs = {k: root / f"map_{i}_{k}.tif" for k in times}
            for rep in range(args.repeats):
                order = ["old", "new"] if rep % 2 == 0 else ["new", "old"]
                for which in order:
                    times[which].append(predict(old if which == "old" else ROOT, run, scene_name, outs[which]))
            rows.append((Path(run).name, Path(scene_name).name, times, same_map(outs["old"], outs["new"])))
    print(f"baseline {args.baseline} vs this checkout; {os.cpu_count()} CPU cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {args.repeats} repeats each, interleaved")
    print("| run | scene | wall s old → new | loop s old → new (ratio) | CPU s old → new (ratio) | "
          "peak RSS GiB old → new | maps |")
    print("|---|---|---:|---:|---:|---:|---|")
    for run, scene_name, times, same in rows:
        o, n = np.array(times["old"]), np.array(times["new"])
        lo, ln = np.median(o[:, 1]), np.median(n[:, 1])
        co, cn = np.median(o[:, 3]), np.median(n[:, 3])
        print(f"| {run} | {scene_name} | {np.median(o[:, 0]):.1f} → {np.median(n[:, 0]):.1f} | "
              f"{lo:.1f} → {ln:.1f} ({lo / ln:.2f}×) | {co:.1f} → {cn:.1f} ({co / cn:.2f}×) | "
              f"{np.max(o[:, 2]):.2f} → {np.max(n[:, 2]):.2f} | {same} |")
        each = [" ".join(f"{t:.{d}f}" for t in o[:, j]) + " → " + " ".join(f"{t:.{d}f}" for t in n[:, j])
                for j, d in ((1, 1), (3, 1), (2, 2))]
        print(f"|  | (each run) | | {each[0]} | {each[1]} | {each[2]} | |")


if __name__ == "__main__":
    main()
