"""Opening another scene resets every tab on the page and deletes the previous scene's files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube
from hsi_app.viewer import denoise as vdenoise
from hsi_app.viewer import detect as vdetect

gr = pytest.importorskip("gradio")
SCENE_EVENTS = ("open_listed", "open_uploaded")
TAB_EVENTS = ("run_classify", "run_denoise", "run_detect", "points_file")


def _no_progress(*args: Any, **kwargs: Any) -> None:
    return None


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, envi_scene: Path, random_run, denoise_run):  # noqa: ANN001, ANN201
    """The built page's events (by handler name), with a classify and a denoise run for the ENVI scene."""
    from hsi_app.cli.serve_cmd import load_web_app

    runs = tmp_path_factory.mktemp("runs")
    cube = open_cube(envi_scene)
    random_run(runs / "cls", cube, num_classes=3)
    denoise_run(runs / "den", cube)
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=runs, max_upload_bytes=2**20)
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    return cfg, {getattr(f.fn, "__name__", None): f for f in demo.fns.values()}


def _fill_every_tab(events: dict[str, Any], state: viewer.ViewerSession) -> None:
    events["goto_pixel"].fn(state, 10, 12, 0.6, True)
    events["run_classify"].fn(state, "runs/cls", False, 0.6, False, _no_progress)
    events["goto_pixel"].fn(state, 10, 12, 0.6, True)  # a clicked point on the map
    events["points_file"].fn(state)
    events["run_denoise"].fn(state, "runs/den", "", 0, _no_progress)
    events["run_detect"].fn(state, "ace", 99.0, 5, "5,21", None, _no_progress)


def _geotiff(path: Path) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", height=6, width=7, count=3, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 4200000, 30, 30)) as ds:
        ds.write(np.random.default_rng(0).uniform(size=(3, 6, 7)).astype(np.float32))
    return path


def _check_reset(events: dict[str, Any], opener: str, values: tuple[Any, ...]) -> None:
    """Every output of the tabs' events (but the scene image and the show-map box) is emptied."""
    shown = {id(c): v for c, v in zip(events[opener].outputs, values)}
    image = events[opener].outputs[1]
    for name in TAB_EVENTS:
        for comp in events[name].outputs:
            if comp is image or isinstance(comp, gr.Checkbox):
                continue
            label = getattr(comp, "label", None) or getattr(comp, "elem_id", None)
            assert id(comp) in shown, f"{opener} leaves {name}'s output {label!r} as it was"
            assert shown[id(comp)] in (None, "", []), f"{opener} shows {shown[id(comp)]!r} in {label!r}"


def _left(state: viewer.ViewerSession) -> set[str]:
    """What the session folder holds: its sub-folders but ``downloads``, and the files offered in ``downloads``."""
    out = {p.name for p in state.workdir.iterdir() if p.name != "downloads"}
    return out | {f"downloads/{p.name}" for p in (state.workdir / "downloads").rglob("*") if p.is_file()}


def test_a_new_scene_resets_every_tab_and_deletes_old_results(page, envi_scene: Path, tmp_path: Path) -> None:  # noqa: ANN001
    cfg, events = page
    state = viewer.ViewerSession(config=cfg)
    try:
        events["open_listed"].fn(state, envi_scene.name)
        _fill_every_tab(events, state)
        written = {p.name for p in state.workdir.iterdir()}
        assert {"map.tif", "metrics.json", "points.gpkg", "denoised.tif", "denoise_metrics.json", "scores.tif",
                "detect_metrics.json"} <= written
        values = events["open_uploaded"].fn(state, str(_geotiff(tmp_path / "field.tif")))
        _check_reset(events, "open_uploaded", values)
        assert _left(state) == {state.upload_folder, "downloads/field_view.png"}  # the new scene as shown
        assert state.extras == {} and state.result is None and state.selected is None
        events["goto_pixel"].fn(state, 2, 3, 0.6, True)
        events["run_detect"].fn(state, "rx", 90.0, 5, "1,3", None, _no_progress)
        values = events["open_listed"].fn(state, envi_scene.name)
        _check_reset(events, "open_listed", values)
        assert _left(state) == {f"downloads/{envi_scene.stem}_view.png"}  # the upload went with its results
    finally:
        state.close()


JOBS = {  # event -> (module, job function it calls, its arguments after the state, what the line calls it)
    "run_classify": (viewer, "classify", ("runs/cls", False, 0.6, False, _no_progress), "classification"),
    "run_denoise": (vdenoise, "denoise", ("runs/den", "", 0, _no_progress), "denoising"),
    "run_detect": (vdetect, "detect", ("rx", 99.0, 5, "5,21", None, False, _no_progress), "detection"),
}


@pytest.mark.parametrize("event", list(JOBS))
def test_a_scene_opened_as_a_job_ends_gets_none_of_its_outputs(page, event: str, envi_scene: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """The tab's other event opens a scene right after the job published its result, while the event still
    builds its outputs (images, legend, download copies): one line says the result is not kept, and nothing
    of the old scene is offered (before: "no map yet", or "unexpected FileNotFoundError" for the deleted file)."""
    cfg, events = page
    module, name, args, what = JOBS[event]
    field = _geotiff(tmp_path / "field.tif")
    job = getattr(module, name)

    def then_open_another(s: viewer.ViewerSession, *a: Any, **kw: Any) -> Any:
        out = job(s, *a, **kw)
        viewer.open_upload(s, str(field))  # what the tab's upload event does, as the job's result is shown
        return out

    monkeypatch.setattr(module, name, then_open_another)
    state = viewer.ViewerSession(config=cfg)
    try:
        events["open_listed"].fn(state, envi_scene.name)
        out = events[event].fn(state, *args)
        assert out[-1] == (f"{envi_scene.name} was replaced by field.tif while its {what} ran, so that result "
                           "is not kept; run it again on field.tif")
        assert all(isinstance(v, type(gr.skip())) for v in out[:-1])  # nothing of the old scene is shown
        assert state.name == "field.tif" and state.result is None and state.extras == {}
        assert {p.name for p in state.workdir.iterdir()} == {state.upload_folder}
    finally:
        state.close()
