"""Every raster output of a scene georeferenced only by ground control points carries the points and their CRS:
the denoised cube (``hsi denoise``), the detection score map (``hsi detect``), ``hsi simulate-targets``' scene and
abundance maps and a cube written back with ``write_cube``, as the class map does (tests/infer/test_gcp_class_map.py). They had none, so GIS software could
not place them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from cli_runner import run_main
from tests.tasks.test_denoising import untrained_run

from hsi_app.errors import HSIWarning
from hsi_app.io.cog import write_cube
from hsi_app.io.open import open_cube

WL = np.linspace(450.0, 900.0, 8)  # the untrained denoise run's bands
H, W = 24, 28


def _gcp_scene(path: Path) -> list[GroundControlPoint]:
    """An 8-band float32 GeoTIFF with 5 GCPs in UTM 33N (a rotated, sheared grid) and no geotransform."""
    gcps = [GroundControlPoint(row=r, col=c, x=500000.0 + 30 * c + 3 * r, y=4100000.0 - 30 * r + 2 * c)
            for r, c in ((0, 0), (0, W), (H, 0), (H, W), (9.5, 11.25))]
    yy, xx = np.mgrid[0:H, 0:W] / 6.0
    values = np.stack([1000 + 800 * (np.sin(yy + k) + 1.2) + 300 * np.cos(xx) for k in range(WL.size)])
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=WL.size, dtype="float32") as ds:
        ds.write(values.astype(np.float32))
        ds.gcps = (gcps, CRS.from_epsg(32633))
        ds.update_tags(wavelength=",".join(str(w) for w in WL), wavelength_units="nm")
    return gcps


def _same_points(path: Path, gcps: list[GroundControlPoint], *, shift: tuple[float, float] = (0.0, 0.0)) -> None:
    with rasterio.open(path) as ds:
        got, crs = ds.gcps
        assert ds.crs is None and ds.transform.is_identity  # still not gridded: the points place it
    assert crs == CRS.from_epsg(32633)
    np.testing.assert_allclose([(g.row, g.col, g.x, g.y) for g in got],
                               [(g.row - shift[0], g.col - shift[1], g.x, g.y) for g in gcps])


def test_hsi_denoise_keeps_the_gcps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = tmp_path / "gcp.tif"
    gcps = _gcp_scene(scene)
    run = untrained_run(tmp_path)
    out = tmp_path / "clean.tif"
    code, _, err = run_main(capsys, "denoise", "--model", str(run), "--input", str(scene), "--out", str(out), "--quiet")
    assert code == 0, err
    assert "5 ground control points" in err and "raster outputs keep the points" in err
    _same_points(out, gcps)
    with rasterio.open(out) as ds:
        assert ds.count == WL.size and np.isfinite(ds.read()).all()


def test_hsi_detect_score_map_keeps_the_gcps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scene = tmp_path / "gcp.tif"
    gcps = _gcp_scene(scene)
    out = tmp_path / "rx.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(scene), "--method", "rx", "--out", str(out), "--quiet")
    assert code == 0, err
    _same_points(out, gcps)
    with rasterio.open(out) as ds:
        assert ds.count == 1 and ds.read(1).shape == (H, W)


def test_write_cube_keeps_the_gcps_of_a_crop(tmp_path: Path) -> None:
    scene = tmp_path / "gcp.tif"
    gcps = _gcp_scene(scene)
    with pytest.warns(HSIWarning, match="ground control points"):
        cube = open_cube(scene)
    write_cube(tmp_path / "crop.tif", cube.isel(y=slice(3, 20), x=slice(5, 25)), progress=False)
    _same_points(tmp_path / "crop.tif", gcps, shift=(3.0, 5.0))
    with rasterio.open(tmp_path / "crop.tif") as ds:
        np.testing.assert_array_equal(ds.read(), cube.values[:, 3:20, 5:25])


def test_hsi_simulate_targets_keeps_the_gcps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """scene.tif and abundance.tif are on the background's pixel grid: both carry its points (they had none)."""
    scene = tmp_path / "gcp.tif"
    gcps = _gcp_scene(scene)
    library = Path(__file__).resolve().parents[2] / "datasets" / "spectral_library_demo.csv"
    out = tmp_path / "sim"
    code, _, err = run_main(capsys, "simulate-targets", "--background", str(scene), "--targets", str(library),
                            "--n-targets", "2", "--min-distance", "8", "--out", str(out), "--quiet")
    assert code == 0, err
    assert "raster outputs keep the points" in err
    for name, bands in (("scene.tif", WL.size), ("abundance.tif", 2)):
        _same_points(out / name, gcps)
        with rasterio.open(out / name) as ds:
            assert ds.count == bands and ds.read(1).shape == (H, W)
