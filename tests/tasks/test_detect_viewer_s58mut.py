"""Mutation audit s58: the Detect tab's checks of the clicked pixel (viewer/detect.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hsi_app.errors import InvalidDataError
from tests.tasks.test_detect_s57_review import _cube, viewer_detect_error


def _session(tmp_path: Path, zero_bands: list[int]):  # noqa: ANN202
    import rasterio

    from hsi_app import viewer

    path = _cube(tmp_path / "scene.tif", (400000.0, 5000000.0))
    with rasterio.open(path, "r+") as ds:
        data = ds.read()
        data[zero_bands, 7, 9] = 0.0
        ds.write(data)
    state = viewer.ViewerSession(config=viewer.ViewerConfig(scenes_dir=tmp_path))
    viewer.open_scene(state, "scene.tif")
    state.selected = (7, 9)
    return state


@pytest.mark.parametrize("method", ["cem", "ace"])
def test_a_clicked_pixel_zero_at_some_bands_is_scored(tmp_path: Path, method: str) -> None:
    """Only a pixel that is 0 at every band is refused; one 0 at two of four bands has a spectrum to look for."""
    from hsi_app.viewer.detect import detect

    state = _session(tmp_path, [0, 2])
    try:
        assert detect(state, method, quantile=99.0, max_points=5) is not None
    finally:
        state.close()


def test_another_data_error_of_the_scoring_is_passed_on_as_it_is(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the scoring's line about the clicked pixel is reworded for the page; any other is shown as it is."""
    import hsi_app.tasks.detection as detection
    from hsi_app.viewer.detect import detect

    def refuse(*args: object, **kwargs: object) -> None:
        raise InvalidDataError("scene.tif: every pixel is no-data; check the file's no-data value")

    monkeypatch.setattr(detection, "detect_scene", refuse)
    state = _session(tmp_path, [])
    try:
        with pytest.raises(InvalidDataError, match=r"^scene.tif: every pixel is no-data; check the file's no-data "
                                                   r"value$"):
            detect(state, "cem", quantile=99.0, max_points=5)
    finally:
        state.close()


def test_a_zero_pixel_but_a_dead_band_gets_the_pages_fix_only(tmp_path: Path) -> None:
    """The scoring's line ends "; pick another pixel" (the CLI's fix); the page says "click another pixel" once."""
    import rasterio

    path = _cube(tmp_path / "scene.tif", (400000.0, 5000000.0))
    with rasterio.open(path, "r+") as ds:
        data = ds.read()
        data[3] = 0.5  # band 4 (800 nm): one value everywhere
        data[:3, 7, 9] = 0.0
        ds.write(data)
    msg = str(viewer_detect_error(tmp_path, "cem"))
    assert "pick another pixel" not in msg and msg.count("click another pixel") == 1, msg
    assert msg.endswith("so it is no target spectrum: click another pixel, then run again"), msg
