"""Mutation audit s58: the zero-target refusals refuse only spectra that are 0 at every (kept) band."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hsi_app.errors import HSIWarning, InvalidDataError
from hsi_app.tasks.detectors_classical import check_kept_targets, classical_scores


def _image(constant_band: int | None = None) -> np.ndarray:
    rng = np.random.default_rng(1)
    image = (0.3 + 0.05 * rng.standard_normal((5, 12, 14))).astype(np.float32)
    if constant_band is not None:
        image[constant_band] = 0.4
    return image


@pytest.mark.parametrize("method", ["cem", "mf", "ace"])
def test_a_target_with_some_zero_bands_is_scored(method: str) -> None:
    """A measured spectrum may be 0 at a few bands (a saturated absorption); only one that is 0 at every band is
    no target."""
    target = np.array([[0.0, 0.25, 0.0, 0.45, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = classical_scores(method, _image(), target)
    assert scores.shape == (1, 12, 14) and np.isfinite(scores).all()


@pytest.mark.parametrize("method", ["cem", "mf", "ace"])
def test_a_target_zero_at_some_kept_bands_is_scored_with_a_constant_band(method: str) -> None:
    """Band 3 is constant (left out); the target is 0 at two of the four kept bands, not at all of them."""
    target = np.array([[0.0, 0.25, 0.4, 0.0, 0.5]])
    with pytest.warns(HSIWarning, match="band 3 is constant"):
        scores = classical_scores(method, _image(constant_band=2), target)
    assert np.isfinite(scores).all()


def test_check_kept_targets_passes_targets_with_a_value_in_a_kept_band() -> None:
    keep = np.array([True, True, False, True, True])
    targets = np.array([[0.0, 0.0, 0.4, 0.0, 0.1], [0.2, 0.0, 0.0, 0.0, 0.0]])
    check_kept_targets(targets, keep, names=["a", "b"])  # each has a value in a kept band
    with pytest.raises(InvalidDataError, match=r"^target 'b' is 0 at every band but band 3 \(700 nm\), which is "):
        check_kept_targets(np.array([[0.2, 0.1, 0.4, 0.3, 0.1], [0.0, 0.0, 0.4, 0.0, 0.0]]), keep, names=["a", "b"],
                           wavelengths=[500.0, 600.0, 700.0, 800.0, 900.0])
