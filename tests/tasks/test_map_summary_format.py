"""``hsi info MAP``'s table: units on the resolution, hectares small classes can be read in, aligned columns and the
mapped total (info audit of session 55: '30 x 30', '0.00' ha for a one-pixel class, headers 3 columns off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rasterio.transform import from_origin

from hsi_app.io.cog import write_class_map
from hsi_app.tasks.map_summary import format_class_map_summary, summarize_class_map


def _map(path: Path, crs: str, transform) -> Path:  # noqa: ANN001
    classes = np.zeros((10, 12), np.uint8)
    classes[:, :6], classes[:, 6:], classes[0, 0] = 1, 2, 0
    classes[9, 11] = 3  # one pixel of class c
    write_class_map(path, classes, None, crs=crs, transform=transform, class_names=["unlabelled", "a", "b", "c"])
    return path


def test_a_small_class_table_is_aligned_with_units_and_readable_hectares(tmp_path: Path) -> None:
    info = summarize_class_map(_map(tmp_path / "m.tif", "EPSG:32633", from_origin(500000, 4000000, 30, 30)))
    lines = format_class_map_summary(info).splitlines()
    assert [ln for ln in lines if ln.startswith("resolution")] == ["resolution   30 x 30 m"]
    mapped = next(ln for ln in lines if ln.startswith("mapped"))
    assert "119 pixels" in mapped and f"{119 * 900 / 1e4:,.4f} ha" in mapped
    head = next(i for i, ln in enumerate(lines) if ln.strip().startswith("class ") and "pixels" in ln)
    header, rows = lines[head], lines[head + 1:]
    for column in ("pixels", "area ha"):
        end = header.index(column) + len(column)
        assert all(row[end - 1] != " " and (len(row) == end or row[end] == " ") for row in rows), (column, lines)
    c_row = next(row for row in rows if row.strip().startswith("c "))
    assert "0.0900" in c_row  # one 30 m pixel is 0.09 ha, given to four decimals (a 10 m pixel: 0.0100)


def test_a_feet_grid_names_its_unit(tmp_path: Path) -> None:
    info = summarize_class_map(_map(tmp_path / "f.tif", "EPSG:2263", from_origin(980000, 200000, 10, 10)))
    assert info["resolution_unit"] == "US ft"
    assert "10 x 10 US ft" in format_class_map_summary(info)
    assert info["mapped_area_ha"] == pytest.approx(119 * (10 * 1200 / 3937) ** 2 / 1e4, rel=1e-6)


def test_a_class_map_on_a_crs_without_an_epsg_code_gives_the_crs_line_of_a_scene(tmp_path: Path) -> None:
    """The crs line names such a CRS as ``hsi info`` does for a scene on it, not by its whole WKT."""
    from rasterio.crs import CRS

    from hsi_app.io.summary import format_summary, summarize
    from hsi_app.io.open import open_cube

    tm = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=13 +k=0.9996 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m +no_defs")
    grid = from_origin(500000, 4500000, 30, 30)
    lines = format_class_map_summary(summarize_class_map(_map(tmp_path / "m.tif", tm, grid))).splitlines()
    crs = next(ln for ln in lines if ln.startswith("crs"))
    assert "PROJCS" not in crs and "Transverse Mercator" in crs and "no EPSG code" in crs, crs
    scene = tmp_path / "scene.tif"
    import rasterio

    with rasterio.open(scene, "w", driver="GTiff", height=4, width=4, count=2, dtype="float32", crs=tm,
                       transform=grid) as ds:
        ds.write(np.ones((2, 4, 4), np.float32))
    assert crs == next(ln for ln in format_summary(summarize(open_cube(scene))).splitlines() if ln.startswith("crs"))
    utm = format_class_map_summary(summarize_class_map(_map(tmp_path / "u.tif", "EPSG:32633", grid)))
    assert "crs          EPSG:32633 (WGS 84 / UTM zone 33N)" in utm.splitlines()


def test_a_one_pixel_class_in_a_large_map_is_not_printed_as_none(tmp_path: Path) -> None:
    """200 x 200 pixels, one of them no-data and one of class b: b's share of the mapped pixels (1 of 39,999) and
    the no-data pixel's absence from the mapped share are too small for two decimals, and are not rounded away."""
    classes = np.ones((200, 200), np.uint8)
    classes[0, 0], classes[5, 5] = 0, 2
    path = tmp_path / "big.tif"
    write_class_map(path, classes, None, crs="EPSG:32633", transform=from_origin(500000, 4000000, 30, 30),
                    class_names=["unlabelled", "a", "b"])
    lines = format_class_map_summary(summarize_class_map(path)).splitlines()
    assert next(ln for ln in lines if ln.startswith("mapped")).startswith("mapped       39,999 pixels (>99.99%)")
    rows = {ln.split()[0]: ln.split()[2] for ln in lines if ln.startswith("  ") and ln.split()[0] in ("a", "b")}
    assert rows == {"a": ">99.99%", "b": "<0.01%"}, lines
    counts = {ln.split()[0]: ln.split()[1] for ln in lines if ln.startswith("  ") and ln.split()[0] in ("a", "b")}
    assert counts == {"a": "39,998", "b": "1"}, lines  # thousands separators, as hsi info's scene counts
