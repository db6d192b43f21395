"""A long detection shows its progress strip by strip (window and model stage for the learned detector) and can be
stopped (the Detect tab's Stop, ``viewer.request_stop(session, "detection")``): it ends before its next strip with
one line, and the session's earlier detection and its downloads stay as they were."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hsi_app import viewer
from hsi_app.viewer import detect as vdetect

gr = pytest.importorskip("gradio")

ROWS = 16
"""Rows per strip forced below: Indian Pines' 145 rows make 10 strips (rx-local: 9, since its 1-row remainder
joins the strip before it, SPy's mapper needing 10 rows)."""


@pytest.fixture()
def pines(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """A session with Indian Pines open, its detections read in strips of :data:`ROWS` rows (a large scene's
    strips are 64 MiB: hundreds of rows)."""
    import hsi_app.tasks.detect_stream as stream

    monkeypatch.setattr(stream, "strip_height", lambda channels, width, max_bytes=0: ROWS)
    s = viewer.ViewerSession(config=viewer.ViewerConfig())
    viewer.open_scene(s, "indian_pines")
    yield s
    s.close()


def _rising(fractions: list[float]) -> bool:
    return all(b >= a for a, b in zip(fractions, fractions[1:], strict=False))


@pytest.mark.parametrize("method", ["rx", "mf"])
def test_progress_rises_strip_by_strip_over_both_passes(pines, method: str) -> None:  # noqa: ANN001
    if method == "mf":
        viewer.select_row_col(pines, 70, 70)  # its target
    seen: list[tuple[float, str]] = []
    vdetect.detect(pines, method, progress=lambda fraction, what: seen.append((fraction, what)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and _rising(fractions), seen
    for part in ("statistics", "scores"):  # every strip of both passes, in order
        strips = [w for _, w in seen if w.startswith(f"{method}: {part}, strip ")]
        assert strips == [f"{method}: {part}, strip {i}/10" for i in range(1, 11)]
    assert len(set(fractions)) >= 20  # the bar moves at every strip, not only at the end
    first_score = next(f for f, w in seen if w == f"{method}: scores, strip 1/10")
    assert 0.4 < first_score < 0.6  # the second of two passes starts half-way


def test_learned_detector_reports_its_window_and_the_models_stages(learned_detector_scene) -> None:  # noqa: ANN001
    s, _ = learned_detector_scene("scene.tif")
    seen: list[tuple[float, str]] = []
    vdetect.detect(s, "learned", model_key="runs/det", progress=lambda fraction, what: seen.append((fraction, what)))
    fractions = [f for f, _ in seen]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and _rising(fractions), seen
    stages = [f for f, w in seen if w.startswith("detecting, window 1/1, step ")]
    assert len(stages) >= 2 and len(set(stages)) == len(stages), seen  # a one-window scene still moves


def test_stop_ends_a_detection_at_its_next_strip_and_keeps_the_earlier_one(pines) -> None:  # noqa: ANN001
    """The Stop comes from another thread (another event of the tab) while rx-local scores its third strip."""
    first = vdetect.detect(pines, "rx")
    files = {p: p.read_bytes() for p in (first.scores_path, first.metrics_path)}
    earlier = pines.extras["detect"]
    reached, asked = threading.Event(), threading.Event()
    seen: list[str] = []
    outcome: dict[str, str] = {}

    def progress(fraction: float, what: str) -> None:
        seen.append(what)
        if what == "rx-local: scores, strip 3/9":
            reached.set()
            asked.wait(30)

    def run() -> None:
        try:
            vdetect.detect(pines, "rx-local", progress=progress)
            outcome["end"] = "finished"
        except viewer.JobStopped as err:
            outcome["end"] = str(err)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert reached.wait(120)
        assert viewer.request_stop(pines, "classification") is None  # the Classify tab's Stop: not this job
        assert viewer.request_stop(pines, "detection") == "detection"
    finally:
        asked.set()
        worker.join(120)
    assert outcome["end"] == ("detection stopped (rx-local: scores, strip 3/9), as asked; the scene, its results and "
                              "downloads are as they were before it")
    assert seen[-1] == "rx-local: scores, strip 3/9"  # no strip was scored after the stop
    assert pines.extras["detect"] is earlier
    assert all(p.read_bytes() == data for p, data in files.items())
    assert viewer.request_stop(pines, "detection") is None  # nothing runs any more
    again = vdetect.detect(pines, "rx")  # the stop is forgotten once it stopped
    assert pines.extras["detect"] is not earlier and again.scores_path.read_bytes() == files[first.scores_path]


def _fn(demo: Any, name: str) -> Any:
    return next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", None) == name)


def test_stop_button_stops_a_detection_in_the_page(pines) -> None:  # noqa: ANN001
    from hsi_app.cli.serve_cmd import load_web_app

    demo = load_web_app().build_app(pines.config, viewer.ModelCache())
    run_detect, stop_detect = _fn(demo, "run_detect"), _fn(demo, "stop_detect")
    seen: list[tuple[float, str]] = []

    def progress(fraction: Any, desc: str | None = None, **kwargs: Any) -> None:
        seen.append((float(fraction), str(desc)))
        if desc == "rx: scores, strip 2/10":
            assert _fn(demo, "stop_denoise")(pines) is None  # the Denoise tab's Stop: not this job
            stop_detect(pines)  # the Detect tab's Stop button's event, while the scores pass runs

    out = run_detect(pines, "rx", 99.9, 50, "5,21", None, False, progress)
    assert out[-1].startswith("detection stopped (rx: scores, strip 2/10), as asked"), out[-1]
    assert "\n" not in out[-1] and "Traceback" not in out[-1]
    assert all(o is not None and not isinstance(o, str) for o in out[:-1])  # gr.skip(): the tab keeps its outputs
    assert "detect" not in pines.extras and not (pines.workdir / "scores.tif").exists()
    assert seen[-1][1] == "rx: scores, strip 2/10" and _rising([f for f, _ in seen])
    done = run_detect(pines, "rx", 99.9, 50, "5,21", None, False, lambda *a, **k: None)  # the next run is not stopped
    assert done[-1] == "" and (pines.workdir / "scores.tif").is_file()


def test_detect_stop_button_is_bound_to_the_detect_event_only() -> None:
    """The Detect Stop (API /stop_detect) cancels the Detect event (a run still in the queue is dropped; a running
    one ends at its next strip), and no other tab's Stop cancels it."""
    from hsi_app.cli.serve_cmd import load_web_app

    demo = load_web_app().build_app(viewer.ViewerConfig(), viewer.ModelCache())
    fns = list(demo.fns.values())
    index = {getattr(f.fn, "__name__", None): i for i, f in demo.fns.items() if f.fn is not None}
    stop = next(f for f in fns if f.fn is not None and getattr(f.fn, "__name__", None) == "stop_detect")
    assert stop.api_name == "stop_detect"
    cancelling = [f for f in fns if f.is_cancel_function and f.targets == stop.targets]
    assert [f.cancels for f in cancelling] == [[index["run_detect"]]]
    others = [f for f in fns if f.is_cancel_function and f.targets != stop.targets]
    assert all(index["run_detect"] not in f.cancels for f in others)
