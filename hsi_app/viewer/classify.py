"""Classify tab: run a trained model over a scene, then draw, measure and export the map.

:func:`classify_scene` streams the scene through :func:`hsi_app.infer.predict_scene`
(the same windowed inference as ``hsi predict``) into a class-map COG in the session
folder, then reads the map and its confidence back for display and pixel queries.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.io.atomic import atomic_path
from hsi_app.io.cube import Cube
from hsi_app.io.quicklook import default_palette
from hsi_app.io.crs_names import crs_label
from hsi_app.viewer.models import DEFAULT_CACHE, ModelCache

if TYPE_CHECKING:
    from hsi_app.tasks.map_accuracy import PixelArea

ProgressFn = Callable[[int, int], None]
"""``progress(done_windows, total_windows)``."""

StageFn = Callable[[int, int, int, int], None]
"""``on_stage(window, total_windows, done_stages, total_stages)``: a stage of the model's forward pass over window
``window`` (1-based) ended."""


@dataclass
class ClassifyResult:
    """A classified scene.

    Attributes:
        classes: ``(H, W)`` uint8, 1..K, 0 = no data.
        confidence: ``(H, W)`` float32 in [0, 1] (max class probability), 0 = no data.
        class_names: names for 0..K.
        palette: ``(K + 1, 3)`` uint8 colours (the COG's colour table).
        counts: ``(K + 1,)`` pixels per class (index 0 = no data).
        pixel_area_m2: ground area of one pixel, or ``None`` when unknown.
        area_note: where the pixel area comes from.
        map_path: the class-map COG (band 1 class, band 2 confidence).
        model: the model key or run folder name.
        seconds: inference time.
        metrics: counts, areas and (when the scene has labels) agreement with them.
        class_areas_m2: ``(K + 1,)`` ground area of each class in m², summed row by row, where a pixel's area
            changes from row to row (a geographic map: :func:`~hsi_app.tasks.map_row_areas.row_pixel_areas_m2`,
            as ``hsi evaluate`` / ``hsi vectorize`` sum them); ``None``: pixels × ``pixel_area_m2``.
    """

    classes: np.ndarray
    confidence: np.ndarray
    class_names: list[str]
    palette: np.ndarray
    counts: np.ndarray
    pixel_area_m2: float | None
    area_note: str
    map_path: Path
    model: str
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)
    class_areas_m2: np.ndarray | None = None


def pixel_area(cube: Cube) -> tuple[float | None, str]:
    """Ground area of one pixel in m² and a note on where it comes from.

    A CRS: as ``hsi evaluate`` and ``hsi vectorize`` measure it
    (:func:`hsi_app.tasks.map_accuracy.pixel_area_m2`): ``|det(transform)|`` times the squared
    linear unit, or the ground area of the centre pixel where the projection does not keep
    area (Web Mercator), which the note then says; a map true to scale at its centre but not at its corners keeps
    the map-unit area, and the note says that. A geographic CRS (degrees): the centre pixel's ground area,
    while the class areas sum each row's own (:func:`class_ground_areas`), which the note says. No CRS but a
    nominal ground sampling distance in ``attrs['gsd_m']`` (built-in scenes): ``gsd²``. Nothing known: ``None``.
    """
    area, note, _ = _pixel_area_and_rows(cube)
    return area, note


def _pixel_area_and_rows(cube: Cube) -> tuple[float | None, str, np.ndarray | None]:
    """:func:`pixel_area` and the ``(H,)`` ground area of a pixel of each row where that changes from row to row
    (:func:`~hsi_app.tasks.map_row_areas.row_pixel_areas_m2`; ``None`` elsewhere), measured once for both."""
    import warnings

    from hsi_app.tasks.map_accuracy import measure_pixel_area
    from hsi_app.tasks.map_row_areas import row_pixel_areas_m2

    crs = cube.rio.crs
    if crs is not None:
        t = cube.rio.transform()
        shape = (cube.sizes["y"], cube.sizes["x"])
        rows = row_pixel_areas_m2(t, crs, shape)
        try:
            with warnings.catch_warnings(record=True):  # the note says what the warnings would
                measured = measure_pixel_area(t, crs, shape, warn_variation=rows is None)
        except Exception:  # noqa: BLE001 - unknown linear units: assume metres, say so
            return (abs(t.a * t.e - t.b * t.d),
                    f"from the map transform ({crs_label(crs)}; units unknown, taken as metres)", rows)
        return measured.m2, _area_note(measured, crs_label(crs), rows is not None), rows
    gsd = cube.attrs.get("gsd_m")
    if gsd:
        return float(gsd) ** 2, f"nominal {float(gsd):g} m pixels (scene has no CRS)", None
    return None, "no georeference: areas in pixels only", None


def _area_note(measured: PixelArea, crs_name: str, by_row: bool) -> str:
    """The note on which pixel area the viewer's hectares use (:func:`pixel_area`), worded from ``measured``:
    its kind and whether one value does not hold across the map. ``crs_name``: the CRS as the note names it;
    ``by_row``: the class areas sum each row's ground pixel area (a geographic grid along parallels)."""
    if measured.m2 is None:
        return f"{crs_name}: a pixel's ground area cannot be measured, so areas are in pixels only"
    if by_row:
        return f"each row's ground pixel area, summed ({crs_name} is in degrees)"
    if measured.varies:
        fix = "so areas are approximate; reproject the scene to UTM or an equal-area CRS for exact ones"
        if measured.kind == "map-unit":
            return f"map-unit area: {crs_name} keeps area at the map centre but not at its corners, {fix}"
        return f"ground area of the centre pixel: {crs_name} does not keep area over this map, {fix}"
    if measured.kind == "centre-ground":
        return f"ground area of the centre pixel ({crs_name} is in degrees)"
    return f"from the map transform ({crs_name})"


def class_ground_areas(cube: Cube, classes: np.ndarray, n: int) -> np.ndarray | None:
    """Ground area in m² of the pixels of each class of ``classes`` (``(H, W)`` non-negative integers, e.g. the
    uint8 map, on ``cube``'s grid), each pixel counted at its own row's area, where that changes from row to row
    (a geographic grid whose rows run along parallels); ``None`` elsewhere (one pixel area holds for the whole map).

    Returns:
        ``(max(n, classes.max() + 1),)`` float64: classes ``0..n-1``, and any larger class present in ``classes``.
    """
    from hsi_app.tasks.map_row_areas import row_pixel_areas_m2

    crs = cube.rio.crs
    rows = None if crs is None else row_pixel_areas_m2(cube.rio.transform(), crs, classes.shape)
    return None if rows is None else _summed_class_areas(classes, rows, n)


def _summed_class_areas(classes: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """:func:`class_ground_areas` for the rows' pixel areas ``rows`` ``(H,)``; ``classes`` is not copied."""
    from hsi_app.tasks.map_row_areas import summed_areas_m2

    return summed_areas_m2(classes, rows, max(n, int(classes.max(initial=0)) + 1))


def class_hectares(result: ClassifyResult, k: int) -> float | None:
    """Ground area of class ``k`` of ``result`` in hectares (unrounded), or ``None`` when no pixel area is known."""
    from hsi_app.tasks.map_accuracy import M2_PER_HA

    if result.class_areas_m2 is not None and k < result.class_areas_m2.size:
        return float(result.class_areas_m2[k]) / M2_PER_HA
    n = int(result.counts[k]) if k < result.counts.size else 0
    return n * result.pixel_area_m2 / M2_PER_HA if result.pixel_area_m2 else None


def classify_scene(
    cube: Cube,
    run_dir: str | os.PathLike[str],
    workdir: str | os.PathLike[str],
    *,
    cache: ModelCache = DEFAULT_CACHE,
    progress: ProgressFn | None = None,
    resample: bool = False,
    window: int = 256,
    model_name: str | None = None,
    smooth: bool = False,
    scene_name: str | None = None,
    on_stage: StageFn | None = None,
) -> ClassifyResult:
    """Classify every pixel of ``cube`` with the run in ``run_dir``.

    Args:
        cube: Cube ``(C, H, W)``.
        run_dir: run folder (``config.json`` + ``model.safetensors``).
        workdir: folder for ``map.tif`` and ``metrics.json``.
        cache: loaded-model cache (a second run does not reload the weights).
        progress: called after every window with ``(done, total)``.
        resample: resample the scene's bands to the model's when they differ.
        window: core window size in pixels.
        model_name: display name of the model (default: the run folder's name).
        smooth: guided-filter the class probabilities (``hsi predict --smooth guided``).
        scene_name: the scene's name in ``metrics.json`` (the viewer passes the uploaded
            file's name; default: the file name of ``cube.attrs['source']``).
        on_stage: called as each stage of the model's forward pass ends
            (:func:`hsi_app.tasks.forward_progress.stage_progress`; a torch model only), so that a scene
            that fits one window still reports progress, and can be stopped, within it.

    Returns:
        :class:`ClassifyResult`.

    Raises:
        BandMismatchError: the bands do not match and ``resample`` is False.
        InvalidDataError: no valid pixel.
    """
    from hsi_app.infer import iter_windows, predict_scene
    from hsi_app.io.cog import read_class_map
    from hsi_app.tasks.prob_smoothing import SmoothSpec, with_smoothing

    pred = cache.get(run_dir)
    spec = SmoothSpec() if smooth else None
    prob_fn, halo = with_smoothing(pred.bind(cube, resample=resample), pred.receptive_radius, cube, spec)
    _, h, w = cube.hsi.shape
    win = min(int(window), max(h, w))
    total = sum(1 for _ in iter_windows(h, w, win, halo))
    done = [0]

    def counted(image: np.ndarray) -> np.ndarray:
        out = prob_fn(image)
        done[0] += 1
        if progress is not None:
            progress(done[0], total)
        return out

    out_dir = Path(workdir)
    out_dir.mkdir(parents=True, exist_ok=True)
    map_path = out_dir / "map.tif"
    with _stages_of(pred, None if on_stage is None else lambda d, t: on_stage(done[0] + 1, total, d, t)):
        result = predict_scene(counted, cube, num_classes=pred.num_classes, halo=halo, out=map_path,
                               window=win, class_names=pred.class_names, keep_map=False, progress=False)
    cmap = read_class_map(map_path)
    conf = cmap.confidence if cmap.confidence is not None else np.zeros(cmap.classes.shape, np.float32)
    area, note, row_areas = _pixel_area_and_rows(cube)
    names = list(pred.class_names)
    classes = np.asarray(cmap.classes, dtype=np.uint8)
    class_m2 = _summed_class_areas(classes, row_areas, len(names)) if area and row_areas is not None else None
    res = ClassifyResult(
        classes=classes, confidence=np.asarray(conf, dtype=np.float32),
        class_names=names, palette=default_palette(len(names)), counts=result.class_counts,
        pixel_area_m2=area, area_note=note, map_path=map_path, model=model_name or Path(run_dir).name,
        seconds=result.seconds, class_areas_m2=class_m2,
    )
    res.metrics = scene_metrics(res, cube, scene_name)
    if spec is not None:
        res.metrics["smooth"] = str(spec)
    write_json(out_dir / "metrics.json", res.metrics)
    return res


def _stages_of(pred: Any, callback: Callable[[int, int], None] | None) -> contextlib.AbstractContextManager[Any]:
    """:func:`~hsi_app.tasks.forward_progress.stage_progress` on ``pred``'s torch model, or nothing (no callback,
    an SVM, an ensemble of runs)."""
    model = getattr(pred, "model", None)
    if callback is None or model is None or not callable(getattr(model, "register_forward_hook", None)):
        return contextlib.nullcontext()
    from hsi_app.tasks.forward_progress import stage_progress

    return stage_progress(model, callback)


def scene_metrics(result: ClassifyResult, cube: Cube, scene_name: str | None = None) -> dict[str, Any]:
    """JSON-friendly summary: per-class pixels/hectares, and agreement with the scene's labels.

    ``scene_name`` is recorded as ``"scene"`` (default: the file name of ``cube.attrs['source']``).

    The agreement uses every labelled pixel of the scene; when the model was trained on
    this scene, training pixels are among them, so it is not a test accuracy.
    """
    rows = _present_classes(result)
    out: dict[str, Any] = {
        "scene": scene_name or Path(str(cube.attrs.get("source", ""))).name,
        "model": result.model,
        "height": int(result.classes.shape[0]),
        "width": int(result.classes.shape[1]),
        "seconds": round(float(result.seconds), 3),
        "pixel_area_m2": result.pixel_area_m2,
        "area_note": result.area_note,
        "classes": [{"class": r[0], "pixels": r[2], "percent": r[3], "hectares": class_hectares(result, k)}
                    for k, r in rows],
        "mean_confidence": float(result.confidence[result.classes > 0].mean()) if (result.classes > 0).any() else None,
    }
    agreement_out = reference_agreement(result, cube)
    if agreement_out is not None:
        out.update(agreement_out)
    return out


def reference_agreement(result: ClassifyResult, cube: Cube) -> dict[str, Any] | None:
    """Agreement of the map with the scene's labels, classes matched by name as ``hsi evaluate`` does.

    Names are matched with :func:`hsi_app.tasks.map_accuracy.merge_class_names` (ignoring
    case and spacing; by number when the scene's labels have no names). Label classes the
    model does not know count as errors.

    Returns:
        ``{"reference_agreement": {...}}`` with OA, AA, kappa and per-class recall (in the
        order of ``class_names``), ``{"reference_agreement_note": why}`` when no label class
        is one of the model's, or ``None`` when the scene has no labels.
    """
    from hsi_app.errors import LabelError
    from hsi_app.tasks.map_accuracy import merge_class_names

    labels = cube.hsi.labels
    if labels is None or not (labels > 0).any():
        return None
    try:
        ref, names = merge_class_names(result.class_names, cube.hsi.class_names, np.asarray(labels, np.int64),
                                       int(result.classes.max(initial=0)), source="the scene's labels")
    except LabelError as err:
        return {"reference_agreement_note": f"not compared with the scene's labels: {err}"}
    sel = (ref > 0) & (result.classes > 0)
    if not sel.any():
        return None
    return {"reference_agreement": {
        "note": "all labelled pixels of the scene (training pixels included when trained on it); "
                "classes matched by name",
        "class_names": list(names),
        **agreement(ref[sel] - 1, result.classes[sel].astype(np.int64) - 1, len(names)),
    }}


def agreement_status(metrics: dict[str, Any]) -> str:
    """One line for the status text: OA/kappa of the reference agreement, or why there is none ('' if no labels)."""
    agree = metrics.get("reference_agreement")
    if agree is not None:
        return (f"agreement with the scene's labels: OA {100 * agree['oa']:.1f} %, kappa {agree['kappa']:.3f} "
                f"({agree['n_pixels']} labelled pixels, training pixels included)")
    return str(metrics.get("reference_agreement_note", ""))


def agreement(truth: np.ndarray, pred: np.ndarray, k: int) -> dict[str, Any]:
    """OA, AA, kappa and per-class recall of ``(N,)`` 0-based classes (numpy only).

    The same definitions as :func:`hsi_app.tasks.classification.classification_metrics`,
    without importing the training stack (lightning) into the web server.
    """
    t, p = np.asarray(truth, np.int64), np.asarray(pred, np.int64)  # uint8 * k would wrap above 16 classes
    cm = np.bincount(t * k + p, minlength=k * k).reshape(k, k).astype(np.float64)
    n = cm.sum()
    support = cm.sum(axis=1)
    recall = np.divide(np.diag(cm), support, out=np.zeros(k), where=support > 0)
    oa = float(np.trace(cm) / n)
    chance = float((support * cm.sum(axis=0)).sum() / n**2)
    kappa = (oa - chance) / (1.0 - chance) if chance < 1.0 else (1.0 if oa == 1.0 else 0.0)
    return {"n_pixels": int(n), "oa": oa, "aa": float(recall[support > 0].mean()), "kappa": float(kappa),
            "per_class_accuracy": [float(r) if s > 0 else None for r, s in zip(recall, support)]}


def shown_hectares(ha: float) -> float:
    """``ha`` rounded for the legend and area table: to 0.01 ha, or to 4 significant digits below 10 ha.

    A fixed 0.01 ha made every class of a drone scene (WHU-Hi-HongHu's 4.3 cm pixels: 1000 pixels are 1.85 m²)
    ``0 ha``, and a class of 0.0149 ha ``0.01``.
    """
    if ha <= 0 or not math.isfinite(ha):
        return ha
    return round(ha, max(2, 3 - math.floor(math.log10(ha))))


def area_rows(result: ClassifyResult) -> list[list[Any]]:
    """Rows ``[class, colour, pixels, percent, hectares]`` for classes present in the map.

    Hectares are ``None`` when the pixel area is unknown, else :func:`class_hectares` (:func:`shown_hectares`);
    percent is of classified pixels.
    """
    return [row for _, row in _present_classes(result)]


def _present_classes(result: ClassifyResult) -> list[tuple[int, list[Any]]]:
    """``(class index, area row)`` for each class present in the map (:func:`area_rows`)."""
    classified = int(result.counts[1:].sum())
    rows = []
    for k in range(1, len(result.class_names)):
        n = int(result.counts[k]) if k < result.counts.size else 0
        if n == 0:
            continue
        ha = class_hectares(result, k)
        rows.append((k, [result.class_names[k], hex_colour(result.palette[k]), n,
                         round(100.0 * n / max(classified, 1), 2), None if ha is None else shown_hectares(ha)]))
    return rows


def hex_colour(rgb: Sequence[int] | np.ndarray) -> str:
    """``(r, g, b)`` -> ``"#rrggbb"``."""
    r, g, b = (int(v) for v in list(rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def overlay(rgb: np.ndarray, classes: np.ndarray, palette: np.ndarray, opacity: float) -> np.ndarray:
    """Blend class colours over an RGB image where ``classes > 0``.

    Args:
        rgb: ``(H, W, 3)`` uint8.
        classes: ``(H, W)`` ints indexing ``palette``.
        palette: ``(K + 1, 3)`` uint8.
        opacity: 0 (image only) .. 1 (classes only).

    Returns:
        ``(H, W, 3)`` uint8.
    """
    if rgb.shape[:2] != classes.shape:
        raise InvalidDataError(f"overlay: image {rgb.shape[:2]} and class map {classes.shape} differ in size")
    a = float(np.clip(opacity, 0.0, 1.0))
    colours = np.asarray(palette, dtype=np.float32)[classes]
    mixed = (1.0 - a) * rgb.astype(np.float32) + a * colours
    out = np.where((classes > 0)[..., None], mixed, rgb.astype(np.float32))
    return np.round(out).astype(np.uint8)


def legend_html(result: ClassifyResult) -> str:
    """An HTML legend of the classes present: colour swatch, name, pixels (and hectares)."""
    items = []
    for name, colour, n, pct, ha in area_rows(result):
        area = f", {ha:g} ha" if ha is not None else ""
        items.append(
            f'<li class="hsi-legend-item"><span class="hsi-swatch" style="display:inline-block;width:0.9em;'
            f'height:0.9em;margin-right:0.4em;border:1px solid #333;background:{colour}"></span>'
            f"{html.escape(str(name))} <small>({n} px, {pct:g} %{area})</small></li>"
        )
    return ('<div id="hsi-legend"><b>Legend</b><ul style="list-style:none;padding-left:0;margin:0">'
            + "".join(items) + "</ul></div>")


def pixel_prediction(result: ClassifyResult, row: int, col: int) -> dict[str, Any]:
    """Predicted class and confidence at ``(row, col)``: ``{"class", "class_index", "confidence"}``."""
    h, w = result.classes.shape
    if not (0 <= row < h and 0 <= col < w):
        raise InvalidDataError(f"pixel ({row}, {col}) is outside the {h} × {w} map")
    k = int(result.classes[row, col])
    name = result.class_names[k] if k > 0 else "no data"
    return {"class": name, "class_index": k, "confidence": float(result.confidence[row, col]) if k else 0.0}


def write_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2))
    return Path(path)


def write_points(
    path: str | os.PathLike[str], cube: Cube, points: Sequence[dict[str, Any]], layer: str = "points"
) -> Path:
    """Write clicked/detected points to a GeoPackage on the scene's grid (its CRS kept).

    Args:
        path: ``.gpkg`` to write.
        cube: the scene (for coordinates and CRS).
        points: dicts with ``row``, ``col`` and any other scalar attributes.
        layer: layer name.

    Raises:
        InvalidDataError: no points.
    """
    from hsi_app.io.vector import write_points as _write

    if not points:
        raise InvalidDataError("no points yet: click pixels on the map (or run a detection) first")
    rows = np.array([int(p["row"]) for p in points])
    cols = np.array([int(p["col"]) for p in points])
    xs, ys = cube.hsi.map_coords(rows, cols)
    keys = [k for k in points[0] if k not in ("x", "y")]
    attrs = {k: np.array([p.get(k) for p in points]) for k in keys}
    _write(path, xs, ys, attrs, cube.rio.crs, layer=layer)
    return Path(path)
