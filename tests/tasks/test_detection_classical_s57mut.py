"""The classical detectors take exactly three axes (mutation audit s57): a batch of one image ``(1, C, H, W)``, as a
torch user holds it, is one line with the fix like an array of fewer axes, not an error from deep in the scoring."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.errors import ConfigError


@pytest.mark.parametrize("method", ["rx", "ace"])
def test_a_four_axis_batch_is_one_line(method: str) -> None:
    from hsi_app.tasks import detectors_classical

    image = np.random.default_rng(0).random((1, 5, 8, 9)).astype(np.float32)
    fn = getattr(detectors_classical, method)
    args = (image,) if method == "rx" else (image, np.ones(5, np.float32))
    with pytest.raises(ConfigError, match=rf"^{method}: takes a \(C, H, W\) image, bands first, got an array of shape "
                                          r"\(1, 5, 8, 9\)"):
        fn(*args)
    assert np.isfinite(fn(*((image[0],) + args[1:]))).any()  # the image itself scores
