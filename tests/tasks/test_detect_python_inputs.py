"""Detection from Python with inputs a notebook may get wrong: a transposed truth mask is refused (it was scored
against the wrong pixels when H x W = W x H pixels), and a numpy array passed as the scene is one line naming
make_cube (was an AttributeError)."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.tasks.detect_metrics import pixel_auroc
from hsi_app.tasks.detection import detect_scene


def test_pixel_auroc_refuses_a_mask_of_another_shape() -> None:
    scores = np.zeros((4, 6))
    truth = np.zeros((4, 6), bool)
    truth[1, 4] = True
    scores[1, 4] = 5.0
    assert pixel_auroc(scores, truth) == 1.0
    with pytest.raises(InvalidDataError, match=r"truth is \(6, 4\) but scores are \(4, 6\)"):
        pixel_auroc(scores, truth.T)  # 24 pixels either way: scored before, against other pixels
    with pytest.raises(InvalidDataError, match=r"mask is \(24,\)"):
        pixel_auroc(scores, truth, mask=np.ones(24, bool))


def test_detect_scene_on_a_numpy_array_names_make_cube() -> None:
    with pytest.raises(ConfigError, match=r"detect_scene: takes a Cube .* numpy\.ndarray; wrap the \(5, 8, 9\) array"):
        detect_scene(np.ones((5, 8, 9), np.float32), "rx")
