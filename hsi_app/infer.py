"""Windowed, halo'd whole-scene inference.

A dense model maps a tile ``(C, h, w)`` to per-pixel class probabilities ``(K, h, w)``;
its output at a pixel depends only on inputs within ``receptive_radius`` pixels. So the
scene is cut into core windows, each read with a halo of at least that radius, predicted,
and cropped back to its core: every pixel is computed once, the result equals a one-shot
prediction of the whole scene, and memory is bounded by the window, never by the scene.
Windows are streamed into a Cloud-Optimized GeoTIFF (band 1 class, band 2 confidence).

The same per-window function runs over dask chunks (:func:`predict_dask`), which is how
batch jobs spread one large scene over a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.errors import ConfigError, CubeReadError, HSIError, InvalidDataError
from hsi_app.io.cube import Cube, scene_name

ProbFn = Callable[[np.ndarray], np.ndarray]
"""``(C, h, w)`` float32 raw reflectance (NaN = no data) -> ``(K, h, w)`` float32 probabilities."""


def bound_fn(fn: ProbFn, *, num_classes: int, halo: int, class_names: list[str] | None) -> ProbFn:
    """``fn`` marked with what a run's ``bind(cube)`` knows (attributes ``num_classes``, ``halo``,
    ``class_names``), so that :func:`predict_scene` needs no more than the bound function and the cube."""
    fn.num_classes = int(num_classes)  # type: ignore[attr-defined]
    fn.halo = int(halo)  # type: ignore[attr-defined]
    fn.class_names = None if class_names is None else list(class_names)  # type: ignore[attr-defined]
    return fn


MAX_CLASSES = 255
"""Classes a class map can hold: band 1 is uint8, 0 = no data, then 1..255."""


def whole_number(value: Any, name: str, low: int, meaning: str, where: str = "predict_scene") -> int:
    """``value`` as an int of at least ``low`` (Python or numpy integers; not a bool, a float or a string).

    Raises:
        ConfigError: ``"WHERE: NAME=VALUE; it is MEANING, a whole number, LOW or more"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"{where}: {name}={value!r}; it is {meaning}, a whole number, {low} or more")
    return int(value)


def scene_settings(prob_fn: ProbFn, num_classes: int | None, halo: int | None,
                   class_names: list[str] | None) -> tuple[int, int, list[str] | None]:
    """``(num_classes, halo, class_names)`` for :func:`predict_scene`: those given, else the bound run's
    (:func:`bound_fn`).

    Raises:
        ConfigError: ``prob_fn`` not callable; ``num_classes`` (1..255: the map is uint8) or ``halo`` missing for
            a plain function or not a whole number, a negative halo, a halo below
            the bound run's receptive radius (the map would then differ from ``hsi predict``'s at window seams),
            or ``class_names`` not K + 1 names (0 = no data, then 1..K).
    """
    if not callable(prob_fn):
        fix = (f"a {type(prob_fn).__name__} is not one: pass its pred.bind(cube)" if hasattr(prob_fn, "bind")
               else "pass a run's pred.bind(cube), or a function (C, h, w) -> (K, h, w)")
        raise ConfigError(f"predict_scene: prob_fn must be a function of a window; {fix}")
    own_k, own_halo = getattr(prob_fn, "num_classes", None), getattr(prob_fn, "halo", None)
    if num_classes is None:
        if own_k is None:
            raise ConfigError("predict_scene: pass num_classes=K (the classes prob_fn returns), or a run's "
                              "pred.bind(cube), which knows it")
        num_classes = int(own_k)
    num_classes = whole_number(num_classes, "num_classes", 1, "the classes prob_fn returns (K)")
    if num_classes > MAX_CLASSES:
        raise ConfigError(f"predict_scene: num_classes={num_classes}; a class map holds at most {MAX_CLASSES} classes "
                          "(uint8, 0 = no data): merge classes, or keep the probabilities (prob_fn) instead")
    if halo is None:
        if own_halo is None:
            raise ConfigError("predict_scene: pass halo= (the model's receptive radius in pixels, "
                              "pred.receptive_radius), or a run's pred.bind(cube), which knows it")
        halo = int(own_halo)
    halo = whole_number(halo, "halo", 0, "a number of pixels (the model's receptive radius, pred.receptive_radius)")
    if own_halo is not None and halo < own_halo:
        raise ConfigError(f"predict_scene: halo={halo} is below the bound model's receptive radius {own_halo}; pixels "
                          f"near window seams would differ from `hsi predict`'s map: pass halo>={own_halo} or leave it out")
    if class_names is None:
        class_names = getattr(prob_fn, "class_names", None)
    if isinstance(class_names, str):
        raise ConfigError(f"predict_scene: class_names={class_names!r} is one string; pass a list of "
                          f"{int(num_classes) + 1} names, index 0 = no data, then classes 1..K")
    if class_names is not None and len(class_names) != int(num_classes) + 1:  # K names: class k named as k+1
        first = ("; K names: put the no-data name first, class_names=['no data', *names]"
                 if len(class_names) == int(num_classes) else "")
        raise ConfigError(f"predict_scene: {len(class_names)} class_names for num_classes={num_classes}; it takes "
                          f"{int(num_classes) + 1}, index 0 = no data, then classes 1..K{first}")
    return int(num_classes), int(halo), class_names


@dataclass(frozen=True)
class Window:
    """A core window and the halo'd read around it, in scene pixel coordinates."""

    row: int
    col: int
    height: int
    width: int
    read_row: int
    read_col: int
    read_height: int
    read_width: int

    @property
    def crop(self) -> tuple[slice, slice]:
        """Slices that cut the core out of the halo'd read."""
        r, c = self.row - self.read_row, self.col - self.read_col
        return slice(r, r + self.height), slice(c, c + self.width)


def iter_windows(height: int, width: int, size: int, halo: int) -> Iterator[Window]:
    """Tile an ``height x width`` scene into ``size`` windows with a ``halo`` (clipped at edges)."""
    if size < 1:
        raise ConfigError(f"window size must be >= 1 pixel, got {size}")
    for r in range(0, height, size):
        for c in range(0, width, size):
            h, w = min(size, height - r), min(size, width - c)
            r0, c0 = max(0, r - halo), max(0, c - halo)
            r1, c1 = min(height, r + h + halo), min(width, c + w + halo)
            yield Window(r, c, h, w, r0, c0, r1 - r0, c1 - c0)


def strided_sample(read: Callable[[Window], np.ndarray], height: int, width: int, window: int, step: int, *,
                   progress: bool = False, desc: str = "sample") -> np.ndarray:
    """Every ``step``-th row and column of a scene (counted from its top-left pixel), read window by window.

    Args:
        read: ``read(win)`` -> ``(C, win.height, win.width)`` values of a core window (no halo).
        height, width: scene size in pixels.
        window: side of the windows read; memory is one window plus the sample.
        step: the row and column step.
        progress: a progress bar over the windows, labelled ``desc``.

    Returns:
        ``(C, ceil(height / step) * ceil(width / step))`` values, window by window (the same
        for every ``window``, up to the order of the columns).
    """
    from hsi_app.progress import bar

    out: np.ndarray | None = None
    at = 0
    n = -(-height // step) * -(-width // step)
    for win in bar(list(iter_windows(height, width, window, 0)), desc=desc, unit="win", enabled=progress):
        block = read(win)
        part = block[:, (-win.row) % step :: step, (-win.col) % step :: step].reshape(block.shape[0], -1)
        if out is None:  # preallocated once the band count is known: no second copy at a concatenate
            out = np.empty((block.shape[0], n), dtype=block.dtype)
        out[:, at : at + part.shape[1]] = part
        at += part.shape[1]
    assert out is not None and at == n
    return out


def chunk_windows(cube: Cube, side: int, grid: int) -> list[Window]:
    """Up to ``grid x grid`` windows of at most ``side`` px spread over the scene, each inside one
    storage chunk (centred in it), so that reading one loads one chunk of a lazy file and no more.

    For a lazy cube the chunks picked are spread evenly over its chunk grid (``grid`` per axis at
    most); a cube in memory (one chunk) gets windows spread evenly over the scene. No halo.
    """
    _, h, w = cube.hsi.shape

    def spans(size: int, chunks: tuple[int, ...] | None) -> list[tuple[int, int]]:
        if chunks is None or len(chunks) == 1:  # in memory or one chunk: evenly over the axis
            step = size / grid
            edges = sorted({int(round(i * step)) for i in range(grid)} | {size})
            pairs = list(zip(edges[:-1], edges[1:]))
        else:
            starts = np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(int)
            pick = np.unique(np.linspace(0, len(chunks) - 1, min(grid, len(chunks))).round().astype(int))
            pairs = [(int(starts[i]), int(starts[i] + chunks[i])) for i in pick]
        out = []
        for a, b in pairs:
            n = min(side, b - a)
            out.append((a + (b - a - n) // 2, n))
        return out

    chunks = getattr(cube.data, "chunks", None)
    rows = spans(h, None if chunks is None else tuple(chunks[1]))
    cols = spans(w, None if chunks is None else tuple(chunks[2]))
    return [Window(r, c, hh, ww, r, c, hh, ww) for r, hh in rows for c, ww in cols]


def read_window(cube: Cube, win: Window) -> tuple[np.ndarray, np.ndarray]:
    """The halo'd read of ``win``: ``(C, h, w)`` float32 values (no data -> NaN) and its ``(h, w)`` valid mask.

    The mask is the cube's ``valid`` AND what the values say (``cube.hsi.read_masked``): pixels made
    NaN or no-data in Python after open are no data too. The caller's array is never written.

    Raises:
        CubeReadError: GDAL cannot read the window's pixels (a block damaged inside the file, which
            opening does not check): one line with the file, GDAL's reason and the fix (:func:`read_error`).
    """
    with read_errors(cube):
        return _window_of(cube, win).hsi.read_masked()


def read_window_stored(cube: Cube, win: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`read_window` that also returns the window's values as stored, from the same read
    (:meth:`~hsi_app.io.cube.HSIAccessor.read_stored`): ``(raw (C, h, w), values (C, h, w), valid (h, w))``."""
    with read_errors(cube):
        return _window_of(cube, win).hsi.read_stored()


def _window_of(cube: Cube, win: Window) -> Cube:
    """The halo'd ``win`` of ``cube`` (lazy)."""
    return cube.isel(y=slice(win.read_row, win.read_row + win.read_height),
                     x=slice(win.read_col, win.read_col + win.read_width))


@contextmanager
def read_errors(cube: Cube) -> Iterator[None]:
    """GDAL failing to read ``cube``'s pixels inside the block becomes one line (:func:`read_error`)."""
    try:
        yield
    except Exception as err:
        failure = read_error(err, scene_name(cube))
        if failure is None:
            raise
        raise failure from err


READ_FAILED = ("read failed", "ireadblock", "tiffread", "tifffill", "decodeblock")
"""Words (lower case) of GDAL's messages for pixels it cannot read: a damaged or missing block."""


def read_error(err: BaseException, source: str | os.PathLike[str]) -> CubeReadError | None:
    """``err`` as one line when it is GDAL failing to read a scene's pixels, else ``None``.

    A block damaged inside a file (not at its end, which opening checks) fails only when a window reaches
    it, as rasterio's ``RasterioIOError: Read failed. See previous exception for details.``, chaining GDAL's
    reason (``damaged.tif, band 1: IReadBlock failed at X offset 1, Y offset 1: ...``) as its cause (lost
    when dask ships the error between processes). Only a ``RasterioIOError`` whose chain says so
    (:data:`READ_FAILED`) is taken as damage; a ``CRSError`` or any other error is not.

    Returns:
        ``CubeReadError("SOURCE: data cannot be read (GDAL's reason); the file is truncated or corrupt:
        download or export it again")``.
    """
    if isinstance(err, HSIError) or type(err).__name__ != "RasterioIOError":
        return None
    chain, seen = [], set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        chain.append(str(cause).replace(" See previous exception for details.", "").strip())
        cause = cause.__cause__ or cause.__context__
    if not any(word in " ".join(chain).lower() for word in READ_FAILED):
        return None
    reason = next((text for text in chain[1:] if text), chain[0] or type(err).__name__)
    return CubeReadError(f"{source}: data cannot be read ({reason}); the file is truncated or corrupt: "
                         "download or export it again")


def window_values(image: Any) -> np.ndarray:
    """A window given to a prob function, as values: an xarray window of a cube (``cube[:, :30, :30]``) is
    read as :func:`read_window` reads one (``hsi.read_masked``: its no-data, e.g. ``nodata=-9999``, as NaN,
    not the raw fill values); anything else through ``np.asarray``."""
    import xarray as xr

    if isinstance(image, xr.DataArray) and image.dims == ("band", "y", "x"):  # others: check_image says what is wrong
        return image.hsi.read_masked()[0]
    return np.asarray(image)


def window_probs(prob_fn: ProbFn, image: np.ndarray, num_classes: int) -> np.ndarray:
    """``prob_fn(image)`` for a ``(C, h, w)`` window, checked to be ``(K, h, w)`` with K = ``num_classes``.

    Raises:
        ConfigError: another shape (a model for other classes, a cropped or transposed output), which
            would otherwise fail in numpy indexing or count classes beyond K silently.
    """
    probs = np.asarray(prob_fn(image))
    want = (num_classes, *image.shape[1:])
    if probs.shape != want:
        raise ConfigError(f"predict_scene: prob_fn returned shape {probs.shape} for a {tuple(image.shape)} window; "
                          f"it must return (K, h, w) = {want} probabilities (K = num_classes = {num_classes})")
    return probs


def check_finite_probs(probs: np.ndarray, valid: np.ndarray, win: Window) -> None:
    """Refuse NaN or infinite probabilities ``(K, h, w)`` at valid pixels ``(h, w)`` of a window's core: argmax
    takes a NaN as the largest value, so every such pixel would be mapped as class 1 with NaN confidence.
    (A bound run checks its own output: :func:`~hsi_app.predictor.check_probs`; this catches a plain function.)

    Raises:
        InvalidDataError: one line with the count, the window and the fix.
    """
    if np.isfinite(probs).all():
        return
    bad = int(np.count_nonzero(~np.isfinite(probs).all(axis=0) & valid))
    if bad:
        raise InvalidDataError(f"predict_scene: prob_fn returned NaN or inf at {bad} valid pixels of the window at row "
                               f"{win.row}, col {win.col}; return finite (K, h, w) probabilities where the input has "
                               "data (NaN input = no data: fill it, e.g. np.nan_to_num, before the model)")


def classify_probs(probs: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(K, h, w)`` probabilities -> class ``(h, w)`` uint8 (1..K, 0 = no data) and confidence float32."""
    cls = (np.argmax(probs, axis=0) + 1).astype(np.uint8)
    conf = np.max(probs, axis=0).astype(np.float32)
    cls[~valid] = 0
    conf[~valid] = 0.0
    return cls, conf


@dataclass
class SceneResult:
    """What :func:`predict_scene` returns (the maps themselves are on disk)."""

    path: Path | None
    height: int
    width: int
    class_counts: np.ndarray  # (K+1,) pixels per class, index 0 = no data
    seconds: float
    windows: int
    confusion: np.ndarray | None = None  # (K, K) rows = truth, when labels exist
    classes: np.ndarray | None = field(default=None, repr=False)  # (H, W) when keep_map=True


def predict_scene(
    prob_fn: ProbFn,
    cube: Cube,
    *,
    num_classes: int | None = None,
    halo: int | None = None,
    out: str | os.PathLike[str] | None = None,
    window: int = 512,
    class_names: list[str] | None = None,
    keep_map: bool = False,
    progress: bool = True,
) -> SceneResult:
    """Classify a whole scene window by window, streaming the result to a COG.

    Args:
        prob_fn: per-window model, see :data:`ProbFn`; ``pred.bind(cube)`` of a run
            (:class:`~hsi_app.predictor.Predictor`, an ensemble) also carries the run's K, receptive
            radius and class names, so ``predict_scene(pred.bind(cube), cube, out="map.tif")`` writes
            the map ``hsi predict`` writes.
        cube: the ``(band, y, x)`` scene (lazy is fine; only one halo'd window is in memory at a time).
        num_classes: K; default: the bound run's.
        halo: pixels of context read around each window (>= the model's receptive radius);
            default: the bound run's receptive radius.
        out: COG path (band 1 class uint8 with colour table, band 2 confidence); ``None``
            to skip writing (then pass ``keep_map=True``).
        window: core window size in pixels.
        class_names: K + 1 names for 0..K (0 = no data) written into the COG; default: the bound run's.
        keep_map: also return the ``(H, W)`` class map (only for small scenes).
        progress: show a progress bar.

    Returns:
        :class:`SceneResult` with class counts and, when the cube has labels, a confusion
        matrix over the labelled pixels.

    Raises:
        InvalidDataError: the scene holds no valid pixel; ``prob_fn`` returned NaN or inf at a valid pixel
            (:func:`check_finite_probs`).
        ConfigError: ``prob_fn`` returned another shape than ``(num_classes, h, w)`` for a window;
            ``cube`` not a Cube; ``prob_fn`` not a function (a Predictor, not its ``bind(cube)``);
            ``num_classes``/``halo`` missing or wrong (:func:`scene_settings`); ``window`` not a whole
            number >= 1.
    """
    import time

    from hsi_app.io.cog import encode_class_window
    from hsi_app.io.cube import check_is_cube
    from hsi_app.progress import bar

    check_is_cube(cube, "predict_scene")
    num_classes, halo, class_names = scene_settings(prob_fn, num_classes, halo, class_names)
    window = whole_number(window, "window", 1, "the core window side in pixels")
    c, h, w = cube.hsi.shape
    if window > max(h, w):
        window = max(h, w)
    wins = list(iter_windows(h, w, window, halo))
    labels = cube.hsi.labels
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64) if labels is not None else None
    counts = np.zeros(num_classes + 1, dtype=np.int64)
    full = np.zeros((h, w), dtype=np.uint8) if keep_map else None
    t0 = time.perf_counter()
    any_valid = False
    with ExitStack() as stack:
        writer = (stack.enter_context(class_map_writer(out, cube, num_classes, class_names, progress=progress))
                  if out is not None else None)
        for win in bar(wins, desc="predict", unit="win", enabled=progress):
            image, valid = read_window(cube, win)
            probs = window_probs(prob_fn, image, num_classes)
            del image  # not held while the next window is read: one window's values in memory, not two
            check_finite_probs(probs[(slice(None), *win.crop)], valid[win.crop], win)
            cls, conf = classify_probs(probs[(slice(None), *win.crop)], valid[win.crop])
            del probs
            any_valid |= bool(valid[win.crop].any())
            counts += np.bincount(cls.ravel(), minlength=num_classes + 1)[: num_classes + 1]
            if confusion is not None:
                truth = labels[win.row : win.row + win.height, win.col : win.col + win.width]
                sel = (truth > 0) & (cls > 0)
                np.add.at(confusion, (truth[sel] - 1, cls[sel].astype(np.int64) - 1), 1)
            if full is not None:
                full[win.row : win.row + win.height, win.col : win.col + win.width] = cls
            if writer is not None:
                writer.write_window(encode_class_window(cls, conf), win.row, win.col)
        if not any_valid:
            from hsi_app.io.empty_bands import empty_bands_note

            note = empty_bands_note(cube)  # one more pass, only here: say so when some bands hold no data at all
            fix = ("; flag them bad first (hsi_app.io.empty_bands.flag_empty_bands(cube), as hsi predict does)"
                   if note else "; nothing to predict")
            raise InvalidDataError(
                f"{scene_name(cube)}: {note or 'every pixel is no-data'}{fix}"
            )
    return SceneResult(
        path=Path(out) if out is not None else None,
        height=h,
        width=w,
        class_counts=counts,
        seconds=time.perf_counter() - t0,
        windows=len(wins),
        confusion=confusion,
        classes=full,
    )


def class_map_writer(out: str | os.PathLike[str], cube: Cube, num_classes: int, class_names: list[str] | None, *,
                     progress: bool = False) -> Any:
    """A streaming COG writer laid out as a class map (see :mod:`hsi_app.io.cog`); ``progress``: show its
    conversion to COG (``StreamingCOGWriter``'s ``progress``). A scene georeferenced only by ground control
    points gives them to the map (:func:`~hsi_app.io.geotiff.cube_gcps`), so GIS software can place it."""
    from hsi_app.io.cog import StreamingCOGWriter, class_map_profile
    from hsi_app.io.geotiff import cube_georef

    _, h, w = cube.hsi.shape
    names = class_names or ["no data", *[f"class {k}" for k in range(1, num_classes + 1)]]
    return StreamingCOGWriter(out, height=h, width=w, progress=progress, **cube_georef(cube),
                              **class_map_profile(names))


def predict_dask(prob_fn: ProbFn, data: Any, valid: Any, *, halo: int) -> Any:
    """The same windowed inference over dask chunks (``map_overlap``-style).

    Args:
        prob_fn: per-window model.
        data: ``(C, H, W)`` dask array, chunked only spatially (one chunk along bands).
        valid: ``(H, W)`` dask bool array with the same spatial chunks.
        halo: overlap in pixels (>= receptive radius).

    Returns:
        ``(2, H, W)`` float32 dask array: class (1..K, 0 = no data) and confidence.
    """
    import dask.array as da

    stacked = da.concatenate([data.astype(np.float32), valid[None].astype(np.float32)], axis=0)
    stacked = stacked.rechunk({0: -1})
    depth = {0: 0, 1: halo, 2: halo}
    ghosted = da.overlap.overlap(stacked, depth=depth, boundary="none")

    def block(x: np.ndarray) -> np.ndarray:
        image, ok = x[:-1].copy(), x[-1] > 0.5
        image[:, ~ok] = np.nan
        cls, conf = classify_probs(prob_fn(image), ok)
        return np.stack([cls.astype(np.float32), conf])

    out = ghosted.map_blocks(block, chunks=((2,), ghosted.chunks[1], ghosted.chunks[2]), dtype=np.float32)
    return da.overlap.trim_internal(out, depth, boundary="none")
