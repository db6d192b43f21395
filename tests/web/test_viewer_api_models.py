"""An API client (``gradio_client``) can run a model by its key at once, as the page can after loading:
the model lists are filled when the app is built, not only by the page's own load event (or ``/models``)."""

from __future__ import annotations

import pytest

pytest.importorskip("gradio_client")


def test_fresh_client_classifies_without_asking_for_the_models_first(viewer_server: str) -> None:
    from gradio_client import Client

    client = Client(viewer_server, verbose=False)  # a new session: no page load, no /models call
    client.predict("indian_pines", api_name="/open_scene")
    out = client.predict("runs/tiny", False, 0.6, False, api_name="/classify")
    status = out[5]
    assert status.startswith("runs/tiny: 145 × 145 px"), status
    rows = out[2]["data"]
    assert sum(r[2] for r in rows) == 145 * 145  # every pixel of Indian Pines has a class


def test_build_offers_the_models_found_at_start(tmp_path, indian_pines_runs) -> None:  # noqa: ANN001
    from hsi_app import viewer
    from hsi_app.cli.serve_cmd import load_web_app

    cfg = viewer.ViewerConfig(runs_dir=indian_pines_runs)
    demo = load_web_app().build_app(cfg, viewer.ModelCache())
    config = demo.get_config_file()
    boxes = {c["props"].get("elem_id"): c["props"] for c in config["components"] if "props" in c}
    expected = sorted(viewer.list_model_runs(cfg, "classification"))
    assert "runs/tiny" in expected
    assert sorted(v for v, _ in boxes["hsi-model"]["choices"]) == expected
    assert boxes["hsi-model"]["value"] == list(viewer.list_model_runs(cfg, "classification"))[0]
