"""``hsi info``'s count of pixels holding the no-data value in only some bands (``summary.summarize``) of one code
version against another, and against the same summary without the count: seconds on one thread; and the count
alone, of the scene's values already in memory (the decoding left out).

The scene: a ``--bands x --size x --size`` uint16 tiled GeoTIFF (256 px tiles) with no-data 0, values 1000-3000,
the last band 0 at a seeded 20 % of the pixels (the case the count is for). Each variant runs ``summarize`` in a
fresh process on dask's synchronous scheduler (one thread), ``--repeats`` times, alternating the order; the best
run is reported (the file is in the OS page cache after the first read: this times the decoding and the counting).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_info_nodata.py --baseline REV [--size 1024] [--bands 30]``
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
import dask
import hsi_app.io.summary as S
from hsi_app.io.open import open_cube
if sys.argv[2] == "off":
    S._partial_nodata = lambda cube: None
cube = open_cube(sys.argv[1])
if sys.argv[2] == "count":  # the count alone, of the values in memory (numpy: computed as the function runs)
    mem = cube.copy(data=cube.values)
    t0, c0 = time.perf_counter(), time.process_time()
    pixels = int(S._partial_nodata(mem)[0])
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
else:
    with dask.config.set(scheduler="synchronous"):
        t0, c0 = time.perf_counter(), time.process_time()
        info = S.summarize(cube)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    pixels = info.get("nodata_in_some_bands", {}).get("pixels")
print(json.dumps({"s": wall, "cpu": cpu, "pixels": pixels}))
"""


def write_scene(path: Path, size: int, bands: int) -> None:
    """The benchmark's scene (see the module docstring), written strip by strip of tiles."""
    import rasterio

    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=bands, dtype="uint16", nodata=0,
                       tiled=True, blockxsize=256, blockysize=256, crs="EPSG:32633",
                       transform=from_origin(500000, 4100000, 30, 30)) as ds:
        for r0 in range(0, size, 256):
            n = min(256, size - r0)
            v = rng.integers(1000, 3000, size=(bands, n, size)).astype(np.uint16)
            v[-1][rng.random((n, size)) < 0.2] = 0
            ds.write(v, window=Window(0, r0, size, n))


def summarize(src: Path, scene: Path, mode: str) -> dict[str, float]:
    """``summarize`` of ``scene`` with the code under ``src`` in a fresh process (``mode`` "off": without the count;
    "count": the count alone, of the values in memory)."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(scene), mode], env=env, cwd=src, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision of the code to compare against")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--bands", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_infer_speed import baseline_source

    print(f"baseline {args.baseline} vs this checkout; {args.bands} x {args.size} x {args.size} uint16, 256 px tiles, "
          f"no-data 0; one thread; best of {args.repeats}, interleaved")
    print("| summarize | wall s | CPU s | pixels counted |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        old = baseline_source(args.baseline, root / "old")
        scene = root / "scene.tif"
        write_scene(scene, args.size, args.bands)
        variants = {"without the count (this checkout)": (ROOT, "off"), f"with the count, {args.baseline}": (old, "on"),
                    "with the count, this checkout": (ROOT, "on"), f"the count alone, in memory, {args.baseline}": (old, "count"),
                    "the count alone, in memory, this checkout": (ROOT, "count")}
        got: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
        for rep in range(args.repeats):
            for name in (list(variants) if rep % 2 == 0 else list(reversed(variants))):
                src, mode = variants[name]
                got[name].append(summarize(src, scene, mode))
        for name, runs in got.items():
            print(f"| {name} | {min(r['s'] for r in runs):.2f} | {min(r['cpu'] for r in runs):.2f} | "
                  f"{runs[0]['pixels'] if runs[0]['pixels'] is not None else '-'} |")


if __name__ == "__main__":
    main()
