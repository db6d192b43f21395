"""Train/test split protocols for per-pixel classification, with leakage made explicit.

Four protocols, all deterministic given ``seed``:

``random:F``
    Stratified per class: ``round(F * n_c)`` training pixels per class (Python's round: halves
    to even, so 20.5 gives 20 and 126.5 gives 126; at least one, and
    at least one left for testing when ``n_c > 1``). This is the usual literature protocol.
    It **leaks**: training and test pixels are neighbours, so their patches / receptive
    fields overlap, and reported accuracies are optimistic. Splits made this way carry
    ``leaky=True`` and say so in :meth:`Split.describe`.
``fixed:N``
    ``N`` training pixels per class (a class with ``<= N`` pixels gives half of them, at
    least one, with a warning). Leaks for the same reason as ``random``.
``disjoint:F``
    Spatially separated blocks. The image is tiled into square blocks; whole blocks go to
    training so that each class gets as close as possible to fraction ``F`` of its labelled
    pixels, while every class spread over at least two blocks appears in both sets. Test
    pixels within Chebyshev distance ``radius`` of any training pixel are then dropped, so
    no test pixel lies inside any ``(2r+1) x (2r+1)`` training patch.
``maps``
    User-supplied train and test label maps (:func:`split_from_maps`).

Every split can be saved to a pickle-free ``.npz`` next to a run and replayed.

Block assignment for ``disjoint`` (documented because results depend on it): blocks are
about ``sqrt(H * W) / 10`` pixels wide (at least ``2 radius + 1``; ``block=`` overrides), and
the grid's origin is shifted by a seeded offset in ``[0, block)`` along each axis (without
it, the search below led different seeds to the same few layouts: on Indian Pines seeds 0,
5 and 9 gave one split, 2, 6 and 8 another, and 1 and 3 shared 98 % of their training pixels).
The cost of an assignment is::

    sum_c ((t_c - F n_c) / n_c)^2  +  0.1 * sum_c d_c / n_c  +  U * untrained  +  P * violations

where ``t_c`` is the number of training pixels of class ``c``, ``d_c`` the number of its
test pixels the buffer would drop, *untrained* counts the classes with no training pixel
(``U = 1``, more than any one class's first term, so a class confined to one block goes to
training when nothing else is at stake: test pixels of a class the model never saw would only
score as errors; it is a preference, not a rule, and loses to ``P``: on Indian Pines at radius
11, seeds 0, 6 and 7 leave a one-block class test-only to keep two-block classes on both
sides), and a
*violation* is a class occupying two or more blocks that ends up with no training or no
(surviving) test pixel; ``P`` exceeds any attainable value of the other terms. Blocks are
visited in a seeded random order and added to training whenever that lowers the cost; a
best-improvement local search over single-block toggles and train/test block swaps then
runs until no move lowers it (:class:`~hsi_app.data.split_blocks.BlockProblem`).
Different seeds give different, locally optimal, layouts. Classes confined to one block
(or whose test pixels all fall in the buffer) cannot be on both sides: a
:class:`SplitWarning` names them.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from dataclasses import dataclass, replace
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import ndimage

from hsi_app.errors import (
    ConfigError,
    DatasetNotFoundError,
    LabelError,
    OutputError,
    describe_path,
)
from hsi_app.data.split_blocks import UNTRAINED_WEIGHT, BlockProblem

SplitKind = Literal["random", "fixed", "disjoint", "maps"]

ACCEPTED_FORMS = "random:F (0<F<1), fixed:N (integer N>=1) or disjoint:F (0<F<1), e.g. random:0.1"
LEAK_WARNING = "LEAKY: random pixel split with overlapping patches"
_MAPS_LEAK = "LEAKY: test pixels lie inside the model's reach of training pixels"
_FORMAT_VERSION = 1
_BLOCKS_PER_SIDE = 10  # block edge = ceil(sqrt(H * W) / 10): about 10 blocks per side


def leak_text(protocol: str) -> str:
    """Why a leaky split of ``protocol`` leaks (``LEAKY: ...``): a random pixel draw, or maps/blocks too close."""
    return LEAK_WARNING if protocol.split(":")[0] in ("random", "fixed") else _MAPS_LEAK


def leaks(train: np.ndarray, test: np.ndarray, reach: int) -> bool:
    """The one leak rule of every split: a test pixel lies within ``reach`` px (Chebyshev) of a training pixel.

    ``reach`` is the receptive radius of the model trained on the split: a test pixel that close lies
    inside a training patch, so its spectrum is seen in training. A per-pixel model (the SVM,
    ``reach`` 0) has no patches and never leaks.

    Args:
        train: (H, W) int training labels, 0 elsewhere.
        test: (H, W) int test labels, 0 elsewhere.
        reach: the model's receptive radius in pixels.
    """
    gap = split_gap(train, test)
    return reach > 0 and gap is not None and gap <= reach


def split_gap(train: np.ndarray, test: np.ndarray) -> int | None:
    """Chebyshev distance in pixels from the test pixels to the nearest training pixel (``None``: a map is empty)."""
    from scipy.ndimage import distance_transform_cdt

    tr, te = np.asarray(train) > 0, np.asarray(test) > 0
    if not tr.any() or not te.any():
        return None
    return int(distance_transform_cdt(~tr, metric="chessboard")[te].min())


def leak_note(leaky: bool, protocol: str) -> str:
    """`` (LEAKY protocol: ...)`` for a leaky split's result line, ``""`` otherwise."""
    return f" ({leak_text(protocol).replace('LEAKY:', 'LEAKY protocol:')})" if leaky else ""


class SplitWarning(UserWarning):
    """A split could not honour its protocol for some class (too few pixels, absent...)."""


@dataclass(frozen=True)
class SplitSpec:
    """A parsed split protocol.

    Attributes:
        kind: ``"random"``, ``"fixed"``, ``"disjoint"`` or ``"maps"``.
        value: training fraction in (0, 1) for random/disjoint, pixels per class (int >= 1)
            for fixed, ``None`` for maps.
    """

    kind: SplitKind
    value: float | int | None = None

    def __post_init__(self) -> None:
        bad = f"bad split spec {self.kind}:{self.value}"
        if self.kind in ("random", "disjoint"):
            if not isinstance(self.value, (int, float)) or not 0.0 < float(self.value) < 1.0:
                raise ConfigError(
                    f"{bad}: fraction must be in (0, 1); accepted forms: {ACCEPTED_FORMS}"
                )
        elif self.kind == "fixed":
            if (
                isinstance(self.value, bool)
                or not isinstance(self.value, (int, np.integer))
                or self.value < 1
            ):
                raise ConfigError(
                    f"{bad}: N must be an integer >= 1; accepted forms: {ACCEPTED_FORMS}"
                )
        elif self.kind != "maps":
            raise ConfigError(f"bad split kind {self.kind!r}; accepted forms: {ACCEPTED_FORMS}")

    def __str__(self) -> str:
        if self.kind == "maps":
            return "maps"
        if self.kind == "fixed":
            return f"fixed:{int(self.value)}"  # type: ignore[arg-type]
        return f"{self.kind}:{float(self.value)!r}"  # type: ignore[arg-type]


def parse_split(spec: str) -> SplitSpec:
    """Parse ``"random:0.1"``, ``"fixed:20"`` or ``"disjoint:0.5"`` into a :class:`SplitSpec`.

    Raises:
        ConfigError: for anything else, with the accepted forms in the message.
    """
    text = str(spec).strip()
    kind, sep, raw = text.partition(":")
    kind = kind.strip().lower()
    raw = raw.strip()
    if not sep or not raw or kind not in ("random", "fixed", "disjoint"):
        hint = "; for train/test label maps use split_from_maps" if kind == "maps" else ""
        raise ConfigError(f"bad split spec {text!r}{hint}; accepted forms: {ACCEPTED_FORMS}")
    try:
        value: float | int = int(raw) if kind == "fixed" else float(raw)
    except ValueError as err:
        what = "a whole number of pixels per class" if kind == "fixed" else "a number"
        raise ConfigError(
            f"bad split spec {text!r}: {raw!r} is not {what}; accepted forms: {ACCEPTED_FORMS}"
        ) from err
    if kind != "fixed" and not math.isfinite(value):
        raise ConfigError(
            f"bad split spec {text!r}: fraction must be in (0, 1); accepted forms: {ACCEPTED_FORMS}"
        )
    return SplitSpec(kind, value)  # type: ignore[arg-type]


@dataclass(eq=False)
class Split:
    """A train/test partition of the labelled pixels of one scene.

    Attributes:
        train: (H, W) int32 class labels at training pixels, 0 elsewhere.
        test: (H, W) int32 class labels at test pixels, 0 elsewhere.
        protocol: the canonical spec string (``"random:0.1"``...) or ``"maps"``.
        seed: seed the split was drawn with.
        leaky: whether the split leaks for the model it was judged for (:func:`leaks`: a test pixel
            within the model's receptive radius of a training pixel; see :meth:`for_model`).
        radius: buffer radius in pixels (Chebyshev) between train and test; 0 if none.
        dropped: number of labelled test pixels removed by the buffer.
        block: edge in pixels of the square blocks of a ``disjoint`` split; 0 for the other
            protocols and for splits saved before it was recorded.
    """

    train: np.ndarray
    test: np.ndarray
    protocol: str
    seed: int = 0
    leaky: bool = False
    radius: int = 0
    dropped: int = 0
    block: int = 0

    def __post_init__(self) -> None:
        self.train = np.asarray(self.train, dtype=np.int32)
        self.test = np.asarray(self.test, dtype=np.int32)
        if self.train.ndim != 2 or self.train.shape != self.test.shape:
            raise LabelError(
                f"split {self.protocol}: train {self.train.shape} and test {self.test.shape} must"
                " be the same 2-D shape"
            )

    @property
    def n_train(self) -> int:
        """Number of training pixels."""
        return int(np.count_nonzero(self.train))

    @property
    def n_test(self) -> int:
        """Number of test pixels."""
        return int(np.count_nonzero(self.test))

    def within(self, valid: np.ndarray) -> Split:
        """A copy with no train or test pixel outside ``valid`` ((H, W) bool); this split is left as it is.

        The copy's arrays are new: a run that drops masked pixels never changes the caller's split
        (reused to score several models on the same test pixels) nor the arrays it was built from.
        """
        keep = np.asarray(valid, dtype=bool)
        return replace(self, train=np.where(keep, self.train, 0), test=np.where(keep, self.test, 0))

    def for_model(self, reach: int) -> Split:
        """This split with ``leaky`` judged for a model of receptive radius ``reach`` (:func:`leaks`)."""
        return replace(self, leaky=leaks(self.train, self.test, reach))

    def describe(self) -> str:
        """One line summarising the split, with the leak warning when ``leaky``."""
        classes = np.union1d(
            np.unique(self.train[self.train > 0]), np.unique(self.test[self.test > 0])
        )
        seed = "" if self.protocol == "maps" else f" (seed {self.seed})"  # user maps: no draw, nothing dropped
        text = f"split {self.protocol}{seed}: {self.n_train} train / {self.n_test} test pixels, {classes.size} classes"
        if self.radius > 0 and self.protocol == "maps":
            text += f", test pixels over {self.radius} px from training"
        elif self.radius > 0:
            text += f", buffer {self.radius} px dropped {self.dropped} test pixels"
        if self.block > 0:
            text += f", blocks of {self.block} px"
        if self.leaky:
            text += f" -- {leak_text(self.protocol)}"
        return text

    def validation(self, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Carve a stratified validation subset out of the training pixels.

        Per class with ``n_c >= 2`` training pixels, ``clip(round(fraction * n_c), 1, n_c - 1)``
        pixels move to validation; single-pixel classes stay in training. The subset is
        drawn at random inside the training area, so it is *not* spatially disjoint from
        the remaining training pixels.

        Args:
            fraction: share of each class's training pixels, in (0, 1).
            seed: seed of the draw.

        Returns:
            ``(train_minus_val, val)``, both (H, W) int32 label maps.
        """
        if not 0.0 < float(fraction) < 1.0:
            raise ConfigError(f"validation fraction {fraction} must be in (0, 1), e.g. 0.1")
        remaining = self.train.copy()
        val = np.zeros_like(self.train)
        for cls in np.unique(self.train[self.train > 0]):
            idx = np.flatnonzero(self.train == cls)
            if idx.size < 2:
                continue
            n_val = min(max(1, round(float(fraction) * idx.size)), idx.size - 1)
            pick = np.random.default_rng([seed, int(cls), 1]).permutation(idx)[:n_val]
            val.flat[pick] = cls
            remaining.flat[pick] = 0
        return remaining, val

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the split to a compressed ``.npz`` (no pickled objects) at exactly ``path``."""
        arrays = {
            "format_version": np.array(_FORMAT_VERSION, dtype=np.int64),
            "train": self.train,
            "test": self.test,
            "protocol": np.array(self.protocol, dtype=np.str_),
            "seed": np.array(self.seed, dtype=np.int64),
            "leaky": np.array(self.leaky, dtype=np.bool_),
            "radius": np.array(self.radius, dtype=np.int64),
            "dropped": np.array(self.dropped, dtype=np.int64),
            "block": np.array(self.block, dtype=np.int64),
        }
        try:
            with open(path, "wb") as fh:
                np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        except OSError as err:
            raise OutputError(
                f"{describe_path(path)}: cannot write split ({err.strerror}); choose a writable"
                " path"
            ) from err

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Split:
        """Read a split written by :meth:`save` (``allow_pickle=False``)."""
        if not os.path.isfile(path):
            raise DatasetNotFoundError(
                f"{describe_path(path)}: split file not found; pass the split.npz saved with"
                " the run"
            )
        keys = ("train", "test", "protocol", "seed", "leaky", "radius", "dropped")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in keys if k not in data.files]
                if missing:
                    raise LabelError(
                        f"{describe_path(path)}: not a split file, missing {', '.join(missing)};"
                        " re-create it with Split.save"
                    )
                values = {k: data[k] for k in keys}
                block = int(data["block"]) if "block" in data.files else 0  # files saved before it was recorded
        except LabelError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise LabelError(
                f"{describe_path(path)}: unreadable split file ({err}); re-create it with"
                " Split.save"
            ) from err
        return cls(
            train=values["train"],
            test=values["test"],
            protocol=str(values["protocol"]),
            seed=int(values["seed"]),
            leaky=bool(values["leaky"]),
            radius=int(values["radius"]),
            dropped=int(values["dropped"]),
            block=block,
        )


def _check_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` as an ``(H, W)`` int32 class map; whole-number floats (a label raster read as float,
    ``np.load`` of one) are taken as their integers.

    Raises:
        LabelError: ``None`` (a cube without labels), not 2-D, fractional or non-finite values, negative
            classes, or no labelled pixel.
    """
    if labels is None:
        raise LabelError("labels: None (cube.hsi.labels of a cube without labels?); pass an (H, W) class map, "
                         "0 = unlabelled (cube.hsi.with_labels(labels) attaches one to a cube)")
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.dtype.kind == "f":
        if not (np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise LabelError("labels: fractional, NaN or inf values; class ids are whole numbers (0 = unlabelled)")
        arr = arr.astype(np.int64)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise LabelError(
            f"labels: expected a 2-D integer map, got {arr.ndim}-D {arr.dtype}; pass the (H, W)"
            " label raster"
        )
    if arr.size and arr.min() < 0:
        raise LabelError("labels: negative class values; use 0 for unlabelled and 1..K for classes")
    if not np.any(arr > 0):
        raise LabelError("labels: no labelled pixels (all 0); pass a label map with classes 1..K")
    return arr.astype(np.int32, copy=False)


def _n_random(fraction: float, n: int) -> int:
    """Training pixels of a class with ``n`` pixels under ``random:fraction``."""
    k = max(1, round(fraction * n))
    return min(k, n - 1) if n > 1 else 1


def _n_fixed(count: int, n: int) -> int:
    """Training pixels of a class with ``n`` pixels under ``fixed:count``."""
    return count if n > count else max(1, n // 2)


def _pixel_split(labels: np.ndarray, spec: SplitSpec, seed: int,
                 class_names: Sequence[str] | None = None) -> np.ndarray:
    """Per-class random draw for random/fixed; returns the (H, W) train map."""
    train = np.zeros_like(labels)
    for cls in np.unique(labels[labels > 0]):
        idx = np.flatnonzero(labels == cls)
        if spec.kind == "random":
            k = _n_random(float(spec.value), idx.size)  # type: ignore[arg-type]
        else:
            k = _n_fixed(int(spec.value), idx.size)  # type: ignore[arg-type]
            if idx.size <= int(spec.value):  # type: ignore[arg-type]
                warnings.warn(
                    f"split {spec}: {class_label(cls, class_names)} has only {idx.size} pixel{'s' if idx.size != 1 else ''}; "
                    f"using {k} for training",
                    SplitWarning,
                    stacklevel=3,
                )
        pick = np.random.default_rng([seed, int(cls)]).permutation(idx)[:k]
        train.flat[pick] = cls
    return train


def default_block(shape: tuple[int, int], radius: int = 0) -> int:
    """Block edge in pixels for ``disjoint``: about 10 per side, at least ``2 radius + 1``."""
    return max(1, 2 * radius + 1, math.ceil(math.sqrt(shape[0] * shape[1]) / _BLOCKS_PER_SIDE))


def _buffer_mask(train: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) bool: pixels within Chebyshev distance ``radius`` of a training pixel."""
    if radius <= 0 or not np.any(train > 0):
        return train > 0
    dist = ndimage.distance_transform_cdt(train == 0, metric="chessboard")
    return dist <= radius


def class_label(k: int, class_names: Sequence[str] | None) -> str:
    """``"class 9 (Oats)"`` when ``class_names`` (index 0 = unlabelled) names id ``k``, else ``"class 9"``."""
    k = int(k)
    if class_names is not None and 0 < k < len(class_names) and str(class_names[k]).strip():
        name = str(class_names[k])
        if name != f"class {k}":
            return f"class {k} ({name})"
    return f"class {k}"


def _warn_missing(labels: np.ndarray, train: np.ndarray, test: np.ndarray, protocol: str,
                  class_names: Sequence[str] | None = None) -> None:
    for cls in np.unique(labels[labels > 0]):
        where = [name for name, arr in (("train", train), ("test", test)) if not np.any(arr == cls)]
        if where:
            warnings.warn(
                f"split {protocol}: {class_label(cls, class_names)} is absent from {' and '.join(where)}",
                SplitWarning,
                stacklevel=3,
            )


def make_split(
    labels: np.ndarray,
    spec: SplitSpec | str,
    *,
    seed: int = 0,
    radius: int = 0,
    block: int | None = None,
    legacy_blocks: bool = False,
    reach: int | None = None,
    class_names: Sequence[str] | None = None,
) -> Split:
    """Split the labelled pixels of a scene into train and test.

    Args:
        labels: (H, W) int class map, 0 = unlabelled.
        spec: a :class:`SplitSpec` or its string form (``"random:0.1"``, ``"fixed:20"``,
            ``"disjoint:0.5"``).
        seed: seed of every random choice; same inputs and seed give the same split.
        radius: buffer in pixels; test pixels at Chebyshev distance ``<= radius`` from any
            training pixel are dropped (any protocol; meant for ``disjoint``). Use at least
            the model's receptive radius (5 for 11x11 patches).
        block: block edge in pixels for ``disjoint`` (default :func:`default_block`).
        legacy_blocks: ``disjoint`` only: ``True`` reproduces the block layouts of hsi_app
            up to session 32 (and their saved splits and benchmark tables): the grid's origin
            at pixel (0, 0) for every seed, and no cost for classes without training pixels.
        reach: receptive radius of the model the split is for, which decides ``leaky``
            (:func:`leaks`; 0 for the per-pixel SVM). ``None``: a patch model of unknown size,
            taken as ``max(radius, 1)``.
        class_names: names of the ids (index 0 = unlabelled), for the warnings: ``class 9 (Oats)``.

    Returns:
        The :class:`Split`. Warns :class:`SplitWarning` for classes missing from a side.
    """
    spec = parse_split(spec) if isinstance(spec, str) else spec
    if spec.kind == "maps":
        raise ConfigError(
            "split spec 'maps' needs train/test label maps; call split_from_maps(train, test)"
        )
    if isinstance(radius, bool) or int(radius) != radius or radius < 0:
        raise ConfigError(
            f"buffer radius {radius} must be an integer >= 0, e.g. 5 for 11x11 patches"
        )
    lab = _check_labels(labels)
    edge = 0
    if spec.kind == "disjoint":
        edge = default_block(lab.shape, int(radius)) if block is None else int(block)
        if edge < 1:
            raise ConfigError(f"disjoint block size {block} must be >= 1 pixel")
        rng = np.random.default_rng(seed)
        offset = (0, 0) if legacy_blocks else (int(rng.integers(edge)), int(rng.integers(edge)))
        untrained = 0.0 if legacy_blocks else UNTRAINED_WEIGHT
        problem = BlockProblem(lab, edge, int(radius), offset, untrained_weight=untrained)
        fraction = float(spec.value)  # type: ignore[arg-type]
        chosen = problem.assign(fraction, rng)
        train = problem.train_map(chosen)
    else:
        train = _pixel_split(lab, spec, seed, class_names)
    test = np.where(train > 0, 0, lab).astype(np.int32)
    dropped = 0
    if radius > 0:
        near = _buffer_mask(train, int(radius)) & (test > 0)
        dropped = int(np.count_nonzero(near))
        test[near] = 0
    _warn_missing(lab, train, test, str(spec), class_names)
    return Split(
        train=train,
        test=test,
        protocol=str(spec),
        seed=int(seed),
        leaky=leaks(train, test, max(int(radius), 1) if reach is None else int(reach)),
        radius=int(radius),
        dropped=dropped,
        block=int(edge),
    )


def split_from_maps(train: np.ndarray, test: np.ndarray, *, radius: int | None = None,
                    class_names: Sequence[str] | None = None) -> Split:
    """Build a split from user-supplied train and test label maps (e.g. WHU-Hi Train50/Test).

    With ``radius`` (the model's receptive radius), the maps' own buffer is measured: the
    split is ``leaky`` when a test pixel lies within ``radius`` px (Chebyshev) of a training
    pixel, as in a random per-pixel draw (WHU-Hi's Train50, a replayed ``random:F``), and
    otherwise records the buffer it has (``radius`` = the largest distance it guarantees).

    Args:
        train: (H, W) int training labels, 0 elsewhere.
        test: (H, W) int test labels, 0 elsewhere.
        class_names: names of the ids (index 0 = unlabelled), for the warnings, as in :func:`make_split`.

    Returns:
        The :class:`Split`. Warns :class:`SplitWarning` for classes on one side only, as
        :func:`make_split` does.

    Raises:
        LabelError: different shapes, non-integer/negative values, or overlapping pixels.
    """
    tr, te = np.asarray(train), np.asarray(test)
    if tr.shape != te.shape or tr.ndim != 2:
        raise LabelError(
            f"train map {tr.shape} and test map {te.shape} must be 2-D and the same shape; pass"
            " maps of one scene"
        )
    for name, arr in (("train", tr), ("test", te)):
        if not np.issubdtype(arr.dtype, np.integer) or (arr.size and arr.min() < 0):
            raise LabelError(
                f"{name} map: expected non-negative integer labels, got {arr.dtype}; 0 = unlabelled"
            )
    both = (tr > 0) & (te > 0)
    overlap = int(np.count_nonzero(both))
    if overlap:
        r, c = (int(v[0]) for v in np.nonzero(both))
        raise LabelError(
            f"train and test maps overlap at {overlap} pixels (first at row {r}, col {c}); remove them from the test"
            " labels (erase those features or pixels in a GIS; in Python: test[train > 0] = 0)"
        )
    leaky, buffer = False, 0
    gap = split_gap(tr, te) if radius is not None else None
    if gap is not None:
        leaky = radius > 0 and gap <= radius  # leaks(), from the one distance transform
        buffer = 0 if leaky else gap - 1
    _warn_missing(np.maximum(tr, te), tr, te, "maps", class_names)  # as drawn splits do: a class on one side only
    return Split(train=tr.astype(np.int32), test=te.astype(np.int32), protocol="maps", leaky=leaky, radius=buffer)


def check_split(split: Split, labels: np.ndarray | None = None) -> None:
    """Check the invariants of a split; raise :class:`LabelError` naming the first broken one.

    Invariants: same 2-D shape, no negative labels, no pixel in both sets, the buffer holds
    (every test pixel farther than ``radius`` from every training pixel, Chebyshev), and,
    when ``labels`` (H, W) is given, both sets are labelled pixels carrying their labels.
    """
    tr, te = split.train, split.test
    name = f"split {split.protocol}"
    if tr.ndim != 2 or tr.shape != te.shape:
        raise LabelError(
            f"{name}: train {tr.shape} and test {te.shape} differ; re-create the split"
        )
    if (tr.size and tr.min() < 0) or (te.size and te.min() < 0):
        raise LabelError(f"{name}: negative labels; re-create the split")
    both = int(np.count_nonzero((tr > 0) & (te > 0)))
    if both:
        raise LabelError(f"{name}: {both} pixels are in both train and test; re-create the split")
    if split.radius < 0 or split.dropped < 0:
        raise LabelError(f"{name}: negative radius or dropped count; re-create the split")
    if split.radius > 0 and np.any(tr > 0):
        close = int(np.count_nonzero(_buffer_mask(tr, split.radius) & (te > 0)))
        if close:
            raise LabelError(
                f"{name}: {close} test pixels within {split.radius} px of training; re-create the"
                " split"
            )
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != tr.shape:
            raise LabelError(
                f"{name}: shape {tr.shape} does not match labels {lab.shape}; split this scene's"
                " labels"
            )
        for side, arr in (("train", tr), ("test", te)):
            bad = int(np.count_nonzero((arr > 0) & (arr != lab)))
            if bad:
                raise LabelError(
                    f"{name}: {bad} {side} pixels disagree with the label map; re-create the split"
                )
