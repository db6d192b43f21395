"""`hsi vectorize` on a map larger than a few strips (session 56): mean confidence, pixels and areas by hand,
with the confidence band read strip by strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from hsi_app.io.cog import write_class_map
from tests.map_tool_helpers import MAP_NAMES, T, field_map, peak_bytes


def test_vectorize_reads_the_confidence_band_in_strips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each polygon's mean confidence is that of its pixels (by hand), the pixel counts and areas add up to the
    map's, no polygon is of class 0; the peak stays under 14 bytes per pixel (29 before: the confidence band
    whole as float32 and again as float64, and a new int32 raster per class)."""
    import geopandas as gpd
    from rasterio.features import rasterize

    from hsi_app.io import block_counts
    from hsi_app.tasks import map_polygons

    h, w = 1200, 1100
    cls, _ = field_map(h, w, seed=3)
    rng = np.random.default_rng(4)
    conf = np.round(rng.uniform(0.3, 1.0, cls.shape), 2).astype(np.float32)
    write_class_map(tmp_path / "map.tif", cls, conf, crs="EPSG:32633", transform=T, class_names=MAP_NAMES)
    with rasterio.open(tmp_path / "map.tif") as ds:  # the stored (quantised) confidence, as the tool reads it
        stored = ds.read(2).astype(np.float64) * (ds.scales[1] or 1.0) + (ds.offsets[1] or 0.0)
    monkeypatch.setattr(block_counts, "BLOCK_PX", 1 << 15)  # strips of 29 rows: the map spans 41
    res, peak = peak_bytes(lambda: map_polygons.vectorize_map(tmp_path / "map.tif", tmp_path / "p.gpkg", min_pixels=4))
    gdf = gpd.read_file(tmp_path / "p.gpkg")
    assert res["polygons"] == len(gdf) and (gdf["class_id"] > 0).all()
    assert gdf["pixels"].sum() == int((cls > 0).sum())
    assert gdf.geometry.area.sum() == pytest.approx(100.0 * (cls > 0).sum())
    for i in rng.choice(len(gdf), 25, replace=False):  # some polygons, burnt back by hand
        inside = rasterize([(gdf.geometry.iloc[i], 1)], out_shape=(h, w), transform=T, dtype="uint8") > 0
        assert int(inside.sum()) == gdf["pixels"].iloc[i]
        assert gdf["mean_confidence"].iloc[i] == pytest.approx(stored[inside].mean(), abs=6e-5)
    assert peak < 14 * h * w, f"peak {peak / (h * w):.1f} bytes per pixel"
