"""write_points / write_detections write a GeoPackage: a name promising another format (``.csv``) is refused in
one line, where it used to write SQLite under a CSV name (left by the s58 Python API audit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import OutputError
from hsi_app.io.vector import write_points


@pytest.mark.parametrize("name", ["p.csv", "p.shp", "p.geojson", "p"])
def test_another_extension_is_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    dst = tmp_path / name
    with pytest.raises(OutputError, match=r"writes a GeoPackage; give it a \.gpkg name"):
        write_points(dst, np.array([1.0]), np.array([2.0]), {"score": np.array([0.5])}, "EPSG:32633")
    assert not dst.exists()


def test_a_gpkg_name_writes_the_points(tmp_path: Path) -> None:
    import geopandas as gpd

    dst = tmp_path / "P.GPKG"
    write_points(dst, np.array([1.0, 3.0]), np.array([2.0, 4.0]), {"score": np.array([0.5, 0.7])}, "EPSG:32633")
    back = gpd.read_file(dst)
    assert list(back.geometry.x) == [1.0, 3.0] and list(back["score"]) == [0.5, 0.7]
    assert back.crs.to_epsg() == 32633
