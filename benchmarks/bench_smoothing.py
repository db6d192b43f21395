"""Guided filtering of saved classification runs: each run scored on its own test pixels, plain and smoothed.

Every run folder (``hsi train`` output with its ``split.npz``, or an ``hsi ensemble`` folder of
runs on one split) is loaded once and its scene predicted twice through the code of ``hsi
predict``: as it is, and with ``--smooth``
(:mod:`hsi_app.tasks.prob_smoothing`: a guided filter of the class probabilities, guided by
the scene's leading principal components; no labels). The table gives both scores per run and
the paired change; runs named with ``--tuning`` (the ones the filter's setting was chosen on)
are marked and left out of a second, held-out summary line. ``--versus SETTING`` also maps every
run with a second setting and adds the paired OA and AA change between the two settings.

Each row's protocol carries its leak verdict, as in ``bench_classification.py``, by the one rule of
:func:`hsi_app.data.splits.leaks` (a test pixel within the predictor's reach of a training pixel):
``(leaky)`` when the plain map leaks (the model's receptive radius), ``(leaky when smoothed)`` when only
a filtered map does. The guided filter reads probabilities within ``2R`` px, so a smoothed map's reach
is the model's radius plus ``2R`` (:attr:`~hsi_app.tasks.prob_smoothing.SmoothSpec.halo`): on random
and fixed splits even the per-pixel SVM's filtered map spreads its predictions at training pixels to
the test pixels next to them.

Run: ``.venv/bin/python benchmarks/bench_smoothing.py RUN [RUN ...] [--smooth guided:2,1e-3,3]
[--versus guided:2,1e-4,1] [--tuning RUN ...] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classification import stat  # noqa: E402  (shared table helpers)
from bench_ensemble import mean_se  # noqa: E402
from bench_model_zoo import predictor_scores  # noqa: E402


def score_run(run: Path, smooth: Any, cubes: dict[str, Any], versus: Any = None) -> dict[str, Any]:
    """Plain and smoothed OA / AA / kappa (and px/s) of one run, or one ``hsi ensemble`` folder, on its split's test
    pixels; with ``versus`` (another setting) also ``"versus"``, the scores of the map filtered that way."""
    from hsi_app.ensemble import common_split, ensemble_members, is_ensemble_dir, load_classifier
    from hsi_app.errors import ConfigError
    from hsi_app.io.open import open_cube

    pred = load_classifier([run])
    split = common_split(ensemble_members(run) if is_ensemble_dir(run) else [run])
    if split is None:
        raise ConfigError(f"{run}: no split.npz common to its runs, so no test pixels to score")
    if pred.data not in cubes:
        cubes[pred.data] = open_cube(pred.data)
    cube = cubes[pred.data]
    reach = int(pred.receptive_radius)
    row = {"run": str(run), "model": pred.model_name, "protocol": split.protocol, "seed": int(split.seed),
           "leaky": smoothed_leaks(split, reach), "leaky_smoothed": smoothed_leaks(split, reach, smooth),
           "plain": predictor_scores(pred, cube, split), "smoothed": predictor_scores(pred, cube, split, smooth=smooth)}
    if versus is not None:
        row["versus"] = predictor_scores(pred, cube, split, smooth=versus)
        row["leaky_versus"] = smoothed_leaks(split, reach, versus)
    return row


def smoothed_leaks(split: Any, reach: int, smooth: Any = None) -> bool:
    """Whether a map of a model of receptive radius ``reach``, guided-filtered by ``smooth`` (``None``: plain),
    leaks on ``split``: :func:`~hsi_app.data.splits.leaks` with the reach widened by the filter's ``2R`` halo."""
    from hsi_app.data.splits import leaks

    return leaks(split.train, split.test, reach + (0 if smooth is None else int(smooth.halo)))


def protocol_label(row: dict[str, Any]) -> str:
    """The row's protocol with its leak verdict: ``(leaky)`` for the plain map (and so every filtered one),
    ``(leaky when smoothed)`` when only a filtered map leaks (``--smooth`` or ``--versus``), else the protocol."""
    if row.get("leaky"):
        return f"{row['protocol']} (leaky)"
    if row.get("leaky_smoothed") or row.get("leaky_versus"):
        return f"{row['protocol']} (leaky when smoothed)"
    return str(row["protocol"])


def summary_line(label: str, rows: list[dict[str, Any]]) -> str:
    """One markdown row: mean ± std of the plain and smoothed scores and the paired OA change."""
    if not rows:
        return ""
    d = np.array([r["smoothed"]["oa"] - r["plain"]["oa"] for r in rows]) * 100
    cols = [stat([r[k][m] for r in rows]) for m in ("oa", "aa", "kappa") for k in ("plain", "smoothed")]
    return f"| {label} ({len(rows)} runs) | " + " | ".join(cols) + f" | {mean_se(d)}, up on {(d > 0).sum()} of {d.size} |"


def versus_line(label: str, rows: list[dict[str, Any]]) -> str:
    """One markdown row: the paired OA and AA change, in points, from the ``--versus`` setting to ``--smooth``."""
    if not rows:
        return ""
    cells = []
    for metric in ("oa", "aa"):
        d = np.array([r["smoothed"][metric] - r["versus"][metric] for r in rows]) * 100
        cells.append(f"{mean_se(d)}, up on {(d > 0).sum()} of {d.size}")
    return f"| {label} ({len(rows)} runs) | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="Run folders written by `hsi train` (or `hsi ensemble` folders).")
    parser.add_argument("--smooth", default="guided", help="As `hsi predict --smooth` (default: guided).")
    parser.add_argument("--tuning", nargs="*", type=Path, default=[],
                        help="Runs whose test pixels chose the filter's setting (marked; left out of the held-out line).")
    parser.add_argument("--versus", default=None,
                        help="A second --smooth setting to compare with, run by run (e.g. guided:2,1e-4,1).")
    parser.add_argument("--json", default=None, help="Also write every score to this JSON file.")
    args = parser.parse_args()

    from hsi_app.tasks.prob_smoothing import parse_smooth

    spec = parse_smooth(args.smooth)
    if spec is None:
        parser.error("--smooth none leaves nothing to compare; pass guided or guided:R,EPS[,K]")
    versus = parse_smooth(args.versus)
    tuning = {p.resolve() for p in args.tuning}
    cubes: dict[str, Any] = {}
    rows = []
    print(f"| run | protocol | seed | OA % | OA % with {spec} | change | AA % | AA % with {spec} |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for run in args.runs:
        r = score_run(run, spec, cubes, versus)
        r["tuning"] = run.resolve() in tuning
        rows.append(r)
        p, s = r["plain"], r["smoothed"]
        mark = " (tuning)" if r["tuning"] else ""
        print(f"| {run}{mark} | {protocol_label(r)} | {r['seed']} | {100 * p['oa']:.2f} | {100 * s['oa']:.2f} | "
              f"{100 * (s['oa'] - p['oa']):+.2f} | {100 * p['aa']:.2f} | {100 * s['aa']:.2f} |", flush=True)
    if any(r["leaky"] or r["leaky_smoothed"] or r.get("leaky_versus") for r in rows):
        print("\n(leaky: a test pixel lies within the model's receptive radius of a training pixel, plus the filter's "
              "2R px for a smoothed map; part of such a score is the protocol's leak)")
    print()
    print("| runs | OA % | OA % smoothed | AA % | AA % smoothed | kappa ×100 | kappa ×100 smoothed | OA change (paired) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(summary_line("all", rows))
    held = [r for r in rows if not r["tuning"]]
    if tuning and held:
        print(summary_line("held out", held))
    if versus is not None:
        print(f"\n| runs | OA change, {versus} -> {spec} | AA change, {versus} -> {spec} |")
        print("|---|---:|---:|")
        print(versus_line("all", rows))
        if tuning and held:
            print(versus_line("held out", held))
    rates = [(r["plain"]["pixels_per_second"], r["smoothed"]["pixels_per_second"]) for r in rows]
    print(f"\nwhole-scene px/s: plain {np.mean([a for a, _ in rates]):,.0f}, smoothed {np.mean([b for _, b in rates]):,.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
