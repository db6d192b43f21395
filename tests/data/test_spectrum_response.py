"""Library resampling: each band's Gaussian response integrated over the piecewise-linear spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.spectrum_response import integrate_bands
from hsi_app.errors import HSIWarning
from hsi_app.io.spectral_library import SpectralLibrary

SIGMA_10 = 10.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))  # sigma of a 10 nm FWHM band, 4.2466 nm


def test_a_band_on_a_peak_averages_the_tent_not_the_sample() -> None:
    """Tent 0.2 -> 0.6 -> 0.2 at 500/600/700 nm; a 10 nm band at 600 nm sees 0.6 - 0.004 E|x| with
    E|x| = sigma sqrt(2/pi) = 3.3883 nm: 0.58645 (the weighted mean of the samples gave 0.6)."""
    wl = np.array([500.0, 600.0, 700.0])
    out = integrate_bands(wl, np.array([0.2, 0.6, 0.2]), np.array([600.0]), np.array([10.0]))
    assert out[0] == pytest.approx(0.6 - 0.004 * SIGMA_10 * np.sqrt(2.0 / np.pi), abs=1e-12)
    assert out[0] == pytest.approx(0.58645, abs=5e-5)


def test_a_coarse_library_is_interpolated_not_stepped() -> None:
    """100 nm samples of a straight line, 10 nm bands between them: the line's value at the centre
    (the nearest sample, 0.1 or 0.12, before)."""
    wl = np.arange(400.0, 1001.0, 100.0)
    line = 0.1 + 0.0002 * (wl - 400.0)
    centres = np.array([455.0, 530.0, 777.0])
    out = integrate_bands(wl, line, centres, np.full(3, 10.0))
    np.testing.assert_allclose(out, [0.111, 0.126, 0.1754], atol=1e-9)


def _gappy() -> SpectralLibrary:
    wl = np.arange(400.0, 1001.0, 10.0)
    flat = np.full(wl.size, 0.5)
    line = 0.1 + 0.0002 * (wl - 400.0)
    line[(wl >= 890) & (wl <= 990)] = np.nan  # an 11-row gap in one material only
    return SpectralLibrary(["flat", "line"], wl, np.stack([flat, line]), "gappy.csv")


def test_a_gap_in_one_material_is_bridged_and_leaves_the_other_whole() -> None:
    """A gap of 'line' dropped those rows for 'flat' too, and a band inside it took the nearest sample."""
    out = _gappy().resample(np.array([600.0, 940.0, 946.8]), np.full(3, 10.0))
    np.testing.assert_allclose(out[0], 0.5, atol=1e-6)
    np.testing.assert_allclose(out[1], [0.14, 0.208, 0.20936], atol=1e-6)


def test_bands_beyond_a_materials_own_range_take_its_nearest_value_with_one_warning() -> None:
    """'short' ends at 700 nm; 'flat' covers 400-1000: only short's bands at 800 and 900 nm are beyond."""
    wl = np.arange(400.0, 1001.0, 10.0)
    short = np.where(wl <= 700, 0.3, np.nan)
    lib = SpectralLibrary(["flat", "short"], wl, np.stack([np.full(wl.size, 0.5), short]), "two.csv")
    with pytest.warns(HSIWarning, match=r"two.csv: cube bands lie outside a material's range: short 2 \(its range "
                                        r"400-700 nm\); they use the nearest library value"):
        out = lib.resample(np.array([500.0, 800.0, 900.0]), np.full(3, 10.0))
    np.testing.assert_allclose(out, [[0.5, 0.5, 0.5], [0.3, 0.3, 0.3]], atol=1e-6)
    assert lib.covers(np.array([500.0, 800.0]), np.full(2, 10.0)).tolist() == [True, False]
    assert lib.common_span() == (400.0, 700.0)


def test_a_library_already_at_the_cube_bands_is_taken_as_it_is() -> None:
    """8 samples at the 8 band centres (FWHM = spacing, 264 nm): the saw-tooth stays 0.05/0.55. Integrating
    over the lines between the samples would blur it to about 0.22/0.38, and the old weighted mean of the
    samples blurred it too (each neighbour weighted 1/16)."""
    wl = np.linspace(450.0, 2300.0, 8)
    saw = np.tile([0.05, 0.55], 4)
    lib = SpectralLibrary(["metal"], np.round(wl, 2), saw[None, :], "saw.csv")
    np.testing.assert_allclose(lib.resample(wl, None)[0], saw, atol=1e-7)


def test_a_finer_library_with_samples_on_the_band_centres_is_still_integrated() -> None:
    """A 1 nm library of a tent, bands at whole nm: one sample on each centre is not one sample per band."""
    from hsi_app.data.spectrum_response import samples_at_band_centres

    wl = np.arange(500.0, 701.0, 1.0)
    assert samples_at_band_centres(wl, np.array([600.0, 610.0]), np.full(2, 10.0)).tolist() == [-1, -1]
    tent = np.interp(wl, [500.0, 600.0, 700.0], [0.2, 0.6, 0.2])
    lib = SpectralLibrary(["tent"], wl, tent[None, :], "fine.csv")
    out = lib.resample(np.array([600.0]), np.array([10.0]))[0, 0]
    assert out == pytest.approx(0.6 - 0.004 * SIGMA_10 * np.sqrt(2.0 / np.pi), abs=1e-6)


def _sensor_library() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A library convolved to a 10 nm sensor (400-2500 nm, FWHM 10) and the sensor's good bands (the
    water-vapour bands 1350-1450 and 1810-1950 nm flagged bad): a smooth spectrum with a 0.25-deep,
    sigma 12 nm feature at 2200 nm."""
    full = np.arange(400.0, 2501.0, 10.0)
    good = ~((full > 1340) & (full < 1460)) & ~((full > 1800) & (full < 1960))
    s = 0.4 - 0.25 * np.exp(-0.5 * ((full - 2200.0) / 12.0) ** 2) - 0.1 * np.exp(-0.5 * ((full - 680.0) / 15.0) ** 2)
    return full, good, s


def test_a_sensor_library_stays_as_it_is_on_a_scene_with_its_bad_bands_dropped() -> None:
    """The library's samples in the dropped bands' gaps are no band's: every good band keeps its value
    (the old all-bands rule blurred the library a second time: 0.15 -> 0.175 at 2200 nm)."""
    full, good, s = _sensor_library()
    lib = SpectralLibrary(["kaolinite-like"], full, s[None], "cv.csv")
    out = lib.resample(full[good], np.full(int(good.sum()), 10.0))[0]
    np.testing.assert_allclose(out, s[good], atol=1e-6)
    assert out[full[good] == 2200.0][0] == pytest.approx(0.15, abs=1e-6)


def test_one_missing_cell_integrates_only_that_band_of_that_material() -> None:
    """Material b lacks one cell: that band is integrated over its neighbours, every other band of b (and
    all of a) is as it is (the whole of b was integrated before, changing bands that have values)."""
    full = np.arange(400.0, 1001.0, 10.0)
    s = np.random.default_rng(0).random(full.size)
    gap = s.copy()
    gap[20] = np.nan  # 600 nm
    lib = SpectralLibrary(["a", "b"], full, np.stack([s, gap]), "cv.csv")
    out = lib.resample(full, np.full(full.size, 10.0))
    np.testing.assert_allclose(out[0], s, atol=1e-6)
    np.testing.assert_allclose(np.delete(out[1], 20), np.delete(s, 20), atol=1e-6)
    bridged = integrate_bands(full, gap, np.array([600.0]), np.array([10.0]))[0]
    assert out[1, 20] == pytest.approx(bridged, abs=1e-6)
    assert min(s[19], s[21]) - 1e-6 <= out[1, 20] <= max(s[19], s[21]) + 1e-6


def test_each_band_is_looked_at_but_a_partial_match_integrates_every_band() -> None:
    """A band sits on a sample when its own sample is at its centre and no other lies within its half
    FWHM. Bands 500 and 600.2 do, 505 (between two samples) and 520 (523 too close) do not: the library
    is not at this sensor's centres, so every band is integrated (-1). Dropping the two unmatched bands
    leaves a sensor the library does sit on."""
    from hsi_app.data.spectrum_response import samples_at_band_centres

    wl = np.array([500.0, 510.0, 520.0, 523.0, 600.0])
    out = samples_at_band_centres(wl, np.array([500.0, 505.0, 520.0, 600.2]), np.full(4, 10.0))
    assert out.tolist() == [-1, -1, -1, -1]
    assert samples_at_band_centres(wl, np.array([500.0, 600.2]), np.full(2, 10.0)).tolist() == [0, 4]


def test_a_10nm_library_meeting_some_band_centres_by_chance_is_integrated_throughout() -> None:
    """A 10 nm library against bands 9.63 nm apart (FWHM 9.63, as AVIRIS): a few centres fall within
    0.05 FWHM of a sample by chance. Taking those few as they are and integrating their neighbours would
    treat adjacent bands two ways; every band is integrated instead (independent: integrate_bands)."""
    lib_wl = np.arange(400.0, 1001.0, 10.0)
    s = 0.3 + 0.2 * np.sin(lib_wl / 37.0)
    bands = 400.02 + 9.63 * np.arange(50)
    width = np.full(bands.size, 9.63)
    lib = SpectralLibrary(["m"], lib_wl, s[None], "ten.csv")
    np.testing.assert_allclose(lib.resample(bands, width)[0], integrate_bands(lib_wl, s, bands, width), atol=1e-6)


def test_integrate_bands_sorts_the_wavelengths_and_refuses_bad_input() -> None:
    """Descending wavelengths give the same values as ascending ones (a staircase before); FWHM 0 or NaN
    and a spectrum with no value are refused in one line (NaN with RuntimeWarnings / an IndexError before)."""
    wl = np.arange(400.0, 701.0, 50.0)
    v = np.array([0.1, 0.5, 0.2, 0.6, 0.3, 0.4, 0.35])
    centres, fwhm = np.array([430.0, 555.0, 690.0]), np.array([12.0, 30.0, 8.0])
    np.testing.assert_allclose(integrate_bands(wl[::-1], v[::-1], centres, fwhm),
                               integrate_bands(wl, v, centres, fwhm), atol=1e-12)
    for bad in (0.0, np.nan, -5.0):
        with pytest.raises(ValueError, match="finite FWHM above 0"):
            integrate_bands(wl, v, np.array([500.0]), np.array([bad]))
    with pytest.raises(ValueError, match="no finite value"):
        integrate_bands(wl, np.full(wl.size, np.nan), np.array([500.0]), np.array([10.0]))


def test_a_material_with_no_value_is_refused_by_name() -> None:
    """spans() on an all-NaN material raised numpy's 'zero-size array' ValueError."""
    from hsi_app.errors import InvalidDataError

    wl = np.arange(400.0, 501.0, 10.0)
    lib = SpectralLibrary(["a", "b"], wl, np.stack([np.full(wl.size, 0.3), np.full(wl.size, np.nan)]), "x.csv")
    with pytest.raises(InvalidDataError, match="x.csv: material 'b' has no value"):
        lib.resample(wl, np.full(wl.size, 10.0))


def test_a_library_at_the_centres_of_overlapping_or_oversampled_bands_is_taken_as_it_is() -> None:
    """Bands closer than their FWHM (Hyperion's VNIR/SWIR overlap near 912-926 nm; an imager sampling
    every 2.4 nm with FWHM 7): each band's slot ends halfway to its neighbours, so a library sampled at
    exactly those centres still sits on them (counting every sample within half a FWHM matched none,
    and a sharp spectrum was blurred by up to 0.2)."""
    from hsi_app.data.spectrum_response import samples_at_band_centres

    vnir = 426.82 + 10.175 * np.arange(50)
    swir = 912.45 + 10.09 * np.arange(148)
    hyperion = np.sort(np.r_[vnir, swir])
    assert (samples_at_band_centres(hyperion, hyperion, np.full(hyperion.size, 10.9)) >= 0).all()
    dense = 400.0 + 2.4 * np.arange(100)
    sharp = np.where(np.arange(100) % 2 == 0, 0.1, 0.6)
    lib = SpectralLibrary(["stripes"], dense, sharp[None], "dense.csv")
    np.testing.assert_allclose(lib.resample(dense, np.full(100, 7.0))[0], sharp, atol=1e-7)
    fine = np.arange(400.0, 1001.0, 5.0)  # a finer library than 10 nm bands of FWHM 25: still integrated
    assert (samples_at_band_centres(fine, np.arange(400.0, 1001.0, 10.0), np.full(61, 25.0)) == -1).all()
