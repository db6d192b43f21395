"""Is a scene in the units its model was trained on? One rule for denoisers and classifiers.

A model maps raw values through the normalisation of its training scene. A scene stored in
other units (uint16 reflectance x 10000 against a model trained on reflectance 0-1, or the other
way round) lands far outside that range and comes back as plausible-looking nonsense: a
classifier puts every pixel in one class. The spread between the 1st and 99th percentile of
the scene's values is compared with the training data's; more than :data:`UNIT_RATIO_LIMIT`
times narrower or wider is refused, with one line giving the factor and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.io.partial_nodata import PartialNodata, of_stored
from hsi_app.local_reads import reads_in_this_thread

UNIT_RATIO_LIMIT = 100.0  # a scene whose value spread is 100x off the training range is in other units
NORMAL_P99 = 2.326  # the 1st and 99th percentiles of a normal distribution: mean -+ this many std
SAMPLE_WINDOWS = 8  # scene_sample: windows read
SAMPLE_HEIGHT, SAMPLE_WIDTH = 64, 128  # scene_sample: a window's rows and columns (px)
SAMPLE_PIXELS = SAMPLE_WINDOWS * SAMPLE_HEIGHT * SAMPLE_WIDTH  # the most pixels a sample holds: 65,536


def sample_windows(height: int, width: int, count: int = SAMPLE_WINDOWS, rows: int = SAMPLE_HEIGHT,
                   cols: int = SAMPLE_WIDTH) -> list[Any]:
    """Up to ``count`` windows of ``rows x cols`` px spread over a ``height x width`` scene, one in each of
    ``count`` row bands and each of ``count`` column bands (rooks on a ``count x count`` board, none sharing a
    row or a column), their starts multiples of ``rows`` and ``cols``.

    Aligned so, each window lies inside one storage block (a GeoTIFF tile or a dask chunk) whose sides are
    multiples of the window's, so reading the sample decodes at most ``count`` blocks, whatever the scene's size.
    A scene of no more than ``count * rows * cols`` pixels is one window, the whole scene; on a scene narrower or
    shorter than the windows laid side by side, windows may overlap.

    Returns:
        :class:`~hsi_app.infer.Window` list (no halo).
    """
    from math import gcd

    from hsi_app.infer import Window

    if height * width <= count * rows * cols:
        return [Window(0, 0, height, width, 0, 0, height, width)]
    step = next(k for k in range(max(1, round(count**0.5)), count + 1) if gcd(k, count) == 1)

    def start(size: int, length: int, i: int, align: int) -> tuple[int, int]:
        n = min(length, size)
        at = int((i + 0.5) * size / count - n / 2) // align * align
        return max(0, min(at, (size - n) // align * align)), n

    out, seen = [], set()
    for i in range(count):
        (r, h), (c, w) = start(height, rows, i, rows), start(width, cols, (i * step) % count, cols)
        if (r, c) not in seen:
            seen.add((r, c))
            out.append(Window(r, c, h, w, r, c, h, w))
    return out


@dataclass(frozen=True)
class UnitsSample:
    """The units check's sample of a scene, read once (:func:`units_sample`).

    Attributes:
        values: ``(C, N)`` float32 values of the sample windows, all bands, no data as NaN.
        partial: the sampled pixels holding the file's numeric no-data value in only some good bands
            (:func:`~hsi_app.io.partial_nodata.of_stored`, from the same reads; also an integer file's value
            that its reader decoded to NaN, :func:`~hsi_app.io.summary.counted_nodata`); None when the scene has
            no numeric no-data value, or when not asked for.
    """

    values: np.ndarray
    partial: PartialNodata | None


def units_sample(cube: Any, count: int = SAMPLE_WINDOWS, rows: int = SAMPLE_HEIGHT, cols: int = SAMPLE_WIDTH, *,
                 partial: bool = True) -> UnitsSample:
    """:func:`sample_windows` of ``cube`` (up to ``count`` windows of ``rows x cols`` px spread over the scene), each
    read once: its values as :func:`hsi_app.infer.read_window` gives them (``cube.hsi.read_masked``: no data as NaN),
    and, with ``partial``, the pixels holding the no-data value in only some bands, counted from the same stored
    values before masking (:func:`~hsi_app.io.partial_nodata.of_stored`).

    The windows are aligned to storage blocks, so a lazy file costs at most ``count`` block reads, whatever its
    size (windows centred in every sampled chunk used to straddle the GeoTIFF tiles inside it: a 2048 x 2048 scene
    of 256 px tiles was read whole once more). The counts used to be taken by reading the windows again.

    Raises:
        CubeReadError: GDAL cannot read a window's pixels (:func:`hsi_app.infer.read_error`).
    """
    from hsi_app.infer import read_window_stored
    from hsi_app.io.summary import counted_nodata

    _, h, w = cube.hsi.shape
    counted = counted_nodata(cube) if partial else None
    counting = counted is not None
    values, stored = [], []
    with reads_in_this_thread():  # in this thread (a batch client or worker: not on the cluster)
        for win in sample_windows(h, w, count, rows, cols):
            raw, image, _ = read_window_stored(cube, win)
            values.append(image.reshape(image.shape[0], -1))
            if counting:
                stored.append(raw.reshape(raw.shape[0], -1))
    found = None
    if counting:
        found = of_stored(np.concatenate(stored, axis=1), counted[0], cube.hsi.bad_band_mask)
    return UnitsSample(np.concatenate(values, axis=1), found)


def scene_sample(cube: Any, count: int = SAMPLE_WINDOWS, rows: int = SAMPLE_HEIGHT,
                 cols: int = SAMPLE_WIDTH) -> np.ndarray:
    """``(C, N)`` float32 values of :func:`sample_windows`, all bands, no data as NaN: :func:`units_sample`'s
    values, without the no-data counts."""
    return units_sample(cube, count, rows, cols, partial=False).values


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
