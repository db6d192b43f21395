"""The viewer through its HTTP API (gradio_client) against a live ``hsi serve`` on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("gradio_client")


@pytest.fixture(scope="module")
def client(viewer_server: str):  # noqa: ANN201
    from gradio_client import Client

    return Client(viewer_server, verbose=False)


def test_serve_cli_defaults_to_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.cli import serve_cmd
    from hsi_app.cli.main import cli

    calls: list[dict] = []

    class FakeApp:
        @staticmethod
        def launch(config, **kw):  # noqa: ANN001, ANN205
            calls.append({"config": config, **kw})

    monkeypatch.setattr(serve_cmd, "load_web_app", lambda: FakeApp)
    result = CliRunner().invoke(cli, ["serve", "--max-upload", "10MB"])
    assert result.exit_code == 0, result.output
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 7860
    assert calls[0]["config"].max_upload_bytes == 10 * 1024**2
    bad = CliRunner().invoke(cli, ["serve", "--max-upload", "huge"])
    assert bad.exit_code != 0 and "not understood" in str(bad.exception)


def test_scene_classify_pixel_and_downloads(client) -> None:  # noqa: ANN001
    out = client.predict("indian_pines", api_name="/open_scene")
    image, info = out[0], out[1]
    assert "145 × 145 px, 200 bands" in info
    assert Path(image).is_file()
    classify_models, denoise_models, detect_models = client.predict(api_name="/models")
    assert ["runs/tiny", "runs/tiny"] in classify_models["choices"]
    shipped = ["models/indian_pines_hsdt_s_mixture", "models/indian_pines_hsdt_subspace_g50"]  # no detector ships
    assert denoise_models["choices"] == [[m, m] for m in shipped] and detect_models["choices"] == []
    img, legend, areas, map_file, metrics_file, status, show = client.predict(
        "runs/tiny", False, 0.6, api_name="/classify")
    assert 'class="hsi-legend-item"' in legend and "runs/tiny" in status
    metrics = json.loads(Path(metrics_file).read_text())
    assert sum(c["pixels"] for c in metrics["classes"]) == 145 * 145
    # built-in Indian Pines: no CRS, nominal 20 m pixels -> 0.04 ha per pixel
    assert metrics["pixel_area_m2"] == pytest.approx(400.0)
    assert all(c["hectares"] == pytest.approx(round(c["pixels"] * 0.04, 2)) for c in metrics["classes"])
    assert "reference_agreement" in metrics and "smooth" not in metrics
    from hsi_app.io.cog import read_class_map

    plain = read_class_map(map_file)
    _, _, _, smooth_file, smooth_metrics, _, _ = client.predict("runs/tiny", False, 0.6, True, api_name="/classify")
    assert json.loads(Path(smooth_metrics).read_text())["smooth"] == "guided:2,0.001,3"
    smoothed = read_class_map(smooth_file)
    assert smoothed.classes.shape == (145, 145) and (smoothed.classes > 0).all()
    assert (smoothed.classes != plain.classes).any()  # the guided filter changed the map
    cmap = smoothed
    assert cmap.classes.shape == (145, 145) and cmap.class_names[1] == "Alfalfa"
    _, text, plot, row, col = client.predict(10, 20, 0.6, True, api_name="/pixel")
    k = int(cmap.classes[10, 20])
    assert "row 10, col 20" in text and f"**Predicted** {cmap.class_names[k]}" in text
    assert plot is not None and (row, col) == (10, 20)
    import geopandas as gpd

    pts = gpd.read_file(client.predict(api_name="/points"))
    assert len(pts) == 1 and pts["class"].iloc[0] == cmap.class_names[k]
    assert pts.geometry.x.iloc[0] == pytest.approx(20.5) and pts.geometry.y.iloc[0] == pytest.approx(10.5)


def test_detect_tab_rx_points(client, envi_scene: Path) -> None:  # noqa: ANN001
    import geopandas as gpd

    client.predict(envi_scene.name, api_name="/open_scene")
    heat, table, status, scores, points, metrics = client.predict("rx", 99.0, 5, "5,21", None, api_name="/detect")
    assert status.startswith("rx: ") and Path(heat).is_file() and Path(scores).is_file()
    rows = table["data"]
    assert 1 <= len(rows) <= 5 and len(gpd.read_file(points)) == len(rows)
    assert json.loads(Path(metrics).read_text())["points"] == len(rows)


def test_listed_scene_with_crs_and_band_choice(client, envi_scene: Path) -> None:  # noqa: ANN001
    out = client.predict(envi_scene.name, api_name="/open_scene")
    assert "CRS" in out[1] and "24 × 20 px" in out[1]
    img, r, g, b = client.predict(0.0, 100.0, 0.5, True, api_name="/true_colour")
    assert r != b
    _, text, *_ = client.predict(3, 7, 0.5, True, api_name="/pixel")
    assert "row 3, col 7 · x" in text  # map coordinates shown when there is a CRS


def test_upload_geotiff_through_the_api(client, tmp_path: Path) -> None:  # noqa: ANN001
    import rasterio
    from gradio_client import handle_file
    from rasterio.transform import from_origin

    path = tmp_path / "field.tif"
    with rasterio.open(path, "w", driver="GTiff", height=10, width=12, count=5, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(500000, 4200000, 10, 10)) as ds:
        ds.write(np.random.default_rng(0).uniform(size=(5, 10, 12)).astype(np.float32))
    out = client.predict(handle_file(str(path)), api_name="/upload_scene")  # a client written before: one file
    assert out[1].startswith("**field.tif**: 10 × 12 px, 5 bands") and "EPSG:32633" in out[1]
    _, text, *_ = client.predict(2, 3, 0.5, True, api_name="/pixel")
    assert "x 500035.00, y 4199975.00 (EPSG:32633)" in text  # pixel centre of row 2, col 3 on the 10 m grid
    client.predict("indian_pines", api_name="/open_scene")
    out = client.predict([handle_file(str(path))], api_name="/upload_files")  # the page's box: a list of files
    assert out[1].startswith("**field.tif**: 10 × 12 px, 5 bands") and "EPSG:32633" in out[1]
    _, text, *_ = client.predict(2, 3, 0.5, True, api_name="/pixel")
    assert "x 500035.00, y 4199975.00 (EPSG:32633)" in text


def test_errors_are_readable_messages_not_tracebacks(client, viewer_server: str, envi_scene: Path,  # noqa: ANN001
                                                     tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    client.predict(envi_scene.name, api_name="/open_scene")

    with pytest.raises(Exception) as err:
        client.predict("no_such_scene", api_name="/open_scene")
    text = str(err.value)
    assert ("not a listed scene" in text or "not in the list of choices" in text) and "Traceback" not in text
    with pytest.raises(Exception) as err:
        client.predict(999, 0, 0.6, True, api_name="/pixel")
    assert "outside the 24 × 20 scene" in str(err.value) and "Traceback" not in str(err.value)
    fresh = Client(viewer_server, verbose=False)
    with pytest.raises(Exception) as err:
        fresh.predict(1, 1, 0.6, True, api_name="/pixel")
    assert "no scene is open" in str(err.value)
    fake = tmp_path / "scene.tif"
    fake.write_text("definitely not a GeoTIFF")
    with pytest.raises(Exception) as err:
        client.predict([handle_file(str(fake))], api_name="/upload_files")
    assert "checked its content" in str(err.value) and "Traceback" not in str(err.value)
    big = tmp_path / "big.tif"
    big.write_bytes(b"II*\x00" + np.zeros(6 * 1024**2, np.uint8).tobytes())  # server limit: 5 MB
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(big)), api_name="/upload_scene")  # a client of before the box took several files
    assert "Traceback" not in str(err.value)
    with pytest.raises(Exception) as err:
        client.predict("ace", 99.9, 10, "5,21", None, api_name="/detect")
    assert "click the pixel" in str(err.value)
    with pytest.raises(Exception) as err:
        client.predict("runs/../../etc", False, 0.6, api_name="/classify")
    assert "Traceback" not in str(err.value)
