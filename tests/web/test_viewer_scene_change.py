"""Opening another scene while a job on the previous one runs (another event of the same tab) never lays
the old scene's result over the new one: the job ends with one line, its files go, and the new scene
works as if the job had never run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube
from hsi_app.viewer import denoise as vdenoise
from hsi_app.viewer import detect as vdetect


def _still_usable(s: viewer.ViewerSession, shape: tuple[int, int]) -> None:
    assert list(s.workdir.iterdir()) == []  # no partial file, no output of the old scene
    img = viewer.render(s, 0.6, True)  # raised "image and class map differ in size" before
    assert img.shape[:2] == (shape[0] * s.scale, shape[1] * s.scale)
    info = viewer.select_row_col(s, 3, 4)
    assert info["prediction"] is None and s.points == []


def test_classification_of_a_replaced_scene_is_not_kept(indian_pines_runs: Path, envi_scene: Path) -> None:
    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=indian_pines_runs, scenes_dir=envi_scene.parent))
    try:
        viewer.open_scene(s, "indian_pines")

        def progress(done: int, total: int) -> None:
            viewer.open_scene(s, envi_scene.name)  # the tab's other event, while the windows run

        with pytest.raises(viewer.SceneChanged) as err:
            viewer.classify(s, "runs/tiny", cache=viewer.ModelCache(), progress=progress)
        assert str(err.value) == (f"indian_pines was replaced by {envi_scene.name} while its classification ran, "
                                  f"so that result is not kept; run it again on {envi_scene.name}")
        assert s.result is None and s.name == envi_scene.name
        assert not (s.workdir / "map.tif").exists() and not (s.workdir / "metrics.json").exists()
        with pytest.raises(Exception, match="no map yet"):
            viewer.map_download(s)
        _still_usable(s, (24, 20))
    finally:
        s.close()


def test_denoising_of_a_replaced_scene_is_not_kept(tmp_path: Path, envi_scene: Path, denoise_run) -> None:  # noqa: ANN001
    denoise_run(tmp_path / "runs" / "den", open_cube(envi_scene))
    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=tmp_path / "runs", scenes_dir=envi_scene.parent))
    try:
        viewer.open_scene(s, envi_scene.name)
        opened: list[str] = []

        def progress(fraction: float, what: str) -> None:
            if what.startswith("denoising window") and not opened:
                opened.append(what)
                viewer.open_scene(s, "indian_pines")

        with pytest.raises(viewer.SceneChanged, match=rf"^{envi_scene.name} was replaced by indian_pines while its "
                                                      r"denoising ran"):
            vdenoise.denoise(s, "runs/den", cache=viewer.ModelCache(), progress=progress)
        assert "spectrum_extra" not in s.extras and not (s.workdir / "denoised.tif").exists()
        _still_usable(s, (145, 145))
        assert set(viewer.select_row_col(s, 3, 4)["figure"].axes[0].get_legend_handles_labels()[1]) <= {"spectrum"}
    finally:
        s.close()


def test_detection_of_a_replaced_scene_is_not_kept(monkeypatch: pytest.MonkeyPatch, envi_scene: Path) -> None:
    s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=envi_scene.parent))
    from hsi_app.tasks import detection

    peaks = detection.find_peaks

    def slow_peaks(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        viewer.open_scene(s, "indian_pines")  # while the detector ran
        return peaks(*args, **kwargs)

    monkeypatch.setattr(detection, "find_peaks", slow_peaks)
    try:
        viewer.open_scene(s, envi_scene.name)
        with pytest.raises(viewer.SceneChanged, match=r"while its detection ran"):
            vdetect.detect(s, "rx", quantile=99.0, max_points=5)
        assert "detect" not in s.extras
        assert not any((s.workdir / f).exists() for f in ("scores.tif", "detections.gpkg", "detect_metrics.json"))
        _still_usable(s, (145, 145))
        assert np.asarray(s.rgb).shape == (145, 145, 3)
    finally:
        s.close()


@pytest.mark.parametrize("step", ["write_score_map", "write_detections", "write_json"])
def test_a_scene_opened_while_the_detection_is_written_gets_no_old_detection(
        monkeypatch: pytest.MonkeyPatch, envi_scene: Path, step: str) -> None:
    s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=envi_scene.parent))
    from hsi_app.tasks import detection

    owner = vdetect if step == "write_json" else detection
    write = getattr(owner, step)
    calls: list[str] = []

    def write_then_open(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        out = write(*args, **kwargs)
        calls.append(step)
        viewer.open_scene(s, "indian_pines")  # the tab's Open scene, while the outputs were written
        return out

    monkeypatch.setattr(owner, step, write_then_open)
    try:
        viewer.open_scene(s, envi_scene.name)
        with pytest.raises(viewer.SceneChanged, match=rf"^{envi_scene.name} was replaced by indian_pines while its "
                                                      r"detection ran"):
            vdetect.detect(s, "rx", quantile=99.0, max_points=5)
        assert calls == [step]
        assert s.name == "indian_pines" and "detect" not in s.extras
        assert not any((s.workdir / f).exists() for f in ("scores.tif", "detections.gpkg", "detect_metrics.json"))
        _still_usable(s, (145, 145))
    finally:
        s.close()


def test_opening_a_scene_waits_while_a_job_publishes_its_result(envi_scene: Path) -> None:
    import threading

    from hsi_app.viewer.session import publishing

    s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=envi_scene.parent))
    try:
        viewer.open_scene(s, envi_scene.name)  # a 24 × 20 scene: opening it takes far less than the wait below
        opened = threading.Event()

        def open_other() -> None:
            viewer.open_scene(s, envi_scene.name)
            opened.set()

        with publishing(s, s.require_cube(), s.name, "detection"):
            other = threading.Thread(target=open_other)
            other.start()
            assert not opened.wait(3.0)  # the scene changes only once the result is published
            s.extras["detect"] = "the result of the scene it was computed on"
        other.join(30)
        assert opened.is_set() and "detect" not in s.extras  # the new scene starts without it
    finally:
        s.close()
