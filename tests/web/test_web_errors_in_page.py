"""An error in the page is one lasting message line; it never blanks the open scene or its downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube

gr = pytest.importorskip("gradio")
API = {"x-gradio-user": "api"}  # what gradio_client sends; Gradio's own page sends "app"


def _no_progress(*args: Any, **kwargs: Any) -> None:
    return None


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, envi_scene: Path, random_run):  # noqa: ANN001, ANN201
    """The built page (events by handler name) with a run that fits the ENVI scene and one that does not."""
    from hsi_app.cli.serve_cmd import load_web_app

    runs = tmp_path_factory.mktemp("runs")
    random_run(runs / "fits", open_cube(envi_scene), num_classes=3)
    random_run(runs / "other_bands", open_cube("indian_pines"))
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=runs, max_upload_bytes=2**20)
    app = load_web_app()
    demo = app.build_app(cfg, viewer.ModelCache())
    return app, demo, cfg, {getattr(f.fn, "__name__", None): f for f in demo.fns.values()}


@pytest.fixture()
def classified(page, envi_scene: Path):  # noqa: ANN001, ANN201
    """A session with the ENVI scene open and classified (its map and metrics downloadable)."""
    _, _, cfg, events = page
    state = viewer.ViewerSession(config=cfg)
    events["open_listed"].fn(state, envi_scene.name)
    events["run_classify"].fn(state, "runs/fits", False, 0.6, False, _no_progress)
    yield state
    state.close()


def _names(event) -> list[str]:  # noqa: ANN001
    return [getattr(c, "elem_id", None) or getattr(c, "label", None) or type(c).__name__ for c in event.outputs]


def test_a_refused_upload_keeps_the_scene_and_its_map_and_empties_the_upload_box(page, classified,  # noqa: ANN001
                                                                               tmp_path: Path) -> None:
    _, _, _, events = page
    notes = tmp_path / "notes.txt"
    notes.write_text("not a scene")
    map_path, metrics_path = viewer.map_download(classified)
    event = events["open_uploaded"]
    out = event.fn(classified, str(notes))
    assert len(out) == len(event.outputs)
    message = out[-1]
    assert "not a GeoTIFF" in message and "Traceback" not in message
    shown = list(zip(_names(event)[:-1], out[:-1]))
    assert [value for name, value in shown if name == "hsi-upload"] == [None]  # the refused file leaves the box
    kept = [(name, value) for name, value in shown if name != "hsi-upload"]
    changed = [name for name, value in kept if value != gr.skip()]
    assert changed == [], f"a refused upload changed {changed}"
    assert {"hsi-map", "hsi-info", "hsi-map-file", "hsi-metrics-file", "hsi-legend-box",
            "hsi-areas"} <= {name for name, _ in kept}
    assert classified.result is not None and classified.name.endswith(".hdr")
    assert map_path.is_file() and metrics_path.is_file()


def test_a_failed_classification_keeps_the_image_and_the_previous_map(page, classified) -> None:  # noqa: ANN001
    _, _, _, events = page
    out = events["run_classify"].fn(classified, "runs/other_bands", False, 0.6, False, _no_progress)
    assert all(v == gr.skip() for v in out[:-1])
    assert "resample bands to the model's" in out[-1]
    from PIL import Image

    image = np.asarray(Image.open(events["restyle"].fn(classified, 0.6, True)[0]))  # a PNG in the session's folder
    assert image.shape[:2] == (classified.cube.hsi.shape[1] * classified.scale,
                               classified.cube.hsi.shape[2] * classified.scale)


def test_every_page_event_ends_with_the_message_and_a_success_clears_it(page, classified) -> None:  # noqa: ANN001
    _, demo, _, events = page
    message = events["open_listed"].outputs[-1]
    assert isinstance(message, gr.State)
    for name in ("open_listed", "open_uploaded", "redisplay", "true_colour", "restyle", "clicked", "goto_pixel",
                 "run_classify", "points_file", "run_denoise", "run_detect"):
        assert events[name].outputs[-1] is message, f"{name} does not report to the message line"
    assert "outside the" in events["goto_pixel"].fn(classified, 999, 0, 0.6, True)[-1]
    assert events["goto_pixel"].fn(classified, 2, 3, 0.6, True)[-1] == ""


def test_the_message_line_shows_the_text_verbatim_and_stays(page) -> None:  # noqa: ANN001
    app, demo, _, events = page
    message = events["open_listed"].outputs[-1]
    shows = [f for f in demo.fns.values() if getattr(f.fn, "__name__", None) == "message_html"]
    assert len(shows) == 1 and shows[0].inputs == [message]
    (banner,) = shows[0].outputs
    assert isinstance(banner, gr.HTML) and banner.elem_id == "hsi-message"
    html = shows[0].fn("scene_1 <v2> & *raw*: bad")
    assert "scene_1 &lt;v2&gt; &amp; *raw*: bad" in html and 'role="alert"' in html
    assert shows[0].fn("") == ""
    assert "position: sticky" in app.PAGE_CSS  # in view while the page scrolls


def test_api_clients_still_get_an_exception(page, classified) -> None:  # noqa: ANN001
    _, _, _, events = page
    with pytest.raises(gr.Error, match="outside the"):
        events["goto_pixel"].fn(classified, 999, 0, 0.6, True, gr.Request(headers=API))
    out = events["goto_pixel"].fn(classified, 999, 0, 0.6, True, gr.Request(headers={"x-gradio-user": "app"}))
    assert "outside the" in out[-1]
