"""Odd widget values, failed runs and server stops leave the viewer consistent and readable."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import BandMismatchError, ConfigError, ModelLoadError
from hsi_app.io.open import open_cube
from hsi_app.viewer import denoise as vdenoise
from hsi_app.viewer import detect as vdetect

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("row", "col", "match"), [
    (None, 3, "row is empty: enter a row between 0 and 23"),
    (float("nan"), 3, "row nan is not a whole number"),
    (2, float("inf"), "col inf is not a whole number: enter a col between 0 and 19"),
    (2.5, 3, "not a whole number"),
])
def test_row_col_boxes_are_checked(envi_session, row, col, match) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=match):
        viewer.select_row_col(envi_session, row, col)
    assert viewer.select_row_col(envi_session, 2.0, np.int64(3))["row"] == 2  # whole floats are fine


def test_clicks_bands_and_opacity_are_checked(envi_session) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="click inside the scene image"):
        viewer.select_pixel(envi_session, None)
    with pytest.raises(ConfigError, match="click inside the scene image"):
        viewer.select_pixel(envi_session, [float("nan"), 1])
    with pytest.raises(ConfigError, match="red band is empty: pick one in the red band list"):
        viewer.set_display(envi_session, (None, 1, 2), (2, 98))
    with pytest.raises(ConfigError, match="map opacity nan"):
        viewer.render(envi_session, float("nan"))
    viewer.set_display(envi_session, (3.0, 2, 1), (2, 98))
    assert envi_session.bands == (3, 2, 1)


@pytest.mark.parametrize(("seed", "match"), [(-1, "noise seed -1 is out of range"),
                                              (float("nan"), "noise seed nan is not a whole number"),
                                              (2**40, "out of range: enter a whole number from 0 to 4294967295")])
def test_denoise_seed_is_checked(envi_session, seed, match) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=match):
        vdenoise.denoise(envi_session, "runs/none", noise="gaussian:30", seed=seed)


@pytest.mark.parametrize(("value", "match"), [(float("nan"), "most points per class nan is not a whole number"),
                                               (-5, "most points per class -5 is out of range"),
                                               (None, "most points per class is empty")])
def test_detect_max_points_is_checked(envi_session, value, match) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match=match):
        vdetect.detect(envi_session, "rx", quantile=99.0, max_points=value)
    with pytest.raises(ConfigError, match="threshold percentile"):
        vdetect.detect(envi_session, "rx", quantile=None)


def test_a_denoise_run_holding_a_classifier_is_refused_when_loaded(tmp_path: Path, envi_scene: Path,
                                                                   random_run) -> None:  # noqa: ANN001
    random_run(tmp_path / "runs" / "den", open_cube(envi_scene), task="denoise")  # task=denoise, model test_ssfcn
    s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=tmp_path / "runs"))
    viewer.open_scene(s, envi_scene.name)
    with pytest.raises(ModelLoadError, match="run den: its config.json says task=denoise, but its model test_ssfcn "
                                             "is a classification model and cannot denoise"):
        vdenoise.denoise(s, "runs/den", cache=viewer.ModelCache())
    s.close()


def test_a_failed_classification_keeps_the_clicked_points(tmp_path: Path, envi_scene: Path, random_run) -> None:  # noqa: ANN001
    runs = tmp_path / "runs"
    random_run(runs / "fits", open_cube(envi_scene), num_classes=5)
    random_run(runs / "other_bands", open_cube("indian_pines"))
    s = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=runs))
    viewer.open_scene(s, envi_scene.name)
    cache = viewer.ModelCache()
    first = viewer.classify(s, "runs/fits", cache=cache)
    viewer.select_row_col(s, 3, 4)
    viewer.select_row_col(s, 5, 6)
    gpkg = viewer.points_download(s)
    with pytest.raises(BandMismatchError):
        viewer.classify(s, "runs/other_bands", cache=cache)
    assert [(p["row"], p["col"]) for p in s.points] == [(3, 4), (5, 6)] and gpkg.is_file()
    assert s.result is first
    viewer.classify(s, "runs/fits", cache=cache)  # a new map: its points start afresh
    assert s.points == [] and not gpkg.exists()
    s.close()


def test_remove_session_folders_removes_only_this_process_sessions() -> None:
    a, b = viewer.ViewerSession(), viewer.ViewerSession()
    (a.workdir / "upload").mkdir()
    (a.workdir / "upload" / "scene.tif").write_bytes(b"x")
    foreign = Path(tempfile.mkdtemp(prefix="hsi_viewer_"))  # as another server process would have made
    try:
        assert viewer.remove_session_folders() >= 2
        assert not a.workdir.exists() and not b.workdir.exists() and a.closed and b.closed
        assert foreign.is_dir()
        assert viewer.remove_session_folders() == 0
        c = viewer.ViewerSession()
        c.close()  # closed sessions leave the registry
        assert viewer.remove_session_folders() == 0
    finally:
        foreign.rmdir()


def test_sigterm_removes_session_folders_and_exits_cleanly(tmp_path: Path) -> None:
    script = (
        "import os, signal, sys, time\n"
        "from hsi_app.cli.serve_cmd import load_web_app\n"
        "from hsi_app import viewer\n"
        "app = load_web_app()\n"
        "app.remove_folders_at_exit()\n"
        "s = viewer.ViewerSession()\n"
        "(s.workdir / 'map.tif').write_bytes(b'x')\n"
        "print(s.workdir, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(30)\n"
        "sys.exit(3)\n"
    )
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=env)
    workdir = Path(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert workdir.name.startswith("hsi_viewer_") and not workdir.exists()
