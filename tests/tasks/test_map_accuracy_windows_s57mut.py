"""`hsi evaluate`'s strip-by-strip path takes only a reference on exactly the map's grid (mutation audit s57): a
reference of the map's size on a shifted grid or in another CRS, a map of many bands and a map whose class ids go past
its names are left to the whole-raster path, which places, refuses or names them as it always did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from hsi_app.errors import InvalidDataError, LabelError
from hsi_app.io.cog import write_class_map
from tests.map_tool_helpers import MAP_NAMES, T, field_map


def _tif(path: Path, data: np.ndarray, *, crs: str = "EPSG:32633", transform: Any = T,
         names: list[str] | None = None) -> Path:
    """An integer GeoTIFF of ``data`` ``(H, W)`` or ``(C, H, W)``, with a CLASS_NAMES tag when ``names`` is given."""
    bands = data.reshape(-1, *data.shape[-2:])
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2], count=bands.shape[0],
                       dtype="uint8", crs=crs, transform=transform) as ds:
        ds.write(bands.astype(np.uint8))
        if names is not None:
            ds.update_tags(CLASS_NAMES=json.dumps(names))
    return path


def _hand_confusion(cls: np.ndarray, ref: np.ndarray, k: int) -> np.ndarray:
    """``(k + 1, k + 1)`` joint counts, rows = reference id, columns = map class, both with 0."""
    cm = np.zeros((k + 1, k + 1), np.int64)
    np.add.at(cm, (ref.ravel(), cls.ravel()), 1)
    return cm


def test_a_reference_of_the_maps_size_on_a_shifted_grid_is_placed_not_counted_pixel_for_pixel(tmp_path: Path) -> None:
    """Same height and width, origin 20 columns east and 50 rows south: its pixel (r, c) lies on the map's (r + 50,
    c + 20). Counting it strip by strip would pair pixels 500 m apart."""
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls, truth = field_map(300, 200)
    write_class_map(tmp_path / "map.tif", cls, None, crs="EPSG:32633", transform=T, class_names=MAP_NAMES)
    ref = np.roll(truth, (7, 3), axis=(0, 1))  # its own labels, so that pixel-for-pixel counts differ
    shifted = from_origin(T.c + 20 * T.a, T.f + 50 * T.e, T.a, -T.e)
    _tif(tmp_path / "shifted.tif", ref, transform=shifted)
    acc = evaluate_map(tmp_path / "map.tif", tmp_path / "shifted.tif")
    on_map = np.zeros_like(cls)
    on_map[50:, 20:] = ref[:250, :180]
    expected = _hand_confusion(cls, on_map, 4)
    assert acc.confusion.tolist() == expected[1:, 1:].tolist()
    assert acc.unmapped.tolist() == expected[1:, 0].tolist()
    assert expected.tolist() != _hand_confusion(cls, ref, 4).tolist()  # pixel for pixel would count otherwise


def test_a_reference_with_the_maps_grid_numbers_in_another_crs_is_refused_naming_both_crs(tmp_path: Path) -> None:
    """The transform and size match, the CRS (UTM 34N against the map's 33N) does not: the pixels are some 600 km
    apart, so it is not scored; the whole-raster path says how to resample it."""
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls, truth = field_map(120, 100)
    write_class_map(tmp_path / "map.tif", cls, None, crs="EPSG:32633", transform=T, class_names=MAP_NAMES)
    ref = _tif(tmp_path / "utm34.tif", truth, crs="EPSG:32634")
    with pytest.raises(LabelError, match=r"utm34\.tif: .*its CRS is EPSG:32634, the map's EPSG:32633"):
        evaluate_map(tmp_path / "map.tif", ref)


def test_a_three_band_integer_map_is_refused_as_an_image(tmp_path: Path) -> None:
    """A 3-band uint8 raster (an RGB quicklook passed as --map) was scored on its first band by the strip path."""
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls, truth = field_map(120, 100)
    rgb = _tif(tmp_path / "rgb.tif", np.stack([cls, cls, cls]))
    ref = _tif(tmp_path / "ref.tif", truth)
    with pytest.raises(InvalidDataError, match=r"rgb\.tif: 3 bands, so an image rather than a class map"):
        evaluate_map(rgb, ref)


def test_map_class_ids_past_its_names_are_refused_not_dropped(tmp_path: Path) -> None:
    """Map and reference both named: the map holds id 5 where its CLASS_NAMES stop at 4. Scoring them on would drop
    every id-5 pixel from the matrix without a word."""
    from hsi_app.tasks.map_accuracy import evaluate_map

    cls, truth = field_map(120, 100)
    five = np.where(cls == 4, 5, cls)
    assert (five == 5).sum() > 0
    _tif(tmp_path / "map.tif", five, names=MAP_NAMES)
    ref = _tif(tmp_path / "ref.tif", truth, names=MAP_NAMES)
    with pytest.raises(LabelError, match=r"map class ids span 0\.\.5 but only 4 classes are named") as info:
        evaluate_map(tmp_path / "map.tif", ref)
    assert str(info.value).startswith(f"{tmp_path / 'map.tif'}: ") and "CLASS_NAMES tag" in str(info.value)
