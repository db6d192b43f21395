"""Is a scene in the units its model was trained on? One rule for denoisers and classifiers.

A model maps raw values through the normalisation of its training scene. A scene stored in
other units (uint16 reflectance x 10000 against a model trained on reflectance 0-1, or the other
way round) lands far outside that range and comes back as plausible-looking nonsense: a
classifier puts every pixel in one class. The spread between the 1st and 99th percentile of
the scene's values is compared with the training data's; more than :data:`UNIT_RATIO_LIMIT`
times narrower or wider is refused, with one line giving the factor and the fix.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.local_reads import reads_in_this_thread

UNIT_RATIO_LIMIT = 100.0  # a scene whose value spread is 100x off the training range is in other units
NORMAL_P99 = 2.326  # the 1st and 99th percentiles of a normal distribution: mean -+ this many std
SAMPLE_GRID = 4  # scene_sample: windows per axis
SAMPLE_SIDE = 64  # scene_sample: window side (px)
SAMPLE_PIXELS = SAMPLE_GRID**2 * SAMPLE_SIDE**2  # the most pixels a sample holds: 65,536


def scene_sample(cube: Any, grid: int = SAMPLE_GRID, side: int = SAMPLE_SIDE) -> np.ndarray:
    """``(C, N)`` float32 values of up to ``grid x grid`` windows of ``side`` px spread over the scene,
    all bands, no data as NaN (:func:`hsi_app.infer.read_window`). Each window sits inside one storage
    chunk (:func:`hsi_app.infer.chunk_windows`), so a lazy file costs at most ``grid ** 2`` chunk
    reads, whatever its size."""

    from hsi_app.infer import chunk_windows, read_window

    with reads_in_this_thread():  # in this thread (a batch client or worker: not on the cluster)
        parts = [read_window(cube, win)[0].reshape(cube.sizes["band"], -1) for win in chunk_windows(cube, side, grid)]
    return np.concatenate(parts, axis=1)


def stats_range(mean: np.ndarray, std: np.ndarray) -> tuple[float, float]:
    """The training values' range from per-band statistics ``(C,)``: from the lowest band's 1st to the
    highest band's 99th percentile, each band taken as normal (``mean -+ 2.326 std``)."""
    m, s = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    return float(np.min(m - NORMAL_P99 * s)), float(np.max(m + NORMAL_P99 * s))


def _factor(ratio: float) -> str:
    """``"~8,800 times"`` or ``"~1/10,000 of"``, two significant digits."""
    value = ratio if ratio >= 1 else 1.0 / ratio
    rounded = float(f"{value:.2g}")
    text = f"{rounded:,.0f}" if rounded >= 10 else f"{rounded:g}"
    return f"~{text} times" if ratio >= 1 else f"~1/{text} of"


def _spread(values: np.ndarray) -> tuple[float, float] | None:
    """The 1st and 99th percentile of ``values``' finite elements, or ``None`` when there are none or
    they are flat (such a sample says nothing about its units)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None
    lo, hi = (float(x) for x in np.percentile(v, [1, 99]))
    return (lo, hi) if hi > lo else None


def check_units(values: np.ndarray, train_lo: float, train_hi: float, *, scene: str, model: str, fix: str) -> None:
    """Refuse ``values`` (any shape; NaN = no data) in other units than a training range.

    Args:
        values: a sample of the scene's values, as the model reads them (its bands).
        train_lo, train_hi: the training data's range.
        scene: the scene, for the message.
        model: the model (or run), for the message.
        fix: what to do, for the message.

    Raises:
        InvalidDataError: the 1st-99th percentile spread of ``values`` is more than
            :data:`UNIT_RATIO_LIMIT` times narrower or wider than ``train_hi - train_lo``: one line
            with both ranges, the factor and ``fix``. A sample without finite values, or a flat one,
            says nothing and passes.
    """
    span = float(train_hi) - float(train_lo)
    spread = _spread(values) if span > 0 else None
    if spread is None:
        return
    lo, hi = spread
    ratio = (hi - lo) / span
    if 1 / UNIT_RATIO_LIMIT <= ratio <= UNIT_RATIO_LIMIT:
        return
    raise InvalidDataError(
        f"{scene}: values {lo:.4g} to {hi:.4g} (1st-99th percentile) but {model} was trained on {train_lo:.4g} to "
        f"{train_hi:.4g}, so the scene is in other units; its values are {_factor(ratio)} the training data's: {fix}"
    )


def check_same_units(values: np.ndarray, like: np.ndarray, *, scene: str, role: str, like_scene: str, like_role: str,
                     fix: str) -> None:
    """Refuse ``values`` in other units than ``like``: samples of two scenes that should hold the same
    quantity, such as a clean reference and the input it scores (NaN = no data). The rule of
    :func:`check_units`, with ``like``'s 1st-99th percentile range in place of the training range.
    Samples of one shape (the same window of both scenes) are compared only at the elements finite
    in both, so a reference with data on part of the window is measured on the same pixels as the input.

    Args:
        values: a sample of the scene checked.
        like: a sample of the scene whose units it must share.
        scene, role: the scene checked and what it is (``"reference"``), for the message; a scene
            without a path is passed as its role and named by it alone.
        like_scene, like_role: the other scene and what it is (``"input"``), as ``scene``, ``role``.
        fix: what to do, for the message.

    Raises:
        InvalidDataError: the spreads differ more than :data:`UNIT_RATIO_LIMIT` times: one line with both
            ranges, the factor and ``fix``. Either sample without finite values, or flat, passes.
    """
    v = np.asarray(values, dtype=np.float64)
    u = np.asarray(like, dtype=np.float64)
    if v.shape == u.shape:  # the same elements of two scenes: compare the spreads where both hold data
        both = np.isfinite(v) & np.isfinite(u)
        v, u = v[both], u[both]
    spread, like_spread = _spread(v), _spread(u)
    if spread is None or like_spread is None:
        return
    (lo, hi), (ulo, uhi) = spread, like_spread
    ratio = (hi - lo) / (uhi - ulo)
    if 1 / UNIT_RATIO_LIMIT <= ratio <= UNIT_RATIO_LIMIT:
        return
    head = role if scene == role else f"{scene}: {role}"  # an in-memory scene has no path to name
    other = like_role if like_scene == like_role else f"{like_role} {like_scene}"
    raise InvalidDataError(
        f"{head} values {lo:.4g} to {hi:.4g} (1st-99th percentile) but the {other} holds "
        f"{ulo:.4g} to {uhi:.4g}, so the {role} is in other units: its values are {_factor(ratio)} the {like_role}'s; {fix}"
    )
