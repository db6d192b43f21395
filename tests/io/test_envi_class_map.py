"""ENVI classification files as class maps: `hsi info`, `hsi evaluate` and `hsi vectorize` read them."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from cli_runner import run_main
from hsi_app.errors import InvalidDataError
from hsi_app.io.cog import read_class_map
from hsi_app.tasks.map_summary import is_class_map

NAMES = ["Unclassified", "water", "forest", "crop"]
LOOKUP = [0, 0, 0, 0, 0, 255, 34, 139, 34, 255, 215, 0]


def write_envi_classification(folder: Path, classes: np.ndarray, *, file_type: str = "ENVI Classification",
                              n_classes: int = 4) -> Path:
    """``folder/map.img`` (+ ``map.hdr``): one byte band, UTM 33 N, 30 m pixels, corner at (500000, 5000000)."""
    h, w = classes.shape
    img = folder / "map.img"
    classes.astype(np.uint8).tofile(img)
    (folder / "map.hdr").write_text(
        "ENVI\ndescription = {classification test}\n"
        f"samples = {w}\nlines = {h}\nbands = 1\nheader offset = 0\nfile type = {file_type}\n"
        "data type = 1\ninterleave = bsq\nbyte order = 0\n"
        f"classes = {n_classes}\nclass lookup = {{{', '.join(map(str, LOOKUP))}}}\n"
        f"class names = {{{', '.join(NAMES)}}}\n"
        "map info = {UTM, 1, 1, 500000, 5000000, 30, 30, 33, North, WGS-84, units=Meters}\n"
    )
    return img


@pytest.fixture
def classes() -> np.ndarray:
    out = np.zeros((15, 12), np.uint8)
    out[:, :4] = 1
    out[5:, 4:9] = 2
    out[:, 9:] = 3
    return out


def test_read_as_class_map_with_names_colours_and_georeference(tmp_path: Path, classes: np.ndarray) -> None:
    img = write_envi_classification(tmp_path, classes)
    for path in (img, tmp_path / "map.hdr"):
        cmap = read_class_map(path)
        np.testing.assert_array_equal(cmap.classes, classes)
        assert cmap.class_names == NAMES and cmap.confidence is None
        np.testing.assert_array_equal(cmap.colormap[:, :3], np.reshape(LOOKUP, (4, 3)))
        assert cmap.colormap[0, 3] == 0 and (cmap.colormap[1:, 3] == 255).all()
        assert cmap.crs.to_epsg() == 32633
        assert (cmap.transform.a, cmap.transform.e, cmap.transform.c, cmap.transform.f) == (30, -30, 500000, 5000000)
    assert is_class_map(img) and is_class_map(tmp_path / "map.hdr")


def test_an_envi_image_or_bad_values_are_refused(tmp_path: Path, classes: np.ndarray) -> None:
    img = write_envi_classification(tmp_path, classes, file_type="ENVI Standard")
    assert not is_class_map(img)
    with pytest.raises(InvalidDataError, match="an ENVI image, not an ENVI classification"):
        read_class_map(img)
    img = write_envi_classification(tmp_path, classes, n_classes=3)  # class 3 is beyond 'classes = 3'
    with pytest.raises(InvalidDataError, match=r"class values outside 0\.\.2"):
        read_class_map(img)


def test_info_evaluate_and_vectorize_take_an_envi_classification(tmp_path: Path, classes: np.ndarray,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    img = write_envi_classification(tmp_path, classes)
    code, out, err = run_main(capsys, "info", str(img), "--json")
    assert code == 0, err
    info = json.loads(out)
    rows = {r["name"]: r for r in info["classes"]}
    assert info["format"] == "class map" and info["pixel_area_m2"] == pytest.approx(900.0)
    assert {k: r["pixels"] for k, r in rows.items()} == {"water": 60, "forest": 50, "crop": 45}
    assert rows["forest"]["area_ha"] == pytest.approx(50 * 900 / 10_000)
    np.save(tmp_path / "ref.npy", classes.astype(np.int64))
    code, out, err = run_main(capsys, "evaluate", "--map", str(img), "--reference", str(tmp_path / "ref.npy"),
                              "--json", str(tmp_path / "acc.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "acc.json").read_text())["oa"] == pytest.approx(1.0)
    code, out, err = run_main(capsys, "vectorize", "--map", str(img), "--out", str(tmp_path / "p.gpkg"))
    assert code == 0, err
    polys = gpd.read_file(tmp_path / "p.gpkg")
    assert polys.crs.to_epsg() == 32633 and len(polys) == 3
    assert polys.total_bounds.tolist() == pytest.approx([500000, 5000000 - 15 * 30, 500000 + 12 * 30, 5000000])
