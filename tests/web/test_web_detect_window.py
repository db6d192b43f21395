"""The Detect tab's "rx-local window" box matters to rx-local only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hsi_app import viewer
from hsi_app.errors import ConfigError
from hsi_app.viewer import detect as vdetect

gr = pytest.importorskip("gradio")


def _no_progress(*args: Any, **kwargs: Any) -> None:
    return None


@pytest.fixture(scope="module")
def run_detect(envi_scene: Path):  # noqa: ANN201
    """``run_detect(method, window)``: the page's Detect event on the ENVI scene, its outputs returned."""
    from hsi_app.cli.serve_cmd import load_web_app

    cfg = viewer.ViewerConfig(scenes_dir=envi_scene.parent)
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    event = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", None) == "run_detect")
    state = viewer.ViewerSession(config=cfg)
    viewer.open_scene(state, envi_scene.name)
    yield lambda method, window: event(state, method, 99.0, 5, window, None, False, _no_progress)
    state.close()


@pytest.mark.parametrize("window", ["5", "", "a,b", None])
def test_global_rx_ignores_a_bad_window_box(run_detect, window) -> None:  # noqa: ANN001
    out = run_detect("rx", window)
    assert out[-1] == "" and out[2].startswith("rx: ")


def test_other_methods_give_their_own_message_not_the_window_one(run_detect) -> None:  # noqa: ANN001
    assert "needs a detect run" in run_detect("learned", "5")[-1]
    assert "needs a target" in run_detect("ace", "5")[-1]


def test_rx_local_reads_the_window_box(run_detect) -> None:  # noqa: ANN001
    assert run_detect("rx-local", "5")[-1] == "rx-local window '5': write INNER,OUTER, e.g. 5,21"
    assert run_detect("rx-local", "3,9")[2].startswith("rx-local: ")


def test_parse_rx_window() -> None:
    assert vdetect.parse_rx_window(" 3, 9") == (3, 9)
    assert vdetect.rx_window_for("rx", "junk") == vdetect.DEFAULT_RX_WINDOW
    with pytest.raises(ConfigError, match="write INNER,OUTER"):
        vdetect.rx_window_for("rx-local", "5,21,3")
