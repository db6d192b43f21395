"""Session 57 review of the detection fixes (Python API): truth boxes on a shifted grid, zero targets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _cube(path: Path, origin: tuple[float, float], shape: tuple[int, int] = (40, 50)) -> Path:
    """A 4-band float32 UTM GeoTIFF with 1 m pixels whose top-left corner is ``origin`` (x, y)."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    h, w = shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=4, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(*origin, 1.0, 1.0), nodata=-9999.0) as ds:
        ds.write((0.2 + 0.03 * rng.standard_normal((4, h, w))).astype(np.float32))
        ds.update_tags(wavelength="500,600,700,800", wavelength_units="nm")
    return path


def viewer_detect_error(folder: Path, method: str, pixel: tuple[int, int] = (7, 9)) -> Exception:
    """The error the viewer's Detect tab raises for ``method`` with ``pixel`` clicked on ``folder/scene.tif``
    (an :class:`~hsi_app.errors.InvalidDataError`; the test fails if none is raised)."""
    from hsi_app import viewer
    from hsi_app.errors import InvalidDataError
    from hsi_app.viewer.detect import detect

    state = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=folder))
    try:
        viewer.open_scene(state, "scene.tif")
        state.selected = pixel
        with pytest.raises(InvalidDataError) as err:
            detect(state, method, quantile=99.0, max_points=5)
        return err.value
    finally:
        state.close()


@pytest.mark.parametrize(("dx", "moved"), [(0.3, 0.3), (0.02, 0.0), (5.0, 5.0)])
def test_truth_boxes_keep_a_real_sub_pixel_offset_of_the_grids(tmp_path: Path, dx: float, moved: float) -> None:
    """A grid offset of 0.3 px is real and moves the boxes by 0.3 px; 0.02 px (a saved coordinate's rounding) is
    none; a crop's 5 px are 5 px. The boxes are written for a grid at x0 = 400000 m; the scene starts dx m later."""
    import geopandas as gpd
    from shapely.geometry import Point

    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import read_detections

    x0, y0 = 400000.0, 5000000.0
    cube = open_cube(_cube(tmp_path / "scene.tif", (x0 + dx, y0)))
    cells = [(10.5, 12.5), (20.5, 30.5), (30.5, 8.5)]  # centres of 3 x 3 boxes, (row, col) on the file's grid
    points = [Point(x0 + c, y0 - r) for r, c in cells]
    table = {"class": ["a"] * 3, "row": [r for r, _ in cells], "col": [c for _, c in cells],
             "box_row0": [r - 1.5 for r, _ in cells], "box_col0": [c - 1.5 for _, c in cells],
             "box_row1": [r + 1.5 for r, _ in cells], "box_col1": [c + 1.5 for _, c in cells]}
    gpd.GeoDataFrame(table, geometry=points, crs="EPSG:32633").to_file(tmp_path / "truth.gpkg")
    gt = read_detections(tmp_path / "truth.gpkg", cube, ["a"])
    expected = np.array([[r - 1.5, c - 1.5 - moved, r + 1.5, c + 1.5 - moved] for r, c in cells])
    np.testing.assert_allclose(gt.box, expected, atol=1e-9)


@pytest.mark.parametrize("method", ["cem", "ace"])
def test_viewer_names_a_clicked_pixel_that_is_all_zero(tmp_path: Path, method: str) -> None:
    """The Detect tab showed the CLI's line for a clicked pixel of zeros ('--target-pixel 7,9 (pixels= in Python):
    ... pick another pixel'): the page has no such option; it says what the no-data pixel's line says."""
    import rasterio

    from hsi_app import viewer
    from hsi_app.errors import InvalidDataError
    from hsi_app.viewer.detect import detect

    path = _cube(tmp_path / "scene.tif", (400000.0, 5000000.0))
    with rasterio.open(path, "r+") as ds:
        data = ds.read()
        data[:, 7, 9] = 0.0
        ds.write(data)
    state = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=tmp_path))
    try:
        viewer.open_scene(state, "scene.tif")
        state.selected = (7, 9)
        with pytest.raises(InvalidDataError) as err:
            detect(state, method, quantile=99.0, max_points=5)
        assert str(err.value) == (f"{method} needs a target spectrum, but the clicked pixel (row 7, col 9) is 0 at "
                                  "every band (a fill not marked as no-data?): click another pixel, then run again")
        state.selected = (3, 3)  # a pixel with a spectrum is scored
        assert detect(state, method, quantile=99.0, max_points=5) is not None
    finally:
        state.close()


def test_classical_scores_names_a_target_of_zeros_but_a_constant_band() -> None:
    """In memory too, a target that is 0 at every band but a constant one (left out of the scoring) got the
    line for a target of zeros at every band, which it is not."""
    from hsi_app.errors import InvalidDataError
    from hsi_app.tasks.detectors_classical import classical_scores

    rng = np.random.default_rng(0)
    image = (0.3 + 0.05 * rng.standard_normal((5, 12, 14))).astype(np.float32)
    image[2] = 0.4  # band 3 is constant
    targets = np.stack([np.linspace(0.2, 0.6, 5), [0.0, 0.0, 0.4, 0.0, 0.0]])
    with pytest.raises(InvalidDataError, match=r"^detection: target spectrum 1 \(0-based row of targets\) is 0 at "
                                               r"every band but band 3, which is constant"):
        classical_scores("cem", image, targets)
    assert np.isfinite(classical_scores("cem", image, targets[:1])).all()


def test_learned_detect_names_a_band_with_no_data_anywhere(tmp_path: Path) -> None:
    """detect_scene(cube, 'learned') on a scene with data but one band that is no-data everywhere said 'every pixel
    is no-data in the detector's bands ... pass a scene with data', as of an empty scene; rx names the band."""
    import rasterio
    from tiny_runs import make_run

    from hsi_app.errors import InvalidDataError
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import detect_scene

    run = make_run(tmp_path / "run", model="test_point_detector", in_chans=4, num_classes=2, task="detect",
                   class_names=["background", "a", "b"], wavelengths=np.array([500.0, 600.0, 700.0, 800.0]),
                   mean=[0.2] * 4, std=[0.03] * 4)
    path = _cube(tmp_path / "scene.tif", (400000.0, 5000000.0), shape=(20, 24))
    with rasterio.open(path, "r+") as ds:
        ds.write(np.full((20, 24), -9999.0, np.float32), 2)
    with pytest.raises(InvalidDataError, match=r"scene\.tif: band 2 \(600 nm\) holds no data at any pixel, so no "
                                               r"pixel is valid; flag them bad first"):
        detect_scene(open_cube(path), "learned", model=str(run))


def test_python_simulate_and_train_refuse_a_spectrum_of_zeros(tmp_path: Path) -> None:
    """simulate_targets implanted black targets for a spectrum of zeros (an empty library column) and train_detector
    trained on them; the CLI refuses such a column, the Python API took it."""
    from hsi_app.data.targets import simulate_targets
    from hsi_app.errors import InvalidDataError
    from hsi_app.tasks.train_detector import DetectTrainOptions, train_detector

    rng = np.random.default_rng(0)
    bg = (0.3 + 0.03 * rng.standard_normal((6, 40, 48))).astype(np.float32)
    spectra = np.stack([np.linspace(0.2, 0.6, 6), np.zeros(6)])
    with pytest.raises(InvalidDataError, match=r"target spectrum 1 \(0-based row of targets\) is 0 at every band"):
        simulate_targets(bg, spectra, ["alpha", "empty"], seed=1)
    assert len(simulate_targets(bg, spectra[:1], ["alpha"], seed=1).targets) > 0  # the measured one is implanted
    out = tmp_path / "run"
    with pytest.raises(InvalidDataError, match=r"target spectrum 1 \(0-based row of targets\) is 0 at every band"):
        train_detector(bg, spectra, ["alpha", "empty"], out, DetectTrainOptions(model="test_point_detector", epochs=1),
                       wavelengths=np.linspace(450.0, 900.0, 6), fwhm=np.full(6, 10.0), band_indices=np.arange(6),
                       source_bands=6)
    assert not out.exists()


def test_batch_identity_takes_a_material_named_twice_once(tmp_path: Path) -> None:
    """hsi batch --task detect: --material beta --material beta scores one band (the library dedupes), as
    --material beta does, but hashed differently, so a rerun with --material beta redid every scene."""
    from hsi_app.batch.tasks import DetectOptions, _detect_identity

    lib = tmp_path / "lib.csv"
    lib.write_text("wavelength,alpha,beta\n400,0.1,0.2\n900,0.3,0.4\n")

    def identity(*materials: str) -> str:
        return _detect_identity(DetectOptions("ace", str(lib), materials, None, 50), None)[1]

    assert identity("beta", "beta") == identity("beta")
    assert identity("beta", "alpha", "beta") == identity("beta", "alpha")
    assert identity("alpha", "beta") != identity("beta", "alpha")  # band order is part of the output
    assert identity("alpha") != identity("beta")


@pytest.mark.parametrize("method", ["cem", "ace"])
def test_viewer_names_a_clicked_pixel_that_is_zero_but_in_a_dead_band(tmp_path: Path, method: str) -> None:
    """A pixel of zeros but in a band constant over the scene passes the click check and is refused by the
    statistics pass: that line named '--target-pixel 7,9 (pixels= in Python)' on the page (final read s57 #3)."""
    import rasterio

    path = _cube(tmp_path / "scene.tif", (400000.0, 5000000.0))
    with rasterio.open(path, "r+") as ds:
        data = ds.read()
        data[3] = 0.5  # band 4: one value everywhere (dead)
        data[:3, 7, 9] = 0.0
        ds.write(data)
    msg = str(viewer_detect_error(tmp_path, method))
    assert msg.startswith(f"{method} needs a target spectrum, but the clicked pixel (row 7, col 9) is 0 at every "
                          "band but band 4 ("), msg
    assert msg.endswith(": click another pixel, then run again") and "--target-pixel" not in msg
