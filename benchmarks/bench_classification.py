"""Indian Pines classification: models vs the SVM-RBF baseline, several seeds, two protocols.

For every (protocol, model, seed) this runs exactly what ``hsi train`` runs (split,
normalisation from training pixels, fit, whole-scene map, scores on the test pixels)
and prints mean +- std of OA/AA/kappa, parameters, training time and whole-scene
inference throughput.

Protocols: ``random:0.1`` is the literature protocol and is LEAKY (training patches
overlap test pixels); ``disjoint:0.5`` uses spatial blocks and drops test pixels within
the largest receptive radius of the compared models of any training pixel; all models of
one (protocol, seed) share the split, so they are scored on the same test pixels.

Run: ``.venv/bin/python benchmarks/bench_classification.py [--seeds 5] [--first-seed 0] [--models ssfcn svm]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def n_params(
    model: str, in_chans: int = 200, classes: int = 16, model_args: dict[str, Any] | None = None
) -> tuple[str, str]:
    """(total, trainable) parameter counts as strings, of ``model`` built with ``model_args``; the SVM has none."""
    if model == "svm":
        return "-", "-"
    from hsi_app.models import create_model

    net = create_model(model, in_chans=in_chans, num_classes=classes, **(model_args or {}))
    total = sum(p.numel() for p in net.parameters())
    train = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return f"{total:,}", f"{train:,}"


def stat(values: list[float], scale: float = 100.0) -> str:
    arr = np.asarray(values, dtype=float) * scale
    return f"{arr.mean():.2f} ± {arr.std():.2f}" if arr.size > 1 else f"{arr.mean():.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--disjoint-seeds", type=int, default=None, help="Seeds for disjoint (default: --seeds).")
    parser.add_argument("--first-seed", type=int, default=0, help="Seeds run from this one (split a sweep over processes).")
    parser.add_argument("--models", nargs="+", default=["ssfcn", "cnn3d", "svm"])
    parser.add_argument("--protocols", nargs="+", default=["random:0.1", "disjoint:0.5"])
    parser.add_argument("--out", default=None, help="Keep run folders here (default: temp dir).")
    parser.add_argument("--json", default=None, help="Also write all per-run metrics to this JSON file.")
    parser.add_argument("--legacy-blocks", action="store_true",
                        help="Disjoint block layouts of the tables up to session 32 (make_split legacy_blocks).")
    args = parser.parse_args()

    from hsi_app.io import open_cube
    from hsi_app.tasks.train_classifier import TrainOptions, protocol_split, receptive_radius, train_classifier

    cube = open_cube("indian_pines")
    radius = max(receptive_radius(m) for m in args.models)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        for protocol in args.protocols:
            n_seeds = args.disjoint_seeds if protocol.startswith("disjoint") and args.disjoint_seeds else args.seeds
            # every model of a (protocol, seed) is scored on the same split and test pixels
            seeds = range(args.first_seed, args.first_seed + n_seeds)
            splits = {seed: protocol_split(cube, protocol, seed=seed, radius=radius, legacy_blocks=args.legacy_blocks)
                      for seed in seeds}
            for model in args.models:
                for seed in seeds:
                    t0 = time.perf_counter()
                    m = train_classifier(cube, root / f"{protocol.replace(':', '_')}_{model}_{seed}",
                                         TrainOptions(model=model, split=protocol, seed=seed, progress=False),
                                         split=splits[seed])
                    print(f"{protocol:<13} {model:<8} seed {seed}: OA {100 * m['oa']:.2f}  AA {100 * m['aa']:.2f}  "
                          f"kappa {m['kappa']:.4f}  train {m['train_seconds']:.0f} s  (total {time.perf_counter() - t0:.0f} s)",
                          flush=True)
                    runs.append(m)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    print()
    print("| protocol | model | seeds | OA % | AA % | kappa ×100 | params (total / trainable) | train s | inference px/s | train / test px (mean over seeds) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for protocol in args.protocols:
        for model in args.models:
            rs = [r for r in runs if r["protocol"] == protocol and r["model"] == model]
            total, trainable = n_params(model)
            label = f"{protocol} (leaky)" if rs[0]["leaky"] else protocol
            print(f"| {label} | {model} | {len(rs)} | {stat([r['oa'] for r in rs])} | {stat([r['aa'] for r in rs])} | "
                  f"{stat([r['kappa'] for r in rs])} | {total} / {trainable} | "
                  f"{np.mean([r['train_seconds'] for r in rs]):.1f} | {np.mean([r['pixels_per_second'] for r in rs]):,.0f} | "
                  f"{int(np.mean([r['n_train'] for r in rs]))} / {int(np.mean([r['n_test'] for r in rs]))} |")


if __name__ == "__main__":
    main()
