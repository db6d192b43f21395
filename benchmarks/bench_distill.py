"""Distil a deep ensemble into one run on Indian Pines, without test pixels (``hsi train --teacher``).

For every split seed ``S`` the teacher is the ensemble of ``bench_ensemble.py``'s members
0..M-1 on that split (trained here when ``--teachers`` lacks them). The student is one run
of the same model and recipe with init seed ``S`` (so member 0 is the same run without
the teacher: same initial weights, same tile sequence; only the loss differs), trained with
the cross-entropy to the ensemble's probabilities at every non-test pixel
(:mod:`hsi_app.tasks.distill`). The table gives member 0, the ensemble and the student per
seed, the paired gains of the student over member 0 and over the ensemble, and each one's
whole-scene pixels per second (the student maps at one run's cost).

Students can be trained in separate processes (``--seed S --train-only``); a later call
without ``--train-only`` reuses every finished run and scores.

Run: ``.venv/bin/python benchmarks/bench_distill.py --model spectral_vit_wide --seeds 7 --epochs 100
--val-fraction 0 --label-smoothing 0 --teachers runs/ensemble --out runs/distill``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classification import stat  # noqa: E402  (shared table helpers)
from bench_ensemble import add_run_args, mean_se, member_dir, score_runs, train_member  # noqa: E402
from bench_model_zoo import predictor_scores  # noqa: E402


def student_dir(root: Path, protocol: str, model: str, seed: int) -> Path:
    """Run folder of the distilled student for split seed ``seed``."""
    return root / f"{protocol.replace(':', '_')}_{model}_{seed}" / "student"


def train_student(cube: Any, split: Any, run: Path, teachers: list[Path], args: argparse.Namespace,
                  seed: int) -> dict[str, Any]:
    """Train the student into ``run`` (skipped when its ``metrics.json`` is already there)."""
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    done = run / "metrics.json"
    if done.is_file():
        return json.loads(done.read_text())
    opts = TrainOptions(model=args.model, split=args.protocol, seed=seed, epochs=args.epochs, progress=args.progress,
                        val_fraction=args.val_fraction, label_smoothing=args.label_smoothing,
                        teacher=tuple(str(t) for t in teachers), distill_weight=args.distill_weight)
    t0 = time.perf_counter()
    m = train_classifier(cube, run, opts, split=split)
    print(f"seed {seed} student: OA {100 * m['oa']:.2f}  train {m['train_seconds']:.0f} s  "
          f"(total {time.perf_counter() - t0:.0f} s)", flush=True)
    return m


def add_agreement(row: dict[str, Any], test: np.ndarray) -> None:
    """Replace the class maps in ``row`` by the share of test pixels where member 0 and the student each
    give the ensemble's class (``"agrees"``): how much of the teacher's function the student took on."""
    ens = row["ensemble"].pop("classes")[test]
    for key in ("member0", "student"):
        row[key]["agrees"] = float(np.mean(row[key].pop("classes")[test] == ens))


def gain(rows: list[dict[str, Any]], key: str, against: str) -> str:
    """Mean paired difference (points) of the student over ``against`` (``member0`` or ``ensemble``), with its
    standard error over the split seeds."""
    return mean_se(np.array([r["student"][key] - r[against][key] for r in rows]) * 100)


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown: per seed the OA of member 0, the ensemble and the student, then mean ± std and paired gains."""
    lines = ["| split seed | member 0 | ensemble | student | student − member 0 | student − ensemble |",
             "|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, m0, e = (100 * r[k]["oa"] for k in ("student", "member0", "ensemble"))
        lines.append(f"| {r['seed']} | {m0:.2f} | {e:.2f} | {s:.2f} | {s - m0:+.2f} | {s - e:+.2f} |")
    lines.append("| mean ± std | " + " | ".join(stat([r[k]["oa"] for r in rows]) for k in ("member0", "ensemble", "student"))
                 + f" | {gain(rows, 'oa', 'member0')} | {gain(rows, 'oa', 'ensemble')} |")
    return "\n".join(lines)


def summary(rows: list[dict[str, Any]]) -> str:
    """Markdown: OA / AA / kappa (mean ± std over seeds), agreement with the ensemble on the test pixels and
    whole-scene px/s of the three models."""
    lines = ["| model | OA % | AA % | kappa ×100 | test pixels with the ensemble's class % | inference px/s |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, name in (("member0", "member 0 (single run)"), ("ensemble", "ensemble of the members"),
                      ("student", "student (one run, distilled)")):
        got = [r[key] for r in rows]
        rate = np.mean([g["pixels_per_second"] for g in got])
        agrees = stat([g["agrees"] for g in got]) if all("agrees" in g for g in got) else "-"
        lines.append(f"| {name} | {stat([g['oa'] for g in got])} | {stat([g['aa'] for g in got])} | "
                     f"{stat([g['kappa'] for g in got])} | {agrees} | {rate:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser)  # --members: the ensemble members that make the teacher
    parser.add_argument("--distill-weight", type=float, default=1.0)
    parser.add_argument("--teachers", required=True, help="bench_ensemble.py's --out: the members (reused, or trained).")
    parser.add_argument("--out", required=True, help="Student run folders live here (kept, reused).")
    args = parser.parse_args()

    from hsi_app.io import open_cube
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.train_classifier import protocol_split, receptive_radius

    cube = open_cube("indian_pines")
    radius = receptive_radius(args.model)
    seeds = [args.seed] if args.seed is not None else list(range(args.first_seed, args.first_seed + args.seeds))
    rows = []
    for seed in seeds:
        split = protocol_split(cube, args.protocol, seed=seed, radius=radius)
        teachers = [member_dir(Path(args.teachers), args.protocol, args.model, seed, m) for m in range(args.members)]
        for m, run in enumerate(teachers):
            train_member(cube, split, run, args, seed, m)
        student = student_dir(Path(args.out), args.protocol, args.model, seed)
        train_student(cube, split, student, teachers, args, seed)
        if args.train_only:
            continue
        row = {"seed": seed, "member0": predictor_scores(Predictor.load(teachers[0]), cube, split, keep_classes=True),
               "ensemble": score_runs(teachers, cube, split, keep_classes=True),
               "student": predictor_scores(Predictor.load(student), cube, split, keep_classes=True)}
        add_agreement(row, split.test > 0)
        print(f"seed {seed}: member 0 {100 * row['member0']['oa']:.2f}, ensemble {100 * row['ensemble']['oa']:.2f}, "
              f"student {100 * row['student']['oa']:.2f}", flush=True)
        rows.append(row)
    if args.train_only:
        return
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"\nIndian Pines {args.protocol}, {args.model}, teacher = ensemble of {args.members}, "
          f"distillation weight {args.distill_weight}, split seeds {seeds}\n")
    print(table(rows))
    print()
    print(summary(rows))


if __name__ == "__main__":
    main()
