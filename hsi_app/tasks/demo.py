"""The embedded default main job: Indian Pines, two protocols, default model vs SVM-RBF.

``hsi demo`` (and ``make demo``) trains the default dense model and the SVM baseline on
the real Indian Pines scene, once on the literature's ``random:0.1`` protocol (leaky:
training patches overlap test pixels) and once on a spatially ``disjoint`` split with a
buffer of the model's receptive radius, and prints OA/AA/kappa side by side.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hsi_app.tasks.train_classifier import DEFAULT_CLASSIFIER

DEFAULT_PROTOCOLS = ("random:0.1", "disjoint:0.5")
DEFAULT_MODELS = (DEFAULT_CLASSIFIER, "svm")


def run_demo(
    out: str | os.PathLike[str] = "outputs/demo",
    *,
    protocols: tuple[str, ...] = DEFAULT_PROTOCOLS,
    models: tuple[str, ...] = DEFAULT_MODELS,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool = True,
    data: str = "indian_pines",
) -> list[dict[str, Any]]:
    """Train every model on every protocol; write ``OUT/<protocol>/<model>/`` and ``OUT/summary.json``.

    Returns:
        One metrics dict per (protocol, model) run.
    """
    from hsi_app.io import open_cube
    from hsi_app.tasks.train_classifier import (TrainOptions, protocol_split, receptive_radius, scene_in_memory,
                                                train_classifier)

    from hsi_app.io.atomic import atomic_paths, check_out_dir

    check_out_dir(out)
    root = Path(out)
    for model in models:  # bad settings (e.g. epochs < 1) fail before the scene is loaded
        TrainOptions(model=model, seed=seed, epochs=epochs, progress=progress)
    cube = open_cube(data)
    radius = max(receptive_radius(m) for m in models)
    valid = scene_in_memory(cube)[2]  # the pixels with data, read once for every protocol (protocol_split's own)
    rows = []
    for protocol in protocols:
        # One split per protocol, buffered by the largest receptive radius, so that every
        # model is scored on exactly the same test pixels.
        split = protocol_split(cube, protocol, seed=seed, radius=radius, valid=valid)
        for model in models:
            run = root / protocol.replace(":", "_") / model
            opts = TrainOptions(model=model, split=protocol, seed=seed, epochs=epochs, progress=progress)
            metrics = train_classifier(cube, run, opts, split=split)
            rows.append({**metrics, "run_dir": str(run)})
            if progress:
                print(f"  {model:<10} {protocol:<14} OA {100 * metrics['oa']:6.2f}%  ({metrics['train_seconds']:.0f} s)")
    root.mkdir(parents=True, exist_ok=True)
    keep = ("model", "protocol", "leaky", "oa", "aa", "kappa", "n_train", "n_test", "train_seconds", "run_dir")
    with atomic_paths({"json": root / "summary.json", "md": root / "summary.md"}) as tmp:  # both or neither
        tmp["json"].write_text(json.dumps([{k: r[k] for k in keep} for r in rows], indent=2))
        tmp["md"].write_text(format_table(rows) + "\n")
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of OA/AA/kappa per protocol and model, leaky protocols labelled."""
    lines = [
        "| protocol | model | OA % | AA % | kappa | train px | test px | train s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        proto = f"{r['protocol']} (leaky)" if r["leaky"] else r["protocol"]
        lines.append(
            f"| {proto} | {r['model']} | {100 * r['oa']:.2f} | {100 * r['aa']:.2f} | {r['kappa']:.4f} | "
            f"{r['n_train']} | {r['n_test']} | {r['train_seconds']:.1f} |"
        )
    return "\n".join(lines)
