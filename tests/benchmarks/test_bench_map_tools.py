"""The map-tools benchmark (benchmarks/bench_map_tools.py --cli): its inputs are what the table says, and one
command's row reads the tool's own output."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from fixture_loader import benchmark_module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return benchmark_module("bench_map_tools")


def test_cli_inputs_have_no_data_and_references_from_the_fields(bench: ModuleType, tmp_path: Path) -> None:
    paths = bench.write_cli_inputs(tmp_path, 600)  # 144 fields, of which about 7 get a polygon
    with rasterio.open(paths["map"]) as ds:
        cls = ds.read(1)
        assert ds.count == 2 and ds.crs.to_epsg() == 32633 and ds.block_shapes[0] == (256, 256)
    assert (cls[:, :30] == 0).all() and (cls[200:300, 200:300] == 0).all()  # left strip, square inside
    assert (cls[:, 30:] > 0).mean() > 0.95
    with rasterio.open(paths["ref_tif"]) as ds:
        ref = ds.read(1)
    share = (ref > 0).mean()
    assert 0.005 < share < 0.02
    agree = (ref == cls)[(ref > 0) & (cls > 0)].mean()  # the speckle (2 %, 11/12 another class) disagrees
    assert 0.95 < agree < 0.995
    polygons = gpd.read_file(paths["ref_gpkg"])
    assert polygons.crs.to_epsg() == 4326 and len(polygons) > 0
    assert set(polygons["class"]) <= {f"class {k}" for k in range(1, 13)}


@pytest.mark.skipif(shutil.which("/usr/bin/time") is None, reason="needs /usr/bin/time")
def test_a_cli_row_gives_seconds_memory_and_the_result(bench: ModuleType, tmp_path: Path) -> None:
    paths = bench.write_cli_inputs(tmp_path, 200)
    seconds, mb, result = bench.run_cli(bench.CLI_CASES["evaluate (GeoTIFF ref)"](paths, None), None)
    assert seconds > 0 and mb > 50
    assert result.startswith("OA ") and result.endswith(" ref px"), result
    n = int(result.split(", ")[-1].split()[0])
    with rasterio.open(paths["ref_tif"]) as r, rasterio.open(paths["map"]) as m:
        assert n == int(((r.read(1) > 0) & (m.read(1) > 0)).sum())
    np.testing.assert_array_less(0, n)
