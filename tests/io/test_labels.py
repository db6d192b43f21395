"""read_labels: .npy, MATLAB v5 / v7.3, GeoTIFF and vector labels on a cube grid."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import h5py

from fixture_loader import fixture_module
import numpy as np
import pytest
import scipy.io
from rasterio.transform import from_origin
from shapely.geometry import box

from hsi_app.errors import DatasetNotFoundError, HSIWarning, LabelError, UnknownKeyError
from hsi_app.io.cog import write_class_map
from hsi_app.io.cube import Cube, make_cube
from hsi_app.io.labels import read_labels

H, W = 14, 9  # not square, so a transposition error changes the shape
CRS = "EPSG:32632"
TRANSFORM = from_origin(600000.0, 5100000.0, 30.0, 30.0)


def _cube(georef: bool = False) -> Cube:
    data = np.ones((3, H, W), dtype=np.float32)
    if not georef:
        return make_cube(data)
    return make_cube(data, crs=CRS, transform=TRANSFORM,
                     x=600000.0 + 30.0 * (np.arange(W) + 0.5), y=5100000.0 - 30.0 * (np.arange(H) + 0.5))


def _labels(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 6, size=(H, W)).astype(np.uint8)


def write_mat73(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """MATLAB v7.3 writer shared with the .mat fixtures (tests/data/mat/make.py)."""
    fixture_module("mat").write_v73(path, arrays)


def test_npy(tmp_path: Path) -> None:
    lab = _labels()
    np.save(tmp_path / "gt.npy", lab)
    got, names = read_labels(tmp_path / "gt.npy", _cube())
    assert got.dtype == np.int32 and names is None
    np.testing.assert_array_equal(got, lab)


def test_npy_with_objects_is_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(LabelError, match=r"obj\.npy"):
        read_labels(tmp_path / "obj.npy", _cube())


def test_shape_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "gt.npy", _labels().T)
    with pytest.raises(LabelError, match=r"gt\.npy.*\(9, 14\).*\(14, 9\)"):
        read_labels(tmp_path / "gt.npy", _cube())


def test_mat_v5_single_and_keyed(tmp_path: Path) -> None:
    lab = _labels(1)
    scipy.io.savemat(tmp_path / "gt.mat", {"indian_pines_gt": lab})
    got, _ = read_labels(tmp_path / "gt.mat", _cube())
    np.testing.assert_array_equal(got, lab)

    other = _labels(2)
    scipy.io.savemat(tmp_path / "two.mat", {"train": lab, "test": other})
    with pytest.raises(LabelError, match="test, train.*key="):
        read_labels(tmp_path / "two.mat", _cube())
    got, _ = read_labels(tmp_path / "two.mat", _cube(), key="test")
    np.testing.assert_array_equal(got, other)
    with pytest.raises(UnknownKeyError, match="'gt'.*test, train"):
        read_labels(tmp_path / "two.mat", _cube(), key="gt")


def test_mat_v5_picks_the_array_on_the_cube_grid(tmp_path: Path) -> None:
    lab = _labels(3)
    scipy.io.savemat(tmp_path / "gt.mat", {"gt": lab, "legend": np.ones((2, 6))})
    got, _ = read_labels(tmp_path / "gt.mat", _cube())
    np.testing.assert_array_equal(got, lab)


def test_mat_v73_is_transposed_back(tmp_path: Path) -> None:
    lab = _labels(4)
    path = tmp_path / "gt73.mat"
    write_mat73(path, {"salinas_gt": lab})
    with h5py.File(path, "r") as fh:  # the fixture really is column-major
        assert fh["salinas_gt"].shape == (W, H)
    got, _ = read_labels(path, _cube())
    np.testing.assert_array_equal(got, lab)


def test_mat_v73_key_and_float_labels(tmp_path: Path) -> None:
    lab = _labels(5)
    path = tmp_path / "gt73.mat"
    write_mat73(path, {"a": lab.astype(np.float64), "b": _labels(6)})
    got, _ = read_labels(path, _cube(), key="a")
    np.testing.assert_array_equal(got, lab)


def test_geotiff_labels_with_class_names(tmp_path: Path) -> None:
    lab = _labels(7)
    names = [f"c{i}" for i in range(6)]
    write_class_map(tmp_path / "gt.tif", lab, None, crs=CRS, transform=TRANSFORM, class_names=names)
    got, got_names = read_labels(tmp_path / "gt.tif", _cube(georef=True))
    np.testing.assert_array_equal(got, lab)
    assert got_names == names


@pytest.mark.parametrize("shift_m", [15.0, 300.0 + 0.06])
def test_geotiff_on_another_grid_is_refused(shift_m: float, tmp_path: Path) -> None:
    """A label raster shifted by half a 30 m pixel, or 10 pixels and 2e-3 of one, is not silently used."""
    shifted = from_origin(600000.0 + shift_m, 5100000.0, 30.0, 30.0)
    write_class_map(tmp_path / "gt.tif", _labels(), None, crs=CRS, transform=shifted,
                    class_names=[f"c{i}" for i in range(6)])
    with pytest.raises(LabelError, match="not on the cube's grid"):
        read_labels(tmp_path / "gt.tif", _cube(georef=True))


def test_a_label_raster_without_a_crs_on_a_georeferenced_scene_warns(tmp_path: Path) -> None:
    lab = _labels(8)
    write_class_map(tmp_path / "gt.tif", lab, None, crs=None, transform=None, class_names=[f"c{i}" for i in range(6)])
    with pytest.warns(HSIWarning, match=r"gt.tif: the label raster has no CRS, so its grid cannot be checked"):
        got, _ = read_labels(tmp_path / "gt.tif", _cube(georef=True))
    np.testing.assert_array_equal(got, lab)


def test_label_rasters_without_a_crs_are_checked_against_a_gridded_scene_without_one(tmp_path: Path) -> None:
    """Both on map grids without a CRS (kept since session 47): a raster from elsewhere is refused, not used."""
    from hsi_app.io.cube import make_cube

    lab = _labels(9)
    h, w = lab.shape
    cube = make_cube(np.ones((3, h, w), np.float32), transform=TRANSFORM)  # a grid, no CRS
    names = [f"c{i}" for i in range(6)]
    write_class_map(tmp_path / "same.tif", lab, None, crs=None, transform=TRANSFORM, class_names=names)
    got, _ = read_labels(tmp_path / "same.tif", cube)
    np.testing.assert_array_equal(got, lab)
    far = from_origin(TRANSFORM.c, TRANSFORM.f - 800.0, TRANSFORM.a, -TRANSFORM.e)
    write_class_map(tmp_path / "far.tif", lab, None, crs=None, transform=far, class_names=names)
    with pytest.raises(LabelError, match="not on the cube's grid"):
        read_labels(tmp_path / "far.tif", cube)


def test_vector_labels_are_dispatched(tmp_path: Path) -> None:
    path = tmp_path / "fields.gpkg"
    poly = box(600000.0 + 30 * 2, 5100000.0 - 30 * 5, 600000.0 + 30 * 4, 5100000.0 - 30 * 1)
    gpd.GeoDataFrame({"crop": ["wheat"]}, geometry=[poly], crs=CRS).to_file(path, driver="GPKG")
    got, names = read_labels(path, _cube(georef=True), attribute="crop")
    assert names == ["unlabelled", "wheat"]
    exp = np.zeros((H, W), dtype=np.int32)
    exp[1:5, 2:4] = 1
    np.testing.assert_array_equal(got, exp)


def test_unknown_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LabelError, match=r"notes\.txt: unrecognised"):
        read_labels(tmp_path / "notes.txt", _cube())
    with pytest.raises(DatasetNotFoundError):
        read_labels(tmp_path / "missing.npy", _cube())


@pytest.mark.parametrize("name", ["indian_pines", "hanchuan"])  # MATLAB v5 and v7.3 ground truth
def test_benchmark_ground_truth_files(mat_fixtures: dict, name: str) -> None:
    expected = mat_fixtures[f"{name}_labels"]
    like = make_cube(np.zeros((2, *expected.shape), dtype=np.float32))
    got, names = read_labels(mat_fixtures[f"{name}_gt"], like)
    np.testing.assert_array_equal(got, expected)
    assert names is None


def _points(path: Path, cells: list[tuple[int, int, str]]) -> Path:
    """Points at the centres of pixels ``(row, col)`` with a text ``crop`` class."""
    from shapely.geometry import Point

    geoms = [Point(600000.0 + 30 * (c + 0.5), 5100000.0 - 30 * (r + 0.5)) for r, c, _ in cells]
    gpd.GeoDataFrame({"crop": [n for _, _, n in cells]}, geometry=geoms, crs=CRS).to_file(path, driver="GPKG")
    return path


def test_train_and_test_vector_files_share_one_numbering(tmp_path: Path) -> None:
    """Each file alone numbers its own names (train: maize 1, wheat 2; test: wheat 1, zucchini 2)."""
    from hsi_app.io.labels import read_split_labels

    train = _points(tmp_path / "train.gpkg", [(0, 0, "wheat"), (1, 1, "maize")])
    test = _points(tmp_path / "test.gpkg", [(5, 5, "wheat"), (6, 6, "zucchini")])
    assert read_labels(train, _cube(True), attribute="crop")[0][0, 0] != read_labels(test, _cube(True),
                                                                                      attribute="crop")[0][5, 5]
    cube, (tr, te) = read_split_labels(_cube(True), (train, test), attribute="crop")
    names = cube.hsi.class_names
    assert names == ["unlabelled", "maize", "wheat", "zucchini"]
    assert names[tr[0, 0]] == names[te[5, 5]] == "wheat"
    assert names[tr[1, 1]] == "maize" and names[te[6, 6]] == "zucchini"
    assert (tr > 0).sum() == 2 and (te > 0).sum() == 2
    scene = _cube(True).hsi.with_labels(np.zeros((H, W), np.int32), ["unlabelled", "barley", "rye"])
    cube, (tr, te) = read_split_labels(scene, (train, None), attribute="crop")  # the scene's names lead
    assert cube.hsi.class_names == ["unlabelled", "barley", "rye", "maize", "wheat"] and te is None
    assert tr[0, 0] == 4 and tr[1, 1] == 3
    plain, maps = read_split_labels(_cube(True), (None, None))
    assert maps == [None, None] and plain.hsi.class_names is None


def test_names_differing_only_in_case_are_one_class(tmp_path: Path) -> None:
    """Train file 'Corn-notill', test file 'corn-notill ': one class (OA 0.4 % before); within one file too."""
    from hsi_app.io.labels import read_split_labels

    train = _points(tmp_path / "train.gpkg", [(0, 0, "Corn-notill"), (1, 1, "Oats"), (2, 2, "oats")])
    test = _points(tmp_path / "test.gpkg", [(5, 5, "corn-notill "), (6, 6, "OATS")])
    got, names = read_labels(train, _cube(True), attribute="crop")
    assert names == ["unlabelled", "Corn-notill", "Oats"] and got[1, 1] == got[2, 2] == 2
    cube, (tr, te) = read_split_labels(_cube(True), (train, test), attribute="crop")
    assert cube.hsi.class_names == ["unlabelled", "Corn-notill", "Oats"]
    assert tr[0, 0] == te[5, 5] == 1 and tr[1, 1] == tr[2, 2] == te[6, 6] == 2


def test_train_and_test_files_replace_the_scenes_own_labels(tmp_path: Path) -> None:
    """A scene with its own unnamed ground truth (ids up to 11): only the two files' classes count."""
    from hsi_app.io.labels import read_split_labels

    own = np.zeros((H, W), np.int32)
    own[3, 3] = 11
    scene = _cube(True).hsi.with_labels(own)
    train = _points(tmp_path / "train.gpkg", [(0, 0, "wheat"), (1, 1, "maize")])
    test = _points(tmp_path / "test.gpkg", [(5, 5, "wheat")])
    cube, (tr, te) = read_split_labels(scene, (train, test), attribute="crop")
    assert cube.hsi.labels is None and cube.hsi.class_names == ["unlabelled", "maize", "wheat"]
    kept, _ = read_split_labels(scene, (train, None), attribute="crop")  # one file: the scene's labels stay
    assert kept.hsi.labels is not None and kept.hsi.labels[3, 3] == 11


def _label_tif(path: Path, lab: np.ndarray, nodata: float | None) -> Path:
    """A single-band label GeoTIFF on the georeferenced test grid, in ``lab``'s dtype, with ``nodata`` tagged or not."""
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", count=1, height=H, width=W, dtype=lab.dtype.name, crs=CRS,
                       transform=TRANSFORM, nodata=nodata) as ds:
        ds.write(lab, 1)
    return path


def test_a_uint8_fill_of_255_without_a_nodata_tag_is_refused_with_the_fix(tmp_path: Path) -> None:
    """255 with classes 1-5 is uint8's fill value, not class 255 of a 255-class model; tagged as nodata it is 0."""
    lab = _labels(10)
    filled = lab.copy()
    filled[:3] = 255
    path = _label_tif(tmp_path / "fill.tif", filled, None)
    with pytest.raises(LabelError) as info:
        read_labels(path, _cube(georef=True))
    msg = str(info.value)
    assert msg.startswith(f"{path}: label id 255 looks like a fill value (the next largest id is {lab[3:].max()})")
    assert f"gdal_edit.py -a_nodata 255 {path}" in msg and "\n" not in msg
    np.save(tmp_path / "fill.npy", filled)
    with pytest.raises(LabelError, match=r"fill.npy: label id 255 looks like a fill value"):
        read_labels(tmp_path / "fill.npy", _cube())
    got, _ = read_labels(_label_tif(tmp_path / "tagged.tif", filled, 255), _cube(georef=True))
    np.testing.assert_array_equal(got, np.where(np.arange(H)[:, None] < 3, 0, lab))


def test_255_is_a_class_when_other_ids_reach_128(tmp_path: Path) -> None:
    lab = _labels(11).astype(np.int64) * 40  # ids 0, 40, ..., 200
    lab[0, 0] = 255
    np.save(tmp_path / "many.npy", lab)
    got, _ = read_labels(tmp_path / "many.npy", _cube())
    np.testing.assert_array_equal(got, lab)


def test_a_float_label_raster_with_nan_nodata_reads_those_pixels_as_unlabelled(tmp_path: Path) -> None:
    """QGIS/GDAL rasterize output: float32 with NaN as nodata. The NaN pixels are 0, like a finite nodata's."""
    lab = _labels(12)
    holes = np.zeros((H, W), bool)
    holes[2:5, 1:4] = True
    with_nan = np.where(holes, np.nan, lab).astype(np.float32)
    got, _ = read_labels(_label_tif(tmp_path / "nan.tif", with_nan, float("nan")), _cube(georef=True))
    np.testing.assert_array_equal(got, np.where(holes, 0, lab))
    with pytest.raises(LabelError, match="whole class numbers"):  # NaN the file does not call no-data stays refused
        read_labels(_label_tif(tmp_path / "untagged.tif", with_nan, None), _cube(georef=True))


def test_read_labels_and_open_cube_pass_the_layer(tmp_path: Path) -> None:
    """``layer=`` reaches the vector reader from read_labels, read_split_labels and open_cube."""
    from hsi_app.io import open_cube
    from hsi_app.io.labels import read_split_labels

    cube = make_cube(np.zeros((2, 4, 5), dtype=np.float32), crs="EPSG:32633", transform=from_origin(0, 40, 10, 10))
    path = tmp_path / "two.gpkg"
    for name, cls in (("aoi", 9), ("labels", 3)):
        gpd.GeoDataFrame({"class": [cls]}, geometry=[box(0, 30, 20, 40)], crs="EPSG:32633").to_file(
            path, layer=name, driver="GPKG")
    expected = np.zeros((4, 5), dtype=np.int32)
    expected[0, :2] = 3
    with pytest.raises(LabelError, match="aoi, labels"):
        read_labels(path, cube)
    np.testing.assert_array_equal(read_labels(path, cube, layer="labels")[0], expected)
    _, maps = read_split_labels(cube, (path, None), layer="labels")
    np.testing.assert_array_equal(maps[0], expected)
    tif = tmp_path / "scene.tif"
    cube.rio.to_raster(tif)
    np.testing.assert_array_equal(open_cube(tif, labels=path, label_layer="labels").hsi.labels, expected)


@pytest.mark.parametrize(
    ("origin", "size", "crs", "needle"),
    [
        ((600000.001, 5100000.0), 30.0, CRS, None),  # 1 mm = 3e-5 px: float noise, the same grid
        ((600000.0, 5100000.0 - 0.02), 30.0, CRS, None),  # 6.7e-4 px
        ((600000.0 + 15.0, 5100000.0 + 7.5), 30.0, CRS, "shifted by 0.50, -0.25 pixels"),
        ((600000.0 + 0.06, 5100000.0), 30.0, CRS, "shifted by 2.0e-03, 0.00 pixels"),
        ((600000.0, 5100000.0), 30.0 * (1 + 1e-5), CRS, "its pixels are 30.0003 x 30.0003, the scene's 30 x 30"),
        ((600000.0, 5100000.0), 30.0, "EPSG:32633", "its CRS is EPSG:32633, the scene's EPSG:32632"),
    ],
)
def test_label_raster_grid_tolerance_and_message(origin: tuple[float, float], size: float, crs: str,
                                                 needle: str | None, tmp_path: Path) -> None:
    """Origins under 1e-3 px apart are one grid; otherwise one line says what differs and gives the gdalwarp fix."""
    import rasterio

    lab = _labels(11)
    path = tmp_path / "gt.tif"
    with rasterio.open(path, "w", driver="GTiff", count=1, height=H, width=W, dtype="uint8", crs=crs,
                       transform=from_origin(*origin, size, size)) as ds:
        ds.write(lab.astype(np.uint8), 1)
    if needle is None:
        np.testing.assert_array_equal(read_labels(path, _cube(georef=True))[0], lab)
        return
    with pytest.raises(LabelError) as err:
        read_labels(path, _cube(georef=True))
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: the label raster is not on the cube's grid: {needle}"), msg
    west, north = 600000.0, 5100000.0
    assert (f"gdalwarp -t_srs EPSG:32632 -tr 30 30 -te {west:.10g} {north - 30 * H:.10g} {west + 30 * W:.10g} "
            f"{north:.10g}") in msg


def test_a_south_up_label_raster_is_named_flipped_not_a_different_pixel_size(tmp_path: Path) -> None:
    """The refusal said 'its pixels are 30 x 30, the scene's 30 x 30' for a raster with a positive y step."""
    import rasterio
    from rasterio.transform import Affine

    path = tmp_path / "south_up.tif"
    with rasterio.open(path, "w", driver="GTiff", count=1, height=H, width=W, dtype="uint8", crs="EPSG:32632",
                       transform=Affine(30.0, 0.0, 600000.0, 0.0, 30.0, 5100000.0 - 30 * H)) as ds:
        ds.write(_labels(11).astype(np.uint8), 1)
    with pytest.raises(LabelError, match=r"its axes are flipped or sheared against the scene's \(pixel steps 30, 0, "
                                         r"0, 30; the scene's 30, 0, 0, -30\)"):
        read_labels(path, _cube(georef=True))


def _write_tif(path: Path, lab: np.ndarray, transform, crs: str = CRS) -> Path:  # noqa: ANN001
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", count=1, height=lab.shape[0], width=lab.shape[1], dtype="uint8",
                       crs=crs, transform=transform, nodata=255) as ds:
        ds.write(lab.astype(np.uint8), 1)
    return path


@pytest.mark.parametrize("rotated", [False, True])
def test_a_label_raster_on_the_grid_with_another_extent_is_cut_to_the_scene(rotated: bool, tmp_path: Path) -> None:
    """Same grid, origin 3 columns left and 2 rows above the scene's (+1e-4 px of float noise), 20 x 25 px."""
    from rasterio.transform import Affine

    t = Affine.translation(600000.0, 5100000.0) * Affine.rotation(17.0 if rotated else 0.0) * Affine.scale(30.0, -30.0)
    scene = make_cube(np.ones((3, H, W), np.float32), crs=CRS, transform=t)
    big = np.random.default_rng(3).integers(0, 6, size=(20, 25)).astype(np.uint8)
    big[5, 5] = 255  # the file's nodata: unlabelled
    origin = t * (-3 + 1e-4, -2)
    path = _write_tif(tmp_path / "big.tif", big, Affine(t.a, t.b, origin[0], t.d, t.e, origin[1]))
    with pytest.warns(HSIWarning) as caught:
        got, _ = read_labels(path, scene)
    expected = np.where(big == 255, 0, big)[2 : 2 + H, 3 : 3 + W]  # scene pixel (r, c) = label pixel (r + 2, c + 3)
    np.testing.assert_array_equal(got, expected)
    outside = int(np.count_nonzero(np.where(big == 255, 0, big))) - int(np.count_nonzero(expected))
    msgs = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    assert len(msgs) == 1 and f"{outside} of its" in msgs[0] and "fall outside the cube" in msgs[0], msgs


def test_a_smaller_label_raster_inside_the_scene_leaves_the_rest_unlabelled(tmp_path: Path) -> None:
    import warnings

    small = np.arange(1, 13, dtype=np.uint8).reshape(3, 4) % 5 + 1
    path = _write_tif(tmp_path / "small.tif", small, from_origin(600000.0 + 2 * 30, 5100000.0 - 5 * 30, 30.0, 30.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)  # every labelled pixel is inside: nothing to warn about
        got, _ = read_labels(path, _cube(georef=True))
    expected = np.zeros((H, W), np.int32)
    expected[5:8, 2:6] = small
    np.testing.assert_array_equal(got, expected)
    far = _write_tif(tmp_path / "far.tif", small, from_origin(600000.0 + 30 * W, 5100000.0, 30.0, 30.0))
    with pytest.raises(LabelError, match=r"far\.tif: the label raster is on the grid of the cube but does not overlap "
                                         r"it \(its first pixel is column 9, row 0 of the cube, which is 9 x 14 px\)"):
        read_labels(far, _cube(georef=True))


def test_off_a_rotated_grid_the_fix_is_vector_labels_not_gdalwarp(tmp_path: Path) -> None:
    """gdalwarp -te/-tr makes north-up grids; sizes are hypot of the affine's columns; a rotation is named as such."""
    from rasterio.transform import Affine

    t = Affine.translation(600000.0, 4500000.0) * Affine.rotation(25.0) * Affine.scale(20.0, -20.0)
    scene = make_cube(np.ones((3, H, W), np.float32), crs=CRS, transform=t)
    north_up = _write_tif(tmp_path / "north_up.tif", _labels(), from_origin(600000.0, 4500000.0, 18.1262, 18.1262))
    with pytest.raises(LabelError) as err:
        read_labels(north_up, scene)
    msg = str(err.value)
    assert "its pixels are 18.1262 x 18.1262, the scene's 20 x 20;" in msg, msg
    assert "gdalwarp -t_srs" not in msg and "-r near" not in msg and "use vector labels" in msg and "cube.hsi.transform" in msg, msg
    turned = Affine.translation(600000.0, 4500000.0) * Affine.rotation(17.0) * Affine.scale(20.0, -20.0)
    with pytest.raises(LabelError, match=r"its grid is rotated by 17 degrees, the scene's by 25; .*use vector labels"):
        read_labels(_write_tif(tmp_path / "turned.tif", _labels(), turned), scene)
    nearly = from_origin(600000.0, 5100000.0, 30.00004, 30.0)  # 1.3e-6 off: printed with the digits that show it
    with pytest.raises(LabelError, match=r"its pixels are 30\.00004 x 30, the scene's 30 x 30;"):
        read_labels(_write_tif(tmp_path / "nearly.tif", _labels(), nearly), _cube(georef=True))


def test_open_cube_takes_a_label_array_with_the_same_checks_as_with_labels(tmp_path: Path) -> None:
    """``open_cube(path, labels=arr)``: an (H, W) array is attached as ``with_labels`` would, checked alike."""
    from hsi_app.io import open_cube

    tif = tmp_path / "scene.tif"
    _cube(georef=True).rio.to_raster(tif)
    lab = _labels(3)
    cube = open_cube(tif, labels=lab)
    assert cube.hsi.labels.dtype == np.int32
    np.testing.assert_array_equal(cube.hsi.labels, lab)
    with pytest.raises(LabelError, match=r"\(9, 14\).*\(14, 9\)"):
        open_cube(tif, labels=lab.T)
    with pytest.raises(LabelError):
        open_cube(tif, labels=lab + 0.5)  # fractional ids are refused as by with_labels


def test_split_without_names_must_be_on_the_labels_numbering(tmp_path: Path) -> None:
    """--labels names a replayed .npy split's ids, so they must agree where both label (audit K #2)."""
    from hsi_app.io.labels import read_split_labels

    own = _labels(1).astype(np.int32)
    scene = _cube(True).hsi.with_labels(own, ["unlabelled", "a", "b", "c", "d", "e"])
    same = np.where(np.arange(H * W).reshape(H, W) % 2 == 0, own, 0)
    np.save(tmp_path / "same.npy", same)
    _, (tr, te) = read_split_labels(scene, (tmp_path / "same.npy", None), labels_from="fields.gpkg")
    np.testing.assert_array_equal(tr, same)
    other = np.where(same > 0, same % 5 + 1, 0)  # every id moved: agrees nowhere
    np.save(tmp_path / "other.npy", other)
    with pytest.raises(LabelError, match=r"other\.npy: its ids are not --labels fields\.gpkg's: id 1 lies mostly on its class 5 \(e\)"):
        read_split_labels(scene, (tmp_path / "same.npy", tmp_path / "other.npy"), labels_from="fields.gpkg")
    read_split_labels(scene, (tmp_path / "other.npy", None))  # no --labels: the file's ids are its own


def _fields() -> tuple[np.ndarray, list[str]]:
    """100 x 100 px: four large fields and two small ones (Oats, Wheat: 20 px each, 0.2 % of the pixels)."""
    lab = np.zeros((100, 100), np.int32)
    lab[:50, :50], lab[:50, 50:], lab[50:, :50], lab[50:, 50:] = 1, 2, 3, 4
    lab[0:4, 0:5], lab[96:100, 95:100] = 5, 6
    return lab, ["unlabelled", "Corn", "Hay", "Soybean", "Woods", "Oats", "Wheat"]


def test_a_split_where_two_small_classes_trade_ids_is_refused_naming_them(tmp_path: Path) -> None:
    """Agreement is judged class by class: two 0.2 % classes swapped agree at 99.6 % overall (review 2 #2)."""
    from hsi_app.io.cube import make_cube
    from hsi_app.io.labels import read_split_labels

    lab, names = _fields()
    cube = make_cube(np.ones((3, 100, 100), np.float32), labels=lab, class_names=names)
    np.save(tmp_path / "tr.npy", np.array([0, 1, 2, 3, 4, 6, 5])[lab])
    with pytest.raises(LabelError, match=r"id 5 lies mostly on its class 6 \(Wheat\); id 6 lies mostly on "
                                         r"its class 5 \(Oats\); the split"):
        read_split_labels(cube, (tmp_path / "tr.npy", None), labels_from="fields.gpkg")


def test_a_label_file_corrected_on_5_percent_of_the_pixels_still_replays(tmp_path: Path) -> None:
    """The split's own numbering with 5 % of the --labels pixels re-classed since the run is accepted as it is."""
    from hsi_app.io.cube import make_cube
    from hsi_app.io.labels import SPLIT_AGREEMENT_MIN, read_split_labels

    lab, names = _fields()
    edited = lab.copy()
    rng = np.random.default_rng(0)
    flat = edited.ravel()
    moved = rng.choice(flat.size, flat.size // 20, replace=False)
    flat[moved] = flat[moved] % 4 + 1  # 5 % of the pixels now in another large class
    assert 0.94 < (edited == lab).mean() < 0.96 and SPLIT_AGREEMENT_MIN < 0.94
    cube = make_cube(np.ones((3, 100, 100), np.float32), labels=edited, class_names=names)
    np.save(tmp_path / "tr.npy", lab)
    _, (tr, _) = read_split_labels(cube, (tmp_path / "tr.npy", None), labels_from="fields.gpkg")
    np.testing.assert_array_equal(tr, lab)
    flat[rng.choice(flat.size, flat.size // 5, replace=False)] = 0  # unlabelled pixels do not count
    _, (tr, _) = read_split_labels(cube.hsi.with_labels(edited, names), (tmp_path / "tr.npy", None),
                                   labels_from="fields.gpkg")
    more = rng.choice(flat.size, flat.size // 10, replace=False)
    flat[more] = np.where(flat[more] > 0, lab.ravel()[more] % 4 + 1, 0)  # now ~15 % re-classed: under the floor
    with pytest.raises(LabelError, match=r"tr\.npy: class ids agree with --labels fields\.gpkg at only 8\d\.\d % of "):
        read_split_labels(cube.hsi.with_labels(edited, names), (tmp_path / "tr.npy", None), labels_from="fields.gpkg")


def test_a_fine_tunes_split_on_the_base_numbering_is_renumbered_by_name(tmp_path: Path) -> None:
    """Given the fine-tune's class plan, a split on the base's ids (a fine-tune's split.npz) goes onto --labels' ids."""
    from hsi_app.io.cube import make_cube
    from hsi_app.io.labels import read_split_labels
    from hsi_app.tasks.finetune_classes import plan_classes

    lab, names = _fields()
    base_names = ["unlabelled", "Wheat", "Woods", "Oats", "Soybean", "Hay", "Corn", "Rye"]
    to_base = np.array([base_names.index(n) if i else 0 for i, n in enumerate(names)])
    plan = plan_classes(base_names, names, [lab])
    assert plan.table is not None
    np.testing.assert_array_equal(plan.table, to_base)  # the plan's table is the renumbering by name
    cube = make_cube(np.ones((3, 100, 100), np.float32), labels=lab, class_names=names)
    np.save(tmp_path / "tr.npy", to_base[lab])
    _, (tr, _) = read_split_labels(cube, (tmp_path / "tr.npy", None), labels_from="f.gpkg", to_base=plan.table)
    np.testing.assert_array_equal(tr, lab)
    with pytest.raises(LabelError, match="replayed without its --base"):
        read_split_labels(cube, (tmp_path / "tr.npy", None), labels_from="f.gpkg")
