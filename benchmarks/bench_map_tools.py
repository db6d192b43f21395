"""`hsi evaluate` and `hsi vectorize` on large class maps: seconds and peak memory.

Data: synthetic class maps written with ``write_class_map`` (UTM, 10 m pixels, 12 classes):
a field layout (nearest of ``size**2 / 2500`` random seed points, i.e. fields of about
50 x 50 px) with 2 % single-pixel speckle, plus a confidence band. Reference for
``evaluate``: the true field classes at 1 % of the pixels drawn at random (a random
sample, so the error-adjusted areas are valid). ``vectorize`` uses a 0.05 ha (5 px)
minimum mapping unit, so the sieve removes the speckle.

Each (tool, size) runs in a fresh Python process, so the peak RSS it reports (Linux
``ru_maxrss``) belongs to that case alone; it includes the interpreter and libraries
(about 200-300 MB with rasterio, geopandas and scipy loaded).

Run: ``.venv/bin/python benchmarks/bench_map_tools.py [--sizes 1000 4000]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CLASSES = 12


def write_map(folder: Path, size: int, seed: int = 0) -> tuple[Path, Path]:
    """A ``size x size`` field map (+ speckle) and a 1 % random reference sample of the true fields."""
    from rasterio.transform import from_origin
    from scipy.spatial import cKDTree

    from hsi_app.io.cog import write_class_map

    rng = np.random.default_rng(seed)
    n_fields = max(4, size * size // 2500)
    seeds = rng.uniform(0, size, size=(n_fields, 2))
    field_class = rng.integers(1, CLASSES + 1, n_fields).astype(np.uint8)
    truth = np.empty((size, size), np.uint8)
    tree = cKDTree(seeds)
    cols = np.arange(size) + 0.5
    for r in range(0, size, 256):  # row blocks keep the query memory small
        rows = np.arange(r, min(r + 256, size)) + 0.5
        yy, xx = np.meshgrid(rows, cols, indexing="ij")
        truth[r:r + rows.size] = field_class[tree.query(np.column_stack([yy.ravel(), xx.ravel()]))[1]].reshape(yy.shape)
    classes = truth.copy()
    speck = rng.uniform(size=truth.shape) < 0.02
    classes[speck] = rng.integers(1, CLASSES + 1, int(speck.sum()))
    conf = np.where(speck, 0.4, 0.9).astype(np.float32)
    names = ["unlabelled", *[f"class {k}" for k in range(1, CLASSES + 1)]]
    map_path = folder / f"map_{size}.tif"
    write_class_map(map_path, classes, conf, crs="EPSG:32633", transform=from_origin(500000, 4200000, 10, 10),
                    class_names=names)
    ref = np.where(rng.uniform(size=truth.shape) < 0.01, truth, 0).astype(np.int32)
    ref_path = folder / f"ref_{size}.npy"
    np.save(ref_path, ref)
    return map_path, ref_path


def run_case(tool: str, map_path: str, ref_path: str, out: str) -> dict[str, float]:
    """One tool on one map, in this process; seconds and peak RSS."""
    import resource

    t0 = time.perf_counter()
    if tool == "evaluate":
        from hsi_app.tasks.map_accuracy import evaluate_map

        report = evaluate_map(map_path, ref_path).to_dict()
        extra = {"oa": round(report["oa"], 4), "n_reference": report["n_reference"]}
    else:
        from hsi_app.tasks.map_polygons import vectorize_map

        res = vectorize_map(map_path, out, min_area_ha=0.05)
        extra = {"polygons": res["polygons"], "sieved_pixels": res["sieved_pixels"]}
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb), **extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--case", nargs=4, metavar=("TOOL", "MAP", "REF", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in args.sizes:
            map_path, ref_path = write_map(folder, size)
            for tool in ("evaluate", "vectorize"):
                proc = subprocess.run([sys.executable, __file__, "--case", tool, str(map_path), str(ref_path),
                                       str(folder / f"poly_{size}.gpkg")], capture_output=True, text=True, check=True)
                rows.append({"tool": tool, "size": size, **json.loads(proc.stdout.strip().splitlines()[-1])})
    print("| tool | map | seconds | peak RSS MB | result |")
    print("|---|---|---:|---:|---|")
    for r in rows:
        result = (f"OA {100 * r['oa']:.2f} % on {r['n_reference']:,} reference px" if r["tool"] == "evaluate"
                  else f"{r['polygons']:,} polygons, {r['sieved_pixels']:,} px re-classed by the sieve")
        print(f"| {r['tool']} | {r['size']} x {r['size']} | {r['seconds']} | {r['peak_rss_mb']} | {result} |")


if __name__ == "__main__":
    main()
