"""``hsi detect --truth`` as a remote-sensing user meets it: truth points in another CRS, some on the scene's
no-data border, with class names of their own."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cli_runner import assert_one_error_line, run_main

TARGETS = [(10, 12), (20, 30), (27, 40)]  # (row, col) of the implanted alpha pixels
ON_NODATA = (1, 20)  # a truth point on the no-data border (rows 0..2)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, load_fixture) -> dict[str, Path]:  # noqa: ANN001
    """A 32 x 48 UTM scene with a NaN border of 3 rows and three pure alpha pixels; truth in EPSG:4326."""
    import geopandas as gpd
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    speclib: ModuleType = load_fixture("speclib")
    d = tmp_path_factory.mktemp("detect_ux_truth")
    image = speclib.background(5)
    alpha = np.interp(speclib.WAVELENGTHS, speclib.LIB_WL, speclib.library_spectra()[0])
    for r, c in TARGETS:
        image[:, r, c] = alpha
    image[:, :3, :] = np.nan
    tif = speclib.write_geotiff(d / "scene.tif", image)
    t = from_origin(500000.0, 4100000.0, 10.0, 10.0)

    def truth(name: str, cells: list[tuple[int, int]], cls: str) -> Path:
        pts = [Point(*(t * (c + 0.5, r + 0.5))) for r, c in cells]
        gdf = gpd.GeoDataFrame({"class": [cls] * len(pts)}, geometry=pts, crs="EPSG:32616").to_crs("EPSG:4326")
        gdf.to_file(d / name)
        return d / name

    return {"scene": tif, "lib": speclib.write_csv(d / "lib.csv"), "dir": d,
            "truth": truth("truth.gpkg", [*TARGETS, ON_NODATA], "alpha"),
            "car": truth("car.gpkg", TARGETS, "car"),
            "border": truth("border.gpkg", [ON_NODATA, (0, 5)], "alpha")}


def test_a_target_on_no_data_is_left_out_not_counted_missed(scene: dict[str, Path],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Every target on data is found first, so the mAPs are 1; the one on the NaN border cannot be found
    (AUROC skips its pixel) and is left out with a warning, not scored as a miss (mAP 0.75)."""
    m = scene["dir"] / "m.json"
    code, out, err = run_main(capsys, "detect", "--input", str(scene["scene"]), "--method", "ace", "--targets",
                              str(scene["lib"]), "--material", "alpha", "--out", str(scene["dir"] / "a.tif"),
                              "--truth", str(scene["truth"]), "--metrics", str(m), "--quiet")
    assert code == 0, err
    assert f"{scene['truth']}: 1 of 4 targets lie on no-data pixels of the scene and are left out of the metrics" in err
    metrics = json.loads(m.read_text())
    assert metrics["n_targets"] == 3
    assert metrics["mAP@1px"] == 1.0 and metrics["auroc"] == 1.0
    # the point mAPs' distances are pixels: what a pixel is on the ground (10 m, UTM) is said and recorded
    assert "(3 targets; 1 px = 10 m)" in out
    assert metrics["pixel_size"] == [10.0, 10.0] and metrics["pixel_units"] == "metre"


def test_truth_only_on_no_data_is_one_error_line(scene: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "detect", "--input", str(scene["scene"]), "--method", "rx",
                            "--out", str(scene["dir"] / "b.tif"), "--truth", str(scene["border"]), "--quiet")
    assert_one_error_line(code, err, str(scene["border"]), "all 2 targets lie on no-data pixels")


def test_truth_classes_matching_no_target_are_refused(scene: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Truth named "car" against three library materials: the points were all scored as the first material
    (alpha) before, silently."""
    code, _, err = run_main(capsys, "detect", "--input", str(scene["scene"]), "--method", "ace", "--targets",
                            str(scene["lib"]), "--out", str(scene["dir"] / "c.tif"), "--truth", str(scene["car"]),
                            "--quiet")
    assert_one_error_line(code, err, str(scene["car"]), "(car)", "alpha, beta, gamma", "--material")
    assert not (scene["dir"] / "c.tif").exists()


def test_one_target_scores_differently_named_truth_with_a_warning(scene: dict[str, Path],
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "detect", "--input", str(scene["scene"]), "--method", "ace", "--targets",
                              str(scene["lib"]), "--material", "alpha", "--out", str(scene["dir"] / "d.tif"),
                              "--truth", str(scene["car"]), "--quiet")
    assert code == 0, err
    assert "its classes (car) are not the target's name alpha; every point is scored as alpha" in err
    assert "mAP@1px 1.000" in out
    # RX names no class: the truth's classes are not read, and nothing is said about them
    code, out, err = run_main(capsys, "detect", "--input", str(scene["scene"]), "--method", "rx",
                              "--out", str(scene["dir"] / "e.tif"), "--truth", str(scene["car"]), "--quiet")
    assert code == 0, err
    assert "car" not in err and "class-agnostic" in out
