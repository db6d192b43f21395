"""``hsi info PATH|NAME``."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import click


@click.command("info")
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@click.option("--labels", "labels", default=None, type=click.Path(), help="Label raster or vector file to attach.")
@click.option("--label-attribute", default="class", show_default=True, metavar="FIELD", help="Vector attribute holding the class.")
@click.option("--label-layer", default=None, metavar="LAYER", help="Layer of a vector label file with several layers.")
def info(source: str, as_json: bool, key: str | None, labels: str | None, label_attribute: str,
         label_layer: str | None) -> None:
    """Describe SOURCE (a file, EnMAP product, built-in name such as indian_pines, or a run or ensemble folder).

    A class map (the GeoTIFF of `hsi predict`, any paletted one-band GeoTIFF, or an ENVI
    classification) is described by its classes instead: pixels, share, area in hectares and
    mean confidence per class.
    """
    from hsi_app.tasks.map_summary import format_class_map_summary, is_class_map, summarize_class_map

    run = describe_model_folder(source)
    if run is not None:  # a run or ensemble folder: what the model takes and gives, not "not an EnMAP product"
        click.echo(json.dumps(run) if as_json else format_model_folder(run))
        return
    if labels is None and key is None and is_class_map(source):
        summary = summarize_class_map(source)
        click.echo(json.dumps(summary) if as_json else format_class_map_summary(summary))
        return

    from hsi_app.io import open_cube
    from hsi_app.io.summary import format_summary, summarize

    cube = open_cube(source, key=key, labels=labels, label_attribute=label_attribute, label_layer=label_layer)
    summary = summarize(cube, progress=not as_json)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(format_summary(summary))


USE = {"classification": "hsi predict --model {0} --input SCENE --out MAP.tif",
       "denoise": "hsi denoise --model {0} --input SCENE --out DENOISED.tif",
       "detect": "hsi detect --model {0} --input SCENE --out SCORES.tif"}
"""The command that uses a run folder of each task."""
CLASSES_SHOWN = 8
"""Class names on the text line; ``--json`` gives them all."""


def describe_model_folder(source: str) -> dict[str, Any] | None:
    """What a run folder (``hsi train``'s ``config.json`` + weights) or ensemble folder (``ensemble.json``) holds:
    ``format``, ``source``, ``model``, ``task``, ``bands``, ``wavelength_range_nm``, ``classes`` (names of 1..K;
    empty for denoisers), ``receptive_radius_px`` (the largest of an ensemble's members), ``trained_on``, ``use`` (the
    command that uses it; empty when it cannot be used), ``weights_missing`` (the weight files it lacks: a fine-tune's
    ``adapter.safetensors``, a run's or member's ``model.safetensors``) and, for an ensemble, ``members`` (their
    folders); for a distilled run, ``teacher`` (``runs``, ``weight``, ``pixels``); for a fine-tune folder (``hsi
    finetune``: its ``config.json`` holds ``extra["finetune"]``, by :func:`~hsi_app.checkpoint.is_finetune_config`,
    the rule loading it follows, whatever the record holds), ``finetune`` (:func:`describe_finetune`). None when
    ``source`` is none of these.

    Raises:
        ModelLoadError: the folder's config or ensemble.json is unreadable (one line naming it).
    """
    import numpy as np

    from hsi_app.checkpoint import ADAPTER_NAME, CONFIG_NAME, WEIGHTS_NAME, is_finetune_config, load_config
    from hsi_app.ensemble import ensemble_members, is_ensemble_dir

    folder = Path(source)
    if not folder.is_dir():
        return None
    if is_ensemble_dir(folder):
        members, kind = ensemble_members(folder, verify=False), "ensemble folder (hsi ensemble)"
    elif (folder / CONFIG_NAME).is_file():
        members, kind = [], "run folder (hsi train)"
    else:
        return None
    configs = [load_config(m) for m in members] or [load_config(folder)]
    config = configs[0]  # task, bands and classes as the first member (or the run) states them
    is_finetune = not members and is_finetune_config(config)
    if is_finetune:  # an adapter on a base run (hsi finetune), usable only while that run is there
        kind = "fine-tune folder (hsi finetune)"
        missing = [] if (folder / ADAPTER_NAME).is_file() else [str(folder / ADAPTER_NAME)]
    else:
        runs = [Path(m) for m in members] or [folder]
        missing = [str(r / WEIGHTS_NAME) for r in runs
                   if not (r / WEIGHTS_NAME).is_file() and not (r / ADAPTER_NAME).is_file()]
    wl = np.array([np.nan if v is None else v for v in config.wavelengths], dtype=np.float64)
    models = list(dict.fromkeys(c.model_name for c in configs))  # in member order, as the members line lists them
    out: dict[str, Any] = {
        "format": kind,
        "source": str(source),
        "model": ", ".join(models),
        "task": config.task,
        "bands": config.in_chans,
        "wavelength_range_nm": None if np.isnan(wl).all() else [float(np.nanmin(wl)), float(np.nanmax(wl))],
        "classes": list(config.class_names[1:]) if config.task != "denoise" else [],
        "receptive_radius_px": max(c.receptive_radius for c in configs),
        "trained_on": config.data or None,
        "use": "" if missing else USE.get(config.task, "").format(shlex.quote(str(source))),
        "weights_missing": missing,
    }
    if is_finetune:
        out["finetune"] = describe_finetune(folder, config, config.extra["finetune"])
        if out["finetune"]["problem"]:
            out["use"] = ""
    if members:
        out["members"] = [os.path.normpath(m) for m in members]
    teacher = config.extra.get("teacher") if not members else None
    if teacher:  # a distilled run (hsi train --teacher): its scores are a student's
        out["teacher"] = {k: teacher.get(k) for k in ("runs", "weight", "pixels")}
    return out


def describe_finetune(folder: Path, config: Any, finetune: Any) -> dict[str, Any]:
    """What a fine-tune folder's ``config.json`` ``extra["finetune"]`` says: ``base_run`` (where its base run is
    looked for, :func:`~hsi_app.tasks.finetune.base_run_dir`), ``lora_rank``, ``band_map`` and ``problem`` (the
    one line loading it would give when the base run is missing or changed since fine-tuning, or its band-width
    rule is unknown, else None). A record that is not a mapping (a hand-edited ``null``) names nothing and gives
    loading's line ("names no base run")."""
    from hsi_app.errors import HSIError
    from hsi_app.tasks.finetune import base_run_dir, check_base_unchanged, fwhm_spacing_rule

    finetune = finetune if isinstance(finetune, dict) else {}
    try:
        check_base_unchanged(folder, config)
        fwhm_spacing_rule(folder, finetune)
        problem = None
    except HSIError as err:
        problem = str(err)
    base = str(base_run_dir(folder, finetune)) if "base_run" in finetune else None
    return {"base_run": base, "lora_rank": finetune.get("lora_rank"), "band_map": finetune.get("band_map"),
            "problem": problem}


def format_model_folder(info: dict[str, Any]) -> str:
    """Human-readable rendering of :func:`describe_model_folder`'s dict."""
    wr = info["wavelength_range_nm"]
    classes = info["classes"]
    problem = (info.get("finetune") or {}).get("problem")
    lines = [
        f"source       {info['source']}",
        f"format       {info['format']} without its weights ({', '.join(info['weights_missing'])} missing): "
        f"an incomplete run that nothing can use; {'redo hsi finetune' if info.get('finetune') else 'train it again'}"
        if info.get("weights_missing") else
        f"format       {info['format']} that nothing can use now: {problem}" if problem else
        f"format       {info['format']}: a trained model, not a scene",
        f"model        {info['model']} ({info['task']}), receptive radius {info['receptive_radius_px']} px",
        f"bands        {info['bands']}, {'wavelengths unknown' if wr is None else f'{wr[0]:.1f}-{wr[1]:.1f} nm'}",
    ]
    if classes:
        more = f" and {len(classes) - CLASSES_SHOWN} more" if len(classes) > CLASSES_SHOWN else ""
        lines.append(f"classes      {len(classes)}: {', '.join(classes[:CLASSES_SHOWN])}{more}")
    if info.get("finetune"):
        ft = info["finetune"]
        rank = f" (LoRA rank {ft['lora_rank']})" if ft.get("lora_rank") is not None else ""
        lines.append(f"base run     {ft['base_run'] or 'not recorded in its config.json'}{rank}")
    if info.get("members"):
        lines.append(f"members      {len(info['members'])}: {', '.join(info['members'])}")
    if info.get("teacher"):
        t = info["teacher"]
        lines.append(f"distilled    from {', '.join(t['runs'] or [])} (--distill-weight {t['weight']:g}, "
                     f"a target at {t['pixels']:,} px)")
    if info.get("trained_on"):
        lines.append(f"trained on   {info['trained_on']}")
    if info["use"]:
        lines.append(f"use          {info['use']}")
    return "\n".join(lines)
