"""`hsi vectorize` writes the vector formats GIS users exchange (audit mapaudit).

Polygons are written as Shapefile, GeoJSON or FlatGeobuf as well as GeoPackage, with the map's CRS
(lon/lat for GeoJSON), its class names and areas equal to pixel counts x pixel area; the polygons of
a map of many tiny patches are built in one call, equal to those built one at a time.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from hsi_app.io.cog import write_class_map
from tests.accented_map import NAMES, RES, T, X0, Y0, pixel_box, write_accented_map
from tests.cli_runner import assert_one_error_line, run_main



def test_vectorize_writes_a_real_shapefile_with_short_field_names(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A .shp is a Shapefile (not a GeoPackage under a .shp name), with a .prj of the map's CRS, UTF-8 class
    names, dBASE field names of at most 10 characters and areas equal to pixel counts x pixel area."""
    cls = write_accented_map(tmp_path / "map.tif")
    before = (tmp_path / "map.tif").read_bytes()
    code, out, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "lc.shp"))
    assert code == 0, err
    assert (tmp_path / "lc.shp").read_bytes()[:4] == b"\x00\x00\x27\x0a"  # the Shapefile magic number
    assert all((tmp_path / f"lc.{ext}").is_file() for ext in ("shx", "dbf", "prj", "cpg"))
    assert not list(tmp_path.glob(".*partial*"))
    gdf = gpd.read_file(tmp_path / "lc.shp")
    assert gdf.crs.to_epsg() == 32633
    assert max(len(c) for c in gdf.columns) <= 10 and "mean_conf" in gdf.columns
    assert set(gdf["class"]) == set(NAMES[1:])
    for k in (1, 2, 3):
        part = gdf[gdf["class_id"] == k]
        assert int(part["pixels"].sum()) == int((cls == k).sum())
        assert part["area_ha"].sum() == pytest.approx((cls == k).sum() * RES * RES / 1e4)
        assert part.geometry.area.sum() == pytest.approx((cls == k).sum() * RES * RES)
    assert gdf["mean_conf"].tolist() == pytest.approx([0.75] * len(gdf), abs=2e-3)
    assert (tmp_path / "map.tif").read_bytes() == before


def test_a_shapefile_rewritten_from_a_map_without_crs_loses_the_old_prj(tmp_path: Path) -> None:
    from hsi_app.tasks.map_polygons import vectorize_map

    write_accented_map(tmp_path / "utm.tif")
    write_accented_map(tmp_path / "plain.tif", crs=None)
    vectorize_map(tmp_path / "utm.tif", tmp_path / "lc.shp")
    assert (tmp_path / "lc.prj").is_file() and gpd.read_file(tmp_path / "lc.shp").crs.to_epsg() == 32633
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio: no CRS
        vectorize_map(tmp_path / "plain.tif", tmp_path / "lc.shp")
    assert not (tmp_path / "lc.prj").exists()  # an old .prj would give these polygons a CRS the map has not
    assert gpd.read_file(tmp_path / "lc.shp").crs is None


def test_vectorize_geojson_is_longitude_latitude_and_fgb_keeps_the_crs(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """GeoJSON (RFC 7946) is WGS 84 lon/lat: brought back to UTM the polygons cover the same pixels."""
    cls = write_accented_map(tmp_path / "map.tif")
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out",
                            str(tmp_path / "lc.geojson"))
    assert code == 0, err
    doc = json.loads((tmp_path / "lc.geojson").read_text())
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 14 < lon < 16 and 36 < lat < 38  # UTM 33N near 500 km E, 4100 km N
    back = gpd.read_file(tmp_path / "lc.geojson").to_crs(32633)
    assert back.geometry.area.sum() == pytest.approx((cls > 0).sum() * RES * RES, rel=1e-5)  # 7 decimals: 1 cm
    assert back.total_bounds == pytest.approx([X0, Y0 - 40 * RES, X0 + 50 * RES, Y0], abs=0.05)
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "lc.fgb"))
    assert code == 0, err
    fgb = gpd.read_file(tmp_path / "lc.fgb")
    assert fgb.crs.to_epsg() == 32633 and fgb.geometry.area.sum() == pytest.approx((cls > 0).sum() * RES * RES)


def test_vectorize_output_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_accented_map(tmp_path / "map.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_accented_map(tmp_path / "plain.tif", crs=None)
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "plain.tif"), "--out",
                            str(tmp_path / "lc.geojson"))
    assert_one_error_line(code, err, "lc.geojson", "plain.tif", "has no CRS", ".gpkg")
    code, _, err = run_main(capsys, "vectorize", "--map", str(tmp_path / "map.tif"), "--out", str(tmp_path / "lc.kml"))
    assert_one_error_line(code, err, "lc.kml", ".gpkg", ".shp", ".geojson", ".fgb")
    assert not (tmp_path / "lc.geojson").exists() and not (tmp_path / "lc.kml").exists()


def test_bulk_tracing_equals_one_polygon_at_a_time() -> None:
    """The polygons built in one call are those of shapely's shape() on each traced GeoJSON ring set."""
    from rasterio.features import shapes
    from shapely.geometry import shape

    from hsi_app.tasks.map_polygons import label_patches, trace_polygons, valid_polygon

    cls = np.random.default_rng(3).integers(1, 4, (40, 40)).astype(np.uint8)
    cls[5:15, 5:15] = 1
    cls[8:10, 8:10] = 2  # a hole
    for connectivity in (4, 8):
        patches = label_patches(cls, connectivity)
        traced = list(shapes(patches.ids, mask=patches.ids > 0, connectivity=connectivity, transform=T))
        bulk = trace_polygons(iter(traced), patches.pixels.size)
        one = {int(v) - 1: valid_polygon(shape(g)) for g, v in traced}
        assert all(bulk[i].equals(one[i]) for i in range(patches.pixels.size))
        assert all(g.is_valid for g in bulk)
        assert sum(g.area for g in bulk) == pytest.approx(cls.size * RES * RES)


@pytest.mark.parametrize("name", ["v.shp", "v.geojson", "v.fgb"])
def test_vectorize_other_formats_on_a_full_disk(tmp_path: Path, capfd: pytest.CaptureFixture[str], name: str) -> None:
    """A write that runs out of space is one error line and leaves no file (no .shp sibling either)."""
    from tests.io.test_disk_full import check_failed_cleanly, run_limited

    (tmp_path / "in").mkdir()
    write_accented_map(tmp_path / "in" / "map.tif")
    out = tmp_path / name
    code, err = run_limited(capfd, 4_000, "vectorize", "--map", str(tmp_path / "in" / "map.tif"), "--out", str(out))
    check_failed_cleanly(code, err, out, str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def _files(folder: Path) -> dict[str, bytes]:
    """Every file in ``folder`` (hidden ones included) -> its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_an_upper_case_shp_suffix_writes_one_whole_shapefile(tmp_path: Path) -> None:
    """``U.SHP`` is a Shapefile like ``u.shp``: its parts take the suffix's case, nothing hidden is left, and old
    lower-case parts of the same name (which GDAL opens before upper-case ones) are replaced too."""
    from hsi_app.tasks.map_polygons import vectorize_map

    (tmp_path / "in").mkdir()
    cls = write_accented_map(tmp_path / "in" / "map.tif")
    out = tmp_path / "out"
    out.mkdir()
    one = np.ones((40, 50), np.uint8)
    write_class_map(tmp_path / "in" / "one.tif", one, None, crs="EPSG:32633", transform=T, class_names=NAMES)
    vectorize_map(tmp_path / "in" / "one.tif", out / "U.shp")  # an older, lower-case set: one polygon
    summary = vectorize_map(tmp_path / "in" / "map.tif", out / "U.SHP")
    assert sorted(_files(out)) == ["U.CPG", "U.DBF", "U.PRJ", "U.SHP", "U.SHX"]
    gdf = gpd.read_file(out / "U.SHP")
    assert len(gdf) == summary["polygons"] > 1 and gdf.crs.to_epsg() == 32633
    assert gdf.geometry.area.sum() == pytest.approx((cls > 0).sum() * RES * RES)
    assert set(gdf["class"]) == set(NAMES[1:])  # UTF-8 read through the .CPG


def test_a_failed_last_rename_leaves_the_old_shapefile_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When moving the new .shp into place fails, the old .shp keeps its own .dbf/.shx/.prj (none is swapped for the
    new map's, the old .prj is not removed) and no hidden temporary is left."""
    import os

    from hsi_app.errors import OutputError
    from hsi_app.tasks.map_polygons import vectorize_map

    (tmp_path / "in").mkdir()
    write_accented_map(tmp_path / "in" / "utm.tif")
    plain = np.ones((40, 50), np.uint8)
    plain[:, 25:] = 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rasterio: no CRS
        write_class_map(tmp_path / "in" / "plain.tif", plain, None, crs=None, transform=T, class_names=NAMES)
    out = tmp_path / "out"
    out.mkdir()
    vectorize_map(tmp_path / "in" / "utm.tif", out / "lc.shp")
    before = _files(out)
    old = gpd.read_file(out / "lc.shp")
    real_replace = os.replace

    def failing_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst) == out / "lc.shp":
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with warnings.catch_warnings(), pytest.raises(OutputError, match="lc.shp.*old files are kept"):
        warnings.simplefilter("ignore")
        vectorize_map(tmp_path / "in" / "plain.tif", out / "lc.shp")
    monkeypatch.setattr(os, "replace", real_replace)
    assert _files(out) == before  # same names (no hidden file), same bytes
    again = gpd.read_file(out / "lc.shp")
    assert len(again) == len(old) and again.crs.to_epsg() == 32633 and list(again["class"]) == list(old["class"])


def test_an_overwritten_shapefile_loses_the_old_spatial_index_and_metadata(tmp_path: Path) -> None:
    """An old .qix (GDAL's spatial index) would make a bbox read of the new polygons miss features; it goes, as do
    ESRI's .sbn/.sbx and the old metadata (.shp.xml, .qmd); a QGIS style (.qml) is kept."""
    from hsi_app.tasks.map_polygons import vectorize_map

    (tmp_path / "in").mkdir()
    write_accented_map(tmp_path / "in" / "map.tif")
    out = tmp_path / "lc.shp"
    vectorize_map(tmp_path / "in" / "map.tif", out)
    old = gpd.read_file(out)
    old.to_file(out, driver="ESRI Shapefile", SPATIAL_INDEX="YES")  # as GIS software indexes it
    assert (tmp_path / "lc.qix").is_file()
    for name in ("lc.sbn", "lc.sbx", "lc.shp.xml", "lc.qmd", "lc.qml"):
        (tmp_path / name).write_text("from the old file")
    blocks = np.ones((40, 50), np.uint8)
    blocks[20:, 25:] = 2
    write_class_map(tmp_path / "in" / "blocks.tif", blocks, None, crs="EPSG:32633", transform=T, class_names=NAMES)
    vectorize_map(tmp_path / "in" / "blocks.tif", out)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["lc.cpg", "lc.dbf", "lc.prj", "lc.qml",
                                                                        "lc.shp", "lc.shx"]
    assert (tmp_path / "lc.qml").read_text() == "from the old file"
    new = gpd.read_file(out)
    area = pixel_box(25, 30, 35, 45)  # inside the class-2 block
    assert len(gpd.read_file(out, bbox=area.bounds)) == int(new.intersects(area).sum()) >= 1


@pytest.mark.parametrize("name", ["lc.geojson", "lc.json", "lc.fgb", "lc.shp"])
def test_one_layer_formats_name_their_layer_after_the_file(tmp_path: Path, name: str) -> None:
    """Not after the hidden temporary the file was written as (``.lc.geojson.partial-...``)."""
    import pyogrio

    from hsi_app.tasks.map_polygons import vectorize_map

    (tmp_path / "in").mkdir()
    write_accented_map(tmp_path / "in" / "map.tif")
    vectorize_map(tmp_path / "in" / "map.tif", tmp_path / name)
    assert [str(n) for n in pyogrio.list_layers(tmp_path / name)[:, 0]] == ["lc"]
    if name.endswith("json"):
        assert json.loads((tmp_path / name).read_text())["name"] == "lc"
