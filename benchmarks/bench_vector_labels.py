"""Time and memory of rasterising vector labels (``read_vector_labels``) onto a large grid.

A 2000 x 2000 UTM grid (30 m) and 400 random square polygons of 16 classes, many of them
overlapping (so the order-independent overlap rule has work to do). Prints the median of
three timed runs, the traced peak memory of a fourth, and how many pixels were labelled.
Run it with another tree on ``PYTHONPATH`` to compare versions (BENCHMARKS.md, session 48)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_vector_labels.py
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
from rasterio.transform import from_origin
from shapely.geometry import box

from hsi_app.io.vector import Grid, read_vector_labels

SIZE = 2000
N_POLYGONS = 400
N_CLASSES = 16


def write_polygons(path: Path, seed: int = 0) -> Path:
    """Random squares of 30-900 m with classes 1..16 inside the grid, as a GeoPackage."""
    rng = np.random.default_rng(seed)
    x0 = 500000 + rng.uniform(0, 30 * (SIZE - 40), N_POLYGONS)
    y0 = 4100000 - rng.uniform(40 * 30, 30 * SIZE, N_POLYGONS)
    side = rng.uniform(30, 900, N_POLYGONS)
    geoms = [box(x, y, x + s, y + s) for x, y, s in zip(x0, y0, side, strict=True)]
    gdf = gpd.GeoDataFrame({"class": rng.integers(1, N_CLASSES + 1, N_POLYGONS)}, geometry=geoms, crs="EPSG:32633")
    gdf.to_file(path, driver="GPKG")
    return path


def main() -> None:
    warnings.simplefilter("ignore")  # the overlap warning is expected here
    grid = Grid(SIZE, SIZE, from_origin(500000, 4100000, 30, 30), "EPSG:32633")
    path = write_polygons(Path(tempfile.mkdtemp()) / "poly.gpkg")
    times = []
    for _ in range(3):
        start = time.perf_counter()
        labels, _ = read_vector_labels(path, grid)
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    read_vector_labels(path, grid)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"| {SIZE}x{SIZE}, {N_POLYGONS} polygons, {N_CLASSES} classes | {np.median(times):.3f} s | "
          f"{peak / 2**20:.0f} MiB | {int((labels > 0).sum())} px labelled |")


if __name__ == "__main__":
    main()
