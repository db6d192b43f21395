"""Classical detectors (SPy RX / MF / ACE, CEM): a planted pixel ranks first; bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hsi_app.errors import ConfigError, HSIWarning, UnknownKeyError
from hsi_app.tasks.detection import find_peaks, peak_boxes
from hsi_app.tasks.detectors_classical import check_method, classical_scores

C, H, W = 8, 24, 24
PLANT = (13, 6)


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    base = 0.3 + 0.05 * np.sin(np.arange(C))
    image = (base[:, None, None] + rng.normal(0, 0.01, (C, H, W))).astype(np.float32)
    target = np.linspace(0.6, 0.1, C).astype(np.float32)
    image[:, PLANT[0], PLANT[1]] = 0.5 * target + 0.5 * image[:, PLANT[0], PLANT[1]]
    return image, target


@pytest.mark.parametrize("method", ["rx", "rx-local", "mf", "ace", "cem"])
def test_planted_pixel_ranks_first(scene: tuple[np.ndarray, np.ndarray], method: str) -> None:
    image, target = scene
    scores = classical_scores(method, image, target[None], window=(3, 11))
    assert scores.shape == (1, H, W) and scores.dtype == np.float32
    assert np.unravel_index(np.nanargmax(scores[0]), (H, W)) == PLANT
    det = find_peaks(scores)
    assert (det.row[0], det.col[0]) == (PLANT[0] + 0.5, PLANT[1] + 0.5)
    box = peak_boxes(scores, det)[0]
    assert box[0] <= PLANT[0] < box[2] and box[1] <= PLANT[1] < box[3]


def test_nodata_pixels_score_nan(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image = scene[0].copy()
    image[:, 0, 0] = np.nan
    scores = classical_scores("ace", image, scene[1][None])
    assert np.isnan(scores[0, 0, 0]) and np.isfinite(scores[0, 1:, 1:]).all()


def test_local_rx_next_to_a_nodata_hole_matches_the_complete_scene(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """No-data pixels must not enter their neighbours' local background as zero spectra."""
    image = scene[0]
    full = classical_scores("rx-local", image, window=(3, 11))[0]
    holed = image.copy()
    holed[:, 4:6, 17:19] = np.nan
    got = classical_scores("rx-local", holed, window=(3, 11))[0]
    near = np.zeros((H, W), bool)
    near[0:11, 12:24] = True  # every pixel whose outer window holds the hole
    near[4:6, 17:19] = False
    assert np.isnan(got[4:6, 17:19]).all()
    rel = np.abs(got[near] - full[near]) / full[near]
    assert rel.max() < 0.1, rel.max()  # zeros in the window put some scores off by 7x


@pytest.mark.parametrize("strip_rows", [1, 10, 13, 23, 64])
def test_local_rx_in_strips_equals_spy_in_one_pass(scene: tuple[np.ndarray, np.ndarray], strip_rows: int) -> None:
    """Strips (the progress-bar steps, short remainders merged) give exactly `spectral.rx` over the whole scene."""
    import spectral

    from hsi_app.tasks.detectors_classical import _hwc, background_stats, rx

    image = scene[0].copy()
    image[:, 2, 3] = np.nan
    bg = background_stats(image)
    reference = spectral.rx(_hwc(image, fill=np.asarray(bg.mean)), window=(3, 11), cov=bg.cov)
    got = rx(image, window=(3, 11), progress=True, strip_rows=strip_rows)[0]
    valid = np.isfinite(image).all(axis=0)
    np.testing.assert_allclose(got[valid], reference[valid], rtol=1e-6)
    assert np.isnan(got[2, 3]) and valid.sum() == H * W - 1


def test_local_rx_on_a_scene_under_ten_rows(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """SPy's windowed mapper divides by rows // 10; a short wide scene is scored through its transpose."""
    from hsi_app.tasks.detectors_classical import rx

    short = scene[0][:, 8:16, :]  # 8 rows x 24 columns, the planted pixel at row 5
    got = rx(short, window=(3, 7))[0]
    tall = rx(np.ascontiguousarray(short.transpose(0, 2, 1)), window=(3, 7))[0]  # 24 x 8: the ordinary path
    np.testing.assert_allclose(got, tall.T, rtol=1e-6)
    assert np.unravel_index(np.argmax(got), got.shape) == (PLANT[0] - 8, PLANT[1])
    with pytest.raises(ConfigError, match="smaller than 10 pixels both ways"):
        rx(scene[0][:, :8, :8], window=(3, 7))


def test_singular_covariance_is_regularised_with_a_warning(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, target = scene
    image = image.copy()
    image[2] = 0.25  # a constant band makes the covariance singular
    image[5] = image[4]  # and a duplicated one
    for method in ("rx", "mf", "ace", "cem"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = classical_scores(method, image, target[None])
        assert any(issubclass(w.category, HSIWarning) and "regularised" in str(w.message) for w in caught), method
        assert np.isfinite(scores).all()
        assert np.unravel_index(np.nanargmax(scores[0]), (H, W)) == PLANT, method


def test_unknown_method_and_missing_targets(scene: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(UnknownKeyError, match="did you mean ace") as err:
        check_method("acee")
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="--targets"):
        classical_scores("mf", scene[0], None)
    with pytest.raises(ConfigError, match="bands"):
        classical_scores("ace", scene[0], np.ones((1, C + 1)))
    with pytest.raises(ConfigError, match="window"):
        classical_scores("rx-local", scene[0], window=(4, 9))


@pytest.mark.parametrize("method", ["rx", "mf", "ace", "cem"])
def test_a_cube_scores_as_its_array_with_no_data_as_nan(scene: tuple[np.ndarray, np.ndarray], method: str) -> None:
    """A notebook passes the opened Cube (a DataArray): it gave "'DataArray' object has no attribute 'reshape'".
    Its scores are the array's, and a pixel holding the cube's no-data value scores NaN as a NaN pixel does."""
    from hsi_app.io import make_cube
    from hsi_app.tasks import detectors_classical as dc

    image, target = scene
    stored = image.copy()
    stored[:, 2, 3] = -9999.0
    nan = image.copy()
    nan[:, 2, 3] = np.nan
    cube = make_cube(stored, wavelength=np.linspace(450.0, 2300.0, C), nodata=-9999.0)
    fn = {"rx": lambda x: dc.rx(x), "mf": lambda x: dc.matched_filter(x, target[None]),
          "ace": lambda x: dc.ace(x, target[None]), "cem": lambda x: dc.cem(x, target[None])}[method]
    got, expected = fn(cube), fn(nan)
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[0, 2, 3]) and np.isfinite(np.delete(got[0].ravel(), 2 * W + 3)).all()
    np.testing.assert_array_equal(classical_scores(method, cube, target[None]), classical_scores(method, nan, target[None]))


@pytest.mark.parametrize("shape", [(H, W), (H * W, C)])
def test_an_image_without_three_axes_is_one_line(shape: tuple[int, ...]) -> None:
    from hsi_app.tasks.detectors_classical import rx

    with pytest.raises(ConfigError, match=r"^rx: takes a \(C, H, W\) image, bands first, got an array of shape"):
        rx(np.ones(shape, np.float32))


def test_a_cube_with_a_bad_band_scores_its_good_bands(scene: tuple[np.ndarray, np.ndarray]) -> None:
    """As hsi detect and target_spectra take them: a cube whose bad band holds junk or NaN scored all bands (other
    scores, or 'only 0 valid background pixels'), and good-band targets were refused as of another band count."""
    from hsi_app.io import make_cube
    from hsi_app.tasks.detectors_classical import rx

    image, target = scene
    for junk in (np.full((H, W), np.nan, np.float32), np.random.default_rng(3).normal(0, 50, (H, W)).astype(np.float32)):
        stored = np.concatenate([image, junk[None]])
        cube = make_cube(stored, wavelength=np.linspace(450.0, 2300.0, C + 1), bad_bands=[C])
        np.testing.assert_array_equal(rx(cube), rx(image))
        np.testing.assert_array_equal(classical_scores("ace", cube, target[None]), classical_scores("ace", image, target[None]))
