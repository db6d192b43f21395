"""`hsi evaluate`: map accuracy against known values, torchmetrics, and the area estimator's coverage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.errors import HSIWarning, LabelError
from hsi_app.tasks.map_accuracy import assess_map, merge_class_names, pixel_area_m2

T = from_origin(500000.0, 4100000.0, 30.0, 30.0)
NAMES = ["unlabelled", "water", "forest", "crop"]


def test_two_class_scores_match_hand_computed_values() -> None:
    # reference row 1: 8 water (6 mapped water, 2 forest); row 2: 4 forest (1 water, 3 forest)
    ref = np.array([1] * 8 + [2] * 4 + [0] * 3)
    cls = np.array([1] * 6 + [2] * 2 + [1] + [2] * 3 + [2, 1, 0])
    acc = assess_map(cls[None], ref[None], ["water", "forest"], pixel_area_m2=900.0)
    np.testing.assert_array_equal(acc.confusion, [[6, 2], [1, 3]])
    s = acc.scores()
    assert s["oa"] == pytest.approx(9 / 12)
    assert s["producers_accuracy"] == pytest.approx([6 / 8, 3 / 4])
    assert s["users_accuracy"] == pytest.approx([6 / 7, 3 / 5])
    chance = (8 * 7 + 4 * 5) / 144
    assert s["kappa"] == pytest.approx((9 / 12 - chance) / (1 - chance))
    np.testing.assert_array_equal(acc.mapped_pixels, [8, 6])  # the whole map, reference or not
    assert acc.unmapped.tolist() == [0, 0]
    rows = acc.to_dict()["per_class"]
    assert rows[0]["mapped_area_ha"] == pytest.approx(8 * 900 / 1e4)


def test_class_ids_with_gaps_list_only_the_classes_found() -> None:
    """A run trained on ids 1, 5, 9 names classes 1-9: ids 2-4 and 6-8 are in neither the reference nor the map,
    so they get no per-class row (were rows of zeros); OA, AA and kappa equal the compact 1-2-3 numbering's."""
    rng = np.random.default_rng(2)
    compact_ref = rng.integers(0, 4, size=(30, 20))
    compact_map = np.where(rng.uniform(size=compact_ref.shape) < 0.8, compact_ref, rng.integers(0, 4, size=(30, 20)))
    compact_map[0, 0] = 4  # class 4 (id 7 below) only on the map: it keeps its row
    ids = np.array([0, 1, 5, 9, 7])
    gappy = assess_map(ids[compact_map], ids[compact_ref], [f"class {k}" for k in range(1, 10)]).to_dict()
    compact = assess_map(compact_map, compact_ref, ["class 1", "class 5", "class 9", "class 7"]).to_dict()
    assert [r["id"] for r in gappy["per_class"]] == [1, 5, 7, 9]
    for key in ("oa", "aa", "kappa", "n_reference"):
        assert gappy[key] == pytest.approx(compact[key]), key
    by_name = {r["class"]: r for r in compact["per_class"]}
    for row in gappy["per_class"]:
        want = by_name[row["class"]]
        assert (row["reference_pixels"], row["mapped_pixels"], row["producers_accuracy"]) == \
            (want["reference_pixels"], want["mapped_pixels"], want["producers_accuracy"])
    assert len(gappy["confusion_matrix"]) == 9  # the matrix keeps every named class


def test_scores_equal_the_torchmetrics_implementation() -> None:
    from hsi_app.tasks.classification import classification_metrics

    rng = np.random.default_rng(4)
    cls = rng.integers(0, 6, size=(50, 40))
    ref = np.where(rng.uniform(size=cls.shape) < 0.7, cls, rng.integers(0, 6, size=cls.shape))
    acc = assess_map(cls, ref, [f"c{k}" for k in range(1, 6)])
    both = (ref > 0) & (cls > 0)
    want = classification_metrics(ref[both] - 1, cls[both] - 1, 5)
    s = acc.scores()
    assert acc.confusion.tolist() == want["confusion_matrix"]
    assert s["oa"] == pytest.approx(want["oa"]) and s["aa"] == pytest.approx(want["aa"])
    assert s["kappa"] == pytest.approx(want["kappa"], abs=1e-6)
    assert acc.unmapped.sum() == ((ref > 0) & (cls == 0)).sum()


def test_counts_in_small_blocks_equal_a_direct_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large maps are counted block by block; a block edge inside a row changes nothing."""
    from hsi_app.tasks import map_accuracy

    rng = np.random.default_rng(9)
    cls = rng.integers(0, 5, size=(37, 23)).astype(np.uint8)
    ref = rng.integers(0, 5, size=cls.shape).astype(np.int32)
    monkeypatch.setattr(map_accuracy, "ASSESS_BLOCK_PX", 50)  # 17 blocks, edges mid-row
    acc = assess_map(cls, ref, ["a", "b", "c", "d"])
    want = np.zeros((4, 4), np.int64)
    for r, c in zip(ref.ravel(), cls.ravel(), strict=True):
        if r > 0 and c > 0:
            want[r - 1, c - 1] += 1
    np.testing.assert_array_equal(acc.confusion, want)
    assert acc.unmapped.tolist() == [int(((ref == k) & (cls == 0)).sum()) for k in range(1, 5)]
    assert acc.mapped_pixels.tolist() == [int((cls == k).sum()) for k in range(1, 5)]


def test_adjusted_area_is_unbiased_with_nominal_coverage_under_stratified_sampling() -> None:
    """Olofsson et al. (2014): with a stratified random sample per map class the estimate of each
    true class area is unbiased and its 95 % interval covers the truth about 95 % of the time."""
    rng = np.random.default_rng(0)
    truth = rng.choice([1, 2, 3], size=(200, 200), p=[0.5, 0.3, 0.2])
    confuse = rng.uniform(size=truth.shape) < np.where(truth == 3, 0.4, 0.1)  # class 3 is often mis-mapped
    cls = np.where(confuse, rng.choice([1, 2, 3], size=truth.shape), truth)
    true_px = np.bincount(truth.ravel(), minlength=4)[1:].astype(float)
    mapped_px = np.bincount(cls.ravel(), minlength=4)[1:].astype(float)
    estimates, covered = [], []
    for _ in range(300):
        ref = np.zeros_like(truth)
        for k in (1, 2, 3):  # 60 random reference pixels inside each map class
            idx = rng.choice(np.flatnonzero(cls.ravel() == k), size=60, replace=False)
            ref.ravel()[idx] = truth.ravel()[idx]
        acc = assess_map(cls, ref, ["a", "b", "c"])
        out = acc.adjusted_areas()
        assert out is not None
        p, se = out
        est = p * cls.size
        estimates.append(est)
        covered.append(np.abs(est - true_px) <= 1.959964 * se * cls.size)
    mean = np.mean(estimates, axis=0)
    np.testing.assert_allclose(mean, true_px, rtol=0.02)  # unbiased (a few % of 300 draws' noise)
    assert np.all(np.abs(mapped_px - true_px)[1:] / true_px[1:] > 0.05)  # while pixel counting is off by 7-13 %
    coverage = np.mean(covered, axis=0)
    assert np.all((coverage > 0.90) & (coverage < 0.99)), coverage


def test_area_weighted_accuracy_reproduces_the_olofsson_2014_example() -> None:
    """Olofsson et al. (2014), section 5 example: 4 map strata, 640 sample units. The paper
    gives OA 0.95 and producer's accuracy 0.75 / 0.85 / 0.93 / 0.96 (stratum-weighted), where
    plain sample counts give 0.92 and 0.96 / 0.98 / 0.87 / 0.92."""
    from hsi_app.tasks.map_accuracy import MapAccuracy

    counts = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])  # rows = map
    mapped = np.array([200_000, 150_000, 3_200_000, 6_450_000])
    acc = MapAccuracy(["deforestation", "gain", "stable forest", "stable non-forest"], counts.T.copy(),
                      np.zeros(4, np.int64), mapped, 900.0)
    oa, producers = acc.adjusted_accuracy()
    assert round(oa, 2) == 0.95
    assert [round(v, 2) for v in producers] == [0.75, 0.85, 0.93, 0.96]
    assert round(acc.scores()["oa"], 2) == 0.92
    report = acc.to_dict()
    assert report["oa_adjusted"] == pytest.approx(oa)
    assert report["per_class"][0]["producers_accuracy_adjusted"] == pytest.approx(producers[0])
    # the paper's error-adjusted deforestation area: 21,158 ± 6,158 ha
    assert report["per_class"][0]["adjusted_area_ha"] == pytest.approx(21_158, abs=1)
    assert report["per_class"][0]["adjusted_area_ci95_ha"] == pytest.approx(6_158, abs=1)


def test_no_adjusted_area_when_a_mapped_class_has_no_reference() -> None:
    cls = np.array([[1, 1, 2, 2, 3]])
    ref = np.array([[1, 1, 2, 2, 0]])
    acc = assess_map(cls, ref, ["a", "b", "c"])
    assert acc.adjusted_areas() is None
    assert "fewer than 2 reference pixels" in acc.to_dict()["adjusted_area_note"]


def test_class_names_are_matched_by_name_and_new_reference_classes_are_added() -> None:
    ref = np.array([[0, 1, 2, 3]])  # reference numbering: 1 crop, 2 water, 3 wetland
    with pytest.warns(HSIWarning, match=r"1 reference class matches no map class by name \(wetland; 33\.3%"):
        out, names = merge_class_names(NAMES, ["unlabelled", "crop", "water", "wetland"], ref, 3)
    assert names == ["water", "forest", "crop", "wetland"]
    assert out.tolist() == [[0, 3, 1, 4]]
    same, numbered = merge_class_names(None, None, ref, 2)  # no names: by number
    assert same is ref and numbered == ["class 1", "class 2", "class 3"]


def test_class_names_match_ignoring_case_and_spacing() -> None:
    ref = np.array([[0, 1, 2, 3]])
    with pytest.warns(HSIWarning, match=r"\(wetland; "):
        out, names = merge_class_names(NAMES, ["unlabelled", " CROP", "Water ", "wetland"], ref, 3)
    assert names == ["water", "forest", "crop", "wetland"] and out.tolist() == [[0, 3, 1, 4]]


def test_a_reference_that_names_none_of_the_maps_classes_is_refused() -> None:
    """Scoring it would give 0 % with every class new: a naming mismatch, named instead."""
    ref = np.array([[0, 1, 2, 2]])
    with pytest.raises(LabelError, match=r"ref\.gpkg: none of its classes \(Maize, Lake\) is one of the map's "
                                         r"\(water, forest, crop, \.\.\.\); name them as the map does"):
        merge_class_names(NAMES, ["unlabelled", "Maize", "Lake", "water"], ref, 3, source="ref.gpkg")
    with pytest.warns(HSIWarning, match=r"\(Maize; 50\.0% of the reference pixels\)"):
        out, _ = merge_class_names(NAMES, ["unlabelled", "Maize", "Lake", "water"], np.array([[0, 1, 3]]), 3)
    assert out.tolist() == [[0, 4, 1]]  # one shared class is enough: the others are reference-only


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(LabelError, match="differ in size"):
        assess_map(np.zeros((2, 3)), np.zeros((3, 2)), ["a"])
    with pytest.raises(LabelError, match="only 1 classes are named"):
        assess_map(np.full((2, 2), 2), np.ones((2, 2)), ["a"])
    with pytest.raises(LabelError, match="no reference pixel lies on a mapped pixel"):
        assess_map(np.zeros((2, 2), int), np.ones((2, 2), int), ["a"]).scores()


def test_pixel_area_in_square_metres() -> None:
    from rasterio.crs import CRS

    assert pixel_area_m2(T, CRS.from_epsg(32633)) == pytest.approx(900.0)
    geo = pixel_area_m2(from_origin(0, 0.0005, 0.001, 0.001), CRS.from_epsg(4326))  # at the equator: ground m², not deg²
    assert geo == pytest.approx(6378137.0 * (1 - 0.00669438) * 6378137.0 * math.radians(0.001) ** 2, rel=1e-3)
    assert pixel_area_m2(T, None) is None
    feet = pixel_area_m2(from_origin(0, 0, 100.0, 100.0), CRS.from_epsg(2227))  # US survey feet
    assert feet == pytest.approx((100 * 1200 / 3937) ** 2, rel=1e-6)


def test_pixel_area_on_the_ground_where_the_projection_distorts_area() -> None:
    """Web Mercator at 50° N: a 30 m map-unit pixel covers 900 cos²(50°) m² on the ground."""
    import math

    from pyproj import Transformer
    from rasterio.crs import CRS

    from hsi_app.errors import HSIWarning

    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(10.0, 50.0)
    grid = from_origin(x - 30.0, y + 30.0, 30.0, 30.0)  # 2 x 2 px centred on 50° N
    with pytest.warns(HSIWarning, match="does not keep area"):
        area = pixel_area_m2(grid, CRS.from_epsg(3857), (2, 2))
    assert area == pytest.approx(900.0 * math.cos(math.radians(50.0)) ** 2, rel=0.01)  # ellipsoid vs sphere
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)  # UTM keeps area to 0.1 %: no warning, map units
        assert pixel_area_m2(T, CRS.from_epsg(32633), (100, 100)) == 900.0


def _map(path: Path) -> np.ndarray:
    from hsi_app.io.cog import write_class_map

    rng = np.random.default_rng(1)
    cls = rng.integers(1, 4, size=(60, 80)).astype(np.uint8)
    cls[:5, :5] = 0
    write_class_map(path, cls, np.ones(cls.shape, np.float32), crs="EPSG:32633", transform=T, class_names=NAMES)
    return cls


def test_cli_scores_a_map_against_vector_polygons_in_another_crs(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    from hsi_app.cli.main import main

    cls = _map(tmp_path / "map.tif")
    # 10 x 10 px boxes: rows 0-9 / cols 0-9 (top-left 5 x 5 is no-data), rows 20-29 / cols 40-49
    polys = [box(500000, 4099700, 500300, 4100000), box(501200, 4099100, 501500, 4099400)]
    gdf = gpd.GeoDataFrame({"class": ["forest", "wetland"]}, geometry=polys, crs="EPSG:32633").to_crs("EPSG:4326")
    gdf.to_file(tmp_path / "ref.gpkg")
    code = main(["evaluate", "--map", str(tmp_path / "map.tif"), "--reference", str(tmp_path / "ref.gpkg"),
                 "--json", str(tmp_path / "r.json"), "--confusion", str(tmp_path / "c.png")])
    assert code in (0, None)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["class_names"] == ["water", "forest", "crop", "wetland"]
    forest = cls[:10, :10]
    assert report["n_unmapped"] == 25
    assert report["confusion_matrix"][1] == [int((forest == k).sum()) for k in (1, 2, 3)] + [0]
    wet = cls[20:30, 40:50]
    assert report["confusion_matrix"][3] == [int((wet == k).sum()) for k in (1, 2, 3)] + [0]
    assert report["per_class"][3]["producers_accuracy"] == 0.0  # the map has no wetland class
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "OA " in capsys.readouterr().out


def test_text_reference_classes_on_a_map_without_names_are_refused(tmp_path: Path) -> None:
    """Names numbered alphabetically (Corn 1, Woods 2) would be paired with the map's ids by chance."""
    import geopandas as gpd
    from shapely.geometry import box

    from hsi_app.errors import LabelError
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls = np.ones((60, 80), np.uint8)
    cls[:, 40:] = 2
    with rasterio.open(tmp_path / "map.tif", "w", driver="GTiff", height=60, width=80, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=T) as ds:  # a class map from elsewhere: no class names
        ds.write(cls[None])
    polys = [box(500000, 4099100, 501200, 4100000), box(501200, 4099100, 502400, 4100000)]
    gpd.GeoDataFrame({"class": ["Woods", "Corn"], "id": [1, 2]}, geometry=polys, crs="EPSG:32633").to_file(
        tmp_path / "ref.gpkg")
    with pytest.raises(LabelError, match=r"ref.gpkg: its classes are names \(Corn, Woods\) but the map .* has none"):
        evaluate_map(tmp_path / "map.tif", tmp_path / "ref.gpkg")
    assert evaluate_map(tmp_path / "map.tif", tmp_path / "ref.gpkg", attribute="id").scores()["oa"] == 1.0


def test_cli_missing_reference_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.cli.main import main

    _map(tmp_path / "map.tif")
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--map", str(tmp_path / "map.tif"), "--reference", str(tmp_path / "nope.gpkg")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.gpkg" in err[0] and "not found" in err[0]
    with rasterio.open(tmp_path / "map.tif") as ds:  # the map is untouched
        assert ds.count == 2


@pytest.mark.parametrize("flag", ["--json", "--confusion"])
def test_cli_refuses_to_overwrite_its_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str) -> None:
    """An output that is the map or the reference, or both outputs on one path, is refused before any work."""
    from hsi_app.cli.main import main

    cls = _map(tmp_path / "map.tif")
    ref = tmp_path / "ref.npy"
    np.save(ref, cls.astype(np.int32))
    before = {p: p.read_bytes() for p in (tmp_path / "map.tif", ref)}
    for target, word in ((tmp_path / "map.tif", "--map"), (ref, "--reference")):
        with pytest.raises(SystemExit) as exc:
            main(["evaluate", "--map", str(tmp_path / "map.tif"), "--reference", str(ref), flag, str(target)])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"would overwrite the {word} input" in err[0]
    with pytest.raises(SystemExit):
        main(["evaluate", "--map", str(tmp_path / "map.tif"), "--reference", str(ref),
              "--json", str(tmp_path / "same"), "--confusion", str(tmp_path / "same")])
    assert "same file" in capsys.readouterr().err
    assert all(p.read_bytes() == data for p, data in before.items()) and not (tmp_path / "same").exists()


def test_a_map_of_a_crop_is_scored_against_the_whole_scenes_reference(tmp_path: Path) -> None:
    """The reference is on the map's grid with a larger extent: read through the crop's window, 0 outside."""
    from rasterio.transform import Affine

    from hsi_app.errors import HSIWarning
    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks.map_accuracy import evaluate_map

    rot = Affine.translation(600000.0, 4500000.0) * Affine.rotation(25.0) * Affine.scale(20.0, -20.0)
    rng = np.random.default_rng(5)
    ref = rng.integers(0, 4, size=(60, 50)).astype(np.uint8)  # the whole scene's reference
    write_class_map(tmp_path / "ref.tif", ref, None, crs="EPSG:32616", transform=rot, class_names=NAMES)
    crop = np.s_[20:45, 10:40]  # the map covers rows 20-44, cols 10-39
    cls = np.where(rng.uniform(size=(25, 30)) < 0.8, ref[crop], rng.integers(1, 4, size=(25, 30))).astype(np.uint8)
    write_class_map(tmp_path / "map.tif", cls, None, crs="EPSG:32616", transform=rot * Affine.translation(10, 20),
                    class_names=NAMES)
    with pytest.warns(HSIWarning, match=rf"ref\.tif: .*{np.count_nonzero(ref) - np.count_nonzero(ref[crop])} of its "
                                        rf"{np.count_nonzero(ref)} labelled pixels fall outside"):
        acc = evaluate_map(tmp_path / "map.tif", tmp_path / "ref.tif")
    expected = assess_map(cls, ref[crop].astype(np.int32), NAMES[1:])
    np.testing.assert_array_equal(acc.confusion, expected.confusion)
    assert acc.scores()["oa"] == pytest.approx(expected.scores()["oa"]) and 0.8 < acc.scores()["oa"] < 0.95


def test_a_reference_array_in_hand_scores_as_its_npy_file_does(tmp_path: Path) -> None:
    """cube.hsi.labels or cube.coords["label"] on the map's grid: the scores of the same labels saved as .npy."""
    import xarray as xr

    from hsi_app.io.cog import write_class_map
    from hsi_app.tasks.map_accuracy import evaluate_map

    rng = np.random.default_rng(8)
    ref = rng.integers(0, 4, size=(30, 40)).astype(np.int32)
    cls = np.where(rng.uniform(size=ref.shape) < 0.7, np.maximum(ref, 1), rng.integers(1, 4, size=ref.shape))
    write_class_map(tmp_path / "map.tif", cls.astype(np.uint8), None, crs="EPSG:32633", transform=T, class_names=NAMES)
    np.save(tmp_path / "ref.npy", ref)
    from_file = evaluate_map(tmp_path / "map.tif", tmp_path / "ref.npy")
    expected = assess_map(cls, ref, NAMES[1:])
    np.testing.assert_array_equal(from_file.confusion, expected.confusion)
    for given in (ref, xr.DataArray(ref, dims=("y", "x"))):
        acc = evaluate_map(tmp_path / "map.tif", given)
        np.testing.assert_array_equal(acc.confusion, expected.confusion)
        assert acc.to_dict() == from_file.to_dict()
    with pytest.raises(LabelError, match=r"^reference array: labels have shape \(40, 30\) but the cube is \(30, 40\)"):
        evaluate_map(tmp_path / "map.tif", ref.T)
    with pytest.raises(LabelError, match=r"^evaluate_map: the reference is a list; pass a label file path"):
        evaluate_map(tmp_path / "map.tif", ref.tolist())


def test_reference_classes_that_match_no_map_class_are_named_in_one_warning() -> None:
    """A naming slip (CORN - NOTILL for the map's Corn-notill) scored 9.81 % without a word (audit O #4)."""
    import warnings

    ref = np.array([[0, 1, 2, 2, 3, 3, 3, 4, 5, 6, 7, 8]])
    ref_names = ["unlabelled", "WATER", "C R O P", "Fallow", "Rye", "Oats", "Hay", "Barley", "Wheat"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        merge_class_names(NAMES, ref_names, ref, 3, source="ref.gpkg")
    said = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    assert said == ["ref.gpkg: 7 reference classes match no map class by name (C R O P, Fallow, Rye, Oats, Hay "
                    "and 2 more; 90.9% of the reference pixels), so every pixel of them counts as an error; names "
                    "match ignoring case and spacing, the map's are water, forest, crop"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)  # every class matched: no warning
        merge_class_names(NAMES, ["unlabelled", " CROP", "Water "], np.array([[0, 1, 2]]), 3)
        merge_class_names(None, None, ref, 3)  # numbers: nothing to match by name


def test_the_no_adjusted_area_note_names_the_classes() -> None:
    cls = np.array([[1, 1, 2, 2, 3, 4, 4]])
    ref = np.array([[1, 1, 2, 2, 0, 4, 0]])
    note = assess_map(cls, ref, ["a", "b", "c", "d"]).to_dict()["adjusted_area_note"]
    assert note == "no error-adjusted areas: mapped classes with fewer than 2 reference pixels: c (0), d (1)"
