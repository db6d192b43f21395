"""The Denoise tab reports progress as Classify does: from the first moment, window by window and
through the model's stages within a window (one window is the whole of a small scene)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube

gr = pytest.importorskip("gradio")


class Recorder:
    """Stands in for ``gr.Progress``: keeps every ``(fraction, desc)`` reported."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def __call__(self, progress: Any, desc: str | None = None, **kwargs: Any) -> None:
        self.calls.append((float(progress), str(desc)))


@pytest.mark.parametrize("noise", ["", "gaussian:30"])
def test_denoise_reports_progress_from_start_to_end(tmp_path: Path, envi_scene: Path, denoise_run,  # noqa: ANN001
                                                    noise: str) -> None:
    from hsi_app.cli.serve_cmd import load_web_app

    denoise_run(tmp_path / "runs" / "den", open_cube(envi_scene))
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=tmp_path / "runs")
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    run_denoise = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", None) == "run_denoise")
    state = viewer.ViewerSession(config=cfg)
    progress = Recorder()
    try:
        viewer.open_scene(state, envi_scene.name)
        out = run_denoise(state, "runs/den", noise, 0, progress)
    finally:
        state.close()
    assert out[-1] == "" and out[2].startswith("runs/den: ")
    calls = progress.calls
    assert calls[0] == (0.0, "loading the denoising run")  # at once: the page drops Gradio's stale time guess
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    steps = [(f, d) for f, d in calls if d.startswith("denoising window 1/1, step ")]
    done, total = steps[-1][1].rsplit(" ", 1)[1].split("/")
    assert int(done) == int(total) - 1 >= 4 and len(steps) == int(done)  # every stage of the one forward pass
    assert 0.0 < steps[0][0] < steps[-1][0] < 1.0
    writing = [f for f, d in calls if d == "denoising window 1/1: writing it"]  # the last stage ran, not yet written
    assert writing == [pytest.approx(0.95)]
    assert ("adding gaussian:30 noise" in [d for _, d in calls]) == bool(noise)
