"""Dense whole-scene inference vs per-pixel patch inference of the same model, one run.

The per-pixel protocol (common in the literature) cuts a (2r+1) x (2r+1) patch around
every pixel and keeps the centre output, so each pixel's neighbourhood is recomputed
(2r+1)^2 times. Dense inference computes every pixel once. Both use the same weights and
give the same labels away from the scene border (checked here), so the ratio is pure redundancy removed.

Run: ``.venv/bin/python benchmarks/bench_dense_vs_patch.py [--model ssfcn] [--batch 256]``
Data: the real Indian Pines scene (145 x 145 x 200). Weights: random init (speed only).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hsi_app.infer import predict_scene
from hsi_app.io import open_cube
from hsi_app.models import create_model


def patch_inference(model: torch.nn.Module, image: np.ndarray, radius: int, batch: int) -> np.ndarray:
    """Per-pixel patches: ``(C, H, W)`` -> ``(H, W)`` labels from each patch's centre output."""
    c, h, w = image.shape
    k = 2 * radius + 1
    padded = torch.from_numpy(np.pad(image, ((0, 0), (radius, radius), (radius, radius))))
    patches = padded.unfold(1, k, 1).unfold(2, k, 1)  # (C, H, W, k, k) view, no copy
    out = np.empty(h * w, dtype=np.int64)
    coords = [(i, j) for i in range(h) for j in range(w)]
    with torch.inference_mode():
        for s in range(0, len(coords), batch):
            idx = coords[s : s + batch]
            x = torch.stack([patches[:, i, j] for i, j in idx])  # (B, C, k, k)
            logits = model(x)[:, :, radius, radius]
            out[s : s + len(idx)] = logits.argmax(1).numpy()
    return out.reshape(h, w) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ssfcn")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    cube = open_cube("indian_pines")
    image = np.asarray(cube.values, dtype=np.float32)
    image = (image - image.mean(axis=(1, 2), keepdims=True)) / image.std(axis=(1, 2), keepdims=True)
    model = create_model(args.model, in_chans=image.shape[0], num_classes=16).eval()
    r = int(model.receptive_radius)

    def prob_fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return torch.softmax(model(torch.from_numpy(np.nan_to_num(x))[None]), 1)[0].numpy()

    t0 = time.perf_counter()
    dense = predict_scene(prob_fn, cube.copy(data=image), num_classes=16, halo=r, window=512, keep_map=True, progress=False)
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    patch = patch_inference(model, image, r, args.batch)
    t_patch = time.perf_counter() - t0
    # Away from the scene border both see the same inputs; at the border, padding the
    # *input* with zeros is not the same as each conv zero-padding its *features*.
    inner = (slice(r, -r), slice(r, -r))
    agree = float((patch[inner] == dense.classes[inner]).mean())
    px = image.shape[1] * image.shape[2]
    print(f"torch threads: {torch.get_num_threads()}, model {args.model}, receptive radius {r} ({2 * r + 1}x{2 * r + 1} patches)")
    print("| method | seconds | pixels/s |")
    print("|---|---:|---:|")
    print(f"| dense whole-scene (window 512) | {t_dense:.2f} | {px / t_dense:,.0f} |")
    print(f"| per-pixel patches (batch {args.batch}) | {t_patch:.2f} | {px / t_patch:,.0f} |")
    print(f"speed-up: {t_patch / t_dense:.1f}x   label agreement (pixels >= r from the border): {100 * agree:.2f}%")


if __name__ == "__main__":
    main()
