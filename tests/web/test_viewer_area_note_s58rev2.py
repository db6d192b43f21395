"""The viewer's area note says which pixel area its hectares use (review 2 of session 58, #7).

Web Mercator does not keep area: the viewer uses the centre pixel's ground area, which the note must say (the area
returned is not the map-unit area). A polar stereographic map of Greenland is true to scale at its centre but not at
its corners: the viewer keeps the map-unit area, and the note must not call it the centre pixel's ground area.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin

from hsi_app import viewer
from hsi_app.io.cube import make_cube


def test_web_mercator_note_names_the_centre_pixels_ground_area() -> None:
    from pyproj import Transformer

    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(10.0, 50.0)
    cube = make_cube(np.ones((3, 4, 4), np.float32), crs=CRS.from_epsg(3857), transform=from_origin(x - 60, y + 60, 30, 30))
    area, note = viewer.pixel_area(cube)
    assert area == pytest.approx(900 * math.cos(math.radians(50)) ** 2, rel=0.01)  # not the 900 m² of map units
    assert "ground area of the centre pixel" in note and "does not keep area" in note


def test_a_map_distorted_only_at_its_corners_says_map_unit_area() -> None:
    greenland = Affine(50000, 0, -650000, 0, -50000, -600000)  # 50 km pixels from 83° N down to 60° N
    cube = make_cube(np.ones((2, 56, 31), np.float32), crs=CRS.from_epsg(3413), transform=greenland)
    area, note = viewer.pixel_area(cube)
    assert area == 50000.0 ** 2  # the map-unit area: the centre is true to scale
    assert "map-unit area" in note and "corners" in note
    assert "centre pixel" not in note
