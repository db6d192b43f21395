"""A scene georeferenced only by ground control points (no geotransform) is mapped in pixel coordinates; its
class map carries the same points and their CRS, so GIS software can place it (it had none)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from cli_runner import run_main
from tiny_runs import make_run

from hsi_app.errors import HSIWarning
from hsi_app.infer import predict_scene
from hsi_app.io.open import open_cube

WL = np.linspace(450.0, 850.0, 5)
H, W = 20, 30


def _gcp_scene(path: Path) -> tuple[list[GroundControlPoint], CRS]:
    gcps = [GroundControlPoint(row=r, col=c, x=500000.0 + 30 * c + 3 * r, y=4100000.0 - 30 * r + 2 * c, z=10.0 * i)
            for i, (r, c) in enumerate(((0, 0), (0, W), (H, 0), (H, W), (7.5, 12.25)))]
    crs = CRS.from_epsg(32633)
    values = np.random.default_rng(0).uniform(0.1, 0.6, size=(5, H, W)).astype(np.float32)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=5, dtype="float32") as ds:
        ds.write(values)
        ds.gcps = (gcps, crs)
        ds.update_tags(wavelength=",".join(str(w) for w in WL), wavelength_units="nm")
    return gcps, crs


def _points(gcps: list[GroundControlPoint]) -> np.ndarray:
    return np.array([(g.row, g.col, g.x, g.y, g.z) for g in gcps], dtype=np.float64).reshape(-1, 5)


def test_hsi_predict_keeps_the_gcps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = tmp_path / "gcp.tif"
    gcps, crs = _gcp_scene(scene)
    run = make_run(tmp_path / "run", in_chans=5, wavelengths=WL)
    out = tmp_path / "map.tif"
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene), "--out", str(out), "--quiet")
    assert code == 0, err
    assert "5 ground control points" in err  # still said: the map is in pixel coordinates
    with rasterio.open(scene) as src, rasterio.open(out) as ds:
        got, got_crs = ds.gcps
        np.testing.assert_allclose(_points(got), _points(src.gcps[0]))
        np.testing.assert_allclose(_points(got), _points(gcps))
        assert got_crs == crs and ds.crs is None and ds.transform.is_identity
        assert ds.read(1).shape == (H, W) and (ds.read(1) > 0).all()


def test_a_crop_shifts_them_and_a_strided_pick_drops_them(tmp_path: Path) -> None:
    scene = tmp_path / "gcp.tif"
    gcps, crs = _gcp_scene(scene)
    with pytest.warns(HSIWarning, match="ground control points"):
        cube = open_cube(scene)

    def probs(x: np.ndarray) -> np.ndarray:
        return np.full((3, *x.shape[1:]), 1 / 3, np.float32)

    predict_scene(probs, cube.isel(y=slice(4, 15), x=slice(6, 30)), num_classes=3, halo=0,
                  out=tmp_path / "crop.tif", progress=False)
    with rasterio.open(tmp_path / "crop.tif") as ds:
        got, got_crs = ds.gcps
    np.testing.assert_allclose(_points(got), _points(gcps) - [4, 6, 0, 0, 0])
    assert got_crs == crs
    predict_scene(probs, cube.isel(x=slice(0, 30, 2)), num_classes=3, halo=0, out=tmp_path / "strided.tif",
                  progress=False)
    with rasterio.open(tmp_path / "strided.tif") as ds:
        assert ds.gcps[0] == []
