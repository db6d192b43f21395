"""Mutation audit s58: band_spacing's runs of listed bands, checked against widths worked out by hand.

A band's spacing is half the distance between its two neighbours within its own run (the distance to its one
neighbour at a run's end); a band alone in its run takes the distance to the nearest other centre."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.resample import band_spacing


def test_uneven_spacing_in_one_run_is_half_the_neighbours_distance() -> None:
    centres = np.array([400.0, 410.0, 430.0, 460.0])
    # ends: the one neighbour; inside: (430 - 400) / 2 and (460 - 410) / 2
    np.testing.assert_allclose(band_spacing(centres), [10.0, 15.0, 25.0, 30.0])


@pytest.mark.parametrize("order", [1, -1])
def test_two_overlapping_spectrometers_keep_their_own_spacing(order: int) -> None:
    """Runs 400-420 and 415-435 nm, listed one after the other (ascending or both descending): every band is
    10 nm from its run's neighbours, although 420 and 415 nm are listed side by side."""
    first, second = [400.0, 410.0, 420.0], [415.0, 425.0, 435.0]
    centres = np.array(first + second if order == 1 else second[::-1] + first[::-1])  # descending: 435, ..., 415, 420, ...
    np.testing.assert_allclose(band_spacing(centres), np.full(6, 10.0))


def test_runs_of_two_bands_take_their_one_neighbour() -> None:
    """Runs (400, 410) and (405, 420): 10 and 15 nm, not the 5 nm to the nearest centre of the other run."""
    np.testing.assert_allclose(band_spacing(np.array([400.0, 410.0, 405.0, 420.0])), [10.0, 10.0, 15.0, 15.0])


def test_a_band_alone_in_its_run_takes_the_nearest_other_centre() -> None:
    """Runs (400, 410, 420), (415) and (412, 430): 415 nm is alone; its nearest other centre is 412 nm (3 nm)."""
    out = band_spacing(np.array([400.0, 410.0, 420.0, 415.0, 412.0, 430.0]))
    assert out[3] == pytest.approx(3.0)
    np.testing.assert_allclose(out[[0, 1, 2]], [10.0, 10.0, 10.0])
    np.testing.assert_allclose(out[[4, 5]], [18.0, 18.0])


def test_a_repeated_centre_alone_takes_the_nearest_different_centre() -> None:
    """400, 410, 410, 410, 420: the middle 410 is a run of its own; its nearest different centre is 10 nm away
    (a width of 0 would make a resampling row of NaN)."""
    out = band_spacing(np.array([400.0, 410.0, 410.0, 410.0, 420.0]))
    np.testing.assert_allclose(out, np.full(5, 10.0))
    assert (out > 0).all()


def test_the_listed_order_rule_is_positive_for_a_descending_list() -> None:
    """Fine-tunes before session 57 took the list's neighbours (across runs); widths are still positive nm."""
    np.testing.assert_allclose(band_spacing(np.array([430.0, 420.0, 400.0]), listed_order=True), [10.0, 15.0, 20.0])
