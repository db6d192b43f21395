"""The Detect tab's ``detect_metrics.json`` records the settings that produced it; the tab's threshold and the
Denoise/Detect model lists say what they are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio

from hsi_app import viewer
from hsi_app.viewer import detect as vdetect

gr = pytest.importorskip("gradio")


def _no_progress(*args: Any, **kwargs: Any) -> None:
    return None


@pytest.fixture(scope="module")
def page(envi_scene: Path):  # noqa: ANN201
    """``(demo, state)``: the page and a session with the ENVI scene of ``--scenes`` open."""
    from hsi_app.cli.serve_cmd import load_web_app

    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent)
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    state = viewer.ViewerSession(config=cfg)
    viewer.open_scene(state, envi_scene.name)
    yield demo, state
    state.close()


def _detect(page, method: str, quantile: float, max_points: int, window: str) -> tuple[dict[str, Any], list[Any]]:  # noqa: ANN001
    """The page's Detect event: the written ``detect_metrics.json`` and the event's outputs."""
    demo, state = page
    event = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", None) == "run_detect")
    out = event(state, method, quantile, max_points, window, None, False, _no_progress)
    assert out[-1] == "", out[-1]
    return json.loads(Path(out[5]).read_text()), out


def _finite_scores(path: str) -> np.ndarray:
    with rasterio.open(path) as ds:
        s = ds.read().astype(np.float64)
    return s[np.isfinite(s)]


def test_rx_local_metrics_record_window_points_threshold_and_scene(page, envi_scene: Path) -> None:  # noqa: ANN001
    m, out = _detect(page, "rx-local", 98.5, 7, " 3, 9")
    assert m["method"] == "rx-local" and m["rx_window"] == [3, 9] and m["max_points"] == 7
    assert m["threshold_percentile"] == 98.5
    assert m["threshold"] == pytest.approx(np.percentile(_finite_scores(out[3]), 98.5), rel=1e-5)
    assert (m["scene"], m["scene_source"], m["scene_path"]) == (envi_scene.name, "scenes", f"scenes/{envi_scene.name}")
    assert m["model"] is None and m["resample"] is None
    # the keys written before stay as they were
    assert m["points"] == len(out[1]) <= 7 and m["targets"] == ["anomaly"] and m["target_pixel"] is None
    assert m["score_min"] <= m["threshold"] <= m["score_max"]


def test_target_method_metrics_record_the_clicked_pixel_and_no_window(page, envi_scene: Path) -> None:  # noqa: ANN001
    from hsi_app.viewer.scene import pixel_has_data

    demo, state = page
    cube = state.require_cube()
    r, c = next((r, c) for r in range(cube.hsi.shape[1]) for c in range(cube.hsi.shape[2])
                if pixel_has_data(cube, r, c))
    viewer.select_row_col(state, r, c)
    m, out = _detect(page, "ace", 99.5, 3, "3,9")  # the window box is ignored by ace
    assert m["method"] == "ace" and m["rx_window"] is None and m["max_points"] == 3
    assert m["target_pixel"] == [r, c] and len(m["targets"]) == 1
    assert m["threshold_percentile"] == 99.5 and m["scene"] == envi_scene.name
    assert m["threshold"] == pytest.approx(np.percentile(_finite_scores(out[3]), 99.5), rel=1e-5)


def test_percentile_threshold_keeps_peaks_in_the_top_of_the_scores_as_the_slider_says(page) -> None:  # noqa: ANN001
    from hsi_app.viewer.messages import PERCENTILE_INFO, PERCENTILE_LABEL

    demo, _ = page
    sliders = {b.label: b for b in demo.blocks.values() if isinstance(b, gr.Slider)}
    info = sliders[PERCENTILE_LABEL].info
    assert "percentile" in info and "top" in info and "raw score" in info and "Mahalanobis" in info
    assert info == PERCENTILE_INFO
    m, out = _detect(page, "rx", 99.0, 500, "")
    scores = _finite_scores(out[3])
    assert np.mean(scores > m["threshold"]) <= 0.01 + 1 / scores.size  # the top 1 % of the scene's scores
    assert all(row[1] > m["threshold"] - 1e-4 for row in out[1])  # each point scores above the raw threshold
    assert f"({m['threshold']:.4g})" in out[2]  # the status line shows the raw score, as the slider's info says


def test_learned_metrics_record_the_run(tmp_path: Path, learned_detector_scene) -> None:  # noqa: ANN001
    s, names = learned_detector_scene("full.tif")
    view = vdetect.detect(s, "learned", quantile=99.0, max_points=4, model_key="runs/det", rx_window=(3, 9))
    m = json.loads(view.metrics_path.read_text())
    assert m["method"] == "learned" and m["model"] == "runs/det" and m["resample"] is False
    assert m["rx_window"] is None and m["max_points"] == 4 and m["threshold_percentile"] == 99.0
    assert m["targets"] == names  # the run's classes
    assert (m["scene"], m["scene_path"]) == ("full.tif", "scenes/full.tif")
    assert str(tmp_path) not in json.dumps(m)  # the run as the page lists it, never a server path


def test_denoise_and_detector_lists_say_they_list_models_and_runs(tmp_path: Path, envi_scene: Path,
                                                                   random_run) -> None:  # noqa: ANN001
    from hsi_app.cli.serve_cmd import load_web_app
    from hsi_app.io.open import open_cube

    cube = open_cube(envi_scene)
    random_run(tmp_path / "models" / "shipped_dn", cube, task="denoise")
    random_run(tmp_path / "runs" / "mine_dn", cube, task="denoise")
    random_run(tmp_path / "runs" / "mine_cls", cube)
    cfg = viewer.ViewerConfig(runs_dir=tmp_path / "runs", models_dir=tmp_path / "models")
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    dropdowns = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Dropdown)}
    model_choices = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", None) == "model_choices")
    _, denoise, _ = model_choices()
    offered = [c[1] if isinstance(c, tuple) else c for c in denoise.choices]
    assert offered == ["models/shipped_dn", "runs/mine_dn"]  # both folders, denoising runs only
    for elem_id in ("hsi-dn-model", "hsi-dt-model"):
        label = dropdowns[elem_id].label
        assert "models/" in label and "--runs" in label, label
    assert "denois" in dropdowns["hsi-dn-model"].label.lower()
