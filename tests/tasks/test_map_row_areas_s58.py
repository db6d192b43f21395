"""Areas of a geographic class map near 70° N are the polygons' geodesic areas, row by row (session 58).

A 0.01° pixel covers 4.16 ha at 70.5° N and 4.36 ha at 69.5° N. ``hsi vectorize``, ``hsi evaluate`` and ``hsi info``
multiplied every pixel by the centre pixel's area, so a patch in the top half of a map one degree tall was 1.2 %
too large and one in the bottom half 1.2 % too small. Each area is checked here against pyproj's geodesic area of
the same lon/lat rectangle (densified along its parallels), computed independently of the code under test.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine

NAMES = ["unlabelled", "forest", "water", "rock"]
H, W, STEP = 100, 60, 0.01
WEST, NORTH = 20.0, 70.5


def _classes() -> np.ndarray:
    cls = np.ones((H, W), np.uint8)
    cls[50:] = 2  # forest in the northern half, water in the southern
    cls[80:, 40:] = 3  # rock: a block in the south-east
    cls[:, :5] = 0  # no data along the west edge
    return cls


def _transform(south_up: bool) -> Affine:
    if south_up:  # row 0 is the southern edge: the same ground, rows in the other order
        return Affine(STEP, 0.0, WEST, 0.0, STEP, NORTH - H * STEP)
    return Affine(STEP, 0.0, WEST, 0.0, -STEP, NORTH)


def _write(path: Path, south_up: bool = False) -> np.ndarray:
    from hsi_app.io.cog import write_class_map

    cls = _classes()
    stored = cls[::-1] if south_up else cls
    write_class_map(path, stored, np.full(cls.shape, 0.9, np.float32), crs="EPSG:4326",
                    transform=_transform(south_up), class_names=NAMES)
    return cls


def _geodesic_ha(west: float, south: float, east: float, north: float) -> float:
    """WGS 84 area of a lon/lat rectangle, its edges densified so the parallels are followed."""
    from pyproj import Geod
    from shapely import segmentize
    from shapely.geometry import box

    ring = segmentize(box(west, south, east, north), 0.001)
    return abs(Geod(ellps="WGS84").geometry_area_perimeter(ring)[0]) / 1e4


def _expected_class_ha() -> dict[int, float]:
    """Class areas from the rectangles the classes fill (north-up rows: row r spans NORTH - r*STEP downwards)."""
    lat = lambda r: NORTH - r * STEP  # noqa: E731
    lon = lambda c: WEST + c * STEP  # noqa: E731
    forest = _geodesic_ha(lon(5), lat(50), lon(W), lat(0))
    water = _geodesic_ha(lon(5), lat(H), lon(W), lat(50)) - _geodesic_ha(lon(40), lat(H), lon(W), lat(80))
    rock = _geodesic_ha(lon(40), lat(H), lon(W), lat(80))
    return {1: forest, 2: water, 3: rock}


@pytest.mark.parametrize("south_up", [False, True])
def test_vectorized_polygons_carry_their_geodesic_area(tmp_path: Path, south_up: bool) -> None:
    import geopandas as gpd
    from pyproj import Geod
    from shapely import segmentize

    from hsi_app.errors import HSIWarning
    from hsi_app.tasks.map_polygons import vectorize_map

    _write(tmp_path / "map.tif", south_up)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)  # the areas are exact: no "centre pixel stands for all" warning
        vectorize_map(tmp_path / "map.tif", tmp_path / "p.gpkg")
    gdf = gpd.read_file(tmp_path / "p.gpkg")
    assert len(gdf) == 3
    geod = Geod(ellps="WGS84")
    for _, row in gdf.iterrows():
        truth = abs(geod.geometry_area_perimeter(segmentize(row.geometry, 0.001))[0]) / 1e4
        assert row["area_ha"] == pytest.approx(truth, rel=1e-6)
    by_class = dict(zip(gdf["class_id"], gdf["area_ha"], strict=True))
    expected = _expected_class_ha()
    assert by_class[1] == pytest.approx(expected[1], rel=1e-6)
    assert by_class[3] == pytest.approx(expected[3], rel=1e-6)


@pytest.mark.parametrize("reference", ["ref.npy", "ref.tif"])  # read whole, and counted strip by strip
def test_evaluate_class_areas_are_geodesic(tmp_path: Path, reference: str) -> None:
    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls = _write(tmp_path / "map.tif")
    ref = cls.copy()
    ref[::3, ::2] = 0  # a sample of the pixels, not all
    ref[60:70, 10:20] = 1  # some water mapped, forest in the reference
    ref[85:90, 45:50] = 2  # some rock mapped, water in the reference
    if reference.endswith(".npy"):
        np.save(tmp_path / reference, ref.astype(np.int64))
    else:
        write_class_map(tmp_path / reference, ref, None, crs="EPSG:4326", transform=_transform(False),
                        class_names=NAMES)
    report = evaluate_map(tmp_path / "map.tif", tmp_path / reference).to_dict()
    rows = {r["id"]: r for r in report["per_class"]}
    expected = _expected_class_ha()
    for k in (1, 2, 3):
        assert rows[k]["mapped_area_ha"] == pytest.approx(expected[k], rel=1e-6)
    # Olofsson et al. (2014): the estimated area of reference class j is sum_i A_i n_ij / n_i over map classes i
    cm = np.array(report["confusion_matrix"], np.float64)  # rows reference j, columns map i
    n_i = cm.sum(axis=0)
    for j in (1, 2, 3):
        estimate = sum(expected[i] * cm[j - 1, i - 1] / n_i[i - 1] for i in (1, 2, 3))
        assert rows[j]["adjusted_area_ha"] == pytest.approx(estimate, rel=1e-6)


def test_info_class_areas_are_geodesic(tmp_path: Path) -> None:
    from hsi_app.tasks.map_summary import summarize_class_map

    _write(tmp_path / "map.tif")
    info = summarize_class_map(tmp_path / "map.tif")
    expected = _expected_class_ha()
    for row in info["classes"]:
        assert row["area_ha"] == pytest.approx(expected[row["class"]], rel=1e-6)
    assert info["mapped_area_ha"] == pytest.approx(sum(expected.values()), rel=1e-6)


def test_evaluate_cli_json_areas_are_geodesic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli_runner import run_main

    cls = _write(tmp_path / "map.tif")
    np.save(tmp_path / "ref.npy", cls.astype(np.int64))
    code, out, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "map.tif"), "--reference",
                              str(tmp_path / "ref.npy"), "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    assert "angular units" not in err  # the areas no longer rest on one pixel's
    rows = {r["id"]: r for r in json.loads((tmp_path / "r.json").read_text())["per_class"]}
    for k, ha in _expected_class_ha().items():
        assert rows[k]["mapped_area_ha"] == pytest.approx(ha, rel=1e-6)


def test_info_class_areas_of_a_geographic_envi_classification_are_geodesic(tmp_path: Path) -> None:
    """An ENVI classification is read whole (not block by block): its areas are summed row by row too."""
    from hsi_app.tasks.map_summary import summarize_class_map

    _classes().tofile(tmp_path / "map.img")
    (tmp_path / "map.hdr").write_text(
        "ENVI\ndescription = {geographic classification}\n"
        f"samples = {W}\nlines = {H}\nbands = 1\nheader offset = 0\nfile type = ENVI Classification\n"
        "data type = 1\ninterleave = bsq\nbyte order = 0\n"
        f"classes = 4\nclass names = {{Unclassified, {', '.join(NAMES[1:])}}}\n"
        f"map info = {{Geographic Lat/Lon, 1, 1, {WEST}, {NORTH}, {STEP}, {STEP}, WGS-84, units=Degrees}}\n")
    info = summarize_class_map(tmp_path / "map.img")
    expected = _expected_class_ha()
    assert [r["class"] for r in info["classes"]] == [1, 2, 3]
    for row in info["classes"]:
        assert row["area_ha"] == pytest.approx(expected[row["class"]], rel=1e-6)
