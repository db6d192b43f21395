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
