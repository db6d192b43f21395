"""Stage breakdown of one window of whole-scene classification, and the model-input step before and after
session 53 (torch normalisation in place, no band-pick copy), in one process, interleaved.

For one halo'd window of a scene (an interior one when there is one) it times, ``--repeats`` times each:
the read (``read_window``), the model inputs the way ``Predictor`` made them before (a band-pick copy,
then numpy's four passes into a new array) and now (:func:`hsi_app.predictor.normalised`), the forward
pass, and the whole per-window function before and after, with the peak RSS that each of the last two
adds (``/proc/self/clear_refs`` resets the high-water mark, Linux only). It checks that both give the
same bits. Wall time is the median; the machine may be shared, so CPU seconds are printed too.
The model is one run's (not an ensemble's, nor an SVM's), loaded on the CPU even where CUDA is present.

Run: ``OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_infer_stages.py --model RUN --input SCENE
[--window 512] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np


def numpy_inputs(pred: Any, picked: np.ndarray) -> Any:
    """The model's input tensor as ``Predictor`` made it before session 53 from the band-pick copy
    ``picked`` (``plan.apply(image)``): ``x = picked - mean; x /= std``, non-finite -> 0 and the clip in numpy."""
    import torch

    from hsi_app.predictor import INPUT_CLIP

    x = picked - pred._mean
    x /= pred._std
    np.copyto(x, 0.0, where=~np.isfinite(x))
    np.clip(x, -INPUT_CLIP, INPUT_CLIP, out=x)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def torch_inputs(pred: Any, plan: Any, image: np.ndarray) -> Any:
    """The model's input tensor as ``Predictor.apply_plan`` makes it now."""
    from hsi_app.predictor import normalised

    if plan.picks_all(image):
        return normalised(image, pred._mean, pred._std)
    return normalised(plan.apply(image), pred._mean, pred._std, owned=True)


def _hwm_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _hwm_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def _rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """``fn()``, its wall and CPU seconds, and the RSS it added at its peak (GiB)."""
    import gc

    gc.collect()
    base = _rss_gib()
    ok = _hwm_reset()
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return out, wall, cpu, (_hwm_gib() - base) if ok else float("nan")


def load_one_model(run: str) -> Any:
    """The run's :class:`~hsi_app.predictor.Predictor` on the CPU (this benchmark times CPU work; the inputs it makes
    are CPU tensors, so a model that ``load_classifier`` would put on CUDA would refuse them).

    Raises:
        SystemExit: an ensemble folder or an SVM run (no single torch model to time), naming the run and the fix.
    """
    from hsi_app.ensemble import load_classifier
    from hsi_app.predictor import Predictor

    pred = load_classifier([run], device="cpu")
    if not isinstance(pred, Predictor):
        raise SystemExit(f"{run}: an ensemble of {len(getattr(pred, 'members', []))} runs; this benchmark times one "
                         "model's window: pass one member's run folder as --model")
    if pred.model_name == "svm":
        raise SystemExit(f"{run}: an SVM run has no torch inputs or forward pass to time; pass a neural network's run")
    return pred


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    import torch

    from hsi_app.infer import iter_windows, read_window
    from hsi_app.io.open import open_cube
    from hsi_app.predictor import BandPlan

    pred = load_one_model(args.model)
    cube = open_cube(args.input)
    plan = pred.plan(cube, check_units=False)
    if not isinstance(plan, BandPlan):
        raise SystemExit(f"{args.model}: reads a subset of its bands from {args.input} ({type(plan).__name__}); this "
                         "benchmark times a band pick or resampling: pass a scene with all the model's bands")
    _, h, w = cube.hsi.shape
    wins = list(iter_windows(h, w, min(args.window, max(h, w)), pred.receptive_radius))
    per_row = -(-w // min(args.window, max(h, w)))
    win = wins[min(len(wins) - 1, per_row + 1)]  # second row, second column: a full halo when the scene has one

    def forward(x: Any) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(pred.model(x[None].to(pred.device)), dim=1)[0].cpu().numpy()

    def before(image: np.ndarray) -> np.ndarray:
        picked = plan.apply(image)  # held through the forward pass, as Predictor.probs(picked) held it
        return forward(numpy_inputs(pred, picked))

    rows: dict[str, list[tuple[float, float, float]]] = {}
    image = None
    for rep in range(args.repeats):
        del image
        (image, _), *stats = timed(lambda: read_window(cube, win))
        rows.setdefault("read window", []).append(tuple(stats))
        pair = [("inputs before (pick + numpy)", lambda: numpy_inputs(pred, plan.apply(image))),
                ("inputs now (torch)", lambda: torch_inputs(pred, plan, image))]
        outs = {}
        for name, fn in pair if rep % 2 == 0 else pair[::-1]:
            outs[name], *stats = timed(fn)
            rows.setdefault(name, []).append(tuple(stats))
        a, b = (outs[name].numpy() for name, _ in pair)
        assert a.tobytes() == b.tobytes(), "the two normalisations differ"
        x = outs[pair[1][0]]
        del outs, a, b
        _, *stats = timed(partial(forward, x))
        rows.setdefault("forward + softmax", []).append(tuple(stats))
        del x
        whole = [("window before", lambda: before(image)), ("window now (apply_plan)", lambda: plan_fn(image))]
        plan_fn = pred.bind(cube, check_units=False)
        got = {}
        for name, fn in whole if rep % 2 == 0 else whole[::-1]:
            got[name], *stats = timed(fn)
            rows.setdefault(name, []).append(tuple(stats))
        assert got["window before"].tobytes() == got["window now (apply_plan)"].tobytes(), "probabilities differ"
        del got

    print(f"{args.input}: window {win.read_height} x {win.read_width} x {cube.hsi.shape[0]} (halo "
          f"{pred.receptive_radius}), model {pred.model_name}, {os.cpu_count()} CPU cores, torch threads "
          f"{torch.get_num_threads()}, {args.repeats} repeats, interleaved; outputs bit-identical")
    print("| stage | wall s (median) | CPU s (median) | peak RSS added GiB (max) |")
    print("|---|---:|---:|---:|")
    for name, vals in rows.items():
        v = np.array(vals)
        print(f"| {name} | {np.median(v[:, 0]):.3f} | {np.median(v[:, 1]):.3f} | {np.max(v[:, 2]):.2f} |")
    med = {k: np.median(np.array(v)[:, 0]) for k, v in rows.items()}
    print(f"inputs: {med['inputs before (pick + numpy)'] / med['inputs now (torch)']:.2f}x faster; whole window: "
          f"{med['window before'] / med['window now (apply_plan)']:.2f}x")


if __name__ == "__main__":
    main()
