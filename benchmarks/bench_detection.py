"""Detection benchmark: simulated point targets in the real Indian Pines background.

Protocol (:mod:`hsi_app.tasks.detect_eval`): targets from ``datasets/spectral_library_demo.csv``
(synthetic material-like spectra, see ``datasets/make_spectral_library_demo.py``) are
implanted SPOD-style. The learned point detector trains on crops from the left two
thirds of the scene (targets simulated on the fly, seed sequences ``[seed, step, i]``);
every method is scored on test scenes whose targets lie only in the right third
(columns >= 97), with integer seeds 10000.. that training never uses.

Prints markdown tables (overall and per size bin) and writes ``results.json`` in --out.

    .venv/bin/python benchmarks/bench_detection.py --out /tmp/bench_detect
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

BINS = ("sub-pixel", "1-2", "3-5", "6-16")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/bench_detect")
    ap.add_argument("--library", default=str(Path(__file__).parents[1] / "datasets" / "spectral_library_demo.csv"))
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--steps-per-epoch", type=int, default=80)
    ap.add_argument("--test-scenes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy machine)")
    ap.add_argument("--methods", default="rx,mf,ace,cem")
    args = ap.parse_args()

    import torch

    from hsi_app.data.targets import SimOptions
    from hsi_app.io import open_cube
    from hsi_app.tasks.detect_eval import TEST_SEED_BASE, column_regions, evaluate, test_scenes
    from hsi_app.tasks.detection import find_peaks, peak_boxes, scene_image, target_spectra
    from hsi_app.tasks.detectors_classical import classical_scores
    from hsi_app.tasks.train_detector import DetectTrainOptions, train_detector

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cube = open_cube("indian_pines")
    spectra, names = target_spectra(cube, library=args.library)
    image = scene_image(cube)
    good = cube.hsi.good_bands()
    opts = DetectTrainOptions(epochs=args.epochs, steps_per_epoch=args.steps_per_epoch, seed=args.seed,
                              n_test_scenes=args.test_scenes)
    learned = train_detector(image, spectra, names, out / "run", opts, wavelengths=good.hsi.wavelengths,
                             fwhm=good.hsi.fwhm, band_indices=np.arange(image.shape[0]),
                             source_bands=cube.hsi.shape[0], data="indian_pines",
                             extra={"library": args.library})
    results: dict[str, dict[str, Any]] = {"learned": learned}
    _, h, w = image.shape
    regions = column_regions(h, w, buffer=learned_radius(out / "run"))
    seeds = [TEST_SEED_BASE + i for i in range(args.test_scenes)]
    scenes = test_scenes(image, spectra, names, regions.test, seeds=seeds, options=SimOptions(scale=1.0))
    for m in [s for s in args.methods.split(",") if s]:
        t0 = time.time()

        def fn(img: np.ndarray, m: str = m) -> tuple[np.ndarray, Any]:
            maps = classical_scores(m, img, spectra)
            det = find_peaks(maps, mask=regions.test)
            det.box = peak_boxes(maps, det)
            return maps, det

        results[m] = evaluate(fn, scenes, regions.test, class_agnostic=m.startswith("rx"))
        results[m]["seconds"] = time.time() - t0
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float))
    print(table(results))


def learned_radius(run: Path) -> int:
    """Receptive radius stored in a run's config (the buffer of the column split)."""
    return int(json.loads((run / "config.json").read_text())["receptive_radius"])


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown tables of the results."""
    cols = ["mAP@1px", "mAP@2px", "mAP@3px", "mAP25", "mAP50", "auroc"]
    lines = ["| method | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{r.get(c, float('nan')):.3f}" for c in cols) + " |")
    lines += ["", "| method | " + " | ".join(f"{b} mAP@2px / mAP50" for b in BINS) + " |", "|---" * (len(BINS) + 1) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{r.get(f'{b}/mAP@2px', float('nan')):.3f} / {r.get(f'{b}/mAP50', float('nan')):.3f}" for b in BINS) + " |")
    n = int(results["learned"].get("n_targets", 0))
    lines.append(f"\n{n} test targets; learned detector trained {results['learned'].get('train_seconds', 0):.0f} s")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
