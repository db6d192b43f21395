"""Cross-sensor adaptation: a model trained on AVIRIS Indian Pines, adapted to EnMAP-like bands.

The workflow of the model-zoo issue, as library functions shared by
``benchmarks/bench_cross_sensor.py`` and ``notebooks/04_cross_sensor.ipynb``:

1. :func:`train_base`: train on the left part of Indian Pines (columns ``< split_col``,
   200 AVIRIS bands) and save a run folder.
2. :func:`enmap_like_target`: the right part (columns ``>= split_col + radius``, so no
   training tile reaches it) resampled with Gaussian spectral responses to 224
   EnMAP-like bands (:func:`enmap_like_bands`, in increasing wavelength), with a few
   labels per class for training and the remaining labelled pixels for testing. Optionally the bands in the scene's
   water-vapour gaps are no-data, as in an EnMAP L2A product (``gaps="nodata"``).
3. :func:`adapt_lora`, :func:`adapt_full`, :func:`train_scratch`: LoRA (base frozen,
   adapter only, through :func:`hsi_app.tasks.finetune.finetune`), a full fine-tune of
   the base, and the same architecture trained from scratch, each scored on the same
   test pixels (:func:`score`); :func:`adapt_head` trains only the head of the frozen base
   (what LoRA adds beyond it), :func:`train_svm` is the SVM-RBF baseline on the same
   few labels, and :func:`zero_shot` applies the base with no adaptation at all (through
   the band map, or on the target's own bands for a wavelength-aware base).
4. :func:`summarize`: mean and spread of each method over several few-label draws.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.data.normalize import BandStats
from hsi_app.errors import HSIWarning
from hsi_app.io.cube import Cube
from hsi_app.rng_state import kept_global_rng

SPLIT_COL = 70  # the base model sees columns < 70 of Indian Pines
GAP_RULES = ("fill", "nodata")  # what enmap_like_target does with target bands in the scene's band gaps


def _enmap_like_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(centres, fwhm, detector)``, each ``(224,)``, in band order (see :func:`enmap_like_bands`)."""
    centres = np.concatenate([np.linspace(418.0, 993.0, 91), np.linspace(902.0, 2445.0, 133)])
    fwhm = np.concatenate([np.full(91, 6.5), np.full(133, 10.0)])
    detector = np.array(["VNIR"] * 91 + ["SWIR"] * 133)
    order = np.argsort(centres, kind="stable")
    return centres[order], fwhm[order], detector[order]


def enmap_like_bands() -> tuple[np.ndarray, np.ndarray]:
    """Synthetic EnMAP-like band table: ``(224,)`` centres and ``(224,)`` FWHM in nm.

    Two detectors: 91 VNIR bands evenly spaced over 418-993 nm (FWHM 6.5 nm) and 133 SWIR
    bands evenly spaced over 902-2445 nm (FWHM 10 nm). As in a real EnMAP L2A product, the
    bands are numbered in increasing centre wavelength, so the two detectors' bands interleave
    in the 902-993 nm overlap (each FWHM stays with its band); which detector each band comes
    from is :func:`enmap_like_detectors`. A real product's table comes from its METADATA.XML
    (:func:`hsi_app.io.enmap.read_band_table`; not shipped here).
    """
    centres, fwhm, _ = _enmap_like_table()
    return centres, fwhm


def enmap_like_detectors() -> np.ndarray:
    """``(224,)`` str, ``"VNIR"`` or ``"SWIR"``: the detector of each band of :func:`enmap_like_bands`.

    A real product lists them in its METADATA.XML
    (``specific/{vnir,swir}ProductQuality/expectedChannelsList``); do not infer them from band
    positions, since the detectors interleave in the overlap.
    """
    return _enmap_like_table()[2]


def few_labels(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` random training pixels per class (all but one when fewer), the rest test.

    Args:
        labels: ``(H, W)`` int, 0 = unlabelled.

    Returns:
        ``(train, test)``, both ``(H, W)`` like ``labels``, disjoint, covering its labels.
    """
    rng = np.random.default_rng(seed)
    flat = np.ascontiguousarray(labels).ravel()
    train = np.zeros_like(flat)
    for k in np.unique(flat[flat > 0]):
        idx = np.flatnonzero(flat == k)
        n = min(per_class, max(1, idx.size - 1))
        train[rng.choice(idx, n, replace=False)] = k
    train = train.reshape(labels.shape)
    return train, np.where(train > 0, 0, labels)


@dataclass
class Target:
    """The EnMAP-like held-out region and its few-label split.

    Attributes:
        image: ``(C, H, W')`` float32 resampled reflectance of the usable bands (C = 224, or
            fewer when the bands in the source's gaps are no-data).
        wavelengths, fwhm: ``(C,)`` nm.
        train, test: ``(H, W')`` int labels (0 = not in the set).
        cube: the product as a :class:`~hsi_app.io.cube.Cube`: every band of the table (no-data
            bands NaN and flagged bad) and all labels.
        first_col: the Indian Pines column of the region's first column.
    """

    image: np.ndarray
    wavelengths: np.ndarray
    fwhm: np.ndarray
    train: np.ndarray
    test: np.ndarray
    cube: Cube
    first_col: int


def _norm(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, BandStats]:
    """``(normalised (C, H, W) float32 image, statistics)``, fitted on the ``mask`` pixels (NaN -> 0)."""
    stats = BandStats.fit(np.nan_to_num(image), mask)
    return np.nan_to_num(stats.apply(image)), stats


@kept_global_rng()
def train_base(
    scene: Cube, out: str | Path, *, model: str, epochs: int, tiles: int = 8, seed: int = 0,
    split_col: int = SPLIT_COL, progress: bool = False,
) -> dict[str, Any]:
    """Train ``model`` on all labelled pixels of columns ``< split_col`` and save a run folder.

    A wavelength-aware base is trained with the scene's FWHM when it has any
    (:func:`hsi_app.model_fwhm.training_fwhm`); Indian Pines has none, so its bases use the
    band-spacing widths.

    Args:
        scene: Indian Pines (``(200, 145, 145)``, with labels and wavelengths; FWHM unknown).
        out: run folder to write (``config.json`` + ``model.safetensors``).

    Returns:
        ``{"run_dir", "seconds", "params", "radius"}``.
    """
    from hsi_app.checkpoint import RunConfig, json_floats, save_run
    from hsi_app.model_fwhm import training_fwhm
    from hsi_app.tasks.classification import fit_dense
    from hsi_app.tasks.train_classifier import receptive_radius, run_class_names

    image = np.asarray(scene.values, dtype=np.float32)
    labels = np.asarray(scene.hsi.labels, dtype=np.int64)
    c, k, wl = image.shape[0], int(labels.max()), scene.hsi.wavelengths
    left, left_lab = image[:, :, :split_col], labels[:, :split_col]
    z, stats = _norm(left, left_lab > 0)
    fwhm = training_fwhm(model, scene.hsi.fwhm)
    t0 = time.perf_counter()
    net, _ = fit_dense(z, left_lab, None, model_name=model, num_classes=k, wavelengths=wl, fwhm=fwhm, epochs=epochs,
                       tiles_per_epoch=tiles, seed=seed, progress=progress, band_stats=(stats.mean, stats.std))
    seconds = time.perf_counter() - t0
    radius = receptive_radius(model, c, k)
    run_dir = save_run(Path(out), RunConfig(
        task="classification", model_name=model, model_args={}, in_chans=c, num_classes=k,
        class_names=run_class_names(scene.hsi.class_names, k), wavelengths=json_floats(wl), fwhm=json_floats(scene.hsi.fwhm),
        band_indices=list(range(c)), source_bands=c, mean=[float(v) for v in stats.mean],
        std=[float(v) for v in stats.std],
        receptive_radius=radius, data=f"{scene.attrs.get('source', 'indian_pines')}[:, :{split_col}]",
        fwhm_in_model=fwhm is not None), dict(net.state_dict()))
    return {"run_dir": run_dir, "seconds": seconds, "params": sum(p.numel() for p in net.parameters()),
            "radius": radius}


def describe_base(run_dir: str | Path) -> dict[str, Any]:
    """The :func:`train_base` summary of an existing base run folder, to adapt it again.

    Returns:
        ``{"run_dir", "model", "params", "radius", "seconds": None, "seconds_text"}``.
    """
    cfg, _, params = _load_base(run_dir)  # also checks that its weights load
    return {"run_dir": Path(run_dir), "model": cfg.model_name, "params": params, "radius": int(cfg.receptive_radius),
            "seconds": None, "seconds_text": f"reused base {run_dir}"}


def enmap_like_target(
    scene: Cube, *, radius: int, per_class: int = 10, seed: int = 0, split_col: int = SPLIT_COL,
    bands: tuple[np.ndarray, np.ndarray] | None = None, gaps: str = "fill",
) -> Target:
    """Resample the held-out right part of the scene to EnMAP-like bands and split its labels.

    Args:
        scene: the cube the base was trained on.
        radius: the base model's receptive radius; the region starts ``radius`` columns
            after ``split_col`` so that no base training tile saw any of it.
        per_class: training labels per class for the adaptation.
        bands: ``(centres, fwhm)`` in nm, each ``(C',)``: the target sensor's band table, e.g.
            a real product's (:func:`hsi_app.io.enmap.read_band_table`); default
            :func:`enmap_like_bands`.
        gaps: target bands that fall in a gap of the scene's bands (the water-vapour gaps of
            Indian Pines, :func:`hsi_app.data.resample.uncovered_bands`): ``"fill"`` gives them
            the value the Gaussian responses interpolate from the gap's edges (sessions up to
            38); ``"nodata"`` makes them no-data, as in an EnMAP L2A product: NaN and flagged
            bad in ``cube``, and left out of ``image``, ``wavelengths`` and ``fwhm``.

    Raises:
        ConfigError: an unknown ``gaps``.
        BandMismatchError: target bands more than half their FWHM beyond the scene's range (one line naming the
            scene, those bands and the fix).
    """
    from hsi_app.data.resample import out_of_reach, resample_cube, resampling_matrix, uncovered_bands
    from hsi_app.errors import BandMismatchError, ConfigError
    from hsi_app.io.cube import make_cube, scene_name

    if gaps not in GAP_RULES:
        raise ConfigError(f"enmap_like_target: gaps={gaps!r}; use one of {', '.join(GAP_RULES)}")
    image = np.asarray(scene.values, dtype=np.float32)
    labels = np.asarray(scene.hsi.labels, dtype=np.int64)
    c0 = split_col + radius
    ewl, efwhm = enmap_like_bands() if bands is None else (np.asarray(bands[0], float), np.asarray(bands[1], float))
    try:
        matrix = resampling_matrix(scene.hsi.wavelengths, ewl, efwhm)
    except BandMismatchError as err:  # the resampler's target/source line: here the sensor simulated and the scene
        line = out_of_reach(scene_name(scene, "scene"), "the target sensor", scene.hsi.wavelengths, ewl, efwhm,
                            min_coverage=0.5, fix="pass bands=(centres, fwhm) within {have} (drop the bands at "
                            "{needs}), or a scene that covers them")
        raise BandMismatchError(line or f"{scene_name(scene, 'scene')}: {err}") from err
    right = resample_cube(image[:, :, c0:], matrix)
    bad = uncovered_bands(scene.hsi.wavelengths, ewl, efwhm) if gaps == "nodata" else np.zeros(ewl.size, bool)
    right[bad] = np.nan
    right_lab = labels[:, c0:]
    train, test = few_labels(right_lab, per_class, seed)
    cube = make_cube(right, wavelength=ewl, fwhm=efwhm, bad_bands=np.flatnonzero(bad), labels=right_lab.astype(np.int32),
                     class_names=scene.hsi.class_names, source="indian_pines-right-enmap-like")
    good = ~bad
    return Target(right[good], ewl[good], efwhm[good], train, test, cube, c0)


def base_classes(scene: Cube, split_col: int = SPLIT_COL) -> list[int]:
    """The classes (1..K) labelled in columns ``< split_col``: the ones the base model was trained on."""
    labels = np.asarray(scene.hsi.labels)[:, :split_col]
    return [int(k) for k in np.unique(labels[labels > 0])]


def seen_unseen_scores(target: Target, pred: np.ndarray, seen: list[int]) -> dict[str, Any]:
    """Accuracy of a class map on the test pixels of the classes the base saw and of those it never saw.

    Args:
        pred: ``(H, W')`` class map (1..K).
        seen: classes the base was trained on (:func:`base_classes`).

    Returns:
        ``oa_seen`` and ``oa_unseen`` (pixel accuracy over the test pixels whose reference class
        is / is not in ``seen``; None when there are none) and ``per_class``
        (``{class: accuracy}`` over the classes with test pixels).
    """
    test = target.test
    hit = (pred == test) & (test > 0)
    seen_mask = np.isin(test, seen) & (test > 0)
    unseen_mask = (test > 0) & ~seen_mask

    def acc(mask: np.ndarray) -> float | None:
        return float(hit[mask].mean()) if mask.any() else None

    per_class = {int(k): acc(test == k) for k in np.unique(test[test > 0])}
    return {"oa_seen": acc(seen_mask), "oa_unseen": acc(unseen_mask), "per_class": per_class}


def score(model: Any, target: Target, z: np.ndarray) -> dict[str, Any]:
    """OA / AA / kappa of ``model`` on the target's test pixels, plus its ``(H, W')`` class map (1..K).

    ``z`` is the target image ``(C, H, W')`` normalised the way the model was trained.
    """
    from hsi_app.tasks.classification import predict_dense

    probs = predict_dense(model, z)  # (K_model, H, W'): K_model can exceed the region's largest label
    return score_map(target, probs.argmax(0) + 1, int(probs.shape[0]))


def score_map(target: Target, pred: np.ndarray, num_classes: int) -> dict[str, Any]:
    """OA / AA / kappa of a ``(H, W')`` class map (1..K) on the target's test pixels, plus the map.

    Args:
        num_classes: the classes the classifier can output; raised to the region's largest
            label if smaller.
    """
    from hsi_app.tasks.classification import classification_metrics

    sel = target.test > 0
    k = max(int(num_classes), int(target.cube.hsi.labels.max()))
    m = classification_metrics(target.test[sel] - 1, pred[sel].astype(np.int64) - 1, k)
    return {"oa": m["oa"], "aa": m["aa"], "kappa": m["kappa"], "map": pred.astype(np.uint8)}


LORA_CLASSES = "new"
"""Whose classes the LoRA arm's head predicts (``FinetuneOptions.classes``): a new head for the region's."""


@kept_global_rng()
def adapt_lora(
    base_dir: str | Path, target: Target, out: str | Path, *, rank: int = 4, epochs: int = 20, tiles: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """LoRA adaptation through the ``hsi finetune`` workflow (base frozen, adapter saved to ``out``).

    The adapted model gets a new, untrained head for the region's classes ``1..K`` (``--classes
    new``; on Indian Pines the region's labels stop at class 15: LoRA 3,584 + head 495 = 4,079
    trainable parameters), the arm BENCHMARKS.md measured in sessions 37-43. ``hsi finetune``'s
    default (``auto``) would keep and train a copy of the base's 16-class head instead, since base
    runs name their classes (4,112 trainable).

    Returns:
        A result row: ``method, oa, aa, kappa, trainable, total, seconds, map``.
    """
    from hsi_app.data.splits import split_from_maps
    from hsi_app.io.cog import read_class_map
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    t0 = time.perf_counter()
    opts = FinetuneOptions(lora_rank=rank, epochs=epochs, seed=seed, train_head=True, classes=LORA_CLASSES,
                           tiles_per_epoch=tiles, progress=False)
    with warnings.catch_warnings():  # the region keeps the scene's class ids, so the new head has ids it lacks
        warnings.filterwarnings("ignore", message=".*the new head's classes .* have no training pixel", category=HSIWarning)
        # EnMAP's 418-2445 nm is narrower than AVIRIS's 400-2500: the base's outermost bands copy the edge band in
        # every arm of this comparison, by design (metrics.json records them: bands.base_bands_edge_copied)
        warnings.filterwarnings("ignore", message=".*of the base model's bands lie beyond the scene's range",
                                category=HSIWarning)
        m = finetune(target.cube, base_dir, out, opts, split=split_from_maps(target.train, target.test))
    seconds = time.perf_counter() - t0
    classes = read_class_map(Path(out) / "map.tif").classes  # written by finetune through Predictor.load
    return {"method": f"LoRA r={rank} (+head)", "oa": m["oa"], "aa": m["aa"], "kappa": m["kappa"],
            "trainable": m["trainable_params"], "total": m["total_params"], "seconds": round(seconds, 1),
            "map": classes.astype(np.uint8)}


def _base_behind_band_map(base_dir: str | Path, target: Target, seed: int) -> tuple[np.ndarray, Any, Any, Any]:
    """The base network (all weights loaded and trainable) behind the fixed EnMAP -> AVIRIS band map.

    Returns:
        ``(z, config, model, net)``: the target image ``(C, H, W')`` normalised with its
        training pixels' statistics, the base's RunConfig (K classes), the ``(B, C, h, w) -> (B, K, h, w)``
        :class:`~hsi_app.tasks.finetune.AdaptedModel` and the base network inside it.
    """
    import torch

    from hsi_app.checkpoint import load_config
    from hsi_app.tasks.finetune import band_matrix, build_adapted

    z, stats = _norm(target.image, target.train > 0)
    base_cfg = load_config(base_dir)
    matrix, _ = band_matrix(base_cfg, target.wavelengths, target.fwhm)
    torch.manual_seed(seed)
    model, net = build_adapted(base_dir, base_cfg, matrix, stats.mean, stats.std, base_cfg.num_classes, None)
    return z, base_cfg, model, net


@kept_global_rng()
def adapt_full(
    base_dir: str | Path, target: Target, *, model: str, epochs: int = 20, tiles: int = 8, seed: int = 0,
) -> dict[str, Any]:
    """Full fine-tune of the base: the same input band map as LoRA, every weight trainable."""
    from hsi_app.tasks.classification import fit_dense

    z, base_cfg, net, _ = _base_behind_band_map(base_dir, target, seed)
    k = base_cfg.num_classes
    t0 = time.perf_counter()
    net, _ = fit_dense(z, target.train, None, model_name=model, num_classes=k, epochs=epochs, tiles_per_epoch=tiles,
                       seed=seed, progress=False, model=net, schedule="cyclic-cosine")
    seconds = time.perf_counter() - t0
    n = sum(p.numel() for p in net.parameters())
    return {"method": "full fine-tune", **score(net, target, z), "trainable": n, "total": n,
            "seconds": round(seconds, 1)}


@kept_global_rng()
def adapt_head(
    base_dir: str | Path, target: Target, *, epochs: int = 20, tiles: int = 8, seed: int = 0, lr: float | None = None,
) -> dict[str, Any]:
    """Only the classifier head of the frozen base trains (same band map, lr and schedule as LoRA).

    The ablation of :func:`adapt_lora`: with the same budget and optimiser settings, what the
    frozen base's features give without the low-rank adapters.
    """
    from hsi_app.tasks.classification import fit_dense
    from hsi_app.tasks.finetune import DEFAULT_FINETUNE_LR

    z, base_cfg, model, net = _base_behind_band_map(base_dir, target, seed)
    k = base_cfg.num_classes
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("net.head."))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    t0 = time.perf_counter()
    model, _ = fit_dense(z, target.train, None, model_name=base_cfg.model_name, num_classes=k, epochs=epochs,
                         tiles_per_epoch=tiles, seed=seed, progress=False, model=model, schedule="cyclic-cosine",
                         lr=DEFAULT_FINETUNE_LR if lr is None else lr)
    seconds = time.perf_counter() - t0
    return {"method": "head only (base frozen)", **score(model, target, z), "trainable": trainable,
            "total": sum(p.numel() for p in net.parameters()), "seconds": round(seconds, 1)}


def _load_base(base_dir: str | Path) -> tuple[Any, Any, int]:
    """``(RunConfig, network in eval mode on the CPU, its parameter count)`` of a base run folder."""
    from hsi_app.checkpoint import load_config
    from hsi_app.predictor import load_run_model

    cfg = load_config(base_dir)
    net, _ = load_run_model(base_dir, cfg, "cpu")
    return cfg, net, sum(p.numel() for p in net.parameters())


def _zscore(image: np.ndarray, mean: Any, std: Any) -> np.ndarray:
    """``(C, H, W)`` raw values normalised with per-band ``(C,)`` statistics (:class:`BandStats`); NaN -> 0."""
    return np.nan_to_num(BandStats(np.asarray(mean), np.asarray(std)).apply(image))


def zero_shot(
    base_dir: str | Path, target: Target, *, native: bool = False, stats: str = "base",
) -> dict[str, Any]:
    """The base applied to the target as it is: no training, no label used.

    Only the classes the base was trained on can be right, so its accuracy on those
    (``oa_seen`` of :func:`seen_unseen_scores`) is the number to read.

    Args:
        native: False: the target's bands go through the fixed band map (Gaussian
            responses of the base's bands, :func:`hsi_app.tasks.finetune.band_matrix`),
            as every adapted arm sees them. True (wavelength-aware models such as
            ``channel_vit``): the target's own bands go in with their centres, and with
            their FWHM only for a base trained with FWHM (``fwhm_in_model``); a base trained
            on band-spacing widths gets the spacing of the target's bands
            (:func:`hsi_app.model_fwhm.model_fwhm`).
        stats: how the model's input is normalised: ``"base"``, the base's band
            statistics (interpolated at the target's centres when ``native``), as in
            deployment on the base's own sensor; ``"target"``, the target's own band
            statistics over its training pixels (their spectra only, not their classes),
            as the adapted arms normalise.

    Returns:
        A result row (``method, oa, aa, kappa, map, trainable 0, total, seconds``).

    Raises:
        ConfigError: ``native`` for a model that cannot take another band set, or an unknown ``stats``.
    """
    from hsi_app.data.resample import resample_cube
    from hsi_app.errors import ConfigError
    from hsi_app.model_fwhm import model_fwhm
    from hsi_app.tasks.finetune import band_matrix

    if stats not in ("base", "target"):
        raise ConfigError(f"zero_shot: stats={stats!r}; use 'base' or 'target'")
    t0 = time.perf_counter()
    cfg, net, total = _load_base(base_dir)
    wl, mean, std = cfg.wavelength_array, np.asarray(cfg.mean, np.float64), np.asarray(cfg.std, np.float64)
    if native:
        if not callable(getattr(net, "with_bands", None)):
            raise ConfigError(f"{base_dir}: {cfg.model_name} takes only its own bands; use a wavelength-aware base "
                              "(channel_vit*) for the native arm, or the band-map arm")
        image, model = target.image, net.with_bands(target.wavelengths, model_fwhm(cfg, target.fwhm))
        order = np.argsort(wl)
        mean = np.interp(target.wavelengths, wl[order], mean[order])
        std = np.interp(target.wavelengths, wl[order], std[order])
    else:
        image, model = resample_cube(target.image, band_matrix(cfg, target.wavelengths, target.fwhm)[0]), net
    z = _zscore(image, mean, std) if stats == "base" else _norm(image, target.train > 0)[0]
    method = f"zero-shot, {'native bands' if native else 'band map'}, {stats} statistics"
    return {"method": method, **score(model, target, z), "trainable": 0, "total": total,
            "seconds": round(time.perf_counter() - t0, 1)}


def zero_shot_source(base_dir: str | Path, scene: Cube, target: Target) -> dict[str, Any]:
    """The base on the target region as its own sensor recorded it (the scene's bands), no training.

    The reference for :func:`zero_shot`: what is lost to new fields alone, before any
    change of sensor. The base's own statistics normalise the scene's bands.

    Returns:
        A result row (``method, oa, aa, kappa, map, trainable 0, total, seconds``).
    """
    t0 = time.perf_counter()
    cfg, net, total = _load_base(base_dir)
    image = np.asarray(scene.values, dtype=np.float32)[:, :, target.first_col:]
    return {"method": f"zero-shot, source sensor ({image.shape[0]} bands)",
            **score(net, target, _zscore(image, cfg.mean, cfg.std)), "trainable": 0, "total": total,
            "seconds": round(time.perf_counter() - t0, 1)}


@kept_global_rng()
def train_scratch(
    target: Target, *, model: str, epochs: int = 20, tiles: int = 8, seed: int = 0, schedule: str = "cosine",
) -> dict[str, Any]:
    """The same architecture trained from scratch on the target's usable bands and the few labels.

    A wavelength-aware model here gets the target's centres but not its FWHM (it uses the
    band-spacing widths, as in the published sessions 38-40 numbers); it is scored on the
    same bands and never saved, so it never meets other widths.

    Args:
        schedule: ``"cosine"`` (``hsi train``'s default) or ``"cyclic-cosine"`` (the LoRA and
            full fine-tune arms' schedule; their lr and weight decay are the defaults here too).
    """
    from hsi_app.tasks.classification import fit_dense

    z, stats = _norm(target.image, target.train > 0)
    k = int(target.cube.hsi.labels.max())
    t0 = time.perf_counter()
    net, _ = fit_dense(z, target.train, None, model_name=model, num_classes=k, wavelengths=target.wavelengths,
                       epochs=epochs, tiles_per_epoch=tiles, seed=seed, progress=False, schedule=schedule,
                       band_stats=(stats.mean, stats.std))
    seconds = time.perf_counter() - t0
    n = sum(p.numel() for p in net.parameters())
    c = target.image.shape[0]
    method = f"from scratch ({c} bands)" if schedule == "cosine" else f"from scratch, {schedule} ({c} bands)"
    return {"method": method, **score(net, target, z), "trainable": n, "total": n,
            "seconds": round(seconds, 1)}


def train_svm(target: Target, *, seed: int = 0) -> dict[str, Any]:
    """SVM-RBF on the target's spectra (usable bands) of the few training labels (the classical baseline).

    :class:`~hsi_app.models.svm.SVMBaseline` standardises with the training pixels' statistics
    and grid-searches ``C``/``gamma`` when every class has at least 3 training pixels.
    """
    from hsi_app.models.svm import SVMBaseline

    k = int(target.cube.hsi.labels.max())
    t0 = time.perf_counter()
    svm = SVMBaseline().fit(target.image, target.train, seed=seed, num_classes=k)
    seconds = time.perf_counter() - t0
    pred, _ = svm.predict_image(target.image)
    return {"method": f"SVM-RBF ({target.image.shape[0]} bands)", **score_map(target, pred, k), "trainable": 0,
            "total": 0, "seconds": round(seconds, 1)}


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and population standard deviation of each method's scores over few-label draws.

    Args:
        rows: result rows (``method, oa, aa, kappa, trainable, total, seconds``), any number
            per method, e.g. one per draw.

    Returns:
        One row per method, in order of first appearance: ``method, n, oa, oa_std, aa,
        aa_std, kappa, kappa_std, trainable, total, seconds`` (the last three are means),
        plus ``oa_seen(_std)`` and ``oa_unseen(_std)`` when every row of the method has them.
    """
    out: list[dict[str, Any]] = []
    for method in dict.fromkeys(r["method"] for r in rows):
        group = [r for r in rows if r["method"] == method]
        row: dict[str, Any] = {"method": method, "n": len(group)}
        for key in ("oa", "aa", "kappa", "oa_seen", "oa_unseen"):
            if any(r.get(key) is None for r in group):
                continue  # the seen / unseen split is optional
            vals = np.array([float(r[key]) for r in group])
            row[key], row[f"{key}_std"] = float(vals.mean()), float(vals.std())
        for key in ("trainable", "total", "seconds"):
            row[key] = float(np.mean([float(r[key]) for r in group]))
        out.append(row)
    return out


def summary_table(summary: list[dict[str, Any]]) -> str:
    """:func:`summarize` rows as Markdown (OA/AA in %, kappa x 100, mean ± std over the draws).

    The accuracy on the classes the base saw and on those it never saw are two more columns
    when every row has them.
    """
    keys = ["oa", "aa", "kappa"]
    head = "| method | draws | OA % | AA % | kappa ×100 |"
    if summary and all("oa_seen" in r and "oa_unseen" in r for r in summary):
        keys += ["oa_seen", "oa_unseen"]
        head += " OA seen classes % | OA unseen classes % |"
    lines = [head + " trainable params | train s (mean) |", "|---|" + "---:|" * (len(keys) + 3)]
    for r in summary:
        cells = [f"{100 * r[k]:.2f} ± {100 * r[k + '_std']:.2f}" for k in keys]
        lines.append(f"| {r['method']} | {r['n']} | {' | '.join(cells)} | {int(round(r['trainable'])):,} | "
                     f"{r['seconds']:.1f} |")
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The comparison rows as a Markdown table (OA/AA in %, trainable parameters, seconds)."""
    lines = ["| method | OA % | AA % | kappa | trainable params | train s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {100 * float(r['oa']):.2f} | {100 * float(r['aa']):.2f} | "
                     f"{float(r['kappa']):.4f} | {int(r['trainable']):,} | {r['seconds']} |")
    return "\n".join(lines)
