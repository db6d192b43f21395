"""``--map`` of ``hsi vectorize`` and ``hsi evaluate``: a class map outside 0..255, a missing, empty,
foreign or truncated file: one line naming the file and the fix, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cli_runner import assert_one_error_line, run_main
from hsi_app.io.cog import read_class_map

T = from_origin(500000.0, 4100000.0, 10.0, 10.0)


def _raster(path: Path, band: np.ndarray, nodata: float | None = None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", height=band.shape[0], width=band.shape[1], count=1,
                       dtype=band.dtype, crs="EPSG:32616", transform=T, nodata=nodata) as ds:
        ds.write(band, 1)
    return path


def _classes() -> np.ndarray:
    """12 x 10: classes 1 and 2 in halves."""
    cls = np.ones((12, 10), np.int16)
    cls[:, 5:] = 2
    return cls


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    return _raster(tmp_path / "ref.tif", _classes().astype(np.uint8))


@pytest.mark.parametrize(("value", "words"), [(-1, "negative class numbers (-1 at row 3, col 4)"),
                                              (300, "class numbers above 255 (300 at row 3, col 4)")])
def test_map_values_outside_a_class_range_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                      reference: Path, value: int, words: str) -> None:
    cls = _classes()
    cls[3, 4] = value
    bad = _raster(tmp_path / "bad.tif", cls)
    out = tmp_path / "v.gpkg"
    code, _, err = run_main(capsys, "vectorize", "--map", str(bad), "--out", str(out), "--quiet")
    assert_one_error_line(code, err, f"{bad}: band 1 holds {words}", "0 = no data", "1..255", "hsi predict")
    assert not out.exists()  # class -1 was written as class 255 before
    code, _, err = run_main(capsys, "evaluate", "--map", str(bad), "--reference", str(reference))
    assert_one_error_line(code, err, f"{bad}: band 1 holds {words}")
    assert "class names" not in err  # no fix the CLI cannot do


def test_a_tagged_nodata_value_reads_as_no_data(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                reference: Path) -> None:
    cls = _classes()
    cls[:2] = -1  # the file's no-data value, not a class
    path = _raster(tmp_path / "nodata.tif", cls, nodata=-1)
    got = read_class_map(path).classes
    assert (got[:2] == 0).all() and (got[2:] == cls[2:]).all()
    code, out, err = run_main(capsys, "vectorize", "--map", str(path), "--out", str(tmp_path / "v.gpkg"), "--quiet")
    assert code == 0, err
    assert "2 polygons" in out and "255" not in out


@pytest.fixture
def unreadable(tmp_path: Path) -> dict[str, Path]:
    """``name -> path`` of --map inputs that cannot be read as a class map."""
    good = _raster(tmp_path / "good.tif", _classes().astype(np.uint8))
    data = good.read_bytes()
    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "text.tif").write_text("not a raster\n")
    np.save(tmp_path / "classes.npy", _classes())
    (tmp_path / "trunc.tif").write_bytes(data[: len(data) // 2])
    (tmp_path / "folder").mkdir()
    return {"missing": tmp_path / "nomap.tif", "folder": tmp_path / "folder", "empty": tmp_path / "empty.tif",
            "text": tmp_path / "text.tif", "npy": tmp_path / "classes.npy", "trunc": tmp_path / "trunc.tif"}


@pytest.mark.parametrize(("name", "words"), [
    ("missing", "class map not found; check the path"),
    ("folder", "is a folder; pass a class map GeoTIFF or ENVI classification, e.g. the map.tif of hsi predict"),
    ("empty", "file is empty; re-create it with hsi predict"),
    ("text", "not a GeoTIFF (unrecognised file content); pass a class map GeoTIFF"),
    ("npy", "not a GeoTIFF (unrecognised file content); pass a class map GeoTIFF"),
    ("trunc", "class map is truncated or corrupt"),
])
def test_unreadable_maps_get_one_line_with_a_fix(capsys: pytest.CaptureFixture[str], tmp_path: Path, reference: Path,
                                                 unreadable: dict[str, Path], name: str, words: str) -> None:
    path = unreadable[name]
    out = tmp_path / "v.gpkg"
    code, _, err = run_main(capsys, "vectorize", "--map", str(path), "--out", str(out), "--quiet")
    assert_one_error_line(code, err, f"{path}: {words}")
    assert not out.exists()
    code, _, err = run_main(capsys, "evaluate", "--map", str(path), "--reference", str(reference))
    assert_one_error_line(code, err, f"{path}: {words}")
    assert "No such file" not in err and "not recognized as being in a supported" not in err
    assert "; " in err.split(f"{path}: ", 1)[1]  # every line ends with its fix
