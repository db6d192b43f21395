"""Apply a trained wavelength-aware run (``channel_vit``) to a cube with fewer bands.

:class:`~hsi_app.predictor.Predictor` feeds a model exactly the bands it was trained
on. A ChannelViT run can instead take any subset of those bands: each band of the
cube is matched by wavelength to a training band (for its normalisation statistics)
and the model is told the wavelengths of the bands it actually gets.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from hsi_app.errors import BandMismatchError, ConfigError, HSIWarning, InvalidDataError
from hsi_app.io.cube import Cube, check_is_cube, scene_name

TOLERANCE_NM = 2.0
MICROMETRE_LIMIT = 30.0
"""Wavelengths all below this (and training ones at or above it) were given in micrometres, not nm."""


def _nearest_training_band(train_wl: np.ndarray, wl: np.ndarray, source: str,
                           run: str = "") -> tuple[np.ndarray, np.ndarray]:
    """``(near, close)``: nearest training band of each given band, and whether it is within 2 nm.

    Raises:
        BandMismatchError: a wavelength is unknown (NaN) on either side; the message says
            which side lacks them: the run (``run``'s config.json) or the scene (``source``).
    """
    wl = np.asarray(wl, dtype=np.float64).reshape(-1)
    train_wl = np.asarray(train_wl, dtype=np.float64).reshape(-1)
    if not np.isfinite(train_wl).all():
        config = f"{run}/config.json" if run else "the run's config.json"
        raise BandMismatchError(
            f"{source}: band subsets need the training bands' wavelengths, and the run has none ({config}: it was "
            "trained on a file without them); retrain on a file that records wavelengths, or pass a scene with the "
            f"training scene's {train_wl.size} bands (matched by index)"
        )
    if not np.isfinite(wl).all():
        raise BandMismatchError(
            f"{source}: band subsets need the scene's band wavelengths, and it has none; use a file that records them "
            "(GeoTIFF 'wavelength' tags, ENVI header 'wavelength' list)"
        )
    dist = np.abs(wl[:, None] - train_wl[None, :])
    near = dist.argmin(axis=1)
    return near, dist[np.arange(wl.size), near] <= TOLERANCE_NM


def match_training_bands(train_wl: np.ndarray, wl: np.ndarray, source: str = "input", run: str = "") -> np.ndarray:
    """Index of the training band within 2 nm of each given band.

    Args:
        train_wl: ``(C,)`` training wavelengths (nm).
        wl: ``(C',)`` wavelengths of the bands to predict from.
        source: name for error messages.
        run: the run folder, for the message of a run without wavelengths.

    Returns:
        ``(C',)`` int indices into the training bands.

    Raises:
        BandMismatchError: unknown wavelengths or a band with no training band nearby.
    """
    near, close = _nearest_training_band(train_wl, wl, source, run)
    if not close.all():
        given = np.asarray(wl, dtype=np.float64).reshape(-1)
        far = given[~close]
        if given.max() < MICROMETRE_LIMIT <= np.asarray(train_wl, dtype=np.float64).min():
            raise BandMismatchError(
                f"{source}: wavelengths {given.min():g}-{given.max():g} look like micrometres; the model's are in nm "
                f"({np.min(train_wl):.0f}-{np.max(train_wl):.0f}): pass wavelengths * 1000"
            )
        raise BandMismatchError(
            f"{source}: bands at {', '.join(f'{v:.1f}' for v in far[:5])} nm are not among the model's "
            "training bands (no normalisation statistics); resample the cube or drop those bands"
        )
    return near


def matching_bands(
    train_wl: np.ndarray, wl: np.ndarray, source: str = "input", usable: np.ndarray | None = None, run: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """The bands of a cube that a wavelength-aware run can use, and their training bands.

    Unlike :func:`match_training_bands`, bands with no training band nearby (or marked
    unusable, e.g. bad bands) are skipped rather than refused.

    Args:
        train_wl: ``(C,)`` training wavelengths (nm).
        wl: ``(C',)`` the cube's wavelengths (nm).
        source: name for error messages.
        usable: ``(C',)`` bool, False for bands to skip; None = all.
        run: the run folder, for the message of a run without wavelengths.

    Returns:
        ``(keep, idx)``: ``(n,)`` indices of the usable cube bands and ``(n,)`` indices
        of their training bands.

    Raises:
        BandMismatchError: unknown wavelengths, or no cube band near a training band.
    """
    near, ok = _nearest_training_band(train_wl, wl, source, run)
    if usable is not None:
        ok &= np.asarray(usable, dtype=bool).reshape(-1)
    if not ok.any():
        w = np.asarray(wl, dtype=np.float64)
        raise BandMismatchError(
            f"{source}: none of its {w.size} bands ({w.min():.0f}-{w.max():.0f} nm) lies within "
            f"{TOLERANCE_NM:g} nm of the model's training bands; resample the cube (--resample; resample=True in Python)"
        )
    keep = np.flatnonzero(ok)
    return keep, near[keep]


def _longest_missing_range(train_wl: np.ndarray, missing: np.ndarray) -> str:
    """``"A-B nm"`` (or ``"A nm"``): the widest run of consecutive (in wavelength) training bands in ``missing``."""
    order = np.argsort(train_wl)
    flags = missing[order]
    best, start = (0, 0), None
    for i, flag in enumerate([*flags, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            best = max(best, (start, i), key=lambda r: r[1] - r[0])
            start = None
    lo, hi = f"{train_wl[order[best[0]]]:.0f}", f"{train_wl[order[best[1] - 1]]:.0f}"
    return f"{lo} nm" if lo == hi else f"{lo}-{hi} nm"


def subset_warning(train_wl: np.ndarray, used: np.ndarray, scene: str, run: str, *, resample_applies: bool,
                   good: bool = False) -> str | None:
    """The one-line warning for a wavelength-aware run that reads only some of its training bands.

    Args:
        train_wl: ``(N,)`` the run's training wavelengths (nm).
        used: ``(n,)`` indices of the training bands the scene supplies (repeats allowed).
        scene: the scene, for the message.
        run: the run folder, for the message.
        resample_applies: the caller can resample instead (``--resample``): below half of
            the bands, say so.
        good: say "no good band" (some of the scene's bands there are bad bands).

    Returns:
        ``"SCENE: RUN uses K of its N training bands (the scene has no band within 2 nm of
        the others, e.g. A-B nm); the map may be less accurate"`` (plus the ``--resample``
        hint below half), or None when every training band is used.
    """
    train_wl = np.asarray(train_wl, dtype=np.float64).reshape(-1)
    n = train_wl.size
    k = np.unique(np.asarray(used, dtype=np.int64)).size
    if k >= n:
        return None
    missing = np.ones(n, dtype=bool)
    missing[np.asarray(used, dtype=np.int64)] = False
    message = (f"{scene}: {run} uses {k} of its {n} training bands (the scene has no {'good ' if good else ''}band "
               f"within {TOLERANCE_NM:g} nm of the others, e.g. {_longest_missing_range(train_wl, missing)}); "
               "the map may be less accurate")
    if resample_applies and k < 0.5 * n:
        message += ("; below half of them, check the map against the full-band one or pass --resample "
                    "(resample=True in Python)")
    return message


def load_channel_model(run_dir: str | os.PathLike[str]) -> tuple[Any, Any]:
    """``(RunConfig, model)`` of a run whose model accepts ``forward(x, wavelengths=...)``.

    Raises:
        ConfigError: the run's model cannot take band subsets.
    """
    from hsi_app.predictor import Predictor

    pred = Predictor.load(run_dir, device="cpu")
    if not hasattr(pred.model, "with_bands"):
        raise ConfigError(
            f"{run_dir}: model {pred.config.model_name!r} needs all {pred.config.in_chans} training bands; "
            "band subsets need a wavelength-aware model such as channel_vit"
        )
    return pred.config, pred.model


def predict_band_subset(
    run_dir: str | os.PathLike[str],
    image: np.ndarray,
    wavelengths: np.ndarray,
    *,
    fwhm: np.ndarray | None = None,
    window: int = 512,
    source: str = "input",
) -> np.ndarray:
    """Class probabilities of a scene given only some of the training bands.

    Warns (:class:`~hsi_app.errors.HSIWarning`, one line) when the bands given are fewer
    than the training bands (:func:`subset_warning`).

    Args:
        run_dir: a ``channel_vit`` run (``config.json`` + ``model.safetensors``).
        image: ``(C', H, W)`` raw values (NaN = no data) of the available bands.
        wavelengths: ``(C',)`` nm of those bands (each within 2 nm of a training band).
        fwhm: ``(C',)`` nm, or None for the widths the model was trained with (those of
            the matching training bands). Used only by a run trained with its scene's FWHM
            (``"fwhm_in_model": true``); a run trained on band-spacing widths keeps those
            (:func:`hsi_app.model_fwhm.model_fwhm`).
        window: core window side of the halo'd windowed inference.
        source: the scene, for the warning.

    Returns:
        ``(K, H, W)`` float32 softmax probabilities (class ``k`` is label ``k + 1``).

    Raises:
        ConfigError: ``image`` is a Cube (its no-data value would be read as a value: use
            :func:`predict_cube_subset`), ``window`` not a whole number >= 1, the run cannot take band subsets.
        BandMismatchError: ``image`` not ``(C', H, W)`` with one wavelength (and one ``fwhm``) per band, or a
            band with no training band within 2 nm.
    """
    import xarray as xr

    from hsi_app.infer import whole_number
    from hsi_app.model_fwhm import model_fwhm
    from hsi_app.predictor import check_probs
    from hsi_app.tasks.classification import predict_dense

    if isinstance(image, xr.DataArray):
        raise ConfigError("predict_band_subset: image is a DataArray (a Cube); pass it to "
                          "predict_cube_subset(run_dir, cube), which reads its no-data as no data and its wavelengths, "
                          "or pass cube.values with its no-data set to NaN")
    window = whole_number(window, "window", 1, "the core window side in pixels", "predict_band_subset")
    config, model = load_channel_model(run_dir)
    img = np.asarray(image, dtype=np.float32)
    wl = np.asarray(wavelengths, dtype=np.float64).reshape(-1)
    if img.ndim != 3 or img.shape[0] != wl.size:
        raise BandMismatchError(f"image {img.shape} and {wl.size} wavelengths: pass (C', H, W) and one wavelength per band")
    if fwhm is not None and np.size(fwhm) != wl.size:
        raise BandMismatchError(f"predict_band_subset: {np.size(fwhm)} fwhm values for {wl.size} bands; pass one per "
                                "band of image, or None for the widths the model was trained with")
    idx = match_training_bands(config.wavelength_array, wl, source, str(run_dir))
    note = subset_warning(config.wavelength_array, idx, source, str(run_dir), resample_applies=False)
    if note:
        warnings.warn(note, HSIWarning, stacklevel=2)
    mean = np.asarray(config.mean, dtype=np.float32)[idx, None, None]
    std = np.asarray(config.std, dtype=np.float32)[idx, None, None]
    norm = np.nan_to_num((img - mean) / std, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    # a band's wavelength as the model knows it: differs from the config's only for the two Indian Pines
    # centres a run recorded with tensorly's list (RunConfig.model_wavelengths)
    renamed = (config.model_wavelength_array - config.wavelength_array)[idx]
    bound = model.with_bands(wl + np.nan_to_num(renamed), model_fwhm(config, fwhm))
    return check_probs(predict_dense(bound, norm, window=window), run_dir)


def predict_cube_subset(run_dir: str | os.PathLike[str], cube: Cube, *, window: int = 512) -> np.ndarray:
    """:func:`predict_band_subset` on the good bands of a cube (e.g. ``cube.isel(band=...)``).

    Returns:
        ``(H, W)`` uint8 class map, 1..K, 0 where the cube has no data.

    Raises:
        ConfigError: ``cube`` not a Cube (a numpy array: :func:`predict_band_subset` takes arrays); ``window``
            not a whole number >= 1.
        InvalidDataError: no pixel of the cube holds data in every good band (the map would be all 0).
    """
    from hsi_app.infer import whole_number
    from hsi_app.tasks.train_classifier import scene_in_memory

    check_is_cube(cube, "predict_cube_subset")
    window = whole_number(window, "window", 1, "the core window side in pixels", "predict_cube_subset")
    image, bands, valid = scene_in_memory(cube)
    if not valid.any():
        from hsi_app.io.empty_bands import empty_bands_note

        note = empty_bands_note(cube)
        fix = ("; flag them bad first (hsi_app.io.empty_bands.flag_empty_bands(cube)) or drop them with cube.isel(band=...)"
               if note else "; nothing to predict")
        raise InvalidDataError(f"{scene_name(cube)}: {note or 'every pixel is no-data'}{fix}")
    probs = predict_band_subset(run_dir, image, cube.hsi.wavelengths[bands], window=window,
                                source=scene_name(cube))
    classes = (probs.argmax(axis=0) + 1).astype(np.uint8)
    classes[~valid] = 0
    return classes
