"""``cube.hsi.transform``: slices of rotated grids, grids without a CRS, and the writers that use it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from hsi_app.errors import HSIWarning
from hsi_app.io.cog import write_cube
from hsi_app.io.geotiff import read_geotiff

ROTATED = Affine.translation(500000.0, 4500000.0) * Affine.rotation(30.0) * Affine.scale(30.0, -30.0)
SHEARED = Affine(30.0, 5.0, 500000.0, 0.0, -30.0, 4500000.0)
NORTH_UP = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4500000.0)


def _tif(path: Path, transform: Affine, crs: str | None = "EPSG:32616", h: int = 12, w: int = 10,
         mask: np.ndarray | None = None) -> np.ndarray:
    data = np.arange(3 * h * w, dtype=np.float32).reshape(3, h, w) + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=3, dtype="float32", crs=crs,
                           transform=transform) as ds:
            ds.write(data)
            if mask is not None:
                ds.write_mask(np.where(mask, 0, 255).astype(np.uint8))
    return data


def _centre(t: Affine, row: int, col: int) -> tuple[float, float]:
    return t * (col + 0.5, row + 0.5)


@pytest.mark.parametrize("transform", [ROTATED, SHEARED, NORTH_UP], ids=["rotated", "sheared", "north-up"])
def test_a_slice_keeps_its_pixels_map_positions(tmp_path: Path, transform: Affine) -> None:
    _tif(tmp_path / "s.tif", transform)
    cube = read_geotiff(tmp_path / "s.tif")
    assert cube.hsi.transform.almost_equals(transform)
    crop = cube.isel(y=slice(4, 9), x=slice(3, None))
    expected = transform * Affine.translation(3, 4)
    assert crop.hsi.transform.almost_equals(expected)
    xs, ys = crop.hsi.map_coords([0, 2], [0, 5])
    np.testing.assert_allclose(np.c_[xs, ys], [_centre(transform, 4, 3), _centre(transform, 6, 8)], atol=1e-6)
    nested = crop.hsi.window(1, 2, 3, 3)  # a window of a slice moves by both
    assert nested.hsi.transform.almost_equals(transform * Affine.translation(5, 5))
    write_cube(tmp_path / "crop.tif", crop)
    with rasterio.open(tmp_path / "crop.tif") as ds:
        assert ds.transform.almost_equals(expected) and ds.crs.to_epsg() == 32616


def test_a_transform_without_a_crs_is_kept_by_readers_and_writers(tmp_path: Path) -> None:
    data = _tif(tmp_path / "nocrs.tif", NORTH_UP, crs=None)
    with pytest.warns(HSIWarning, match=r"nocrs.tif: a map transform but no CRS; outputs keep its grid.*gdal_edit"):
        cube = read_geotiff(tmp_path / "nocrs.tif")
    assert cube.rio.crs is None and cube.hsi.transform == NORTH_UP
    xs, ys = cube.hsi.map_coords([7], [11 - 2])
    assert (xs[0], ys[0]) == pytest.approx(_centre(NORTH_UP, 7, 9))
    write_cube(tmp_path / "out.tif", cube)
    with rasterio.open(tmp_path / "out.tif") as ds:
        assert ds.crs is None and ds.transform == NORTH_UP
        np.testing.assert_array_equal(ds.read(), data)


def test_plain_pixel_grids_have_no_transform(tmp_path: Path) -> None:
    from hsi_app.io.cube import make_cube

    cube = make_cube(np.ones((2, 5, 4), np.float32))
    assert cube.hsi.transform is None
    assert cube.isel(x=slice(1, 3), y=slice(2, 4)).hsi.transform is None  # a crop is still in pixel coordinates
    assert cube.hsi.map_coords([1], [2]) == (pytest.approx([2.5]), pytest.approx([1.5]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HSIWarning)
        _tif(tmp_path / "plain.tif", Affine.identity(), crs=None)
        assert read_geotiff(tmp_path / "plain.tif").hsi.transform is None


def test_masked_pixels_are_written_as_nodata(tmp_path: Path) -> None:
    """A GDAL internal mask, and quality masks applied with without_masked, stay no-data in write_cube."""
    mask = np.zeros((12, 10), bool)
    mask[2:4, 5:8] = True
    _tif(tmp_path / "m.tif", NORTH_UP, mask=mask)
    cube = read_geotiff(tmp_path / "m.tif")
    write_cube(tmp_path / "out.tif", cube)
    with rasterio.open(tmp_path / "out.tif") as ds:
        back = ds.read()
    assert np.isnan(back[:, mask]).all() and np.isfinite(back[:, ~mask]).all()
    cloud = np.zeros((12, 10), bool)
    cloud[8:, :2] = True
    flagged = cube.assign_coords(mask_cloud=(("y", "x"), cloud)).hsi.without_masked(["cloud"])
    write_cube(tmp_path / "cloud.tif", flagged)
    with rasterio.open(tmp_path / "cloud.tif") as ds:
        assert int(np.isnan(ds.read(1)).sum()) == int((mask | cloud).sum())


@pytest.mark.parametrize("transform", [ROTATED, NORTH_UP], ids=["rotated", "north-up"])
def test_strided_and_reversed_slices_keep_every_pixel_in_place(tmp_path: Path, transform: Affine) -> None:
    _tif(tmp_path / "s.tif", transform)
    cube = read_geotiff(tmp_path / "s.tif")
    for sl in ((slice(1, None, 2), slice(0, None, 3)), (slice(None, None, -1), slice(None, None, -1))):
        part = cube.isel(y=sl[0], x=sl[1])
        rows = np.arange(cube.sizes["y"])[sl[0]]
        cols = np.arange(cube.sizes["x"])[sl[1]]
        xs, ys = part.hsi.map_coords([0, 1], [0, 1])
        want = [_centre(transform, int(rows[0]), int(cols[0])), _centre(transform, int(rows[1]), int(cols[1]))]
        np.testing.assert_allclose(np.c_[xs, ys], want, atol=1e-6)


@pytest.mark.parametrize("transform", [ROTATED, NORTH_UP], ids=["rotated", "north-up"])
def test_unevenly_spaced_coordinates_are_refused_not_written_on_a_wrong_grid(tmp_path: Path,
                                                                             transform: Affine) -> None:
    from hsi_app.errors import ConfigError

    _tif(tmp_path / "s.tif", transform)
    cube = read_geotiff(tmp_path / "s.tif")
    fields = cube.isel(x=[1, 2, 9])  # what where(two fields, drop=True) leaves: a gap between columns
    with pytest.raises(ConfigError, match=r"x coordinates are not evenly spaced.*where\(\) without drop"):
        fields.hsi.transform
    with pytest.raises(ConfigError, match=r"y coordinates are not evenly spaced"):
        cube.isel(y=[0, 1, 5]).hsi.map_coords([0], [0])
    with pytest.raises(ConfigError, match="not evenly spaced"):
        write_cube(tmp_path / "fields.tif", fields)
    assert not (tmp_path / "fields.tif").exists()
    xs, ys = cube.isel(x=[2, 4, 6]).hsi.map_coords([0, 0], [0, 2])  # an evenly spaced list is a strided grid
    np.testing.assert_allclose(np.c_[xs, ys], [_centre(transform, 0, 2), _centre(transform, 0, 6)], atol=1e-6)
    assert cube.isel(x=[7], y=[3]).hsi.transform.almost_equals(transform * Affine.translation(7, 3))


def test_float32_coordinates_of_a_regular_grid_are_evenly_spaced() -> None:
    """A 1e-4 degree grid at 120 E in float32 has steps of 9.92e-05 to 1.07e-04 (rounding, not gaps); it was
    refused at 1e-6 of a step. A whole-step gap in the same float32 coordinates is still refused."""
    from rasterio.transform import from_origin

    from hsi_app.errors import ConfigError
    from hsi_app.io.cube import make_cube

    data = np.random.default_rng(0).random((3, 10, 12)).astype(np.float32)
    cube = make_cube(data, wavelength=[500.0, 600.0, 700.0], transform=from_origin(120.0, 35.0, 1e-4, 1e-4),
                     crs="EPSG:4326")
    f32 = cube.assign_coords(x=cube.x.astype("float32"), y=cube.y.astype("float32"))
    t = f32.hsi.transform
    assert t.a == pytest.approx(1e-4, rel=1e-2) and t.e == pytest.approx(-1e-4, rel=1e-2)  # float32 rounding
    assert t.c == pytest.approx(120.0, abs=1e-5) and t.f == pytest.approx(35.0, abs=1e-5)
    with pytest.raises(ConfigError, match="x coordinates are not evenly spaced"):
        f32.isel(x=[0, 1, 2, 4, 5]).hsi.transform
    utm = make_cube(data, wavelength=[500.0, 600.0, 700.0], transform=NORTH_UP, crs="EPSG:32616")
    with pytest.raises(ConfigError, match="y coordinates are not evenly spaced"):  # float64: 1e-6 of a step as before
        utm.assign_coords(y=utm.y.values + np.r_[0.0, 1e-3, np.zeros(8)]).hsi.transform


def test_float32_coordinates_given_to_make_cube_are_evenly_spaced_too() -> None:
    """make_cube stores x/y as float64, so the check saw float64 and refused a float32 1e-4 degree grid
    (a lat/lon vector read from an HDF5 product); float64 values that float32 holds exactly get float32's
    rounding allowance. A whole-step gap is still refused."""
    from hsi_app.errors import ConfigError
    from hsi_app.io.cube import make_cube

    data = np.random.default_rng(0).random((3, 10, 12)).astype(np.float32)
    lon = (120.0 + 1e-4 * (np.arange(12) + 0.5)).astype(np.float32)
    lat = (35.0 - 1e-4 * (np.arange(10) + 0.5)).astype(np.float32)
    cube = make_cube(data, wavelength=[500.0, 600.0, 700.0], x=lon, y=lat, crs="EPSG:4326")
    assert cube.x.dtype == np.float64
    assert cube.hsi.transform.a == pytest.approx(1e-4, rel=1e-2)
    with pytest.raises(ConfigError, match="x coordinates are not evenly spaced"):
        cube.isel(x=[0, 1, 2, 4, 5]).hsi.transform


@pytest.mark.parametrize("x0, steps", [(3_000_015.0, [30.0, 31.0, 30.0]), (500_015.0, [30.0, 30.125, 30.0])],
                         ids=["30-31-30 m at 3e6 m", "30-30.125-30 m at 5e5 m"])
def test_whole_metre_utm_coordinates_get_no_float32_allowance(x0: float, steps: list[float]) -> None:
    """float64 UTM coordinates that float32 happens to hold exactly got float32's rounding allowance
    (4 * eps32 * max|c|: 1.4 m at 3e6 m, 0.24 m at 5e5 m), so these uneven grids were taken for regular and
    given a transform; float32 would round no regular grid to them. A regular 30 m grid at the same places
    and a float32 lat/lon grid (as float32 and as the float64 that make_cube stores) still have one."""
    from hsi_app.errors import ConfigError
    from hsi_app.io.cube import make_cube

    data = np.random.default_rng(0).random((3, 4, 4)).astype(np.float32)
    y = 4_000_015.0 - 30.0 * np.arange(4)
    uneven = x0 + np.r_[0.0, np.cumsum(steps)]
    assert (uneven.astype(np.float32) == uneven).all()  # float32 holds them exactly
    cube = make_cube(data, wavelength=[500.0, 600.0, 700.0], x=uneven, y=y, crs="EPSG:32616")
    with pytest.raises(ConfigError) as err:
        cube.hsi.transform
    msg = str(err.value)
    assert "\n" not in msg and f"x coordinates are not evenly spaced (steps from 30 to {max(steps):g}" in msg

    regular = make_cube(data, wavelength=[500.0, 600.0, 700.0], x=x0 + 30.0 * np.arange(4), y=y, crs="EPSG:32616")
    t = regular.hsi.transform
    assert (t.a, t.e, t.c, t.f) == pytest.approx((30.0, -30.0, x0 - 15.0, 4_000_030.0))

    lon = (120.0 + 1e-4 * (np.arange(12) + 0.5)).astype(np.float32)
    lat = (35.0 - 1e-4 * (np.arange(10) + 0.5)).astype(np.float32)
    assert len(set(np.diff(lon).tolist())) > 1  # float32 rounding makes its steps differ
    geo = make_cube(np.zeros((3, 10, 12), np.float32), wavelength=[500.0, 600.0, 700.0], x=lon, y=lat, crs="EPSG:4326")
    assert geo.hsi.transform.a == pytest.approx(1e-4, rel=1e-2)
    as32 = geo.assign_coords(x=geo.x.astype("float32"), y=geo.y.astype("float32"))
    assert as32.hsi.transform.e == pytest.approx(-1e-4, rel=1e-2)


def test_the_summary_of_an_unevenly_spaced_cube_says_it_has_no_grid() -> None:
    """summarize / hsi info raised on such a cube only because it read the transform for display."""
    from hsi_app.io.cube import make_cube
    from hsi_app.io.summary import format_summary, summarize

    data = np.random.default_rng(0).random((3, 10, 12)).astype(np.float32)
    cube = make_cube(data, wavelength=[500.0, 600.0, 700.0], transform=NORTH_UP, crs="EPSG:32616")
    info = summarize(cube.isel(x=[0, 1, 5, 6]))
    assert info["grid"] == "no grid (uneven x/y)" and info["resolution"] is None and info["width"] == 4
    assert "resolution   no grid (uneven x/y)" in format_summary(info)
    assert "grid" not in summarize(cube)


F32 = np.float32
FLOAT32_ARITHMETIC = {  # lat/lon vectors computed in float32 arithmetic: two roundings, up to about 1 ulp off
    "10 E + i * 2.5e-4": F32(10.0) + np.arange(2000, dtype=F32) * F32(2.5e-4),
    "50 N - i * 2.5e-4": F32(50.0) - np.arange(300, dtype=F32) * F32(2.5e-4),
    "0.05 + i * 1e-4 over 2 degrees": F32(0.05) + np.arange(20000, dtype=F32) * F32(1e-4),
    "30 + i * 0.01": F32(30.0) + np.arange(1000, dtype=F32) * F32(0.01),
    "120 E + i * 1e-4": F32(120.0) + np.arange(12000, dtype=F32) * F32(1e-4),
    "np.arange -1 to 1 in float32": np.arange(-1.0, 1.0, 1e-4, dtype=F32),
}


@pytest.mark.parametrize("name", list(FLOAT32_ARITHMETIC))
def test_coordinates_computed_in_float32_arithmetic_keep_their_grid(name: str) -> None:
    """``s + i * d`` computed in float32 rounds twice (``i * d``, then the sum), so its values are up to
    about 1 ulp off the regular grid, not half an ulp: make_cube's float64 copy of them was refused as
    "not evenly spaced" while the same float32 values were accepted. They have a grid again, with the
    step they were computed with; their uneven copies (a whole-step gap) are still refused."""
    from hsi_app.errors import ConfigError
    from hsi_app.io.cube import make_cube
    from hsi_app.io.cube_checks import check_evenly_spaced

    x = FLOAT32_ARITHMETIC[name]
    step = float(x[1]) - float(x[0])
    y = F32(35.0) - np.arange(3, dtype=F32) * F32(1e-4)
    cube = make_cube(np.zeros((1, 3, x.size), np.float32), x=x, y=y, crs="EPSG:4326")
    assert cube.x.dtype == np.float64
    t = cube.hsi.transform
    assert t.a == pytest.approx(step, rel=1e-2) and t.c == pytest.approx(float(x[0]) - step / 2, abs=abs(step))
    check_evenly_spaced(x.astype(np.float64), "x", "t")  # as float64 given directly too
    with pytest.raises(ConfigError, match="x coordinates are not evenly spaced"):
        cube.isel(x=np.r_[0:10, 11:20]).hsi.transform


def test_the_float32_band_separates_float32_arithmetic_from_uneven_whole_metre_steps() -> None:
    """The margins rounded_float32_grid's band keeps on both sides: float32 arithmetic fits in 0.7 of it,
    and the uneven UTM steps (30/31/30 m at 3e6 m, 30/30.125/30 m at 5e5 m, 2 float32 ulps off the best
    line) miss even 1.25 times it."""
    from hsi_app.io.cube_checks import _fits_a_grid, float32_band

    for name, x in FLOAT32_ARITHMETIC.items():
        c = x.astype(np.float64)
        assert _fits_a_grid(c, 0.7 * float32_band(c)), name
    for x0, steps in [(3_000_015.0, [30.0, 31.0, 30.0]), (500_015.0, [30.0, 30.125, 30.0])]:
        c = x0 + np.r_[0.0, np.cumsum(steps)]
        assert not _fits_a_grid(c, 1.25 * float32_band(c)), x0
        assert _fits_a_grid(c, 1.4 * float32_band(c)), x0  # 2 ulps off: the band is what refuses them


def test_the_float32_grid_verdict_is_reached_once_per_coordinate_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    """cube.hsi.transform ran rounded_float32_grid's bisection on every access (about 30 ms for 100,000
    columns), and window() reads the transform for each window. It now runs once per coordinate vector:
    repeated access and the windows of a cube (views of its coordinates) reuse the verdict. Changed values
    are judged afresh, and a window inside one field of a cube without a grid is judged by itself."""
    from hsi_app.errors import ConfigError
    from hsi_app.io import cube_checks
    from hsi_app.io.cube import make_cube

    judged: list[int] = []
    real = cube_checks.rounded_float32_grid
    monkeypatch.setattr(cube_checks, "rounded_float32_grid", lambda c: judged.append(c.size) or real(c))
    lon = F32(7.0) + np.arange(3001, dtype=F32) * F32(2.5e-4)  # sizes no other test uses: nothing remembered yet
    lat = F32(46.0) - np.arange(7, dtype=F32) * F32(2.5e-4)
    cube = make_cube(np.zeros((1, 7, lon.size), np.float32), x=lon, y=lat, crs="EPSG:4326")
    first = cube.hsi.transform
    for _ in range(5):
        assert cube.hsi.transform == first
    for k in range(0, 3000, 500):
        win = cube.hsi.window(0, k, 7, 500)
        assert win.hsi.transform.c == pytest.approx(first.c + k * first.a, abs=1e-9)
    assert sorted(judged) == [7, 3001]

    nudged = lon.astype(np.float64)
    nudged[1500] += 3 * float(np.spacing(F32(7.5)))  # 3 float32 ulps: off the grid
    assert (nudged.astype(np.float32) == nudged).all()
    with pytest.raises(ConfigError, match="x coordinates are not evenly spaced"):
        cube.assign_coords(x=nudged).hsi.transform
    fields = cube.assign_coords(x=np.r_[lon[:1500], lon[1500:] + F32(0.1)].astype(np.float64))
    with pytest.raises(ConfigError, match="x coordinates are not evenly spaced"):
        fields.hsi.transform
    assert fields.isel(x=slice(0, 1000)).hsi.transform.a == pytest.approx(2.5e-4, rel=1e-3)
