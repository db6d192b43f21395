"""Two jobs of one kind at once in one tab (an API client's second call, or the page's after a Stop that has not
ended the first yet) run one after the other: each event offers the map its own legend describes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.io.open import open_cube

gr = pytest.importorskip("gradio")


def _no_progress(*args: Any, **kwargs: Any) -> None:
    return None


def test_two_classifications_at_once_each_offer_the_map_of_their_legend(tmp_path: Path, envi_scene: Path, random_run,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from hsi_app.cli.serve_cmd import load_web_app
    from hsi_app.io.cog import read_class_map
    from hsi_app.viewer import session as session_module

    cube = open_cube(envi_scene)
    random_run(tmp_path / "runs" / "three", cube, num_classes=3)
    random_run(tmp_path / "runs" / "five", cube, num_classes=5)
    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent, runs_dir=tmp_path / "runs")
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    events = {getattr(f.fn, "__name__", None): f for f in demo.fns.values()}
    a_builds, b_wrote = threading.Event(), threading.Event()
    write_map, offer_map = session_module.classify_scene, viewer.map_download

    def classify_scene(*args: Any, **kwargs: Any) -> Any:
        out = write_map(*args, **kwargs)
        if threading.current_thread().name == "B":
            b_wrote.set()
        return out

    def map_download(s: viewer.ViewerSession) -> Any:
        if threading.current_thread().name == "A":  # A's map is published; its outputs are being built
            a_builds.set()
            b_wrote.wait(2)  # before: B wrote its map.tif over A's meanwhile; now B waits its turn
        return offer_map(s)

    monkeypatch.setattr(session_module, "classify_scene", classify_scene)
    monkeypatch.setattr(viewer, "map_download", map_download)
    state = viewer.ViewerSession(config=cfg)
    results: dict[str, tuple[Any, ...]] = {}

    def run(key: str) -> None:
        results[threading.current_thread().name] = events["run_classify"].fn(state, f"runs/{key}", False, 0.6, False,
                                                                             _no_progress)

    try:
        events["open_listed"].fn(state, envi_scene.name)
        a = threading.Thread(target=run, args=("three",), name="A")
        b = threading.Thread(target=run, args=("five",), name="B")
        a.start()
        assert a_builds.wait(30)
        b.start()
        a.join(60)
        b.join(60)
        for name, k in (("A", 3), ("B", 5)):
            out = results[name]
            assert out[-1] == "", out[-1]
            areas, map_file, status = out[2], out[3], out[5]
            cmap = read_class_map(map_file)
            assert status.startswith(f"runs/{'three' if k == 3 else 'five'}:")
            assert len(cmap.class_names) == k + 1, name  # A's download held B's 5-class map
            counts = np.bincount(np.asarray(cmap.classes).ravel(), minlength=k + 1)
            assert [(row[0], row[2]) for row in areas] == [(cmap.class_names[i], int(counts[i]))
                                                           for i in range(1, k + 1) if counts[i]], name
    finally:
        state.close()
