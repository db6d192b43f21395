"""`hsi vectorize`: polygons follow pixel edges in map coordinates, the sieve enforces the mapping unit."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import Affine, from_origin

from hsi_app.errors import HSIWarning
from hsi_app.io.cog import write_class_map
from hsi_app.tasks.map_polygons import label_patches, sieve_classes, vectorize_map

T = from_origin(500000.0, 4100000.0, 10.0, 10.0)
NAMES = ["unlabelled", "water", "forest"]


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """20 x 30: water left half, forest right half, a 2-px forest speck in the water, a no-data corner."""
    cls = np.ones((20, 30), np.uint8)
    cls[:, 15:] = 2
    cls[5, 4:6] = 2  # speck
    cls[:3, :3] = 0  # no data
    conf = np.where(cls == 2, 0.8, 0.6).astype(np.float32)
    return cls, conf


def test_sieve_merges_small_patches_and_leaves_no_data() -> None:
    cls, _ = _scene()
    out = sieve_classes(cls, 3)
    assert out[5, 4] == 1 and out[5, 5] == 1  # the 2-px speck took the surrounding class
    assert (out[:3, :3] == 0).all() and ((out == 0) == (cls == 0)).all()
    assert (sieve_classes(cls, 1) == cls).all()


def test_sieve_repeats_until_no_patch_under_the_unit_touches_a_big_one() -> None:
    # A 4-px field, then a chain of small patches: 1 px, 1 px, then a 3-px patch whose only
    # neighbour is the 1-px one. One GDAL pass leaves the 3-px patch (its largest neighbour is
    # small and points back at it); after that pass it borders the grown field, so a second takes it.
    row = np.array([[3, 3, 3, 3, 2, 3, 1, 1, 1]], np.uint8)
    out = sieve_classes(row, 4)
    assert (out == 3).all()
    assert (label_patches(out).pixels >= 4).all()
    # small patches that touch no patch of the minimum size (here enclosed by no-data) stay
    island = np.zeros((5, 12), np.uint8)
    island[:, :6] = 1
    island[2, 8:10] = [2, 3]
    out = sieve_classes(island, 4)
    assert (out == island).all()


def _noise_map() -> np.ndarray:
    """120 x 120 px of per-pixel noise in 4 classes: a unit of 20 px settles one ring of patches per pass."""
    return np.random.default_rng(0).integers(1, 5, (120, 120)).astype(np.uint8)


def test_sieve_reaches_the_fixed_point_of_a_noisy_map_and_reports_its_passes() -> None:
    """Passes go on until nothing changes; each one after the first is reported (vectorize's progress)."""
    passes: list[int] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        out = sieve_classes(_noise_map(), 20, on_pass=passes.append)
    assert len(passes) > 5 and passes == list(range(2, len(passes) + 2))
    assert (sieve_classes(out, 20) == out).all()  # the fixed point: a second call changes nothing


def test_sieve_warns_once_when_it_stops_at_the_pass_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped at the cap, the result still holds small patches a second call would merge: one warning says so."""
    import hsi_app.tasks.map_polygons as mp

    monkeypatch.setattr(mp, "SIEVE_MAX_PASSES", 3)
    with pytest.warns(HSIWarning, match=r"sieve stopped after 3 passes with [\d,]+ px still in patches under the "
                                        r"20 px unit") as caught:
        out = sieve_classes(_noise_map(), 20)
    assert len([w for w in caught if issubclass(w.category, HSIWarning)]) == 1
    with pytest.warns(HSIWarning):
        assert (sieve_classes(out, 20) != out).any()


def test_sieve_that_reaches_the_fixed_point_on_its_last_allowed_pass_does_not_warn(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The passes that change pixels fill the cap exactly: the map is settled, so there is nothing to warn of
    (it warned, as if the cap had cut it short); one pass fewer leaves it unsettled and warns."""
    import hsi_app.tasks.map_polygons as mp

    passes: list[int] = []
    settled = sieve_classes(_noise_map(), 20, on_pass=passes.append)
    changing = len(passes)  # passes 1..len(passes) changed pixels; the last one reported found nothing to change
    monkeypatch.setattr(mp, "SIEVE_MAX_PASSES", changing)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        out = sieve_classes(_noise_map(), 20)
    assert (out == settled).all()
    monkeypatch.setattr(mp, "SIEVE_MAX_PASSES", changing - 1)
    with pytest.warns(HSIWarning, match=f"sieve stopped after {changing - 1} passes"):
        cut = sieve_classes(_noise_map(), 20)
    assert (cut != settled).any()


def test_sieve_takes_the_largest_neighbour_not_the_longest_shared_edge() -> None:
    cls = np.ones((20, 20), np.uint8)  # class 1: 375 px
    cls[4:9, 4:9] = 2  # class 2: 19 px around ...
    cls[5:7, 6:9] = 3  # ... a 6-px class-3 patch: 8 edges with class 2, 2 edges with class 1
    out = sieve_classes(cls, 7)
    assert (out[5:7, 6:9] == 1).all() and (out == 2).sum() == 19


def test_label_patches_counts_each_connected_patch() -> None:
    cls, _ = _scene()
    p = label_patches(cls)
    assert sorted(zip(p.classes.tolist(), p.pixels.tolist())) == [(1, 15 * 20 - 9 - 2), (2, 2), (2, 15 * 20)]
    diag = np.array([[1, 0], [0, 1]], np.uint8)
    assert label_patches(diag, 4).pixels.tolist() == [1, 1]
    assert label_patches(diag, 8).pixels.tolist() == [2]


def test_vectorize_writes_exact_polygons_in_map_coordinates(tmp_path: Path) -> None:
    import geopandas as gpd

    cls, conf = _scene()
    write_class_map(tmp_path / "map.tif", cls, conf, crs="EPSG:32633", transform=T, class_names=NAMES)
    res = vectorize_map(tmp_path / "map.tif", tmp_path / "p.gpkg", min_area_ha=0.03)  # 3 px of 100 m²
    assert res["min_pixels"] == 3 and res["sieved_pixels"] == 2 and res["polygons"] == 2
    gdf = gpd.read_file(tmp_path / "p.gpkg").sort_values("class_id").reset_index(drop=True)
    assert gdf.crs.to_epsg() == 32633 and list(gdf["class"]) == ["water", "forest"]
    assert gdf["pixels"].tolist() == [15 * 20 - 9, 15 * 20]
    assert gdf["area_ha"].tolist() == pytest.approx([291 * 100 / 1e4, 300 * 100 / 1e4])
    assert gdf.geometry.area.tolist() == pytest.approx([291 * 100.0, 300 * 100.0])  # traced along pixel edges
    assert gdf.geometry[1].bounds == pytest.approx((500150.0, 4099800.0, 500300.0, 4100000.0))
    # the speck is forest-confidence pixels now inside the water polygon: (289 * 0.6 + 2 * 0.8) / 291
    assert gdf["mean_confidence"].tolist() == pytest.approx([(289 * 0.6 + 2 * 0.8) / 291, 0.8], abs=2e-3)


def test_eight_connected_patches_are_valid_polygons(tmp_path: Path) -> None:
    """Pixels meeting only at a corner are one 8-connected patch: a valid MultiPolygon, not a pinched ring."""
    import geopandas as gpd

    cls = np.zeros((6, 6), np.uint8)
    cls[1, 1] = cls[2, 2] = cls[3, 3] = 1  # a diagonal of three pixels
    cls[1, 4] = 2
    write_class_map(tmp_path / "diag.tif", cls, None, crs="EPSG:32633", transform=T, class_names=NAMES)
    res = vectorize_map(tmp_path / "diag.tif", tmp_path / "d.gpkg", connectivity=8)
    gdf = gpd.read_file(tmp_path / "d.gpkg").sort_values("class_id").reset_index(drop=True)
    assert res["polygons"] == 2 and gdf["pixels"].tolist() == [3, 1]
    assert gdf.geometry.is_valid.all()
    assert gdf.geometry[0].geom_type == "MultiPolygon" and len(gdf.geometry[0].geoms) == 3
    assert gdf.geometry.area.tolist() == pytest.approx([300.0, 100.0])


def test_rotated_map_polygons_follow_the_transform(tmp_path: Path) -> None:
    import geopandas as gpd

    cls = np.zeros((10, 10), np.uint8)
    cls[2:4, 3:8] = 1
    t = Affine.translation(500000.0, 4100000.0) * Affine.rotation(-30.0) * Affine.scale(10.0, -10.0)
    write_class_map(tmp_path / "rot.tif", cls, None, crs="EPSG:32633", transform=t, class_names=NAMES[:2])
    vectorize_map(tmp_path / "rot.tif", tmp_path / "r.gpkg")
    poly = gpd.read_file(tmp_path / "r.gpkg").geometry[0]
    corners = [t * (3, 2), t * (8, 2), t * (8, 4), t * (3, 4)]
    for x, y in corners:
        assert poly.exterior.distance(gpd.points_from_xy([x], [y])[0]) < 1e-6
    assert poly.area == pytest.approx(10 * 100.0)


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.cli.main import main

    cls, conf = _scene()
    write_class_map(tmp_path / "geo.tif", cls, conf, crs="EPSG:4326", transform=from_origin(10, 50, 1e-4, 1e-4),
                    class_names=NAMES)
    write_class_map(tmp_path / "pix.tif", cls, conf, crs=None, transform=None, class_names=NAMES)
    cases = [
        (["--map", str(tmp_path / "pix.tif"), "--out", str(tmp_path / "a.gpkg"), "--min-area", "1"],
         "--min-area needs a map CRS"),
        (["--map", str(tmp_path / "geo.tif"), "--out", str(tmp_path / "geo.tif")], "--out would overwrite the --map"),
        (["--map", str(tmp_path / "geo.tif"), "--out", str(tmp_path / "a.gpkg"), "--connectivity", "6"], "use 4 or 8"),
        (["--map", str(tmp_path / "geo.tif"), "--out", str(tmp_path / "a.gpkg"), "--min-pixels", "0"], "at least 1"),
    ]
    for args, needle in cases:
        with pytest.raises(SystemExit) as exc:
            main(["vectorize", *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert exc.value.code == 2 and len(err) == 1 and needle in err[0], (args, err)
    assert not (tmp_path / "a.gpkg").exists()
    main(["vectorize", "--map", str(tmp_path / "geo.tif"), "--out", str(tmp_path / "b.gpkg"), "--connectivity", "8"])
    assert "polygons" in capsys.readouterr().out


def test_vectorize_help_states_the_largest_neighbour_by_pixel_count(capsys: pytest.CaptureFixture[str]) -> None:
    """The help said "largest-border neighbour", the rule before the sieve took the largest patch (review 2 #5)."""
    from cli_runner import run_main

    code, out, _ = run_main(capsys, "vectorize", "--help")
    flat = " ".join(out.split())
    assert code == 0 and "take the class of their largest neighbour (by pixel count)" in flat
    assert "largest-border" not in flat
