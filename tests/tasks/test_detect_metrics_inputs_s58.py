"""pixel_auroc / pd_at_pfa refuse inputs that used to give a silent wrong answer or a numpy/Python traceback
(left by the s58 Python API audit): truth holding class ids or NaN, and a false-alarm rate that is not a number."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.tasks.detect_metrics import pd_at_pfa, pixel_auroc

rng = np.random.default_rng(0)
SCORES = rng.normal(size=(40, 50))
LABELS = rng.integers(1, 3, size=(40, 50))   # class ids 1 and 2: every pixel is a target when cast to bool


@pytest.mark.parametrize("fn", [pixel_auroc, lambda s, t: pd_at_pfa(s, t, 1e-3)])
def test_class_ids_are_refused_not_all_taken_as_targets(fn) -> None:  # noqa: ANN001
    with pytest.raises(InvalidDataError, match=r"truth holds 2 .*labels == class_id"):
        fn(SCORES, LABELS)


def test_float_truth_with_nan_is_refused() -> None:
    truth = (LABELS == 2).astype(np.float32)
    truth[0, 0] = np.nan
    with pytest.raises(InvalidDataError, match="truth holds nan"):
        pixel_auroc(SCORES, truth)


def test_zero_one_truth_of_any_dtype_scores_as_the_bool_mask() -> None:
    mask = LABELS == 2
    expected = roc_auc_score(mask.ravel(), SCORES.ravel())
    for truth in (mask, mask.astype(np.uint8), mask.astype(np.float64), mask.astype(np.int64)):
        assert pixel_auroc(SCORES, truth) == pytest.approx(expected, abs=1e-12)
        assert pd_at_pfa(SCORES, truth, 1e-3).pd == pd_at_pfa(SCORES, mask, 1e-3).pd


@pytest.mark.parametrize("pfa", ["a", None, True, float("nan"), 0.0, 1.0, [1e-3]])
def test_a_false_alarm_rate_that_is_not_a_number_in_0_1_is_one_config_error(pfa) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError, match="must be a number strictly between 0 and 1"):
        pd_at_pfa(SCORES, LABELS == 2, pfa)


def test_numpy_numbers_are_accepted() -> None:
    mask = LABELS == 2
    assert pd_at_pfa(SCORES, mask, np.float32(1e-3)).pd == pd_at_pfa(SCORES, mask, 1e-3).pd
