"""``--label-layer``: every command that reads vector labels chooses the layer of a multi-layer file."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from cli_runner import assert_one_error_line, run_main

CRS = "EPSG:32616"
X0, Y0, RES = 600000.0, 4000000.0, 30.0
H, W = 20, 16
BLOCKS = {1: (1, 1), 2: (1, 9), 3: (11, 1), 4: (11, 9)}  # class -> top-left (row, col) of a 7 x 6 block


def _box(row: int, col: int, rows: int = 7, cols: int = 6) -> object:
    return box(X0 + col * RES, Y0 - (row + rows) * RES, X0 + (col + cols) * RES, Y0 - row * RES)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 20 x 16, 12-band scene; a GeoPackage with a swapped-class ``draft`` layer before ``labels``."""
    root = tmp_path_factory.mktemp("layers")
    labels = np.zeros((H, W), dtype=np.uint8)
    for k, (r, c) in BLOCKS.items():
        labels[r : r + 7, c : c + 6] = k
    x = np.linspace(0, 1, 12)
    spectra = np.stack([0.2 + 0.15 * k * x for k in range(5)])
    rng = np.random.default_rng(0)
    cube = ((spectra[labels].transpose(2, 0, 1) + 0.005 * rng.standard_normal((12, H, W))) * 1e4).astype(np.int16)
    scene = root / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", height=H, width=W, count=12, dtype="int16", crs=CRS,
                       transform=from_origin(X0, Y0, RES, RES)) as ds:
        ds.write(cube)
    gpkg = root / "multi.gpkg"
    geoms = [_box(*BLOCKS[k]) for k in BLOCKS]
    gpd.GeoDataFrame({"class": [2, 1, 4, 3]}, geometry=geoms, crs=CRS).to_file(gpkg, layer="draft", driver="GPKG")
    gpd.GeoDataFrame({"class": [1, 2, 3, 4]}, geometry=geoms, crs=CRS).to_file(gpkg, layer="labels", driver="GPKG")
    class_map = root / "map.tif"
    with rasterio.open(class_map, "w", driver="GTiff", height=H, width=W, count=1, dtype="uint8", crs=CRS,
                       transform=from_origin(X0, Y0, RES, RES)) as ds:
        ds.write(labels[None])
    return {"scene": scene, "gpkg": gpkg, "map": class_map, "root": root}


def test_info_refuses_then_reads_the_chosen_layer(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "info", str(files["scene"]), "--labels", str(files["gpkg"]))
    assert_one_error_line(code, err, "multi.gpkg", "2 layers (draft, labels)", "--label-layer NAME")
    code, out, err = run_main(capsys, "info", str(files["scene"]), "--labels", str(files["gpkg"]),
                              "--label-layer", "labels", "--json")
    assert code == 0, err
    assert json.loads(out)["labelled_pixels"] == 4 * 42


def test_evaluate_scores_against_the_chosen_layer(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["evaluate", "--map", str(files["map"]), "--reference", str(files["gpkg"])]
    code, _, err = run_main(capsys, *args)
    assert_one_error_line(code, err, "2 layers (draft, labels)", "--label-layer")
    for layer, oa in (("labels", "OA 100.00%"), ("draft", "OA 0.00%")):
        code, out, err = run_main(capsys, *args, "--label-layer", layer)
        assert code == 0 and oa in out, (layer, out, err)


def test_train_and_finetune_take_the_layer(files: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    train = ["train", "--data", str(files["scene"]), "--labels", str(files["gpkg"]), "--model", "svm",
             "--split", "fixed:5", "--quiet"]
    code, _, err = run_main(capsys, *train, "--out", str(tmp_path / "a"))
    assert_one_error_line(code, err, "2 layers (draft, labels)", "--label-layer")
    code, _, err = run_main(capsys, *train, "--label-layer", "labels", "--out", str(tmp_path / "b"))
    assert code == 0, err
    split = np.load(tmp_path / "b" / "split.npz")
    row, col = BLOCKS[3]
    assert set(np.unique((split["train"] + split["test"])[row : row + 7, col : col + 6]).tolist()) == {3}
    (tmp_path / "base").mkdir()
    code, _, err = run_main(capsys, "finetune", "--base", str(tmp_path / "base"), "--data", str(files["scene"]),
                            "--labels", str(files["gpkg"]), "--lora-rank", "2", "--out", str(tmp_path / "ft"))
    assert_one_error_line(code, err, "2 layers (draft, labels)", "--label-layer")
