"""GeoPackage detections and vector labels rasterised onto a cube grid."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from rasterio.transform import Affine, from_origin
from shapely.geometry import Point, box

from hsi_app.errors import DatasetNotFoundError, InvalidDataError, LabelError, OutputError
from hsi_app.io.cube import Cube, make_cube
from hsi_app.io.vector import Grid, read_vector_labels, write_points

CRS = "EPSG:32633"
X0, Y0, RES = 500000.0, 4000000.0, 10.0
H, W = 30, 40


def _cube(georef: bool = True) -> Cube:
    data = np.zeros((2, H, W), dtype=np.float32)
    if not georef:
        return make_cube(data)
    return make_cube(
        data, crs=CRS, transform=from_origin(X0, Y0, RES, RES),
        x=X0 + RES * (np.arange(W) + 0.5), y=Y0 - RES * (np.arange(H) + 0.5),
    )


def _pixel_box(row0: int, col0: int, row1: int, col1: int):  # type: ignore[no-untyped-def]
    """Map-coordinate box covering rows row0..row1-1 and cols col0..col1-1 exactly."""
    return box(X0 + col0 * RES, Y0 - row1 * RES, X0 + col1 * RES, Y0 - row0 * RES)


def _centre(row: int, col: int) -> Point:
    return Point(X0 + (col + 0.5) * RES, Y0 - (row + 0.5) * RES)


def _expected() -> np.ndarray:
    lab = np.zeros((H, W), dtype=np.int32)
    lab[3:7, 2:6] = 1
    lab[0:5, 10:20] = 2
    lab[20, 30] = 3
    return lab


def _features() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"class": [1, 2, 3], "name": ["soy", "corn", "water"]},
        geometry=[_pixel_box(3, 2, 7, 6), _pixel_box(0, 10, 5, 20), _centre(20, 30)],
        crs=CRS,
    )


def test_polygons_and_points_burn_the_right_pixels(tmp_path: Path) -> None:
    path = tmp_path / "labels.gpkg"
    _features().to_file(path, driver="GPKG")
    labels, names = read_vector_labels(path, _cube())
    assert labels.dtype == np.int32 and labels.shape == (H, W)
    np.testing.assert_array_equal(labels, _expected())
    assert np.bincount(labels.ravel()).tolist() == [H * W - 16 - 50 - 1, 16, 50, 1]
    assert names is None


def test_text_classes_map_to_sorted_indices(tmp_path: Path) -> None:
    path = tmp_path / "labels.shp"
    gdf = _features()
    gdf.loc[2, "geometry"] = _pixel_box(20, 30, 21, 31)  # a Shapefile holds one geometry type
    gdf.to_file(path, driver="ESRI Shapefile")
    labels, names = read_vector_labels(path, _cube(), attribute="name")
    assert names == ["unlabelled", "corn", "soy", "water"]
    exp = _expected()
    np.testing.assert_array_equal(labels, np.select([exp == 1, exp == 2, exp == 3], [2, 1, 3], 0))


def test_text_classes_follow_given_class_names(tmp_path: Path) -> None:
    path = tmp_path / "labels.gpkg"
    _features().to_file(path, driver="GPKG")
    given = ["unlabelled", "water", "soy", "corn"]
    labels, names = read_vector_labels(path, _cube(), attribute="name", class_names=given)
    assert names == given
    assert labels[20, 30] == 1 and labels[3, 2] == 2 and labels[0, 10] == 3
    with pytest.raises(LabelError, match="water"):
        read_vector_labels(path, _cube(), attribute="name", class_names=["unlabelled", "soy", "corn"])


def test_layer_in_another_crs_is_reprojected(tmp_path: Path) -> None:
    path = tmp_path / "wgs84.gpkg"
    _features().to_crs("EPSG:4326").to_file(path, driver="GPKG")
    labels, _ = read_vector_labels(path, _cube())
    np.testing.assert_array_equal(labels, _expected())


def test_missing_attribute_lists_the_attributes(tmp_path: Path) -> None:
    path = tmp_path / "labels.gpkg"
    _features().to_file(path, driver="GPKG")
    with pytest.raises(LabelError, match=r"labels\.gpkg.*found: class, name.*attribute="):
        read_vector_labels(path, _cube(), attribute="landcover")


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_layer_without_crs_on_georeferenced_cube(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.gpkg"
    _features().set_crs(None, allow_override=True).to_file(path, driver="GPKG")
    with pytest.raises(LabelError, match="no CRS"):
        read_vector_labels(path, _cube())


def test_features_outside_the_cube(tmp_path: Path) -> None:
    path = tmp_path / "far.gpkg"
    far = _features().translate(xoff=1e5)
    gpd.GeoDataFrame({"class": [1, 2, 3]}, geometry=far, crs=CRS).to_file(path, driver="GPKG")
    with pytest.raises(LabelError, match=r"far\.gpkg: none of the 3 features overlaps"):
        read_vector_labels(path, _cube())


def test_some_features_outside_warn(tmp_path: Path) -> None:
    path = tmp_path / "partly.gpkg"
    gdf = _features()
    gdf.loc[3] = [4, "x", _centre(-50, -50)]
    gdf.to_file(path, driver="GPKG")
    with pytest.warns(UserWarning, match="1 of 4 features lie outside"):
        labels, _ = read_vector_labels(path, _cube())
    np.testing.assert_array_equal(labels, _expected())


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_pixel_coordinates_on_cube_without_crs(tmp_path: Path) -> None:
    path = tmp_path / "pixels.gpkg"
    gpd.GeoDataFrame({"class": [5]}, geometry=[box(1, 2, 4, 3)]).to_file(path, driver="GPKG")
    labels, _ = read_vector_labels(path, _cube(georef=False))
    exp = np.zeros((H, W), dtype=np.int32)
    exp[2, 1:4] = 5  # x = columns 1..3, y = row 2
    np.testing.assert_array_equal(labels, exp)
    grid_labels, _ = read_vector_labels(path, Grid(H, W, from_origin(0, 0, 1, -1)))
    np.testing.assert_array_equal(grid_labels, exp)


@pytest.mark.filterwarnings("ignore:GPKG")
def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError):
        read_vector_labels(tmp_path / "nope.gpkg", _cube())
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(LabelError, match=r"bad\.gpkg"):
        read_vector_labels(bad, _cube())


def test_write_points_round_trip(tmp_path: Path) -> None:
    dst = tmp_path / "det.gpkg"
    xs = np.array([500005.0, 500155.0])
    ys = np.array([3999995.0, 3999805.0])
    write_points(dst, xs, ys, {"score": np.array([0.9, 0.4]), "label": ["car", "ship"]}, crs=CRS)
    got = gpd.read_file(dst, layer="detections")
    assert got.crs.to_epsg() == 32633
    np.testing.assert_allclose(got.geometry.x, xs)
    np.testing.assert_allclose(got.geometry.y, ys)
    np.testing.assert_allclose(got["score"], [0.9, 0.4])
    assert got["label"].tolist() == ["car", "ship"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["det.gpkg"]


def test_write_points_checks_lengths_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError, match="score"):
        write_points(tmp_path / "a.gpkg", [1.0, 2.0], [1.0, 2.0], {"score": [1.0]}, crs=None)
    with pytest.raises(OutputError):
        write_points(tmp_path / "no" / "a.gpkg", [1.0], [1.0], {}, crs=None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("reader", ["labels", "points"])
def test_ogr_vrt_is_never_read(tmp_path: Path, reader: str) -> None:
    """An OGR VRT (XML) may point GDAL at any file on the machine: refused by content, whatever its
    name, by the label reader and by the detection points reader, even after 8 KB of padding."""
    from hsi_app.tasks.detection import read_points

    secret = tmp_path / "secret.csv"
    secret.write_text("class,WKT\n1,POINT (0 0)\n")
    vrt = tmp_path / "labels.gpkg"
    vrt.write_text(" " * 8192 + f'<OGRVRTDataSource><OGRVRTLayer name="secret"><SrcDataSource>{secret}'
                   "</SrcDataSource></OGRVRTLayer></OGRVRTDataSource>")
    with pytest.raises(LabelError, match="OGR virtual"):
        if reader == "labels":
            read_vector_labels(vrt, Grid(4, 4, Affine.identity()))
        else:
            read_points(vrt)


def _two_layer_file(tmp_path: Path) -> Path:
    """A GeoPackage with a ``draft`` layer (classes swapped) before the ``labels`` layer."""
    path = tmp_path / "multi.gpkg"
    draft = _features()
    draft["class"] = [2, 1, 3]
    draft.to_file(path, layer="draft", driver="GPKG")
    _features().to_file(path, layer="labels", driver="GPKG")
    return path


def test_a_multi_layer_file_needs_a_layer(tmp_path: Path) -> None:
    path = _two_layer_file(tmp_path)
    with pytest.raises(LabelError, match=r"multi\.gpkg: holds 2 layers \(draft, labels\).*--label-layer NAME") as err:
        read_vector_labels(path, _cube())
    assert "\n" not in str(err.value)
    labels, _ = read_vector_labels(path, _cube(), layer="labels")
    np.testing.assert_array_equal(labels, _expected())
    draft, _ = read_vector_labels(path, _cube(), layer="draft")
    np.testing.assert_array_equal(draft, np.select([_expected() == 1, _expected() == 2], [2, 1], _expected()))
    with pytest.raises(LabelError, match=r"no layer 'other'; layers found: draft, labels.*--label-layer"):
        read_vector_labels(path, _cube(), layer="other")


def test_a_one_layer_file_needs_no_layer(tmp_path: Path) -> None:
    path = tmp_path / "one.gpkg"
    _features().to_file(path, layer="whatever", driver="GPKG")
    labels, _ = read_vector_labels(path, _cube())
    np.testing.assert_array_equal(labels, _expected())


def _hole_expected() -> np.ndarray:
    exp = np.zeros((H, W), dtype=np.int32)
    exp[2:12, 2:12] = 1
    exp[2:12, 20:30] = 2
    exp[4:8, 4:8] = 0  # the hole
    return exp


@pytest.mark.parametrize("hole_first", [False, True])
def test_class_zero_features_exclude_their_pixels(tmp_path: Path, hole_first: bool) -> None:
    """A class-0 polygon clears the pixels it covers, drawn before or after the class it cuts."""
    geoms = [_pixel_box(2, 2, 12, 12), _pixel_box(2, 20, 12, 30), _pixel_box(4, 4, 8, 8)]
    classes = [1, 2, 0]
    order = [2, 0, 1] if hole_first else [0, 1, 2]
    path = tmp_path / "hole.gpkg"
    gpd.GeoDataFrame({"class": [classes[i] for i in order]}, geometry=[geoms[i] for i in order],
                     crs=CRS).to_file(path, driver="GPKG")
    labels, _ = read_vector_labels(path, _cube())
    np.testing.assert_array_equal(labels, _hole_expected())


def test_text_unlabelled_excludes_and_is_no_class(tmp_path: Path) -> None:
    path = tmp_path / "hole.gpkg"
    gpd.GeoDataFrame({"name": ["Corn", " UNLABELLED ", "wheat"]},
                     geometry=[_pixel_box(2, 2, 12, 12), _pixel_box(4, 4, 8, 8), _pixel_box(2, 20, 12, 30)],
                     crs=CRS).to_file(path, driver="GPKG")
    labels, names = read_vector_labels(path, _cube(), attribute="name")
    assert names == ["unlabelled", "Corn", "wheat"]
    np.testing.assert_array_equal(labels, _hole_expected())
    given = ["unlabelled", "wheat", "Corn"]
    labels, names = read_vector_labels(path, _cube(), attribute="name", class_names=given)
    assert names == given
    np.testing.assert_array_equal(labels, np.select([_hole_expected() == 1, _hole_expected() == 2], [2, 1], 0))


def _overlap_frame(reverse: bool) -> gpd.GeoDataFrame:
    """Corn (cols 2-11) and wheat (cols 8-17) overlapping by 4 columns, plus a second Corn polygon inside the first."""
    rows = [("Corn", _pixel_box(2, 2, 8, 12)), ("wheat", _pixel_box(2, 8, 8, 18)), ("corn", _pixel_box(3, 3, 5, 5))]
    rows = rows[::-1] if reverse else rows
    return gpd.GeoDataFrame({"name": [r[0] for r in rows]}, geometry=[r[1] for r in rows], crs=CRS)


def test_overlaps_of_different_classes_are_unlabelled_in_any_order(tmp_path: Path) -> None:
    from hsi_app.errors import HSIWarning

    exp = np.zeros((H, W), dtype=np.int32)
    exp[2:8, 2:8] = 1
    exp[2:8, 12:18] = 2  # columns 8-11 are claimed by both and left unlabelled
    maps = []
    for reverse in (False, True):
        path = tmp_path / f"overlap_{reverse}.gpkg"
        _overlap_frame(reverse).to_file(path, driver="GPKG")
        with pytest.warns(HSIWarning, match=r"24 pixels are covered by features of different classes \([Cc]orn, wheat\)"):
            labels, names = read_vector_labels(path, _cube(), attribute="name")
        np.testing.assert_array_equal(labels, exp)
        assert names == ["unlabelled", "Corn", "wheat"] or names == ["unlabelled", "corn", "wheat"]
        maps.append(labels)
    np.testing.assert_array_equal(maps[0], maps[1])


def test_same_class_overlaps_do_not_warn(tmp_path: Path) -> None:
    import warnings

    from hsi_app.errors import HSIWarning

    path = tmp_path / "same.gpkg"
    gpd.GeoDataFrame({"class": [1, 1]}, geometry=[_pixel_box(2, 2, 8, 12), _pixel_box(2, 8, 8, 18)],
                     crs=CRS).to_file(path, driver="GPKG")
    with warnings.catch_warnings():
        warnings.simplefilter("error", HSIWarning)
        labels, _ = read_vector_labels(path, _cube())
    assert int(labels.sum()) == 6 * 16 and set(np.unique(labels).tolist()) == {0, 1}


def test_plots_smaller_than_a_pixel_label_their_pixel(tmp_path: Path) -> None:
    """10 x 10 m plots on a 30 m grid: each labels exactly the pixel containing it, centre or not."""
    from rasterio.features import rasterize

    from hsi_app.errors import HSIWarning

    res = 30.0
    grid = Grid(12, 10, from_origin(X0, Y0, res, res), CRS)

    def plot(row: int, col: int, dx: float, dy: float):  # type: ignore[no-untyped-def]
        """A 10 x 10 m plot whose top-left corner is (dx, dy) m into pixel (row, col)."""
        x, y = X0 + col * res + dx, Y0 - row * res - dy
        return box(x, y - 10, x + 10, y)

    plots = {(1, 1): plot(1, 1, 1, 1), (1, 3): plot(1, 3, 19, 19), (4, 2): plot(4, 2, 10, 10),  # the last covers the centre
             (6, 6): plot(6, 6, 19, 1)}
    field = box(X0 + 5 * res, Y0 - 11 * res, X0 + 9 * res, Y0 - 8 * res)  # rows 8-10, cols 5-8
    inside_field = plot(9, 6, 1, 1)  # a wheat plot in a pixel whose centre the Corn field covers
    path = tmp_path / "plots.gpkg"
    gpd.GeoDataFrame({"name": ["Alfalfa"] * 4 + ["Corn", "wheat"]},
                     geometry=[*plots.values(), field, inside_field], crs=CRS).to_file(path, driver="GPKG")
    with pytest.warns(HSIWarning, match=r"plots\.gpkg: 4 polygons cover no pixel centre"):
        labels, names = read_vector_labels(path, grid, attribute="name")
    assert names == ["unlabelled", "Alfalfa", "Corn", "wheat"]
    exp = rasterize([(field, 2)], out_shape=(12, 10), transform=grid.transform, dtype="int32")
    assert rasterize([(g, 1) for g in plots.values()], out_shape=(12, 10), transform=grid.transform).sum() == 1
    for row, col in plots:
        exp[row, col] = 1
    np.testing.assert_array_equal(labels, exp)


def _bresenham(c0: int, r0: int, c1: int, r1: int) -> list[tuple[int, int]]:
    """``(row, col)`` of the textbook Bresenham line between two pixels."""
    out, dc, dr = [], abs(c1 - c0), -abs(r1 - r0)
    sc, sr, err = (1 if c1 > c0 else -1), (1 if r1 > r0 else -1), dc - abs(r1 - r0)
    while True:
        out.append((r0, c0))
        if (c0, r0) == (c1, r1):
            return out
        e2 = 2 * err
        if e2 >= dr:
            err, c0 = err + dr, c0 + sc
        if e2 <= dc:
            err, r0 = err + dc, r0 + sr


def test_a_diagonal_line_burns_one_pixel_per_column_not_every_pixel_it_crosses(tmp_path: Path) -> None:
    """As the module docstring says: the Bresenham path between the vertices' pixels, not every crossed pixel."""
    from rasterio.features import rasterize
    from shapely.geometry import LineString

    import hsi_app.io.vector as vector

    transform = from_origin(X0, Y0, RES, RES)
    line = LineString([transform * (1.2, 1.7), transform * (20.7, 9.3)])  # 19.5 columns by 7.6 rows
    path = tmp_path / "line.gpkg"
    gpd.GeoDataFrame({"class": [1]}, geometry=[line], crs=CRS).to_file(path, driver="GPKG")
    labels, _ = read_vector_labels(path, _cube())
    thin = rasterize([(line, 1)], out_shape=(H, W), transform=transform)
    crossed = rasterize([(line, 1)], out_shape=(H, W), transform=transform, all_touched=True)
    np.testing.assert_array_equal(labels, thin)
    rows, cols = np.nonzero(labels)
    assert sorted(cols.tolist()) == list(range(1, 21))  # one pixel in each column 1..20
    assert labels.sum() == 20 < crossed.sum() == 28
    bres = np.zeros((H, W), dtype=np.int32)
    for r, c in _bresenham(1, 1, 20, 9):
        bres[r, c] = 1
    np.testing.assert_array_equal(labels, bres)
    assert "every pixel they cross" not in (vector.__doc__ or "")
