"""SVM-RBF baseline on standardised per-pixel spectra (scikit-learn).

The classical baseline every benchmark table shows: each labelled pixel's spectrum is
standardised with the mean and standard deviation of the *training* pixels only, then an
RBF-kernel :class:`sklearn.svm.SVC` is fitted, with ``C`` and ``gamma`` chosen by a small
stratified 3-fold grid search.

Class scores: ``SVC(probability=True)`` would run Platt scaling with an internal 5-fold
cross-validation (about 5x the training cost and seed-dependent). Instead
:meth:`SVMBaseline.predict_proba` applies a softmax to the one-vs-rest decision values
(pairwise votes plus a tie-breaking confidence in (-1/3, 1/3), as scikit-learn aggregates
them). These are monotone confidence scores summing to 1, not calibrated probabilities;
:meth:`SVMBaseline.predict` is their argmax, so labels and confidence always agree.

Nothing is pickled: :meth:`SVMBaseline.state_dict` holds plain arrays (training spectra,
labels, scaler statistics, ``C`` and the resolved ``gamma``) that a caller can save as
safetensors; :meth:`SVMBaseline.from_state_dict` refits the SVC, which is deterministic for
fixed data, so predictions are reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict, Unpack

import numpy as np

from hsi_app.errors import (
    BandMismatchError,
    ConfigError,
    InvalidDataError,
    LabelError,
    ModelLoadError,
)

C_GRID: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
GAMMA_GRID: tuple[str | float, ...] = ("scale", 0.01, 0.001)
DEFAULT_C = 100.0
DEFAULT_GAMMA: str | float = "scale"
CV_FOLDS = 3
CV_MAX_SAMPLES = 1500
"""The grid search runs on a stratified subsample of at most this many spectra (the final
fit uses all of them): RBF-SVM cost grows ~quadratically, and 12 settings x 3 folds on
5,000 spectra took ~90 s on 2 cores, for the same choice of (C, gamma) in our runs."""
STATE_KEYS = (
    "train_spectra",
    "train_labels",
    "scaler_mean",
    "scaler_scale",
    "C",
    "gamma",
    "num_classes",
)


class FitOptions(TypedDict, total=False):
    """Keyword options of :meth:`SVMBaseline.fit`, passed on to :meth:`SVMBaseline.fit_spectra`."""

    seed: int
    grid: bool
    num_classes: int | None
    n_jobs: int | None


def _stratified_subsample(y: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of at most ~``limit`` samples, proportional per class, >= CV_FOLDS per class."""
    if y.size <= limit:
        return np.arange(y.size)
    rng = np.random.default_rng(seed)
    picks = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        n = min(idx.size, max(CV_FOLDS, round(limit * idx.size / y.size)))
        picks.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(picks))


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class SVMBaseline:
    """RBF support-vector classifier on standardised spectra.

    Attributes (after fitting):
        num_classes: K; outputs cover classes 1..K (columns of absent classes are 0).
        classes: (k,) int labels seen in training (a subset of 1..K).
        C: chosen regularisation constant.
        gamma: chosen RBF width, resolved to a float (``"scale"`` becomes its value).
        mean, scale: (C_bands,) float64 standardisation statistics of the training pixels.
    """

    def __init__(self) -> None:
        self.num_classes = 0
        self.classes = np.zeros(0, dtype=np.int64)
        self.C = DEFAULT_C
        self.gamma = 0.0
        self.mean = np.zeros(0)
        self.scale = np.ones(0)
        self._x = np.zeros((0, 0), dtype=np.float32)
        self._y = np.zeros(0, dtype=np.int32)
        self._svc = None

    # ------------------------------------------------------------------ fitting
    def fit(self, image: np.ndarray, train: np.ndarray, **options: Unpack[FitOptions]) -> SVMBaseline:
        """Fit on the labelled pixels of one scene.

        Args:
            image: (C, H, W) float spectra.
            train: (H, W) int training labels, 0 elsewhere.
            **options: ``seed``, ``grid``, ``num_classes``, ``n_jobs``, as in :meth:`fit_spectra`.

        Returns:
            ``self``.

        Raises:
            TypeError: an option that is none of those (before any work is done).
        """
        unknown = sorted(set(options) - set(FitOptions.__annotations__))
        if unknown:  # named here: fit_spectra's own TypeError would name fit_spectra
            raise TypeError(f"SVMBaseline.fit() got unexpected keyword arguments {', '.join(unknown)}; "
                            f"it takes {', '.join(FitOptions.__annotations__)}")
        img = np.asarray(image)
        lab = np.asarray(train)
        if img.ndim != 3:
            raise BandMismatchError(
                f"image: expected (C, H, W), got shape {img.shape}; pass one cube"
            )
        if lab.shape != img.shape[1:]:
            raise LabelError(
                f"train labels {lab.shape} do not match image {img.shape[1:]}; split this cube's"
                " labels"
            )
        where = lab > 0
        spectra = img[:, where].T
        return self.fit_spectra(spectra, lab[where], **options)

    def fit_spectra(
        self,
        spectra: np.ndarray,
        labels: np.ndarray,
        *,
        seed: int = 0,
        grid: bool = True,
        num_classes: int | None = None,
        n_jobs: int | None = None,
    ) -> SVMBaseline:
        """Fit on spectra directly.

        Args:
            spectra: (N, C) float raw spectra.
            labels: (N,) int labels in 1..K.
            seed: seed of the cross-validation folds.
            grid: run the C/gamma grid search (else :data:`DEFAULT_C`, :data:`DEFAULT_GAMMA`).
            num_classes: K (default: the largest training label).
            n_jobs: parallel jobs for the grid search (scikit-learn convention).

        Returns:
            ``self``.
        """
        x = np.asarray(spectra, dtype=np.float64)
        y = np.asarray(labels).astype(np.int32)
        if x.ndim != 2 or y.shape != (x.shape[0],):
            raise InvalidDataError(
                f"spectra {x.shape} and labels {y.shape} must be (N, C) and (N,)"
            )
        if not np.all(np.isfinite(x)):
            raise InvalidDataError(
                "training spectra contain NaN/inf; mask invalid pixels out of the training labels"
            )
        if y.size and y.min() < 1:
            raise LabelError("training labels must be 1..K (0 = unlabelled is not a class)")
        classes = np.unique(y)
        if classes.size < 2:
            raise InvalidDataError(
                f"SVM needs training pixels of at least 2 classes, got {classes.size}; use a larger"
                " split"
            )
        k = int(classes.max()) if num_classes is None else int(num_classes)
        if k < classes.max() or k > 255:
            raise ConfigError(
                f"num_classes={k} must cover the largest label {classes.max()} and be <= 255"
            )
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        scale = np.where(std > 0, std, 1.0)
        xs = ((x - mean) / scale).astype(np.float32)
        c_value, gamma = self._select(xs, y, seed=seed, grid=grid, n_jobs=n_jobs)
        self._set_state(xs, y, mean, scale, c_value, gamma, k)
        return self

    @staticmethod
    def _select(
        xs: np.ndarray, y: np.ndarray, *, seed: int, grid: bool, n_jobs: int | None
    ) -> tuple[float, float]:
        """Pick (C, gamma) by stratified CV; gamma is returned resolved to a float."""
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.svm import SVC

        x64 = xs.astype(np.float64)
        gamma_scale = 1.0 / (x64.shape[1] * x64.var()) if x64.var() > 0 else 1.0

        def resolve(g: str | float) -> float:
            return gamma_scale if g == "scale" else float(g)

        _, per_class = np.unique(y, return_counts=True)
        if not grid or per_class.min() < CV_FOLDS:
            return DEFAULT_C, resolve(DEFAULT_GAMMA)
        search = GridSearchCV(
            SVC(kernel="rbf"),
            {"C": list(C_GRID), "gamma": [resolve(g) for g in GAMMA_GRID]},
            cv=StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed),
            n_jobs=n_jobs,
        )
        keep = _stratified_subsample(y, CV_MAX_SAMPLES, seed)
        search.fit(x64[keep], y[keep])
        return float(search.best_params_["C"]), float(search.best_params_["gamma"])

    def _set_state(
        self,
        xs: np.ndarray,
        y: np.ndarray,
        mean: np.ndarray,
        scale: np.ndarray,
        c_value: float,
        gamma: float,
        num_classes: int,
    ) -> None:
        from sklearn.svm import SVC

        svc = SVC(kernel="rbf", C=c_value, gamma=gamma, decision_function_shape="ovr")
        svc.fit(xs.astype(np.float64), y)
        self._svc = svc
        self._x, self._y = xs, y
        self.mean, self.scale = mean.astype(np.float64), scale.astype(np.float64)
        self.C, self.gamma, self.num_classes = c_value, gamma, num_classes
        self.classes = svc.classes_.astype(np.int64)

    # --------------------------------------------------------------- prediction
    def _require_fitted(self) -> None:
        if self._svc is None:
            raise ModelLoadError("SVMBaseline is not fitted; call fit() or from_state_dict() first")

    def predict_proba(self, spectra: np.ndarray) -> np.ndarray:
        """Class confidence for raw spectra.

        Args:
            spectra: (N, C) float raw spectra.

        Returns:
            (N, K) float32 scores over classes 1..K (softmax of one-vs-rest decision
            values; rows sum to 1; columns of classes absent from training are 0).
        """
        self._require_fitted()
        x = np.asarray(spectra, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.size:
            raise BandMismatchError(
                f"spectra {x.shape}: the SVM was trained on {self.mean.size} bands; pass (N,"
                f" {self.mean.size})"
            )
        out = np.zeros((x.shape[0], self.num_classes), dtype=np.float32)
        if x.shape[0] == 0:
            return out
        xs = ((x - self.mean) / self.scale).astype(np.float32).astype(np.float64)
        scores = self._svc.decision_function(xs)  # type: ignore[union-attr]
        if scores.ndim == 1:  # two classes: positive means classes[1]
            scores = np.stack([-scores, scores], axis=1)
        out[:, self.classes - 1] = _softmax(scores).astype(np.float32)
        return out

    def predict(self, spectra: np.ndarray) -> np.ndarray:
        """Labels for raw spectra.

        Args:
            spectra: (N, C) float raw spectra.

        Returns:
            (N,) int64 labels in 1..K (argmax of :meth:`predict_proba`).
        """
        return self.predict_proba(spectra).argmax(axis=1).astype(np.int64) + 1

    def predict_image(
        self, image: np.ndarray, valid: np.ndarray | None = None, batch: int = 65536
    ) -> tuple[np.ndarray, np.ndarray]:
        """Classify every valid pixel of a scene, ``batch`` pixels at a time.

        Args:
            image: (C, H, W) float spectra.
            valid: (H, W) bool, pixels to classify (default all). Pixels with any
                non-finite band are treated as invalid too.
            batch: pixels per chunk; bounds the working memory.

        Returns:
            ``(classes, confidence)``: (H, W) uint8 labels 1..K (0 where invalid) and
            (H, W) float32 confidence of the chosen class (0 where invalid).
        """
        self._require_fitted()
        if batch < 1:
            raise ConfigError(f"batch={batch} must be >= 1 pixel")
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[0] != self.mean.size:
            raise BandMismatchError(
                f"image {img.shape}: the SVM was trained on {self.mean.size} bands; pass (C, H, W)"
            )
        h, w = img.shape[1:]
        mask = np.ones((h, w), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        if mask.shape != (h, w):
            raise InvalidDataError(
                f"valid mask {mask.shape} does not match image {(h, w)}; pass the cube's valid mask"
            )
        classes = np.zeros((h, w), dtype=np.uint8)
        confidence = np.zeros((h, w), dtype=np.float32)
        rows, cols = np.nonzero(mask)
        for start in range(0, rows.size, batch):
            r, c = rows[start : start + batch], cols[start : start + batch]
            x = img[:, r, c].T
            ok = np.all(np.isfinite(x), axis=1)
            if not ok.any():
                continue
            proba = self.predict_proba(x[ok])
            classes[r[ok], c[ok]] = (proba.argmax(axis=1) + 1).astype(np.uint8)
            confidence[r[ok], c[ok]] = proba.max(axis=1)
        return classes, confidence

    # ------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays that reproduce this model exactly (no pickles).

        Returns:
            ``train_spectra`` (N, C) float32 standardised, ``train_labels`` (N,) int32,
            ``scaler_mean`` / ``scaler_scale`` (C,) float64, ``C`` / ``gamma`` () float64,
            ``num_classes`` () int64.
        """
        self._require_fitted()
        return {
            "train_spectra": np.ascontiguousarray(self._x, dtype=np.float32),
            "train_labels": np.ascontiguousarray(self._y, dtype=np.int32),
            "scaler_mean": self.mean.copy(),
            "scaler_scale": self.scale.copy(),
            "C": np.array(self.C, dtype=np.float64),
            "gamma": np.array(self.gamma, dtype=np.float64),
            "num_classes": np.array(self.num_classes, dtype=np.int64),
        }

    @classmethod
    def from_state_dict(cls, state: Mapping[str, np.ndarray]) -> SVMBaseline:
        """Rebuild a model from :meth:`state_dict` output by refitting the SVC (deterministic)."""
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            raise ModelLoadError(
                f"SVM state is missing {', '.join(missing)}; save it with SVMBaseline.state_dict()"
            )
        x = np.asarray(state["train_spectra"], dtype=np.float32)
        y = np.asarray(state["train_labels"]).astype(np.int32)
        mean = np.asarray(state["scaler_mean"], dtype=np.float64).reshape(-1)
        scale = np.asarray(state["scaler_scale"], dtype=np.float64).reshape(-1)
        if (
            x.ndim != 2
            or y.shape != (x.shape[0],)
            or mean.shape != (x.shape[1],)
            or scale.shape != mean.shape
        ):
            raise ModelLoadError(
                f"SVM state shapes disagree: spectra {x.shape}, labels {y.shape}, mean"
                f" {mean.shape}; re-save the model"
            )
        model = cls()
        model._set_state(
            x,
            y,
            mean,
            scale,
            float(np.asarray(state["C"])),
            float(np.asarray(state["gamma"])),
            int(np.asarray(state["num_classes"])),
        )
        return model
