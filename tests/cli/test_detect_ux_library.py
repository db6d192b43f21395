"""``hsi detect`` with a library measured over part of the scene's range (a VNIR field spectrometer against a
VNIR-SWIR scene stored as int16 reflectance x 10000 with a no-data border)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main

WL = np.linspace(420.0, 2400.0, 40)  # scene band centres, nm (spacing about 51 nm)
TARGETS = [(8, 10), (20, 33), (30, 18), (12, 40)]


def paint(wl: np.ndarray) -> np.ndarray:
    """Reflectance of the target material: bright in the VNIR, with an absorption at 700 nm, darker in the SWIR
    (which a VNIR library cannot know)."""
    return 0.6 - 0.3 * np.exp(-(((wl - 700.0) / 60.0) ** 2)) - 0.35 / (1 + np.exp(-(wl - 1300.0) / 40.0))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    d = tmp_path_factory.mktemp("detect_ux_library")
    rng = np.random.default_rng(11)
    h, w = 40, 50
    veg = 0.05 + 0.4 / (1 + np.exp(-(WL - 710.0) / 15.0)) - 0.2 * ((WL > 1400) & (WL < 1500))
    soil = 0.1 + 0.25 * (WL - 400.0) / 2000.0
    a = rng.random((h, w))
    cube = a[None] * veg[:, None, None] + (1 - a[None]) * soil[:, None, None] + rng.normal(0, 0.005, (WL.size, h, w))
    for r, c in TARGETS:
        cube[:, r, c] = 0.7 * paint(WL) + 0.3 * cube[:, r, c]
    data = np.round(cube * 10000).astype(np.int16)
    data[:, :3, :] = -9999  # no-data border
    t = from_origin(500000.0, 4200000.0, 30.0, 30.0)
    with rasterio.open(d / "scene.tif", "w", driver="GTiff", height=h, width=w, count=WL.size, dtype="int16",
                       crs="EPSG:32633", transform=t, nodata=-9999) as ds:
        ds.write(data)
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in WL), wavelength_units="nm")
    lib_wl = np.arange(400.0, 1001.0, 5.0)  # VNIR only
    np.savetxt(d / "vnir.csv", np.column_stack([lib_wl, paint(lib_wl)]), delimiter=",", header="wavelength,paint",
               comments="", fmt="%.6g")
    pts = [Point(*(t * (c + 0.5, r + 0.5))) for r, c in TARGETS]
    gpd.GeoDataFrame({"class": ["paint"] * len(pts)}, geometry=pts, crs="EPSG:32633").to_crs("EPSG:4326").to_file(
        d / "truth.gpkg")
    return {"scene": d / "scene.tif", "lib": d / "vnir.csv", "truth": d / "truth.gpkg", "dir": d}


@pytest.mark.parametrize("method", ["ace", "cem"])
def test_bands_beyond_the_library_are_left_out_not_invented(files: dict[str, Path], method: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The library covers 400-1000 nm, 12 of the 40 bands: the 28 SWIR bands got its 1000 nm value before,
    too bright for the target there, and ACE ranked the targets below the background (mAP@1px 0.01, AUROC
    0.39). On the measured bands all four targets are the strongest peaks."""
    m = files["dir"] / f"{method}.json"
    code, out, err = run_main(capsys, "detect", "--input", str(files["scene"]), "--method", method, "--targets",
                              str(files["lib"]), "--out", str(files["dir"] / f"{method}.tif"),
                              "--truth", str(files["truth"]), "--metrics", str(m), "--quiet")
    assert code == 0, err
    beyond = int((WL > 1000.0 + 51.0).sum())  # clearly beyond the library (more than a band spacing)
    line = next(x for x in err.splitlines() if "left out" in x)
    assert line.startswith("hsi: warning: ")
    left = int(line.split("so the ")[1].split(" ")[0])
    assert beyond <= left <= int((WL > 1000.0).sum()), line
    assert f"{files['lib']}: covers 400-1000 nm" in line and f"scored on the {WL.size - left} inside" in line
    assert "nearest library value" not in err
    metrics = json.loads(m.read_text())
    assert metrics["bands_left_out"] == left and metrics["extrapolated_bands"] == 0
    assert metrics["mAP@1px"] == 1.0 and metrics["auroc"] == 1.0
    with __import__("rasterio").open(files["dir"] / f"{method}.tif") as ds:  # the score map: the scene's grid
        assert ds.crs.to_epsg() == 32633 and ds.descriptions == ("paint",)
        assert np.isnan(ds.read(1)[:3]).all() and np.isfinite(ds.read(1)[3:]).all()


def test_hsi_batch_leaves_the_same_bands_out(files: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """`hsi batch --task detect` writes what `hsi detect` writes (it still filled the SWIR bands with the
    library's 1000 nm value); its sidecar records the bands left out."""
    import shutil

    import rasterio

    from hsi_app.batch import ClusterOptions, run_batch
    from hsi_app.batch.state import sidecar_path
    from hsi_app.batch.tasks import DetectOptions, detect_adapter

    (tmp_path / "in").mkdir()
    shutil.copy(files["scene"], tmp_path / "in" / "scene.tif")
    ref = tmp_path / "ref.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(files["scene"]), "--method", "ace", "--targets",
                            str(files["lib"]), "--out", str(ref), "--metrics", str(tmp_path / "m.json"),
                            "--truth", str(files["truth"]), "--quiet")
    assert code == 0, err
    left = json.loads((tmp_path / "m.json").read_text())["bands_left_out"]
    res = run_batch(detect_adapter(DetectOptions("ace", targets=str(files["lib"]))), None, [str(tmp_path / "in")],
                    tmp_path / "out", cluster=ClusterOptions(workers=1, processes=False, dashboard=False),
                    progress=False, echo=lambda s: None)
    assert [r.status for r in res.rows] == ["done"]
    out = tmp_path / "out" / "scene_scores.tif"
    with rasterio.open(out) as a, rasterio.open(ref) as b:
        np.testing.assert_array_equal(a.read(), b.read())
    side = json.loads(sidecar_path(out).read_text())
    assert left > 0 and side["bands_left_out"] == left
