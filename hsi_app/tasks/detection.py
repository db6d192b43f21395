"""Detection API: score maps for a scene, peak extraction, score-map and point writers.

``detect_scene`` runs one method on a cube and returns ``(K, H, W)`` score maps plus the
detected objects (peaks). Objects are decoded the same way for every method:

* **peaks**: local maxima of each class's score map in a 3 x 3 neighbourhood (NMS),
  above ``threshold``, at most ``max_per_class`` per class;
* **point**: the pixel centre, plus the sub-pixel offset predicted by the learned model;
* **box**: learned model: its predicted size around the point, snapped to pixel edges
  (ground-truth boxes are pixel footprints). Classical methods have
  no size, so the box is the bounding box of the 8-connected region around the peak
  (inside a 9 x 9 window) where the score is at least halfway between the map's median
  and the peak (:func:`peak_boxes`).

Points are written to a GeoPackage with ``class``, ``class_id``, ``score``, ``row``,
``col`` and map ``x``/``y``; score maps to a float32 COG that keeps the cube's CRS.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, InvalidDataError, TargetPixelError
from hsi_app.io.cube import Cube, scene_name
from hsi_app.tasks.detect_metrics import Detections
from hsi_app.tasks.detect_stream import STREAMED_METHODS, streamed_local_rx, streamed_scores
from hsi_app.tasks.detectors_classical import check_method

BOX_HALF = 4


@dataclass
class DetectionResult:
    """Output of :func:`detect_scene`.

    Attributes:
        scores: ``(K, H, W)`` float32 score maps (NaN = no data).
        names: ``K`` band names (class names, or ``"anomaly"`` for RX).
        detections: peaks (row/col continuous pixel coordinates, class_id 1..K, score, box).
        method: the method used.
    """

    scores: np.ndarray
    names: list[str]
    detections: Detections
    method: str


def find_peaks(scores: np.ndarray, *, threshold: float = -np.inf, size: int = 3, max_per_class: int = 500,
               mask: np.ndarray | None = None) -> Detections:
    """Local maxima of each score map (non-maximum suppression in a ``size x size`` window).

    Neighbouring pixels with the same maximum (a saturated plateau) give one peak, at the
    plateau's first pixel in raster order; ``+inf`` is a score, NaN is no data.

    Args:
        scores: ``(K, H, W)`` score maps (NaN ignored).
        threshold: keep peaks with score strictly above this.
        size: odd NMS window.
        max_per_class: keep the strongest peaks per class.
        mask: ``(H, W)`` bool, peaks only where True.

    Returns:
        :class:`Detections` at pixel centres (``row + 0.5``, ``col + 0.5``), class ids ``1..K``.
    """
    from scipy.ndimage import label, maximum_filter

    rows, cols, cls, sc = [], [], [], []
    for k in range(scores.shape[0]):  # one (H, W) float64 map at a time, not a copy of all K
        s_k = np.where(np.isnan(scores[k]), -np.inf, scores[k]).astype(np.float64)  # +inf is a (saturated) score
        peak = (s_k == maximum_filter(s_k, size=size, mode="constant", cval=-np.inf)) & (s_k > threshold)
        if mask is not None:
            peak &= np.asarray(mask, bool)
        plateaus, n = label(peak, structure=np.ones((3, 3), bool))  # equal neighbouring maxima: one object
        if n < int(peak.sum()):
            ids, at = np.unique(plateaus.ravel(), return_index=True)
            first = at[ids > 0]  # each plateau's first pixel in raster order
            peak = np.zeros_like(peak)
            peak.ravel()[first] = True
        r, c = np.nonzero(peak)
        v = s_k[r, c]
        order = np.argsort(-v, kind="stable")[:max_per_class]
        rows.append(r[order])
        cols.append(c[order])
        cls.append(np.full(order.size, k + 1))
        sc.append(v[order])
    return Detections(np.concatenate(rows) + 0.5, np.concatenate(cols) + 0.5, np.concatenate(cls).astype(int),
                      np.concatenate(sc))


def peak_boxes(scores: np.ndarray, det: Detections, half: int = BOX_HALF) -> np.ndarray:
    """Boxes ``(N, 4)`` (row0, col0, row1, col1) of the half-height region around each peak.

    Args:
        scores: ``(K, H, W)`` score maps the peaks came from.
        det: the peaks (class ids pick the map).
        half: half-size of the search window.
    """
    from scipy.ndimage import label

    k_maps, h, w = scores.shape
    med = [float(np.nanmedian(scores[k])) for k in range(k_maps)]
    boxes = np.zeros((len(det), 4))
    for i, (r, c, k) in enumerate(zip(det.row, det.col, det.class_id, strict=True)):
        r, c, k = int(r), int(c), int(k) - 1
        r0, r1, c0, c1 = max(0, r - half), min(h, r + half + 1), max(0, c - half), min(w, c + half + 1)
        win = scores[k, r0:r1, c0:c1]
        level = med[k] + 0.5 * (scores[k, r, c] - med[k])
        lab, _ = label(np.nan_to_num(win, nan=-np.inf) >= level, structure=np.ones((3, 3)))
        rr, cc = np.nonzero(lab == lab[r - r0, c - c0])
        boxes[i] = (r0 + rr.min(), c0 + cc.min(), r0 + rr.max() + 1, c0 + cc.max() + 1)
    return boxes


def best_detections(scores: np.ndarray, *, max_per_class: int = 500) -> Detections:
    """Peaks, with their boxes, of the per-pixel best score over ``scores`` ``(K, H, W)``, all class 1: what
    class-agnostic metrics rank for several maps that name no truth class (``--target-pixel`` targets), so a
    target two maps find is one peak, not one hit and one false alarm."""
    from hsi_app.tasks.detect_metrics import best_score

    best = best_score(scores)[None]
    det = find_peaks(best, max_per_class=max_per_class)
    det.box = peak_boxes(best, det)
    return det


def scene_image(cube: Cube) -> np.ndarray:
    """``(C, H, W)`` float32 good bands of a cube with no-data pixels as NaN."""
    from hsi_app.tasks.train_classifier import scene_in_memory

    return scene_in_memory(cube)[0]


def background_scene(cube: Cube, use: str) -> tuple[Cube, np.ndarray]:
    """The background of ``hsi simulate-targets`` and ``hsi train --task detect``: the cube, with bands that hold
    no data at any pixel flagged bad (one warning names them, as ``hsi detect`` and ``hsi train`` flag them), and
    its ``(C, H, W)`` float32 good bands with no-data pixels as NaN.

    Args:
        cube: the background scene.
        use: what the background is for, in the error (``"implant targets into"``).

    Raises:
        InvalidDataError: no pixel holds data in every good band (one line naming the scene): there is nothing to
            implant targets into or train on (an all-NaN scene with no targets was written, or training failed
            inside its normalisation).
    """
    from hsi_app.tasks.train_classifier import scene_with_data

    cube, image, _, valid = scene_with_data(cube)
    if not valid.any():
        raise InvalidDataError(f"{scene_name(cube)}: every pixel is no-data, so there is no background to {use}: "
                               "check the file's no-data value, or pass a scene with data")
    return cube, image


def check_scale(scale: float | None, option: str = "--scale") -> None:
    """Refuse a reflectance-to-cube factor that is not a positive finite number.

    Raises:
        ConfigError: ``scale`` is 0, negative, NaN or infinite.
    """
    import math

    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise ConfigError(f"{option} {scale:g}: must be a positive number (e.g. 10000 for a cube stored as "
                          "reflectance x 10000); omit it to guess")


def library_bands(cube: Cube, lib: Any) -> tuple[Cube, int]:
    """The cube with its good bands outside the library's range flagged bad, so that target detection scores
    only the bands the library measured.

    A library measured over part of the scene's range (a VNIR field spectrometer's 400-1000 nm against a
    VNIR-SWIR scene) would otherwise give every band beyond it the material's nearest value: invented
    spectra that ACE/MF/CEM weigh like measured ones (ACE finds nothing once they are most of the bands).
    Bands some material leaves uncovered are left out for all, as the targets share one background
    covariance; ``--target-pixel`` spectra are then taken on the same bands.

    Args:
        cube: the scene.
        lib: the :class:`~hsi_app.io.spectral_library.SpectralLibrary` (its materials as selected).

    Returns:
        ``(cube, n)``: the cube with ``n`` more bands flagged bad (the same cube and 0 when the library
        covers every good band, when it covers fewer than 2 of them, or when the cube has no wavelengths:
        :func:`target_spectra` then warns or refuses as before). One warning names the bands left out.
    """
    import warnings

    from hsi_app.errors import HSIWarning

    good = cube.hsi.good_band_indices
    wl = np.asarray(cube.hsi.wavelengths, dtype=np.float64)[good]
    if wl.size == 0 or not np.isfinite(wl).all():
        return cube, 0
    inside = lib.covers(wl, np.asarray(cube.hsi.fwhm, dtype=np.float64)[good])
    if inside.all() or inside.sum() < 2:
        return cube, 0
    bad = cube.hsi.bad_band_mask
    bad[good[~inside]] = True
    out = cube.assign_coords(bad_band=("band", bad))
    lo, hi = lib.common_span()
    warnings.warn(f"{lib.source}: covers {lo:.0f}-{hi:.0f} nm, so the {int((~inside).sum())} of the scene's "
                  f"{wl.size} good bands outside it are left out; targets are scored on the {int(inside.sum())} "
                  "inside", HSIWarning, stacklevel=2)
    return out, int((~inside).sum())


PIXEL_TARGET = re.compile(r"pixel_\d+_\d+")
"""The name :func:`target_spectra` gives the spectrum of a scene pixel (``pixel_ROW_COL``)."""


def pixel_target_name(row: int, col: int) -> str:
    """``pixel_ROW_COL``: the target name of the spectrum of scene pixel ``(row, col)`` (``--target-pixel``)."""
    return f"pixel_{int(row)}_{int(col)}"


def pixel_targets(names: Sequence[str] | None, k: int) -> np.ndarray:
    """``(K,)`` bool: which of ``k`` target rows are scene pixels (named by :func:`pixel_target_name`), whose
    spectra are in the scene's units by construction (no library scale to check); all False without names."""
    if names is None:
        return np.zeros(k, bool)
    return np.array([PIXEL_TARGET.fullmatch(str(n)) is not None for n in names], bool)


def target_spectra(cube: Cube, *, library: str | os.PathLike[str] | Any | None = None,
                   pixels: list[tuple[int, int]] | None = None, names: list[str] | None = None,
                   scale: float | None = None, alternative: str = "",
                   leave_out: str = "leave it out: --material NAME (names= in Python) picks the others",
                   describe: Callable[[str], None] | None = None,
                   valid: np.ndarray | None = None, max_extrapolated: float | None = None,
                   record: dict[str, Any] | None = None) -> tuple[np.ndarray, list[str]]:
    """Target spectra ``(K, C)`` at the cube's good bands, in the cube's units, and names.

    Args:
        cube: the scene.
        library: CSV / ENVI ``.sli`` library (resampled to the cube's bands, then times ``scale``), or
            a :class:`~hsi_app.io.spectral_library.SpectralLibrary` already read (its ``source`` names it).
        pixels: ``(row, col)`` pixels whose spectra are targets (one given twice is taken once).
        names: only these library materials.
        scale: reflectance-to-cube factor (default: guessed, :func:`reflectance_scale`).
        alternative: what else the caller could do when the cube has no wavelengths
            (``hsi detect``: ``"or pass --target-pixel ROW,COL"``), appended to that error.
        leave_out: how the caller's user leaves a library material out, ending the error for one that is 0
            at every band (``hsi train --task detect`` has no ``--material``: remove the column from the library).
        describe: called with one line saying how the library's values were read and scaled
            (``hsi detect`` prints it), so a wrong guess can be seen.
        valid: the scene's ``(H, W)`` valid mask (:func:`~hsi_app.tasks.detect_stream.valid_mask`), when
            the caller computed it once for this and :func:`detect_scene` (a lazy scene's mask reads it whole).
        max_extrapolated: refuse a library that leaves more than this share of the good bands outside its
            range (they would get the nearest library value); simulate-targets and ``hsi train --task
            detect`` pass 0.5, as their spectra become ground truth. ``None``: only a warning.
        record: when given and a library is read, filled with ``library`` (path), ``materials`` (its
            names used), ``scale``, ``scale_guessed`` (bool) and ``extrapolated_bands`` (count).

    Raises:
        ConfigError: a non-positive ``scale``, no targets, a pixel outside the scene.
        BandMismatchError: a library with a cube whose band wavelengths are unknown, or one that leaves
            more than ``max_extrapolated`` of them outside its range.
        InvalidDataError: a material that is 0 at every good band (no target spectrum: CEM's filter would
            divide by 0); :class:`~hsi_app.errors.TargetPixelError` (a subclass, with the pixel and the reason)
            for a pixel with no data or 0 at every good band.
    """
    from hsi_app.errors import BandMismatchError
    from hsi_app.io.spectral_library import SpectralLibrary, read_library, reflectance_scale, stores_integers

    from hsi_app.tasks.detect_stream import pixel_spectrum, scene_sample

    check_scale(scale)
    good = cube.hsi.good_bands()
    spectra: list[np.ndarray] = []
    labels: list[str] = []
    if library is not None:
        lib = (library if isinstance(library, SpectralLibrary) else read_library(library)).select(names)
        library = lib.source if isinstance(library, SpectralLibrary) else library
        wl = np.asarray(good.hsi.wavelengths, dtype=np.float64)
        if wl.size == 0 or not np.isfinite(wl).all():
            src = scene_name(cube, "the scene")
            raise BandMismatchError(
                f"{src}: the cube has no band wavelengths, so the library {library} cannot be matched to its bands; "
                "use a file that records them (GeoTIFF 'wavelength' tags, ENVI header 'wavelength' list)"
                + (f", {alternative}" if alternative else "")
            )
        outside = int((~lib.covers(wl, good.hsi.fwhm)).sum())
        if max_extrapolated is not None and outside > max_extrapolated * wl.size:
            src = scene_name(cube, "the scene")
            lo, hi = lib.common_span()  # the range every material covers
            raise BandMismatchError(
                f"{library}: covers {lo:.0f}-{hi:.0f} nm, but {outside} of the "
                f"{wl.size} good bands of {src} ({wl.min():.0f}-{wl.max():.0f} nm) lie outside it and would get the "
                "nearest library value, so the implanted targets would carry invented spectra; "
                + (lib.wavenumber_hint(wl) or f"use a library measured over at least {1 - max_extrapolated:.0%} of "
                   "the scene's bands")
            )
        guessed = scale is None
        if scale is None:  # from every 4th row and column, read in strips (not the whole scene)
            scale = reflectance_scale(scene_sample(cube, 4, valid=valid), integer=stores_integers(cube))
        how = "guessed from the scene's values; --scale sets it" if guessed else "--scale"
        spectra.append(lib.resample(good.hsi.wavelengths, good.hsi.fwhm) * scale)
        if describe is not None:
            count = f"{len(lib)} spectr{'um' if len(lib) == 1 else 'a'}"
            describe(f"{library}: {count} read as {lib.stored_as}, times {scale:g} to the scene's units ({how})")
        if record is not None:
            record.update(library=str(library), materials=list(lib.names), scale=float(scale), scale_guessed=guessed,
                          extrapolated_bands=outside)
        labels += lib.names
    n_library = len(labels)
    h, w = cube.sizes["y"], cube.sizes["x"]
    for r, c in dict.fromkeys((int(r), int(c)) for r, c in pixels or []):  # a pixel given twice is one target
        if not (0 <= r < h and 0 <= c < w):
            raise ConfigError(f"--target-pixel {r},{c} (pixels= in Python): outside the {h} x {w} scene (rows 0..{h - 1}, cols 0..{w - 1})")
        spectrum = pixel_spectrum(cube, r, c, valid=valid)
        if not np.isfinite(spectrum).all():
            raise TargetPixelError((r, c), "has no data", "pick a valid pixel")
        spectra.append(spectrum[None])
        labels.append(pixel_target_name(r, c))
    if not spectra:
        raise ConfigError("target detection needs target spectra; pass --targets LIB or --target-pixel ROW,COL (library= or pixels= in Python)")
    out = np.concatenate(spectra).astype(np.float32)
    zero = np.flatnonzero(~(out != 0).any(axis=1))
    if zero.size:  # CEM's filter divides by d^T R^-1 d (a NaN map); MF/ACE would look for a black hole
        k = int(zero[0])
        if k < n_library:
            raise InvalidDataError(f"{library}: material {labels[k]!r} is 0 at every band of the scene (an empty "
                                   f"column?), so it is no target spectrum; check the column, or {leave_out}")
        row, col = (int(v) for v in labels[k].removeprefix("pixel_").split("_"))
        raise TargetPixelError((row, col), "is 0 at every band (a fill not marked as no-data?), so it is no target "
                               "spectrum")
    return out, labels


def _check_scene_args(cube: Cube, *, spectra: Any, names: Any, threshold: Any, max_per_class: Any,
                      valid: Any) -> None:
    """:func:`detect_scene`'s arguments, checked before any pass over the scene (each a one-line ConfigError)."""
    if isinstance(names, str):
        raise ConfigError(f"detect_scene: names={names!r} is one string; pass a list, one name per row of spectra "
                          f"(names=[{names!r}])")
    if spectra is not None:
        try:
            bands = np.atleast_2d(np.asarray(spectra, dtype=np.float64)).shape[-1]
        except (TypeError, ValueError):
            raise ConfigError(f"detect_scene: spectra is a {type(spectra).__name__} that is not numbers; pass a (K, C) "
                              "array of target spectra at the cube's good bands (e.g. from target_spectra)") from None
        good = cube.hsi.good_band_indices.size
        if bands == cube.hsi.shape[0] != good:
            raise ConfigError(f"detect_scene: spectra have {bands} bands, all of the cube's, but detection reads its {good} "
                              "good bands (bad bands left out): pass spectra[:, cube.hsi.good_band_indices]")
    if threshold is not None:
        if not isinstance(threshold, (int, float, np.integer, np.floating)) or np.isnan(threshold):
            raise ConfigError(f"detect_scene: threshold={threshold!r}; it is a score (a number), or None for every peak")
    if isinstance(max_per_class, bool) or not isinstance(max_per_class, (int, np.integer)) or max_per_class < 0:
        raise ConfigError(f"detect_scene: max_per_class={max_per_class!r}; it is a whole number of peaks, 0 or more")
    if valid is not None and np.shape(valid) != tuple(cube.hsi.shape[1:]):
        raise ConfigError(f"detect_scene: valid is {np.shape(valid)} but the scene is {tuple(cube.hsi.shape[1:])} "
                          "(H, W); pass the scene's own mask (cube.hsi.valid), or None")


def detect_scene(cube: Cube, method: str, *, spectra: np.ndarray | None = None, names: list[str] | None = None,
                 model: str | os.PathLike[str] | None = None, window: tuple[int, int] = (5, 21),
                 threshold: float | None = None, max_per_class: int = 500, progress: bool = False,
                 resample: bool = False, valid: np.ndarray | None = None,
                 device: str | None = None) -> DetectionResult:
    """Score maps and detected peaks of one method on a cube.

    Args:
        cube: the scene.
        method: ``rx``, ``rx-local``, ``mf``, ``ace``, ``cem`` or ``learned``.
        spectra: ``(K, C)`` target spectra at the cube's good bands (target methods).
        names: ``K`` target names; the rows named ``pixel_ROW_COL`` (:func:`target_spectra`'s scene pixels) are
            left out of the check that the targets are in the scene's units (:func:`~hsi_app.tasks.detect_stream.warn_scale_gap`).
        model: run folder of ``hsi train --task detect`` (``learned``).
        window: ``(inner, outer)`` of ``rx-local``.
        threshold: keep peaks above it (default: all peaks, 0.1 for ``learned``).
        max_per_class: most peaks kept per class.
        progress: show progress bars: the strips of both passes of ``rx``/``mf``/``ace``/``cem``
            (:mod:`~hsi_app.tasks.detect_stream`: the scene is read in strips of rows, so memory
            follows the strip), ``rx-local``'s strips, ``learned``'s windows.
        resample: ``learned``: resample the cube's bands to the model's when they differ
            (:func:`~hsi_app.predictor.plan_bands`); classical methods resample the library instead.
        valid: the scene's ``(H, W)`` valid mask, when already computed (``rx``/``mf``/``ace``/``cem``).
        device: ``learned``: where the model runs (``"cpu"``, ``"cuda:N"``...; None = the GPU when one is
            visible); the classical methods run on the CPU.

    Raises:
        ConfigError: ``names`` not one per row of ``spectra`` (or a string), ``spectra`` not numbers,
            ``threshold`` not a number, ``max_per_class`` not a whole number >= 0, ``valid`` not ``(H, W)``,
            ``rx-local``'s ``window`` not a pair; see also the methods' own checks.
    """
    from hsi_app.io.cube import check_is_cube

    check_is_cube(cube, "detect_scene")
    m = check_method(method)
    _check_scene_args(cube, spectra=spectra, names=names, threshold=threshold, max_per_class=max_per_class,
                      valid=valid)
    if m == "rx-local" and (isinstance(window, (str, bytes)) or np.ndim(window) != 1 or np.size(window) != 2):
        raise ConfigError(f"detect_scene: window={window!r}; rx-local takes a pair (inner, outer) of odd pixel sizes, "
                          "e.g. window=(5, 21)")
    if names is not None and spectra is not None and len(names) != np.atleast_2d(np.asarray(spectra)).shape[0]:
        k = np.atleast_2d(np.asarray(spectra)).shape[0]
        raise ConfigError(f"detect_scene: {len(names)} names for {k} target spectra; give one name per row of spectra "
                          "(names=None numbers them target_1, target_2...)")
    if m == "learned":
        if model is None:
            raise ConfigError("detection method 'learned' needs --model RUN_DIR (model= in Python), a run of "
                              "`hsi train --task detect`")
        from hsi_app.tasks.detector_infer import LearnedDetector

        det_model = LearnedDetector.load(model, device=device)
        out = det_model.predict_cube(cube, resample=resample, progress=progress)
        det = det_model.decode(out, threshold=0.1 if threshold is None else threshold, max_per_class=max_per_class)
        return DetectionResult(out.heat, det_model.class_names, det, m)
    if m in STREAMED_METHODS:  # global statistics, gathered and applied strip by strip
        check = None if spectra is None else ~pixel_targets(names, np.atleast_2d(np.asarray(spectra)).shape[0])
        scores = streamed_scores(m, cube, spectra, progress=progress, valid=valid, scale_check=check, names=names)
    else:  # rx-local: the scene's covariance, then a window around every pixel, strip by strip
        scores = streamed_local_rx(cube, window, progress=progress, valid=valid)
    det = find_peaks(scores, threshold=-np.inf if threshold is None else threshold, max_per_class=max_per_class)
    det.box = peak_boxes(scores, det)
    label = ["anomaly"] if m in ("rx", "rx-local") else list(names or [f"target_{i + 1}" for i in range(scores.shape[0])])
    return DetectionResult(scores, label, det, m)


def write_score_map(dst: str | os.PathLike[str], scores: np.ndarray, cube: Cube, names: list[str], method: str, *,
                    progress: bool = False) -> None:
    """Write ``(K, H, W)`` scores as a float32 COG on the cube's grid (CRS kept, or the ground control points of a
    scene georeferenced only by them; NaN = no data); ``progress``: show the conversion to COG of a large map
    (``StreamingCOGWriter``'s ``progress``)."""
    from hsi_app.io.cog import StreamingCOGWriter
    from hsi_app.io.geotiff import cube_georef

    k, h, w = scores.shape
    with StreamingCOGWriter(dst, height=h, width=w, count=k, dtype="float32", nodata=float("nan"),
                            band_descriptions=names, tags={"DETECTION_METHOD": method},
                            overview_resampling="AVERAGE", progress=progress, **cube_georef(cube)) as wr:
        wr.write_window(np.asarray(scores, dtype=np.float32), 0, 0)  # no copy of float32 scores


def pixel_to_map(cube: Cube, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map ``x, y`` of continuous pixel coordinates (identity without CRS: x = col, y = row)."""
    from hsi_app.io.vector import Grid

    t = Grid.of(cube).transform
    xs, ys = t * (np.asarray(cols, float), np.asarray(rows, float))
    return np.asarray(xs, float), np.asarray(ys, float)


def write_detections(dst: str | os.PathLike[str], det: Detections, cube: Cube, names: list[str],
                     extra: dict[str, Any] | None = None) -> None:
    """Write points to a GeoPackage: ``class``, ``class_id``, ``score``, ``row``, ``col``, ``x``, ``y`` (+ box, extra).

    Args:
        dst: the GeoPackage to write.
        det: the points (``result.detections`` of :func:`detect_scene`).
        cube: the scene they were found in (its CRS and transform place them).
        names: class names, ``names[k - 1]`` for class id ``k`` (``result.names``).
        extra: more attributes, one value per point.

    Raises:
        ConfigError: ``cube`` not a Cube, ``det`` not a :class:`Detections` (a whole :class:`DetectionResult`),
            ``names`` not a list of names.
    """
    from hsi_app.io.cube import check_is_cube
    from hsi_app.io.vector import write_points

    check_is_cube(cube, "write_detections")
    if isinstance(det, DetectionResult):
        raise ConfigError("write_detections: det is a whole DetectionResult; pass its points and names: "
                          "write_detections(path, result.detections, cube, result.names)")
    if not isinstance(det, Detections):
        raise ConfigError(f"write_detections: det is a {type(det).__name__}; pass detect_scene's result.detections "
                          "(a Detections)")
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError(f"write_detections: names={names!r}; pass a list of class names, names[k - 1] for class k "
                          "(detect_scene's result.names)")
    xs, ys = pixel_to_map(cube, det.row, det.col)
    ids = np.asarray(det.class_id, int)
    attrs: dict[str, Any] = {
        "class": np.array([names[i - 1] if 0 < i <= len(names) else str(i) for i in ids], dtype=object),
        "class_id": ids, "score": np.asarray(det.score, float),
        "row": np.asarray(det.row, float), "col": np.asarray(det.col, float), "x": xs, "y": ys,
    }
    if det.box is not None:
        for j, n in enumerate(("box_row0", "box_col0", "box_row1", "box_col1")):
            attrs[n] = np.asarray(det.box, float).reshape(-1, 4)[:, j]
    attrs.update(extra or {})
    write_points(dst, xs, ys, attrs, cube.rio.crs)


def read_points(path: str | os.PathLike[str]) -> Any:
    """Read a points file (GeoPackage or any vector format GDAL reads) as a GeoDataFrame, checked.

    Raises:
        DatasetNotFoundError: the file does not exist.
        LabelError: it is not a readable vector file, or its geometries are not points.
    """
    from hsi_app.errors import LabelError
    from hsi_app.io.vector import read_layer

    p = os.fspath(path)
    gdf = read_layer(p, what="points file", hint="pass a GeoPackage of points, e.g. targets.gpkg from "
                     "`hsi simulate-targets`", folder_hint="pass the points file itself (e.g. targets.gpkg from "
                     "simulate-targets)")
    kinds = sorted({str(t) for t in gdf.geometry.geom_type.dropna().unique()} - {"Point"})
    if kinds or gdf.geometry.isna().any():
        found = ", ".join(kinds) if kinds else "empty geometries"
        raise LabelError(f"{p}: holds {found}, not points; pass one point per target (e.g. from simulate-targets)")
    gdf.attrs["source"] = p
    return gdf


def truth_on_scene(points: Any, cube: Cube) -> Any:
    """The targets of a truth file that lie on the scene, in the scene's CRS.

    A target is on the scene when its footprint reaches into it: its box
    (``box_row0..box_col1``, moved to this grid as in :func:`read_detections`), or the pixel
    of its point when the file has no boxes. So a crop of the scene the truth was made for is
    scored on the targets it holds, whole or cut at its edge (a cut target keeps its point,
    which may lie just outside, and its box clipped to the scene), and its target pixels are
    exactly the full scene's cut to the crop. The targets left out are counted in one warning;
    none on the scene is an error, so truth for another place is never scored.

    Args:
        points: a GeoDataFrame from :func:`read_points` (its ``attrs["source"]`` names it).
        cube: the scene.

    Returns:
        The GeoDataFrame reprojected to the scene's CRS, only the targets on the scene.

    Raises:
        LabelError: a file with no targets at all (nothing to score), no target on the scene, or the CRS
            cannot be matched.
    """
    import warnings

    from hsi_app.errors import HSIWarning, LabelError
    from hsi_app.io.vector import Grid, _align_crs, no_overlap_error

    p = str(points.attrs.get("source", "points"))
    if len(points) == 0:  # e.g. a simulate-targets negative control: not truth for another place
        raise LabelError(f"{p}: holds no targets, so there is nothing to score; drop --truth (--points writes "
                         "the detections, to count false alarms)")
    grid = Grid.of(cube)
    gdf = _align_crs(points, grid, p)  # type: ignore[arg-type]
    rows, cols = _grid_rows_cols(gdf, grid)
    box = _truth_boxes(gdf, rows, cols)
    if box is None:
        box = np.column_stack([np.floor(rows), np.floor(cols), np.floor(rows) + 1, np.floor(cols) + 1])
    inside = (box[:, 0] < grid.height) & (box[:, 2] > 0) & (box[:, 1] < grid.width) & (box[:, 3] > 0)
    scene = f"the scene {scene_name(cube, '')}".rstrip()
    if not inside.any():
        raise no_overlap_error(p, gdf, grid, what="points", target=scene,
                               fix="check the truth file's CRS, or pass the scene it was made for")
    if not inside.all():
        warnings.warn(f"{p}: {int((~inside).sum())} of {len(gdf)} targets lie outside {scene} and are left out "
                      "of the metrics", HSIWarning, stacklevel=2)
    out = gdf[inside].copy()
    out.attrs["source"] = p
    return out


def _grid_rows_cols(gdf: Any, grid: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` continuous rows and cols of point geometries on a grid."""
    cols, rows = ~grid.transform * (gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy())
    return np.asarray(rows, float), np.asarray(cols, float)


def _grid_linear(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """``(2, 2)`` linear part of the affine from the grid a file was written for to this grid.

    Args:
        old: ``(N, 2)`` (row, col) of the points in the grid the file was written for.
        new: ``(N, 2)`` (row, col) of the same points in this scene's grid.

    Returns:
        Identity for a shifted grid (a crop or window of the same grid), for fewer than 3
        non-collinear points, or when the stored coordinates fit no single affine;
        otherwise the scale/rotation between the grids (e.g. 0.5 for pixels twice as large).
    """
    eye = np.eye(2)
    a = np.column_stack([old, np.ones(len(old))])
    if len(old) < 3 or np.linalg.matrix_rank(a) < 3:
        return eye
    sol = np.linalg.lstsq(a, new, rcond=None)[0]  # (3, 2)
    if np.abs(a @ sol - new).max() > 1e-2:
        return eye
    lin = sol[:2].T
    return eye if np.allclose(lin, eye, atol=1e-6) else lin


SNAP_PX = 1e-3
"""Box edges this close to a whole pixel (in pixels) are on it (:func:`_move_boxes`): far above a reprojection's
rounding, far below any real fraction of a pixel (a box on a grid of pixels twice as large ends on .5). What
matters on a grid scaled or rotated from the file's, whose moves are not rounded (:data:`SHIFT_SNAP_PX`)."""
SHIFT_SNAP_PX = 0.05
"""A target whose point moved this close to a whole number of pixels (in each axis) moved by that whole number
(:func:`_move_boxes`): a crop moves points by whole pixels, and what is left is the rounding of the coordinates the
file was saved with. GeoJSON's 7 decimals of a degree (RFC 7946's advice) round a point by up to ~0.6 cm in each
axis, 0.01 px on 1 m pixels (0.05 px on 16 cm pixels); 6 decimals (~6 cm) are 0.02 px on 3 m pixels. A real
offset of the grids this small would move no box by a visible amount."""


def _move_boxes(box: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Boxes written for another grid, moved onto this one.

    Each box keeps its place relative to its own point: its corners are moved with the point from ``old`` to
    ``new`` (scaled/rotated by :func:`_grid_linear` when the grids differ in more than a shift). A shift is taken
    to be whole pixels when each point's is within :data:`SHIFT_SNAP_PX` of them, and a scale/rotation that moves
    no box corner by more than that is none: truth saved in another CRS comes back from the round trip a little
    off (UTM -> LAEA -> UTM: ~2e-5 px; GeoJSON in EPSG:4326 at 7 decimals: ~0.005 px on 1 m pixels, with a fitted
    scale 1e-4 from 1), and an edge at 32.005 made :func:`truth_mask` take one more row of pixels per target.
    Then edges within :data:`SNAP_PX` of a whole pixel are snapped to it (on a scaled or rotated grid, say).

    Args:
        box: ``(N, 4)`` (row0, col0, row1, col1) in the grid the file was written for.
        old: ``(N, 2)`` (row, col) of the points in that grid.
        new: ``(N, 2)`` (row, col) of the points in this grid.

    Returns:
        ``(N, 4)`` boxes on this grid (not clipped to it).
    """
    lin = _grid_linear(old, new)
    corners = box[:, [[0, 1], [0, 3], [2, 1], [2, 3]]]  # (N, 4 corners, (row, col))
    offsets = corners - old[:, None, :]
    if np.abs(offsets @ (lin - np.eye(2)).T).max(initial=0.0) < SHIFT_SNAP_PX:  # the same grid, up to a shift
        shift = new - old
        whole = np.round(shift)
        shift = np.where(np.abs(shift - whole) < SHIFT_SNAP_PX, whole, shift)
        moved = corners + shift[:, None, :]
    else:
        moved = new[:, None, :] + offsets @ lin.T
    out = np.concatenate([moved.min(axis=1), moved.max(axis=1)], axis=1)
    snapped = np.round(out)
    return np.where(np.abs(out - snapped) < SNAP_PX, snapped, out)


def _truth_boxes(gdf: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray | None:
    """``(N, 4)`` boxes of a points file on this scene's grid (not clipped), or ``None`` without box columns.

    The ``box_*`` columns are pixel edges in the grid the file was written for (the grid of
    its ``row``/``col`` columns); they are moved with each point's offset between that grid
    and this one. Without ``row``/``col`` columns they are taken to be on this grid already.
    """
    names = ["box_row0", "box_col0", "box_row1", "box_col1"]
    if not set(names) <= set(gdf.columns):
        return None
    box = gdf[names].to_numpy(float)
    new = np.column_stack([rows, cols])
    old = gdf[["row", "col"]].to_numpy(float) if {"row", "col"} <= set(gdf.columns) else new
    ok = np.isfinite(old).all(axis=1)
    old = np.where(ok[:, None], old, new)
    return _move_boxes(box, old, new)


def _empty_cells(cells: Any) -> np.ndarray:
    """``(N,)`` bool: the ``class`` cells that name nothing (missing, or text that is empty or only spaces).

    A Shapefile gives an empty text cell back as missing, a GeoPackage or GeoJSON as ``''``.
    """
    text = cells.astype(object).where(cells.notna(), "").map(str)
    return (cells.isna() | text.str.strip().eq("")).to_numpy(bool)


def read_detections(path: str | os.PathLike[str] | Any, cube: Cube, names: list[str] | None = None, *,
                    class_agnostic: bool = False) -> Detections:
    """Read points (e.g. ground truth from ``hsi simulate-targets``) back onto the cube's pixel grid.

    Classes come from ``class`` names looked up in ``names`` (when they match), else from
    ``class_id``; without either every point is class 1. A ``class`` column whose names match none
    of several ``names`` is refused (its ``class_id`` would number another library's materials); with
    one name, every point is scored as it, with a warning. A point whose ``class`` cell is empty
    (missing, ``''`` or only spaces) is refused with several ``names`` and scored as the one target
    (with a warning) with one. ``class_agnostic`` (RX: no class named): every point is class 1,
    whatever the file says.
    Rows/cols are recomputed from the geometry; ``score`` defaults to 1. Boxes
    (``box_row0..box_col1``, pixel edges in the grid of the file's ``row``/``col`` columns)
    move with their points onto the cube's grid and are clipped to it, so a crop of the scene
    the file was made for scores its targets as the whole scene does. Targets wholly outside
    the cube are left out with a warning; none on it is an error (:func:`truth_on_scene`).

    Args:
        path: the points file, or a GeoDataFrame already read by :func:`read_points`
            (its ``attrs["source"]`` names it in errors).
        cube: the scene whose pixel grid the points are mapped to.
        names: class names of the score maps.
        class_agnostic: every point is class 1 (the file's classes are not read).

    Raises:
        LabelError: no point on the cube, unknown class names, class names that match none of several
            ``names``, points with an empty ``class`` cell when several ``names`` are scored.
    """
    import warnings

    import geopandas as gpd

    from hsi_app.errors import HSIWarning, LabelError
    from hsi_app.io.vector import Grid

    gdf = truth_on_scene(path if isinstance(path, gpd.GeoDataFrame) else read_points(path), cube)
    p = str(gdf.attrs.get("source", "points"))
    grid = Grid.of(cube)
    rows, cols = _grid_rows_cols(gdf, grid)
    read_classes = "class" in gdf.columns and not class_agnostic
    empty = _empty_cells(gdf["class"]) if read_classes else np.zeros(len(gdf), bool)
    missing = int(empty.sum())
    if names and missing and len(names) > 1:
        # an empty cell (a point digitised without its attribute) would be a class named "nan" or ""
        raise LabelError(f"{p}: {missing} of {len(gdf)} points have no class (an empty 'class' cell); fill in each "
                         f"point's target ({', '.join(names)}), or remove those points")
    classes = sorted(set(map(str, gdf["class"][~empty]))) if read_classes else []
    if class_agnostic:
        cls = np.ones(len(gdf), int)
    elif classes and names and not set(classes) & set(names):  # e.g. truth of another library, or "car" vs "paint"
        if len(names) > 1:
            raise LabelError(f"{p}: its classes ({', '.join(classes)}) match none of the targets scored "
                             f"({', '.join(names)}); name each truth point's class after its target, or score one "
                             "target (--material NAME) to match every point to it")
        warnings.warn(f"{p}: its classes ({', '.join(classes)}) are not the target's name {names[0]}; every point "
                      f"is scored as {names[0]}", HSIWarning, stacklevel=2)
        cls = np.ones(len(gdf), int)
    elif names and (classes or missing):
        lookup = {n: i + 1 for i, n in enumerate(names)}
        unknown = sorted(set(classes) - set(lookup))
        if unknown:
            raise LabelError(f"{p}: classes {', '.join(unknown)} are not among the targets {', '.join(names)}; "
                             "rename them in the truth file, or score those materials too (--material)")
        if missing:  # one target: a point without a class is scored as it, as a point of another name is
            warnings.warn(f"{p}: {missing} of {len(gdf)} points have no class (an empty 'class' cell); they are "
                          f"scored as the target {names[0]}", HSIWarning, stacklevel=2)
        cls = np.array([1 if e else lookup[str(c)] for c, e in zip(gdf["class"], empty, strict=True)])
    elif "class_id" in gdf.columns:
        cls = gdf["class_id"].to_numpy(int)
    else:
        cls = np.ones(len(gdf), int)
    box = _truth_boxes(gdf, rows, cols)
    if box is not None:
        box = np.clip(box, 0, [grid.height, grid.width, grid.height, grid.width])
    score = gdf["score"].to_numpy(float) if "score" in gdf.columns else np.ones(len(gdf))
    bins = gdf["size_bin"].to_numpy(str) if "size_bin" in gdf.columns else None
    return Detections(rows, cols, cls, score, box, bins)


def truth_mask(gt: Detections, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool target pixels of ground truth: inside its boxes, else the pixel of each point.

    Boxes are pixel edges (``row0, col0, row1, col1``, exclusive ends); fractional edges
    take every pixel the box touches. The mask is what ``hsi detect --truth`` scores AUROC and Pd at Pfa on.
    """
    h, w = shape
    mask = np.zeros((h, w), bool)
    for r0, c0, r1, c1 in _footprints(gt):
        mask[r0:r1, c0:c1] = True
    return mask


def _footprints(gt: Detections) -> np.ndarray:
    """``(N, 4)`` int pixel ranges ``(r0, c0, r1, c1)`` (exclusive ends) each truth target covers
    (its box, else the pixel of its point), as :func:`truth_mask` marks them."""
    if gt.box is not None:
        boxes = np.asarray(gt.box, float).reshape(-1, 4)
    else:
        r, c = np.floor(np.asarray(gt.row, float)), np.floor(np.asarray(gt.col, float))
        boxes = np.stack([r, c, r + 1, c + 1], 1)
    lo = np.maximum(np.floor(boxes[:, :2]), 0)
    hi = np.maximum(np.ceil(boxes[:, 2:]), 0)
    return np.concatenate([lo, hi], axis=1).astype(int)


def truth_with_data(gt: Detections, scores: np.ndarray, source: str = "truth") -> Detections:
    """The truth targets with at least one scored pixel in their footprint.

    A target whose pixels are all no-data (NaN in every score map: the scene's fill border, a
    pixel left out by ``--exclude-masks``) can be neither found nor missed: AUROC skips its pixels,
    so it is left out of the point and box mAPs as well (one warning counts them), instead of
    counting as a miss.

    Args:
        gt: truth on the scores' grid (:func:`read_detections`).
        scores: ``(K, H, W)`` score maps (NaN = no data).
        source: the truth file, named in the warning and error.

    Returns:
        ``gt`` without the targets on no-data pixels.

    Raises:
        LabelError: every target lies on no-data pixels (nothing to score).
    """
    import warnings

    from hsi_app.errors import HSIWarning, LabelError

    has_data = ~np.isnan(np.asarray(scores)).all(axis=0)
    keep = np.array([bool(has_data[r0:r1, c0:c1].any()) for r0, c0, r1, c1 in _footprints(gt)], bool)
    if keep.all():
        return gt
    n = len(gt)
    if not keep.any():
        raise LabelError(f"{source}: all {n} targets lie on no-data pixels of the scene, so there is nothing to "
                         "score; check that the truth belongs to this scene (and what --exclude-masks removes)")
    warnings.warn(f"{source}: {n - int(keep.sum())} of {n} targets lie on no-data pixels of the scene and are left "
                  "out of the metrics", HSIWarning, stacklevel=2)
    return Detections(np.asarray(gt.row)[keep], np.asarray(gt.col)[keep], np.asarray(gt.class_id)[keep],
                      np.asarray(gt.score)[keep], None if gt.box is None else np.asarray(gt.box).reshape(-1, 4)[keep],
                      None if gt.size_bin is None else np.asarray(gt.size_bin)[keep])


def select_points(det: Detections, threshold: float | None, max_points: int) -> Detections:
    """The points ``hsi detect --points`` and ``hsi batch --task detect`` keep: score above
    ``threshold`` (all when None), then the ``max_points`` best of each class."""
    keep = np.ones(len(det), bool) if threshold is None else det.score > threshold
    for k in np.unique(det.class_id):
        idx = np.flatnonzero((det.class_id == k) & keep)
        keep[idx[np.argsort(-det.score[idx], kind="stable")][max_points:]] = False
    return Detections(det.row[keep], det.col[keep], det.class_id[keep], det.score[keep],
                      None if det.box is None else np.asarray(det.box)[keep])
