"""Gaussian spectral resampling: known weights, invariants, refusal without overlap."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.resample import beyond_reach, out_of_reach, resample_cube, resampling_matrix, uncovered_bands
from hsi_app.errors import BandMismatchError


def test_rows_sum_to_one_and_constant_spectra_stay_constant() -> None:
    src = np.linspace(400, 2500, 200)
    dst = np.linspace(420, 2440, 224)
    m = resampling_matrix(src, dst, np.full(224, 8.0))
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    cube = np.full((200, 3, 4), 0.37, dtype=np.float32)
    np.testing.assert_allclose(resample_cube(cube, m), 0.37, rtol=1e-6)


def test_weights_are_the_gaussian_response() -> None:
    """Weights are a normalised Gaussian of the band's FWHM, centred on the band."""
    src = np.array([500.0, 510.0, 520.0])
    m = resampling_matrix(src, np.array([510.0]), np.array([20.0]))
    sigma = 20.0 / 2.354820045  # FWHM = 2 sqrt(2 ln 2) sigma
    w = np.exp(-0.5 * ((src - 510.0) / sigma) ** 2)
    np.testing.assert_allclose(m[0], w / w.sum())


def test_linear_spectrum_is_sampled_at_band_centres() -> None:
    src = np.linspace(400, 1000, 601)  # 1 nm sampling
    dst = np.array([450.0, 700.0, 950.0])
    spectrum = (0.001 * src)[:, None, None].astype(np.float32)
    out = resample_cube(spectrum, resampling_matrix(src, dst, np.array([10.0, 10.0, 10.0])))
    np.testing.assert_allclose(out[:, 0, 0], 0.001 * dst, rtol=1e-4)


def test_narrow_target_falls_back_to_nearest_band() -> None:
    m = resampling_matrix(np.array([400.0, 500.0, 600.0]), np.array([498.0]), np.array([0.5]))
    np.testing.assert_allclose(m, [[0.0, 1.0, 0.0]])


def test_no_overlap_and_unknown_wavelengths_are_refused() -> None:
    with pytest.raises(BandMismatchError, match="no spectral overlap"):
        resampling_matrix(np.linspace(400, 900, 50), np.linspace(1000, 2000, 10))
    with pytest.raises(BandMismatchError, match="known wavelengths"):
        resampling_matrix(np.array([np.nan, 500.0]), np.array([500.0]))


def test_the_bands_beyond_reach_are_the_ones_the_resampler_refuses() -> None:
    """Model bands more than 6 FWHM (here 10 nm) beyond the scene's 420-2400 nm: 2461 and 2499 nm, not 2459 nm."""
    scene, fwhm = np.linspace(420, 2400, 60), np.full(5, 10.0)
    model = np.array([400.0, 1000.0, 2459.0, 2461.0, 2499.0])
    np.testing.assert_array_equal(beyond_reach(scene, model, fwhm, min_coverage=6.0), [0, 0, 0, 1, 1])
    with pytest.raises(BandMismatchError):
        resampling_matrix(scene, model, fwhm, min_coverage=6.0)
    resampling_matrix(scene, model[:3], fwhm[:3], min_coverage=6.0)  # within reach: resampled


def test_the_out_of_reach_line_names_the_scene_the_model_the_rule_and_the_fix() -> None:
    """Roles in the user's words (the scene, the run that needs the bands), not the resampler's target/source."""
    scene = np.linspace(420, 2400, 60)
    model = np.concatenate([[340.0, 350.0], np.linspace(430, 2390, 20), np.linspace(2470, 2510, 5)])
    line = out_of_reach("s.tif", "the base run runs/a", scene, model, np.full(model.size, 10.0),
                        fix="use a base within {have}, or a scene covering {needs}")
    assert line == ("s.tif: the base run runs/a needs 7 bands at 340-350 nm and 2470-2510 nm, more than 6 FWHM "
                    "(60 nm here) beyond this scene's 420-2400 nm, and only bands within 6 FWHM of a scene's range "
                    "are copied from its edge band; use a base within 420-2400 nm, or a scene covering 340-350 nm "
                    "and 2470-2510 nm")
    one = out_of_reach("s.tif", "the model m", scene, np.array([2500.0]), None, fix="x")  # no FWHM: 6 band spacings
    assert one is not None and "needs 1 band at 2500 nm" in one
    assert out_of_reach("s.tif", "the model m", scene, np.array([2450.0]), np.array([10.0]), fix="x") is None


def test_bands_in_a_gap_of_the_source_sampling_are_uncovered() -> None:
    """10-nm source sampling with a 1350-1450 nm gap; 10-nm-wide target bands every 5 nm."""
    src = np.concatenate([np.arange(1000.0, 1351.0, 10.0), np.arange(1450.0, 1801.0, 10.0)])
    dst = np.arange(1300.0, 1501.0, 5.0)
    gap = uncovered_bands(src, dst, np.full(dst.size, 10.0))
    # farther than one FWHM (10 nm) from 1350 and from 1450: 1365 ... 1435
    np.testing.assert_array_equal(dst[gap], np.arange(1365.0, 1436.0, 5.0))
    # a looser rule (two FWHM) keeps 1365-1370 and 1430-1435 as covered
    loose = uncovered_bands(src, dst, np.full(dst.size, 10.0), max_distance_fwhm=2.0)
    np.testing.assert_array_equal(dst[loose], np.arange(1375.0, 1426.0, 5.0))
    # unknown widths fall back to the target spacing (5 nm): 1360 ... 1440
    np.testing.assert_array_equal(dst[uncovered_bands(src, dst)], np.arange(1360.0, 1441.0, 5.0))


def test_model_bands_are_resampled_from_the_good_bands_only() -> None:
    """An all-NaN bad band (EnMAP water vapour) must not turn every resampled value into NaN."""
    from hsi_app.checkpoint import RunConfig
    from hsi_app.io.cube import make_cube
    from hsi_app.predictor import plan_bands

    src = np.linspace(400.0, 1000.0, 61)  # 10 nm bands
    data = np.broadcast_to((src / 1000.0)[:, None, None], (61, 3, 4)).astype(np.float32).copy()
    bad = [30, 31]  # 700 and 710 nm: unusable, filled with NaN as the readers do
    data[bad] = np.nan
    cube = make_cube(data, wavelength=src, fwhm=np.full(61, 10.0), bad_bands=bad)
    dst = np.array([600.0, 705.0, 800.0])
    cfg = RunConfig(task="classification", model_name="ssfcn", model_args={}, in_chans=3, num_classes=2,
                    class_names=["u", "a", "b"], wavelengths=dst.tolist(), fwhm=[20.0] * 3, band_indices=[0, 1, 2],
                    source_bands=3, mean=[0.0] * 3, std=[1.0] * 3, receptive_radius=0)
    out = plan_bands(cfg, cube, resample=True).apply(data)
    assert out.shape == (3, 3, 4) and np.isfinite(out).all()
    # a linear spectrum sampled symmetrically around 600 / 800 nm stays linear: the value at the centre;
    # at 705 nm the two missing bands sit on both sides, so the good neighbours still average to ~0.705
    np.testing.assert_allclose(out[:, 0, 0], [0.600, 0.705, 0.800], atol=2e-3)


def test_model_bands_just_beyond_the_cube_copy_its_edge_band_with_a_warning() -> None:
    """Every other band of a model's sensor ends one band short: the last model band is
    extrapolated from the cube's edge band (as `hsi finetune` does), and a warning says so."""
    from hsi_app.checkpoint import RunConfig
    from hsi_app.errors import HSIWarning
    from hsi_app.io.cube import make_cube
    from hsi_app.predictor import plan_bands

    model_wl = np.linspace(400.0, 500.0, 11)  # 10 nm bands, FWHM 10 nm
    cube_wl = model_wl[::2][:-1]  # 400, 420, ..., 480: 500 nm lies 2 FWHM beyond
    data = np.broadcast_to((cube_wl / 1000.0)[:, None, None], (cube_wl.size, 2, 2)).astype(np.float32).copy()
    cube = make_cube(data, wavelength=cube_wl, fwhm=np.full(cube_wl.size, 10.0))
    cfg = RunConfig(task="classification", model_name="ssfcn", model_args={}, in_chans=11, num_classes=2,
                    class_names=["u", "a", "b"], wavelengths=model_wl.tolist(), fwhm=[10.0] * 11,
                    band_indices=list(range(11)), source_bands=11, mean=[0.0] * 11, std=[1.0] * 11,
                    receptive_radius=0)
    with pytest.warns(HSIWarning, match="2 of the model's bands lie beyond"):
        out = plan_bands(cfg, cube, resample=True).apply(data)
    assert np.isfinite(out).all()
    assert out[-1, 0, 0] == pytest.approx(0.480, abs=1e-6) and out[-2, 0, 0] == pytest.approx(0.480, abs=1e-6)
    np.testing.assert_allclose(out[:9:2, 0, 0], cube_wl / 1000.0, atol=2e-3)  # the shared centres
