"""Exploration: can augmentation, dropout, self-training, spatial validation, class weights, weight averaging, PCA, SNV inputs, ensembles or trainer settings lift a model on ``disjoint``?

It records the ideas that were tried against the issue-3 target (default model >= SVM-RBF
+ 10 OA points on a spatially disjoint split). Most did not help; per-pixel SNV inputs
(``snvonly``) did, and became the default model ``ssfcn_snv`` (BENCHMARKS.md, "SNV inputs"). Same data, split (``disjoint:0.5``, buffer 11 px), normalisation,
validation pixels and trainer as ``hsi train``; only the training tiles or labels change.

Variants:
    ``base``                   the default model's run (``ssfcn_snv`` since session 28; ``ssfcn`` before).
    ``aug:g=G:t=T:p=P``        spectral augmentation of every training tile, applied to the
                               raw values: one gain in ``1 +- G`` per tile, a linear spectral
                               tilt ``+- T`` across the bands, and per-pixel gain noise ``P``.
    ``self:THR:R``             ``R`` rounds of self-training: pixels outside the training set
                               (labelled or not) whose predicted confidence exceeds ``THR``
                               join the training labels with their predicted class; the
                               model is retrained from scratch. Transductive: it looks at the
                               test region's spectra, never at its labels.
    ``sval:F:R[:MODEL]``       validation on whole training blocks instead of random training
                               pixels: the training area is split again with ``disjoint:(1-F)``
                               and an ``R``-px buffer; early stopping watches the held-out blocks.
    ``cw:P[:MODEL]``           class-weighted loss (``hsi train --class-weights P``): class ``k`` weighs ``n_k ** -P`` (training
                               pixels), scaled to mean 1; ``P = 0.5`` is inverse-sqrt frequency.
    ``last``                   no validation-based selection: all epochs, the final weights.
    ``swa:S``                  stochastic weight averaging: all epochs, and the returned weights
                               are the uniform mean of the weights after every optimiser step
                               from fraction ``S`` of the run on (flatter minima are said to transfer better).
    ``arch:KEY=V:...``         the ssfcn with other constructor arguments, e.g. ``arch:band_drop=0.2:drop=0.2``
                               (whole input bands dropped at random, dropout in the stem and head):
                               regularisation that the random-split tuning rejected, tried on unseen fields;
                               ``arch:inputs=snv:pools=5/11`` (tuples as ``a/b``) is ``ssfcn_snv`` with smaller boxes;
                               ``model=NAME`` picks another family (``arch:model=channel_vit_snv:hcs=False``).
    ``snv[:MODEL]`` / ``snvonly[:MODEL]``  per-pixel standard normal variate (each spectrum minus its mean
                               over bands, divided by its std over bands) removes a pixel's overall brightness
                               and offset; ``snv`` appends those C channels to the normalised spectra (2C
                               bands), ``snvonly`` replaces them (what ``ssfcn_snv`` does inside the model).
                               Both are standardised on the training pixels. ``MODEL``: another family.
    ``snvd[:MODEL]``           the SNV and its first derivative along wavelength (``np.gradient``
                               per step over the bands sorted by centre; 2C channels, each standardised on the training
                               pixels): derivative spectra stress absorption edges (red edge, water),
                               the other classic brightness-free feature of vegetation spectroscopy.
    ``snvdt:DEG[:MODEL]``      the SNV detrended (Barnes et al. 1989, "SNV-DT"): a polynomial of degree ``DEG``
                               in wavelength is least-squares fitted to each pixel's SNV and subtracted, removing
                               a smooth baseline (tilt, curvature from scattering or soil background) beyond
                               the offset and scale the SNV removes; C channels, standardised on the training pixels.
    ``fit:KEY=V:...``          other ``fit_dense`` settings, e.g. ``fit:weight_decay=0.5`` (stronger
                               AdamW decay) or ``fit:epochs=20``.
    ``ens:N[:from=I][:KEY=V...]``  a deep ensemble of the default model: members ``I..N-1`` differ only in their
                               training seed (weights, tile order); prints every member and the ensembles so far.
                               ``KEY=V``: ``fit_dense`` settings for every member, e.g. ``ens:3:from=1:lr=0.002``;
                               ``val=0`` (also for ``fit:``) trains on every training pixel and keeps the final weights.
    ``svm:FEATURES``           the SVM-RBF baseline (its usual C / gamma grid search) on other per-pixel
                               features: ``raw`` (what ``hsi train --model svm`` sees), ``snv`` or
                               ``raw+snv``; the SVM standardises each feature on the training pixels.
    ``pca:K``                  fewer input features: the normalised spectra are projected on the
                               ``K`` leading principal components of the training pixels (each
                               component rescaled to unit variance) and the model sees ``K`` bands.

Usage: ``.venv/bin/python benchmarks/explore_disjoint.py VARIANT SEEDS [--legacy-blocks]`` e.g. ``base 0,2``.
Every table up to session 32 used what ``--legacy-blocks`` gives (the unshifted block grid, whose
seeds 0-4 give three layouts: 1 and 3 nearly alike, 2 and 4 nearly alike); the default is the
split of session 33 on (``make_split``: seeded grid origin).
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hsi_app.data.splits import make_split
from hsi_app.data.tiles import SceneTiles
from hsi_app.io import open_cube
from hsi_app.models.layers import SNVFeatures
from hsi_app.tasks.classification import balanced_class_weights, classification_metrics, fit_dense, predict_dense
from hsi_app.tasks.train_classifier import _band_stats, protocol_split, scene_in_memory

K = 16


class SpectralAugTiles(SceneTiles):
    """:class:`SceneTiles` whose tiles get a random gain / tilt on their raw values.

    ``mean_over_std`` ``(C,)`` converts a raw-space gain ``G`` to normalised space:
    ``(G r - m) / s = G z + (G - 1) m / s``.
    """

    def __init__(self, *args: object, mean_over_std: np.ndarray, gain: float = 0.0, tilt: float = 0.0,
                 pixel: float = 0.0, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.mos = torch.as_tensor(mean_over_std, dtype=torch.float32)[:, None, None]
        self.gain, self.tilt, self.pixel = gain, tilt, pixel

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = super().__getitem__(index)
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch, index)) % 2**31)  # int-tuple hash: stable
        z = sample["image"]
        c, h, w = z.shape
        gain = 1 + self.gain * (2 * torch.rand(1, 1, 1, generator=g) - 1)
        if self.pixel:
            gain = gain * (1 + self.pixel * torch.randn(1, h, w, generator=g))
        if self.tilt:
            gain = gain * (1 + self.tilt * (2 * torch.rand(1, generator=g) - 1) * torch.linspace(-1, 1, c)[:, None, None])
        sample["image"] = (gain * z + (gain - 1) * self.mos).float()
        return sample


def _average_weights(
    kw: dict[str, object], start: float, bands: int, seed: int
) -> tuple[torch.optim.swa_utils.AveragedModel, Callable[[], None]]:
    """Build the model for ``fit_dense`` (into ``kw``) and a uniform weight average of it that a
    global optimiser hook updates after every step from fraction ``start`` of the run on."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    from hsi_app.models import create_model
    from hsi_app.tasks.classification import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_TILES_PER_EPOCH

    torch.manual_seed(seed)  # the same initial weights as fit_dense would draw
    model = create_model("ssfcn", in_chans=bands, num_classes=K)
    kw["model"] = model
    averaged = torch.optim.swa_utils.AveragedModel(model)
    first = start * DEFAULT_EPOCHS * math.ceil(DEFAULT_TILES_PER_EPOCH / DEFAULT_BATCH_SIZE)  # fit_dense's step count
    step = itertools.count(1)

    def hook(optimizer: object, args: object, kwargs: object) -> None:
        if next(step) >= first:
            averaged.update_parameters(model)

    handle = register_optimizer_step_post_hook(hook)
    return averaged, handle.remove


def _project_on_components(norm: np.ndarray, train: np.ndarray, k: int) -> np.ndarray:
    """(C, H, W) normalised cube -> (k, H, W) scores on the training pixels' leading components, unit variance."""
    x = norm[:, train].T.astype(np.float64)  # (N, C)
    centre = x.mean(0)
    _, s, vt = np.linalg.svd(x - centre, full_matrices=False)
    basis = vt[:k] / (s[:k, None] / math.sqrt(len(x) - 1))  # (k, C): scores of training pixels get std 1
    c, h, w = norm.shape
    scores = basis @ (norm.reshape(c, -1) - centre[:, None])
    return scores.reshape(k, h, w).astype(np.float32)


def _arg(text: str) -> object:
    """A model argument from the variant text: ``5/11`` -> (5, 11), ``64`` -> 64, ``0.2`` -> 0.2, ``False``, else the text."""
    if text in ("True", "False"):
        return text == "True"
    if "/" in text:
        return tuple(int(v) for v in text.split("/"))
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _fit_settings(settings: dict[str, str]) -> dict[str, float | int]:
    """``{"epochs": "20", "lr": "0.002", "val": "0"}`` -> ``fit_dense`` keyword arguments (``epochs`` an int, the
    rest floats); ``val`` and ``from`` are the script's own options, which ``run`` reads."""
    return {k: (int(v) if k == "epochs" else float(v)) for k, v in settings.items() if k not in ("val", "from")}


def _snv(image: np.ndarray) -> np.ndarray:
    """(C, H, W) raw cube -> (C, H, W) per-pixel standard normal variate over the bands (``SNVFeatures.snv``)."""
    x = torch.from_numpy(np.nan_to_num(image).astype(np.float64)).permute(1, 2, 0)  # (H, W, C)
    return SNVFeatures.snv(x).permute(2, 0, 1).numpy().astype(np.float32)


def _detrend(snv: np.ndarray, wavelengths: np.ndarray, degree: int) -> np.ndarray:
    """(C, H, W) spectra minus their least-squares polynomial of ``degree`` in wavelength, per pixel."""
    x = (wavelengths - wavelengths.min()) / np.ptp(wavelengths) * 2 - 1  # (C,) in [-1, 1]
    basis = np.stack([x**k for k in range(degree + 1)], axis=1)  # (C, D+1)
    q, _ = np.linalg.qr(basis)  # orthonormal columns span the polynomials
    flat = snv.reshape(snv.shape[0], -1).astype(np.float64)  # (C, H*W)
    return (flat - q @ (q.T @ flat)).reshape(snv.shape).astype(np.float32)


def _svm_on_features(image: np.ndarray, split: Any, features: str, variant: str, seed: int) -> float:
    """SVM-RBF (grid search) on ``raw``, ``snv`` or ``raw+snv`` spectra of the split; print and return the test OA."""
    from hsi_app.models.svm import SVMBaseline

    parts = {"raw": np.nan_to_num(image), "snv": _snv(image)}
    x = np.concatenate([parts[f] for f in features.split("+")])  # (F, H, W)
    t0 = time.time()
    svm = SVMBaseline().fit(x, split.train, seed=seed)
    sel = split.test > 0
    pred = svm.predict_proba(x[:, sel].T).argmax(1)
    m = classification_metrics(split.test[sel] - 1, pred, K)
    print(f"{variant} seed {seed}: OA {100 * m['oa']:.2f} AA {100 * m['aa']:.2f} kappa {m['kappa']:.4f} "
          f"({time.time() - t0:.0f} s)", flush=True)
    return float(m["oa"])


def _ensemble(norm: np.ndarray, train: np.ndarray, val: np.ndarray, test: np.ndarray, members: range, seed: int,
              kw: dict[str, object]) -> float:
    """Train default models that differ only in their training seed; print each member's OA and the OA of the
    mean probabilities of the members so far; return the full ensemble's OA.

    Member ``i`` trains with seed ``seed + 1000 i`` (member 0 is ``base``): initial weights and tile order change,
    the split, validation pixels and inputs do not.
    """
    sel = test > 0
    truth = test[sel] - 1  # (N test,) class indices
    total = np.zeros((K, truth.size))
    oa = 0.0
    for i in members:
        net, _ = fit_dense(norm, train, val, num_classes=K, seed=seed + 1000 * i, progress=False, **kw)  # type: ignore[arg-type]
        prob = predict_dense(net, norm)[:, sel]  # (K, N test)
        total += prob
        one = float((prob.argmax(0) == truth).mean())
        oa = float((total.argmax(0) == truth).mean())
        print(f"ens seed {seed} member {i}: OA {100 * one:.2f}; mean of members {members[0]}..{i}: OA {100 * oa:.2f}",
              flush=True)
    return oa


def run(variant: str, seed: int, legacy_blocks: bool = False) -> float:
    """Train one variant on one seed's split; print and return the test OA."""
    cube = open_cube("indian_pines")
    image, bands, valid = scene_in_memory(cube)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = protocol_split(cube, "disjoint:0.5", seed=seed, radius=11, legacy_blocks=legacy_blocks)
    split.train[~valid] = 0
    split.test[~valid] = 0
    mean, std = _band_stats(image, split.train > 0)
    norm = np.nan_to_num((image - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
    if variant.startswith("svm:"):
        return _svm_on_features(image, split, variant.split(":")[1], variant, seed)
    # what `hsi train` passes: the band statistics (ssfcn_snv) and centres (channel_vit)
    wl = np.asarray(cube.hsi.wavelengths)[bands]
    kw: dict[str, object] = {"band_stats": (mean, std), "wavelengths": wl}
    kind = variant.split(":")[0]
    # ``fit:`` / ``ens:`` options as text: fit_dense settings, plus ``val`` and ``from``
    settings = dict(part.split("=") for part in variant.split(":")[1:] if "=" in part) if kind in ("fit", "ens") else {}
    if kind in ("snv", "snvonly", "snvd", "snvdt"):
        snv = _snv(image)
        if kind == "snvdt":
            snv = _detrend(snv, wl, int(variant.split(":")[1]))
        if kind == "snvd":
            order = np.argsort(wl, kind="stable")  # AVIRIS's spectrometers overlap: bands are not in wavelength order
            deriv = np.empty_like(snv)
            deriv[order] = np.gradient(snv[order], axis=0)  # per band step: two bands lie 0.02 nm apart
            snv = np.concatenate([snv, deriv])
        s_mean, s_std = _band_stats(snv, split.train > 0)
        snv = ((snv - s_mean[:, None, None]) / s_std[:, None, None]).astype(np.float32)
        norm = np.concatenate([norm, snv]) if kind == "snv" else snv
        kw.pop("band_stats")
        if kind not in ("snvonly", "snvdt"):
            kw.pop("wavelengths")
        model_at = 2 if kind == "snvdt" else 1
        # the features are computed here, so the plain ssfcn (not the default ssfcn_snv, which would take the SNV again)
        kw["model_name"] = variant.split(":")[model_at] if variant.count(":") >= model_at else "ssfcn"
    if variant.startswith("pca"):
        kw.pop("band_stats")  # the inputs are no longer the normalised bands
        kw.pop("wavelengths")
        norm = _project_on_components(norm, split.train > 0, int(variant.split(":")[1]))
    if variant.startswith("sval"):
        _, frac, rad = variant.split(":")[:3]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sub = make_split(split.train, f"disjoint:{1 - float(frac)}", seed=seed, radius=int(rad))
        train, val = sub.train, sub.test
        print(f"  spatial validation: {int((train > 0).sum())} train / {int((val > 0).sum())} val px, "
              f"{sub.dropped} dropped", flush=True)
        model = variant.split(":")[3] if variant.count(":") >= 3 else "ssfcn"
        kw["model_name"] = model
    else:
        train, val = split.validation(0.1, seed=seed)
        if float(settings.get("val", 0.1)) == 0:  # every training pixel trains, final weights kept
            train, val = split.train, None
    if variant.startswith("cw"):
        parts = variant.split(":")
        kw["class_weights"] = balanced_class_weights(train, K, float(parts[1]))  # what `hsi train --class-weights P` uses
        kw["model_name"] = parts[2] if len(parts) > 2 else "ssfcn"
    if variant.startswith("arch"):
        kw["model_args"] = {k: _arg(v) for k, v in (part.split("=") for part in variant.split(":")[1:])}
        kw["model_name"] = kw["model_args"].pop("model", "ssfcn")
    if variant.startswith("fit:"):
        kw.update(_fit_settings(settings))
    if variant.startswith("aug"):
        p = dict(part.split("=") for part in variant.split(":")[1:])
        kw["tiles"] = SpectralAugTiles(norm, train, tile_size=145, tiles_per_epoch=8, seed=seed, mean_over_std=mean / std,
                                       gain=float(p.get("g", 0)), tilt=float(p.get("t", 0)), pixel=float(p.get("p", 0)))
    averaged = None
    if variant == "last" or variant.startswith("swa"):
        val = None  # same training pixels as ``base``; no early stopping, no epoch selection
    if variant.startswith("swa"):
        averaged, remove = _average_weights(kw, float(variant.split(":")[1]), norm.shape[0], seed)
    t0 = time.time()
    if variant.startswith("ens:"):
        kw.update(_fit_settings(settings))
        members = range(int(settings.get("from", 0)), int(variant.split(":")[1]))
        return _ensemble(norm, train, val, split.test, members, seed, kw)
    net, _ = fit_dense(norm, train, val, num_classes=K, seed=seed, progress=False, **kw)  # type: ignore[arg-type]
    if averaged is not None:
        remove()
        net = averaged.module.eval()
    prob = predict_dense(net, norm)
    if variant.startswith("self"):
        _, thr, rounds = variant.split(":")
        for r in range(int(rounds)):
            pseudo = np.where((prob.max(0) > float(thr)) & valid & (split.train == 0), prob.argmax(0) + 1, 0)
            on_test = (split.test > 0) & (pseudo > 0)
            precision = float((split.test[on_test] == pseudo[on_test]).mean()) if on_test.any() else float("nan")
            print(f"  round {r}: {int((pseudo > 0).sum())} pseudo-labelled px; {int(on_test.sum())} of them are "
                  f"test px, {100 * precision:.1f} % correct", flush=True)
            net, _ = fit_dense(norm, np.where(train > 0, train, pseudo), val, num_classes=K, seed=seed, progress=False)
            prob = predict_dense(net, norm)
    sel = split.test > 0
    m = classification_metrics(split.test[sel] - 1, prob.argmax(0)[sel], K)
    print(f"{variant} seed {seed}: OA {100 * m['oa']:.2f} AA {100 * m['aa']:.2f} kappa {m['kappa']:.4f} "
          f"({time.time() - t0:.0f} s)", flush=True)
    return float(m["oa"])


def parse_args(argv: list[str]) -> tuple[str, list[int], bool]:
    """``VARIANT SEEDS [--legacy-blocks]`` -> (variant, seeds, legacy); ``--help`` prints the variants and exits 0.

    Raises:
        SystemExit: one usage line for anything else (no seeds, seeds that are not integers, an unknown option).
    """
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        raise SystemExit(0)
    unknown = [a for a in argv[2:] if a != "--legacy-blocks"]
    if len(argv) < 2 or unknown or not all(s.strip().isdigit() for s in argv[1].split(",")):
        raise SystemExit("explore_disjoint.py: usage: explore_disjoint.py VARIANT SEEDS [--legacy-blocks], "
                         "e.g. `base 0,2` (SEEDS: comma-separated integers); --help lists the variants")
    return argv[0], [int(s) for s in argv[1].split(",")], "--legacy-blocks" in argv[2:]


if __name__ == "__main__":
    name, seeds, legacy = parse_args(sys.argv[1:])
    if "OMP_NUM_THREADS" not in os.environ:  # torch already follows it when set
        torch.set_num_threads(2)
    print(f"{name}: mean OA {100 * np.mean([run(name, s, legacy) for s in seeds]):.2f} over seeds {seeds}")
