"""What the browser sees of errors and warnings: one readable line, no server path."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer

gr = pytest.importorskip("gradio")


@pytest.fixture(scope="module")
def app():  # noqa: ANN201
    from hsi_app.cli.serve_cmd import load_web_app

    return load_web_app()


def _handlers(app, cfg: viewer.ViewerConfig) -> dict:  # noqa: ANN001
    demo = app.build_app(cfg, viewer.ModelCache())
    return {f.fn.__name__: f.fn for f in demo.fns.values()}


def _message(fn, *args) -> str:  # noqa: ANN001
    with pytest.raises(gr.Error) as info:
        fn(*args)
    return str(info.value.message)


def test_public_text_replaces_session_runs_and_upload_paths(app, tmp_path: Path) -> None:  # noqa: ANN001
    tmp = tempfile.gettempdir()
    runs = tmp_path / "secret" / "runs"
    text = (f"{tmp}/hsi_viewer_ab12cd/upload/scene.tif: bad; {tmp}/hsi_viewer_ab12cd/map.tif; "
            f"{runs}/exp1/config.json: malformed; {runs}: empty; {tmp}/gradio/0123abc/field.tif")
    out = app.public_text(text, [(runs, "runs")])
    assert out == ("the uploaded scene: bad; map.tif; runs/exp1/config.json: malformed; runs: empty; field.tif")
    app.shown_as(f"{tmp}/hsi_viewer_ab12cd/upload", "my field.tif")
    try:
        assert app.public_text(f"{tmp}/hsi_viewer_ab12cd/upload/scene.tif: bad") == "my field.tif: bad"
    finally:
        app._CTX.names = {}


def test_upload_errors_name_the_uploaded_file_not_the_session_folder(app, tmp_path: Path) -> None:  # noqa: ANN001
    import rasterio
    from rasterio.transform import from_origin

    h = _handlers(app, viewer.ViewerConfig(max_upload_bytes=5 * 1024**2))
    upload = tmp_path / "gradio_cache" / "my field (2).tif"
    upload.parent.mkdir()
    with rasterio.open(upload, "w", driver="GTiff", height=3, width=4, count=3, dtype="float32",
                       crs="EPSG:32633", transform=from_origin(500000, 4200000, 30, 30)) as ds:
        ds.write(np.ones((3, 3, 4), np.float32))
        ds.update_tags(bad_bands="0,1,2")  # opens, then cannot be shown
    state = viewer.ViewerSession(config=viewer.ViewerConfig(max_upload_bytes=5 * 1024**2))
    msg = _message(h["open_uploaded"], state, str(upload))
    assert msg.startswith("my field (2).tif: ") and "every band" in msg
    assert "hsi_viewer_" not in msg and str(tmp_path) not in msg and tempfile.gettempdir() not in msg
    state.close()


def test_run_errors_name_the_run_not_the_runs_folder(app, tmp_path: Path, envi_scene: Path) -> None:  # noqa: ANN001
    runs = tmp_path / "private" / "runs"
    (runs / "broken").mkdir(parents=True)
    (runs / "broken" / "config.json").write_text(json.dumps({"task": "classification"}))
    (runs / "broken" / "model.safetensors").write_bytes(b"\0" * 16)
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=runs)
    h = _handlers(app, cfg)
    state = viewer.ViewerSession(config=cfg)
    viewer.open_scene(state, envi_scene.name)
    msg = _message(h["run_classify"], state, "runs/broken", False, 0.6, False, lambda *a, **k: None)
    assert "runs/broken/config.json" in msg and str(runs) not in msg and "private" not in msg
    msg = _message(h["goto_pixel"], state, float("nan"), 1, 0.6, True)
    assert msg.startswith("row nan is not a whole number") and "unexpected" not in msg
    state.close()


def test_the_viewer_sends_no_usage_reports(app) -> None:  # noqa: ANN001
    """Bound to localhost and private: Gradio's analytics are off for the viewer's Blocks."""
    demo = app.build_app(viewer.ViewerConfig(), viewer.ModelCache())
    assert demo.analytics_enabled is False
    assert demo.get_config_file()["analytics_enabled"] is False
