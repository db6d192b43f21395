"""Quick-look images: RGB composites of a cube, class-map and confusion-matrix PNGs.

Also home of the one class palette (:func:`default_palette`) shared by every output
that colours classes (the COG colour table in :mod:`hsi_app.io.cog`, PNGs here), so a
class has the same colour everywhere.

matplotlib is imported inside the functions that draw (Agg canvas, no pyplot state),
which keeps ``import hsi_app.io.quicklook`` cheap. Every PNG is written atomically.
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.io.atomic import atomic_path
from hsi_app.io.cube import Cube

_GOLDEN = 0.6180339887498949
# (saturation, value) levels cycled so that neighbouring classes differ in lightness too.
_SV_LEVELS = ((0.80, 0.95), (0.55, 0.80), (0.95, 0.65), (0.40, 0.95))


def default_palette(n: int) -> np.ndarray:
    """Qualitative class colours: entry 0 (unlabelled / no data) is black.

    Hues advance by the golden ratio, with four saturation/value levels, so any
    number of classes gets distinct, deterministic colours.

    Args:
        n: number of entries including class 0 (``len(class_names)``), 1..256.

    Returns:
        ``(n, 3)`` uint8 RGB.
    """
    if not 1 <= n <= 256:
        raise InvalidDataError(f"a class palette holds 1..256 entries (class 0 included), got {n}")
    out = np.zeros((n, 3), dtype=np.uint8)
    for i in range(1, n):
        hue = ((i - 1) * _GOLDEN) % 1.0
        sat, val = _SV_LEVELS[((i - 1) // 3) % len(_SV_LEVELS)]
        out[i] = np.round(np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255)
    return out


def as_palette(colors: Any, n: int) -> np.ndarray:
    """Normalise user colours to an ``(n, 3)`` uint8 palette (entry 0 = class 0).

    Args:
        colors: ``None`` (default palette); ``n`` or ``n - 1`` colours (then class 0 is
            black), each ``(r, g, b)``/``(r, g, b, a)`` in 0..255 or a ``"#rrggbb"`` string.
        n: number of classes including class 0.

    Returns:
        ``(n, 3)`` uint8 RGB.
    """
    if colors is None:
        return default_palette(n)
    rows = [_one_color(c) for c in colors]
    if len(rows) == n - 1:
        rows = [(0, 0, 0), *rows]
    if len(rows) != n:
        raise InvalidDataError(
            f"got {len(rows)} colours for {n} classes (class 0 included); pass {n} or {n - 1} colours"
        )
    return np.asarray(rows, dtype=np.uint8).reshape(n, 3)


def _one_color(color: Any) -> tuple[int, int, int]:
    if isinstance(color, str):
        text = color.strip().lstrip("#")
        if len(text) not in (6, 8):
            raise InvalidDataError(f"colour {color!r} is not '#rrggbb'; pass hex strings or RGB triples")
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    vals = [int(v) for v in np.asarray(color).reshape(-1)[:3]]
    if len(vals) != 3 or min(vals) < 0 or max(vals) > 255:
        raise InvalidDataError(f"colour {color!r} is not an RGB triple in 0..255")
    return vals[0], vals[1], vals[2]


def nearest_good_band(cube: Cube, nm: float, within: float = np.inf) -> int | None:
    """The 0-based index of the good band whose known centre is nearest ``nm``, if it is within ``within`` nm;
    ``None`` when no good band has a known wavelength, or none is that close."""
    good = cube.hsi.good_band_indices
    wl = np.asarray(cube.hsi.wavelengths, dtype=np.float64)[good]
    known = np.isfinite(wl)
    if not known.any():
        return None
    gap = np.abs(wl[known] - float(nm))
    best = int(np.argmin(gap))
    return int(good[known][best]) if gap[best] <= within else None


def pick_rgb_bands(cube: Cube, wavelengths_nm: Sequence[float] = (640.0, 550.0, 470.0)) -> tuple[int, int, int]:
    """Indices (0-based, on the cube's band axis) of the bands shown as red, green, blue.

    The nearest good band to each requested wavelength. When no good band has a known
    wavelength, the good bands at positions ``n*3/4``, ``n/2`` and ``n/4`` of the ``n`` good
    bands are used as red, green and blue (band order usually follows wavelength).

    Raises:
        InvalidDataError: every band is flagged bad.
    """
    good = cube.hsi.good_band_indices
    if good.size == 0:
        raise InvalidDataError(f"{cube.attrs.get('source') or 'cube'}: every band is flagged bad; nothing to show")
    if np.isfinite(np.asarray(cube.hsi.wavelengths, dtype=np.float64)[good]).any():
        picks = [int(nearest_good_band(cube, t)) for t in wavelengths_nm]  # type: ignore[arg-type]
    else:
        n = good.size
        picks = [int(good[min(int(n * f), n - 1)]) for f in (0.75, 0.5, 0.25)]
    return picks[0], picks[1], picks[2]


def stretch_to_uint8(values: np.ndarray, valid: np.ndarray, stretch: tuple[float, float]) -> np.ndarray:
    """Linear percentile stretch of one channel to 0..255 (invalid pixels become 0).

    Args:
        values: ``(H, W)`` numbers.
        valid: ``(H, W)`` bool; percentiles use only these pixels.
        stretch: lower and upper percentile, e.g. ``(2, 98)``.

    Returns:
        ``(H, W)`` uint8.
    """
    vals = np.asarray(values, dtype=np.float64)
    ok = valid & np.isfinite(vals)
    out = np.zeros(vals.shape, dtype=np.uint8)
    if not ok.any():
        return out
    lo, hi = np.percentile(vals[ok], [stretch[0], stretch[1]])
    if hi <= lo:
        out[ok] = 128 if hi == lo else 0
        return out
    scaled = np.clip((vals - lo) / (hi - lo), 0.0, 1.0) * 255.0
    out[ok] = np.round(scaled[ok]).astype(np.uint8)
    return out


def rgb_composite(
    cube: Cube,
    wavelengths_nm: Sequence[float] = (640.0, 550.0, 470.0),
    stretch: tuple[float, float] = (2.0, 98.0),
) -> np.ndarray:
    """True-colour (or chosen-wavelength) composite of a cube, percentile-stretched.

    Args:
        cube: Cube ``(C, H, W)``; only the three chosen bands are read.
        wavelengths_nm: target centres for red, green, blue (see :func:`pick_rgb_bands`).
        stretch: percentiles mapped to 0 and 255, computed over valid pixels only.

    Returns:
        ``(H, W, 3)`` uint8; invalid pixels (no data, NaN) are black.
    """
    from hsi_app.local_reads import compute_here

    idx = list(pick_rgb_bands(cube, wavelengths_nm))
    # one pass (the chunks both need read once), in this process: not on a notebook's dask Client
    bands, valid = compute_here(cube.isel(band=idx).data, cube.hsi.valid.data)
    bands, valid = np.asarray(bands, dtype=np.float64), np.asarray(valid, dtype=bool)
    nodata = cube.hsi.nodata
    if nodata is not None:
        valid = valid & np.all(bands != nodata, axis=0)
    valid = valid & np.all(np.isfinite(bands), axis=0)
    return np.stack([stretch_to_uint8(b, valid, stretch) for b in bands], axis=-1)


def _figure(width_in: float, height_in: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_rgb_png(dst: str | os.PathLike[str], cube: Cube, **kwargs: Any) -> None:
    """Write :func:`rgb_composite` of ``cube`` as a PNG, one image pixel per cube pixel.

    Args:
        dst: output ``.png`` path.
        cube: Cube ``(C, H, W)``.
        **kwargs: ``wavelengths_nm`` / ``stretch`` for :func:`rgb_composite`.
    """
    from matplotlib.image import imsave

    rgb = rgb_composite(cube, **kwargs)
    with atomic_path(dst) as tmp:
        imsave(tmp, rgb, format="png")


def save_class_map_png(
    dst: str | os.PathLike[str],
    classes: np.ndarray,
    class_names: Sequence[str],
    colors: Any = None,
) -> None:
    """Draw a class map with a legend (class 0 is left blank) and save it as PNG.

    Args:
        dst: output ``.png`` path.
        classes: ``(H, W)`` integer class indices into ``class_names``.
        class_names: names for 0..K (index 0 = "unlabelled").
        colors: see :func:`as_palette`; ``None`` uses :func:`default_palette`.
    """
    from matplotlib.patches import Patch

    cls = np.asarray(classes)
    if cls.ndim != 2:
        raise InvalidDataError(f"{dst}: class map must be (H, W), got shape {cls.shape}")
    n = len(class_names)
    if cls.size and (cls.min() < 0 or cls.max() >= n):
        raise InvalidDataError(f"{dst}: class values must be in 0..{n - 1} (one name per class, 0 included)")
    pal = as_palette(colors, n)
    rgba = np.zeros((*cls.shape, 4), dtype=np.uint8)
    rgba[..., :3] = pal[cls]
    rgba[..., 3] = np.where(cls > 0, 255, 0)
    h, w = cls.shape
    scale = 8.0 / max(h, w, 1)
    fig = _figure(max(w * scale, 2.0) + 3.0, max(h * scale, 2.0) + 0.5)
    ax = fig.add_axes((0.02, 0.05, 0.65, 0.9))
    ax.imshow(rgba, interpolation="nearest")
    ax.set_axis_off()
    present = [int(c) for c in np.unique(cls) if c > 0]
    handles = [Patch(facecolor=pal[c] / 255.0, edgecolor="black", label=str(class_names[c])) for c in present]
    if handles:
        fig.legend(handles=handles, loc="center right", fontsize="small", frameon=False)
    with atomic_path(dst) as tmp:
        fig.savefig(tmp, format="png")


def confusion_title(oa: float, *, model: str | None = None, protocol: str | None = None, leaky: bool = False,
                    n: int | None = None) -> str:
    """The title of a run's or a map's confusion PNG: ``"svm on random:0.1 (LEAKY): OA 68.14% (486 test pixels)"``.

    ``(LEAKY)`` marks a leaky split's figure as its result line and ``metrics.json`` are marked, so the figure
    people paste says what its score is worth; without ``model``/``protocol`` (``hsi evaluate``): ``"OA 60.75%"``.
    """
    head = " on ".join(str(part) for part in (model, protocol) if part)
    head += " (LEAKY)" if leaky else ""
    text = f"OA {100 * float(oa):.2f}%"
    if n is not None:
        text += f" ({int(n)} test pixels)" if protocol else f" ({int(n)} reference pixels)"
    return f"{head}: {text}" if head else text


def save_confusion_png(dst: str | os.PathLike[str], matrix: np.ndarray, class_names: Sequence[str],
                       title: str | None = None) -> None:
    """Draw a confusion matrix (rows = reference, columns = predicted) and save it as PNG.

    Cells are coloured by row-normalised value (per-class recall) and annotated with the
    counts when there are at most 25 classes.

    Args:
        dst: output ``.png`` path.
        matrix: ``(K, K)`` counts.
        class_names: ``K`` names, or ``K + 1`` with "unlabelled" first (then dropped).
        title: drawn above the matrix and stored as the PNG's ``Title`` text (:func:`confusion_title`).
    """
    mat = np.asarray(matrix, dtype=np.float64)
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise InvalidDataError(f"{dst}: confusion matrix must be square (K, K), got shape {mat.shape}")
    k = mat.shape[0]
    names = list(class_names)
    if len(names) == k + 1:
        names = names[1:]
    if len(names) != k:
        raise InvalidDataError(f"{dst}: {len(class_names)} class names for a {k}x{k} matrix; pass {k} names")
    rows = mat.sum(axis=1, keepdims=True)
    norm = np.divide(mat, rows, out=np.zeros_like(mat), where=rows > 0)
    size = min(max(4.0, 0.45 * k + 2.5), 20.0)
    fig = _figure(size, size)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="row-normalised (recall)")
    ax.set_xticks(range(k), names, rotation=90, fontsize="small")
    ax.set_yticks(range(k), names, fontsize="small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    if title:
        ax.set_title(title, fontsize="small" if len(title) < 60 else "x-small", wrap=True)
    if k <= 25:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(round(mat[i, j]))}", ha="center", va="center", fontsize="x-small",
                        color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    with atomic_path(dst) as tmp:
        fig.savefig(tmp, format="png", metadata={"Title": title} if title else None)
