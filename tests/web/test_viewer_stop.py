"""A long classification or denoising can be stopped (the tabs' Stop buttons, ``viewer.request_stop``):
it stops at its next window or model stage, says so in one line, and leaves the session's earlier
results and downloads as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube

gr = pytest.importorskip("gradio")


def test_stopped_classification_keeps_the_previous_map(indian_pines_runs: Path) -> None:
    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=indian_pines_runs))
    cache = viewer.ModelCache()
    try:
        viewer.open_scene(s, "indian_pines")
        assert viewer.request_stop(s) is None  # nothing runs: nothing to stop, and the next job is not stopped
        first = viewer.classify(s, "runs/tiny", cache=cache)
        map_bytes = first.map_path.read_bytes()
        metrics = (s.workdir / "metrics.json").read_text()
        calls: list[tuple[int, int]] = []

        def progress(done: int, total: int) -> None:
            calls.append((done, total))
            assert viewer.request_stop(s) == "classification"  # as the Stop button does, from another event

        with pytest.raises(viewer.JobStopped, match=r"^classification stopped after window 1/1, as asked; the scene, "
                                                      r"its results and downloads are as they were"):
            viewer.classify(s, "runs/tiny", cache=cache, smooth=True, progress=progress)
        assert calls == [(1, 1)]
        assert s.result is first and first.map_path.read_bytes() == map_bytes
        assert (s.workdir / "metrics.json").read_text() == metrics and "smooth" not in metrics
        again = viewer.classify(s, "runs/tiny", cache=cache, smooth=True)  # the stop is forgotten once it stopped
        assert s.result is again and np.array_equal(again.classes > 0, first.classes > 0)
    finally:
        s.close()


def _fn(demo: Any, name: str) -> Any:
    return next(f.fn for f in demo.fns.values() if f.fn.__name__ == name)


def test_stop_button_stops_denoising_in_the_page(tmp_path: Path, envi_scene: Path, denoise_run) -> None:  # noqa: ANN001
    from hsi_app.cli.serve_cmd import load_web_app

    denoise_run(tmp_path / "runs" / "den", open_cube(envi_scene))
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=tmp_path / "runs")
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    run_denoise, stop_job = _fn(demo, "run_denoise"), _fn(demo, "stop_job")
    state = viewer.ViewerSession(config=cfg)
    seen: list[str] = []

    def progress(fraction: Any, desc: str | None = None, **kwargs: Any) -> None:
        seen.append(str(desc))
        if str(desc).startswith("denoising window 1/1, step 2/"):
            stop_job(state)  # the Stop button's event, while the forward pass runs

    try:
        viewer.open_scene(state, envi_scene.name)
        out = run_denoise(state, "runs/den", "", 0, progress)
        message = out[-1]
        assert message.startswith("denoising stopped (denoising window 1/1, step 2/"), message
        assert "\n" not in message and "Traceback" not in message
        assert all(o is not None and not isinstance(o, str) for o in out[:-1])  # gr.skip(): the tab keeps its outputs
        assert not (state.workdir / "denoised.tif").exists() and "spectrum_extra" not in state.extras
        assert seen[-1].startswith("denoising window 1/1, step 2/")  # no step ran after the stop
        done = run_denoise(state, "runs/den", "", 0, lambda *a, **k: None)  # the next run is not stopped
        assert done[-1] == "" and (state.workdir / "denoised.tif").is_file()
    finally:
        state.close()
