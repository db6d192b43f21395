"""`hsi batch` throughput with 1 and 2 LocalCluster workers, and peak memory per worker.

Data: synthetic int16 GeoTIFFs (``--scenes`` of ``--size`` x ``--size`` x ``--bands``,
UTM grid, seed 0). Model: the default ``ssfcn`` with random weights (speed and memory
only; weights do not change the cost). Each worker is a separate process with one thread
(dask's nanny sets ``OMP_NUM_THREADS=1``), so the 2-worker/1-worker ratio shows how well
the engine uses a second core. The cluster is the one ``hsi batch`` starts
(:func:`hsi_app.batch.run.local_cluster`).

Timing excludes cluster start-up and the first model load: each cluster first processes
one warm-up scene per worker, then the timed batch runs (``overwrite``, so every scene is
recomputed). Peak memory per worker is the maximum RSS of each worker process, sampled
every 50 ms with psutil during the timed batch. ``--big N`` also classifies one
N x N scene (spread over the workers as windows) to show that the peak follows the
window, not the scene.

Run: ``.venv/bin/python benchmarks/bench_batch.py [--scenes 8 --size 512 --bands 200] [--workers 1 2] [--big 2048]
[--compare-reads]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def write_scenes(folder: Path, n: int, size: int, bands: int, seed: int = 0) -> list[Path]:
    """``n`` synthetic ``(bands, size, size)`` int16 reflectance GeoTIFFs with wavelength tags."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    wl = np.linspace(400.0, 2500.0, bands)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    gain = np.linspace(0.5, 1.5, bands, dtype=np.float32)[:, None, None]
    for i in range(n):
        path = folder / f"scene_{i:03d}.tif"
        with rasterio.open(path, "w", driver="GTiff", height=size, width=size, count=bands, dtype="int16",
                           crs="EPSG:32633", transform=from_origin(500000.0, 4600000.0 - 30 * size * i, 30.0, 30.0),
                           nodata=-9999, tiled=True, blockxsize=256, blockysize=256) as ds:
            for r0 in range(0, size, 256):  # strips of 256 rows keep memory small for big scenes
                rows = min(256, size - r0)
                yy, xx = np.mgrid[r0 : r0 + rows, 0:size].astype(np.float32) / 23.0
                base = np.sin(xx + i)[None] * gain + np.cos(yy)[None]
                noise = rng.standard_normal((bands, rows, size), dtype=np.float32)
                strip = (3000 + 1000 * base + 100 * noise).astype(np.int16)
                ds.write(strip, window=Window(0, r0, size, rows))
            ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wl), wavelength_units="nm")
        paths.append(path)
    return paths


def make_run(run_dir: Path, bands: int, model: str = "ssfcn", classes: int = 16) -> Path:
    """A run folder with a randomly initialised ``model`` for ``bands`` bands."""
    import torch

    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.models import create_model

    torch.manual_seed(0)
    net = create_model(model, in_chans=bands, num_classes=classes)
    config = RunConfig(
        task="classification", model_name=model, model_args={}, in_chans=bands, num_classes=classes,
        class_names=["unlabelled", *[f"class {k}" for k in range(1, classes + 1)]],
        wavelengths=json_floats(np.linspace(400.0, 2500.0, bands)), fwhm=[None] * bands,
        band_indices=list(range(bands)), source_bands=bands, mean=[3000.0] * bands, std=[1000.0] * bands,
        receptive_radius=int(net.receptive_radius),
    )
    return save_run(run_dir, config, net.state_dict())


class PeakRSS:
    """Sample the RSS of some processes in a background thread; ``peaks`` maps pid -> max bytes."""

    def __init__(self, pids: list[int], every: float = 0.05) -> None:
        import psutil

        self.procs = {pid: psutil.Process(pid) for pid in pids}
        self.peaks = dict.fromkeys(pids, 0)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid, proc in self.procs.items():
                try:
                    self.peaks[pid] = max(self.peaks[pid], proc.memory_info().rss)
                except Exception:  # noqa: BLE001 - a worker restarted; keep sampling the others
                    pass
            self._stop.wait(self.every)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cluster_reads() -> None:
    """Run on each worker: scene reads go back to dask's default in a worker, the cluster itself."""
    import contextlib

    import hsi_app.batch.run as engine

    engine.reads_in_this_thread = contextlib.nullcontext  # type: ignore[assignment]


def bench(workers: int, run_dir: Path, scenes: list[Path], warm: list[Path], work: Path, window: int,
          memory_limit: str, reads: str = "thread") -> dict[str, Any]:
    """Start the LocalCluster ``hsi batch`` starts (``workers`` processes), warm it up, time one batch over ``scenes``.

    ``reads="cluster"`` times the engine as it was before session 21: lazy scene reads inside
    a task computed on the cluster (the task secedes and waits) instead of in the task's thread.
    """
    import os

    from distributed import Client

    from hsi_app.batch import ClusterOptions, run_batch
    from hsi_app.batch.run import local_cluster

    quiet = {"progress": False, "echo": lambda s: None}
    copts = ClusterOptions(workers=workers, memory_limit=memory_limit, dashboard=False)
    with local_cluster(copts) as cluster, Client(cluster) as client:
        if reads == "cluster":
            client.run(_cluster_reads)
        opts = ClusterOptions(scheduler=cluster.scheduler_address)
        run_batch("classify", run_dir, [str(p) for p in warm], work / f"warm{workers}", cluster=opts, window=window,
                  overwrite=True, **quiet)
        pids = sorted(client.run(os.getpid).values())
        with PeakRSS(pids) as mem:
            t0 = time.perf_counter()
            res = run_batch("classify", run_dir, [str(p) for p in scenes], work / f"out{workers}", cluster=opts,
                            window=window, overwrite=True, **quiet)
            seconds = time.perf_counter() - t0
    assert res.failed == 0, [r.error for r in res.rows if r.error]
    pixels = sum(r.height * r.width for r in res.rows)
    return {"workers": workers, "reads": reads, "scenes": len(scenes), "seconds": seconds,
            "scenes_per_min": 60 * len(scenes) / seconds, "pixels_per_s": pixels / seconds, "peak_rss_mb": [round(mem.peaks[p] / 2**20) for p in pids]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--bands", type=int, default=200)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--window", type=int, default=512)
    ap.add_argument("--model", default="ssfcn")
    ap.add_argument("--memory-limit", default="4GB")
    ap.add_argument("--big", type=int, default=0, help="also one BIG x BIG scene, split over the workers")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--compare-reads", action="store_true",
                    help="also time each worker count with scene reads computed on the cluster (the old engine)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        work = Path(tmp)
        t_data = time.perf_counter()
        run_dir = make_run(work / "run", args.bands, args.model)
        scenes = write_scenes(work / "scenes", args.scenes, args.size, args.bands)
        warm = write_scenes(work / "warm", max(args.workers), 64, args.bands, seed=1)
        print(f"data written in {time.perf_counter() - t_data:.0f} s", flush=True)
        print(f"data: {args.scenes} scenes of {args.size} x {args.size} x {args.bands} int16; model {args.model} "
              f"(random weights); window {args.window}", flush=True)
        rows = []
        for w in args.workers:
            for reads in (("cluster", "thread") if args.compare_reads else ("thread",)):
                rows.append(bench(w, run_dir, scenes, warm, work, args.window, args.memory_limit, reads))
                print("measured:", json.dumps(rows[-1]), flush=True)
        if args.big:
            big = write_scenes(work / "big", 1, args.big, args.bands, seed=2)
            for w in args.workers:
                r = bench(w, run_dir, big, warm, work / "bigout", args.window, args.memory_limit)
                r["scenes"] = f"1 x {args.big}^2 (split)"
                rows.append(r)
                print("measured:", json.dumps(rows[-1]), flush=True)
    print(f"{'workers':>7} {'reads':>7} {'scenes':>18} {'seconds':>8} {'scenes/min':>10} {'Mpx/s':>7} "
          f"{'peak RSS/worker MB':>20}")
    for r in rows:
        print(f"{r['workers']:>7} {r['reads']:>7} {str(r['scenes']):>18} {r['seconds']:8.1f} {r['scenes_per_min']:10.1f} "
              f"{r['pixels_per_s'] / 1e6:7.3f} {str(r['peak_rss_mb']):>20}")
    whole = [r for r in rows if isinstance(r["scenes"], int)]
    base = next((r for r in whole if r["workers"] == 1 and r["reads"] == "thread"), None)
    for r in whole:
        if base is not None and r["workers"] != 1 and r["reads"] == "thread":
            print(f"speed-up {r['workers']} workers / 1 worker: {r['pixels_per_s'] / base['pixels_per_s']:.2f}x")
        old = next((o for o in whole if o["workers"] == r["workers"] and o["reads"] == "cluster"), None)
        if old is not None and r["reads"] == "thread":
            print(f"{r['workers']} workers: reads in the task's thread / on the cluster: "
                  f"{r['pixels_per_s'] / old['pixels_per_s']:.2f}x the throughput")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
