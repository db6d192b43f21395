"""Checks and counts of ``hsi finetune`` (:mod:`hsi_app.tasks.finetune`): the layers LoRA adapts and the ranks
they allow, the new scene's units against the base run's, the parameters the adapted model uses and the share
LoRA trains, classes a new head cannot learn."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, HSIWarning
from hsi_app.io.cube import Cube

MAX_TRAINABLE_FRACTION = 0.2
"""A LoRA rank that trains this share of the parameters or more is warned about."""


def lora_targets(net: Any) -> list[str]:
    """Names of the modules LoRA adapts: the family's ``lora_targets``, else its Linear layers
    and ungrouped convolutions outside the head.

    Raises:
        ConfigError: the network has no such layer.
    """
    from torch import nn

    declared = getattr(net, "lora_targets", None)
    if declared:
        return list(declared)
    names = []
    for name, mod in net.named_modules():
        if name == "head" or name.startswith("head."):
            continue
        if isinstance(mod, nn.Linear) or (isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and mod.groups == 1):
            names.append(name)
    if not names:
        raise ConfigError(
            f"{type(net).__name__}: no Linear or ungrouped convolution layer for LoRA to adapt; "
            "fine-tune a spectral_vit or ssfcn run instead"
        )
    return names


def check_lora_rank(net: Any, rank: int) -> None:
    """Refuse a LoRA rank above the full rank of every layer it adapts (the update could not use it).

    A layer's full rank is ``min(out, in)`` of its weight matrix (a convolution: ``in x kernel``).

    Raises:
        ConfigError: naming the rank and the largest useful one.
    """
    targets = lora_targets(net)
    full = [min(mod.weight.shape[0], mod.weight[0].numel()) for name, mod in net.named_modules()
            if any(name == t or name.endswith(f".{t}") for t in targets) and getattr(mod, "weight", None) is not None]
    if full and rank > max(full):
        raise ConfigError(f"--lora-rank {rank}: the adapted layers have full rank {max(full)} at most; "
                          f"use --lora-rank {max(full)} or less")


def check_base_units(base_path: Path, cube: Cube, image: np.ndarray, matrix: np.ndarray) -> None:
    """Refuse a new scene in other units than the base run's training scene, by the rule ``hsi predict`` applies
    (:meth:`Predictor.check_scene_units <hsi_app.predictor.Predictor.check_scene_units>`,
    :func:`~hsi_app.value_range.check_units`): the adapter feeds the base model the new raw values mapped through
    the base's own normalisation (:func:`~hsi_app.tasks.finetune.input_map`), so reflectance x 10000 through a
    base trained on 0-1 reflectance would train on values far outside anything the base has seen.

    Args:
        base_path: the base run folder.
        cube: the new scene (its ``source`` names it in the message).
        image: ``(C_new, H, W)`` its good bands, raw (NaN = no data); a strided sample of at most
            :data:`~hsi_app.value_range.SAMPLE_PIXELS` pixels is checked.
        matrix: ``(C_base, C_new)`` :func:`~hsi_app.tasks.finetune.band_matrix`, taking them to the base's bands.

    Raises:
        InvalidDataError: one line with the scene's and the base's training values, the factor and the fix; for a
            base that reads raw values, also the base that reads any units (an Indian Pines base, trained on AVIRIS
            values near 1000-8000, meets EnMAP L2A reflectance 0-1).
    """
    from hsi_app.errors import InvalidDataError
    from hsi_app.predictor import BandPlan, Predictor
    from hsi_app.value_range import SAMPLE_PIXELS

    c, h, w = image.shape
    step = max(1, int(np.ceil(np.sqrt(h * w / SAMPLE_PIXELS))))
    sample = image[:, ::step, ::step].reshape(c, -1)
    predictor = Predictor.load(base_path, device="cpu")
    try:
        predictor.check_scene_units(cube, BandPlan(indices=None, matrix=matrix), sample)
    except InvalidDataError as err:
        if predictor.scale_invariant:
            raise
        raise InvalidDataError(f"{err}; or fine-tune a base that reads spectra in any units, a *_snv model "
                               "(hsi train --model spectral_vit_snv)") from err


def used_parameters(net: Any) -> int:
    """How many parameters the (peft-wrapped) network computes with: each tensor once, without the
    ``original_module`` that peft's ``modules_to_save`` keeps beside the trained copy of the head.

    The forward pass uses the copy; peft's ``get_nb_trainable_parameters`` counts both, so its total held a
    trained head twice (the fine-tune's ``total_params`` and ``trainable_fraction`` until session 50).
    """
    return sum(p.numel() for name, p in net.named_parameters() if "original_module" not in name.split("."))


def warn_trainable_share(trainable: int, total: int, rank: int) -> None:
    """Warn when LoRA rank ``rank`` trains :data:`MAX_TRAINABLE_FRACTION` of the ``total`` parameters or more."""
    if trainable >= MAX_TRAINABLE_FRACTION * total:
        warnings.warn(f"LoRA rank {rank}: {trainable:,} of {total:,} parameters are trainable "
                      f"(>= {MAX_TRAINABLE_FRACTION:.0%}); lower --lora-rank", HSIWarning, stacklevel=3)


def warn_untrained_classes(train: np.ndarray, class_names: Sequence[str], source: str) -> None:
    """Warn when a new head has classes without a training pixel (ids that skip numbers, say).

    The head still has outputs for them, trained by nothing, and the map can assign them.

    Args:
        train: ``(H, W)`` training labels (0 = none).
        class_names: names of classes ``0..K``.
        source: the scene, for the message.
    """
    have = set(np.unique(train[train > 0]).tolist())
    missing = [k for k in range(1, len(class_names)) if k not in have]
    if missing:
        listed = ", ".join(f"{k} ({class_names[k]})" for k in missing[:4]) + (", ..." if len(missing) > 4 else "")
        warnings.warn(f"{source}: the new head's classes {listed} have no training pixel, yet the map can assign "
                      "them; number the classes 1..K without gaps, or label them", HSIWarning, stacklevel=2)


def band_use(base_wavelengths: np.ndarray, base_fwhm: np.ndarray, cube: Cube, bands: np.ndarray, kind: str,
             *, progress: bool = True) -> dict[str, Any]:
    """Say and return how the new scene's bands reach the base model's, as ``hsi predict --resample`` says it.

    One progress line when the spectra are resampled (how many of the scene's bands are used, how many
    bad or empty ones are left out), and one warning, the one ``hsi predict --resample`` gives, when base
    bands lie beyond the scene's range and copy its nearest edge band.

    Args:
        base_wavelengths, base_fwhm: ``(C_base,)`` nm, the base run's band centres and widths.
        cube: the new scene (``source`` names it; ``(C, H, W)``).
        bands: ``(C_used,)`` 0-based indices of the scene's bands the fine-tune reads.
        kind: ``"select"`` or ``"gaussian"`` (:func:`~hsi_app.tasks.finetune.band_matrix`).
        progress: print the resampling line.

    Returns:
        ``{"scene_bands", "bands_used", "bands_left_out" (1-based band numbers), "base_bands",
        "base_bands_edge_copied"}`` for ``metrics.json``.
    """
    from hsi_app.data.resample import warn_edge_bands
    from hsi_app.io.cube import scene_name

    total = int(cube.hsi.shape[0])
    left_out = [int(b) + 1 for b in np.setdiff1d(np.arange(total), bands)]
    wl = np.asarray(cube.hsi.wavelengths, dtype=np.float64)[bands]
    if progress and kind == "gaussian":
        dropped = f" ({len(left_out)} bad or empty bands left out)" if left_out else ""
        print(f"resampling {bands.size} of the scene's {total} bands{dropped} to the base model's "
              f"{np.asarray(base_wavelengths).size} bands (Gaussian responses)")
    edge = 0 if kind != "gaussian" else warn_edge_bands(scene_name(cube, "new scene"), wl, base_wavelengths, base_fwhm,
                                                        whose="the base model's", stacklevel=4)
    return {"scene_bands": total, "bands_used": int(bands.size), "bands_left_out": left_out,
            "base_bands": int(np.asarray(base_wavelengths).size), "base_bands_edge_copied": int(edge)}
