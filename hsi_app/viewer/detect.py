"""Detect tab: score heat-map and detected points of one detector, with downloads.

Calls :func:`hsi_app.tasks.detection.detect_scene` (classical RX / local RX / MF / ACE /
CEM) or a learned detector run (loaded through the viewer's model cache). Target methods
use the spectrum of the pixel the user clicked last as the target. Progress goes to a
``progress(fraction, what)`` callback, strip by strip or window by window, and a Stop
(:func:`~hsi_app.viewer.session.request_stop` with ``"detection"``) ends the run before its
next one (:mod:`hsi_app.viewer.detect_progress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import BandMismatchError, ConfigError, InvalidDataError, TargetPixelError
from hsi_app.io.cube import Cube
from hsi_app.viewer.classify import write_json
from hsi_app.viewer.detect_progress import SCORING_SHARE, DetectProgress, bars_to, passes_of
from hsi_app.viewer.messages import for_detect_tab
from hsi_app.viewer.models import DEFAULT_CACHE, ModelCache, resolve_model
from hsi_app.viewer.scene import pixel_has_data, scene_record, zoom
from hsi_app.viewer.session import StepFn, ViewerSession, check_same_scene, publishing, running_job, whole_number

METHODS = ("rx", "rx-local", "mf", "ace", "cem", "learned")
TARGET_METHODS = ("mf", "ace", "cem")
POINT_COLOUR = (0, 255, 255)
DEFAULT_RX_WINDOW = (5, 21)


def parse_rx_window(text: str | None) -> tuple[int, int]:
    """The Detect tab's "rx-local window" box, ``"INNER,OUTER"``, as ``(inner, outer)``.

    Only ``rx-local`` reads it (:func:`rx_window_for`); its sizes are checked against the
    scene by :func:`hsi_app.tasks.detection.detect_scene`.

    Raises:
        ConfigError: not two whole numbers separated by a comma.
    """
    try:
        inner, outer = (int(v) for v in str(text).split(","))
    except ValueError:
        raise ConfigError(f"rx-local window {text!r}: write INNER,OUTER, e.g. 5,21") from None
    return inner, outer


def rx_window_for(method: str, text: str | None) -> tuple[int, int]:
    """The window ``method`` uses: the box's for ``rx-local``; other methods ignore the box."""
    return parse_rx_window(text) if method == "rx-local" else DEFAULT_RX_WINDOW


def settings_record(session: ViewerSession, method: str, *, quantile: float, threshold: float, max_points: int,
                    rx_window: tuple[int, int], model_key: str | None, resample: bool) -> dict[str, Any]:
    """The settings that produced a detection, for ``detect_metrics.json``.

    Args:
        session: the session (its scene is recorded by :func:`~hsi_app.viewer.scene.scene_record`).
        method: the detection method.
        quantile: the threshold percentile given; threshold: the raw score it gave.
        max_points: most points kept per class.
        rx_window: ``(inner, outer)``, recorded for ``rx-local`` only (``None`` otherwise).
        model_key: the learned detector's run as the page lists it (``runs/NAME``), ``learned`` only.
        resample: the "resample bands" box, ``learned`` only.

    Returns:
        ``{"threshold_percentile", "threshold", "max_points", "rx_window", "model", "resample", "scene",
        "scene_source", "scene_path"}``.
    """
    learned = method == "learned"
    return {"threshold_percentile": quantile, "threshold": threshold, "max_points": int(max_points),
            "rx_window": list(rx_window) if method == "rx-local" else None,
            "model": model_key if learned else None, "resample": bool(resample) if learned else None,
            **scene_record(session)}


@dataclass
class DetectView:
    """A detection run as the viewer shows it.

    Attributes:
        heat: ``(H * s, W * s, 3)`` uint8 score heat-map with the points drawn.
        rows: table rows ``[class, score, row, col, x, y]`` (strongest first).
        threshold: absolute score threshold used (from the quantile).
        scores_path, points_path, metrics_path: downloads.
        summary: one line for the status text.
    """

    heat: np.ndarray
    rows: list[list[Any]]
    threshold: float
    scores_path: Path
    points_path: Path
    metrics_path: Path
    summary: str


def heat_rgb(scores: np.ndarray, stretch: tuple[float, float] = (2.0, 99.5)) -> np.ndarray:
    """``(K, H, W)`` scores -> ``(H, W, 3)`` uint8 'inferno' heat-map of the per-pixel maximum (NaN black)."""
    import warnings

    from matplotlib import colormaps

    with warnings.catch_warnings():  # no-data pixels are NaN in every band: "All-NaN slice"
        warnings.simplefilter("ignore", RuntimeWarning)
        top = np.nanmax(scores, axis=0)
    ok = np.isfinite(top)
    out = np.zeros((*top.shape, 3), dtype=np.uint8)
    if not ok.any():
        return out
    lo, hi = np.percentile(top[ok], stretch)
    norm = np.clip((top - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(top)
    rgb = (colormaps["inferno"](np.nan_to_num(norm))[..., :3] * 255).round().astype(np.uint8)
    out[ok] = rgb[ok]
    return out


def draw_points(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, scale: int,
                colour: tuple[int, int, int] = POINT_COLOUR) -> np.ndarray:
    """Draw a square outline around each ``(row, col)`` (continuous pixel coords) of a zoomed image."""
    out = image.copy()
    h, w = out.shape[:2]
    half = max(3, 2 * scale)
    for r, c in zip(np.asarray(rows, float), np.asarray(cols, float)):
        cr, cc = int(r * scale), int(c * scale)
        r0, r1, c0, c1 = max(0, cr - half), min(h - 1, cr + half), max(0, cc - half), min(w - 1, cc + half)
        out[r0:r1 + 1, [c0, c1]] = colour
        out[[r0, r1], c0:c1 + 1] = colour
    return out


def detect(
    session: ViewerSession,
    method: str,
    *,
    quantile: float = 99.9,
    max_points: int | float = 50,
    rx_window: tuple[int, int] = DEFAULT_RX_WINDOW,
    model_key: str | None = None,
    cache: ModelCache = DEFAULT_CACHE,
    resample: bool = False,
    progress: StepFn | None = None,
) -> DetectView:
    """Run one detector on the open scene and keep the result in ``session.extras['detect']``.

    Args:
        session: viewer session with an open scene (and a clicked pixel for mf/ace/cem).
        method: one of :data:`METHODS`.
        quantile: points must score above this percentile (at least 0, below 100) of the score map.
        max_points: most points kept per class.
        rx_window: ``(inner, outer)`` window of ``rx-local``.
        model_key: a detect run (``learned`` only).
        cache: loaded-model cache.
        resample: resample the scene's bands to the learned detector's when they differ.
        progress: called with ``(fraction, what)``: ``0.0`` at the start, before every strip of the statistics
            and scores passes (rx, mf, ace, cem, rx-local) or every window and model stage (learned), then
            writing the results, ``1.0`` at the end (:mod:`hsi_app.viewer.detect_progress`).

    The threshold is the ``quantile`` percentile of every finite score of the scene (all score maps
    pooled); points are local peaks scoring strictly above it. ``detect_metrics.json`` records the
    result and the settings that produced it (:func:`settings_record`).

    Raises:
        ConfigError: unknown method, missing target pixel or model.
        JobStopped: :func:`~hsi_app.viewer.session.request_stop` (kind ``"detection"``) was called while it
            ran: it stops before its next strip or window (or model stage), before writing anything; the
            session's earlier detection and its downloads stay.
    """
    cube = session.require_cube()
    if method not in METHODS:
        raise ConfigError(f"detection method {method!r}: pick one of {', '.join(METHODS)}")
    try:
        quantile = float(quantile)
    except (TypeError, ValueError):
        raise ConfigError("threshold percentile is empty: set a percentile of at least 0 and below 100 "
                          "(e.g. 99.9)") from None
    if not 0.0 <= quantile < 100.0:
        raise ConfigError(f"threshold percentile {quantile:g}: must be at least 0 and below 100 (e.g. 99.9)")
    max_points = whole_number(max_points, "most points per class", "enter a whole number of at least 1 (e.g. 50)",
                              minimum=1)
    with running_job(session, "detection") as job:
        settings = {"quantile": quantile, "max_points": max_points, "rx_window": rx_window, "model_key": model_key,
                    "resample": resample}
        return _detect(session, cube, method, settings, cache, job.reporter(progress))


def _scores(session: ViewerSession, cube: Cube, method: str, rx_window: tuple[int, int], model_key: str | None,
            cache: ModelCache, resample: bool, report: StepFn) -> tuple[np.ndarray, list[str], Any]:
    """``(K, H, W)`` scores, their ``K`` names and the learned detector's output (``None`` for the others),
    reporting each strip or window through ``report``."""
    from hsi_app.tasks.detect_stream import pixel_spectrum
    from hsi_app.tasks.detection import detect_scene, target_spectra
    from hsi_app.tasks.forward_progress import stage_progress

    report(0.0, "loading the detector" if method == "learned" else f"{method}: starting")
    steps = DetectProgress(report, passes_of(method, int(cube.sizes["y"])))
    if method == "learned":
        if not model_key:
            raise ConfigError("the learned detector needs a detect run: train one with `hsi train --task detect`")
        det_model = cache.get(resolve_model(model_key, session.config, task="detect"), "detect")
        try:
            with bars_to(steps), stage_progress(det_model.model, steps.stage):
                heat = det_model.predict_cube(cube, resample=resample)
        except BandMismatchError as err:
            raise BandMismatchError(for_detect_tab(str(err))) from None
        return np.asarray(heat.heat, dtype=np.float32), list(det_model.class_names), (det_model, heat)
    spectra, names = None, None
    if method in TARGET_METHODS:
        if session.selected is None:
            raise ConfigError(f"{method} needs a target: click the pixel whose spectrum to look for, then run again")
        r, c = session.selected
        if not pixel_has_data(cube, r, c):
            raise InvalidDataError(f"{method} needs a target spectrum, but the clicked pixel (row {r}, col {c}) "
                                   "has no data: click another pixel, then run again")
        if not (pixel_spectrum(cube, r, c) != 0).any():  # a fill not marked as no-data: no spectrum to look for
            raise InvalidDataError(f"{method} needs a target spectrum, but the clicked pixel (row {r}, col {c}) "
                                   "is 0 at every band (a fill not marked as no-data?): click another pixel, then "
                                   "run again")
        spectra, names = target_spectra(cube, pixels=[session.selected])
    try:
        with bars_to(steps):
            res = detect_scene(cube, method, spectra=spectra, names=names, window=rx_window, max_per_class=1)
    except TargetPixelError as err:  # the clicked pixel is 0 but in a dead band (found by the statistics pass)
        if session.selected is None or err.pixel != tuple(int(v) for v in session.selected):
            raise
        r, c = err.pixel
        raise InvalidDataError(f"{method} needs a target spectrum, but the clicked pixel (row {r}, col {c}) "
                               f"{err.reason}: click another pixel, then run again") from None
    return res.scores, res.names, None


def _detect(session: ViewerSession, cube: Cube, method: str, settings: dict[str, Any], cache: ModelCache,
            report: StepFn) -> DetectView:
    """:func:`detect` once its arguments are checked; ``report`` raises when the user stopped the run."""
    from hsi_app.tasks.detection import find_peaks, peak_boxes, write_detections, write_score_map

    name = session.name
    quantile, max_points, rx_window = settings["quantile"], settings["max_points"], settings["rx_window"]
    model_key, resample = settings["model_key"], settings["resample"]
    scores, names, learned = _scores(session, cube, method, rx_window, model_key, cache, resample, report)
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        raise InvalidDataError("the detector gave no finite score; check the scene's no-data values")
    threshold = float(np.percentile(finite, quantile))
    if learned is not None:
        det_model, heat = learned
        det = det_model.decode(heat, threshold=threshold, max_per_class=int(max_points))
    else:
        det = find_peaks(scores, threshold=threshold, max_per_class=int(max_points))
        det.box = peak_boxes(scores, det)
    report(SCORING_SHARE, "writing the score map and points")  # the last moment a Stop keeps the earlier result
    check_same_scene(session, cube, name, "detection")  # nothing written yet: no need to write it
    work = session.workdir
    scores_path, points_path, metrics_path = work / "scores.tif", work / "detections.gpkg", work / "detect_metrics.json"
    write_score_map(scores_path, scores, cube, names, method)
    if len(det):
        write_detections(points_path, det, cube, names)
    else:
        points_path.unlink(missing_ok=True)
    from hsi_app.tasks.detection import pixel_to_map
    from hsi_app.viewer.scene import coordinate_decimals

    xs, ys = pixel_to_map(cube, det.row, det.col)
    order = np.argsort(-np.asarray(det.score, float))
    d = coordinate_decimals(cube.hsi.transform)  # 0.001-degree pixels need more than 2 decimals
    rows = [[names[int(det.class_id[i]) - 1], round(float(det.score[i]), 4), round(float(det.row[i]), 2),
             round(float(det.col[i]), 2), round(float(xs[i]), d), round(float(ys[i]), d)] for i in order]
    write_json(metrics_path, {
        "method": method, "targets": names, "threshold_percentile": quantile, "threshold": threshold,
        "points": len(det), "score_min": float(finite.min()), "score_max": float(finite.max()),
        "target_pixel": list(session.selected) if method in TARGET_METHODS and session.selected else None,
        **settings_record(session, method, quantile=quantile, threshold=threshold, max_points=max_points,
                          rx_window=rx_window, model_key=model_key, resample=resample),
    })
    # a scene opened while the files were written deleted them (or, if it got there first, they are the
    # previous scene's): checked again, under the scene lock, just before the result is published
    written = () if "detect" in session.extras else (scores_path.name, points_path.name, metrics_path.name)
    with publishing(session, cube, name, "detection", written):
        session.extras["detect"] = {"scores": scores, "names": names, "detections": det}
        scale = session.scale
    report(1.0, "drawing the heat-map")
    img = draw_points(zoom(heat_rgb(scores), scale), det.row, det.col, scale)
    summary = (f"{method}: {len(det)} point(s) above the {quantile:g} % score percentile "
               f"({threshold:.4g}); targets: {', '.join(names)}")
    return DetectView(img, rows, threshold, scores_path, points_path, metrics_path, summary)
