"""Session 57: the classical detectors' Python API refuses a target spectrum that is 0 at every band."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from hsi_app.errors import InvalidDataError
from hsi_app.tasks.detectors_classical import ace, cem, classical_scores, matched_filter


@pytest.mark.parametrize("method", ["cem", "mf", "ace"])
def test_zero_target_spectrum_is_refused(method: str) -> None:
    """cem() returned a map of NaN for a zero target (its filter is 0 / 0), with only numpy's RuntimeWarning."""
    rng = np.random.default_rng(0)
    image = (0.3 + 0.05 * rng.standard_normal((5, 12, 14))).astype(np.float32)
    targets = np.stack([np.linspace(0.2, 0.6, 5), np.zeros(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(InvalidDataError, match=r"target spectrum 1 \(0-based row of targets\) is 0 at every band"):
            classical_scores(method, image, targets)
        fn = {"cem": cem, "mf": matched_filter, "ace": ace}[method]
        with pytest.raises(InvalidDataError, match="is 0 at every band"):
            fn(image, targets)
        assert np.isfinite(fn(image, targets[:1])).all()  # the measured spectrum alone is scored
