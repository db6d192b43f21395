"""`hsi info` on a class map: per-class pixels, share, hectares and mean confidence, read block by block."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

from cli_runner import run_main
from hsi_app.io.cog import CONFIDENCE_SCALE, write_class_map
from hsi_app.tasks.map_summary import format_class_map_summary, is_class_map, summarize_class_map

NAMES = ["unlabelled", "water", "forest", "crop"]
UTM = CRS.from_epsg(32633)


def _map(tmp_path: Path, *, crs: CRS | None = UTM) -> tuple[Path, np.ndarray, np.ndarray]:
    """A 600 x 300 map in 20 m pixels: more than one 256-px block in each direction."""
    rng = np.random.default_rng(3)
    classes = rng.choice([0, 1, 3], size=(600, 300), p=[0.1, 0.3, 0.6]).astype(np.uint8)
    conf = rng.uniform(0.2, 1.0, size=classes.shape).astype(np.float32)
    path = tmp_path / "map.tif"
    write_class_map(path, classes, conf, crs=crs, transform=from_origin(500_000, 5_000_000, 20, 20),
                    class_names=NAMES)
    return path, classes, conf


def test_counts_areas_and_confidence_match_the_pixels(tmp_path: Path) -> None:
    path, classes, conf = _map(tmp_path)
    with rasterio.open(path) as ds:
        assert ds.height > ds.block_shapes[0][0] and ds.width > ds.block_shapes[0][1]
    s = summarize_class_map(path)
    assert (s["height"], s["width"], s["crs"]) == (600, 300, "EPSG:32633")
    assert s["pixel_area_m2"] == pytest.approx(400.0)
    assert s["nodata_pixels"] == int((classes == 0).sum())
    assert s["mapped_pixels"] == int((classes > 0).sum())
    assert [r["name"] for r in s["classes"]] == ["water", "crop"]  # forest is absent, no-data is not a class
    for row in s["classes"]:
        inside = classes == row["class"]
        assert row["pixels"] == int(inside.sum())
        assert row["fraction"] == pytest.approx(inside.sum() / (classes > 0).sum())
        assert row["area_ha"] == pytest.approx(inside.sum() * 400 / 10_000)
        # the file stores confidence in steps of 1/255
        assert row["mean_confidence"] == pytest.approx(float(conf[inside].mean()), abs=CONFIDENCE_SCALE)
    text = format_class_map_summary(s)
    assert "class map" in text and "area ha" in text and "water" in text and "forest" not in text


def test_a_rotated_class_map_reports_its_pixel_sides(tmp_path: Path) -> None:
    """30 x 20 m pixels turned 30 degrees: the sides, not |a| and |e| of the affine (25.98, 17.32)."""
    from rasterio.transform import Affine

    turned = Affine.translation(500_000, 5_000_000) * Affine.rotation(30) * Affine.scale(30, -20)
    classes = np.ones((8, 6), np.uint8)
    write_class_map(tmp_path / "map.tif", classes, None, crs=UTM, transform=turned, class_names=NAMES)
    s = summarize_class_map(tmp_path / "map.tif")
    assert s["resolution"] == pytest.approx([30.0, 20.0])
    assert s["pixel_area_m2"] == pytest.approx(600.0)


def test_without_crs_there_are_no_areas(tmp_path: Path) -> None:
    path, _, _ = _map(tmp_path, crs=None)
    s = summarize_class_map(path)
    assert s["pixel_area_m2"] is None and all(r["area_ha"] is None for r in s["classes"])
    assert "area ha" not in format_class_map_summary(s)


def test_what_counts_as_a_class_map(tmp_path: Path) -> None:
    path, _, _ = _map(tmp_path)
    assert is_class_map(path)
    cube = tmp_path / "cube.tif"
    with rasterio.open(cube, "w", driver="GTiff", width=8, height=8, count=5, dtype="float32") as ds:
        ds.write(np.ones((5, 8, 8), np.float32))
    paletted = tmp_path / "other_tool.tif"  # a one-band paletted map from another tool, no class names
    with rasterio.open(paletted, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8") as ds:
        ds.write(np.arange(64, dtype=np.uint8).reshape(1, 8, 8) % 3)
        ds.write_colormap(1, {0: (0, 0, 0, 0), 1: (255, 0, 0, 255), 2: (0, 255, 0, 255)})
    garbage = tmp_path / "garbage.tif"
    garbage.write_bytes(b"II*\x00" + bytes(100))
    assert not is_class_map(cube) and is_class_map(paletted)
    assert not is_class_map(garbage) and not is_class_map(tmp_path / "missing.tif") and not is_class_map("indian_pines")
    s = summarize_class_map(paletted)
    assert [(r["name"], r["pixels"]) for r in s["classes"]] == [("class 1", 21), ("class 2", 21)]
    assert not s["has_confidence"] and s["classes"][0]["mean_confidence"] is None


def test_hsi_info_describes_a_class_map_by_its_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, classes, _ = _map(tmp_path)
    code, out, err = run_main(capsys, "info", str(path))
    assert code == 0, err
    assert "class map" in out and "wavelengths" not in out
    crop = next(ln for ln in out.splitlines() if ln.strip().startswith("crop"))
    assert f"{int((classes == 3).sum()):,}" in crop
    code, out, _ = run_main(capsys, "info", str(path), "--json")
    assert code == 0 and json.loads(out) == json.loads(json.dumps(summarize_class_map(path)))
