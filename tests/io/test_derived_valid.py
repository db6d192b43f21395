"""A window of a lazy cube whose valid mask is what its values say reads only itself, with the same answer.

``read_masked`` used to compute the ``valid`` coordinate with the values: a reduction over whole storage
chunks, so every window read (and decoded) each chunk it touched. Where the coordinate was derived from the
values and nothing changed since (``cube.hsi.valid_from_values``), the window's own values give the mask.
Every case where the stored mask holds more than the values (alpha band, GDAL mask, scale/offset, quality
masks, values changed after open, other bad bands, a band subset) keeps the old reading.
"""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pytest
import rasterio
import rasterio.io
from rasterio.transform import from_origin

from hsi_app.infer import Window, read_window
from hsi_app.io import open_cube
from hsi_app.io.cube import Cube, make_cube, valid_from_data
from hsi_app.io.empty_bands import flag_empty_bands
from tests.rasterio_reads import pixels_read

C, H, W = 5, 48, 40
NODATA = -9999


def _data() -> np.ndarray:
    """``(C, H, W)`` int16 with no-data pixels, a pixel missing in one band only and a no-data row."""
    rng = np.random.default_rng(7)
    data = rng.integers(0, 4000, (C, H, W)).astype(np.int16)
    data[:, 3, 4] = NODATA
    data[2, 20, 17] = NODATA
    data[:, 33, :] = NODATA
    return data


def _write(path: Path, data: np.ndarray, *, nodata: float | None = NODATA) -> Path:
    """A tiled (16 x 16) GeoTIFF, so that 16-px chunks are whole tiles."""
    profile = {"driver": "GTiff", "height": data.shape[1], "width": data.shape[2], "count": data.shape[0],
               "dtype": data.dtype, "tiled": True, "blockxsize": 16, "blockysize": 16, "crs": "EPSG:32633",
               "transform": from_origin(500000.0, 4100000.0, 30.0, 30.0)}
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


def _old_read_masked(cube: Cube) -> tuple[np.ndarray, np.ndarray]:
    """What ``read_masked`` gave before: the stored ``valid`` coordinate AND what the values say."""
    raw, stored = dask.compute(cube.data, cube.coords["valid"].data)
    raw = np.asarray(raw)
    valid = np.asarray(stored, dtype=bool) & np.asarray(valid_from_data(raw, cube.hsi.nodata, cube.hsi._bad_band))
    image = np.asarray(raw, dtype=np.float32).copy()
    image[:, ~valid] = np.nan
    return image, valid


def _windows() -> list[Window]:
    """Windows inside one chunk, across chunk edges, a strip, a single pixel and the whole scene."""
    return [Window(2, 2, 8, 8, 0, 0, 12, 12), Window(10, 12, 20, 20, 4, 6, 32, 30),
            Window(30, 0, 6, W, 30, 0, 6, W), Window(20, 17, 1, 1, 20, 17, 1, 1), Window(0, 0, H, W, 0, 0, H, W)]


def _assert_same_as_before(cube: Cube) -> None:
    for win in _windows():
        block = cube.isel(y=slice(win.read_row, win.read_row + win.read_height),
                          x=slice(win.read_col, win.read_col + win.read_width))
        want_image, want_valid = _old_read_masked(block)
        image, valid = read_window(cube, win)
        np.testing.assert_array_equal(valid, want_valid)
        np.testing.assert_array_equal(image, want_image)  # NaN where invalid on both sides


def test_a_window_reads_only_its_own_pixels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 12 x 12 window inside one 32-px chunk reads 144 pixels, not the chunk's 1024 (as it did)."""
    cube = open_cube(_write(tmp_path / "s.tif", _data()), chunks=32)
    win = Window(2, 2, 8, 8, 0, 0, 12, 12)
    with pixels_read(monkeypatch) as seen:
        read_window(cube, win)
    assert sum(seen) == 12 * 12, seen
    with pixels_read(monkeypatch) as seen:  # a window across 4 chunks reads its 4 parts, nothing more
        read_window(cube, Window(24, 24, 16, 16, 24, 24, 16, 16))
    assert sum(seen) == 16 * 16, seen


def test_windows_of_a_geotiff_give_the_same_values_and_mask_as_before(tmp_path: Path) -> None:
    cube = open_cube(_write(tmp_path / "s.tif", _data()), chunks=16)
    assert cube.hsi.valid_from_values
    _assert_same_as_before(cube)
    valid = np.asarray(cube.hsi.valid.values)
    assert not valid[3, 4] and not valid[20, 17] and not valid[33].any() and valid.sum() == H * W - 2 - W


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_cubes_with_nan_and_fill_values_give_the_same_answer(dtype: str) -> None:
    data = _data().astype(dtype)
    data[data == NODATA] = np.nan
    data[1, 5, 6] = 1e31  # a fill value: no measurement
    data[0, 7, 8] = np.inf
    cube = make_cube(dask.array.from_array(data, chunks=(C, 16, 16)), bad_bands=[4])
    assert cube.hsi.valid_from_values
    _assert_same_as_before(cube)
    assert not cube.hsi.valid.values[5, 6] and not cube.hsi.valid.values[7, 8]


def test_selections_keep_the_mark(tmp_path: Path) -> None:
    """Windows, strips, strided and reordered selections and the good bands alone move values and mask together."""
    cube = open_cube(_write(tmp_path / "s.tif", _data()), chunks=16).assign_coords(
        bad_band=("band", [False, True, False, False, False]))
    kept = [cube.hsi.window(3, 5, 20, 20), cube.isel(y=slice(None, None, 4), x=slice(None, None, 3)),
            cube.isel(y=[5, 2, 9]), cube.hsi.good_bands(), cube.isel(band=[4, 3, 2, 0, 0, 1]),
            cube.hsi.with_labels(np.ones((H, W), np.int32)), cube.hsi.without_masked([])]
    # bad band 2 was flagged after open: the stored mask (over all 5 bands) holds more than the values say
    assert not cube.hsi.valid_from_values and not any(c.hsi.valid_from_values for c in kept)
    fresh = open_cube(_write(tmp_path / "t.tif", _data()), chunks=16)
    kept = [fresh.hsi.window(3, 5, 20, 20), fresh.isel(y=slice(None, None, 4), x=slice(None, None, 3)),
            fresh.isel(y=[5, 2, 9]), fresh.hsi.good_bands(), fresh.isel(band=[4, 3, 2, 0, 0, 1]),
            fresh.hsi.with_labels(np.ones((H, W), np.int32)), fresh.hsi.without_masked([]),
            fresh.copy(), fresh.rio.write_crs("EPSG:32633")]
    assert all(c.hsi.valid_from_values for c in kept)
    for c in kept[:5]:
        want_image, want_valid = _old_read_masked(c)
        image, valid = c.hsi.read_masked()
        np.testing.assert_array_equal(valid, want_valid)
        np.testing.assert_array_equal(image, want_image)


def test_changes_after_open_end_the_mark_and_keep_the_old_reading(tmp_path: Path) -> None:
    """Values changed (where, clip-like fill, astype, rechunk), a band subset without a good band, other bad
    bands, another no-data value, a mask replaced or an in-memory cube: the stored mask AND the values."""
    cube = open_cube(_write(tmp_path / "s.tif", _data()), chunks=16)
    filled = cube.where(cube != NODATA, 0)  # no data made 0: the values now say "valid" where the mask does not
    changed = {
        "where": cube.where(cube > 100),
        "filled": filled,
        "astype": cube.astype(np.float32),
        "rechunk": cube.chunk({"y": 8}),
        "band subset": cube.isel(band=[0, 1, 2]),
        "bad band": cube.assign_coords(bad_band=("band", [True, False, False, False, False])),
        "nodata": cube.assign_attrs(nodata=3.0),
        "mask replaced": cube.assign_coords(valid=(("y", "x"), cube.hsi.valid.data & (cube.y > cube.y[10]).data[:, None])),
        "in memory": cube.copy(data=cube.values),
    }
    for name, c in changed.items():
        assert not c.hsi.valid_from_values, name
        want_image, want_valid = _old_read_masked(c)
        image, valid = c.hsi.read_masked()
        np.testing.assert_array_equal(valid, want_valid, err_msg=name)
        np.testing.assert_array_equal(image, want_image, err_msg=name)
    assert not filled.hsi.read_masked()[1][33].any()  # the stored mask still rules the filled row out


def test_readers_whose_mask_holds_more_than_the_values_are_not_marked(tmp_path: Path) -> None:
    """GDAL's internal mask, an alpha band, a band scale/offset, EnMAP-like quality masks."""
    data = _data()
    hidden = np.zeros((H, W), bool)
    hidden[:10] = True
    masked = _write(tmp_path / "m.tif", data)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(masked, "r+") as ds:
        ds.write_mask(np.where(hidden, 0, 255).astype(np.uint8))
    scaled = _write(tmp_path / "s.tif", data)
    with rasterio.open(scaled, "r+") as ds:
        ds.scales = [1e-4] * C
    alpha = _write(tmp_path / "a.tif", np.concatenate([data, np.where(hidden, 0, 255)[None].astype(np.int16)]))
    with rasterio.open(alpha, "r+") as ds:
        ds.colorinterp = [rasterio.enums.ColorInterp.gray] * C + [rasterio.enums.ColorInterp.alpha]
    for path in (masked, scaled, alpha):
        cube = open_cube(path, chunks=16)
        assert not cube.hsi.valid_from_values, path.name
        _assert_same_as_before(cube)
    for path in (masked, alpha):
        assert not open_cube(path, chunks=16).hsi.read_masked()[1][:10].any()
    quality = make_cube(dask.array.from_array(data, chunks=(C, 16, 16)), nodata=NODATA, masks={"cloud": hidden})
    assert quality.hsi.valid_from_values  # the masks count only when asked for
    clouded = quality.hsi.without_masked(["cloud"])
    assert not clouded.hsi.valid_from_values and not clouded.hsi.read_masked()[1][:10].any()


def test_flagged_empty_bands_give_a_marked_cube_with_the_same_answer(tmp_path: Path) -> None:
    """flag_empty_bands makes the mask again from the values without the empty bands: marked again."""
    data = _data()
    data[1] = NODATA  # band 2 holds no data anywhere: no pixel is valid until it is flagged
    cube = open_cube(_write(tmp_path / "e.tif", data), chunks=16)
    assert cube.hsi.valid_from_values and not read_window(cube, _windows()[-1])[1].any()
    with pytest.warns(Warning, match="no data at any pixel"):
        flagged = flag_empty_bands(cube)
    assert flagged is not None and flagged.hsi.valid_from_values
    _assert_same_as_before(flagged)
    assert read_window(flagged, _windows()[-1])[1].sum() == H * W - 2 - W


def test_in_memory_cubes_are_not_marked() -> None:
    cube = make_cube(_data(), nodata=NODATA)
    assert not cube.hsi.valid_from_values
    image, valid = cube.hsi.read_masked()
    want = valid_from_data(_data(), NODATA, np.zeros(C, bool))
    np.testing.assert_array_equal(valid, want)
