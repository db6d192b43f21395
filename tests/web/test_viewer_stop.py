"""A long classification or denoising can be stopped (the tabs' Stop buttons, ``viewer.request_stop``):
it stops at its next window or model stage, says so in one line, and leaves the session's earlier
results and downloads as they were."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import ConfigError
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


def test_a_scene_of_one_window_shows_progress_and_stops_within_it(indian_pines_runs: Path) -> None:
    """Indian Pines fits one window: the bar moved only at its end, and a Stop waited for the whole forward pass
    (minutes for a large model on a CPU). Now the model's stages report, and a Stop ends the run at the next one."""
    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=indian_pines_runs))
    try:
        viewer.open_scene(s, "indian_pines")
        reports: list[tuple[float, str]] = []

        def steps(fraction: float, what: str) -> None:
            reports.append((fraction, what))
            if len(reports) == 2:
                viewer.request_stop(s, "classification")

        with pytest.raises(viewer.JobStopped, match=r"^classification stopped in window 1/1, step 2/\d+, as asked"):
            viewer.classify(s, "runs/tiny", cache=viewer.ModelCache(), steps=steps)
        (f1, w1), (f2, w2) = reports
        total = int(w1.rsplit("/", 1)[1])
        assert total > 2
        assert (w1, w2) == (f"classifying window 1/1, step 1/{total}", f"classifying window 1/1, step 2/{total}")
        assert (f1, f2) == pytest.approx((1 / total, 2 / total))
        assert s.result is None and not (s.workdir / "map.tif").exists()  # nothing of the stopped run is kept
        done: list[tuple[float, str]] = []
        viewer.classify(s, "runs/tiny", cache=viewer.ModelCache(), steps=lambda f, w: done.append((f, w)))
        assert [f for f, _ in done] == sorted(f for f, _ in done) and done[-1] == (1.0, "classified window 1/1")
        assert len(done) == total  # every stage but the last, then the window written
    finally:
        s.close()


def test_closing_the_session_stops_its_running_job(indian_pines_runs: Path) -> None:
    """The tab closed (its session is closed after the grace period) while a classification runs: the job stops at
    its next step instead of running its whole forward pass for no one."""
    import threading

    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=indian_pines_runs))
    viewer.open_scene(s, "indian_pines")
    running, closed = threading.Event(), threading.Event()
    reports: list[str] = []
    outcome: list[BaseException] = []

    def steps(fraction: float, what: str) -> None:
        reports.append(what)
        running.set()
        closed.wait(10)

    def job() -> None:
        try:
            viewer.classify(s, "runs/tiny", cache=viewer.ModelCache(), steps=steps)
        except BaseException as err:  # noqa: BLE001 - the test reads it
            outcome.append(err)

    worker = threading.Thread(target=job)
    worker.start()
    try:
        assert running.wait(30)
        s.close()
        closed.set()
        worker.join(30)
        assert reports == [reports[0]] and reports[0].startswith("classifying window 1/1, step 1/")
        assert len(outcome) == 1 and isinstance(outcome[0], viewer.JobStopped), outcome
    finally:
        closed.set()
        s.close()


def _fn(demo: Any, name: str) -> Any:
    return next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", None) == name)


def test_stop_button_stops_denoising_in_the_page(tmp_path: Path, envi_scene: Path, denoise_run) -> None:  # noqa: ANN001
    from hsi_app.cli.serve_cmd import load_web_app

    denoise_run(tmp_path / "runs" / "den", open_cube(envi_scene))
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=tmp_path / "runs")
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    run_denoise, stop_job = _fn(demo, "run_denoise"), _fn(demo, "stop_denoise")
    state = viewer.ViewerSession(config=cfg)
    seen: list[str] = []

    def progress(fraction: Any, desc: str | None = None, **kwargs: Any) -> None:
        seen.append(str(desc))
        if str(desc).startswith("denoising window 1/1, step 2/"):
            assert _fn(demo, "stop_classify")(state) is None  # the Classify tab's Stop: not this job's
            stop_job(state)  # the Denoise tab's Stop button's event, while the forward pass runs

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


def test_each_stop_stops_its_own_job_of_jobs_running_at_once_in_one_tab() -> None:
    """A tab's Classify and Denoise events run at once (two threads): each Stop stops only its own job, a job
    ending does not lose a stop asked for the other, and a job starting does not wipe it."""
    import threading

    from hsi_app.viewer.session import running_job

    s = viewer.ViewerSession(config=viewer.ViewerConfig())
    started = {k: threading.Event() for k in ("classification", "denoising")}
    finish = {k: threading.Event() for k in started}
    outcome: dict[str, str] = {}

    def job(kind: str, wait_for: str | None) -> None:
        if wait_for is not None:
            started[wait_for].wait(10)
        with running_job(s, kind) as j:
            started[kind].set()
            finish[kind].wait(10)
            try:
                j.check("after window 1/2")
                outcome[kind] = "finished"
            except viewer.JobStopped as err:
                outcome[kind] = str(err)

    try:
        classify = threading.Thread(target=job, args=("classification", None))
        classify.start()
        assert started["classification"].wait(10)
        assert viewer.request_stop(s, "classification") == "classification"  # asked before denoising starts
        denoise = threading.Thread(target=job, args=("denoising", "classification"))
        denoise.start()
        assert started["denoising"].wait(10)
        finish["denoising"].set()  # denoising checks and ends first: not stopped, and not clearing the other stop
        denoise.join(10)
        assert outcome["denoising"] == "finished"
        finish["classification"].set()
        classify.join(10)
        assert outcome["classification"].startswith("classification stopped after window 1/2, as asked")
        assert viewer.request_stop(s, "classification") is None and viewer.request_stop(s) is None  # none runs
        with pytest.raises(ConfigError, match=r"cannot stop .denoise.: name one of classification, denoising"):
            viewer.request_stop(s, "denoise")
    finally:
        s.close()


def test_stop_buttons_are_bound_to_their_own_tab_and_drop_a_queued_job() -> None:
    """The Classify Stop cancels only the Classify event (a run still in the queue is dropped; a running one
    ends at its next step), the Denoise Stop only the Denoise event; /stop_denoise is the API's Denoise Stop."""
    from hsi_app.cli.serve_cmd import load_web_app

    demo = load_web_app().build_app(viewer.ViewerConfig(), viewer.ModelCache())
    fns = list(demo.fns.values())
    index = {getattr(f.fn, "__name__", None): i for i, f in demo.fns.items() if f.fn is not None}
    by_name = {getattr(f.fn, "__name__", None): f for f in fns if f.fn is not None}
    for stop, job in (("stop_classify", "run_classify"), ("stop_denoise", "run_denoise")):
        targets = by_name[stop].targets
        cancelling = [f for f in fns if f.is_cancel_function and f.targets == targets]
        assert [f.cancels for f in cancelling] == [[index[job]]], stop
    assert by_name["stop_classify"].api_name == "stop" and by_name["stop_denoise"].api_name == "stop_denoise"
