"""How much a saved denoiser's margin over the classical baselines depends on the noise draw.

The denoising tables score one noisy version of the held-out block (noise seed 10000). This
script scores a saved run folder (e.g. a shipped model in ``models/``) on several independent
draws of the same noise model on the same held-out block, and for each draw gives every
classical baseline its best grid value against the clean reference (oracle), once by MPSNR
and once by PSNR, so each gain is measured against baselines tuned for that metric.

Prints one Markdown row per draw and the mean ± std of the gains. No training.

Usage::

    python benchmarks/bench_denoise_noise_draws.py --run models/indian_pines_hsdt_s_mixture --noise mixture
    python benchmarks/bench_denoise_noise_draws.py --run models/indian_pines_hsdt_subspace_g50 \\
        --noise gaussian:50 --seeds 10000 10001 10002 10003 10004
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, type=Path, help="run folder written by `hsi train --task denoise`")
    p.add_argument("--noise", required=True, help="noise spec, e.g. gaussian:50 or mixture")
    p.add_argument("--seeds", nargs="+", type=int, default=[10000, 10001, 10002, 10003, 10004],
                   help="noise seeds of the draws (10000 is the one the other tables use)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()

    import torch

    from hsi_app.data.noise import add_noise
    from hsi_app.io import open_cube
    from hsi_app.tasks.denoise_baselines import best_baselines
    from hsi_app.tasks.denoise_metrics import restoration_metrics
    from hsi_app.tasks.denoising import Denoiser
    from hsi_app.tasks.train_classifier import scene_in_memory

    torch.set_num_threads(args.threads)
    den = Denoiser.load(args.run, device="cpu")
    image, _, _ = scene_in_memory(open_cube(den.config.data or "indian_pines"))
    c0, c1 = den.config.split["test_cols"]
    clean, mask = den.heldout_block(image)  # no-data entries are not scored
    score_kw = {"offset": den.offset, "scale": den.scale, "mask": mask}
    print(f"{args.run} on held-out columns [{c0}, {c1}), noise {args.noise}\n")
    print("| noise seed | model PSNR | model MPSNR | best baseline by MPSNR | its MPSNR | MPSNR gain "
          "| best baseline by PSNR | its PSNR | PSNR gain | SAM: model / lowest baseline |")
    print("| ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: | --- |")
    gains = []
    for seed in args.seeds:
        noisy = add_noise(clean, args.noise, seed)
        got = restoration_metrics(den.denoise_windows(noisy, 512), clean, **score_kw)
        by_m = best_baselines(noisy, clean, **score_kw, select="mpsnr")
        by_p = best_baselines(noisy, clean, **score_kw, select="psnr")
        m = max(by_m, key=lambda k: by_m[k]["mpsnr"])
        q = max(by_p, key=lambda k: by_p[k]["psnr"])
        gm, gp = got["mpsnr"] - by_m[m]["mpsnr"], got["psnr"] - by_p[q]["psnr"]
        gains.append((gm, gp))
        sam = min(r["sam"] for r in (*by_m.values(), *by_p.values()))
        print(f"| {seed} | {got['psnr']:.2f} | {got['mpsnr']:.2f} | {m} {by_m[m]['param']} | {by_m[m]['mpsnr']:.2f} "
              f"| {gm:+.2f} | {q} {by_p[q]['param']} | {by_p[q]['psnr']:.2f} | {gp:+.2f} | {got['sam']:.4f} / {sam:.4f} |",
              flush=True)
    g = np.array(gains)
    spread = (lambda x: f" ± {x.std(ddof=1):.2f}") if len(g) > 1 else (lambda x: "")
    print(f"\nMPSNR gain {g[:, 0].mean():+.2f}{spread(g[:, 0])} dB (min {g[:, 0].min():+.2f}); "
          f"PSNR gain {g[:, 1].mean():+.2f}{spread(g[:, 1])} dB (min {g[:, 1].min():+.2f}) over {len(g)} draws")


if __name__ == "__main__":
    main()
