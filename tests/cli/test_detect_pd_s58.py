"""``hsi detect --truth`` reports Pd at Pfa 1e-3 and 1e-4 (pixel ROC) next to AUROC, in the line and the JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cli_runner import run_main

TARGETS = [(10, 12), (20, 30), (27, 40)]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> dict[str, Path]:  # noqa: ANN001
    """A 32 x 48 scene with a NaN border of 3 rows, three pure alpha pixels and a fourth, weaker one; truth points
    on all four."""
    import geopandas as gpd
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    speclib: ModuleType = load_fixture("speclib")
    d = tmp_path_factory.mktemp("detect_pd")
    image = speclib.background(5)
    alpha = np.interp(speclib.WAVELENGTHS, speclib.LIB_WL, speclib.library_spectra()[0])
    for r, c in TARGETS:
        image[:, r, c] = alpha
    image[:, 15, 5] = 0.2 * alpha + 0.8 * image[:, 15, 5]  # a sub-pixel target: not every target is easy
    image[:, :3, :] = np.nan
    tif = speclib.write_geotiff(d / "scene.tif", image)
    t = from_origin(500000.0, 4100000.0, 10.0, 10.0)
    pts = [Point(*(t * (c + 0.5, r + 0.5))) for r, c in [*TARGETS, (15, 5)]]
    gpd.GeoDataFrame({"class": ["alpha"] * len(pts)}, geometry=pts, crs="EPSG:32616").to_file(d / "truth.gpkg")
    return {"scene": tif, "dir": d, "truth": d / "truth.gpkg"}


def _pd_brute_force(scores: np.ndarray, truth: np.ndarray, pfa: float) -> float:
    """Best detection rate over every observed threshold (score >= it) with at most floor(pfa * B) false alarms."""
    ok = ~np.isnan(scores)
    s, t = scores[ok], truth[ok]
    allowed = math.floor(pfa * int((~t).sum()) + 1e-9)
    return max([float(np.mean(s[t] >= thr)) for thr in np.unique(s) if np.sum(s[~t] >= thr) <= allowed] + [0.0])


@pytest.mark.parametrize("method", ["rx", "rx-local"])
def test_pd_at_pfa_in_line_and_json(scene: dict[str, Path], capsys: pytest.CaptureFixture[str], method: str) -> None:
    import rasterio

    out, m = scene["dir"] / f"{method}.tif", scene["dir"] / f"{method}.json"
    code, printed, err = run_main(capsys, "detect", "--input", str(scene["scene"]), "--method", method,
                                  "--out", str(out), "--truth", str(scene["truth"]), "--metrics", str(m), "--quiet")
    assert code == 0, err
    metrics = json.loads(m.read_text())
    with rasterio.open(out) as ds:
        scores = ds.read(1).astype(np.float64)
    truth = np.zeros(scores.shape, bool)
    for r, c in [*TARGETS, (15, 5)]:
        truth[r, c] = True
    n_bg = int((~truth & ~np.isnan(scores)).sum())
    assert n_bg == 29 * 48 - 4  # 1000 <= n_bg < 10000: Pfa 1e-3 measurable, 1e-4 not
    want = _pd_brute_force(scores, truth, 1e-3)
    assert metrics["pd@pfa1e-3"] == pytest.approx(want, abs=1e-12)
    assert metrics["pd@pfa1e-4"] is None
    assert metrics["pd_null_reasons"] == {"pd@pfa1e-4": f"Pfa 0.0001 needs at least 10000 background pixels (one "
                                                        f"false alarm in 10000); {n_bg} scored"}
    assert f"auroc {metrics['auroc']:.3f}  pd@pfa1e-3 {want:.3f}  pd@pfa1e-4 n/a (Pfa 0.0001 needs" in printed
