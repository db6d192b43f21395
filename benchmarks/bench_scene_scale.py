"""End-to-end scaling of whole-scene classification on synthetic EnMAP-size GeoTIFFs.

For each size it writes a tiled int16 GeoTIFF with 224 EnMAP-like bands (UTM, 30 m),
then runs ``hsi predict`` in a fresh process (read, classify window by window, write the
COG) and records wall time and that process's peak RSS (``os.wait4``). The model is the
default ``ssfcn`` architecture with random weights (speed and memory only; accuracy is
in bench_classification.py).

Run: ``.venv/bin/python benchmarks/bench_scene_scale.py [--sizes 1000 2000] [--window 512] [--smooth guided]``
(``--smooth`` passes through to ``hsi predict``: the guided filter's time and memory.)
Targets (issue 3): 1000 x 1000 x 224 in <= 120 s and <= 3 GB peak RSS on 2 cores;
at 2000 x 2000 peak RSS grows by no more than 20 %.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_scene(path: Path, size: int, bands: int = 224, block: int = 256) -> np.ndarray:
    """Write a ``bands x size x size`` int16 GeoTIFF row block by row block; return ``(bands,)`` wavelengths (nm).

    The centres are EnMAP's VNIR (418-993 nm) and SWIR (902-2445 nm) detectors', in increasing order, as a
    scene's bands are listed (the detectors overlap at 902-993 nm, so their bands interleave there).
    """
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    wl = np.sort(np.concatenate([np.linspace(418, 993, 91), np.linspace(902, 2445, bands - 91)]))  # increasing
    rng = np.random.default_rng(0)
    base = (3000 + 2000 * np.sin(np.linspace(0, 6, bands)))[:, None, None]
    profile = {"driver": "GTiff", "height": size, "width": size, "count": bands, "dtype": "int16",
               "crs": "EPSG:32633", "transform": from_origin(400000, 5800000, 30, 30), "nodata": -32768,
               "tiled": True, "blockxsize": block, "blockysize": block, "interleave": "pixel"}
    with rasterio.open(path, "w", **profile) as ds:
        for r in range(0, size, block):
            h = min(block, size - r)
            field = rng.normal(0, 400, size=(1, h, size))
            ds.write((base + field + rng.normal(0, 50, size=(bands, h, size))).astype(np.int16), window=Window(0, r, size, h))
        ds.update_tags(wavelength=",".join(f"{v:.3f}" for v in wl), wavelength_units="nm")
    return wl


def make_run(run_dir: Path, wavelengths: np.ndarray, classes: int = 10) -> None:
    """A run folder with a randomly initialised default model on these bands."""
    import torch

    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.models import create_model

    torch.manual_seed(0)
    model = create_model("ssfcn", in_chans=wavelengths.size, num_classes=classes)
    cfg = RunConfig(
        task="classification", model_name="ssfcn", model_args={}, in_chans=int(wavelengths.size), num_classes=classes,
        class_names=["unlabelled", *[f"class {i}" for i in range(1, classes + 1)]],
        wavelengths=json_floats(wavelengths), fwhm=json_floats(np.full(wavelengths.size, np.nan)),
        band_indices=list(range(wavelengths.size)), source_bands=int(wavelengths.size),
        mean=[3000.0] * wavelengths.size, std=[1000.0] * wavelengths.size,
        receptive_radius=int(model.receptive_radius), data="synthetic (random weights)",
    )
    save_run(run_dir, cfg, model.state_dict())


def measure(cmd: list[str]) -> tuple[float, float, int]:
    """Run ``cmd``; return (seconds, peak RSS in GiB, exit code) of that process tree."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    return seconds, usage.ru_maxrss / 1024**2, os.waitstatus_to_exitcode(status)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--workdir", default=None, help="Where to write the scenes (default: a temp dir).")
    parser.add_argument("--smooth", default="none", help="`hsi predict --smooth` setting (default: none).")
    args = parser.parse_args()
    hsi = str(Path(sys.executable).with_name("hsi"))
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        root = Path(tmp)
        wl = None
        for size in args.sizes:
            scene = root / f"scene_{size}.tif"
            t0 = time.perf_counter()
            wl = write_scene(scene, size)
            t_write = time.perf_counter() - t0
            if not (root / "run" / "config.json").exists():
                make_run(root / "run", wl)
            out = root / f"map_{size}.tif"
            secs, rss, code = measure([hsi, "predict", "--model", str(root / "run"), "--input", str(scene),
                                       "--out", str(out), "--window", str(args.window), "--smooth", args.smooth,
                                       "--quiet"])
            if code != 0:
                raise SystemExit(f"hsi predict failed on {scene} (exit {code})")
            rows.append((size, scene.stat().st_size / 1024**3, t_write, secs, rss, size * size / secs))
            scene.unlink()
    print(f"window {args.window}, {os.cpu_count()} CPU cores, model ssfcn (random weights), 224 bands int16, "
          f"--smooth {args.smooth}")
    print("| scene | input GiB | predict s (read+classify+COG) | peak RSS GiB | pixels/s |")
    print("|---|---:|---:|---:|---:|")
    for size, gib, _tw, secs, rss, pps in rows:
        print(f"| {size} x {size} x 224 | {gib:.2f} | {secs:.1f} | {rss:.2f} | {pps:,.0f} |")
    if len(rows) >= 2:
        print(f"peak RSS growth {rows[0][0]} -> {rows[-1][0]}: {100 * (rows[-1][4] / rows[0][4] - 1):+.1f}%")


if __name__ == "__main__":
    main()
