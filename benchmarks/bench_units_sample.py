"""The units check's sample (``value_range.scene_sample``, run by ``hsi predict`` before its first window) of one
code version against another: seconds and pixels read, on large synthetic tiled GeoTIFFs.

Each size's scene (bench_scene_scale.py's int16 tiled GeoTIFF: 256 px tiles, pixel-interleaved) is opened and
sampled by the baseline's code and by this checkout's, in fresh processes, alternating which goes first,
``--repeats`` times each (the file is in the OS page cache after the first read: this times the decoding).

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_units_sample.py --baseline REV [--size 1024 2048]
[--bands 200] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
from hsi_app.io.open import open_cube
from hsi_app.value_range import scene_sample
cube = open_cube(sys.argv[1])
t0 = time.perf_counter()
s = scene_sample(cube)
print(json.dumps({"s": time.perf_counter() - t0, "pixels": int(s.shape[1])}))
"""


def sample(src: Path, scene: Path) -> dict[str, float]:
    """``scene_sample`` of ``scene`` with the code under ``src``, in a fresh process: seconds and pixels sampled."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(scene)], env=env, cwd=src, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision of the code to compare against")
    parser.add_argument("--size", type=int, nargs="+", default=[1024])
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_infer_speed import baseline_source
    from bench_scene_scale import write_scene

    print(f"baseline {args.baseline} vs this checkout; {os.cpu_count()} CPU cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {args.repeats} repeats each, interleaved")
    print("| scene | sample s old → new (median) | each run | pixels sampled old → new |")
    print("|---|---:|---|---:|")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        old = baseline_source(args.baseline, root / "old")
        for size in args.size:
            scene = root / f"scene_{size}.tif"
            write_scene(scene, size, bands=args.bands)
            got: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for rep in range(args.repeats):
                for which in (["old", "new"] if rep % 2 == 0 else ["new", "old"]):
                    got[which].append(sample(old if which == "old" else ROOT, scene))
            o, n = ([r["s"] for r in got[k]] for k in ("old", "new"))
            print(f"| {size} × {size} × {args.bands} int16, 256 px tiles | {np.median(o):.2f} → {np.median(n):.2f} | "
                  f"{' '.join(f'{t:.2f}' for t in o)} → {' '.join(f'{t:.2f}' for t in n)} | "
                  f"{got['old'][0]['pixels']:,} → {got['new'][0]['pixels']:,} |")
            scene.unlink()


if __name__ == "__main__":
    main()
