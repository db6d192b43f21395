"""A target pixel that gives no spectrum is a TargetPixelError carrying the pixel and the reason: the CLI and
the viewer each word it from those fields (the viewer used to rewrite the CLI's text by matching it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import TargetPixelError
from tests.tasks.test_detect_s57_review import viewer_detect_error

DEAD_BAND_REASON = "is 0 at every band but band 4 ("


def _dead_band_scene(path: Path) -> Path:
    """A 4-band UTM GeoTIFF (40 x 50) whose band 4 is one value everywhere and whose pixel (7, 9) is 0 in the
    other bands: it passes the click checks and is refused by the statistics pass."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    data = (0.2 + 0.03 * rng.standard_normal((4, 40, 50))).astype(np.float32)
    data[3] = 0.5
    data[:3, 7, 9] = 0.0
    with rasterio.open(path, "w", driver="GTiff", height=40, width=50, count=4, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(400000.0, 5000000.0, 1.0, 1.0), nodata=-9999.0) as ds:
        ds.write(data)
        ds.update_tags(wavelength="500,600,700,800", wavelength_units="nm")
    return path


def _viewer_message(tmp_path: Path, method: str) -> str:
    _dead_band_scene(tmp_path / "scene.tif")
    err = viewer_detect_error(tmp_path, method)
    assert not isinstance(err, TargetPixelError)  # worded for the tab, not passed through
    return str(err)


def test_the_statistics_pass_raises_the_pixel_and_the_reason(tmp_path: Path) -> None:
    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import detect_scene, target_spectra

    cube = open_cube(_dead_band_scene(tmp_path / "scene.tif"))
    spectra, names = target_spectra(cube, pixels=[(7, 9)])
    with pytest.raises(TargetPixelError) as err:
        detect_scene(cube, "cem", spectra=spectra, names=names)
    assert err.value.pixel == (7, 9)
    assert err.value.reason.startswith(DEAD_BAND_REASON)
    # the CLI / Python line is as before, built from the same fields
    assert str(err.value) == f"--target-pixel 7,9 (pixels= in Python): that pixel {err.value.reason}; pick another pixel"


def test_target_spectra_raise_the_pixel_and_the_reason(tmp_path: Path) -> None:
    import rasterio

    from hsi_app.io.open import open_cube
    from hsi_app.tasks.detection import target_spectra

    path = _dead_band_scene(tmp_path / "scene.tif")
    with rasterio.open(path, "r+") as ds:
        data = ds.read()
        data[:, 20, 30] = 0.0  # 0 at every band, not marked as no-data
        data[:, 5, 6] = -9999.0  # no data
        ds.write(data)
    cube = open_cube(path)
    with pytest.raises(TargetPixelError) as err:
        target_spectra(cube, pixels=[(20, 30)])
    assert err.value.pixel == (20, 30) and err.value.reason.startswith("is 0 at every band (a fill")
    with pytest.raises(TargetPixelError) as err:
        target_spectra(cube, pixels=[(5, 6)])
    assert (err.value.pixel, err.value.reason, err.value.fix) == ((5, 6), "has no data", "pick a valid pixel")
    assert str(err.value) == "--target-pixel 5,6 (pixels= in Python): that pixel has no data; pick a valid pixel"


@pytest.mark.parametrize("method", ["cem", "ace"])
def test_viewer_words_it_from_the_fields_whatever_the_cli_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               method: str) -> None:
    """The CLI's wording of the error changes; the Detect tab's message does not."""
    (tmp_path / "a").mkdir()
    before = _viewer_message(tmp_path / "a", method)

    def reworded(self: TargetPixelError, pixel: tuple[int, int], reason: str, fix: str = "pick another pixel") -> None:
        self.pixel, self.reason, self.fix = (int(pixel[0]), int(pixel[1])), reason, fix
        Exception.__init__(self, f"target pixel at row {pixel[0]} and column {pixel[1]}: {fix} ({reason})")

    monkeypatch.setattr(TargetPixelError, "__init__", reworded)
    from hsi_app.tasks.detectors_classical import check_kept_targets

    with pytest.raises(TargetPixelError, match=r"^target pixel at row 7 and column 9: pick another pixel"):
        check_kept_targets(np.zeros((1, 4)) + [0, 0, 0, 0.5], np.array([True, True, True, False]),
                           names=["pixel_7_9"])
    (tmp_path / "b").mkdir()
    after = _viewer_message(tmp_path / "b", method)
    assert after == before
    assert after.startswith(f"{method} needs a target spectrum, but the clicked pixel (row 7, col 9) "
                            f"{DEAD_BAND_REASON}")
    assert after.endswith(": click another pixel, then run again") and "target pixel at" not in after
