"""Model zoo on Indian Pines: every seed model and baseline in one table, plus band drop.

For every (protocol, seed) one split is made and shared by all models (``disjoint``
buffered by the largest receptive radius among them); each model is trained exactly as
``hsi train`` trains it (:func:`hsi_app.tasks.train_classifier.train_classifier`). The
table gives OA / AA / kappa (mean ± std over seeds), total and trainable parameters,
training time and whole-scene inference pixels per second.

Band drop (``channel_vit`` models, every protocol): the run trained on all bands is
applied to the scene with every other band removed
(:func:`hsi_app.tasks.band_subset.predict_band_subset`) and scored on the same test
pixels; the target is an OA drop of at most 5 points.

Run: ``.venv/bin/python benchmarks/bench_model_zoo.py [--models channel_vit spectral_mamba]
[--seeds 5] [--first-seed 0] [--protocols random:0.1 disjoint:0.5] [--epochs N] [--val-fraction F]
[--label-smoothing S] [--tta]``

``--tta`` also scores every trained run's D4 test-time augmentation (``hsi predict --tta``:
the saved run re-predicted with eight flips / rotations averaged) on the same test pixels.

``--val-fraction 0`` trains every epoch on all training pixels and keeps the final weights
(no early stopping or epoch selection), as ``hsi train --val-fraction 0`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classification import n_params, stat  # noqa: E402  (shared table helpers)

ZOO = ("svm", "cnn3d", "ssfcn", "ssfcn_snv", "spectral_vit", "spectral_vit_snv", "spectral_vit_wide", "channel_vit",
       "channel_vit_snv", "channel_vit_hcs_snv", "channel_vit_hcs_snv_trunk", "spectral_mamba", "spectral_mamba_snv",
       "spectral_mamba_wide")
BAND_DROP_TARGET = 0.05


def available(models: list[str]) -> list[str]:
    """The requested models that exist here (svm, or registered), in the given order."""
    from hsi_app.models import list_models

    have = set(list_models()) | {"svm"}
    missing = [m for m in models if m not in have]
    if missing:
        print(f"skipping unregistered models: {', '.join(missing)}", file=sys.stderr)
    return [m for m in models if m in have]


def band_drop(run_dir: Path, cube: Any, split: Any, step: int = 2) -> dict[str, float]:
    """OA / AA / kappa of a wavelength-aware run when it only gets every ``step``-th band."""
    from hsi_app.tasks.band_subset import predict_band_subset
    from hsi_app.tasks.classification import classification_metrics
    from hsi_app.tasks.train_classifier import scene_in_memory

    image, bands, valid = scene_in_memory(cube)
    keep = np.arange(0, bands.size, step)
    probs = predict_band_subset(run_dir, image[keep], cube.hsi.wavelengths[bands][keep])
    pred = probs.argmax(axis=0)
    sel = (split.test > 0) & valid
    m = classification_metrics(split.test[sel] - 1, pred[sel], probs.shape[0])
    return {"bands": int(keep.size), "of": int(bands.size), "oa": m["oa"], "aa": m["aa"], "kappa": m["kappa"]}


def tta_scores(run_dir: Path, cube: Any, split: Any) -> dict[str, float]:
    """OA / AA / kappa of a saved run re-predicted with D4 test-time augmentation."""
    from hsi_app.predictor import Predictor

    return predictor_scores(Predictor.load(run_dir, tta=True), cube, split)


def predictor_scores(pred: Any, cube: Any, split: Any, *, keep_classes: bool = False, smooth: Any = None) -> dict[str, Any]:
    """OA / AA / kappa of a loaded predictor (one run or an ensemble) on the split's test pixels, and whole-scene
    pixels per second; with ``keep_classes`` also its ``(H, W)`` class map as ``"classes"``; with ``smooth`` (a
    :class:`~hsi_app.tasks.prob_smoothing.SmoothSpec`) of its guided-filtered map, as ``hsi predict --smooth``."""
    from hsi_app.infer import predict_scene
    from hsi_app.tasks.prob_smoothing import with_smoothing
    from hsi_app.tasks.train_classifier import score_class_map

    prob_fn, halo = with_smoothing(pred.bind(cube), pred.receptive_radius, cube, smooth)
    res = predict_scene(prob_fn, cube, num_classes=pred.num_classes, halo=halo, keep_map=True, progress=False)
    assert res.classes is not None
    m, _ = score_class_map(split.test, res.classes, pred.num_classes)
    out: dict[str, Any] = {"oa": m["oa"], "aa": m["aa"], "kappa": m["kappa"],
                           "pixels_per_second": res.height * res.width / max(res.seconds, 1e-9)}
    if keep_classes:
        out["classes"] = res.classes
    return out


def tta_table(runs: list[dict[str, Any]]) -> str:
    """Markdown table of plain vs TTA OA, mean ± std over the runs of each (protocol, model)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in runs:
        if "tta" in r:
            groups.setdefault((r["protocol"], r["model"]), []).append(r)
    if not groups:
        return ""
    lines = ["| protocol | model | seeds | OA % | OA % with TTA | per seed (plain → TTA) |", "|---|---|---:|---:|---:|---|"]
    for (protocol, model), rs in groups.items():
        per = ", ".join(f"{100 * r['oa']:.2f} → {100 * r['tta']['oa']:.2f}" for r in rs)
        lines.append(f"| {protocol} | {model} | {len(rs)} | {stat([r['oa'] for r in rs])} | "
                     f"{stat([r['tta']['oa'] for r in rs])} | {per} |")
    return "\n".join(lines)


def table(
    runs: list[dict[str, Any]], protocols: list[str], models: list[str], model_args: dict[str, Any] | None = None
) -> str:
    """The markdown zoo table; parameters are counted on the models as built with ``model_args``."""
    lines = [
        "| protocol | model | seeds | OA % | AA % | kappa ×100 | params (total / trainable) | train s | inference px/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for protocol in protocols:
        for model in models:
            rs = [r for r in runs if r["protocol"] == protocol and r["model"] == model]
            if not rs:
                continue
            total, trainable = n_params(model, model_args=model_args)
            label = f"{protocol} (leaky)" if rs[0]["leaky"] else protocol
            lines.append(
                f"| {label} | {model} | {len(rs)} | {stat([r['oa'] for r in rs])} | {stat([r['aa'] for r in rs])} | "
                f"{stat([r['kappa'] for r in rs])} | {total} / {trainable} | "
                f"{np.mean([r['train_seconds'] for r in rs]):.1f} | {np.mean([r['pixels_per_second'] for r in rs]):,.0f} |"
            )
    return "\n".join(lines)


def drop_table(runs: list[dict[str, Any]]) -> str:
    """Markdown table of full-band vs half-band OA for the runs that have a band-drop result."""
    rows = [r for r in runs if "band_drop" in r]
    if not rows:
        return ""
    lines = ["| protocol | model | seed | bands | OA % all bands | OA % half the bands | drop (points) | target ≤ 5 |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        bd = r["band_drop"]
        drop = 100 * (r["oa"] - bd["oa"])
        verdict = "met" if drop <= 100 * BAND_DROP_TARGET else "NOT met"
        lines.append(f"| {r['protocol']} | {r['model']} | {r['seed']} | {bd['bands']} of {bd['of']} | "
                     f"{100 * r['oa']:.2f} | {100 * bd['oa']:.2f} | {drop:.2f} | {verdict} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(ZOO))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="Seeds run are FIRST..FIRST+SEEDS-1 (to add seeds to an earlier run).")
    parser.add_argument("--protocols", nargs="+", default=["random:0.1", "disjoint:0.5"])
    parser.add_argument("--epochs", type=int, default=None, help="Training epochs (default: the trainer's).")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="Training pixels held out for epoch selection (0: none, final weights).")
    parser.add_argument("--label-smoothing", type=float, default=None,
                        help="Label smoothing of the training loss (default: the trainer's 0.1).")
    parser.add_argument("--class-weights", type=float, default=0.0,
                        help="Class-balanced loss n_k^-P for the neural models (0: none; the SVM is never weighted).")
    parser.add_argument("--tta", action="store_true", help="Also score each run with D4 test-time augmentation.")
    parser.add_argument("--model-args", type=json.loads, default=None,
                        help='Constructor arguments for every model, as JSON, e.g. \'{"hcs": false}\'.')
    parser.add_argument("--no-band-drop", action="store_true", help="Skip the channel_vit half-band test.")
    parser.add_argument("--progress", action="store_true", help="Show the training progress bars.")
    parser.add_argument("--out", default=None, help="Keep run folders here (default: temp dir).")
    parser.add_argument("--json", default=None, help="Also write all per-run metrics to this JSON file.")
    parser.add_argument("--radius", type=int, default=None,
                        help="Disjoint buffer in pixels (default: the largest receptive radius of the models "
                             "run; give 11 to reuse the splits of the tables made with the ssfcn in the run).")
    parser.add_argument("--legacy-blocks", action="store_true",
                        help="Disjoint block layouts of the tables up to session 32 (make_split legacy_blocks).")
    args = parser.parse_args()

    from hsi_app.io import open_cube
    from hsi_app.tasks.train_classifier import TrainOptions, protocol_split, receptive_radius, train_classifier

    models = available(args.models)
    cube = open_cube("indian_pines")
    needed = max(receptive_radius(m) for m in models)
    radius = needed if args.radius is None else args.radius
    if radius < needed:
        raise SystemExit(f"--radius {radius} is below a model's receptive radius: its test pixels would see "
                         "training pixels")
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        for protocol in args.protocols:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                split = protocol_split(cube, protocol, seed=seed, radius=radius, legacy_blocks=args.legacy_blocks)
                for model in models:
                    run = root / f"{protocol.replace(':', '_')}_{model}_{seed}"
                    t0 = time.perf_counter()
                    opts = TrainOptions(model=model, split=protocol, seed=seed, epochs=args.epochs,
                                        progress=args.progress, val_fraction=args.val_fraction,
                                        label_smoothing=args.label_smoothing, model_args=args.model_args,
                                        class_weight_power=0.0 if model == "svm" else args.class_weights)
                    m = train_classifier(cube, run, opts, split=split)
                    m["run_dir"] = str(run)
                    msg = ""
                    if "channel_vit" in model and not args.no_band_drop:
                        m["band_drop"] = band_drop(run, cube, split)
                        msg = f"  half bands OA {100 * m['band_drop']['oa']:.2f}"
                    if args.tta and model != "svm":
                        m["tta"] = tta_scores(run, cube, split)
                        msg += f"  TTA OA {100 * m['tta']['oa']:.2f}"
                    print(f"{protocol:<13} {model:<15} seed {seed}: OA {100 * m['oa']:.2f}  AA {100 * m['aa']:.2f}  "
                          f"kappa {m['kappa']:.4f}  train {m['train_seconds']:.0f} s  {m['pixels_per_second']:,.0f} px/s"
                          f"{msg}  (total {time.perf_counter() - t0:.0f} s)", flush=True)
                    runs.append(m)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=2))
    epochs = f"{args.epochs} epochs" if args.epochs else "default epochs"
    val = f"validation fraction {args.val_fraction:g}" if args.val_fraction else "no validation (final weights)"
    smooth = "" if args.label_smoothing is None else f", label smoothing {args.label_smoothing:g}"
    extra = f", model arguments {json.dumps(args.model_args)}" if args.model_args else ""
    extra += f", class weights n^-{args.class_weights:g}" if args.class_weights else ""
    print(f"\nIndian Pines, {args.seeds} seed(s), {epochs}, {val}{smooth}{extra}; disjoint buffer {radius} px\n")
    print(table(runs, args.protocols, models, args.model_args))
    drops = drop_table(runs)
    if drops:
        print("\nBand drop (channel_vit trained on all bands, tested on every other band):\n")
        print(drops)
    ttas = tta_table(runs)
    if ttas:
        print("\nD4 test-time augmentation (the same runs re-predicted, same test pixels):\n")
        print(ttas)


if __name__ == "__main__":
    main()
