"""Exploration: how the ssfcn's margin over SVM-RBF on ``disjoint:0.5`` depends on its receptive radius.

The disjoint protocol drops test pixels within the model's receptive radius of any training
pixel, and its blocks are at least ``2 radius + 1`` px wide, so a model with less spatial
context is scored on a split with a narrower buffer and smaller blocks, where more test
pixels lie in fields that also hold training pixels. This script trains the ``ssfcn`` with
fewer context boxes (``pools``; the two spatial blocks give 3 px of the radius, the largest
box the rest) and the SVM on the split buffered by that radius, both exactly as ``hsi train``
trains them (``train_classifier``, default epochs and 10 % validation), and prints one row
per (pools, seed) and the mean margin per setting.

Settings are given as ``5,11,17`` (the default ssfcn, radius 11), ``5,11`` (radius 8),
``5`` (radius 5) or ``none`` (no context boxes, radius 3).

``--radius R`` buffers every split by ``R`` instead (at least the model's radius), so the settings
compare like for like on the same test pixels, e.g. ``--radius 11`` reuses the default's splits.

Usage: ``.venv/bin/python benchmarks/explore_buffer_radius.py --pools 5,11,17 5,11 5 none --seeds 0 1 2``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from typing import Any

import numpy as np


def parse_pools(text: str) -> tuple[int, ...]:
    """``"5,11"`` -> ``(5, 11)``; ``"none"`` -> ``()``."""
    return () if text == "none" else tuple(int(p) for p in text.split(","))


def run_pair(cube: Any, pools: tuple[int, ...], seed: int, epochs: int | None = None,
             buffer: int | None = None) -> dict[str, Any]:
    """Train the ssfcn with ``pools`` and the SVM on the disjoint split buffered by the ssfcn's radius
    (or by ``buffer`` px, which must not be smaller)."""
    from hsi_app.tasks.train_classifier import TrainOptions, protocol_split, receptive_radius, train_classifier

    args = {"pools": pools}
    radius = receptive_radius("ssfcn", 200, 16, args)
    if buffer is not None:
        if buffer < radius:
            raise SystemExit(f"--radius {buffer}: below the model's receptive radius {radius}; test pixels would "
                             "see training pixels")
        radius = buffer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes absent from the test set are listed by the split itself
        split = protocol_split(cube, "disjoint:0.5", seed=seed, radius=radius)
    row: dict[str, Any] = {"pools": pools, "radius": radius, "seed": seed}
    for model, model_args in (("svm", None), ("ssfcn", args)):
        with tempfile.TemporaryDirectory() as tmp:
            opts = TrainOptions(model=model, split="disjoint:0.5", seed=seed, epochs=epochs, progress=False,
                                model_args=model_args)
            m = train_classifier(cube, tmp, opts, split=split)
        row[model] = 100 * m["oa"]
        row["n_test"], row["n_train"] = m["n_test"], m["n_train"]
    row["margin"] = row["ssfcn"] - row["svm"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pools", nargs="+", default=["5,11,17", "5,11", "5", "none"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="Training epochs (default: the trainer's).")
    parser.add_argument("--radius", type=int, default=None,
                        help="Buffer every split by this many px (default: each model's own radius).")
    args = parser.parse_args()

    from hsi_app.io import open_cube

    cube = open_cube("indian_pines")
    rows = []
    print("| pools | radius px | seed | train / test px | SVM OA % | ssfcn OA % | margin | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for text in args.pools:
        for seed in args.seeds:
            t0 = time.perf_counter()
            r = run_pair(cube, parse_pools(text), seed, args.epochs, args.radius)
            rows.append(r)
            print(f"| {text} | {r['radius']} | {seed} | {r['n_train']} / {r['n_test']} | {r['svm']:.2f} | "
                  f"{r['ssfcn']:.2f} | {r['margin']:+.2f} | {time.perf_counter() - t0:.0f} |", flush=True)
    print("\n| pools | radius px | seeds | SVM OA % | ssfcn OA % | margin mean ± std | min |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for text in args.pools:
        sel = [r for r in rows if r["pools"] == parse_pools(text)]
        m = np.array([r["margin"] for r in sel])
        print(f"| {text} | {sel[0]['radius']} | {len(sel)} | {np.mean([r['svm'] for r in sel]):.2f} | "
              f"{np.mean([r['ssfcn'] for r in sel]):.2f} | {m.mean():+.2f} ± {m.std(ddof=1) if m.size > 1 else 0:.2f} | "
              f"{m.min():+.2f} |")


if __name__ == "__main__":
    main()
