"""SVM-RBF baseline: separable-problem accuracy, pickle-free round trip, masked image prediction."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hsi_app.errors import BandMismatchError, InvalidDataError, LabelError, ModelLoadError
from hsi_app.models.svm import DEFAULT_C, STATE_KEYS, SVMBaseline

BANDS = 20


def synthetic_scene(
    seed: int = 0, h: int = 24, w: int = 30, noise: float = 0.04
) -> tuple[np.ndarray, np.ndarray]:
    """Three classes with distinct smooth mean spectra plus Gaussian noise.

    Returns:
        image (BANDS, H, W) float32 and labels (H, W) int32: classes 1..3 in vertical
        stripes, a border of unlabelled (0) pixels.
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, BANDS)
    means = np.stack([0.3 + 0.2 * x, 0.5 - 0.2 * x, 0.4 + 0.1 * np.sin(6 * x)])  # (3, BANDS)
    labels = np.zeros((h, w), dtype=np.int32)
    labels[1:-1, 1:-1] = 1 + (np.arange(w - 2) * 3 // (w - 2))[None, :]
    image = rng.normal(0.25, noise, size=(BANDS, h, w))
    for cls in (1, 2, 3):
        where = labels == cls
        image[:, where] = means[cls - 1][:, None] + rng.normal(
            0.0, noise, size=(BANDS, int(where.sum()))
        )
    return image.astype(np.float32), labels


def training_map(labels: np.ndarray, per_class: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    train = np.zeros_like(labels)
    for cls in np.unique(labels[labels > 0]):
        pick = rng.choice(np.flatnonzero(labels == cls), per_class, replace=False)
        train.flat[pick] = cls
    return train


@pytest.fixture(scope="module")
def fitted() -> tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray]:
    image, labels = synthetic_scene()
    train = training_map(labels, 15)
    return SVMBaseline().fit(image, train, seed=0), image, labels, train


def test_separable_problem_is_learned(
    fitted: tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    model, image, labels, train = fitted
    test = (labels > 0) & (train == 0)
    pred = model.predict(image[:, test].T)
    assert pred.dtype == np.int64 and set(np.unique(pred)) <= {1, 2, 3}
    assert (pred == labels[test]).mean() > 0.97
    assert model.num_classes == 3 and list(model.classes) == [1, 2, 3]
    assert model.C in (1.0, 10.0, 100.0, 1000.0) and model.gamma > 0


def test_standardisation_uses_training_pixels_only(
    fitted: tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    model, image, _, train = fitted
    spectra = image[:, train > 0].T.astype(np.float64)
    np.testing.assert_allclose(model.mean, spectra.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(model.scale, spectra.std(axis=0), rtol=1e-12)
    assert not np.allclose(
        model.mean, image.reshape(BANDS, -1).mean(axis=1)
    )  # not whole-image stats


def test_predict_proba_is_a_distribution_consistent_with_predict(
    fitted: tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    model, image, labels, _ = fitted
    spectra = image[:, labels > 0].T
    proba = model.predict_proba(spectra)
    assert proba.shape == (spectra.shape[0], 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert np.all(proba >= 0)
    np.testing.assert_array_equal(proba.argmax(axis=1) + 1, model.predict(spectra))
    assert model.predict_proba(spectra[:0]).shape == (0, 3)


def test_absent_classes_get_zero_columns() -> None:
    image, labels = synthetic_scene(seed=1)
    train = training_map(labels, 10, seed=1)
    model = SVMBaseline().fit(image, train, grid=False, num_classes=5)
    proba = model.predict_proba(image[:, labels > 0].T)
    assert proba.shape[1] == 5
    assert np.all(proba[:, 3:] == 0)
    assert set(np.unique(model.predict(image[:, labels > 0].T))) <= {1, 2, 3}


def test_two_classes_use_binary_decision_path() -> None:
    image, labels = synthetic_scene(seed=2)
    labels[labels == 3] = 0
    train = training_map(labels, 12, seed=2)
    model = SVMBaseline().fit(image, train, grid=False)
    spectra = image[:, labels > 0].T
    proba = model.predict_proba(spectra)
    assert proba.shape[1] == 2
    np.testing.assert_array_equal(
        model.predict(spectra),
        model._svc.predict(  # type: ignore[union-attr]
            ((spectra - model.mean) / model.scale).astype(np.float32).astype(np.float64)
        ),
    )
    assert (model.predict(spectra) == labels[labels > 0]).mean() > 0.97


def test_state_dict_round_trip_is_exact(
    fitted: tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    from safetensors.numpy import load, save

    model, image, labels, _ = fitted
    state = model.state_dict()
    assert set(state) == set(STATE_KEYS)
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    restored = SVMBaseline.from_state_dict(
        load(save(state))
    )  # through safetensors bytes, no pickle
    spectra = image[:, labels > 0].T
    np.testing.assert_array_equal(restored.predict_proba(spectra), model.predict_proba(spectra))
    np.testing.assert_array_equal(restored.predict(spectra), model.predict(spectra))
    assert (restored.C, restored.gamma, restored.num_classes) == (
        model.C,
        model.gamma,
        model.num_classes,
    )


def test_from_state_dict_rejects_incomplete_state(
    fitted: tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    state = fitted[0].state_dict()
    del state["gamma"]
    with pytest.raises(ModelLoadError, match="missing gamma"):
        SVMBaseline.from_state_dict(state)
    state = fitted[0].state_dict()
    state["scaler_mean"] = state["scaler_mean"][:5]
    with pytest.raises(ModelLoadError):
        SVMBaseline.from_state_dict(state)


def test_predict_image_respects_valid_mask_and_batching(
    fitted: tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    model, image, labels, _ = fitted
    image = image.copy()
    valid = np.ones(labels.shape, dtype=bool)
    valid[:5, :] = False
    image[:, 10, 10] = np.nan  # non-finite pixels are skipped as invalid
    classes, confidence = model.predict_image(image, valid)
    assert classes.dtype == np.uint8 and confidence.dtype == np.float32
    assert classes.shape == labels.shape == confidence.shape
    assert np.all(classes[~valid] == 0) and np.all(confidence[~valid] == 0)
    assert classes[10, 10] == 0 and confidence[10, 10] == 0
    ok = valid.copy()
    ok[10, 10] = False
    spectra = image[:, ok].T
    np.testing.assert_array_equal(classes[ok], model.predict(spectra))
    np.testing.assert_allclose(confidence[ok], model.predict_proba(spectra).max(axis=1), rtol=1e-6)
    assert np.all(confidence[ok] > 1.0 / 3.0)
    small = model.predict_image(image, valid, batch=37)
    np.testing.assert_array_equal(small[0], classes)
    np.testing.assert_array_equal(small[1], confidence)
    every, _ = model.predict_image(image)
    assert np.count_nonzero(every) == labels.size - 1


def test_grid_falls_back_to_defaults_for_tiny_classes() -> None:
    image, labels = synthetic_scene(seed=3)
    train = training_map(labels, 8, seed=3)
    train[train == 3] = 0
    train.flat[np.flatnonzero(labels == 3)[:2]] = 3  # only 2 samples: no 3-fold CV
    model = SVMBaseline().fit(image, train, grid=True)
    assert model.C == DEFAULT_C
    spectra = image[:, train > 0].T.astype(np.float64)
    standardised = (spectra - spectra.mean(0)) / spectra.std(0)
    assert model.gamma == pytest.approx(1.0 / (BANDS * standardised.var()), rel=1e-5)


def test_errors_name_the_problem(
    fitted: tuple[SVMBaseline, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    model, image, labels, train = fitted
    with pytest.raises(ModelLoadError, match="not fitted"):
        SVMBaseline().predict(image[:, 0, :].T)
    with pytest.raises(BandMismatchError, match="20 bands"):
        model.predict(image[:5, 0, :].T)
    with pytest.raises(BandMismatchError):
        model.predict_image(image[:5])
    with pytest.raises(LabelError):
        SVMBaseline().fit(image, train[:-1])
    one_class = np.where(train == 1, 1, 0)
    with pytest.raises(InvalidDataError, match="at least 2 classes"):
        SVMBaseline().fit(image, one_class)
    bad = image.copy()
    bad[:, train > 0] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        SVMBaseline().fit(bad, train)


# ------------------------------------------------------------------------- real data


def _indian_pines() -> tuple[np.ndarray, np.ndarray]:
    tensorly_datasets = pytest.importorskip("tensorly.datasets")
    data = tensorly_datasets.load_indian_pines()
    image = np.ascontiguousarray(np.asarray(data.tensor, dtype=np.float32).transpose(2, 0, 1))
    return image, np.asarray(data.ticks[0]).astype(np.int32)


@pytest.mark.slow
def test_indian_pines_random_split_accuracy() -> None:
    from hsi_app.data.splits import make_split

    image, labels = _indian_pines()
    split = make_split(labels, "random:0.1", seed=0)
    start = time.perf_counter()
    model = SVMBaseline().fit(image, split.train, seed=0, num_classes=16)
    classes, _ = model.predict_image(image, split.test > 0)
    elapsed = time.perf_counter() - start
    test = split.test > 0
    oa = float((classes[test] == split.test[test]).mean())
    print(
        f"Indian Pines random:0.1 seed 0: OA {oa:.4f}, C={model.C:g}, gamma={model.gamma:.4g},"
        f" {elapsed:.1f} s"
    )
    assert 0.70 <= oa <= 0.92


def test_a_misspelt_fit_option_is_named_as_fits() -> None:
    """``fit(..., sed=1)`` raised ``fit_spectra() got an unexpected keyword argument``: a method the caller
    never called. It now names ``fit`` and lists what it takes, before any pixel is read."""
    image = np.zeros((3, 4, 4), np.float32)
    train = np.zeros((4, 4), np.int64)
    train[0, :2], train[1, :2] = 1, 2
    with pytest.raises(TypeError) as err:
        SVMBaseline().fit(image, train, sed=1, grid=False)
    msg = str(err.value)
    assert msg.startswith("SVMBaseline.fit() got unexpected keyword arguments sed;") and "fit_spectra" not in msg
    assert all(name in msg for name in ("seed", "grid", "num_classes", "n_jobs"))
