"""Vector labels rasterised onto a large grid (session 56): the pixels of a rasterisation by hand, in small rasters."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import rasterio

from hsi_app.errors import HSIWarning
from tests.map_tool_helpers import T, peak_bytes


def test_vector_reference_rasterises_in_small_rasters(tmp_path: Path) -> None:
    """Polygons (another CRS than the grid's, overlapping ones of two classes, a class-0 exclusion) burn the pixels
    a rasterisation by hand gives, with a peak under 8 bytes per pixel (it took over 20: every intermediate raster
    was int32, and the id scan made an 8-byte index of the whole grid)."""
    import geopandas as gpd
    from rasterio.features import rasterize
    from shapely.geometry import box

    from hsi_app.io.vector import Grid, read_vector_labels

    h, w = 1500, 1400
    rng = np.random.default_rng(2)
    geoms, classes = [], []
    for _ in range(300):
        r, c = rng.integers(0, h - 30), rng.integers(0, w - 30)
        x0, y0 = T * (c, r + rng.integers(5, 30))
        x1, y1 = T * (c + rng.integers(5, 30), r)
        geoms.append(box(x0, y0, x1, y1))
        classes.append(int(rng.integers(0, 4)))  # 0: exclusion
    gdf = gpd.GeoDataFrame({"class": classes}, geometry=geoms, crs="EPSG:32633")
    gdf.to_crs("EPSG:4326").to_file(tmp_path / "ref.gpkg")
    back = gpd.read_file(tmp_path / "ref.gpkg").to_crs("EPSG:32633")  # the same reprojection the reader does

    def burn(keep: Callable[[int], bool]) -> np.ndarray:
        shapes = [(g, 1) for g, v in zip(back.geometry, back["class"]) if keep(int(v))]
        return rasterize(shapes, out_shape=(h, w), transform=T, fill=0, dtype="uint8") if shapes else np.zeros((h, w))

    per_class = np.stack([burn(lambda v, k=k: v == k) for k in range(4)])  # (4, h, w) pixels each class burns
    n_classes = (per_class[1:] > 0).sum(axis=0)
    expected = np.where((n_classes == 1) & (per_class[0] == 0), np.argmax(per_class[1:], axis=0) + 1, 0)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HSIWarning)  # overlaps of two classes are counted in a warning
        (labels, _), peak = peak_bytes(lambda: read_vector_labels(tmp_path / "ref.gpkg",
                                                                   Grid(h, w, T, rasterio.crs.CRS.from_epsg(32633))))
    assert labels.dtype == np.int32 and (labels == expected).all()
    assert peak < 8 * h * w, f"peak {peak / (h * w):.1f} bytes per pixel"
