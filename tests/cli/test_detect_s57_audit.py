"""Session 57 audit of ``hsi detect`` on user-like scenes: inputs it must refuse in one line, writing nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main


def _scene(path: Path, data: np.ndarray, wl: np.ndarray, nodata: float) -> Path:
    """Write ``data`` ``(C, H, W)`` as a float32 UTM GeoTIFF with wavelength tags and a no-data value."""
    import rasterio
    from rasterio.transform import from_origin

    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(400000.0, 5000000.0, 30.0, 30.0), nodata=nodata) as ds:
        ds.write(data.astype(np.float32))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wl), wavelength_units="nm")
    return path


def test_learned_detect_refuses_a_scene_that_is_all_no_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """rx/mf/ace/cem refuse a scene whose every pixel is no-data; learned wrote an all-NaN score map (and an
    empty points file) and exited 0, as if it had looked and found nothing."""
    from tiny_runs import make_run

    wl = np.linspace(450.0, 900.0, 6)
    run = make_run(tmp_path / "run", model="test_point_detector", in_chans=6, num_classes=2, task="detect",
                   class_names=["background", "a", "b"], wavelengths=wl, mean=[0.2] * 6, std=[0.03] * 6)
    empty = _scene(tmp_path / "empty.tif", np.full((6, 20, 24), -9999.0), wl, -9999.0)
    out, pts = tmp_path / "scores.tif", tmp_path / "points.gpkg"
    code, _, err = run_main(capsys, "detect", "--input", str(empty), "--method", "learned", "--model", str(run),
                            "--out", str(out), "--points", str(pts), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert str(empty) in err and "no-data" in err, err
    assert not out.exists() and not pts.exists()
    # the same scene with data is scored (the refusal is about the data, not the run)
    rng = np.random.default_rng(0)
    full = _scene(tmp_path / "full.tif", 0.2 + 0.03 * rng.standard_normal((6, 20, 24)), wl, -9999.0)
    code, _, err = run_main(capsys, "detect", "--input", str(full), "--method", "learned", "--model", str(run),
                            "--out", str(out), "--quiet")
    assert code == 0 and out.is_file(), err
