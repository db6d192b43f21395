"""The viewer's class areas on a geographic scene sum each row's own ground pixel area (as `hsi evaluate` and
`hsi vectorize` do since session 58), instead of pixels × the centre pixel's area: on a scene from 60° to 70° N
the rows' pixels differ by a third, so a class in the top rows was overstated and one in the bottom understated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyproj import Geod
from rasterio.crs import CRS
from rasterio.transform import from_origin

from hsi_app import viewer
from hsi_app.io.cube import make_cube

H, W, STEP = 20, 6, 0.5   # 0.5° pixels from 70° N down to 60° N


def _geod_m2(row: int) -> float:
    """One pixel of ``row`` on WGS 84, as an independent polygon area (pyproj.Geod; its top and bottom edges
    densified so that they follow the parallels, not the geodesics between the corners)."""
    top, bottom = 70.0 - row * STEP, 70.0 - (row + 1) * STEP
    along = np.linspace(10.0, 10.0 + STEP, 201)
    lon = np.concatenate([along, along[::-1]])
    lat = np.concatenate([np.full(along.size, top), np.full(along.size, bottom)])
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0])


def test_classify_scene_sums_row_areas_on_a_geographic_scene(tmp_path: Path, random_run) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    cube = make_cube(rng.uniform(size=(5, H, W)).astype(np.float32), wavelength=np.linspace(450, 900, 5),
                     labels=rng.integers(0, 3, size=(H, W)), class_names=["unlabelled", "a", "b"],
                     crs=CRS.from_epsg(4326), transform=from_origin(10.0, 70.0, STEP, STEP))
    run = random_run(tmp_path / "run", cube)
    res = viewer.classify_scene(cube, run, tmp_path / "out", cache=viewer.ModelCache())
    per_row = np.array([_geod_m2(r) for r in range(H)])
    expected = {k: float(per_row[np.nonzero(res.classes == k)[0]].sum()) / 1e4 for k in (1, 2)}
    hectares = {c["class"]: c["hectares"] for c in res.metrics["classes"]}
    present = {name: k for k, name in ((1, "a"), (2, "b")) if (res.classes == k).any()}
    assert present  # the model predicts some class, so there is an area to check
    assert set(hectares) - {"unlabelled"} >= set(present)
    for name, k in present.items():  # every class predicted, whichever the random model picks
        assert hectares[name] == pytest.approx(expected[k], rel=1e-6), name
    assert "each row's ground pixel area" in res.area_note
    total = sum(r[4] for r in viewer.area_rows(res))
    assert total == pytest.approx(per_row.sum() * W / 1e4, rel=1e-3)   # every pixel classified


def test_a_class_in_the_top_rows_is_not_given_the_centre_pixels_area(tmp_path: Path) -> None:
    cube = make_cube(np.ones((3, H, W), np.float32), crs=CRS.from_epsg(4326),
                     transform=from_origin(10.0, 70.0, STEP, STEP))
    classes = np.full((H, W), 2, np.uint8)
    classes[:2] = 1   # the two northernmost rows
    counts = np.bincount(classes.ravel(), minlength=3)
    area, note = viewer.pixel_area(cube)
    res = viewer.ClassifyResult(classes=classes, confidence=np.ones(classes.shape, np.float32),
                                class_names=["unlabelled", "a", "b"], palette=np.zeros((3, 3), np.uint8),
                                counts=counts, pixel_area_m2=area, area_note=note, map_path=tmp_path / "m.tif",
                                model="m", seconds=0.0,
                                class_areas_m2=viewer.class_ground_areas(cube, classes, 3))
    top = (_geod_m2(0) + _geod_m2(1)) * W / 1e4
    rows = {r[0]: r[4] for r in viewer.area_rows(res)}
    assert rows["a"] == pytest.approx(top, rel=1e-3)
    assert counts[1] * area / 1e4 > 1.1 * top   # what the centre pixel's area gave


def test_a_projected_scene_keeps_pixels_times_area(tmp_path: Path) -> None:
    cube = make_cube(np.ones((3, 4, 4), np.float32), crs=CRS.from_epsg(32633),
                     transform=from_origin(500_000, 5_000_000, 30, 30))
    assert viewer.class_ground_areas(cube, np.ones((4, 4), np.uint8), 2) is None
