"""Denoise and Detect tabs: before/after images and spectra, heat-maps, points and downloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hsi_app import viewer
from hsi_app.errors import ConfigError, HSIWarning
from hsi_app.io.cube import make_cube
from hsi_app.io.open import open_cube
from hsi_app.viewer import denoise as vdenoise
from hsi_app.viewer import detect as vdetect


def test_rx_heat_map_points_and_downloads(envi_session) -> None:  # noqa: ANN001
    import geopandas as gpd
    import rasterio

    view = vdetect.detect(envi_session, "rx", quantile=99.0, max_points=10)
    scores = envi_session.extras["detect"]["scores"]
    finite = scores[np.isfinite(scores)]
    assert view.threshold == pytest.approx(np.percentile(finite, 99.0))
    assert view.rows and all(r[1] > view.threshold for r in view.rows)
    assert [r[1] for r in view.rows] == sorted((r[1] for r in view.rows), reverse=True)
    s = envi_session.scale
    assert view.heat.shape == (24 * s, 20 * s, 3)
    assert (view.heat == vdetect.POINT_COLOUR).all(axis=-1).any()  # points are drawn
    with rasterio.open(view.scores_path) as ds:
        np.testing.assert_allclose(ds.read(1), scores[0], equal_nan=True)
        assert ds.crs == envi_session.cube.rio.crs
    pts = gpd.read_file(view.points_path)
    assert len(pts) == len(view.rows) and pts.crs is not None


def test_target_methods_need_a_clicked_pixel_and_find_it(envi_session) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="click the pixel"):
        vdetect.detect(envi_session, "ace")
    viewer.select_row_col(envi_session, 10, 12)
    view = vdetect.detect(envi_session, "ace", quantile=99.0)
    best = view.rows[0]
    assert (int(best[2]), int(best[3])) == (10, 12) and best[1] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ConfigError, match="pick one of"):
        vdetect.detect(envi_session, "magic")


def test_heat_rgb_orders_scores_and_blacks_out_nan() -> None:
    scores = np.array([[[0.0, 1.0], [2.0, np.nan]]])
    rgb = vdetect.heat_rgb(scores, stretch=(0.0, 100.0))
    assert (rgb[1, 1] == 0).all()
    lum = rgb.astype(int).sum(-1)
    assert lum[0, 0] < lum[0, 1] < lum[1, 0]


def test_denoise_before_after_and_spectra(tmp_path: Path, denoise_run) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    cube = make_cube(rng.uniform(0.1, 0.5, size=(6, 12, 12)).astype(np.float32),
                     wavelength=np.linspace(450, 900, 6), bad_bands=[5], source=str(tmp_path / "synthetic"))
    run = denoise_run(tmp_path / "runs" / "den", cube)
    s = viewer.ViewerSession(config=viewer.ViewerConfig(runs_dir=tmp_path / "runs", models_dir=tmp_path / "none"))
    try:
        viewer.session._set_cube(s, cube, "synthetic")
        assert list(viewer.list_model_runs(s.config, "denoise")) == ["runs/den"]
        assert viewer.list_model_runs(s.config) == {}  # not offered as a classifier
        view = vdenoise.denoise(s, "runs/den", noise="gaussian:30", seed=3)
        with pytest.warns(HSIWarning, match="no georeference"):  # the synthetic input has no CRS either
            out = open_cube(view.path)
        assert out.hsi.shape == cube.hsi.shape and out.rio.crs == cube.rio.crs
        np.testing.assert_array_equal(np.asarray(out.values)[5], cube.values[5])  # bad band copied through
        m = view.metrics
        assert m is not None and set(m["input"]) >= {"psnr", "ssim", "sam"}
        saved = json.loads(view.metrics_path.read_text())  # which scene it denoised, as detect_metrics.json says
        assert (saved["scene"], saved["noise"], saved["seed"]) == ("synthetic", "gaussian:30", 3)
        noisy = vdenoise.noisy_copy(cube, viewer.DEFAULT_CACHE.get(run, "denoise"), "gaussian:30", 3)
        sigma = np.std(np.asarray(noisy.values)[:5] - cube.values[:5])
        assert sigma * 255 / (0.5 - 0.1) == pytest.approx(30, rel=0.2)  # noise on the model's [0, 1] scale
        assert view.before.shape == view.after.shape == (12 * s.scale, 12 * s.scale, 3)
        info = viewer.select_row_col(s, 4, 5)
        lines = {ln.get_label(): ln for ln in info["figure"].axes[0].get_lines()}
        assert {"spectrum", "noisy input", "denoised"} <= set(lines)
        np.testing.assert_allclose(np.asarray(lines["denoised"].get_ydata())[:5], np.asarray(out.values)[:5, 4, 5],
                                   rtol=1e-6)
    finally:
        s.close()


@pytest.mark.parametrize("quantile", [100.0, 100.5, -0.1, float("nan")])
def test_percentile_refusal_states_the_half_open_range(envi_session, quantile: float) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as refused:
        vdetect.detect(envi_session, "rx", quantile=quantile)
    assert str(refused.value) == (f"threshold percentile {quantile:g}: must be at least 0 and below 100 "
                                  "(e.g. 99.9)")


def test_percentile_zero_is_accepted(envi_session) -> None:  # noqa: ANN001
    view = vdetect.detect(envi_session, "rx", quantile=0.0, max_points=3)
    finite = envi_session.extras["detect"]["scores"]
    assert view.threshold == pytest.approx(float(np.nanmin(finite)))
