"""Training-step and whole-scene inference cost of classifiers, side by side in one run.

Each model is built for a 200-band, 16-class scene (Indian Pines' shape) and timed on the
tile ``hsi train`` uses there: the whole 145 x 145 scene, batch 1. A training step is
forward, cross-entropy on every pixel, backward and an AdamW step; inference is one
``dense_logits`` pass over the scene. Inputs are random normal values (the cost does not
depend on them). Models are timed in turn in the same process, so the ratio column (time
over the first model's) is the number to compare; absolute times depend on the machine
and its load.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_step.py [--models A B ...] [--steps 5]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from hsi_app.models import create_model
from hsi_app.tasks.classification import dense_logits

BANDS, CLASSES, SIDE = 200, 16, 145


def time_model(name: str, steps: int, seed: int = 0) -> tuple[float, float, int]:
    """(seconds per training step, inference px/s, parameters) of ``name`` on a random scene."""
    torch.manual_seed(seed)
    wl = np.linspace(400.0, 2500.0, BANDS)
    net = create_model(name, in_chans=BANDS, num_classes=CLASSES, wavelengths=wl)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x = torch.randn(1, BANDS, SIDE, SIDE)
    y = torch.randint(0, CLASSES, (1, SIDE, SIDE))
    net.train()
    times = []
    for i in range(steps + 1):  # the first step (allocation, lazy init) is not timed
        t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    net.eval()
    t0 = time.perf_counter()
    dense_logits(net, x[0], window=512)
    px_s = SIDE * SIDE / (time.perf_counter() - t0)
    return float(np.median(times)), px_s, sum(p.numel() for p in net.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["channel_vit_hcs_snv", "channel_vit_hcs_snv_trunk"])
    parser.add_argument("--steps", type=int, default=5, help="Timed training steps per model (median reported).")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {BANDS} bands, {SIDE} x {SIDE} px, "
          f"batch 1, median of {args.steps} steps")
    print("| model | params | s / training step | ratio | inference px/s |")
    print("|---|---:|---:|---:|---:|")
    first = None
    for name in args.models:
        step, px_s, n = time_model(name, args.steps)
        first = first or step
        print(f"| {name} | {n:,} | {step:.3f} | {step / first:.2f} | {px_s:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
