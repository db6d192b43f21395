"""Session 57 review of the detection fixes: ``hsi detect``/``simulate-targets``/``train --task detect`` lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main


def _scene(path: Path, data: np.ndarray, wl: np.ndarray, nodata: float = -9999.0) -> Path:
    """Write ``data`` ``(C, H, W)`` as a float32 UTM GeoTIFF (30 m pixels) with wavelength tags and a no-data value."""
    import rasterio
    from rasterio.transform import from_origin

    c, h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=c, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(400000.0, 5000000.0, 30.0, 30.0), nodata=nodata) as ds:
        ds.write(data.astype(np.float32))
        ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in wl), wavelength_units="nm")
    return path


def _background(tmp_path: Path, load_fixture) -> Path:  # noqa: ANN001
    """The speclib fixture's 12-band background (32 x 48, UTM)."""
    speclib = load_fixture("speclib")
    return _scene(tmp_path / "bg.tif", speclib.background(2).astype(np.float64), speclib.WAVELENGTHS)


def _truth(path: Path, classes: list[str | None]) -> Path:
    """Points at pixels (5, 6), (20, 30), (12, 40)... of the background, one per class cell."""
    import geopandas as gpd
    from shapely.geometry import Point

    x0, y0 = 400000.0, 5000000.0
    cells = [(5, 6), (20, 30), (12, 40), (25, 10)][:len(classes)]
    points = [Point(x0 + 30 * (c + 0.5), y0 - 30 * (r + 0.5)) for r, c in cells]
    gpd.GeoDataFrame({"class": classes}, geometry=points, crs="EPSG:32633").to_file(path)
    return path


@pytest.mark.parametrize("cell", [None, "", "  "])
def test_one_target_scores_truth_points_without_a_class(tmp_path: Path, load_fixture, cell: str | None,  # noqa: ANN001
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Scoring one target (--material alpha), every truth point is scored as it (README); a point with an empty
    class cell was refused ('have no class ... fill in each point's target (alpha)') instead."""
    import json

    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    truth = _truth(tmp_path / "truth.gpkg", [cell, "alpha", cell])
    metrics = tmp_path / "m.json"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "ace", "--targets", str(lib),
                            "--material", "alpha", "--truth", str(truth), "--out", str(tmp_path / "ace.tif"),
                            "--metrics", str(metrics), "--quiet")
    assert code == 0, err
    assert "2 of 3 points have no class" in err and "scored as the target alpha" in err, err
    assert json.loads(metrics.read_text())["n_targets"] == 3


@pytest.mark.parametrize("cell", ["", "   "])
def test_an_empty_text_class_cell_is_no_class(tmp_path: Path, load_fixture, cell: str,  # noqa: ANN001
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A GeoPackage gives an empty text cell back as '' (not missing): with two targets it was refused as
    'classes  are not among the targets alpha, beta; rename them', naming a class of no letters."""
    speclib = load_fixture("speclib")
    bg = _background(tmp_path, load_fixture)
    lib = speclib.write_csv(tmp_path / "lib.csv")
    truth = _truth(tmp_path / "truth.gpkg", ["alpha", cell, "beta"])
    out = tmp_path / "ace.tif"
    code, _, err = run_main(capsys, "detect", "--input", str(bg), "--method", "ace", "--targets", str(lib),
                            "--truth", str(truth), "--out", str(out), "--quiet")
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{truth}: 1 of 3 points have no class" in err and "alpha, beta" in err, err
    assert not out.exists()
