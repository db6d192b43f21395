"""Whole-scene denoising streamed window by window into a float32 COG (``hsi denoise``).

:func:`denoise_cube` reads each core window with a halo (:attr:`Denoiser.halo`),
optionally adds seeded synthetic noise (identical for every windowing, see
:mod:`hsi_app.data.noise`), denoises the good bands, crops the core and writes it.
Bad bands are copied through unchanged. Models whose spectral basis comes from the input
(``hsdt_subspace``) get a first pass over the core windows that fits one basis for the
whole scene (memory ``O(bands²)``), so every window uses the same one. With ``adapt_sigma``
the weights are then fine-tuned on random crops of the input by SURE (no clean data;
:mod:`hsi_app.tasks.denoise_adapt`) before any window is written. CRS, transform, wavelengths and FWHM are kept
(:func:`hsi_app.io.cog.cube_band_metadata`). With a reference cube, PSNR (global MSE),
MPSNR (mean of per-band PSNR), SSIM and SAM of the output and of the input are accumulated
window by window (:class:`~hsi_app.tasks.denoise_metrics.RestorationScores`): each window is
scored on its core, with its halo as SSIM context, and only on entries whose reference is
valid (finite, not no-data) and whose input was not filled (``fill_nan``: one value per band for
the whole scene, :mod:`hsi_app.tasks.denoise_fill`); SAM only on pixels with every band valid. A good band
that holds no data at any pixel (given filled to a denoiser with fixed bands) is scored by no row
(:func:`empty_good_bands`), so SAM is taken over the other bands.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import BandMismatchError, HSIWarning, InvalidDataError
from hsi_app.io.cube import Cube, check_is_cube, scene_name, valid_from_data
from hsi_app.io.geotiff import cube_georef
from hsi_app.predictor import WAVELENGTH_TOLERANCE_NM
from hsi_app.tasks.denoise_adapt import DEFAULT_ADAPT_STEPS, AdaptResult, adapt_on_crops, check_adapt
from hsi_app.tasks.denoise_fill import fill_no_data, scene_band_medians
from hsi_app.tasks.denoising import MIN_BANDS, Denoiser


@dataclass
class DenoiseResult:
    """What :func:`denoise_cube` returns (the cube itself is on disk)."""

    path: Path
    height: int
    width: int
    bands: int
    windows: int
    window: int
    halo: int
    seconds: float
    metrics: dict[str, Any] | None
    filled: int = 0
    adapt: AdaptResult | None = None  # the SURE test-time adaptation, when asked for


def check_reference(cube: Cube, reference: Cube) -> None:
    """Refuse a reference on another grid or with other bands.

    Raises:
        BandMismatchError: different band count or wavelengths.
        InvalidDataError: different height/width, or (both georeferenced) another CRS or transform.
    """
    src = scene_name(reference, "reference")
    c, h, w = cube.hsi.shape
    rc, rh, rw = reference.hsi.shape
    if (rh, rw) != (h, w):
        raise InvalidDataError(
            f"{src}: reference is {rh} x {rw} px but the input is {h} x {w}; pass a reference on the input's grid"
        )
    check_reference_grid(cube, reference)
    if rc != c:
        raise BandMismatchError(f"{src}: reference has {rc} bands but the input has {c}; pass a reference with the same bands")
    a, b = cube.hsi.wavelengths, reference.hsi.wavelengths
    known = np.isfinite(a) & np.isfinite(b)
    if known.any() and np.max(np.abs(a[known] - b[known])) > WAVELENGTH_TOLERANCE_NM:
        i = int(np.argmax(np.where(known, np.abs(a - b), -1)))
        raise BandMismatchError(
            f"{src}: band {i + 1} is at {b[i]:.1f} nm in the reference but {a[i]:.1f} nm in the input; "
            "pass a reference with the same bands"
        )


GRID_TOLERANCE_PX = 0.01
"""How far (in input pixels) a reference's grid corners may lie from the input's: float noise only."""


def check_reference_grid(cube: Cube, reference: Cube) -> None:
    """Refuse a georeferenced reference in another CRS or at another place than a georeferenced input.

    Both ``(C, H, W)`` cubes have the same ``H, W`` (checked before). The grids match when the
    CRSs are equal and the reference's four outer corners map within :data:`GRID_TOLERANCE_PX`
    of the input's own corners in the input's pixel space (rotated grids included). When only
    one of them has a CRS nothing can be compared, and a warning says so.

    Raises:
        InvalidDataError: another CRS, or another origin, pixel size or rotation.
    """
    src, ref = scene_name(cube), scene_name(reference, "reference")
    if cube.hsi.georeferenced != reference.hsi.georeferenced:
        lacking = "the reference" if cube.hsi.georeferenced else f"the input {src}"
        warnings.warn(f"{ref}: {lacking} has no CRS, so the grids cannot be compared; the reference's pixels are "
                      "taken as the input's, row for row", HSIWarning, stacklevel=2)
    if not (cube.hsi.georeferenced and reference.hsi.georeferenced):
        return
    crs, rcrs = cube.rio.crs, reference.rio.crs
    if crs != rcrs:
        raise InvalidDataError(
            f"{ref}: reference is in {rcrs.to_string()} but the input {src} is in {crs.to_string()}; "
            "pass a reference on the input's grid"
        )
    t, rt = cube.hsi.transform, reference.hsi.transform
    _, h, w = cube.hsi.shape
    corners = np.array([(0, 0), (w, 0), (0, h), (w, h)], dtype=np.float64)
    inv = ~t
    moved = np.array([inv * (rt * (cc, rr)) for cc, rr in corners])
    off = float(np.max(np.abs(moved - corners)))
    if off > GRID_TOLERANCE_PX:
        raise InvalidDataError(
            f"{ref}: reference grid (origin {rt.c:.10g}, {rt.f:.10g}; pixel {rt.a:.6g} x {rt.e:.6g}) is not that of "
            f"the input {src} (origin {t.c:.10g}, {t.f:.10g}; pixel {t.a:.6g} x {t.e:.6g}), corners up to {off:.4g} px "
            "apart; pass a reference on the input's grid"
        )


def _read(cube: Cube, r: int, c: int, h: int, w: int) -> np.ndarray:
    """``(C, h, w)`` float32 window with no-data as NaN (a new array: the cube's own data is never changed).

    No-data are values equal to the cube's no-data value (``cube.hsi.nodata``: ``attrs["nodata"]``,
    or ``_FillValue`` after ``rio.clip``), and every band of a pixel that the
    cube's valid mask (``cube.hsi.valid``) rules out although its good bands hold values: a
    GeoTIFF's internal mask or alpha band, for instance. A NaN or no-data value in some band
    stays the only NaN of its pixel, as before.

    A window of a lazy cube whose mask is what its values say (``cube.hsi.valid_from_values``,
    :mod:`hsi_app.io.derived_valid`, as for ``hsi predict``'s windows) computes its values alone and takes
    the mask from them: the same mask, and only the window is read, not every storage chunk it touches.
    """
    from hsi_app.local_reads import compute_here, local_scheduler

    win = cube.hsi.window(r, c, h, w)
    if win.hsi.valid_from_values:
        raw = np.asarray(compute_here(win.data)[0])
        valid = np.asarray(valid_from_data(raw, win.hsi.nodata, _bad_bands(win)), dtype=bool)
    else:
        win = win.compute(scheduler=local_scheduler())  # data and valid mask in one pass (shared reads)
        raw, valid = win.values, np.asarray(win.hsi.valid.values, dtype=bool)
    block = np.asarray(raw, dtype=np.float32)
    own = _in_memory_array(cube)
    if own is not None and np.may_share_memory(block, own):
        block = block.copy()  # a view of an in-memory cube's own array: the NaNs set below must not reach it
    nodata = cube.hsi.nodata
    if nodata is not None:
        block[block == np.float32(nodata)] = np.nan
    block[:, _masked(block, valid, _bad_bands(win))] = np.nan
    return block


def _in_memory_array(cube: Cube) -> np.ndarray | None:
    """The cube's own numpy array when its data are held in memory, else ``None``, without reading anything.

    ``cube.data`` of a lazily indexed (non-dask) DataArray, e.g. ``xr.open_dataarray(path)``, loads the whole
    file and keeps it: asked once per window, it held the whole scene in memory. Its backing array
    (``cube.variable._data``) is then a lazy indexing wrapper, and only a plain numpy array counts as in memory.
    """
    backing = getattr(cube.variable, "_data", None)
    return backing if cube.chunks is None and isinstance(backing, np.ndarray) else None


def _bad_bands(win: Cube) -> np.ndarray:
    """``(C,)`` bool bad-band flags of ``win``."""
    return win.hsi.bad_band_mask


def _masked(block: np.ndarray, valid: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``(h, w)`` bool: pixels invalid in ``valid`` whose good bands of ``block`` ``(C, h, w)`` are all finite."""
    return ~valid & np.isfinite(block[~bad]).all(axis=0)


def _scored(ref: np.ndarray, bad_px: np.ndarray, crop: tuple[slice, slice]) -> np.ndarray:
    """``(C, hh, ww)`` bool: the entries of a read window that are scored.

    Those of the core (``crop``) whose reference is finite (not no-data) and whose input
    value was not filled (``bad_px``).
    """
    core = np.zeros(ref.shape[1:], dtype=bool)
    core[crop] = True
    return core & np.isfinite(ref) & ~bad_px


def check_training_wavelengths(cube: Cube, good: np.ndarray, denoiser: Denoiser) -> None:
    """Refuse good bands at other wavelengths than the training scene's, for a model whose spectral basis was
    fitted to that scene (``hsdt_subspace_train``; :attr:`Denoiser.fixed_bands`, whose count is checked first).

    A 200-band scene of another sensor was projected on Indian Pines' basis and came back at 16 dB PSNR
    against its own noise-free values. Bands without a known wavelength (in the scene or the run) are not compared.

    Args:
        cube: the scene.
        good: ``(G,)`` indices of its good bands (``G`` equals the run's band count).
        denoiser: the loaded run.

    Raises:
        BandMismatchError: naming the scene, the first band that differs, both wavelengths and the fix.
    """
    trained = np.asarray(denoiser.config.wavelengths, dtype=np.float64)
    scene = np.asarray(cube.hsi.wavelengths, dtype=np.float64)[good]
    known = np.isfinite(trained) & np.isfinite(scene)
    if not known.any():
        return
    apart = np.flatnonzero(known & (np.abs(scene - trained) > WAVELENGTH_TOLERANCE_NM))
    if apart.size:
        i = int(apart[0])
        raise BandMismatchError(
            f"{scene_name(cube)}: good band {i + 1} (band {good[i] + 1}) is at {scene[i]:.1f} nm but "
            f"{denoiser.config.model_name} was trained with it at {trained[i]:.1f} nm, and its spectral basis is the "
            "training scene's; denoise a cube with the training scene's bands, or use a model for any bands (hsdt_s)"
        )


RANGE_SAMPLE_PX = 256  # side of the central window whose values are checked against the training range


def check_value_range(cube: Cube, good: np.ndarray, denoiser: Denoiser, sample: np.ndarray | None = None) -> np.ndarray:
    """Refuse a scene in other units than the denoiser's training scene.

    The denoiser maps values through its training normalisation (``offset``, ``scale``). A
    scene in reflectance 0-1 given to a model trained on raw counts 0-10000 lands in a
    sliver of that range and comes back on the counts' scale: plausible-looking numbers that
    are wrong. The good bands' values in a central window of at most :data:`RANGE_SAMPLE_PX` px
    are checked against the training range ``offset .. offset + scale`` by the rule every model
    shares (:func:`hsi_app.value_range.check_units`: a 1st-99th percentile spread more than
    100 times narrower or wider is refused).

    Args:
        cube: the scene.
        good: ``(G,)`` indices of its good bands.
        denoiser: the loaded run.
        sample: that window's good bands when already read (:func:`probe_empty_bands` returns it).

    A central window without any value is replaced by windows spread over the scene
    (:func:`hsi_app.value_range.scene_sample`), so a scene with no data in its centre is still checked.

    Returns:
        The ``(G, h, w)`` sample checked (``(G, N)`` for the spread windows; no data NaN), for
        :func:`check_reference_units`.

    Raises:
        InvalidDataError: naming the scene, both ranges, the factor and the fix.
    """
    from hsi_app.value_range import check_units

    sample = _units_sample(cube, good, sample)
    check_units(sample, denoiser.offset, denoiser.offset + denoiser.scale, scene=scene_name(cube),
                model=denoiser.config.model_name,
                fix="convert it to the training scene's units or train a denoiser on it (hsi train --task denoise)")
    return sample


def probe_empty_bands(cube: Cube, denoiser: Denoiser, fill_nan: bool) -> tuple[Cube, np.ndarray | None]:
    """``cube`` with its good bands that hold no data at any pixel flagged bad (one warning), as ``hsi train --task
    denoise``, ``hsi predict`` and ``hsi batch`` flag them, and the central window :func:`check_value_range` checks.

    A band kept as no-data everywhere (a water-vapour band of a GeoTIFF export) leaves no pixel valid: the scene
    was refused ("pass --fill-nan"), and with ``fill_nan`` the model was given that band as one constant and SAM
    had no pixel to score. Only when the central window (:data:`RANGE_SAMPLE_PX` px) holds no valid pixel is the
    scene read once more, band by band (:func:`hsi_app.io.empty_bands.flag_empty_bands`). A cube that ``hsi batch``
    opened was looked at so already (:func:`hsi_app.io.empty_bands.was_probed`) and is not read again.

    A denoiser with fixed bands (:attr:`Denoiser.fixed_bands`: ``hsdt_subspace_train``, whose spectral basis is its
    training scene's) needs every band it was trained on, so nothing is flagged (``hsi batch`` opens its scenes
    unflagged, :attr:`hsi_app.batch.tasks.TaskAdapter.keeps_empty_bands`): ``fill_nan`` fills an empty band as any
    no-data, and without it such a band is named in the error.

    Returns:
        ``(cube, sample)``: the (flagged) cube, and the ``(G, h, w)`` good-band values of the central window
        (no data NaN) when they were read and are still those of its good bands, else ``None``.

    Raises:
        InvalidDataError: empty bands in a cube whose valid mask holds more than its values (an alpha band,
            a GDAL mask, quality masks); or, for a denoiser with fixed bands and without ``fill_nan``, empty bands
            in a scene whose central window holds no valid pixel: one line naming them and the fix.
    """
    from hsi_app.io.empty_bands import empty_bands_note, flag_empty_bands, was_probed

    if denoiser.fixed_bands is None and was_probed(cube):
        return cube, None
    sample = _range_sample(cube, cube.hsi.good_band_indices)
    if np.isfinite(sample).all(axis=0).any():
        return cube, sample
    if denoiser.fixed_bands is not None:
        # refused anyway without fill_nan (its first window holds no-data): one scan, to say why
        note = None if fill_nan else empty_bands_note(cube)
        if note is not None:
            raise InvalidDataError(
                f"{scene_name(cube)}: {note}; {denoiser.config.model_name} was trained on these "
                f"{denoiser.fixed_bands} bands (its spectral basis is the training scene's), so none can be left out: "
                "pass --fill-nan (fill_nan=True in Python) to fill it with a constant and keep it NaN in the output, "
                "or denoise with a model for any bands (hsdt_s)")
        return cube, sample
    flagged = flag_empty_bands(cube)
    return (cube, sample) if flagged is None else (flagged, None)


def empty_good_bands(cube: Cube, good: np.ndarray, denoiser: Denoiser, sample: np.ndarray | None = None, *,
                     values: np.ndarray | None = None) -> np.ndarray:
    """``(G,)`` bool: the good bands ``good`` of ``cube`` that hold no value at any pixel.

    Only a denoiser with fixed bands (:attr:`Denoiser.fixed_bands`) is given such a band (filled, ``fill_nan``);
    other denoisers have it flagged bad (:func:`probe_empty_bands`), so for them none is. Every row of the
    score table (the output, the input, each baseline of :func:`scene_baselines`) leaves these bands out of its
    scores, SAM included, and the baselines leave them out of their fit: a constant band is no spectrum to fit
    or to score. ``values``: the whole scene's good bands ``(G, H, W)`` already in memory (no data NaN, as read),
    tested as they are. Without them, a band without data anywhere leaves no pixel valid, so only a scene whose
    central window (``sample``, the ``(G, h, w)`` values :func:`probe_empty_bands` read) holds no valid pixel is
    scanned (one pass over the bands, :func:`hsi_app.io.empty_bands.empty_bands`).
    """
    from hsi_app.io.empty_bands import empty_bands

    none = np.zeros(good.size, dtype=bool)
    if denoiser.fixed_bands is None:
        return none
    if values is not None:
        return ~np.isfinite(values).reshape(values.shape[0], -1).any(axis=1)
    sample = _range_sample(cube, good) if sample is None else sample
    if np.isfinite(sample).all(axis=0).any():
        return none
    return np.isin(good, empty_bands(cube))


def _units_sample(cube: Cube, good: np.ndarray, sample: np.ndarray | None = None) -> np.ndarray:
    """The good bands' values the units checks compare (no data NaN): the central window's ``(G, h, w)``
    (``sample`` when already read), or, when it holds no value (a swath on either side of an empty centre), the
    ``(G, N)`` values of the windows spread over the scene that the classifiers' check reads
    (:func:`hsi_app.value_range.scene_sample`), so the scene is still checked."""
    from hsi_app.value_range import scene_sample

    sample = _range_sample(cube, good) if sample is None else sample
    return sample if np.isfinite(sample).any() else scene_sample(cube)[good]


def _range_sample(cube: Cube, good: np.ndarray) -> np.ndarray:
    """``(G, h, w)`` good-band values (no data NaN) of the central window of at most :data:`RANGE_SAMPLE_PX` px."""
    _, h, w = cube.hsi.shape
    hh, ww = min(h, RANGE_SAMPLE_PX), min(w, RANGE_SAMPLE_PX)
    return _read(cube, (h - hh) // 2, (w - ww) // 2, hh, ww)[good]


def check_reference_units(cube: Cube, reference: Cube, good: np.ndarray, sample: np.ndarray | None = None) -> None:
    """Refuse a reference in other units than the input (the same scene as reflectance 0-1 against an
    input of counts x 10000): its scores would be nonsense, with SAM, which ignores scale, looking right.

    The good bands' values of the same pixels of both are compared by the rule every units check shares
    (:func:`hsi_app.value_range.check_same_units`: a 1st-99th percentile spread more than 100 times narrower or
    wider is refused): the input's sample :func:`check_value_range` checked, and the reference's at the same
    place, the central window, or the windows spread over the scene when the input's centre holds no data (they
    depend on the grid alone, which both share).

    Args:
        cube: the input scene.
        reference: the clean scene on its grid (:func:`check_reference` passed).
        good: ``(G,)`` indices of the input's good bands.
        sample: the input's sample when already read (:func:`check_value_range` returns it: ``(G, h, w)`` for the
            central window, ``(G, N)`` for the spread windows).

    Raises:
        InvalidDataError: naming the reference, both ranges, the factor and the fix.
    """
    from hsi_app.value_range import check_same_units, scene_sample

    src, ref = scene_name(cube), scene_name(reference, "reference")
    mine = _units_sample(cube, good, sample)
    theirs = _range_sample(reference, good) if mine.ndim == 3 else scene_sample(reference)[good]
    check_same_units(theirs, mine,
                     scene=str(ref), role="reference", like_scene=str(src), like_role="input",
                     fix="pass a reference in the input's units (the same scaling, or the same GDAL scale/offset)")


STREAMED_GDAL_CACHE_MB = 32
"""GDAL block cache (MB) while :func:`denoise_cube` streams its windows, unless the user set ``GDAL_CACHEMAX``.

The CLI's 256 MB (:data:`hsi_app.gdal_env.GDAL_CACHE_MB`) filled with tiles of the input and of the staging
file, all held under the model's peak (session 55: about 140 MiB on a 40 x 768 x 768 scene, up to the whole
256 MB on larger ones).
A window's forward pass takes a minute on 2 cores, so reading again the tiles that neighbouring halos share
costs nothing noticeable."""


def streamed_gdal_cache() -> contextlib.AbstractContextManager[Any]:
    """GDAL's block cache capped at :data:`STREAMED_GDAL_CACHE_MB` for the ``with`` block (restored after it).

    A ``GDAL_CACHEMAX`` the user set wins (:func:`hsi_app.gdal_env.user_gdal_cache`).
    """
    import rasterio

    from hsi_app.gdal_env import user_gdal_cache

    if user_gdal_cache():
        return contextlib.nullcontext()
    return rasterio.Env(GDAL_CACHEMAX=STREAMED_GDAL_CACHE_MB)


def release_freed_memory() -> None:
    """Hand the heap memory freed by earlier windows back to the operating system (glibc's ``malloc_trim``).

    glibc keeps freed buffers of a few MB to 32 MB (a window's reads, its normalised copy, the previous
    window's output) in its heaps for reuse, so resident memory stayed about 100 MiB above what was live
    when the model's forward pass started (40 x 376 x 376 px windows, session 55). The forward pass's large
    tensors come from ``mmap`` and never reuse them. A no-op without glibc (macOS, Windows, musl).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or ``None`` where there is none."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library the interpreter is linked with
    except (OSError, AttributeError):  # musl and others without it
        return None


def denoise_cube(
    denoiser: Denoiser,
    cube: Cube,
    out: str | os.PathLike[str],
    *,
    window: int = 512,
    reference: Cube | None = None,
    noise: str | None = None,
    seed: int = 0,
    fill_nan: bool = False,
    progress: bool = True,
    adapt_sigma: float | None = None,
    adapt_steps: int = DEFAULT_ADAPT_STEPS,
    shown_as: str | os.PathLike[str] | None = None,
    on_window: Callable[[int, int], None] | None = None,
) -> DenoiseResult:
    """Denoise a whole scene window by window into a float32 COG.

    Args:
        denoiser: loaded run.
        cube: input scene (lazy is fine); all of its good bands are denoised. Good bands that hold no data at
            any pixel are flagged bad first (:func:`probe_empty_bands`, one warning), unless the denoiser has
            fixed bands (``hsdt_subspace_train``: ``fill_nan`` fills them, as any no-data).
        out: output ``.tif``.
        window: core window side (rounded up to the model's spatial multiple; ``DenoiseResult.window`` is the size used).
        reference: clean scene on the same grid with the same bands, to score against.
        noise: noise spec added (seeded) before denoising, for demos and benchmarks.
        seed: noise seed.
        fill_nan: replace NaN / no-data values of good bands by the band's median over the whole
            scene's valid values (:func:`~hsi_app.tasks.denoise_fill.scene_band_medians`, one value
            per band whatever the window) and keep them NaN in the output, instead of refusing the input.
        progress: show a progress bar.
        adapt_sigma: when given, first fine-tune the weights (in memory) on the input itself by
            SURE for i.i.d. Gaussian noise of this std on the 0-255 scale of the normalised data
            (:func:`~hsi_app.tasks.denoise_adapt.adapt_on_crops`), one seeded random crop per step (the adapted weights, and so the output, depend on ``seed`` but not on ``window``).
        adapt_steps: optimisation steps of that adaptation.
        shown_as: the output's name in messages (default ``out``), for callers that write to a
            staging path and publish it afterwards.
        on_window: called with ``(done, total)`` windows: ``(0, total)`` before the first window
            is denoised, then after each one (the viewer's progress bar).

    Returns:
        :class:`DenoiseResult`; ``metrics`` = ``{"denoised": {...}, "input": {...}}`` with a reference.

    Raises:
        InvalidDataError: NaN in the input (without ``fill_nan``; with it, a scene with no valid value at all,
            whose output is then not written), values in other units than the
            training scene's (:func:`check_value_range`), or a reference on another grid or in other units
            than the input (:func:`check_reference_units`).
        BandMismatchError: a reference with other bands.
        ConfigError: a window smaller than the receptive field, or a bad ``adapt_sigma`` / ``adapt_steps``;
            ``cube`` or ``reference`` not a Cube (a numpy array: wrap it with ``make_cube``).
    """
    from hsi_app.progress import bar

    from hsi_app.data.noise import parse_noise
    from hsi_app.infer import iter_windows
    from hsi_app.io.cog import StreamingCOGWriter, cube_band_metadata
    from hsi_app.tasks.denoise_metrics import RestorationScores

    check_is_cube(cube, "denoise_cube")
    if reference is not None:
        check_is_cube(reference, "denoise_cube(reference=...)")
    cube, sample = probe_empty_bands(cube, denoiser, fill_nan)
    source = scene_name(cube)
    c, h, w = cube.hsi.shape
    if reference is not None:
        check_reference(cube, reference)
    window = denoiser.check_window(window, h, w)
    sigma = check_adapt(adapt_sigma, adapt_steps) if adapt_sigma is not None else None
    good = cube.hsi.good_band_indices
    if good.size == 0:
        raise InvalidDataError(f"{source}: every band is flagged bad; nothing to denoise")
    if good.size < MIN_BANDS:
        raise InvalidDataError(f"{source}: {good.size} good band(s); spectral denoising needs at least {MIN_BANDS} bands")
    if denoiser.fixed_bands is not None and good.size != denoiser.fixed_bands:
        raise BandMismatchError(
            f"{source}: {good.size} good bands, but {denoiser.config.model_name} was trained on "
            f"{denoiser.fixed_bands}; denoise a cube with the training scene's bands"
        )
    if denoiser.fixed_bands is not None:
        check_training_wavelengths(cube, good, denoiser)
    # bands without data anywhere (filled for a fixed-band model) are scored by no row of the table
    scored = ~empty_good_bands(cube, good, denoiser, sample) if reference is not None else np.ones(good.size, bool)
    sample = check_value_range(cube, good, denoiser, sample)
    if reference is not None:
        check_reference_units(cube, reference, good, sample)
    plan = parse_noise(noise).plan((int(good.size), h, w), seed) if noise else None
    off, sc = denoiser.offset, denoiser.scale
    scores = (RestorationScores(offset=off, scale=sc), RestorationScores(offset=off, scale=sc)) if reference is not None else None
    descriptions, band_tags, tags = cube_band_metadata(cube)
    tags = {**tags, "DENOISED_BY": denoiser.config.model_name, **({"NOISE_ADDED": f"{noise} seed {seed}"} if noise else {})}
    wins = list(iter_windows(h, w, window, denoiser.halo))

    seen_valid = [False]

    def sample_read(r: int, col: int, hh: int, ww: int) -> np.ndarray:
        """Normalised good bands of a core window; notes whether any value in it is valid (finite)."""
        x = (_read(cube, r, col, hh, ww)[good] - off) / sc
        seen_valid[0] = seen_valid[0] or bool(np.isfinite(x).any())
        return x

    @functools.cache
    def fill_values() -> np.ndarray:
        """``(good,)`` scene-wide band medians of the normalised valid values, read once when first needed.

        Raises:
            InvalidDataError: no valid value at all. The sample pass reads every core window, so this is exact,
                and an all-no-data scene is refused at its first window, before the subspace fit, the
                adaptation and the denoising of every window.
        """
        medians = scene_band_medians(sample_read, h, w, window, progress=progress)
        if not seen_valid[0]:
            raise _all_no_data(source)
        return medians

    def prepare(r: int, col: int, hh: int, ww: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw ``(C, hh, ww)`` window, its normalised (filled, noise-added) good bands and their bad-value mask."""
        raw = _read(cube, r, col, hh, ww)
        x = (raw[good] - off) / sc
        bad_px = ~np.isfinite(x)
        if bad_px.any():
            if not fill_nan:
                b, rr, cc = (int(v[0]) for v in np.nonzero(bad_px))
                raise InvalidDataError(
                    f"{source}: NaN, no-data or masked (GDAL mask, alpha band, --exclude-masks) values in the input "
                    f"(first at band {good[b] + 1}, row {r + rr}, col {col + cc}); fill them first or pass --fill-nan (fill_nan=True in Python)"
                )
            x = np.where(bad_px, fill_values()[:, None, None], x)
        if plan is not None:
            x = plan.apply(x, r, col)
        return raw, x, bad_px

    filled = 0
    t0 = time.perf_counter()
    with StreamingCOGWriter(out, height=h, width=w, count=c, dtype="float32", nodata=float("nan"),
                            band_descriptions=descriptions, tags=tags, band_tags=band_tags,
                            overview_resampling="AVERAGE", progress=progress,
                            **cube_georef(cube)) as writer, streamed_gdal_cache():
        if denoiser.needs_subspace:  # first pass: one spectral basis for the whole scene, from the core windows
            cores = bar(wins, desc="subspace", unit="win", enabled=progress)
            denoiser.fit_subspace(prepare(win.row, win.col, win.height, win.width)[1] for win in cores)
        adapted = None
        if sigma is not None:  # label-free fine-tuning on seeded random crops of this scene
            adapted = adapt_on_crops(denoiser, lambda r, col, hh, ww: prepare(r, col, hh, ww)[1], h, w, int(good.size),
                                     sigma, steps=adapt_steps, seed=seed, progress=progress)
        if on_window is not None:
            on_window(0, len(wins))
        for done, win in enumerate(bar(wins, desc="denoise", unit="win", enabled=progress), start=1):
            raw, x, bad_px = prepare(win.read_row, win.read_col, win.read_height, win.read_width)
            release_freed_memory()  # the reads' freed buffers, before the model's peak
            y = denoiser.denoise_normalised(x)
            core = (slice(None), *win.crop)
            block = raw[(slice(None), *win.crop)].copy()
            den = y[core] * sc + off
            den[bad_px[core]] = np.nan
            filled += int(bad_px[core].sum())
            block[good] = den
            writer.write_window(block, win.row, win.col)
            if scores is not None and reference is not None:
                # the whole read window, scored on its core only: the halo is SSIM context
                ref = (_read(reference, win.read_row, win.read_col, win.read_height, win.read_width)[good[scored]]
                       - off) / sc
                keep = _scored(ref, bad_px[scored], win.crop)
                scores[0].update(y[scored], ref, keep)
                scores[1].update(x[scored], ref, keep)
                del ref, keep
            del raw, x, bad_px, y, block, den  # not held under the next window's forward pass
            if on_window is not None:
                on_window(done, len(wins))
        if filled == good.size * h * w:  # the guarantee (fill_values refuses first); inside the writer: discarded
            raise _all_no_data(source)
    if filled:
        warnings.warn(f"{source}: {filled} NaN/no-data values were filled before denoising and left NaN in {shown_as or out}",
                      HSIWarning, stacklevel=2)
    metrics = {"denoised": scores[0].compute(), "input": scores[1].compute()} if scores is not None else None
    return DenoiseResult(Path(out), h, w, c, len(wins), window, denoiser.halo, time.perf_counter() - t0, metrics, filled,
                         adapted)


def _all_no_data(source: str) -> InvalidDataError:
    """The error for a scene without a valid value in any good band (``--fill-nan`` would write all NaN)."""
    return InvalidDataError(f"{source}: every pixel is no-data (NaN or the no-data value in every good band); "
                            "nothing to denoise: check the file's no-data value, or pick a scene with data")


def scene_baselines(cube: Cube, reference: Cube, denoiser: Denoiser, *, noise: str | None, seed: int,
                    units_checked: bool = False, progress: bool = False) -> dict[str, Any]:
    """Classical baselines on the whole (in-memory) scene, scored against ``reference``.

    Uses the same bands (a band without data at any pixel flagged bad, :func:`probe_empty_bands`; for a denoiser
    with fixed bands, which is given such a band filled, the baselines are fitted and every row scored without
    it, :func:`empty_good_bands`, found here in the scene already read), the same
    normalisation, the same no-data fill of the input (the band's scene-wide median, ``fill_nan``), the same seeded
    noise, the same scored entries (reference and input both valid) and the same SSIM context at the reference's
    no-data (estimate and reference both 0 there) as :func:`denoise_cube`. ``units_checked``: :func:`denoise_cube`
    already ran :func:`check_reference_units` on these two scenes (``hsi denoise --baselines``), so it is not run
    again. Memory: the whole scene, a few times over. ``progress``: a bar over the baseline runs.
    """
    from hsi_app.data.noise import parse_noise
    from hsi_app.tasks.denoise_baselines import best_baselines

    with warnings.catch_warnings():  # denoise_cube said it already; flagged here too, or MNF gets a constant band
        warnings.simplefilter("ignore", HSIWarning)
        cube, _ = probe_empty_bands(cube, denoiser, fill_nan=True)
    good = cube.hsi.good_band_indices
    _, h, w = cube.hsi.shape
    off, sc = denoiser.offset, denoiser.scale
    if not units_checked:
        check_reference_units(cube, reference, good)
    raw_x = (_read(cube, 0, 0, h, w)[good] - off) / sc
    raw_ref = (_read(reference, 0, 0, h, w)[good] - off) / sc
    kept = ~empty_good_bands(cube, good, denoiser, values=raw_x)  # the scene is in memory: no pass over the file
    mask = np.isfinite(raw_x) & np.isfinite(raw_ref)
    # the input's no-data filled as denoise_cube fills it for the model (--fill-nan: the band's scene-wide
    # median), not with 0, the training minimum, which the filters smeared into the scored pixels beside it.
    # The reference keeps its no-data as NaN, as denoise_cube scores the model: there the estimate and the
    # reference are both 0 in SSIM windows (a reference of 0 beside the baseline's values lowered their SSIM)
    x, ref = fill_no_data(raw_x), raw_ref
    if noise:
        x = parse_noise(noise).plan(x.shape, seed).apply(x)  # type: ignore[arg-type]
    # drawn over every good band (the model's noise), then the bands without data left out of the fit and scores
    return best_baselines(x[kept], ref[kept], offset=off, scale=sc, mask=mask[kept], progress=progress)
