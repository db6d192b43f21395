"""`hsi info --labels`: per-class counts are of labelled pixels on valid data (what a run uses), with the pixels a
class has on no-data beside them, and every count carries thousands separators (audit s57 #1, #2)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HSI = [sys.executable, "-m", "hsi_app.cli.main"]
NODATA = -9999.0
H, W = 90, 80


def _write(path: Path, data: np.ndarray, nodata: float | None) -> None:
    import rasterio
    from rasterio.transform import from_origin

    profile = {"driver": "GTiff", "height": H, "width": W, "count": data.shape[0], "dtype": str(data.dtype),
               "crs": "EPSG:32633", "transform": from_origin(500_000.0, 4_600_020.0, 30.0, 30.0)}
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A 4-band UTM scene whose last 20 columns hold no data, and labels of three classes: class 1 has 2,400
    pixels, all on data; class 2 crosses the footprint edge; class 3 lies on no-data only."""
    root = tmp_path_factory.mktemp("info_counts")
    rng = np.random.default_rng(5)
    data = rng.normal(0.3, 0.02, size=(4, H, W)).astype(np.float32)
    data[:, :, 60:] = NODATA
    labels = np.zeros((H, W), np.uint8)
    labels[0:40, 0:60] = 1  # 2,400 px on data
    labels[50:80, 30:80] = 2  # 30 x 30 = 900 on data, 30 x 20 = 600 on no-data
    labels[82:90, 65:80] = 3  # 120 px, all on no-data
    _write(root / "scene.tif", data, NODATA)
    _write(root / "labels.tif", labels[None], None)
    valid = np.ones((H, W), bool)
    valid[:, 60:] = False
    return {"scene": root / "scene.tif", "labels": root / "labels.tif", "ids": labels, "valid": valid}


def _info(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HSI, "info", *args], capture_output=True, text=True, timeout=180)


def test_json_class_counts_are_labelled_pixels_on_valid_data(scene: dict) -> None:
    res = _info(str(scene["scene"]), "--labels", str(scene["labels"]), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    ids, valid = scene["ids"], scene["valid"]
    on_data = {f"class {k}": int(np.count_nonzero((ids == k) & valid)) for k in (1, 2, 3)}
    off_data = {f"class {k}": int(np.count_nonzero((ids == k) & ~valid)) for k in (1, 2, 3)}
    assert info["class_counts"] == on_data == {"class 1": 2400, "class 2": 900, "class 3": 0}
    assert info["class_counts_on_nodata"] == {k: v for k, v in off_data.items() if v} == {"class 2": 600, "class 3": 120}
    assert info["labelled_pixels"] == int(np.count_nonzero(ids)) == 4020
    assert info["labelled_on_nodata"] == 720 == sum(info["class_counts_on_nodata"].values())
    assert info["valid_pixels"] == int(valid.sum()) == 5400


def test_text_counts_have_thousands_separators_and_say_what_they_count(scene: dict) -> None:
    res = _info(str(scene["scene"]), "--labels", str(scene["labels"]))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "valid pixels 75.00% (5,400 of 7,200)" in lines
    assert "classes      3 (4,020 labelled pixels, 720 of them on no-data and not used)" in lines
    rows = {m.group(1): (m.group(2), m.group(3)) for m in
            (re.match(r"^  (class \d)\s+([\d,]+)(?:  \+ ([\d,]+) on no-data, not used)?$", ln) for ln in lines) if m}
    assert rows == {"class 1": ("2,400", None), "class 2": ("900", "600"), "class 3": ("0", "120")}
    head = lines.index("classes      3 (4,020 labelled pixels, 720 of them on no-data and not used)")
    assert lines[head + 1].strip() == "on data"  # the column's heading says which pixels it counts


def test_labels_all_on_data_need_no_extra_column(scene: dict, tmp_path: Path) -> None:
    ids = np.where(scene["valid"], scene["ids"], 0).astype(np.uint8)
    _write(tmp_path / "inside.tif", ids[None], None)
    res = _info(str(scene["scene"]), "--labels", str(tmp_path / "inside.tif"))
    assert res.returncode == 0, res.stderr
    assert "classes      2 (3,300 labelled pixels)" in res.stdout
    assert "on data" not in res.stdout and "on no-data" not in res.stdout
    assert re.search(r"^  class 1\s+2,400$", res.stdout, re.M)
