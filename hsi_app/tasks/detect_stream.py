"""Global classical detectors (RX, matched filter, ACE, CEM) streamed over row strips of a cube.

The in-memory functions of :mod:`hsi_app.tasks.detectors_classical` need the whole
``(C, H, W)`` scene and several float64 copies of it. Here the lazy cube is read in strips
of rows, twice:

1. **statistics**: per strip, the count, mean and centred sum of outer products of its
   valid pixels in float64, merged into the running totals (Chan et al.'s pairwise update,
   so a large mean does not cancel the covariance). They give the background mean and
   covariance (``np.cov``, ``N - 1``) and the correlation matrix ``X^T X / N`` of CEM, each
   regularised exactly as the in-memory functions do;
2. **scores**: each strip is scored by the in-memory function with those statistics, into
   a preallocated ``(K, H, W)`` float32 array.

The whole-scene allocations are that array and, for a cube whose valid mask holds more than its
values say (an alpha band, a GDAL mask, quality masks, values changed after open), the ``(H, W)``
bool valid mask, computed once before the passes (:func:`valid_mask`). A lazy cube whose mask is
what its values say (``cube.hsi.valid_from_values``: most GeoTIFFs) needs no such pass: each strip
takes its mask from its own values (:func:`shared_mask`), the same mask, so the scene is read twice,
not three times.

A strip holds at most :data:`STRIP_BYTES` of float64 values (at least one row), so memory
follows the strip, not the scene; the scores do not depend on the strip height.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.io.cube import Cube, scene_name
from hsi_app.local_reads import reads_in_this_thread

STRIP_BYTES = 64 * 2**20  # float64 bytes of one strip of the cube's good bands
STREAMED_METHODS = ("rx", "mf", "ace", "cem")


def strip_height(channels: int, width: int, max_bytes: int = STRIP_BYTES) -> int:
    """Rows per strip so that ``rows x width x channels`` float64 values fit ``max_bytes`` (at least 1)."""
    return max(1, int(max_bytes) // max(1, 8 * int(channels) * int(width)))


def strips(height: int, rows: int) -> Iterator[tuple[int, int]]:
    """``(top, bottom)`` row ranges of ``rows`` rows covering ``0..height`` (the last may be shorter)."""
    for top in range(0, height, rows):
        yield top, min(height, top + rows)


def valid_mask(cube: Cube) -> np.ndarray:
    """``(H, W)`` bool valid pixels, computed once, one chunk at a time.

    A lazy cube's mask is a reduction over whole chunks of bands, so the rows of a strip
    would recompute (and read) whole chunks for every strip; at one byte per pixel, the
    scene's mask is a quarter of one score band.
    """

    with reads_in_this_thread():  # one (C, chunk, chunk) block in memory at a time
        return np.asarray(cube.hsi.valid.values, dtype=bool)


def shared_mask(cube: Cube) -> np.ndarray | None:
    """The ``(H, W)`` :func:`valid_mask` the strip passes share, or ``None`` where each strip's own values
    give its mask (``cube.hsi.valid_from_values``: the mask is what the values say), so no pass is spent
    on it."""
    return None if cube.hsi.valid_from_values else valid_mask(cube)


def _rows(valid: np.ndarray | None, top: int, bottom: int) -> np.ndarray | None:
    """Rows ``top:bottom`` of a shared mask (``None``: none, the strip's values give it)."""
    return None if valid is None else valid[top:bottom]


def _central_valid_count(cube: Cube) -> int:
    """Valid pixels in one window of at most :data:`~hsi_app.io.empty_bands.PROBE_PX` px inside the storage
    chunk at the scene's centre (one chunk of a lazy file read, as ``hsi predict``'s empty-band probe)."""

    from hsi_app.infer import chunk_windows, read_window
    from hsi_app.io.empty_bands import PROBE_PX

    windows = chunk_windows(cube, PROBE_PX, 3)
    with reads_in_this_thread():
        return int(np.count_nonzero(read_window(cube, windows[len(windows) // 2])[1]))


def read_strip(cube: Cube, top: int, bottom: int, bands: np.ndarray | None = None,
               valid: np.ndarray | None = None) -> np.ndarray:
    """Rows ``top:bottom`` of the good bands: ``(C_good, bottom - top, W)`` float32, no data -> NaN.

    The same values as those rows of :func:`~hsi_app.tasks.train_classifier.scene_in_memory`.

    Args:
        cube: the scene.
        top, bottom: the rows.
        bands: good band indices (default: the cube's).
        valid: ``(bottom - top, W)`` bool valid pixels of those rows (default: from the cube's
            mask, which for a lazy cube whose mask holds more than its values say reads whole chunks:
            pass :func:`shared_mask`'s rows); ANDed with what the rows' values say (``cube.hsi.read_masked``).
    """
    bands = cube.hsi.good_band_indices if bands is None else bands
    rows = cube.isel(y=slice(int(top), int(bottom)))  # a view (numpy) or a lazy slice (dask) first
    if bands.size != cube.sizes["band"]:
        rows = rows.isel(band=bands)
    return rows.hsi.read_masked(valid)[0]  # ANDed with what the values say: NaN or no-data set after open


def scene_sample(cube: Cube, step: int, max_bytes: int = STRIP_BYTES, *, valid: np.ndarray | None = None) -> np.ndarray:
    """Every ``step``-th row and column of the good bands, ``(C_good, ceil(H/step), ceil(W/step))``
    float32, no data -> NaN: ``scene_in_memory(cube)[0][:, ::step, ::step]``, read in strips.
    ``valid``: the scene's ``(H, W)`` :func:`valid_mask`, when already computed (else its sample's
    :func:`shared_mask` is)."""
    sub = cube.isel(y=slice(None, None, int(step)), x=slice(None, None, int(step)))
    bands = sub.hsi.good_band_indices
    h, w = sub.sizes["y"], sub.sizes["x"]
    valid = shared_mask(sub) if valid is None else valid[::step, ::step]
    out = np.empty((bands.size, h, w), np.float32)
    for top, bottom in strips(h, strip_height(int(bands.size) * int(step), w * int(step), max_bytes)):
        out[:, top:bottom] = read_strip(sub, top, bottom, bands, _rows(valid, top, bottom))
    return out


def pixel_spectrum(cube: Cube, row: int, col: int, *, valid: np.ndarray | None = None) -> np.ndarray:
    """``(C_good,)`` float32 good-band spectrum of one pixel (NaN when it has no data); ``valid``: the
    scene's ``(H, W)`` :func:`valid_mask`, when already computed (else the pixel's own values give it where
    ``cube.hsi.valid_from_values``, and the pixel's chunk is reduced otherwise)."""
    r, c = int(row), int(col)
    mask = None if valid is None else valid[r : r + 1, c : c + 1]
    return read_strip(cube.isel(x=slice(c, c + 1)), r, r + 1, valid=mask)[:, 0, 0]


def scene_and_mask(cube: Cube) -> tuple[Cube, np.ndarray]:
    """``(cube, valid_mask(cube))``; when no pixel is valid because some bands hold no data anywhere, the
    cube with those flagged bad (:func:`~hsi_app.io.empty_bands.flag_empty_bands`, one warning) and its mask.

    A cube whose strips take their mask from their own values (:func:`shared_mask` is ``None``) with at
    least 2 valid pixels in a central window gets ``(cube, None)`` instead of a pass over the scene: no band
    of it is empty (an empty band leaves no pixel valid) and the passes' check of 2 valid pixels holds.
    Otherwise the mask is computed, so that a scene with too few valid pixels is refused before any pass."""
    if cube.hsi.valid_from_values and _central_valid_count(cube) >= 2:
        return cube, None
    valid = valid_mask(cube)
    if valid.size and not valid.any():
        from hsi_app.io.empty_bands import flag_empty_bands

        flagged = flag_empty_bands(cube)
        if flagged is not None:
            return flagged, valid_mask(flagged)
    return cube, valid


def too_few_valid(cube: Cube, n_valid: int, method: str) -> InvalidDataError:
    """The error of a scene with fewer than 2 valid pixels (no background statistics); with none, it
    names the bands that hold no data at any pixel when that is why (one more pass over the scene)."""
    from hsi_app.io.empty_bands import empty_bands_note

    src = scene_name(cube, "the scene")
    note = empty_bands_note(cube) if n_valid == 0 else None
    if note is not None:
        return InvalidDataError(f"{src}: {note}; flag them bad first (cube = hsi_app.io.empty_bands.flag_empty_bands"
                                "(cube), as hsi detect does), then give target spectra at its good bands")
    return InvalidDataError(
        f"{src}: {n_valid} valid pixels (all no-data?); {method} needs at least 2 for the background "
        "statistics: check the file's no-data value, or pass a scene with data"
    )


@dataclass
class Moments:
    """Running float64 moments of pixels ``(N, C)``: count, mean ``(C,)``, centred scatter ``(C, C)``."""

    channels: int
    n: int = 0
    mean: np.ndarray = field(init=False)
    scatter: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.mean = np.zeros(self.channels)
        self.scatter = np.zeros((self.channels, self.channels))

    def add(self, pixels: np.ndarray) -> None:
        """Merge ``(n_b, C)`` pixels (any float dtype; summed in float64)."""
        nb = int(pixels.shape[0])
        if nb == 0:
            return
        x = np.array(pixels, dtype=np.float64)  # a copy: centred in place below
        mb = x.mean(axis=0)
        x -= mb
        sb = x.T @ x
        n = self.n + nb
        delta = mb - self.mean
        self.scatter += sb + np.outer(delta, delta) * (self.n * nb / n)
        self.mean += delta * (nb / n)
        self.n = n

    def subset(self, keep: np.ndarray) -> Moments:
        """The moments of bands ``keep`` ``(C,)`` bool alone: those of the same pixels with only those bands."""
        out = Moments(int(np.count_nonzero(keep)), n=self.n)
        out.mean = self.mean[keep].copy()
        out.scatter = self.scatter[np.ix_(keep, keep)].copy()
        return out

    def variances(self) -> np.ndarray:
        """``(C,)`` band variances (the covariance's diagonal)."""
        return np.diag(self.scatter) / max(self.n - 1, 1)

    def covariance(self) -> np.ndarray:
        """``(C, C)`` sample covariance (``N - 1``, as ``np.cov``)."""
        return self.scatter / (self.n - 1)

    def correlation(self) -> np.ndarray:
        """``(C, C)`` sample correlation matrix ``X^T X / N`` (uncentred)."""
        return self.scatter / self.n + np.outer(self.mean, self.mean)


def valid_pixels(image: np.ndarray) -> np.ndarray:
    """``(N, C)`` float32 pixels of ``image`` ``(C, h, w)`` with every band finite."""
    flat = image.reshape(image.shape[0], -1)
    return flat[:, np.isfinite(flat).all(axis=0)].T


def scene_moments(cube: Cube, rows: int, *, valid: np.ndarray | None = None, progress: bool = False,
                  desc: str = "statistics") -> Moments:
    """Pass 1: :class:`Moments` of every valid pixel of the cube's good bands, strip by strip.

    ``valid``: the ``(H, W)`` mask of :func:`valid_mask` (default: :func:`shared_mask`).
    """
    from hsi_app.progress import bar

    bands = cube.hsi.good_band_indices
    h = cube.sizes["y"]
    valid = shared_mask(cube) if valid is None else valid
    mom = Moments(int(bands.size))
    for top, bottom in bar(strips(h, rows), total=-(-h // rows), desc=desc, unit="strip", enabled=progress):
        mom.add(valid_pixels(read_strip(cube, top, bottom, bands, _rows(valid, top, bottom))))
    return mom


def drop_flat_bands(cube: Cube, mom: Moments, bands: np.ndarray,
                    targets: np.ndarray | None) -> tuple[Moments, np.ndarray | None, np.ndarray | None]:
    """Leave the bands that are constant over the valid pixels out of the moments and the ``(K, C_good)``
    targets (:func:`~hsi_app.tasks.flat_bands.varying_bands`, one warning naming them), as
    :func:`~hsi_app.tasks.detectors_classical.classical_scores` does in memory.

    Returns:
        ``(moments, keep, targets)``: ``keep`` the ``(C_good,)`` bool of the bands kept, to drop from each strip
        read with every good band (a strip of a band subset would take its mask from whole chunks, not from
        its own values: :func:`read_strip`); ``None`` (and the inputs themselves) when every band varies.
    """
    from hsi_app.tasks.flat_bands import varying_bands

    keep = varying_bands(mom.variances(), cube.band.values[bands], cube.hsi.wavelengths[bands])
    if keep.all():
        return mom, None, targets
    return mom.subset(keep), keep, None if targets is None else targets[:, keep]


def _kept(image: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """``image`` ``(C_good, h, w)`` without the flat bands :func:`drop_flat_bands` left out."""
    return image if keep is None else image[keep]


SCALE_GAP = 50.0
"""Target spectra whose peak lies this many times above or below the scene's bright values are taken as a library
scale mistake."""
BRIGHT_SDS = 3.0
"""The scene's bright values: its brightest band's mean plus this many standard deviations (about its top
0.1 % of values)."""


MEAN_BLOCK_BYTES = 8 * 2**20
"""float64 bytes of the block of pixels :func:`scene_mean` reduces at a time."""


def scene_mean(image: np.ndarray) -> np.ndarray:
    """``(C,)`` float64 mean spectrum of the pixels of ``image`` ``(C, H, W)`` that hold data in every band.

    Summed in float64 over blocks of :data:`MEAN_BLOCK_BYTES`, so no copy of the image (nor a ``(C, H, W)``
    finiteness mask) is made: an implanted background is often most of the memory a command uses.
    """
    flat = np.asarray(image).reshape(image.shape[0], -1)  # a view of a contiguous image
    c, n = flat.shape
    step = max(1, MEAN_BLOCK_BYTES // (8 * max(c, 1)))
    total, count = np.zeros(c), 0
    for start in range(0, n, step):
        block = flat[:, start : start + step]
        ok = np.isfinite(block).all(axis=0)
        count += int(ok.sum())
        total += block[:, ok].sum(axis=1, dtype=np.float64)
    return total / count if count else np.full(c, np.nan)


def scene_bright(mean: np.ndarray, spread: np.ndarray | None = None) -> float:
    """The scene's bright values: ``max(mean + BRIGHT_SDS * spread)`` over the bands (``mean`` ``(C,)``, ``spread``
    ``(C,)`` standard deviations; ``None``: the brightest band's mean alone). NaN bands are ignored."""
    top = np.asarray(mean, np.float64) + (0.0 if spread is None else BRIGHT_SDS * np.asarray(spread, np.float64))
    top = top[np.isfinite(top)]
    return float(top.max()) if top.size else float("nan")


def warn_scale_gap(targets: np.ndarray, mean: np.ndarray, spread: np.ndarray | None = None, *,
                   check: np.ndarray | None = None) -> None:
    """One warning when a target spectrum's peak lies :data:`SCALE_GAP` times or more above or below the scene's
    bright values (:func:`scene_bright`): a library in 0..1 reflectance on a scene stored as reflectance x 10000
    with ``--scale 1`` or ``100``, or a x 10000 scale on a 0..1 scene. The background-subtracted targets of
    MF/ACE then point away from the material and nothing is found.

    Peaks against bright values, not typical levels: over open water the scene's median band is near 0
    (SWIR), and a bright target (a ship, reflectance 0.5) is still in the scene's units; its peak lies
    within 15 times the water's blue band. Bright targets on the darkest scenes and dark ones on the
    brightest stay within the gap; a wrong power of ten (or two) of scale does not.

    Args:
        targets: ``(K, C)`` target spectra in the scene's units.
        mean: ``(C,)`` the scene's mean spectrum over its valid pixels.
        spread: ``(C,)`` its standard deviation per band, when known (the streamed statistics).
        check: ``(K,)`` bool, the rows to check (library spectra); a scene pixel's spectrum (``--target-pixel``)
            is in the scene's units by construction. ``None``: every row.
    """
    import warnings

    from hsi_app.errors import HSIWarning

    t = np.asarray(targets, np.float64).reshape(len(targets), -1)
    if check is not None:
        t = t[np.asarray(check, bool)]
    level = scene_bright(mean, spread)
    if t.shape[0] == 0 or not (level > 0 and np.isfinite(level)):
        return
    peaks = np.array([row[np.isfinite(row)].max() if np.isfinite(row).any() else np.nan for row in t])
    peaks = peaks[np.isfinite(peaks) & (peaks > 0)]
    if peaks.size == 0:
        return
    worst = float(peaks[np.argmax(np.abs(np.log(peaks / level)))])
    ratio = worst / level
    if 1 / SCALE_GAP < ratio < SCALE_GAP:
        return
    what = "its brightest band's mean + 3 sd" if spread is not None else "its brightest band's mean"
    warnings.warn(f"the target spectra peak {ratio if ratio > 1 else 1 / ratio:.3g} times "
                  f"{'above' if ratio > 1 else 'below'} the scene's bright values (target peak {worst:.4g}; "
                  f"scene: {what}, {level:.4g}), so the library is likely in other units than the scene: check "
                  "--scale (the library reflectance -> scene units factor, e.g. 10000 for a scene stored as "
                  "reflectance x 10000; omit it to guess)", HSIWarning, stacklevel=3)


def gaussian_stats(mom: Moments) -> Any:
    """SPy ``GaussianStats`` as :func:`~hsi_app.tasks.detectors_classical.background_stats` builds them."""
    from hsi_app.tasks.detectors_classical import gaussian

    return gaussian(mom.mean.copy(), mom.covariance(), mom.n)


def streamed_scores(method: str, cube: Cube, targets: np.ndarray | None = None, *, max_bytes: int = STRIP_BYTES,
                    progress: bool = False, valid: np.ndarray | None = None,
                    scale_check: np.ndarray | None = None, names: Any = None) -> np.ndarray:
    """Score maps of a global classical method, reading the cube in strips of rows.

    Args:
        method: ``rx``, ``mf``, ``ace`` or ``cem``.
        cube: the scene (lazy or in memory); its good bands are scored.
        targets: ``(K, C_good)`` target spectra (target methods).
        max_bytes: float64 bytes of one strip (:func:`strip_height`).
        progress: a progress bar over the strips of each pass.
        valid: the ``(H, W)`` :func:`valid_mask`, when the caller already computed it (default:
            :func:`shared_mask`; without a mask, fewer than 2 valid pixels are refused after the first pass).
        scale_check: ``(K,)`` bool, the target rows whose units are checked against the scene's values
            (:func:`warn_scale_gap`: library spectra, not scene pixels); ``None``: every row.
        names: ``K`` target names, for the error naming a target that is 0 at every band but the constant ones
            left out (:func:`~hsi_app.tasks.detectors_classical.check_kept_targets`); ``None``: its row.

    Returns:
        ``(K, H, W)`` float32 (``K = 1`` for RX), NaN where the cube has no data; equal (to
        float rounding) to :func:`~hsi_app.tasks.detectors_classical.classical_scores` of
        the whole scene in memory.

    Raises:
        ConfigError: another method, or a target method without targets.
        InvalidDataError: fewer than 2 valid pixels, a target that is 0 at every band (or at every band but the
            constant ones, after the statistics pass).
    """
    from hsi_app.progress import bar

    from hsi_app.tasks.detectors_classical import (
        TARGET_METHODS,
        ace,
        cem_filter,
        cem_scores,
        check_kept_targets,
        check_targets,
        matched_filter,
        regularise,
    )
    from hsi_app.tasks.detectors_classical import rx as rx_scores

    m = str(method).lower()
    if m not in STREAMED_METHODS:
        raise ConfigError(f"streamed detection: {method!r} is not one of {', '.join(STREAMED_METHODS)}")
    if m in TARGET_METHODS and targets is None:
        raise ConfigError(f"detection method {m!r} needs target spectra; pass --targets LIB or --target-pixel ROW,COL (spectra= in Python, e.g. from target_spectra)")
    bands = cube.hsi.good_band_indices
    if targets is not None and m in TARGET_METHODS:
        targets = check_targets(targets, int(bands.size))  # before the (long) first pass
    h, w = cube.sizes["y"], cube.sizes["x"]
    rows = strip_height(int(bands.size), w, max_bytes)
    valid = shared_mask(cube) if valid is None else valid
    if valid is not None and int(valid.sum()) < 2:  # before any progress bar: the refusal is the only line
        raise too_few_valid(cube, int(valid.sum()), m)
    mom = scene_moments(cube, rows, valid=valid, progress=progress, desc=f"{m}: statistics")
    if mom.n < 2:
        raise too_few_valid(cube, mom.n, m)
    all_targets = targets
    mom, keep, targets = drop_flat_bands(cube, mom, bands, targets)
    if m in TARGET_METHODS:  # a target of zeros but in a dead band: one line naming it, not check_targets' rows
        check_kept_targets(all_targets, keep, names=names, numbers=cube.band.values[bands],
                           wavelengths=cube.hsi.wavelengths[bands])
        warn_scale_gap(targets, mom.mean, np.sqrt(mom.variances()), check=scale_check)  # type: ignore[arg-type]
    if m == "cem":
        weights = cem_filter(regularise(mom.correlation(), "correlation matrix"), targets)  # type: ignore[arg-type]
        score = lambda x: cem_scores(x, weights)  # noqa: E731
    else:
        bg = gaussian_stats(mom)
        fns = {"rx": lambda x: rx_scores(x, stats=bg), "mf": lambda x: matched_filter(x, targets, stats=bg),  # type: ignore[arg-type]
               "ace": lambda x: ace(x, targets, stats=bg)}  # type: ignore[arg-type]
        score = fns[m]
    k = 1 if m == "rx" else int(targets.shape[0])  # type: ignore[union-attr]
    out = np.empty((k, h, w), np.float32)
    for top, bottom in bar(strips(h, rows), total=-(-h // rows), desc=f"{m}: scores", unit="strip",
                           enabled=progress):
        out[:, top:bottom] = score(_kept(read_strip(cube, top, bottom, bands, _rows(valid, top, bottom)), keep))
    return out


def streamed_local_rx(cube: Cube, window: tuple[int, int], *, max_bytes: int = STRIP_BYTES, progress: bool = False,
                      valid: np.ndarray | None = None) -> np.ndarray:
    """Local RX (:func:`~hsi_app.tasks.detectors_classical.rx` with ``window``) reading the cube in strips.

    Pass 1 gathers the scene's covariance as :func:`streamed_scores` does; pass 2 scores each strip of
    rows from a read that reaches ``outer // 2`` rows beyond it, so every outer window lies inside the
    read and SPy's border rule (windows shifted inside the image) applies only at the scene's own edges:
    the scores equal those of the whole scene in memory. Scenes under
    :data:`~hsi_app.tasks.detectors_classical.SPY_MIN_ROWS` rows are scored in memory (they are tiny).

    Returns:
        ``(1, H, W)`` float32, NaN where the cube has no data.

    Raises:
        ConfigError: a window that is not two odd sizes, inner < outer, fitting the scene.
        InvalidDataError: fewer than 2 valid pixels.
    """
    from hsi_app.progress import bar

    from hsi_app.tasks.detectors_classical import SPY_MIN_ROWS, _check_window, _hwc, classical_scores, local_rx_rows, rx_strips

    bands = cube.hsi.good_band_indices
    h, w = cube.sizes["y"], cube.sizes["x"]
    inner, outer = _check_window(window, (h, w), scene_name(cube, "the scene"))
    valid = shared_mask(cube) if valid is None else valid
    if valid is not None and int(valid.sum()) < 2:
        raise too_few_valid(cube, int(valid.sum()), "rx-local")
    if h < SPY_MIN_ROWS:  # too few rows for SPy's mapper: scored (transposed) in memory, flat bands left out too
        image = read_strip(cube, 0, h, bands, valid)
        n_valid = int(np.isfinite(image).all(axis=0).sum())
        if n_valid < 2:
            raise too_few_valid(cube, n_valid, "rx-local")
        return classical_scores("rx-local", image, window=(inner, outer), progress=progress)
    rows = max(strip_height(int(bands.size), w, max_bytes), SPY_MIN_ROWS)
    mom = scene_moments(cube, rows, valid=valid, progress=progress, desc="rx-local: statistics")
    if mom.n < 2:
        raise too_few_valid(cube, mom.n, "rx-local")
    mom, keep, _ = drop_flat_bands(cube, mom, bands, None)
    bg = gaussian_stats(mom)
    halo, fill = outer // 2, np.asarray(bg.mean)
    out = np.full((1, h, w), np.nan, np.float32)
    for top, bottom in bar(rx_strips(h, rows), desc="rx-local: scores", unit="strip", enabled=progress):
        r0, r1 = max(0, top - halo), min(h, bottom + halo)
        image = _kept(read_strip(cube, r0, r1, bands, _rows(valid, r0, r1)), keep)
        scores = local_rx_rows(_hwc(image, fill=fill), inner, outer, bg.cov, top - r0, bottom - r0).astype(np.float32)
        scores[~np.isfinite(image[:, top - r0 : bottom - r0]).all(axis=0)] = np.nan
        out[0, top:bottom] = scores
    return out
