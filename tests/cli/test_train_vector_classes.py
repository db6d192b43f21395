"""``hsi train`` with vector labels names a class whose features label no pixel of the scene (audit s56 train #7;
the test fails on the old code, which counted the features outside the scene but trained the class's output on
nothing without naming the class).
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from cli_runner import run_main

WEST, NORTH, PX, H, W = 500000.0, 4100000.0, 30.0, 20, 24


def _scene(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    data = rng.normal(1000.0, 20.0, (4, H, W)).astype(np.int16)
    data[:, :, W // 2 :] += np.array([300, -300, 300, -300], np.int16)[:, None, None]
    path = folder / "scene.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=4, dtype="int16", crs="EPSG:32633",
                       transform=from_origin(WEST, NORTH, PX, PX), nodata=-9999) as ds:
        ds.write(data)
        for b, wl in enumerate((500, 600, 700, 800), start=1):
            ds.set_band_description(b, f"{wl} nm")
    return path


def _fields(folder: Path, wetland_west: float) -> Path:
    def cells(c0: int, r0: int, c1: int, r1: int):  # noqa: ANN202
        return box(WEST + c0 * PX, NORTH - r1 * PX, WEST + c1 * PX, NORTH - r0 * PX)

    frame = gpd.GeoDataFrame(
        {"landcover": ["forest", "water", "wetland"]},
        geometry=[cells(1, 1, 10, 18), cells(13, 1, 23, 18),
                  box(wetland_west, NORTH - 5 * PX, wetland_west + 4 * PX, NORTH - PX)],
        crs="EPSG:32633").to_crs("EPSG:4326")
    path = folder / "fields.gpkg"
    frame.to_file(path, driver="GPKG")
    return path


@pytest.mark.parametrize(("column", "named"), [
    (-40, True),  # wetland's one feature lies west of the scene
    (3, True),  # wholly over forest: every pixel shared with another class, so left unlabelled
    (8, False),  # half over forest: columns 10-11 are wetland's alone, so it has pixels
])
def test_a_named_class_without_pixels_is_named(column: int, named: bool, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    scene = _scene(tmp_path)
    labels = _fields(tmp_path, WEST + column * PX)
    code, _, err = run_main(capsys, "train", "--data", str(scene), "--labels", str(labels), "--label-attribute",
                            "landcover", "--model", "svm", "--split", "random:0.5", "--out", str(tmp_path / "run"))
    assert code == 0, err
    names = json.loads((tmp_path / "run" / "config.json").read_text())["class_names"]
    assert names == ["unlabelled", "forest", "water", "wetland"]
    said = [line for line in err.splitlines() if "class 3 (wetland)" in line]
    if not named:
        assert said == [], err
    else:
        assert len(said) == 1 and said[0].startswith(f"hsi: warning: {labels}: class 3 (wetland) labels no pixel"), err
        assert "trained by nothing" in said[0]
