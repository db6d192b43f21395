"""Strip-wise ``hsi evaluate`` of a narrow geographic map with many classes keeps its histograms small (review 4 of
session 58, #1).

A (row, reference id, class) histogram has ``h * n_ref * m`` bins per strip of ``h`` rows: on a map 8 pixels wide
with 255 classes and 256 reference ids that is 8,192 bins per pixel (gigabytes on a 16384 x 512 map). The bins of
every count must stay within the strip's pixels or the ``n_ref * 256`` joint histogram, and the numbers must not
change: the confusion matrix is counted here with ``np.add.at`` and the class areas from pyproj's geodesic area of
one pixel of each row.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

from geodesic_areas import geodesic_row_areas

H, W, STRIP_PX = 256, 8, 512
NAMES = ["none"] + [f"c{i}" for i in range(1, 256)]


def _sizes_of_bincounts(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = np.bincount

    def recording(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real(*args, **kwargs)
        sizes.append(int(out.size))
        return out

    monkeypatch.setattr(np, "bincount", recording)
    return sizes


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:32633"])
def test_narrow_many_class_map_counts_in_bounded_bins_with_the_same_numbers(tmp_path: Path, crs: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks import map_accuracy
    from hsi_app.tasks.map_accuracy_windows import evaluate_windowed
    from hsi_app.tasks.map_row_areas import row_pixel_areas_m2, summed_areas_m2
    from rasterio.crs import CRS

    rng = np.random.default_rng(58)
    cls = rng.integers(1, 256, (H, W)).astype(np.uint8)
    ref = rng.integers(0, 256, (H, W)).astype(np.uint8)
    cls.reshape(-1)[:255] = np.arange(1, 256)  # every class and every reference id present
    ref.reshape(-1)[:256] = np.arange(256)
    geographic = crs == "EPSG:4326"
    transform = Affine(0.05, 0, 10, 0, -0.05, 70) if geographic else Affine(30, 0, 500000, 0, -30, 7000000)
    write_class_map(tmp_path / "map.tif", cls, None, crs=crs, transform=transform, class_names=NAMES)
    write_class_map(tmp_path / "ref.tif", ref, None, crs=crs, transform=transform, class_names=NAMES)
    monkeypatch.setattr(map_accuracy, "ASSESS_BLOCK_PX", STRIP_PX)  # strips of 64 rows
    sizes = _sizes_of_bincounts(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc = evaluate_windowed(tmp_path / "map.tif", tmp_path / "ref.tif")
    monkeypatch.undo()
    assert acc is not None
    assert max(sizes) <= max(256 * 256, STRIP_PX), f"a bincount of {max(sizes):,} bins for strips of {STRIP_PX} pixels"

    joint = np.zeros((256, 256), np.int64)
    np.add.at(joint, (ref.astype(np.intp), cls.astype(np.intp)), 1)
    np.testing.assert_array_equal(acc.confusion, joint[1:, 1:])
    np.testing.assert_array_equal(acc.unmapped, joint[1:, 0])
    np.testing.assert_array_equal(acc.mapped_pixels, joint[:, 1:].sum(axis=0))
    if geographic:
        per_pixel = np.repeat(geodesic_row_areas(transform, H), W).reshape(H, W)
        expected = np.array([per_pixel[cls == k].sum() for k in range(1, 256)])
        np.testing.assert_allclose(acc.class_areas_m2(), expected, rtol=1e-7)  # pyproj's polygon: 1e-8 or so
        rows = row_pixel_areas_m2(transform, CRS.from_string(crs), (H, W))  # as the whole-raster path sums them
        np.testing.assert_allclose(acc.class_areas_m2(), summed_areas_m2(cls, rows, 256)[1:], rtol=1e-12)
    else:
        assert acc.mapped_area_m2 is None


def test_class_pixels_and_areas_on_blocks_narrower_and_wider_than_their_classes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from hsi_app.tasks.map_row_areas import class_pixels_and_areas

    rng = np.random.default_rng(5)
    for shape, top in (((300, 4), 200), ((40, 300), 200)):
        values = rng.integers(0, top + 1, shape).astype(np.uint8)
        values[0, 0] = top
        rows = rng.uniform(1e3, 2e3, shape[0])
        sizes = _sizes_of_bincounts(monkeypatch)
        pixels, m2 = class_pixels_and_areas(values, rows)
        monkeypatch.undo()
        assert max(sizes) <= max(values.size, top + 1)
        per_pixel = np.repeat(rows, shape[1]).reshape(shape)
        np.testing.assert_array_equal(pixels, [(values == k).sum() for k in range(top + 1)])
        np.testing.assert_allclose(m2, [per_pixel[values == k].sum() for k in range(top + 1)], rtol=1e-12)
