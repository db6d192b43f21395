"""LoRA fine-tuning of a trained run on a new scene or sensor (``hsi finetune``).

The base run's weights are loaded, frozen and wrapped with a ``peft`` LoRA adapter
(``LoraConfig`` + ``get_peft_model``) on its Linear layers (for ``spectral_vit`` the
attention ``qkv``/``proj`` and the SwiGLU ``w12``/``w3``). When the new labels have a
different number of classes, the classifier head is replaced by a new trainable one
(``modules_to_save``). Only the adapter is written::

    OUT/adapter.safetensors   LoRA matrices (+ the new head, if any): peft's adapter state dict
    OUT/adapter_config.json   the peft LoraConfig
    OUT/config.json           a RunConfig for the NEW bands/classes; ``extra["finetune"]``
                              names the base run (absolute path, path relative to OUT,
                              sha256 of its weights and of its config.json); ``extra`` also holds ``versions``
                              and ``data_identity`` (:func:`hsi_app.provenance.run_record`,
                              taken before training, as ``hsi train`` records them)
    OUT/metrics.json          as ``hsi train`` (``versions`` and ``data_identity`` included)
                              + trainable_params, total_params, adapter_bytes
    OUT/split.npz, map.tif, map.png, confusion.png

**Cross-sensor input.** The adapted model takes the new cube's bands, normalised with
statistics of its training pixels. A fixed, non-trainable per-pixel linear map
(:class:`BandMap`) turns them into what the base model was trained on: the spectra are
resampled to the base bands (selection when the centres agree within 2 nm, else Gaussian
spectral responses of the base bands' centres/FWHM, :mod:`hsi_app.data.resample`) and
normalised with the base statistics. The map is recomputed from the two configs when the
run is loaded, so nothing but the adapter is stored: from the centres it was built with
(:func:`map_configs`; ``extra["finetune"]["base_centres"]``).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.checkpoint import (
    ADAPTER_CONFIG_NAME,
    ADAPTER_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    RunConfig,
    check_finite_tensors,
    config_json,
    json_floats,
    load_config,
    load_tensors,
    no_weights_line,
)
from hsi_app.errors import BandMismatchError, ConfigError, ModelLoadError, cannot_read
from hsi_app.data.download_records import sha256_file
from hsi_app.data.normalize import BandStats
from hsi_app.data.resample import EDGE_COVERAGE_FWHM  # base bands this many FWHM outside the new range copy its edge band
from hsi_app.io.cube import Cube, scene_name
from hsi_app.tasks.finetune_checks import (  # noqa: F401  (MAX_TRAINABLE_FRACTION: this module's API too)
    MAX_TRAINABLE_FRACTION,
    band_use,
    check_base_units,
    check_lora_rank,
    lora_targets,
    used_parameters,
    warn_trainable_share,
    warn_untrained_classes,
)
from hsi_app.tasks.finetune_classes import plan_classes
from hsi_app.rng_state import kept_global_rng

BASE_CENTRES = "corrected"
"""``extra["finetune"]["base_centres"]`` of fine-tunes whose band map was built from the base's centres as
:func:`~hsi_app.checkpoint.load_config` gives them (Indian Pines' two mislabelled centres corrected); fine-tunes
without it (before session 50) were built from the centres as recorded (:func:`map_configs`)."""
FWHM_SPACING = "runs"
"""``extra["finetune"]["fwhm_spacing"]`` of fine-tunes whose base bands without FWHM took the spacing within their
own run of listed bands (a spectrometer's, :func:`hsi_app.data.resample.band_spacing`); fine-tunes without it
(before session 57) took it between neighbours in the list, across runs, which :func:`load_finetuned` keeps for
them (:func:`fwhm_spacing_rule`)."""
LISTED_SPACING = "listed"
"""The ``spacing`` of :func:`band_matrix` for fine-tunes made before session 57 (no ``fwhm_spacing`` recorded)."""
FWHM_SPACING_ALIASES = {"sorted": FWHM_SPACING}
"""Earlier names of :data:`FWHM_SPACING` still read (session 57's first fine-tunes recorded ``"sorted"``)."""
DEFAULT_FINETUNE_EPOCHS = 30
DEFAULT_FINETUNE_LR = 5e-3


@dataclass
class FinetuneOptions:
    """Knobs of ``hsi finetune``."""

    lora_rank: int = 4
    lora_alpha: float | None = None  # default: 2 * rank
    split: str = "fixed:10"
    epochs: int | None = None
    seed: int = 0
    lr: float = DEFAULT_FINETUNE_LR
    schedule: str = "cyclic-cosine"
    resample: bool = True
    train_head: bool = False  # also train (a copy of) the classifier head; always on with a new head
    classes: str = "auto"  # auto | base | new: whose classes the head predicts (finetune_classes)
    tiles_per_epoch: int | None = None  # default: fit_dense's
    window: int = 512
    exclude_masks: tuple[str, ...] = ()  # quality masks whose flagged pixels are no-data (Cube.hsi.without_masked)
    progress: bool = True
    device: str | None = None  # where the adapter trains and maps the scene: "cpu", "cuda[:N]", "mps"; None = the GPU if any

    def __post_init__(self) -> None:
        """Refuse impossible settings before any data is read.

        Raises:
            ConfigError: ``lora_rank``, ``epochs`` or ``window`` below 1, ``lr`` / ``lora_alpha`` not a finite
                number > 0, or a ``device`` this machine does not have.
        """
        if self.device is not None:
            from hsi_app.device import resolve_device

            resolve_device(self.device)
        if self.lora_rank < 1:
            raise ConfigError(f"--lora-rank {self.lora_rank}: use a rank >= 1, e.g. 4 or 8 (lora_rank= in Python)")
        if self.lora_alpha is not None and not (math.isfinite(self.lora_alpha) and self.lora_alpha > 0):
            raise ConfigError(f"--lora-alpha {self.lora_alpha:g}: use a scaling > 0 (default: 2 x rank; lora_alpha= in "
                              "Python)")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"--lr {self.lr:g}: use a learning rate > 0, e.g. {DEFAULT_FINETUNE_LR:g} (lr= in Python)")
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs {self.epochs}: must be at least 1 (default: {DEFAULT_FINETUNE_EPOCHS}; epochs= in "
                              "Python)")
        if self.window < 1:  # as `hsi predict` says it, before the base run or the scene is loaded
            raise ConfigError(f"--window {self.window}: must be a positive number of pixels, e.g. 512 (window= in Python)")


def finetune_files() -> tuple[str, ...]:
    """The file names a fine-tune writes into its OUT folder (the classification run's, and the adapter's)."""
    from hsi_app.tasks.train_classifier import RUN_FILES

    return (*RUN_FILES, ADAPTER_NAME, ADAPTER_CONFIG_NAME)


def band_matrix(base: RunConfig, wavelengths: np.ndarray, fwhm: np.ndarray, *, resample: bool = True,
                source: str = "new scene", base_run: str | None = None,
                spacing: str = FWHM_SPACING) -> tuple[np.ndarray, str]:
    """Weights ``(C_base, C_new)`` taking new-sensor spectra to the base model's bands.

    ``source`` names the new scene (its file) and ``base_run`` the base run's folder in the error line.
    ``spacing``: how base bands without FWHM get one (:func:`hsi_app.data.resample.band_spacing`),
    :data:`FWHM_SPACING` (the spacing within each band's own run of listed bands) or :data:`LISTED_SPACING`
    (between neighbours in the list, across runs: fine-tunes made before session 57, :func:`load_finetuned`,
    whose maps this rebuilds bit for bit).

    Returns:
        ``(matrix, kind)``, kind ``"select"`` (every base band has a new band within
        2 nm, or both band sets lack wavelengths and have the same count) or
        ``"gaussian"`` (Gaussian spectral responses of the base bands).

    Raises:
        BandMismatchError: bands differ and cannot (or may not) be resampled.
    """
    from hsi_app.predictor import WAVELENGTH_TOLERANCE_NM

    base_wl, new_wl = base.wavelength_array, np.asarray(wavelengths, dtype=np.float64)
    known = bool(np.isfinite(base_wl).all() and np.isfinite(new_wl).all())
    if known:
        dist = np.abs(new_wl[None, :] - base_wl[:, None])
        nearest = dist.argmin(axis=1)
        if np.all(dist[np.arange(base_wl.size), nearest] <= WAVELENGTH_TOLERANCE_NM):
            return np.eye(new_wl.size)[nearest], "select"
    elif new_wl.size == base.in_chans:
        return np.eye(base.in_chans), "select"
    if not (known and resample):
        why = "resampling was turned off (--no-resample)" if known else "wavelengths are unknown"
        raise BandMismatchError(
            f"{source}: {new_wl.size} bands, the base model {base.in_chans}, and {why}; "
            "give both band sets wavelengths (and allow resampling) or use a scene from the base sensor"
        )
    from hsi_app.data.resample import out_of_reach, resampling_matrix

    if spacing not in (FWHM_SPACING, LISTED_SPACING):
        raise ValueError(f"band_matrix: spacing={spacing!r}; use {FWHM_SPACING!r} or {LISTED_SPACING!r}")
    listed = spacing == LISTED_SPACING  # the resampler fills missing widths itself, by that rule
    try:
        m = resampling_matrix(new_wl, base_wl, base.fwhm_array, min_coverage=EDGE_COVERAGE_FWHM, listed_order=listed)
    except BandMismatchError as err:  # the resampler says target/source; here they are the base run and the scene
        line = out_of_reach(source, f"the base run {base_run}" if base_run else "the base model", new_wl, base_wl,
                            base.fwhm_array, fix="fine-tune a base trained on bands within {have}, or use a scene "
                            "that covers {needs}", listed_order=listed)
        raise BandMismatchError(line or f"{source}: {err}") from err
    return m, "gaussian"


def warn_bands_by_position(source: str, base: RunConfig, wavelengths: np.ndarray) -> None:
    """One warning when a scene without wavelengths is matched to a base run trained with them by band position
    (:func:`band_matrix` does so when the counts agree), as ``hsi predict`` says for a run; nothing otherwise.

    ``wavelengths``: ``(C,)`` nm of the scene's bands used (NaN = unknown).
    """
    base_wl, new_wl = base.wavelength_array, np.asarray(wavelengths, dtype=np.float64)
    if not (np.isfinite(base_wl).all() and np.isnan(new_wl).all()):
        return
    import warnings

    from hsi_app.errors import HSIWarning

    warnings.warn(f"{source}: has no wavelengths, so its {new_wl.size} bands are taken as the base run's "
                  f"({np.min(base_wl):.0f}-{np.max(base_wl):.0f} nm) by position; check that it comes from the base's "
                  "sensor, or add its wavelengths to the file to have them checked (and resampled)",
                  HSIWarning, stacklevel=3)


def _torch_modules() -> Any:
    """Torch-dependent classes, defined lazily so that importing this module stays light."""
    import torch
    from torch import nn

    class BandMap(nn.Module):
        """Fixed per-pixel affine map ``(B, C_new, h, w) -> (B, C_base, h, w)``: ``A x + c``.

        When every row of ``A`` has at most one non-zero weight (a band selection, ``kind ==
        "select"``), the map is ``x[:, idx] * scale + c``: the same numbers as the dense
        product for finite ``x`` (each output is one product plus exact zeros), without its
        ``C_base x C_new`` multiply-adds per pixel (scaled in place on the selected copy).
        Gaussian resampling keeps the product. Nothing of this is saved (all buffers are
        rebuilt from the run's config).
        """

        def __init__(self, a: np.ndarray, c: np.ndarray) -> None:
            super().__init__()
            self.register_buffer("a", torch.as_tensor(a, dtype=torch.float32), persistent=False)
            self.register_buffer("c", torch.as_tensor(c, dtype=torch.float32), persistent=False)
            self.select = bool(self.a.ndim == 2 and ((self.a != 0).sum(dim=1) <= 1).all())
            idx = self.a.abs().argmax(dim=1) if self.select else torch.zeros(0, dtype=torch.long)
            scale = self.a.gather(1, idx[:, None])[:, 0] if self.select else torch.zeros(0)
            self.register_buffer("idx", idx, persistent=False)
            self.register_buffer("scale", scale, persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """``(B, C_new, h, w) -> (B, C_base, h, w)``."""
            if self.select:
                picked = torch.index_select(x, 1, self.idx)  # a new tensor: scaled and shifted in place
                return picked.mul_(self.scale[:, None, None]).add_(self.c[:, None, None])
            return torch.einsum("oc,bchw->bohw", self.a, x) + self.c[None, :, None, None]

    class AdaptedModel(nn.Module):
        """:class:`BandMap` then the (LoRA-wrapped) base network. ``(B, C_new, h, w) -> (B, K, h, w)``."""

        task = "classification"

        def __init__(self, band_map: nn.Module, net: nn.Module, receptive_radius: int) -> None:
            super().__init__()
            self.band_map, self.net = band_map, net
            self.receptive_radius = int(receptive_radius)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """``(B, C_new, h, w)`` normalised new bands -> ``(B, K, h, w)`` logits."""
            return self.net(self.band_map(x))

    return BandMap, AdaptedModel


def input_map(matrix: np.ndarray, base: RunConfig, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A, c`` such that ``A z + c`` = base-normalised resampled spectra, ``z`` new-normalised.

    With ``x = z * std + mean`` (new raw values) and ``M`` the band matrix:
    ``(M x - mu_b) / s_b = diag(1/s_b) M diag(std) z + (M mean - mu_b) / s_b``.
    """
    mu_b, s_b = np.asarray(base.mean, dtype=np.float64), np.asarray(base.std, dtype=np.float64)
    a = matrix * np.asarray(std, dtype=np.float64)[None, :] / s_b[:, None]
    c = (matrix @ np.asarray(mean, dtype=np.float64) - mu_b) / s_b
    return a, c


def _head_classifier(net: Any) -> Any:
    """The layer giving ``net``'s class scores: ``net.head`` (a Linear or an ungrouped convolution, e.g. cnn3d's
    1x1 ``Conv2d``) or the last module of a Sequential ``head``; ``None`` when the family has no such layer."""
    from torch import nn

    head = getattr(net, "head", None)
    last = head[-1] if isinstance(head, nn.Sequential) and len(head) else head
    if isinstance(last, nn.Linear) or (isinstance(last, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and last.groups == 1):
        return last
    return None


def check_new_head(net: Any, num_classes: int, base_dir: str | os.PathLike[str]) -> None:
    """Refuse, before any data is split or written, a new head for a base whose head :func:`replace_head` cannot
    replace.

    Raises:
        ConfigError: one line naming the base run and the fix.
    """
    if _head_classifier(net) is None:
        raise ConfigError(
            f"{base_dir}: its {type(net).__name__} model has no Linear or convolution `head` to replace for "
            f"{num_classes} new classes; fine-tune on labels with the base run's classes (their names, or ids with "
            "--classes base), or fine-tune a run of another model (spectral_vit, ssfcn, cnn3d)"
        )


def replace_head(net: Any, num_classes: int) -> None:
    """Give ``net``'s classifier layer (:func:`_head_classifier`: a Linear, or a 1x1-style convolution such as
    cnn3d's) a new, freshly initialised ``num_classes`` output; the rest of the head is kept.

    Raises:
        ConfigError: the family has no such head.
    """
    from torch import nn

    last = _head_classifier(net)
    if last is None:
        raise ConfigError(
            f"{type(net).__name__}: no Linear or convolution `head` to replace for {num_classes} classes; "
            "fine-tune on labels with the base run's classes"
        )
    if isinstance(last, nn.Linear):
        new: nn.Module = nn.Linear(last.in_features, num_classes, bias=last.bias is not None)
    else:
        new = type(last)(last.in_channels, num_classes, last.kernel_size, stride=last.stride, padding=last.padding,
                         dilation=last.dilation, bias=last.bias is not None, padding_mode=last.padding_mode)
    head = net.head
    if isinstance(head, nn.Sequential):
        head[-1] = new
    else:
        net.head = new


def build_adapted(
    base_dir: Path,
    base: RunConfig,
    matrix: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    num_classes: int,
    lora: Any | None,
    new_head: bool | None = None,
) -> tuple[Any, Any]:
    """Base network (weights loaded) + new head if needed + LoRA, behind the band map.

    Args:
        lora: a ``peft.LoraConfig``, or None for a full fine-tune (everything trainable).
        new_head: replace the head by a freshly initialised one (``None``: when the class
            count differs from the base run's).

    Returns:
        ``(adapted_model, net)``: the :class:`AdaptedModel` and the (peft-wrapped) network.

    Raises:
        ModelLoadError: the base run's config.json or weights do not build its model.
    """
    from hsi_app.run_weights import build_from_config, load_weights, model_radius

    BandMap, AdaptedModel = _torch_modules()
    net = build_from_config(base, base_dir)
    load_weights(net, load_tensors(base_dir), base_dir)  # ModelLoadError naming the base run's files
    radius = model_radius(net, base)
    if new_head or (new_head is None and num_classes != base.num_classes):
        replace_head(net, num_classes)
    if lora is not None:
        from peft import get_peft_model

        net = get_peft_model(net, lora)
    a, c = input_map(matrix, base, mean, std)
    return AdaptedModel(BandMap(a, c), net, radius), net


def lora_config(net_for_targets: Any, rank: int, alpha: float | None, train_head: bool) -> Any:
    """The ``peft.LoraConfig`` of a run (``train_head``: the ``head`` module is fully trained and saved)."""
    from peft import LoraConfig

    if rank < 1:
        raise ConfigError(f"--lora-rank {rank}: use a rank >= 1, e.g. 4 or 8 (lora_rank= in Python)")
    return LoraConfig(r=int(rank), lora_alpha=float(alpha if alpha is not None else 2 * rank),
                      target_modules=lora_targets(net_for_targets), lora_dropout=0.0, bias="none",
                      modules_to_save=["head"] if train_head else None)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, (set, tuple)):
        return sorted(obj) if isinstance(obj, set) else list(obj)
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if hasattr(obj, "value") and not isinstance(obj, (str, int, float)):
        return obj.value  # enums
    return obj


def _run_file_sha256(path: Path) -> str:
    """sha256 of a base run's file; an unreadable one (permissions, I/O) is a ModelLoadError naming it.

    Raises:
        ModelLoadError: ``path: cannot be read (...); check its permissions``.
    """
    try:
        return sha256_file(path)
    except OSError as err:
        raise ModelLoadError(cannot_read(path, err)) from err


def _base_dir_checked(base_dir: str | os.PathLike[str]) -> tuple[Path, RunConfig]:
    from hsi_app.ensemble import is_ensemble_dir

    base_path = Path(base_dir).resolve()
    if is_ensemble_dir(base_path):
        raise ConfigError(f"{base_path}: is an ensemble; LoRA adapts one run: pass one of its members, or distil the "
                          "ensemble into one run first (`hsi train --teacher ENSEMBLE_DIR`) and fine-tune that")
    base = load_config(base_path)
    if base.model_name == "svm" or base.task != "classification":
        raise ConfigError(f"{base_path}: a {base.model_name} {base.task} run cannot be LoRA-tuned; pass a dense classifier run")
    if (base_path / ADAPTER_NAME).is_file():
        raise ConfigError(f"{base_path}: is itself a fine-tune; pass the base run it was made from")
    if not (base_path / WEIGHTS_NAME).is_file():  # hashed before anything loads it: the run's own line, not an OSError
        raise ModelLoadError(no_weights_line(base_path, base, as_base=True))
    return base_path, base


@kept_global_rng()
def finetune(
    cube: Cube,
    base_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    opts: FinetuneOptions,
    *,
    train_labels: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    split: Any = None,
    protect: Sequence[str | os.PathLike[str] | None] = (),
    labels_from: str | None = None,
) -> dict[str, Any]:
    """LoRA-adapt the run ``base_dir`` to ``cube``; write the adapter run folder ``out``.

    Like ``hsi train``, the files are staged and moved into ``out`` only on success.

    Args:
        cube: the new scene with labels (or pass ``train_labels``/``test_labels``).
        base_dir: run folder of ``hsi train`` (left untouched; ``out`` may not be it).
        out: folder for the adapter, config, metrics and maps.
        opts: rank, split, epochs, schedule...
        split: a ready Split to use instead of ``opts.split``.
        protect: input files (label files) that a run file must not replace.
        labels_from: the label file(s), named in messages about the labels (default: the scene).

    Returns:
        The metrics written to ``metrics.json``.
    """
    import torch

    from hsi_app.io.atomic import OTHER_THAN_FINETUNE, atomic_path, check_out_dir, check_outputs, staged_run_dir
    from hsi_app.tasks.classification import fit_dense
    from hsi_app.tasks.train_classifier import (
        TrainOptions,
        _band_stats,
        check_has_labels,
        check_split_pixels,
        evaluate_run,
        scene_with_data,
        split_for_run,
    )

    base_path, base = _base_dir_checked(base_dir)
    # the base as it is now, before training on it (a later change is refused when the adapter is loaded)
    base_sha, base_config_sha = _run_file_sha256(base_path / WEIGHTS_NAME), _run_file_sha256(base_path / CONFIG_NAME)
    check_outputs({"--out": out}, {"--base": base_path})
    probe = _probe_net(base, base_path)
    check_lora_rank(probe, opts.lora_rank)  # before the scene is prepared or anything trains
    inputs = [cube.attrs.get("source"), *protect]
    final_out = check_out_dir(out, other_runs=OTHER_THAN_FINETUNE, protect=inputs, writes=finetune_files(),
                              marker=ADAPTER_NAME)
    # flagged pixels (cloud, ...) train nothing, are scored nowhere and are class 0 in map.tif, as in `hsi predict`
    cube = cube.hsi.without_masked(opts.exclude_masks)
    cube, image, bands, valid = scene_with_data(cube)  # bands with no data anywhere flagged bad
    wl, fwhm = cube.hsi.wavelengths[bands], cube.hsi.fwhm[bands]
    source = scene_name(cube, "new scene")
    matrix, kind = band_matrix(base, wl, fwhm, resample=opts.resample, source=source, base_run=str(base_path))
    warn_bands_by_position(source, base, wl)
    check_base_units(base_path, cube, image, matrix)  # before anything trains on values the base cannot read
    bands_info = band_use(base.wavelength_array, base.fwhm_array, cube, bands, kind, progress=opts.progress)

    maps = [m for m in (cube.hsi.labels, train_labels, test_labels, *(() if split is None else (split.train, split.test)))
            if m is not None]
    label_source = labels_from or source
    check_has_labels(label_source, maps)  # before the classes are planned from them
    plan = plan_classes(base.class_names, cube.hsi.class_names, maps, opts.classes, source=label_source)
    if plan.table is not None:
        if cube.hsi.labels is not None:
            cube = cube.hsi.with_labels(plan.relabel(cube.hsi.labels), plan.class_names)
        train_labels, test_labels = plan.relabel(train_labels), plan.relabel(test_labels)
        if split is not None:
            split = replace(split, train=plan.relabel(split.train), test=plan.relabel(split.test))  # a copy
    num_classes, class_names = plan.num_classes, plan.class_names
    if plan.new_head:
        check_new_head(probe, num_classes, base_path)  # before the split is drawn or anything is written
    if opts.progress:
        print(f"classes: {plan.how}")
    if split is None:
        split = split_for_run(cube, TrainOptions(split=opts.split, seed=opts.seed), base.receptive_radius,
                              train_labels, test_labels, class_names=class_names, valid=valid, source=labels_from)
    # a copy without the no-data pixels (the caller's split stays as given); the leak rule judged for the base model
    split = split.within(valid).for_model(base.receptive_radius)
    check_split_pixels(split, label_source, class_names=class_names)
    if plan.new_head:
        warn_untrained_classes(split.train, class_names, source)
    from hsi_app.provenance import run_record

    record = run_record(cube, protect)  # hashed before training, as `hsi train` does: the inputs as this run read them
    # written to a staging folder, published into ``out`` only when everything succeeded
    with staged_run_dir(final_out, protect=inputs) as out:
        split.save(out / "split.npz")
        if opts.progress:
            print(split.describe())
        mean, std = _band_stats(image, split.train > 0)

        torch.manual_seed(opts.seed)
        new_head = plan.new_head
        lcfg = lora_config(probe, opts.lora_rank, opts.lora_alpha, new_head or opts.train_head)
        model, net = build_adapted(base_path, base, matrix, mean, std, num_classes, lcfg, new_head)
        trainable = int(net.get_nb_trainable_parameters()[0])
        total = used_parameters(net)  # a trained head once, not with the unused original beside it
        warn_trainable_share(trainable, total, opts.lora_rank)

        norm = np.nan_to_num(BandStats(mean, std).apply(image))  # (C, H, W) float32
        t0 = time.perf_counter()
        extra_fit: dict[str, Any] = {"tiles_per_epoch": opts.tiles_per_epoch} if opts.tiles_per_epoch else {}
        fitted, history = fit_dense(
            norm, split.train, None, model_name=base.model_name, num_classes=num_classes, wavelengths=wl,
            epochs=DEFAULT_FINETUNE_EPOCHS if opts.epochs is None else opts.epochs, lr=opts.lr, seed=opts.seed, progress=opts.progress,
            schedule=opts.schedule, model=model, diverged_hint="lower --lr", device=opts.device, **extra_fit,
        )
        train_seconds = time.perf_counter() - t0
        from peft import get_peft_model_state_dict
        from safetensors.numpy import save_file

        from hsi_app.provenance import scene_reference

        adapter = {k: v.detach().cpu().contiguous().numpy() for k, v in get_peft_model_state_dict(fitted.net).items()}
        check_finite_tensors(adapter, final_out / ADAPTER_NAME)
        with atomic_path(out / ADAPTER_NAME) as tmp:
            save_file(adapter, str(tmp))
        with atomic_path(out / ADAPTER_CONFIG_NAME) as tmp:
            Path(tmp).write_text(json.dumps(_json_safe(lcfg.to_dict()), indent=2))
        config = RunConfig(
            task="classification", model_name=base.model_name, model_args=dict(base.model_args), in_chans=int(bands.size),
            num_classes=num_classes, class_names=class_names, wavelengths=json_floats(wl), fwhm=json_floats(fwhm),
            band_indices=[int(b) for b in bands], source_bands=cube.hsi.shape[0], mean=[float(v) for v in mean],
            std=[float(v) for v in std], receptive_radius=base.receptive_radius,
            split={"protocol": split.protocol, "seed": split.seed, "leaky": split.leaky, "radius": split.radius},
            data=scene_reference(cube),  # a file's absolute path, as `hsi train` records it
            extra={"schedule": opts.schedule, **record, "finetune": {
                "base_run": str(base_path), "base_run_relative": _relative(base_path, final_out.resolve()),
                "base_sha256": base_sha, "base_config_sha256": base_config_sha,
                "base_num_classes": base.num_classes, "base_in_chans": base.in_chans, "band_map": kind,
                "base_centres": BASE_CENTRES, "fwhm_spacing": FWHM_SPACING,
                "edge_coverage_fwhm": EDGE_COVERAGE_FWHM, "new_head": new_head, "train_head": new_head or opts.train_head,
                "lora_rank": opts.lora_rank,
                "lora_alpha": float(lcfg.lora_alpha), "target_modules": sorted(lcfg.target_modules),
            }},
        )
        with atomic_path(out / "config.json") as tmp:
            Path(tmp).write_text(json.dumps(config_json(config), indent=2))
        metrics = evaluate_run(out, cube, split, train_seconds, history, window=opts.window, progress=opts.progress,
                               device=opts.device)
        metrics.update(trainable_params=trainable, total_params=total,
                       trainable_fraction=round(trainable / max(total, 1), 5),
                       adapter_bytes=(out / ADAPTER_NAME).stat().st_size, base_run=str(base_path),
                       lora_rank=opts.lora_rank, band_map=kind, schedule=opts.schedule,
                       epochs_requested=DEFAULT_FINETUNE_EPOCHS if opts.epochs is None else opts.epochs,
                       epochs_run=int(history.get("epochs_run", len(history.get("epochs") or []))),
                       class_plan=plan.how, bands=bands_info,
                       exclude_masks=list(opts.exclude_masks), **record)
        with atomic_path(out / "metrics.json") as tmp:
            Path(tmp).write_text(json.dumps(metrics, indent=2))
    return metrics


def _probe_net(base: RunConfig, base_dir: Path) -> Any:
    """An untrained instance of the base family (to read its LoRA target names)."""
    from hsi_app.run_weights import build_from_config

    return build_from_config(base, base_dir, wavelengths=None)


def _relative(base: Path, run: Path) -> str | None:
    """``base`` as a path relative to the fine-tune folder ``run`` (``None`` when there is none, e.g. another drive)."""
    try:
        return os.path.relpath(base, run)
    except ValueError:
        return None


def base_run_dir(run: str | os.PathLike[str], finetune: dict[str, Any]) -> Path:
    """Where the base run of the fine-tune ``run`` is (not checked: :func:`check_base_unchanged` checks it): its
    recorded absolute ``base_run``, or, when no weights are there and the fine-tune records ``base_run_relative``
    and weights are there, that place relative to ``run`` (a project folder moved or copied as a whole).

    Args:
        run: the fine-tune's folder.
        finetune: its ``config.json`` ``extra["finetune"]`` (holding ``base_run``).
    """
    base_path = Path(finetune["base_run"])
    rel = finetune.get("base_run_relative")
    moved = Path(run) / rel if isinstance(rel, str) else None
    if not (base_path / WEIGHTS_NAME).is_file() and moved is not None and (moved / WEIGHTS_NAME).is_file():
        return moved.resolve()
    return base_path


def check_base_unchanged(run: Path, config: RunConfig) -> Path:
    """The base run of the fine-tune ``run``, checked to be the one it was trained on.

    The base is looked for where it was (``base_run``, absolute), then, for a fine-tune that records it
    (``base_run_relative``), at the same place relative to ``run``: a project folder holding both that was moved
    or copied elsewhere still loads (the weights' and config's hashes still have to match).

    Returns:
        The base run's folder.

    Raises:
        ModelLoadError: config.json names no base run, the base is missing, or its weights or
            config.json changed since fine-tuning (fine-tunes made before the config hash was
            stored skip that part).
    """
    ft = config.extra.get("finetune")
    if not isinstance(ft, dict) or "base_run" not in ft:
        raise ModelLoadError(f"{run}: has {ADAPTER_NAME} but config.json names no base run; redo `hsi finetune`")
    base_path = base_run_dir(run, ft)
    moved = Path(run) / ft["base_run_relative"] if isinstance(ft.get("base_run_relative"), str) else None
    if not (base_path / WEIGHTS_NAME).is_file():
        also = f" (nor at {ft['base_run_relative']} from this run)" if moved is not None else ""
        raise ModelLoadError(f"{run}: base run {base_path} is missing{also}; restore it there (the adapter needs its "
                             "weights)")
    if _run_file_sha256(base_path / WEIGHTS_NAME) != ft.get("base_sha256"):
        raise ModelLoadError(f"{run}: the weights of base run {base_path} changed since fine-tuning; "
                             "restore the original run or fine-tune again")
    config_sha = ft.get("base_config_sha256")
    if config_sha is not None and (not (base_path / CONFIG_NAME).is_file()
                                   or _run_file_sha256(base_path / CONFIG_NAME) != config_sha):
        raise ModelLoadError(f"{run}: the config.json of base run {base_path} changed since fine-tuning; "
                             "restore the original run or fine-tune again")
    return base_path


def map_configs(base: RunConfig, config: RunConfig) -> tuple[RunConfig, np.ndarray]:
    """The base config and the new bands' centres that built the fine-tune ``config``'s band map.

    A fine-tune recording :data:`BASE_CENTRES` was mapped with the centres :func:`load_config` gives.
    An older one was mapped with the centres as recorded then, which for an Indian Pines run
    recorded with tensorly's list (base or fine-tune) are ``model_wavelengths``: its adapter was
    trained through that map, so the corrected centres would change its output without a word.

    Returns:
        ``(base, wavelengths)`` for :func:`band_matrix`.
    """
    ft = config.extra.get("finetune")
    if isinstance(ft, dict) and ft.get("base_centres") == BASE_CENTRES:
        return base, config.wavelength_array
    if base.model_wavelengths is not None:
        base = replace(base, wavelengths=list(base.model_wavelengths), model_wavelengths=None)
    return base, config.model_wavelength_array


def fwhm_spacing_rule(run: str | os.PathLike[str], ft: dict[str, Any]) -> str:
    """The ``spacing`` of :func:`band_matrix` that built the band map of the fine-tune ``run`` (its
    ``extra["finetune"]`` is ``ft``): :data:`FWHM_SPACING` (or an alias of it), or :data:`LISTED_SPACING` when none
    is recorded (before session 57).

    Raises:
        ModelLoadError: an unknown ``fwhm_spacing``: one line naming the run's config.json and the fix.
    """
    value = ft.get("fwhm_spacing", LISTED_SPACING)
    value = FWHM_SPACING_ALIASES.get(value, value) if isinstance(value, str) else value
    if value not in (FWHM_SPACING, LISTED_SPACING):
        raise ModelLoadError(
            f"{Path(run) / CONFIG_NAME}: extra.finetune.fwhm_spacing is {json.dumps(value)}, which this version does "
            f"not know (\"{FWHM_SPACING}\", or none for fine-tunes before session 57); restore the config.json "
            "`hsi finetune` wrote, or redo `hsi finetune`")
    return value


def load_finetuned(run_dir: str | os.PathLike[str]) -> tuple[RunConfig, Any]:
    """Rebuild base + adapter from a fine-tune folder (what :meth:`Predictor.load` calls).

    Returns:
        ``(config, model)``: the fine-tune's RunConfig and the adapted model in eval mode
        (input: the new bands normalised with ``config.mean``/``config.std``).

    Raises:
        ModelLoadError: the base run is missing, its weights or config.json changed since
            fine-tuning, config.json records an unknown ``fwhm_spacing`` (:func:`fwhm_spacing_rule`), or the
            adapter's tensors are not the ones peft expects.
    """
    from peft import LoraConfig

    from hsi_app.run_weights import load_adapter

    run = Path(run_dir)
    config = load_config(run)
    base_path = check_base_unchanged(run, config)
    ft = config.extra["finetune"]
    base = load_config(base_path)
    raw = json.loads((run / ADAPTER_CONFIG_NAME).read_text()) if (run / ADAPTER_CONFIG_NAME).is_file() else None
    if raw is None:
        raise ModelLoadError(f"{run}: no {ADAPTER_CONFIG_NAME}; redo `hsi finetune`")
    known = {f.name for f in fields(LoraConfig)}
    lcfg = LoraConfig(**{k: v for k, v in raw.items() if k in known and k not in ("peft_type",)})
    spacing = fwhm_spacing_rule(run, ft)  # the rule its adapter was trained through
    map_base, new_wl = map_configs(base, config)
    matrix, _ = band_matrix(map_base, new_wl, config.fwhm_array, resample=True, spacing=spacing)
    model, net = build_adapted(base_path, base, matrix, np.asarray(config.mean), np.asarray(config.std),
                               config.num_classes, lcfg, ft.get("new_head"))
    load_adapter(net, load_tensors(run, ADAPTER_NAME), run / ADAPTER_NAME)
    return config, model.eval()
