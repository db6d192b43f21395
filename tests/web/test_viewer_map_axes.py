"""``viewer.map_extent``: notebook figures drawn on a scene's map grid (rasterio's bounds), or in pixels."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.transform import Affine, array_bounds


def _cube(transform: Affine | None, crs: str | None, h: int = 4, w: int = 6):
    from hsi_app.io.cube import make_cube

    return make_cube(np.ones((2, h, w), np.float32), transform=transform, crs=crs)


def test_a_north_up_scene_is_drawn_in_its_crs_units_at_rasterios_bounds() -> None:
    from hsi_app.viewer import map_extent

    t = Affine(30.0, 0.0, 500_010.0, 0.0, -30.0, 4_100_020.0)
    e = map_extent(_cube(t, "EPSG:32616"))
    west, south, east, north = array_bounds(4, 6, t)
    assert e.extent == pytest.approx((west, east, south, north))
    assert e.x_name == "x (EPSG:32616)" and e.y_name == "y (EPSG:32616)"
    x, y = e.centres([0, 3], [0, 5])  # the centres of pixels (0, 0) and (3, 5), by the transform
    assert np.allclose(x, [t.c + 15.0, t.c + 5.5 * 30.0]) and np.allclose(y, [t.f - 15.0, t.f - 3.5 * 30.0])
    window = _cube(t, "EPSG:32616", 10, 10).hsi.window(2, 3, 4, 5)  # a window's extent starts at its own corner
    w_west, w_south, w_east, w_north = array_bounds(4, 5, t * Affine.translation(3, 2))
    assert map_extent(window).extent == pytest.approx((w_west, w_east, w_south, w_north))
    assert map_extent(window).extent == pytest.approx((t.c + 90.0, t.c + 240.0, t.f - 180.0, t.f - 60.0))


def test_scenes_without_a_north_up_grid_are_drawn_in_pixel_columns_and_rows() -> None:
    from hsi_app.viewer import map_extent

    plain = map_extent(_cube(None, None))  # Indian Pines' case: pixel coordinates only
    assert plain.extent == (0.0, 6.0, 4.0, 0.0) and plain.x_name.startswith("column (px")
    rotated = map_extent(_cube(Affine(30.0, 5.0, 500_000.0, 5.0, -30.0, 4_100_000.0), "EPSG:32616"))
    assert rotated.extent == (0.0, 6.0, 4.0, 0.0) and rotated.y_name == "row (px)"
    no_crs = map_extent(_cube(Affine(2.0, 0.0, 100.0, 0.0, -2.0, 50.0), None))
    assert no_crs.extent == (100.0, 112.0, 42.0, 50.0) and no_crs.x_name == "x (map units, no CRS)"
    assert plain.centres(0, 0) == (0.5, 0.5)


def test_label_names_every_axes_given() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hsi_app.viewer import map_extent

    e = map_extent(_cube(Affine(30.0, 0.0, 500_010.0, 0.0, -30.0, 4_100_020.0), "EPSG:32616"))
    fig, axes = plt.subplots(1, 2)
    try:
        e.label(axes)
        e.label(axes[0])
        assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in axes] == [(e.x_name, e.y_name)] * 2
    finally:
        plt.close(fig)


def test_label_names_every_axes_of_a_grid_of_subplots() -> None:
    """plt.subplots(2, 2) gives a 2-D array: iterating it gave rows (arrays), which have no set_xlabel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hsi_app.viewer import map_extent

    e = map_extent(_cube(Affine(30.0, 0.0, 500_010.0, 0.0, -30.0, 4_100_020.0), "EPSG:32616"))
    fig, axes = plt.subplots(2, 2)
    try:
        e.label(axes)
        assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in axes.ravel()] == [(e.x_name, e.y_name)] * 4
    finally:
        plt.close(fig)


def test_axis_names_are_short_and_say_longitude_for_a_geographic_crs() -> None:
    """A CRS without an EPSG code put its whole WKT (hundreds of characters) into the axis name; a geographic CRS was
    'x'/'y' although its axes are longitude and latitude."""
    from pyproj import CRS

    from hsi_app.viewer import map_extent

    t = Affine(0.001, 0.0, 10.0, 0.0, -0.001, 50.0)
    geo = map_extent(_cube(t, "EPSG:4326"))
    assert (geo.x_name, geo.y_name) == ("longitude (EPSG:4326)", "latitude (EPSG:4326)")
    unnamed = CRS.from_proj4("+proj=tmerc +lat_0=0 +lon_0=13.5 +k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 +units=m")
    named = CRS.from_wkt(unnamed.to_wkt().replace('PROJCRS["unknown"', 'PROJCRS["WGS 84 / custom TM"', 1))
    assert unnamed.to_epsg() is None and named.to_epsg() is None and named.name == "WGS 84 / custom TM"
    t = Affine(30.0, 0.0, 500_010.0, 0.0, -30.0, 4_100_020.0)
    e = map_extent(_cube(t, named.to_wkt()))
    assert (e.x_name, e.y_name) == ("x (WGS 84 / custom TM)", "y (WGS 84 / custom TM)")
    e = map_extent(_cube(t, unnamed.to_wkt()))
    assert e.x_name == "x (Transverse Mercator, no EPSG code)"
