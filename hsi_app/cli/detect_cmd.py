"""``hsi detect``: target and anomaly score maps, detected points, and metrics against truth."""

from __future__ import annotations

from typing import Any

import click

from hsi_app.cli.options import check_finite, device_option_with, exclude_masks_option, refuse_given


def _pixel(value: str) -> tuple[int, int]:
    from hsi_app.errors import ConfigError

    try:
        r, c = (int(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"--target-pixel {value!r}: use ROW,COL (0-based), e.g. --target-pixel 40,72") from None
    return r, c


def _window(value: str) -> tuple[int, int]:
    from hsi_app.errors import ConfigError

    try:
        inner, outer = (int(v) for v in value.split(","))
    except ValueError:
        raise ConfigError(f"--rx-window {value!r}: use INNER,OUTER odd sizes, e.g. 5,21") from None
    return inner, outer


def detection_record(method: str, *, source: str, out: str, points: str | None, weights: dict[str, Any] | None,
               library: dict[str, Any], pixels: list[tuple[int, int]], window: tuple[int, int],
               exclude_masks: str | None) -> dict[str, Any]:
    """What ``--metrics`` records besides the scores, so that the run can be told apart and repeated.

    Args:
        method: the detection method.
        source, out, points: ``--input``, ``--out`` and ``--points`` (``None``) as given.
        weights: ``learned``: :func:`hsi_app.provenance.weights_identity` of the run (``model_dir``,
            ``weights``, ``weights_sha256``).
        library: ``mf``/``ace``/``cem``: the ``record`` of :func:`hsi_app.tasks.detection.target_spectra`
            (``library``, ``materials``, ``scale``, ``scale_guessed``, ``extrapolated_bands``; empty without
            ``--targets``) and ``bands_left_out`` (:func:`hsi_app.tasks.detection.library_bands`).
        pixels: ``--target-pixel`` ``(row, col)`` pairs.
        window: ``rx-local``'s ``(inner, outer)``.
        exclude_masks: ``--exclude-masks`` as given.

    Returns:
        ``{"input", "output", "points", "exclude_masks", ...}`` plus the method's own entries.
    """
    from hsi_app.io.cube import parse_mask_names
    from hsi_app.tasks.detectors_classical import TARGET_METHODS

    record: dict[str, Any] = {"input": str(source), "output": str(out), "points": None if points is None else str(points),
                              "exclude_masks": list(parse_mask_names(exclude_masks))}
    if method == "learned":
        record.update(weights or {})
    elif method in TARGET_METHODS:
        record.update({"library": None, "materials": [], "scale": None, "scale_guessed": None, **library,
                       "target_pixels": [list(p) for p in pixels]})
    elif method == "rx-local":
        record["rx_window"] = list(window)
    return record


def nothing_above(scores: Any, threshold: float) -> str:
    """What the summary adds when no peak passed ``--threshold``: the highest peak's score, and that the
    threshold is a raw score (a viewer user may think of a percentile), e.g.
    `` (highest peak 0.9812; --threshold 1.5 is a raw score, not a percentile)``.

    Args:
        scores: the scores of every peak found (any number, none included).
        threshold: ``--threshold`` as given.
    """
    import numpy as np

    top = f"highest peak {float(np.max(scores)):.4g}" if len(scores) else "no peak at all"
    return f" ({top}; --threshold {threshold:g} is a raw score, not a percentile)"


def refuse_unused_detect_options(method: str, *, has_library: bool, pixels: bool) -> None:
    """Refuse the target, library and model options typed for a method that would ignore them.

    ``--targets``/``--target-pixel``/``--material``/``--scale`` apply only to ``mf``/``ace``/``cem``;
    ``--material``/``--scale`` only to a ``--targets`` library; ``--model`` only to ``learned``. Defaults
    are never refused (:func:`~hsi_app.cli.options.refuse_given`).

    Args:
        method: the checked method name.
        has_library: ``--targets`` was given.
        pixels: the command has a ``--target-pixel`` option (``hsi detect``; ``hsi batch`` has none).
    """
    from hsi_app.tasks.detectors_classical import TARGET_METHODS

    if method not in TARGET_METHODS:
        names = ("targets", "target_pixels", "materials", "scale") if pixels else ("targets", "materials", "scale")
        refuse_given(names, f"only --method mf/ace/cem use target spectra, not {method}")
    elif not has_library:
        refuse_given(("materials", "scale"), "it applies to a --targets library, and none is given (--target-pixel "
                     "spectra are already in the scene's units)")
    if method != "learned":
        refuse_given(("model", "device"), f"--method {method} uses no model (only learned does) and runs on the CPU")


def pixel_size(cube: Any) -> tuple[list[float], str] | None:
    """``([x, y] size of a pixel, unit)`` of a scene on a map grid (``([30.0, 30.0], "metre")``), so that the
    point mAPs' pixel distances (``mAP@1px``...) can be read as map distances; ``None`` without a CRS or with
    geographic (degree) pixels, whose ground size varies."""
    import math

    crs = cube.rio.crs
    if crs is None or not crs.is_projected:
        return None
    t = cube.hsi.transform
    unit = str(crs.linear_units or "map unit")
    return [math.hypot(t.a, t.d), math.hypot(t.b, t.e)], "metre" if unit in ("metre", "meter") else unit


def pd_text(report: dict[str, Any]) -> str:
    """The summary's Pd entries, e.g. ``"  pd@pfa1e-3 0.750  pd@pfa1e-4 n/a (Pfa 0.0001 needs at least 10000
    background pixels (one false alarm in 10000); 1600 scored)"``.

    Args:
        report: the metrics, with the entries of :func:`~hsi_app.tasks.detect_metrics.pd_report`.
    """
    from hsi_app.tasks.detect_metrics import PFA_LEVELS, pfa_key

    reasons = report.get("pd_null_reasons") or {}
    parts = []
    for key in (pfa_key(p) for p in PFA_LEVELS):
        if key in report:
            value = report[key]
            parts.append(f"{key} {value:.3f}" if value is not None else f"{key} n/a ({reasons.get(key, 'undefined')})")
    return "".join(f"  {p}" for p in parts)


SCORED_PEAKS = ("every peak of the score maps, ranked by score (standard average precision); --threshold and "
                "--max-points filter only the --points file")
"""What the metrics against --truth score (the metrics JSON's ``scored_peaks``)."""


@click.command("detect")
@click.option("--input", "source", required=True, metavar="SCENE", help="Scene: a file, EnMAP product, or built-in name.")
@click.option("--method", required=True, metavar="METHOD", help="rx | rx-local | mf | ace | cem | learned.")
@click.option("--targets", default=None, type=click.Path(), help="Spectral library (CSV or ENVI .sli) for mf/ace/cem.")
@click.option("--material", "materials", multiple=True, metavar="NAME", help="Only this library material (repeatable).")
@click.option("--target-pixel", "target_pixels", multiple=True, metavar="ROW,COL", help="ROW,COL of a pixel whose spectrum is a target (repeatable).")
@click.option("--scale", type=float, default=None, metavar="K", help="Library reflectance -> cube units (default: guessed, e.g. 10000).")
@click.option("--model", "model", default=None, type=click.Path(), metavar="RUN", help="Run folder of `hsi train --task detect` (learned).")
@click.option("--resample", is_flag=True,
              help="learned: resample the scene's bands to the model's (Gaussian responses) when they differ.")
@click.option("--out", "out", required=True, type=click.Path(), metavar="SCORES.tif", help="Score maps, float32 COG (one band per target).")
@click.option("--points", default=None, type=click.Path(), help="Also write detected points to this GeoPackage.")
@click.option("--threshold", type=float, default=None, callback=check_finite, metavar="T", help="Points: keep peaks scoring above T.")
@click.option("--max-points", type=int, default=100, show_default=True, metavar="N", help="Points: most peaks kept per class.")
@click.option("--truth", default=None, type=click.Path(), help="True points (GeoPackage, e.g. from simulate-targets): print metrics.")
@click.option("--metrics", "metrics_out", default=None, type=click.Path(), help="Write the metrics against --truth as JSON.")
@click.option("--rx-window", default="5,21", show_default=True, metavar="INNER,OUTER", help="rx-local: INNER,OUTER window sizes.")
@click.option("--key", default=None, metavar="VAR", help=".mat variable holding the cube.")
@exclude_masks_option
@device_option_with("learned: where the model runs; auto = a CUDA GPU when one is visible, else the CPU. The other "
                    "methods run on the CPU (refused with them).")
@click.option("--quiet", is_flag=True,
              help="No progress bars (every method shows them) and no line on how the library was read and scaled.")
def detect(source: str, method: str, targets: str | None, materials: tuple[str, ...], target_pixels: tuple[str, ...],
           scale: float | None, model: str | None, resample: bool, out: str, points: str | None, threshold: float | None,
           max_points: int, truth: str | None, metrics_out: str | None, rx_window: str, key: str | None,
           exclude_masks: str | None, device: str | None, quiet: bool) -> None:
    """Score every pixel of INPUT with a detector; optionally extract points and score them against truth."""
    import json
    import math

    from hsi_app.errors import ConfigError
    from hsi_app.io.atomic import TIF_SUFFIXES, atomic_paths, check_outputs, check_suffix, check_writable
    from hsi_app.io.cube import parse_mask_names
    from hsi_app.io.open import open_cube
    from hsi_app.io.spectral_library import read_library
    from hsi_app.checkpoint import finite_json
    from hsi_app.predictor import run_dir_of
    from hsi_app.provenance import weights_identity
    from hsi_app.tasks.detect_metrics import best_score, detection_report, pd_report, pixel_auroc
    from hsi_app.tasks.detection import (
        best_detections,
        check_scale,
        detect_scene,
        read_detections,
        read_points,
        select_points,
        target_spectra,
        truth_mask,
        truth_on_scene,
        truth_with_data,
        library_bands,
        write_detections,
        write_score_map,
    )
    from hsi_app.io.empty_bands import with_empty_bands_flagged
    from hsi_app.tasks.detect_stream import scene_and_mask
    from hsi_app.tasks.detectors_classical import TARGET_METHODS, check_method

    # Every option is checked before the scene is read: nothing is computed or written for a bad command.
    m = check_method(method)
    window = _window(rx_window)
    pixels = list(dict.fromkeys(_pixel(p) for p in target_pixels))  # a pixel given twice is one target
    check_scale(scale)
    if resample and m != "learned":
        raise ConfigError(f"--resample: only --method learned matches the scene's bands to a model's ({m} resamples "
                          "the library to the scene's bands itself); drop --resample")
    if max_points < 1:
        raise ConfigError(f"--max-points {max_points}: must be >= 1 (the most points kept per class)")
    if not points:
        refuse_given(("threshold", "max_points"), "it filters the --points file, which is not asked for (add --points "
                     "FILE; metrics against --truth rank every peak anyway)")
    if m != "rx-local":
        refuse_given(("rx_window",), f"only --method rx-local uses a window, not {m}")
    refuse_unused_detect_options(m, has_library=bool(targets), pixels=True)
    if metrics_out and not truth:
        raise ConfigError(f"--metrics {metrics_out}: metrics need --truth POINTS (e.g. targets.gpkg of simulate-targets)")
    check_outputs({"--out": out, "--points": points, "--metrics": metrics_out},
                  {"--input": source, "--targets": targets, "--model": model, "--truth": truth})
    check_suffix("--out", out, TIF_SUFFIXES, "score maps as a Cloud-Optimized GeoTIFF")
    check_suffix("--points", points, (".gpkg",), "a GeoPackage")
    check_suffix("--metrics", metrics_out, (".json",), "a JSON report")
    for path in (out, points, metrics_out):
        if path:
            check_writable(path)
    gt_points = read_points(truth) if truth else None
    # the weights as they are read for detection (hsi denoise records the same)
    weights = weights_identity(run_dir_of(model)) if metrics_out and m == "learned" and model else None
    cube = open_cube(source, key=key).hsi.without_masked(parse_mask_names(exclude_masks))
    if gt_points is not None:  # truth for another place is refused before the (expensive) detection
        gt_points = truth_on_scene(gt_points, cube)
    spectra, names = None, None
    # the valid mask: one pass over a lazy scene, shared below (none where the strips' values give it);
    # bands with no data anywhere are flagged bad
    cube, valid = scene_and_mask(cube) if m != "learned" else (with_empty_bands_flagged(cube), None)
    library: dict[str, Any] = {}  # how the library was read and scaled, for the metrics JSON
    if m in TARGET_METHODS:
        say = None if quiet else lambda line: click.echo(line, err=True)
        lib, left_out = None, 0
        if targets:  # bands the library did not measure are left out, not filled with its nearest value
            lib = read_library(targets).select(list(materials) or None)
            cube, left_out = library_bands(cube, lib)
        spectra, names = target_spectra(cube, library=lib, pixels=pixels, names=list(materials) or None,
                                        scale=scale, alternative="or pass --target-pixel ROW,COL (a pixel of a target)",
                                        describe=say, valid=valid, record=library)
        if lib is not None:
            library["bands_left_out"] = left_out
    # RX names no class, nor do --target-pixel targets (pixel_ROW_COL): their truth is scored class-agnostic,
    # on the best score over the maps
    pixel_only = m in TARGET_METHODS and not targets and bool(pixels)
    agnostic = m.startswith("rx") or pixel_only
    gt = None
    if gt_points is not None and m != "learned":  # classes known before the (expensive) detection
        gt = read_detections(gt_points, cube, ["anomaly"] if agnostic else names, class_agnostic=agnostic)
    res = detect_scene(cube, m, spectra=spectra, names=names, model=model, window=window,
                       threshold=0.0 if m == "learned" else None, progress=not quiet, resample=resample, valid=valid,
                       device=device)
    if gt_points is not None and gt is None:
        gt = read_detections(gt_points, cube, res.names)
    sel = select_points(res.detections, threshold, max_points) if points else None
    report = None
    if gt is not None:  # targets on no-data pixels can be neither found nor missed
        gt = truth_with_data(gt, res.scores, str(truth))
        ranked = best_detections(res.scores) if pixel_only else res.detections
        report = detection_report(ranked, gt, class_agnostic=agnostic)
        best, on_target = best_score(res.scores), truth_mask(gt, res.scores.shape[1:])
        report["auroc"] = pixel_auroc(best, on_target)
        report.update(pd_report(best, on_target))  # pd@pfa1e-3, pd@pfa1e-4 (None with a reason)
        report["n_targets"] = float(len(gt))
        report["scored_peaks"] = SCORED_PEAKS
        report["points_filter"] = {"threshold": threshold, "max_points": max_points} if points else None
        size = pixel_size(cube)
        report["pixel_size"], report["pixel_units"] = (size[0], size[1]) if size else (None, "pixel")
    with atomic_paths({"out": out, "points": points, "metrics": metrics_out}) as tmp:
        write_score_map(tmp["out"], res.scores, cube, res.names, m, progress=not quiet)
        if sel is not None:
            write_detections(tmp["points"], sel, cube, res.names)
        if report is not None and metrics_out:
            runs = detection_record(m, source=source, out=out, points=points, weights=weights, library=library,
                              pixels=pixels, window=window, exclude_masks=exclude_masks)
            tmp["metrics"].write_text(json.dumps(finite_json({"method": m, "truth": str(truth), **runs, **report}),
                                                 indent=2, allow_nan=False))
    msg = f"{out}: {m} scores, {res.scores.shape[0]} band(s) ({', '.join(res.names)})"
    if sel is not None:
        msg += f"; {len(sel)} points -> {points}"
        if len(sel) == 0 and threshold is not None:
            msg += nothing_above(res.detections.score, threshold)
    click.echo(msg)
    if report is not None and gt is not None:
        size = report["pixel_size"]
        ground = ""
        if size:  # the point mAPs' distances are pixels: say what a pixel is on the ground
            unit = {"metre": "m", "foot": "ft", "US survey foot": "ft (US)"}.get(report["pixel_units"], report["pixel_units"])
            ground = f"; 1 px = {size[0]:.4g} {unit}" if math.isclose(size[0], size[1], rel_tol=1e-6) else \
                f"; 1 px = {size[0]:.4g} x {size[1]:.4g} {unit}"
        filtered = ("  (AP ranks every peak; --threshold/--max-points filter only --points)"
                    if points else "")
        click.echo(
            f"vs {truth} ({len(gt)} targets{', class-agnostic' if agnostic else ''}{ground}): "
            + "  ".join(f"{k} {report[k]:.3f}" for k in ("mAP@1px", "mAP@2px", "mAP@3px", "mAP25", "mAP50", "auroc")
                        if k in report) + pd_text(report) + filtered
        )
