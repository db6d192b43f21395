"""A CSV table of points given as labels is refused with a fix that works: an ``ogr2ogr`` line making a GeoPackage
in the points' CRS, naming the table's coordinate columns (audit s56 train #5; the tests fail on the old code, whose
line was "unrecognised label format; use .npy, .mat, GeoTIFF, GeoPackage or Shapefile", no word of the CRS or how).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from hsi_app.errors import LabelError
from hsi_app.io.cube import make_cube
from hsi_app.io.labels import read_labels

H, W = 6, 8
WEST, NORTH, PX = 500000.0, 4100000.0, 30.0


def _cube():  # noqa: ANN202
    return make_cube(np.ones((3, H, W), np.float32), crs="EPSG:32633", transform=from_origin(WEST, NORTH, PX, PX),
                     x=WEST + PX * (np.arange(W) + 0.5), y=NORTH - PX * (np.arange(H) + 0.5))


def _refusal(path: Path) -> tuple[str, list[str]]:
    with pytest.raises(LabelError) as err:
        read_labels(path, _cube(), attribute="landcover")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"{path}: a text table has no CRS"), msg
    return msg, shlex.split(msg.split(" and pass that: ", 1)[1])


def _run_ogr2ogr(args: list[str], folder: Path) -> Path:
    """What the printed ogr2ogr line does, through GDAL's CSV driver (pyogrio): the open options, then -a_srs."""
    import pyogrio

    assert args[0] == "ogr2ogr"
    opts = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-oo")
    out, src = folder / args[-2], folder / args[-1]
    frame = pyogrio.read_dataframe(src, **opts).set_crs(args[args.index("-a_srs") + 1])
    frame.to_file(out, driver="GPKG")
    return out


def test_a_utm_csv_gets_a_gpkg_line_whose_result_labels_the_points_pixels(tmp_path: Path) -> None:
    table = tmp_path / "field points.csv"
    table.write_text("id,Easting,Northing,landcover\n1,500045,4099955,forest\n2,500200,4099845,water\n")
    msg, args = _refusal(table)
    assert "-oo X_POSSIBLE_NAMES=Easting -oo Y_POSSIBLE_NAMES=Northing" in msg and "EPSG:XXXX" in msg
    args[args.index("-a_srs") + 1] = "EPSG:32633"  # the user fills in the points' CRS
    labels, names = read_labels(_run_ogr2ogr(args, tmp_path), _cube(), attribute="landcover")
    expected = np.zeros((H, W), np.int32)
    expected[1, 1] = names.index("forest")  # (500045, 4099955): column 1, row 1
    expected[5, 6] = names.index("water")  # (500200, 4099845): column 6, row 5
    np.testing.assert_array_equal(labels, expected)


def test_longitude_latitude_columns_are_named_in_epsg_4326(tmp_path: Path) -> None:
    table = tmp_path / "pts.csv"
    table.write_text("Longitude;Latitude;landcover\n15.0;37.0;forest\n")
    msg, args = _refusal(table)
    assert args[args.index("-a_srs") + 1] == "EPSG:4326" and "X_POSSIBLE_NAMES=Longitude" in msg
    assert args[-2:] == [str(tmp_path / "pts.gpkg"), str(table)]  # full paths: the line works from any folder


def test_a_table_holding_only_a_byte_order_mark_is_refused_in_one_line(tmp_path: Path) -> None:
    """Its bytes were not empty but its text was: IndexError (final read s56 #5)."""
    table = tmp_path / "bom.csv"
    table.write_bytes(b"\xef\xbb\xbf\n")
    msg, args = _refusal(table)
    assert msg.startswith(f"{table}: a text table has no CRS") and args[-1] == str(table)
