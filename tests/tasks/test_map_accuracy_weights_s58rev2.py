"""Error-adjusted estimates on maps whose pixels differ in area, and projected reports kept as they were (review 2 of
session 58, #5, #6, #8).

On a geographic map from 40° N to 80° N a pixel's ground area falls by more than half from south to north, so the
strata weights of Olofsson et al. (2014) differ with what they count: ground area (the area estimate, in ha) or
pixels (the pixel estimate, a pixel count). The expectations are computed here in numpy from the definitions:
``p_j = sum_i W_i n_ij / n_i``, ``SE(p_j)^2 = sum_i W_i^2 (n_ij / n_i)(1 - n_ij / n_i) / (n_i - 1)``, 95 % interval
``1.959964 SE`` times the total, with the rows' ground areas taken from pyproj's geodesic areas.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

from geodesic_areas import geodesic_row_areas

NAMES = ["unlabelled", "a", "b", "c"]
H, W = 80, 30
Z95 = 1.959964


def _olofsson(cls: np.ndarray, ref: np.ndarray, weight_per_pixel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p_j, SE(p_j))`` for classes 1..3 with map strata weighted by ``weight_per_pixel`` ``(H, W)``."""
    k = len(NAMES) - 1
    mapped = np.array([weight_per_pixel[cls == i].sum() for i in range(1, k + 1)])
    wi = mapped / mapped.sum()
    sample = (cls > 0) & (ref > 0)
    n = np.array([[np.sum(sample & (cls == i) & (ref == j)) for j in range(1, k + 1)] for i in range(1, k + 1)], float)
    ni = n.sum(axis=1)
    share = n / ni[:, None]
    p = (wi[:, None] * share).sum(axis=0)
    se = np.sqrt((wi[:, None] ** 2 * share * (1 - share) / (ni - 1)[:, None]).sum(axis=0))
    return p, se


def _maps(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    cls = rng.integers(1, 4, (H, W)).astype(np.uint8)
    cls[: H // 2][rng.random((H // 2, W)) < 0.6] = 1  # class a mostly in the north, where pixels are small
    cls[:, :2] = 0  # no data
    ref = np.where(rng.random((H, W)) < 0.25, cls, 0).astype(np.uint8)
    wrong = rng.random((H, W)) < 0.3
    ref[wrong & (ref > 0)] = rng.integers(1, 4, int((wrong & (ref > 0)).sum()))
    return cls, ref


@pytest.mark.parametrize("reference", ["ref.npy", "ref.tif"])  # read whole, and counted strip by strip
def test_geographic_adjusted_estimates_follow_olofsson_with_area_and_pixel_weights(tmp_path: Path,
                                                                                 reference: str) -> None:
    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks.map_accuracy import evaluate_map

    transform = Affine(0.5, 0, 10, 0, -0.5, 80)  # 40-80 N
    cls, ref = _maps(3)
    write_class_map(tmp_path / "map.tif", cls, None, crs="EPSG:4326", transform=transform, class_names=NAMES)
    if reference.endswith(".npy"):
        np.save(tmp_path / reference, ref.astype(np.int64))
    else:
        write_class_map(tmp_path / reference, ref, None, crs="EPSG:4326", transform=transform, class_names=NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = {r["id"]: r for r in evaluate_map(tmp_path / "map.tif", tmp_path / reference).to_dict()["per_class"]}

    area = np.broadcast_to(geodesic_row_areas(transform, H)[:, None], (H, W))
    total_ha = area[cls > 0].sum() / 1e4
    p, se = _olofsson(cls, ref, area)
    p_px, se_px = _olofsson(cls, ref, np.ones((H, W)))
    assert np.abs(p - p_px).max() > 0.01  # the two weightings differ here: the test tells them apart
    n_mapped = int((cls > 0).sum())
    for j in (1, 2, 3):
        assert rows[j]["adjusted_area_ha"] == pytest.approx(p[j - 1] * total_ha, rel=1e-6)
        assert rows[j]["adjusted_area_ci95_ha"] == pytest.approx(Z95 * se[j - 1] * total_ha, rel=1e-6)
        assert rows[j]["adjusted_pixels"] == pytest.approx(p_px[j - 1] * n_mapped, rel=1e-9)
        assert rows[j]["adjusted_pixels_ci95"] == pytest.approx(Z95 * se_px[j - 1] * n_mapped, rel=1e-9)
    assert sum(rows[j]["adjusted_pixels"] for j in (1, 2, 3)) == pytest.approx(n_mapped, rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_projected_reports_keep_the_numbers_of_the_code_before_row_areas(tmp_path: Path, seed: int) -> None:
    """A UTM map's hectares are as db6e2ca gave them, to the last bit: pixels x pixel area x (1 / 10,000), the
    adjusted area as share x pixels x pixel area x (1 / 10,000), and hsi info's mapped total as pixels x pixel area /
    10,000. Summing the classes' m² first moved some by one unit in the last place, so reports of unchanged maps
    changed."""
    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks.map_accuracy import evaluate_map
    from hsi_app.tasks.map_summary import summarize_class_map

    rng = np.random.default_rng(seed)
    shape = (300, 310)
    transform = Affine(30, 0, 400000, 0, -30, 5500000)
    cls = rng.integers(1, 4, shape).astype(np.uint8)
    ref = np.where(rng.random(shape) < 0.05, rng.integers(1, 4, shape), 0).astype(np.uint8)
    write_class_map(tmp_path / "map.tif", cls, None, crs="EPSG:32633", transform=transform, class_names=NAMES)
    write_class_map(tmp_path / "ref.tif", ref, None, crs="EPSG:32633", transform=transform, class_names=NAMES)
    report = evaluate_map(tmp_path / "map.tif", tmp_path / "ref.tif").to_dict()
    info = summarize_class_map(tmp_path / "map.tif")
    px_area, unit = report["pixel_area_m2"], 1.0 / 10_000.0
    assert px_area == 900.0
    for r in report["per_class"]:
        n = int((cls == r["id"]).sum())
        assert r["mapped_area_ha"] == float(n * px_area * unit)
        assert r["adjusted_area_ha"] == float(r["adjusted_pixels"] * px_area * unit)  # share x pixels first
    assert info["mapped_area_ha"] == int((cls > 0).sum()) * px_area / 10_000.0
