"""Cross-sensor LoRA benchmark: AVIRIS Indian Pines -> EnMAP-like held-out region.

1. Train a base model on the LEFT part of Indian Pines (columns < 70; AVIRIS, 200 bands).
2. Build an EnMAP-like cube of the RIGHT part (columns >= 70 + the model's receptive radius):
   the AVIRIS spectra are resampled with Gaussian spectral responses to 224 EnMAP-like
   bands. The real EnMAP band table comes from each product's METADATA.XML, which is not
   shipped here, so the centres are synthesised: 91 VNIR bands 418-993 nm (FWHM 6.5 nm)
   and 133 SWIR bands 902-2445 nm (FWHM 10 nm).
3. Adapt with 10 labelled pixels per class of the right part, three ways, on the same
   split: LoRA (``hsi_app.tasks.finetune.finetune``, base frozen, adapter only), a full
   fine-tune of the base (all weights trainable, same input band map), and the same model
   trained from scratch on the 224 bands.
4. Print one table (OA / AA / kappa on the remaining labelled right-part pixels,
   trainable parameters, seconds).

Usage::

    python benchmarks/bench_cross_sensor.py --model spectral_vit --base-epochs 20 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

SPLIT_COL = 70


def enmap_like_bands() -> tuple[np.ndarray, np.ndarray]:
    """Synthetic EnMAP-like band table: ``(224,)`` centres and FWHM in nm."""
    vnir = np.linspace(418.0, 993.0, 91)
    swir = np.linspace(902.0, 2445.0, 133)
    return np.concatenate([vnir, swir]), np.concatenate([np.full(91, 6.5), np.full(133, 10.0)])


def few_labels(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` random training pixels per class (all but one when fewer), rest = test."""
    rng = np.random.default_rng(seed)
    flat = np.ascontiguousarray(labels).ravel()
    train = np.zeros_like(flat)
    for k in np.unique(flat[flat > 0]):
        idx = np.flatnonzero(flat == k)
        n = min(per_class, max(1, idx.size - 1))
        train[rng.choice(idx, n, replace=False)] = k
    train = train.reshape(labels.shape)
    test = np.where(train > 0, 0, labels)
    return train, test


def main() -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="spectral_vit")
    ap.add_argument("--base-epochs", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=20, help="epochs of each adaptation")
    ap.add_argument("--tiles", type=int, default=8, help="training tiles per epoch")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="folder for the runs (default: a temporary one)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    args = ap.parse_args()

    import torch

    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.data.resample import resample_cube, resampling_matrix
    from hsi_app.data.splits import split_from_maps
    from hsi_app.io.builtin import load_indian_pines
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.classification import classification_metrics, fit_dense, predict_dense
    from hsi_app.tasks.finetune import FinetuneOptions, band_matrix, build_adapted, finetune
    from hsi_app.tasks.train_classifier import _band_stats, receptive_radius

    root = Path(args.out or tempfile.mkdtemp(prefix="bench_cross_"))
    root.mkdir(parents=True, exist_ok=True)
    ip = load_indian_pines()
    image = np.asarray(ip.values, dtype=np.float32)
    labels = np.asarray(ip.hsi.labels, dtype=np.int64)
    wl = ip.hsi.wavelengths
    k = int(labels.max())
    radius = receptive_radius(args.model, 200, k)
    rows: list[dict[str, object]] = []

    # 1. base on the left part (all labelled pixels there; the held-out region is never seen).
    left_img, left_lab = image[:, :, :SPLIT_COL], labels[:, :SPLIT_COL]
    mean, std = _band_stats(left_img, left_lab > 0)
    norm = ((left_img - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
    t0 = time.perf_counter()
    net, _ = fit_dense(norm, left_lab, None, model_name=args.model, num_classes=k, wavelengths=wl,
                       epochs=args.base_epochs, tiles_per_epoch=args.tiles, seed=args.seed, progress=False)
    base_seconds = time.perf_counter() - t0
    print(f"base trained in {base_seconds:.0f} s", flush=True)
    base_dir = root / "base"
    save_run(base_dir, RunConfig(
        task="classification", model_name=args.model, model_args={}, in_chans=200, num_classes=k,
        class_names=list(ip.hsi.class_names or []), wavelengths=json_floats(wl), fwhm=json_floats(ip.hsi.fwhm),
        band_indices=list(range(200)), source_bands=200, mean=[float(v) for v in mean], std=[float(v) for v in std],
        receptive_radius=radius, data="indian_pines[:, :70]"), dict(net.state_dict()))
    n_base = sum(p.numel() for p in net.parameters())

    # 2. EnMAP-like right part.
    c0 = SPLIT_COL + radius
    ewl, efwhm = enmap_like_bands()
    right = resample_cube(image[:, :, c0:], resampling_matrix(wl, ewl, efwhm))
    right_lab = labels[:, c0:]
    train, test = few_labels(right_lab, args.per_class, args.seed)
    cube = make_cube(right, wavelength=ewl, fwhm=efwhm, labels=right_lab.astype(np.int32),
                     class_names=ip.hsi.class_names, source="indian_pines-right-enmap-like")
    split = split_from_maps(train, test)

    def score(model: torch.nn.Module, rmean: np.ndarray, rstd: np.ndarray) -> dict[str, float]:
        z = np.nan_to_num((right - rmean[:, None, None]) / rstd[:, None, None]).astype(np.float32)
        pred = predict_dense(model, z).argmax(0)
        sel = test > 0
        m = classification_metrics(test[sel] - 1, pred[sel], k)
        return {"oa": m["oa"], "aa": m["aa"], "kappa": m["kappa"]}

    # 3a. LoRA through the product workflow (adapter only, base frozen).
    t0 = time.perf_counter()
    m = finetune(cube, base_dir, root / "lora", FinetuneOptions(lora_rank=args.rank, epochs=args.epochs, seed=args.seed,
                                                                train_head=True, tiles_per_epoch=args.tiles,
                                                                progress=False), split=split)
    rows.append({"method": f"LoRA r={args.rank} (+head)", "oa": m["oa"], "aa": m["aa"], "kappa": m["kappa"],
                 "trainable": m["trainable_params"], "seconds": round(time.perf_counter() - t0, 1)})
    print(rows[-1], flush=True)

    # 3b. full fine-tune of the base (same band map, every weight trainable).
    rmean, rstd = _band_stats(right, train > 0)
    from hsi_app.checkpoint import load_config

    base_cfg = load_config(base_dir)
    matrix, _ = band_matrix(base_cfg, ewl, efwhm)
    torch.manual_seed(args.seed)
    full, _ = build_adapted(base_dir, base_cfg, matrix, rmean, rstd, k, None)
    z = np.nan_to_num((right - rmean[:, None, None]) / rstd[:, None, None]).astype(np.float32)
    t0 = time.perf_counter()
    full, _ = fit_dense(z, train, None, model_name=args.model, num_classes=k, epochs=args.epochs,
                        tiles_per_epoch=args.tiles, seed=args.seed, progress=False, model=full, schedule="cyclic-cosine")
    rows.append({"method": "full fine-tune", **score(full, rmean, rstd),
                 "trainable": sum(p.numel() for p in full.parameters() if p.requires_grad),
                 "seconds": round(time.perf_counter() - t0, 1)})
    print(rows[-1], flush=True)

    # 3c. from scratch on the 224 EnMAP-like bands.
    t0 = time.perf_counter()
    scratch, _ = fit_dense(z, train, None, model_name=args.model, num_classes=k, wavelengths=ewl,
                           epochs=args.epochs, tiles_per_epoch=args.tiles, seed=args.seed, progress=False)
    rows.append({"method": "from scratch (224 bands)", **score(scratch, rmean, rstd),
                 "trainable": sum(p.numel() for p in scratch.parameters()),
                 "seconds": round(time.perf_counter() - t0, 1)})
    print(rows[-1], flush=True)

    print(f"\nCross-sensor: {args.model} base on Indian Pines columns < {SPLIT_COL} ({n_base:,} params, "
          f"{args.base_epochs} epochs, {base_seconds:.0f} s); target = columns >= {c0} resampled to 224 EnMAP-like "
          f"bands; {int((train > 0).sum())} training px ({args.per_class}/class), {int((test > 0).sum())} test px; "
          f"{args.epochs} epochs per adaptation, seed {args.seed}")
    print(f"| method | OA % | AA % | kappa | trainable params | train s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {100 * float(r['oa']):.2f} | {100 * float(r['aa']):.2f} | {float(r['kappa']):.4f} | "
              f"{int(r['trainable']):,} | {r['seconds']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "base_seconds": base_seconds}, indent=2))


if __name__ == "__main__":
    main()
