"""Vector labels and references as GIS users have them (audit mapaudit).

Shapefiles in UTF-8 without ``.cpg``, GeoJSON in lon/lat over a UTM map (and GeoJSON of UTM metres
without a ``crs`` member), blank text classes, ids typed as text, a reference only on no-data; and
``hsi evaluate`` checked against scikit-learn and a hand-coded Olofsson et al. (2014) estimate.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from shapely.geometry import MultiPolygon, Point, Polygon, box

from hsi_app.errors import HSIWarning, LabelError
from hsi_app.io.vector import Grid, read_vector_labels
from tests.accented_map import NAMES, RES, T, X0, Y0, pixel_box, write_accented_map
from tests.cli_runner import assert_one_error_line, run_main

GRID = Grid(40, 50, T, CRS.from_epsg(32633))


def _reference(tmp_path: Path, fmt: str) -> tuple[Path, np.ndarray]:
    """A reference with a polygon with a hole, a MultiPolygon, a self-intersecting bow tie, field-plot points,
    a polygon partly off the map and one on its no-data corner, class names in other case and spacing;
    written as GeoJSON (lon/lat, as RFC 7946 requires) or as a UTF-8 Shapefile without .cpg in UTM zone 32
    (the map is in zone 33). Returned with the reference rasterised independently in UTM 33 (rasterio,
    make_valid)."""
    from rasterio.features import rasterize
    from shapely import make_valid

    donut = Polygon(pixel_box(5, 5, 20, 18).exterior.coords, [pixel_box(9, 9, 14, 14).exterior.coords])
    multi = MultiPolygon([pixel_box(5, 25, 12, 32), pixel_box(15, 25, 20, 45)])
    c0, r0, c1, r1 = X0 + 35 * RES, Y0 - 26 * RES, X0 + 48 * RES, Y0 - 38 * RES
    bowtie = Polygon([(c0, r0), (c1, r1), (c1, r0), (c0, r1)])
    points = [Point(X0 + (c + 0.5) * RES, Y0 - (r + 0.5) * RES) for r, c in ((30, 3), (33, 10), (36, 15))]
    polys = [donut, multi, bowtie, pixel_box(22, -10, 30, 8), pixel_box(0, 0, 3, 3)]
    poly_names = [" eau", "FORÊT", "culture de maïs irriguée", "Culture de maïs irriguée", "Eau"]
    point_names = ["Eau", "Forêt", "Forêt"]
    ids = {"eau": 1, "forêt": 2, "culture de maïs irriguée": 3}
    ref = np.zeros((40, 50), np.int32)
    for g, n in zip(polys + points, poly_names + point_names, strict=True):  # no two features overlap
        burnt = rasterize([(make_valid(g), ids[n.strip().lower()])], out_shape=ref.shape, transform=T, dtype="int32")
        ref = np.maximum(ref, burnt)
    if fmt == "geojson":
        path = tmp_path / "ref.geojson"
        gdf = gpd.GeoDataFrame({"classe": poly_names + point_names}, geometry=polys + points, crs="EPSG:32633")
        gdf.to_crs("EPSG:4326").to_file(path, driver="GeoJSON")
    else:  # a Shapefile holds one geometry type: the polygons (the plots' pixels are left out of ref)
        path = tmp_path / "ref.shp"
        gdf = gpd.GeoDataFrame({"classe": poly_names}, geometry=polys, crs="EPSG:32633").to_crs("EPSG:32632")
        gdf.to_file(path, encoding="UTF-8")
        path.with_suffix(".cpg").unlink()  # as older tools write them
        for r, c in ((30, 3), (33, 10), (36, 15)):
            ref[r, c] = 0
    return path, ref


@pytest.mark.parametrize("fmt", ["geojson", "shp"])
def test_evaluate_matches_sklearn_and_a_hand_olofsson_estimate(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                fmt: str) -> None:
    from sklearn.metrics import cohen_kappa_score, confusion_matrix, recall_score

    cls = write_accented_map(tmp_path / "map.tif")
    ref_path, ref = _reference(tmp_path, fmt)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}
    code, _, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "map.tif"), "--reference", str(ref_path),
                            "--label-attribute", "classe", "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    on = (ref > 0) & (cls > 0)
    y, p = ref[on], cls[on]
    cm = confusion_matrix(y, p, labels=[1, 2, 3])
    assert report["class_names"] == NAMES[1:]  # accented names matched, none added
    assert report["confusion_matrix"] == cm.tolist()
    assert report["n_unmapped"] == int(((ref > 0) & (cls == 0)).sum()) > 0
    assert report["oa"] == pytest.approx(np.trace(cm) / cm.sum())
    assert report["kappa"] == pytest.approx(cohen_kappa_score(y, p))
    assert report["aa"] == pytest.approx(recall_score(y, p, average="macro"))
    # Olofsson et al. 2014 eq. 9-11, map classes as strata: p_j = sum_i W_i n_ij / n_i
    weights = np.array([(cls == k).sum() for k in (1, 2, 3)]) / (cls > 0).sum()
    area_ha = (cls > 0).sum() * RES * RES / 1e4
    for j, row in enumerate(report["per_class"]):
        est, var = 0.0, 0.0
        for i in range(3):
            n_i = cm[:, i].sum()
            share = cm[j, i] / n_i
            est += weights[i] * share
            var += weights[i] ** 2 * share * (1 - share) / (n_i - 1)
        assert row["adjusted_area_ha"] == pytest.approx(est * area_ha)
        assert row["adjusted_area_ci95_ha"] == pytest.approx(1.959964 * np.sqrt(var) * area_ha)
        assert row["mapped_area_ha"] == pytest.approx((cls == j + 1).sum() * RES * RES / 1e4)
    assert all(p.read_bytes() == b for p, b in before.items())  # no input modified


@pytest.mark.parametrize("encoding", ["UTF-8", "ISO-8859-1", "cp1252"])
def test_shapefile_class_names_without_cpg_keep_their_accents(tmp_path: Path, encoding: str) -> None:
    gdf = gpd.GeoDataFrame({"class": ["Forêt", "Eau", "Forêt"]},
                           geometry=[pixel_box(0, 0, 2, 2), pixel_box(5, 5, 7, 7), pixel_box(10, 10, 12, 12)],
                           crs="EPSG:32633")
    gdf.to_file(tmp_path / "l.shp", encoding=encoding)
    (tmp_path / "l.cpg").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels, names = read_vector_labels(tmp_path / "l.shp", GRID)
    assert names == ["unlabelled", "Eau", "Forêt"]
    assert labels[0, 0] == 2 and labels[5, 5] == 1 and int((labels > 0).sum()) == 12
    said = [str(w.message) for w in caught if issubclass(w.category, HSIWarning)]
    if encoding == "UTF-8":  # the reading GDAL would not make is said once, with how to force the other one
        assert len(said) == 1 and "l.shp: no .cpg" in said[0] and "read as UTF-8" in said[0] and "l.cpg" in said[0]
        (tmp_path / "l.cpg").write_text("ISO-8859-1")  # as the warning says: the .cpg decides
        with warnings.catch_warnings():
            warnings.simplefilter("error", HSIWarning)
            _, forced = read_vector_labels(tmp_path / "l.shp", GRID)
        assert forced == ["unlabelled", "Eau", "ForÃªt"]
    else:
        assert said == []


def test_blank_text_classes_are_missing_values(tmp_path: Path) -> None:
    """An empty or blank class is a missing value, not a class named '' (refused with the file and the fix)."""
    gdf = gpd.GeoDataFrame({"class": ["Eau", "  ", "Forêt", ""]},
                           geometry=[pixel_box(0, 0, 2, 2), pixel_box(5, 5, 7, 7), pixel_box(10, 10, 12, 12),
                                     pixel_box(20, 20, 22, 22)], crs="EPSG:32633")
    gdf.to_file(tmp_path / "l.gpkg")
    with pytest.raises(LabelError, match=r"l.gpkg: 2 features have no 'class' value .*fill them or delete them"):
        read_vector_labels(tmp_path / "l.gpkg", GRID)


def test_geojson_of_metres_without_a_crs_member_is_one_clear_line(tmp_path: Path) -> None:
    """GeoJSON is read as EPSG:4326: UTM metres in it are named as such, not reprojected to infinities."""
    gpd.GeoDataFrame({"class": [1]}, geometry=[pixel_box(5, 5, 10, 10)], crs="EPSG:32633").to_file(
        tmp_path / "u.geojson", driver="GeoJSON")
    doc = json.loads((tmp_path / "u.geojson").read_text())
    doc.pop("crs", None)
    (tmp_path / "u.geojson").write_text(json.dumps(doc))
    with pytest.raises(LabelError, match=r"u.geojson: coordinates up to 500100, 4.09995e\+06 are not longitude/"
                                         r"latitude in degrees, but GeoJSON is always longitude/latitude"):
        read_vector_labels(tmp_path / "u.geojson", GRID)


def test_geojson_on_a_map_without_crs_says_to_use_a_geopackage(tmp_path: Path) -> None:
    gpd.GeoDataFrame({"class": [1]}, geometry=[box(2, 2, 6, 6)]).to_file(tmp_path / "px.geojson", driver="GeoJSON")
    with pytest.raises(LabelError, match=r"px.geojson: the layer is in EPSG:4326 but the cube has no CRS; .* as "
                                         r"GeoPackage or Shapefile \(GeoJSON is always EPSG:4326.*, or give the cube its "
                                         r"CRS \(a GeoTIFF: gdal_edit.py -a_srs EPSG:<code> FILE\)$"):
        read_vector_labels(tmp_path / "px.geojson", Grid(40, 50, T, None))


def test_a_reference_only_on_no_data_names_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_accented_map(tmp_path / "map.tif")
    gpd.GeoDataFrame({"class": ["Eau"]}, geometry=[pixel_box(0, 0, 3, 5)], crs="EPSG:32633").to_file(
        tmp_path / "corner.gpkg")
    code, _, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "map.tif"), "--reference",
                            str(tmp_path / "corner.gpkg"))
    assert_one_error_line(code, err, "corner.gpkg", "map.tif", "15 labelled pixels", "no-data")


def test_text_class_ids_score_by_number(tmp_path: Path) -> None:
    """A text attribute holding ids ("1", " 2": a join from a spreadsheet) is ids, not names, on a map with or
    without class names."""
    from sklearn.metrics import confusion_matrix

    from hsi_app.tasks.map_accuracy import evaluate_map

    cls = write_accented_map(tmp_path / "named.tif")
    with rasterio.open(tmp_path / "map.tif", "w", driver="GTiff", height=40, width=50, count=1, dtype="uint8",
                       crs="EPSG:32633", transform=T) as ds:  # a class map from elsewhere: numbers only
        ds.write(cls[None])
    gpd.GeoDataFrame({"code": ["1", " 2", "3"]}, geometry=[pixel_box(5, 5, 15, 15), pixel_box(5, 25, 15, 45),
                                                             pixel_box(28, 32, 38, 48)], crs="EPSG:32633").to_file(
        tmp_path / "ref.gpkg")
    ref = np.zeros_like(cls)
    ref[5:15, 5:15], ref[5:15, 25:45], ref[28:38, 32:48] = 1, 2, 3
    on = (ref > 0) & (cls > 0)
    expected = confusion_matrix(ref[on], cls[on], labels=[1, 2, 3]).tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        assert evaluate_map(tmp_path / "map.tif", tmp_path / "ref.gpkg", attribute="code").confusion.tolist() == expected
        assert evaluate_map(tmp_path / "named.tif", tmp_path / "ref.gpkg", attribute="code").confusion.tolist() \
            == expected


def test_a_geopackage_with_a_qgis_style_table_needs_no_layer_choice(tmp_path: Path) -> None:
    """QGIS saves layer styles in a `layer_styles` table of the GeoPackage: a table without geometries is no
    label layer, so the file's one geometry layer is read; two geometry layers still need a choice."""
    import sqlite3

    gdf = gpd.GeoDataFrame({"class": [1, 2]}, geometry=[pixel_box(0, 0, 2, 3), pixel_box(5, 5, 9, 7)],
                           crs="EPSG:32633")
    gdf.to_file(tmp_path / "l.gpkg", layer="fields")
    with sqlite3.connect(tmp_path / "l.gpkg") as con:  # an attribute table registered as GeoPackage content
        con.execute("CREATE TABLE layer_styles (id INTEGER PRIMARY KEY, f_table_name TEXT, styleQML TEXT)")
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier) "
                    "VALUES ('layer_styles', 'attributes', 'layer_styles')")
    labels, _ = read_vector_labels(tmp_path / "l.gpkg", GRID)
    assert int((labels == 1).sum()) == 6 and int((labels == 2).sum()) == 8
    gdf.to_file(tmp_path / "l.gpkg", layer="draft")
    with pytest.raises(LabelError, match=r"l.gpkg: holds 2 layers \(fields, draft\); choose the label layer"):
        read_vector_labels(tmp_path / "l.gpkg", GRID)


def test_evaluate_messages_name_the_map_not_a_cube(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`hsi evaluate` has no cube: a reference in a CRS over a map without one, or one off the map, names the map."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_accented_map(tmp_path / "plain.tif", crs=None)
    write_accented_map(tmp_path / "map.tif")
    gpd.GeoDataFrame({"class": ["Eau"]}, geometry=[pixel_box(5, 5, 9, 9)], crs="EPSG:32633").to_file(
        tmp_path / "ref.gpkg")
    gpd.GeoDataFrame({"class": ["Eau"]}, geometry=[pixel_box(100, 5, 109, 9)], crs="EPSG:32633").to_file(
        tmp_path / "off.gpkg")
    code, _, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "plain.tif"), "--reference",
                            str(tmp_path / "ref.gpkg"))
    assert_one_error_line(code, err, "ref.gpkg: the layer is in EPSG:32633 but the map", "plain.tif has no CRS")
    assert "cube" not in err
    code, _, err = run_main(capsys, "evaluate", "--map", str(tmp_path / "map.tif"), "--reference",
                            str(tmp_path / "off.gpkg"))
    assert_one_error_line(code, err, "off.gpkg: none of the 1 features overlaps the map", "map.tif")


def test_a_shapefile_without_its_dbf_says_so(tmp_path: Path) -> None:
    gpd.GeoDataFrame({"class": [1]}, geometry=[pixel_box(0, 0, 2, 2)], crs="EPSG:32633").to_file(tmp_path / "l.shp")
    (tmp_path / "l.dbf").unlink()  # sent without its attribute table
    with pytest.raises(LabelError, match=r"l.shp: no attributes: its .dbf \(the attribute table\) is missing; copy "
                                         r"l.dbf beside it"):
        read_vector_labels(tmp_path / "l.shp", GRID)


def test_points_on_the_right_or_bottom_edge_are_counted_outside(tmp_path: Path) -> None:
    """A pixel is half-open: a point on the grid's right or bottom edge is in no pixel, so it is counted with
    the features outside (one warning), not dropped without a word; on the left or top edge it is in pixel 0."""
    edge = [Point(X0 + 50 * RES, Y0 - 55.0), Point(X0 + 55.0, Y0 - 40 * RES), Point(X0, Y0 - 55.0),
            Point(X0 + 55.0, Y0)]
    gpd.GeoDataFrame({"class": [1, 1, 2, 2]}, geometry=edge, crs="EPSG:32633").to_file(tmp_path / "e.gpkg")
    with pytest.warns(UserWarning, match=r"e.gpkg: 2 of 4 features lie outside the cube and are ignored"):
        labels, _ = read_vector_labels(tmp_path / "e.gpkg", GRID)
    assert np.argwhere(labels > 0).tolist() == [[0, 5], [5, 0]]


def _codes(tmp_path: Path, codes: list[Any]) -> Path:
    """Three 8 x 9 px fields with classes ``codes`` (text or integers), as land-cover code columns hold them."""
    path = tmp_path / "codes.gpkg"
    gpd.GeoDataFrame({"code": codes}, geometry=[pixel_box(1, 0, 9, 9), pixel_box(1, 10, 9, 19),
                                                pixel_box(1, 20, 9, 29)], crs="EPSG:32633").to_file(path)
    return path


def test_text_codes_that_match_the_class_names_are_read_by_name(tmp_path: Path) -> None:
    """CORINE-style codes stored as text ("311") are names when the class names list them, whatever their order."""
    path = _codes(tmp_path, ["311", "312", "311"])
    fields = [(slice(1, 9), slice(0, 9)), (slice(1, 9), slice(10, 19)), (slice(1, 9), slice(20, 29))]
    for names, ids in ((["unlabelled", "311", "312"], [1, 2, 1]), (["unlabelled", "312", "311"], [2, 1, 2])):
        labels, got = read_vector_labels(path, GRID, "code", names)
        assert got == names
        expected = np.zeros((40, 50), np.int64)
        for (rows, cols), k in zip(fields, ids, strict=True):
            expected[rows, cols] = k
        assert (labels == expected).all()


def test_text_codes_above_the_id_range_are_class_names(tmp_path: Path) -> None:
    """Without class names, "311"/"312" cannot be ids (labels are uint8): they become the classes 311 and 312 by
    name, as any text; integer codes that large are refused in one line with the fix."""
    labels, names = read_vector_labels(_codes(tmp_path, ["311", "312", "311"]), GRID, "code")
    assert names == ["unlabelled", "311", "312"]
    assert np.unique(labels).tolist() == [0, 1, 2] and int((labels == 2).sum()) == 8 * 9
    with pytest.raises(LabelError, match=r"codes.gpkg: class 312 in 'code' is above 255.*store them as text"):
        read_vector_labels(_codes(tmp_path, [311, 312, 311]), GRID, "code")
    labels, names = read_vector_labels(_codes(tmp_path, ["1", "2", "1"]), GRID, "code", NAMES)  # still ids
    assert names == NAMES and np.unique(labels).tolist() == [0, 1, 2]


def test_multipoints_on_the_right_or_bottom_edge_are_counted_outside(tmp_path: Path) -> None:
    """The edge rule holds for each point of a MultiPoint: one whose points all lie on the right or bottom edge
    is counted with the features outside; one with a point in a pixel labels that pixel alone."""
    from shapely.geometry import MultiPoint

    on_edge = MultiPoint([(X0 + 50 * RES, Y0 - 55.0), (X0 + 55.0, Y0 - 40 * RES)])
    half = MultiPoint([(X0 + 50 * RES, Y0 - 75.0), (X0 + 25.0, Y0 - 35.0)])  # edge, and pixel (3, 2)
    gpd.GeoDataFrame({"class": [1, 2]}, geometry=[on_edge, half], crs="EPSG:32633").to_file(tmp_path / "m.gpkg")
    with pytest.warns(UserWarning, match=r"m.gpkg: 1 of 2 features lie outside the cube and are ignored"):
        labels, _ = read_vector_labels(tmp_path / "m.gpkg", GRID)
    assert np.argwhere(labels > 0).tolist() == [[3, 2]] and labels[3, 2] == 2
    gpd.GeoDataFrame({"class": [1]}, geometry=[on_edge], crs="EPSG:32633").to_file(tmp_path / "e.gpkg")
    with pytest.raises(LabelError, match="e.gpkg"):  # on no pixel at all: refused like a layer beside the grid
        read_vector_labels(tmp_path / "e.gpkg", GRID)
