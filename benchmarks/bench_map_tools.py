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

Session 56 (``--cli``): the commands ``hsi info``, ``hsi evaluate`` (a GeoTIFF reference on the
map's grid and a GeoPackage of polygons in EPSG:4326) and ``hsi vectorize --min-area 0.05`` on maps
with no-data areas (:func:`write_cli_inputs`), each under ``/usr/bin/time`` (wall seconds, peak
RSS); ``--code OLD NEW`` runs each case with each code tree on PYTHONPATH, one after the other::

    .venv/bin/python benchmarks/bench_map_tools.py --cli --sizes 1000 8000 --code /old/checkout .
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


def write_cli_inputs(folder: Path, size: int, seed: int = 0) -> dict[str, Path]:
    """Session-56 inputs: a ``size x size`` map as ``hsi predict`` writes it, and its references.

    The map: 12 classes in 50 x 50 px fields (a coarse random grid, upsampled), 2 % speckle, a
    confidence band, 10 m UTM pixels, and no data (0) on a left strip of 5 % of the columns and on a
    square from 1/3 to 1/2 of the rows and columns. The references, taken from the true fields:
    a GeoTIFF on the map's grid with 1 % of the pixels, and a GeoPackage in EPSG:4326 with one
    polygon (inset 5 px) for 5 % of the fields, classes by name.
    """
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from hsi_app.io.cog import write_class_map

    rng = np.random.default_rng(seed)
    cell, g = 50, -(-size // 50)
    coarse = rng.integers(1, CLASSES + 1, (g, g)).astype(np.uint8)
    truth = np.empty((size, size), np.uint8)
    for r in range(0, size, 2000):
        rows = np.arange(r, min(r + 2000, size)) // cell
        truth[r:r + rows.size] = coarse[rows][:, np.arange(size) // cell]
    classes = truth.copy()
    speck = rng.random((size, size), dtype=np.float32) < 0.02
    classes[speck] = rng.integers(1, CLASSES + 1, int(speck.sum()))
    classes[:, : size // 20] = 0
    classes[size // 3: size // 2, size // 3: size // 2] = 0
    conf = np.where(speck, 0.4, 0.9).astype(np.float32)
    del speck
    names = ["unlabelled", *[f"class {k}" for k in range(1, CLASSES + 1)]]
    crs, transform = "EPSG:32633", from_origin(500000, 4200000, 10, 10)
    paths = {"map": folder / f"map_{size}.tif", "ref_tif": folder / f"ref_{size}.tif",
             "ref_gpkg": folder / f"ref_{size}.gpkg"}
    write_class_map(paths["map"], classes, conf, crs=crs, transform=transform, class_names=names)
    del conf, classes
    ref = np.where(rng.random((size, size), dtype=np.float32) < 0.01, truth, 0).astype(np.uint8)
    with rasterio.open(paths["ref_tif"], "w", driver="GTiff", height=size, width=size, count=1, dtype="uint8",
                       crs=crs, transform=transform, tiled=True, blockxsize=256, blockysize=256,
                       compress="deflate") as ds:
        ds.write(ref, 1)
    del ref, truth
    geoms, cls = [], []
    for i, j in np.argwhere(rng.random((g, g)) < 0.05):
        r0, c0, r1, c1 = i * cell + 5, j * cell + 5, min((i + 1) * cell, size) - 5, min((j + 1) * cell, size) - 5
        if r1 > r0 and c1 > c0:
            (x0, y0), (x1, y1) = transform * (c0, r1), transform * (c1, r0)
            geoms.append(box(x0, y0, x1, y1))
            cls.append(names[coarse[i, j]])
    gpd.GeoDataFrame({"class": cls}, geometry=geoms, crs=crs).to_crs("EPSG:4326").to_file(paths["ref_gpkg"])
    return paths


CLI_CASES = {
    "info": lambda p, out: ["info", str(p["map"])],
    "evaluate (GeoTIFF ref)": lambda p, out: ["evaluate", "--map", str(p["map"]), "--reference", str(p["ref_tif"])],
    "evaluate (GeoPackage ref)": lambda p, out: ["evaluate", "--map", str(p["map"]), "--reference",
                                                 str(p["ref_gpkg"])],
    "vectorize --min-area 0.05": lambda p, out: ["vectorize", "--map", str(p["map"]), "--out", str(out),
                                                 "--min-area", "0.05", "--quiet"],
}


def run_cli(args: list[str], pythonpath: str | None) -> tuple[float, int, str]:
    """``hsi ARGS`` under ``/usr/bin/time`` with ``hsi_app`` from the tree ``pythonpath`` (``None``: this one):
    (wall seconds, peak RSS MB, the result in a few words)."""
    import os

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(Path(pythonpath or Path(__file__).resolve().parents[1]).resolve()))
    code = "import sys; from hsi_app.cli.main import main; sys.argv[0] = 'hsi'; main()"
    # run from a neutral folder: with -c the current folder comes first on sys.path, before PYTHONPATH
    proc = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-c", code, *args],
                          capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("TIME ")]
    seconds, kb = lines[-1].split()[1:3]
    out = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip() and not ln.startswith("TIME ")]
    first = next((ln for ln in out if ln.startswith(("OA ", "mapped "))), out[-1] if out else "")
    if proc.returncode != 0:
        return float(seconds), round(int(kb) / 1024), f"FAILED: {first[:80]}"
    if args[0] == "vectorize":  # "OUT: N polygons (...); minimum mapping unit ..., M pixels re-classed by the sieve"
        polygons = first.split(": ", 1)[1].split(" (")[0]
        first = f"{polygons}, {first.rsplit(', ', 1)[1].split(' by ')[0]}"
    elif args[0] == "evaluate":  # "OA a%  AA b%  kappa k  (N reference pixels on the map, ...)"
        first = first.split("  (")[0] + ", " + first.split("(")[1].split(" reference")[0] + " ref px"
    else:
        first = " ".join(first.split()[1:3])
    return float(seconds), round(int(kb) / 1024), first


def main_cli(sizes: list[int], pythonpath: list[str]) -> None:
    """The session-56 table: each CLI case on each size, with each code tree of ``pythonpath``."""
    print("| tool | map | code | seconds | peak RSS MB | result |")
    print("|---|---|---|---:|---:|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in sizes:
            paths = write_cli_inputs(folder, size)
            for name, make in CLI_CASES.items():
                for i, code in enumerate(pythonpath):
                    out = folder / f"poly_{size}_{i}.gpkg"
                    seconds, mb, result = run_cli(make(paths, out), code or None)
                    print(f"| {name} | {size} x {size} | {code or '.'} | {seconds:.1f} | {mb:,} | {result} |",
                          flush=True)
            for p in folder.iterdir():
                p.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--cli", action="store_true",
                        help="session-56 table: hsi info/evaluate/vectorize as commands, under /usr/bin/time")
    parser.add_argument("--code", nargs="+", default=[""], metavar="PYTHONPATH",
                        help="with --cli: code trees to compare (PYTHONPATH each; '' = the installed/current one)")
    parser.add_argument("--case", nargs=4, metavar=("TOOL", "MAP", "REF", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(*args.case)))
        return
    if args.cli:
        main_cli(args.sizes, args.code)
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
