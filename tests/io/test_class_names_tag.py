"""The ``CLASS_NAMES`` tag: one JSON writer, one reader that also takes comma text and survives garbage."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import run_main
from hsi_app.errors import HSIWarning
from hsi_app.io.cog import read_class_map, write_class_map
from hsi_app.io.cube import make_cube
from hsi_app.io.labels import read_labels

H, W = 12, 10
TRANSFORM = from_origin(500000.0, 4000000.0, 20.0, 20.0)  # 400 m2 pixels


def _classes() -> np.ndarray:
    """``(H, W)`` classes 0..2 with known counts: 40 px of class 1, 50 of class 2, 30 no data."""
    c = np.zeros((H, W), np.uint8)
    c.flat[:40] = 1
    c.flat[40:90] = 2
    return c


def _map_with_tag(path: Path, tag: str) -> Path:
    """A class map written by hsi, its ``CLASS_NAMES`` tag then replaced by ``tag``."""
    write_class_map(path, _classes(), None, crs="EPSG:32633", transform=TRANSFORM,
                    class_names=["none", "water", "crop"])
    with rasterio.open(path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as ds:
        ds.update_tags(CLASS_NAMES=tag)
    return path


@pytest.mark.parametrize(("text", "names"), [
    ('["none", "water", "crop"]', ["none", "water", "crop"]),
    ("none,water,crop", ["none", "water", "crop"]),
    ("none, water , crop", ["none", "water", "crop"]),
    ("[0, 1, 2]", ["0", "1", "2"]),
    (None, None),
    ("", None),
])
def test_tag_values_that_name_classes(text: str | None, names: list[str] | None) -> None:
    from hsi_app.io.cog import parse_class_names_tag

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert parse_class_names_tag(text, "m.tif") == names


@pytest.mark.parametrize("text", ["{oops", "water", '{"a": 1}', '"none,water"', "[]", "none,,crop", "[[1], [2]]"])
def test_unreadable_tags_are_ignored_with_one_warning_naming_the_file(text: str) -> None:
    from hsi_app.io.cog import parse_class_names_tag

    with pytest.warns(HSIWarning) as caught:
        assert parse_class_names_tag(text, "dir/m.tif") is None
    assert len(caught) == 1 and str(caught[0].message).startswith("dir/m.tif: its CLASS_NAMES tag")


def test_the_writer_writes_a_json_list() -> None:
    from hsi_app.io.cog import class_names_tag

    assert json.loads(class_names_tag(["none", "a,b", "c"])) == ["none", "a,b", "c"]


def test_info_vectorize_evaluate_read_comma_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _map_with_tag(tmp_path / "m.tif", "none,water,crop")
    code, out, err = run_main(capsys, "info", str(path))
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ")}
    assert rows["water"][0] == "40" and rows["crop"][0] == "50"
    assert float(rows["water"][2]) == pytest.approx(40 * 400 / 1e4)
    code, out, err = run_main(capsys, "vectorize", "--map", str(path), "--out", str(tmp_path / "p.gpkg"))
    assert code == 0, err
    import geopandas as gpd

    assert set(gpd.read_file(tmp_path / "p.gpkg")["class"]) == {"water", "crop"}
    np.save(tmp_path / "ref.npy", _classes())
    code, out, err = run_main(capsys, "evaluate", "--map", str(path), "--reference", str(tmp_path / "ref.npy"))
    assert code == 0, err
    assert "water" in out


def test_a_garbage_tag_gives_one_warning_and_numbered_classes(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = _map_with_tag(tmp_path / "g.tif", "{oops")
    code, out, err = run_main(capsys, "info", str(path))
    assert code == 0, err
    assert err.count("\n") == 1 and err.startswith(f"hsi: warning: {path}: its CLASS_NAMES tag"), err
    assert "class 1" in out and "class 2" in out
    for args in (["vectorize", "--map", str(path), "--out", str(tmp_path / "g.gpkg")],
                 ["evaluate", "--map", str(path), "--reference", str(path)]):
        code, _, err = run_main(capsys, *args)
        assert code == 0 and "unexpected" not in err and f"{path}: its CLASS_NAMES tag" in err, err
    with pytest.warns(HSIWarning, match="its CLASS_NAMES tag"):
        assert read_class_map(path).class_names is None


def test_label_rasters_read_comma_names(tmp_path: Path) -> None:
    path = _map_with_tag(tmp_path / "lab.tif", "none,water,crop")
    cube = make_cube(np.ones((3, H, W), np.float32), crs="EPSG:32633", transform=TRANSFORM,
                     x=500000.0 + 20.0 * (np.arange(W) + 0.5), y=4000000.0 - 20.0 * (np.arange(H) + 0.5))
    labels, names = read_labels(path, cube)
    assert np.array_equal(labels, _classes()) and names == ["none", "water", "crop"]
