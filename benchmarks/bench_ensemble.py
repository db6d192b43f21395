"""Deep ensembles on Indian Pines: M runs of one model on the same split, probabilities averaged.

For every split seed ``S`` the ``random:0.1`` (or other) split is made once; member ``m``
is ``hsi train --seed S --init-seed S+1000m`` (the split's seed, then the seed of the model
weights, tile order and dropout), so member 0 is exactly the single run of
``bench_model_zoo.py`` for seed ``S``. Each member is kept as a run folder under ``--out``; the ensemble is the
members loaded together through :class:`hsi_app.ensemble.EnsemblePredictor` (the same code
as ``hsi predict --model RUN_A --model RUN_B``), predicted over the whole scene and scored
on the split's test pixels. The table gives every member and the ensembles of the first
``k`` members, with the paired gain of the ensemble over its member 0.

Members can be trained in separate processes (``--seed S --member M --train-only``), which
is how two cores run two members at once; a later call without ``--train-only`` reuses
every finished member and scores.

Run: ``.venv/bin/python benchmarks/bench_ensemble.py --model spectral_vit_wide --seeds 5 --members 2
--epochs 100 --val-fraction 0 --label-smoothing 0 --out runs/ensemble [--tta]``
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
from bench_model_zoo import predictor_scores  # noqa: E402

INIT_SEED_STRIDE = 1000


def member_dir(root: Path, protocol: str, model: str, seed: int, member: int) -> Path:
    """Run folder of member ``member`` for split seed ``seed``."""
    return root / f"{protocol.replace(':', '_')}_{model}_{seed}" / f"member_{member}"


def init_seed(seed: int, member: int) -> int:
    """Initialisation seed of a member: member 0 keeps the split seed (the zoo's single run)."""
    return seed + INIT_SEED_STRIDE * member


def train_member(cube: Any, split: Any, run: Path, args: argparse.Namespace, seed: int, member: int) -> dict[str, Any]:
    """Train one member into ``run`` (skipped when its ``metrics.json`` is already there)."""
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    done = run / "metrics.json"
    if done.is_file():
        return json.loads(done.read_text())
    opts = TrainOptions(model=args.model, split=args.protocol, seed=seed, init_seed=init_seed(seed, member), epochs=args.epochs,
                        progress=args.progress, val_fraction=args.val_fraction, label_smoothing=args.label_smoothing)
    t0 = time.perf_counter()
    m = train_classifier(cube, run, opts, split=split)
    print(f"seed {seed} member {member} (init seed {opts.model_seed}): OA {100 * m['oa']:.2f}  "
          f"train {m['train_seconds']:.0f} s  (total {time.perf_counter() - t0:.0f} s)", flush=True)
    return m


def score_runs(runs: list[Path], cube: Any, split: Any, *, tta: bool = False, keep_classes: bool = False) -> dict[str, Any]:
    """OA / AA / kappa of the runs predicted together (mean probabilities) on the split's test pixels."""
    from hsi_app.ensemble import EnsemblePredictor

    return predictor_scores(EnsemblePredictor.load(runs, tta=tta), cube, split, keep_classes=keep_classes)


def table(rows: list[dict[str, Any]], members: int) -> str:
    """Markdown: per seed the members' and the k-member ensembles' OA, then mean ± std and paired gains."""
    head = [f"member {m}" for m in range(members)] + [f"ensemble of {k}" for k in range(2, members + 1)]
    lines = ["| split seed | " + " | ".join(head) + " |", "|---:|" + "---:|" * len(head)]
    for r in rows:
        cells = [f"{100 * m['oa']:.2f}" for m in r["members"]]
        cells += [f"{100 * r['ensembles'][k]['oa']:.2f}" for k in range(2, members + 1)]
        lines.append(f"| {r['seed']} | " + " | ".join(cells) + " |")
    cols = [[r["members"][m]["oa"] for r in rows] for m in range(members)]
    cols += [[r["ensembles"][k]["oa"] for r in rows] for k in range(2, members + 1)]
    lines.append("| mean ± std | " + " | ".join(stat(c) for c in cols) + " |")
    gains = [paired_gain(rows, k) for k in range(2, members + 1)]
    lines.append("| ensemble − member 0, points | " + " | ".join([""] * members + gains) + " |")
    gains = [paired_gain(rows, k, against="mean") for k in range(2, members + 1)]
    lines.append("| ensemble − mean of its members, points | " + " | ".join([""] * members + gains) + " |")
    return "\n".join(lines)


def paired_gain(rows: list[dict[str, Any]], k: int, key: str = "oa", against: str = "first") -> str:
    """Mean paired difference (points) of the k-member ensemble over member 0 (``against="first"``) or over
    the mean of its k members (``"mean"``), with its standard error over the split seeds."""
    def base(r: dict[str, Any]) -> float:
        return r["members"][0][key] if against == "first" else float(np.mean([m[key] for m in r["members"][:k]]))

    return mean_se(np.array([r["ensembles"][k][key] - base(r) for r in rows]) * 100)


def mean_se(d: np.ndarray) -> str:
    """``"+m.mm (se s.ss)"``: the mean of paired differences and its standard error (``se -`` for one seed)."""
    if d.size < 2:
        return f"{d.mean():+.2f} (se -)"
    return f"{d.mean():+.2f} (se {d.std(ddof=1) / np.sqrt(d.size):.2f})"


def px_per_s(scores: list[dict[str, Any]]) -> str:
    """Mean whole-scene pixels per second of the scored predictions ('-' when not recorded)."""
    rates = [s["pixels_per_second"] for s in scores if s.get("pixels_per_second")]
    return f"{np.mean(rates):,.0f}" if rates else "-"


def summary(rows: list[dict[str, Any]], members: int) -> str:
    """Markdown: OA / AA / kappa (mean ± std over seeds) of member 0 and each ensemble, with TTA when scored."""
    lines = ["| model | OA % | AA % | kappa ×100 | OA % with TTA | inference px/s |", "|---|---:|---:|---:|---:|---:|"]
    single = [r["members"][0] for r in rows]
    lines.append(f"| member 0 (single run) | {stat([m['oa'] for m in single])} | {stat([m['aa'] for m in single])} | "
                 f"{stat([m['kappa'] for m in single])} | - | {px_per_s(single)} |")
    for k in range(2, members + 1):
        ens = [r["ensembles"][k] for r in rows]
        tta = stat([e["tta"]["oa"] for e in ens]) if all("tta" in e for e in ens) else "-"
        lines.append(f"| ensemble of {k} | {stat([e['oa'] for e in ens])} | {stat([e['aa'] for e in ens])} | "
                     f"{stat([e['kappa'] for e in ens])} | {tta} | {px_per_s(ens)} |")
    return "\n".join(lines)


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """The options this script shares with ``bench_distill.py``: model, protocol, seeds, members, recipe, output."""
    parser.add_argument("--model", default="spectral_vit_wide")
    parser.add_argument("--protocol", default="random:0.1")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, default=None, help="Only this split seed (e.g. with --train-only).")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--train-only", action="store_true", help="Train the missing runs; do not score.")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--label-smoothing", type=float, default=None)
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--json", default=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_args(parser)
    parser.add_argument("--member", type=int, default=None, help="Only this member.")
    parser.add_argument("--tta", action="store_true", help="Also score the ensembles with D4 test-time augmentation.")
    parser.add_argument("--out", required=True, help="Member run folders live here (kept, reused).")
    args = parser.parse_args()

    from hsi_app.io import open_cube
    from hsi_app.tasks.train_classifier import protocol_split, receptive_radius

    cube = open_cube("indian_pines")
    root = Path(args.out)
    radius = receptive_radius(args.model)
    seeds = [args.seed] if args.seed is not None else list(range(args.first_seed, args.first_seed + args.seeds))
    members = [args.member] if args.member is not None else list(range(args.members))
    rows = []
    for seed in seeds:
        split = protocol_split(cube, args.protocol, seed=seed, radius=radius)
        metrics = [train_member(cube, split, member_dir(root, args.protocol, args.model, seed, m), args, seed, m)
                   for m in members]
        if args.train_only:
            continue
        runs = [member_dir(root, args.protocol, args.model, seed, m) for m in members]
        row: dict[str, Any] = {"seed": seed, "members": [{k: m.get(k) for k in ("oa", "aa", "kappa", "pixels_per_second",
                                                                             "train_seconds")} for m in metrics],
                               "ensembles": {}}
        for k in range(2, len(runs) + 1):
            row["ensembles"][k] = score_runs(runs[:k], cube, split)
            if args.tta:
                row["ensembles"][k]["tta"] = score_runs(runs[:k], cube, split, tta=True)
        print(f"seed {seed}: members " + ", ".join(f"{100 * m['oa']:.2f}" for m in row["members"]) + "; ensembles "
              + ", ".join(f"{k}: {100 * e['oa']:.2f}" for k, e in row["ensembles"].items()), flush=True)
        rows.append(row)
    if args.train_only:
        return
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"\nIndian Pines {args.protocol}, {args.model}, {len(members)} members, split seeds {seeds}\n")
    print(table(rows, len(members)))
    print()
    print(summary(rows, len(members)))


if __name__ == "__main__":
    main()
