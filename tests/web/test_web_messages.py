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
    return {getattr(f.fn, "__name__", None): f.fn for f in demo.fns.values()}


def _message(fn, *args) -> str:  # noqa: ANN001
    """The error line the page shows for ``fn(*args)`` (an event's last output, see ``in_page``)."""
    out = fn(*args)
    assert out[-1], f"{fn.__name__} gave no error message"
    return str(out[-1])


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


def test_an_upload_with_a_band_holding_no_data_anywhere_toasts_and_describes_it(
        app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """The warning `hsi info` prints is one toast naming the uploaded file and the band; the scene line names it."""
    from tif_writer import write_tif

    toasts: list[str] = []
    monkeypatch.setattr(app.gr, "Warning", lambda text, *a, **k: toasts.append(text))
    data = np.random.default_rng(0).uniform(100, 5000, size=(6, 8, 9)).astype(np.float32)
    data[2] = np.nan  # band 3 holds no data at any pixel
    upload = tmp_path / "gradio_cache" / "my field.tif"
    upload.parent.mkdir()
    write_tif(upload, data, np.linspace(450.0, 950.0, 6))
    cfg = viewer.ViewerConfig(max_upload_bytes=5 * 1024**2)
    h = _handlers(app, cfg)
    state = viewer.ViewerSession(config=cfg)
    try:
        outputs = h["open_uploaded"](state, str(upload))
        assert [t for t in toasts if "no data at any pixel" in t] == [
            "my field.tif: band 3 (650 nm) holds no data at any pixel (no-data or NaN everywhere), so no pixel was "
            "valid; flagged bad, as a bad-band list would, and the other 5 bands are used"], toasts
        assert "1 flagged bad: band 3 (650 nm) holds no data at any pixel" in outputs[2]
    finally:
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


def _upload_message(app, tmp_path: Path, upload: Path) -> str:  # noqa: ANN001
    cfg = viewer.ViewerConfig(max_upload_bytes=5 * 1024**2)
    state = viewer.ViewerSession(config=cfg)
    try:
        return _message(_handlers(app, cfg)["open_uploaded"], state, str(upload))
    finally:
        state.close()


def test_mat_upload_messages_name_the_file_and_give_a_viewer_fix(app, tmp_path: Path) -> None:  # noqa: ANN001
    from scipy.io import savemat

    cube = np.ones((4, 5, 3), np.float32)
    two = tmp_path / "my_two_cubes.mat"
    savemat(two, {"scene_raw": cube, "scene_smoothed": cube})
    msg = _upload_message(app, tmp_path, two)
    assert msg == ("the upload could not be read as a scene: my_two_cubes.mat: 2 3-D arrays (H, W, bands): "
                   "scene_raw, scene_smoothed; the viewer cannot choose among them: save one cube per .mat file "
                   "and upload that file")
    none = tmp_path / "my_field_data.mat"
    savemat(none, {"gt": np.ones((4, 5), np.uint8)})
    msg = _upload_message(app, tmp_path, none)
    assert msg == ("the upload could not be read as a scene: my_field_data.mat: no 3-D array (H, W, bands); "
                   "keys found: gt. Save the cube as a numeric (H, W, bands) array and upload it")
    truth = tmp_path / "Indian_pines_gt.mat"  # a ground truth uploaded as the scene: no --labels on the page
    savemat(truth, {"indian_pines_gt": np.ones((4, 5), np.uint8)})
    msg = _upload_message(app, tmp_path, truth)
    assert msg.startswith("the upload could not be read as a scene: Indian_pines_gt.mat: holds only 2-D arrays")
    assert msg.endswith("upload the cube file (Indian_pines_corrected.mat) instead: the viewer takes no separate "
                        "label file (hsi evaluate scores a map against one)") and "--" not in msg, msg


def test_zip_member_errors_name_the_member_in_the_uploaded_zip(app, tmp_path: Path) -> None:  # noqa: ANN001
    import zipfile

    upload = tmp_path / "my_pair.zip"
    header = "ENVI\nsamples = 5\nlines = 4\nbands = 3\ndata type = 4\ninterleave = bsq\nbyte order = 0\n"
    with zipfile.ZipFile(upload, "w") as zf:
        zf.writestr("a.hdr", header)
        zf.writestr("a.img", b"\0" * 10)  # 240 bytes declared
    msg = _upload_message(app, tmp_path, upload)
    assert msg.startswith("the upload could not be read as a scene: a.img in my_pair.zip: 10 bytes")
    assert "extracted" not in msg and "scene." not in msg


def test_a_bare_envi_header_or_a_foreign_file_is_named_in_the_page_line(app, tmp_path: Path) -> None:  # noqa: ANN001
    folder = tmp_path / "gradio" / "9f8e7d"
    folder.mkdir(parents=True)
    header = folder / "ip_envi.hdr"
    header.write_text("ENVI\nsamples = 5\nlines = 4\nbands = 3\ndata type = 4\ninterleave = bsq\n")
    msg = _upload_message(app, tmp_path, header)
    assert msg.startswith("ip_envi.hdr is an ENVI header") and "pick ip_envi.hdr and ip_envi.img at once" in msg
    png = folder / "fake.tif"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    msg = _upload_message(app, tmp_path, png)
    assert msg.startswith("fake.tif is not a GeoTIFF") and str(tmp_path) not in msg


def test_band_mismatch_points_to_the_resample_checkbox(app, tmp_path: Path, envi_scene: Path,  # noqa: ANN001
                                                      random_run) -> None:  # noqa: ANN001
    from hsi_app.io.cube import make_cube
    from hsi_app.viewer.messages import RESAMPLE_LABEL

    other = make_cube(np.ones((8, 5, 5), np.float32), wavelength=np.linspace(420.0, 900.0, 8))
    runs = tmp_path / "runs"
    random_run(runs / "vnir", other, num_classes=2)
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=runs)
    demo = app.build_app(cfg, viewer.ModelCache())
    checkboxes = [b.label for b in demo.blocks.values() if isinstance(b, gr.Checkbox)]
    assert RESAMPLE_LABEL in checkboxes  # the control the message names is on the page
    h = {getattr(f.fn, "__name__", None): f.fn for f in demo.fns.values()}
    state = viewer.ViewerSession(config=cfg)
    try:
        viewer.open_scene(state, envi_scene.name)
        msg = _message(h["run_classify"], state, "runs/vnir", False, 0.6, False, lambda *a, **k: None)
    finally:
        state.close()
    assert "do not match the model's 8 bands" in msg and "--resample" not in msg
    assert f'tick "{RESAMPLE_LABEL}" (Classify tab) to resample spectrally' in msg


def test_target_on_a_no_data_pixel_asks_for_another_click(app, envi_scene: Path) -> None:  # noqa: ANN001
    from hsi_app.io.open import open_cube

    valid = np.asarray(open_cube(envi_scene).hsi.valid.values, dtype=bool)
    row, col = (int(v[0]) for v in np.nonzero(~valid))
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent)
    h = _handlers(app, cfg)
    state = viewer.ViewerSession(config=cfg)
    try:
        viewer.open_scene(state, envi_scene.name)
        h["goto_pixel"](state, row, col, 0.6, True)
        msg = _message(h["run_detect"], state, "mf", 99.0, 5, "5,21", None, lambda *a, **k: None)
    finally:
        state.close()
    assert msg == (f"mf needs a target spectrum, but the clicked pixel (row {row}, col {col}) has no data: "
                   "click another pixel, then run again")


@pytest.mark.parametrize(("text", "expected"), [
    ("x.mat: 'paviaU' is 2-D (3, 4); a cube needs (H, W, bands). Pass --key NAME (key= in Python) naming a 3-D array",
     "x.mat: 'paviaU' is 2-D (3, 4); a cube needs (H, W, bands). The viewer cannot choose a .mat variable: save the "
     "cube alone in a .mat file and upload that file"),
    ("x.mat: no variable 'k'; keys found: a, b. Pass --key NAME (key= in Python) with one of them",
     "x.mat: no variable 'k'; keys found: a, b. The viewer cannot choose a .mat variable: save the cube alone in a "
     ".mat file and upload that file"),
    ("x.tif: 4 bands do not match; the cube or the model lacks wavelengths", "x.tif: 4 bands do not match; the cube "
     "or the model lacks wavelengths"),
])
def test_cli_flags_become_viewer_fixes(text: str, expected: str) -> None:
    from hsi_app.viewer.messages import in_viewer_terms

    assert in_viewer_terms(text) == expected


def _refusal(fn, *args, **kwargs) -> str:  # noqa: ANN001
    """The library's message when ``fn(*args, **kwargs)`` refuses."""
    from hsi_app.errors import HSIError

    with pytest.raises(HSIError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def _no_cli_terms(text: str) -> None:
    import re

    assert not re.search(r"--[a-z]", text) and "in Python" not in text and "hsi_app." not in text, text


def test_noise_box_messages_name_the_box_not_the_flag(app, tmp_path: Path, envi_scene: Path,  # noqa: ANN001
                                                      denoise_run) -> None:  # noqa: ANN001
    from hsi_app.data.noise import parse_noise
    from hsi_app.io.open import open_cube
    from hsi_app.viewer.messages import in_viewer_terms

    for spec in ("gaussian:abc", "gaussian:", "it's:3"):
        msg = in_viewer_terms(_refusal(parse_noise, spec))
        _no_cli_terms(msg)
        assert msg.startswith(f"noise {spec!r} (Denoise tab): ")
    denoise_run(tmp_path / "runs" / "den", open_cube(envi_scene))
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=tmp_path / "runs")
    state = viewer.ViewerSession(config=cfg)
    try:
        viewer.open_scene(state, envi_scene.name)
        msg = _message(_handlers(app, cfg)["run_denoise"], state, "runs/den", "pink:3", 0, lambda *a, **k: None)
    finally:
        state.close()
    assert msg.startswith("noise 'pink:3' (Denoise tab): unknown noise model; use gaussian:50")


def test_detect_window_and_method_messages_name_the_detect_tab(app, envi_scene: Path) -> None:  # noqa: ANN001
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.detection import detect_scene
    from hsi_app.viewer.messages import RX_WINDOW_LABEL, in_viewer_terms

    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent)
    state = viewer.ViewerSession(config=cfg)
    try:
        viewer.open_scene(state, envi_scene.name)  # 24 x 20 px
        msg = _message(_handlers(app, cfg)["run_detect"], state, "rx-local", 99.0, 5, "5,31", None, False,
                       lambda *a, **k: None)
    finally:
        state.close()
    _no_cli_terms(msg)
    assert f'set the "{RX_WINDOW_LABEL}" box (Detect tab) to INNER,OUTER with odd sizes INNER < OUTER <= 19' in msg
    tiny = make_cube(np.random.default_rng(0).uniform(size=(4, 6, 6)).astype(np.float32))
    msg = in_viewer_terms(_refusal(detect_scene, tiny, "rx-local", window=(1, 3)))
    _no_cli_terms(msg)
    assert "pick the method rx (global RX) on scenes this small" in msg
    scene = make_cube(np.random.default_rng(0).uniform(size=(4, 30, 30)).astype(np.float32))
    for window in ((21, 5), (4, 20)):  # the order / parity refusal names the box, not --rx-window
        msg = in_viewer_terms(_refusal(detect_scene, scene, "rx-local", window=window))
        _no_cli_terms(msg)
        assert f'"{RX_WINDOW_LABEL}" {window[0]},{window[1]} (Detect tab): use odd sizes INNER < OUTER' in msg


def test_band_subset_fixes_name_the_resample_checkbox() -> None:
    from hsi_app.tasks.band_subset import matching_bands, subset_warning
    from hsi_app.viewer.messages import RESAMPLE_LABEL, in_viewer_terms

    train = np.linspace(400.0, 1000.0, 20)
    msg = in_viewer_terms(_refusal(matching_bands, train, np.array([2000.0, 2100.0]), "x.tif"))
    _no_cli_terms(msg)
    assert msg.endswith(f'tick "{RESAMPLE_LABEL}" (Classify tab) to resample the cube')
    warning = subset_warning(train, np.arange(3), "x.tif", "runs/m", resample_applies=True)
    assert warning is not None and "--resample" in warning
    msg = in_viewer_terms(warning)
    _no_cli_terms(msg)
    assert msg.endswith(f'check the map against the full-band one or tick "{RESAMPLE_LABEL}" (Classify tab)')


def test_a_band_with_no_data_anywhere_gets_a_fix_without_python() -> None:
    from hsi_app.infer import predict_scene
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.detect_stream import streamed_scores
    from hsi_app.viewer.messages import in_viewer_terms

    data = np.random.default_rng(0).uniform(0.1, 0.5, size=(5, 12, 12)).astype(np.float32)
    data[2] = np.nan
    cube = make_cube(data, wavelength=np.linspace(450.0, 850.0, 5))
    for msg in (_refusal(predict_scene, lambda x: np.ones((2, *x.shape[1:]), np.float32), cube, num_classes=2,
                         halo=0, progress=False),
                _refusal(streamed_scores, "rx", cube)):
        assert "flag_empty_bands" in msg
        shown = in_viewer_terms(msg)
        _no_cli_terms(shown)
        assert shown.endswith("band 3 (650 nm) holds no data at any pixel, so no pixel is valid; remove those bands "
                              "from the file (or give them data) and open it again")
