"""The whole-scene scaling benchmark (benchmarks/bench_scene_scale.py): its synthetic scene."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fixture_loader import benchmark_module


def test_the_synthetic_scene_lists_its_wavelengths_in_increasing_order(tmp_path: Path) -> None:
    """They were written in detector order (VNIR to 993 nm, then SWIR from 902 nm), so they fell back at band 92."""
    import rasterio

    bench = benchmark_module("bench_scene_scale")
    wl = bench.write_scene(tmp_path / "scene.tif", 16, block=16)
    with rasterio.open(tmp_path / "scene.tif") as ds:
        tagged = np.array([float(v) for v in ds.tags()["wavelength"].split(",")])
        assert ds.count == 224 == tagged.size
    np.testing.assert_allclose(tagged, wl, atol=1e-3)
    assert np.all(np.diff(tagged) > 0)
    assert tagged[0] == 418.0 and tagged[-1] == 2445.0
