"""Cross-sensor LoRA benchmark: AVIRIS Indian Pines -> EnMAP-like held-out region.

1. Train a base model on the LEFT part of Indian Pines (columns < 70; AVIRIS, 200 bands).
2. Build an EnMAP-like cube of the RIGHT part (columns >= 70 + the model's receptive radius):
   the AVIRIS spectra are resampled with Gaussian spectral responses to 224 EnMAP-like
   bands. The real EnMAP band table comes from each product's METADATA.XML, which is not
   shipped here, so by default the centres are synthesised: 91 VNIR bands 418-993 nm
   (FWHM 6.5 nm) and 133 SWIR bands 902-2445 nm (FWHM 10 nm), numbered in increasing
   wavelength as in a real product (the detectors interleave at 902-993 nm; before
   session 52 all VNIR bands came first); ``--enmap-metadata PATH``
   uses a real product's table instead. ``--gaps nodata`` makes the target bands that fall
   in the AVIRIS water-vapour gaps (1353-1422 and 1819-1953 nm) no-data, as an EnMAP L2A
   product has none there; every arm then uses the remaining bands (the default, ``fill``,
   interpolates them from the gap edges).
3. Adapt with 10 labelled pixels per class of the right part, three ways, on the same
   split: LoRA (``hsi_app.tasks.finetune.finetune``, base frozen, adapter only), a full
   fine-tune of the base (all weights trainable, same input band map), and the same model
   trained from scratch on the 224 bands; only the head of the frozen base (the ablation of
   LoRA's adapters); and SVM-RBF on the same spectra, the baseline (``--arms`` picks a subset).
   LoRA and the full fine-tune share their optimiser settings (lr 5e-3, weight decay 0.05,
   cyclic cosine); "scratch" uses ``hsi train``'s plain cosine, and the extra arm
   ``scratch_cyclic`` (not run by default) trains from scratch with the cyclic cosine too.
   ``zero_shot`` and ``zero_shot_native`` (not run by default) apply the base with no
   adaptation: through the band map, or (wavelength-aware bases: ``channel_vit*``) on the
   target's own 224 bands, with the base's band statistics; ``zero_shot_target`` and
   ``zero_shot_native_target`` normalise with the target's own (label-free) statistics
   instead; ``zero_shot_source`` applies the base to the region's original AVIRIS bands
   (what new fields alone cost). Read their accuracy on the classes the base saw.
4. Repeat step 3 for ``--draws`` few-label draws (the base is trained once) and print one
   table per draw and a summary (mean ± std of OA / AA / kappa on the remaining labelled
   right-part pixels, the accuracy on the classes the base saw and on the ones it never
   saw, trainable parameters, seconds).

The steps live in :mod:`hsi_app.tasks.cross_sensor` (shared with
``notebooks/04_cross_sensor.ipynb``).

Usage::

    python benchmarks/bench_cross_sensor.py --model spectral_vit --base-epochs 60 --epochs 20 --draws 5
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from hsi_app.tasks.cross_sensor import GAP_RULES  # light: numpy and xarray, no torch

DEFAULT_ARMS = ("lora", "full", "scratch", "head", "svm")
ARMS = DEFAULT_ARMS + ("scratch_cyclic", "zero_shot", "zero_shot_target", "zero_shot_native", "zero_shot_native_target",
                       "zero_shot_source")


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="spectral_vit")
    ap.add_argument("--base-epochs", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=20, help="epochs of each adaptation")
    ap.add_argument("--tiles", type=int, default=8, help="training tiles per epoch")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="seed of the first few-label draw (and of the base)")
    ap.add_argument("--base-seed", type=int, default=None, help="seed of the base's training (default: --seed)")
    ap.add_argument("--draws", type=int, default=1,
                    help="few-label draws (seeds SEED, SEED+1, ...) adapted from the one base; the table gives "
                         "mean ± std over them")
    ap.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    ap.add_argument("--base", default=None,
                    help="reuse this trained base run folder (from an earlier --out DIR: DIR/base) instead of training one")
    ap.add_argument("--enmap-metadata", default=None,
                    help="resample to the band table of this EnMAP L2A product (its METADATA.XML, folder or .zip) "
                         "instead of the synthetic EnMAP-like one")
    ap.add_argument("--gaps", default="fill", choices=GAP_RULES,
                    help="target bands in the AVIRIS water-vapour gaps: interpolated from the gap edges (fill, "
                         "sessions up to 38) or no-data and left out by every arm, as in an EnMAP L2A product")
    ap.add_argument("--arms", default=",".join(DEFAULT_ARMS), help=f"comma-separated subset of {','.join(ARMS)}")
    args = ap.parse_args()
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        ap.error(f"--arms: unknown {unknown}; choose from {','.join(ARMS)}")

    from hsi_app.io.builtin import load_indian_pines
    from hsi_app.tasks import cross_sensor as xs

    root = Path(args.out or tempfile.mkdtemp(prefix="bench_cross_"))
    root.mkdir(parents=True, exist_ok=True)
    scene = load_indian_pines()
    bands = None
    if args.enmap_metadata:
        from hsi_app.errors import HSIError
        from hsi_app.io.enmap import read_band_table

        try:
            table = read_band_table(args.enmap_metadata)
        except HSIError as err:
            ap.error(f"--enmap-metadata: {err}")
        bands = (table.wavelength, table.fwhm)
        print(f"target bands: {table.wavelength.size} from {args.enmap_metadata}", flush=True)
    if args.base:
        base = xs.describe_base(args.base)
        args.model = base["model"]
        print(f"reusing the base {args.base} ({args.model})", flush=True)
    else:
        base_seed = args.seed if args.base_seed is None else args.base_seed
        base = xs.train_base(scene, root / "base", model=args.model, epochs=args.base_epochs, tiles=args.tiles,
                             seed=base_seed)
        print(f"base trained in {base['seconds']:.0f} s", flush=True)
        base["seconds_text"] = f"{args.base_epochs} epochs, seed {base_seed}, {base['seconds']:.0f} s"
    seen = xs.base_classes(scene)
    rows = []
    for draw in range(args.seed, args.seed + args.draws):
        target = xs.enmap_like_target(scene, radius=base["radius"], per_class=args.per_class, seed=draw,
                                     bands=bands, gaps=args.gaps)
        common = {"epochs": args.epochs, "tiles": args.tiles, "seed": draw}
        runs = {"lora": lambda: xs.adapt_lora(base["run_dir"], target, root / f"lora_{draw}", rank=args.rank, **common),
                "full": lambda: xs.adapt_full(base["run_dir"], target, model=args.model, **common),
                "scratch": lambda: xs.train_scratch(target, model=args.model, **common),
                "scratch_cyclic": lambda: xs.train_scratch(target, model=args.model, schedule="cyclic-cosine",
                                                           **common),
                "head": lambda: xs.adapt_head(base["run_dir"], target, **common),
                "svm": lambda: xs.train_svm(target, seed=draw),
                "zero_shot": lambda: xs.zero_shot(base["run_dir"], target),
                "zero_shot_native": lambda: xs.zero_shot(base["run_dir"], target, native=True),
                "zero_shot_target": lambda: xs.zero_shot(base["run_dir"], target, stats="target"),
                "zero_shot_native_target": lambda: xs.zero_shot(base["run_dir"], target, native=True, stats="target"),
                "zero_shot_source": lambda: xs.zero_shot_source(base["run_dir"], scene, target)}
        for arm in arms:
            row = {"draw": draw, **runs[arm]()}
            row.update(xs.seen_unseen_scores(target, row.pop("map"), seen))
            rows.append(row)
            print(row, flush=True)
        print(f"\nDraw {draw}:\n" + xs.markdown_table([r for r in rows if r["draw"] == draw]), flush=True)

    print(f"\nCross-sensor: {args.model} base on Indian Pines columns < {xs.SPLIT_COL} ({base['params']:,} params, "
          f"{base['seconds_text']}); target = columns >= {target.first_col} resampled to "
          f"{target.cube.hsi.shape[0]} {'EnMAP' if bands is not None else 'EnMAP-like'} bands "
          f"({len(target.cube.hsi.bad_bands)} no-data, gaps={args.gaps}); "
          f"{int((target.train > 0).sum())} training px ({args.per_class}/class), "
          f"{int((target.test > 0).sum())} test px; {args.epochs} epochs per adaptation; "
          f"few-label draws {args.seed}..{args.seed + args.draws - 1} (mean ± population std); the base saw "
          f"classes {seen}, the others are unseen")
    summary = xs.summarize(rows)
    print(xs.summary_table(summary))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "base_seconds": base.get("seconds"),
                                               "summary": summary}, indent=2, default=str))


if __name__ == "__main__":
    main()
