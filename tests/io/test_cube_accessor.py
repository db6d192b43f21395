"""``cube.hsi`` on arrays that are not (band, y, x) cubes: one ConfigError line saying what to do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import ConfigError
from hsi_app.io import open_cube
from hsi_app.io.cog import write_cube
from hsi_app.tasks.detection import detect_scene
from hsi_app.viewer.scene import composite


@pytest.fixture(scope="module")
def cube():  # noqa: ANN201
    return open_cube("indian_pines")


def test_transposed_cube_is_refused_with_the_transpose_to_use(cube, tmp_path: Path) -> None:  # noqa: ANN001
    t = cube.transpose("y", "x", "band")  # the usual step before sklearn
    hint = r"indian_pines: the cube's dims are \('y', 'x', 'band'\).*use cube\.transpose\('band', 'y', 'x'\)$"
    for call in (lambda: t.hsi.shape, lambda: t.hsi.wavelengths, lambda: write_cube(tmp_path / "t.tif", t),
                 lambda: detect_scene(t, "rx"), lambda: composite(t)):
        with pytest.raises(ConfigError, match=hint):
            call()
    assert not (tmp_path / "t.tif").exists()
    back = t.transpose("band", "y", "x")  # the fix the message names works
    assert back.hsi.shape == (200, 145, 145) == cube.hsi.shape


@pytest.mark.parametrize("make", [lambda c: c.mean("band"), lambda c: c.sel(band=5)])
def test_two_d_array_is_named_as_such(cube, make, tmp_path: Path) -> None:  # noqa: ANN001
    flat = make(cube)
    with pytest.raises(ConfigError, match=r"indian_pines: a \(y, x\) array, not a cube"):
        flat.hsi.shape
    with pytest.raises(ConfigError, match=r"a \(y, x\) array, not a cube"):
        write_cube(tmp_path / "m.tif", flat)
    one = cube.isel(band=[4])  # the fix the message names: a one-band cube
    assert one.hsi.shape == (1, 145, 145)
    np.testing.assert_array_equal(one.values[0], cube.sel(band=5).values)


def test_bool_attrs_read_back_as_int8_keep_their_meaning(cube, tmp_path: Path) -> None:  # noqa: ANN001
    """netCDF stores the bool attrs as int8: a slice of a pixel-coordinate cube still has no map grid."""
    import xarray as xr

    pytest.importorskip("scipy")
    plain = cube.isel(band=slice(0, 3))
    plain.attrs = {k: v for k, v in plain.attrs.items() if k != "class_names"}  # a list of str: scipy cannot
    plain.to_netcdf(tmp_path / "ip.nc")
    with xr.open_dataarray(tmp_path / "ip.nc") as back:
        assert back.attrs["gridded"] == 0 and not isinstance(back.attrs["gridded"], bool)
        assert cube.isel(y=slice(10, 20), x=slice(30, 50)).hsi.transform is None
        assert back.isel(y=slice(10, 20), x=slice(30, 50)).hsi.transform is None
    from rasterio.transform import from_origin

    from hsi_app.io.cube import make_cube

    t = from_origin(1000.0, 2000.0, 5.0, 5.0)
    grid = make_cube(np.zeros((2, 30, 60), np.float32), transform=t)  # a map grid without a CRS
    grid.attrs = {**grid.attrs, "gridded": np.int8(1)}  # its int8 True keeps the slice's transform
    assert grid.isel(y=slice(10, 20), x=slice(30, 50)).hsi.transform == t * t.translation(30, 10)
