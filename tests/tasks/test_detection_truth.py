"""Truth points on another scene's grid: boxes move with their points, points off the scene are refused/left out."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from hsi_app.errors import HSIWarning, LabelError
from hsi_app.io.open import open_cube
from hsi_app.tasks.detect_metrics import Detections, detection_report
from hsi_app.tasks.detection import read_detections, read_points, truth_mask, write_detections

ROWS = np.array([3.5, 12.25, 20.5, 27.5, 9.5])
COLS = np.array([7.5, 30.75, 14.5, 40.5, 22.5])
# pixel footprints (row0, col0, row1, col1) on the 32 x 48 grid the truth is written for
BOXES = np.array([[2, 6, 5, 9], [10, 29, 15, 33], [19, 12, 22, 17], [26, 39, 29, 42], [7, 21, 12, 24]], float)


@pytest.fixture(scope="module")
def speclib(load_fixture) -> ModuleType:  # noqa: ANN001
    return load_fixture("speclib")


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory, speclib: ModuleType) -> dict[str, Path]:
    """A 32 x 48 scene, truth points with boxes written on its grid, and scenes on other grids."""
    import rasterio
    from rasterio.transform import from_origin

    d = tmp_path_factory.mktemp("truth")
    image = speclib.background(1)

    def geotiff(name: str, img: np.ndarray, x0: float, y0: float, pixel: float) -> Path:
        c, h, w = img.shape
        with rasterio.open(d / name, "w", driver="GTiff", height=h, width=w, count=c, dtype="float32",
                           crs="EPSG:32616", transform=from_origin(x0, y0, pixel, pixel)) as ds:
            ds.write(img.astype(np.float32))
            ds.update_tags(wavelength=",".join(f"{v:.2f}" for v in speclib.WAVELENGTHS), wavelength_units="nm")
        return d / name

    full = geotiff("full.tif", image, 500000.0, 4100000.0, 10.0)
    det = Detections(ROWS, COLS, np.array([1, 2, 3, 1, 2]), np.ones(5), BOXES)
    write_detections(d / "truth.gpkg", det, open_cube(full), speclib.NAMES)
    return {
        "full": full,
        "crop": geotiff("crop.tif", image[:, 8:], 500000.0, 4100000.0 - 80.0, 10.0),  # rows 8.. of full
        "coarse": geotiff("coarse.tif", image[:, ::2, ::2], 500000.0, 4100000.0, 20.0),  # same origin, 20 m
        "far": geotiff("far.tif", image, 514000.0, 4100000.0, 10.0),  # 14 km east
        "gpkg": d / "truth.gpkg",
    }


def test_cropped_scene_reads_boxes_on_its_own_grid(truth: dict[str, Path], speclib: ModuleType) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gt = read_detections(truth["gpkg"], open_cube(truth["crop"]), speclib.NAMES)
    inside = BOXES[:, 2] > 8  # the first target lies in the 8 rows cut off
    np.testing.assert_allclose(gt.row, ROWS[inside] - 8)
    np.testing.assert_allclose(gt.col, COLS[inside])
    expected = BOXES[inside] - [8, 0, 8, 0]
    expected[:, 0] = np.maximum(expected[:, 0], 0)  # the box of the target at row 9.5 is cut at the crop's edge
    np.testing.assert_array_equal(gt.box, expected)
    assert [str(w.message) for w in caught if issubclass(w.category, HSIWarning)] == [
        f"{truth['gpkg']}: 1 of 5 targets lie outside the scene {truth['crop']} and are left out of the metrics"
    ]


def test_cropped_scene_truth_mask_is_the_full_scene_mask_cut(truth: dict[str, Path], speclib: ModuleType) -> None:
    full = read_detections(truth["gpkg"], open_cube(truth["full"]), speclib.NAMES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", HSIWarning)
        crop = read_detections(truth["gpkg"], open_cube(truth["crop"]), speclib.NAMES)
    np.testing.assert_array_equal(full.box, BOXES)  # the grid the truth was written for: unchanged
    np.testing.assert_array_equal(truth_mask(crop, (24, 48)), truth_mask(full, (32, 48))[8:])
    # the full-scene truth, moved to the crop by hand, matches the crop's truth box for box
    inside = BOXES[:, 2] > 8
    pred = Detections(ROWS[inside] - 8, COLS[inside], full.class_id[inside], np.linspace(1, 0.5, inside.sum()),
                      np.clip(BOXES[inside] - [8, 0, 8, 0], 0, None))
    assert detection_report(pred, crop)["mAP50"] == 1.0


def test_coarser_grid_scales_the_boxes(truth: dict[str, Path], speclib: ModuleType) -> None:
    gt = read_detections(truth["gpkg"], open_cube(truth["coarse"]), speclib.NAMES)
    np.testing.assert_allclose(gt.row, ROWS / 2)
    np.testing.assert_allclose(gt.col, COLS / 2)
    np.testing.assert_allclose(gt.box, BOXES / 2)  # 20 m pixels: every side is half as many pixels


def test_truth_off_the_scene_is_refused(truth: dict[str, Path], speclib: ModuleType) -> None:
    with pytest.raises(LabelError) as info:
        read_detections(read_points(truth["gpkg"]), open_cube(truth["far"]), speclib.NAMES)
    msg = str(info.value)
    assert msg.startswith(f"{truth['gpkg']}: none of the 5 points overlaps the scene {truth['far']} (layer bounds")
    assert "cube bounds 514000," in msg and "\n" not in msg
