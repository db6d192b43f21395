"""Quick-look PNGs: band choice, percentile stretch, class-map and confusion figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from hsi_app.errors import InvalidDataError, OutputError
from hsi_app.io.cube import Cube, make_cube
from hsi_app.io.quicklook import (
    as_palette,
    default_palette,
    pick_rgb_bands,
    rgb_composite,
    save_class_map_png,
    save_confusion_png,
    save_rgb_png,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WL = 400.0 + 10.0 * np.arange(61)  # 400..1000 nm every 10 nm


def _cube(wavelength: np.ndarray | None = WL, bad: list[int] | None = None, h: int = 20, w: int = 25) -> Cube:
    c = 61 if wavelength is None else len(wavelength)
    rng = np.random.default_rng(0)
    data = rng.uniform(0.0, 1.0, size=(c, h, w)).astype(np.float32)
    data[:, 0, 0] = -9999.0
    return make_cube(data, wavelength=wavelength, bad_bands=bad, nodata=-9999.0)


def test_picks_nearest_bands_by_wavelength() -> None:
    cube = _cube()
    assert pick_rgb_bands(cube) == (24, 15, 7)  # 640, 550, 470 nm
    assert pick_rgb_bands(cube, (1000.0, 402.0, 866.0)) == (60, 0, 47)


def test_bad_bands_are_skipped() -> None:
    cube = _cube(bad=[23, 24])  # 630 and 640 nm flagged bad: 650 nm is the nearest good band
    assert pick_rgb_bands(cube)[0] == 25


def test_unknown_wavelengths_fall_back_to_band_positions() -> None:
    cube = _cube(wavelength=None)
    assert pick_rgb_bands(cube) == (45, 30, 15)
    nine = make_cube(np.zeros((9, 2, 2), np.float32), bad_bands=[0])
    assert pick_rgb_bands(nine) == (7, 5, 3)  # good bands 1..8, positions 6, 4, 2


def test_every_band_bad_is_an_error() -> None:
    with pytest.raises(InvalidDataError, match="every band"):
        pick_rgb_bands(make_cube(np.zeros((2, 2, 2), np.float32), bad_bands=[0, 1]))


def test_rgb_composite_stretches_valid_pixels_only() -> None:
    h, w = 10, 10
    ramp = np.arange(h * w, dtype=np.float32).reshape(h, w)  # 0..99
    data = np.stack([ramp, ramp * 2, ramp + 5]).astype(np.float32)
    data[:, 9, 9] = -9999.0  # no data: must not pull the low percentile down
    cube = make_cube(data, wavelength=[640.0, 550.0, 470.0], nodata=-9999.0)
    rgb = rgb_composite(cube, stretch=(0.0, 100.0))
    assert rgb.shape == (h, w, 3) and rgb.dtype == np.uint8
    valid = np.ones((h, w), bool)
    valid[9, 9] = False
    expected_red = np.round((ramp - 0.0) / (98.0 - 0.0) * 255.0)  # min 0, max 98 among valid pixels
    np.testing.assert_array_equal(rgb[..., 0][valid], expected_red[valid])
    assert rgb[0, 0, 0] == 0 and rgb[9, 8, 0] == 255
    np.testing.assert_array_equal(rgb[9, 9], [0, 0, 0])


def test_save_rgb_png_matches_composite(tmp_path: Path) -> None:
    cube = _cube()
    save_rgb_png(tmp_path / "rgb.png", cube)
    img = imread(tmp_path / "rgb.png")
    np.testing.assert_array_equal(np.round(img[..., :3] * 255).astype(np.uint8), rgb_composite(cube))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rgb.png"]


def test_default_palette() -> None:
    pal = default_palette(256)
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    assert pal[0].tolist() == [0, 0, 0]
    assert len(np.unique(pal, axis=0)) == 256
    np.testing.assert_array_equal(default_palette(5), pal[:5])  # stable prefix
    np.testing.assert_array_equal(as_palette(["#ff0000", (0, 0, 255)], 3)[1:], [[255, 0, 0], [0, 0, 255]])
    with pytest.raises(InvalidDataError):
        as_palette(["#ff0000"], 4)


def test_class_map_and_confusion_pngs(tmp_path: Path) -> None:
    classes = np.zeros((30, 40), dtype=np.uint8)
    classes[5:15, 5:20] = 1
    classes[20:, 10:] = 3
    names = ["unlabelled", "corn", "soy", "water"]
    save_class_map_png(tmp_path / "map.png", classes, names)
    matrix = np.array([[10, 2, 0], [1, 7, 3], [0, 0, 9]])
    save_confusion_png(tmp_path / "cm.png", matrix, names)
    for name in ("map.png", "cm.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_SIGNATURE
        assert imread(tmp_path / name).shape[0] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cm.png", "map.png"]


def test_class_map_png_colours_come_from_the_palette(tmp_path: Path) -> None:
    classes = np.ones((50, 50), dtype=np.uint8)
    save_class_map_png(tmp_path / "map.png", classes, ["unlabelled", "only"])
    img = np.round(imread(tmp_path / "map.png")[..., :3] * 255).astype(int)
    colour = default_palette(2)[1].astype(int)
    assert (np.abs(img - colour).sum(axis=-1) == 0).sum() > 1000  # the class area is drawn in its colour


def test_png_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidDataError, match="square"):
        save_confusion_png(tmp_path / "cm.png", np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(InvalidDataError, match="0..1"):
        save_class_map_png(tmp_path / "m.png", np.full((3, 3), 4), ["unlabelled", "a"])
    with pytest.raises(OutputError, match="does not exist"):
        save_rgb_png(tmp_path / "missing" / "rgb.png", _cube())
    assert list(tmp_path.iterdir()) == []
