"""Band-axis helpers for figures and experiments on any scene (the notebooks use them).

A user's scene may lack wavelengths (a plain multi-band GeoTIFF), flag bands bad (ENVI ``bbl``,
EnMAP water-vapour bands) or hold no-data pixels (swath edges, EnMAP clouds once masked). These
functions say what to plot against, which band to show for a wavelength and which pixel has data,
and give finite values to methods that refuse NaN, so that a notebook written on Indian Pines runs on such a scene too.
"""

from __future__ import annotations

import numpy as np

from hsi_app.errors import InvalidDataError
from hsi_app.io.cube import Cube, check_is_cube, scene_name
from hsi_app.tasks.denoise_fill import fill_no_data


def band_axis(cube: Cube) -> tuple[np.ndarray, str]:
    """What to plot per-band values against: ``(C,)`` wavelengths in nm and ``"wavelength (nm)"`` when
    every band has one, else band numbers ``1..C`` and ``"band"`` (a scene without wavelengths would
    otherwise give an empty plot: every x NaN)."""
    check_is_cube(cube, "band_axis")
    wl = np.asarray(cube.hsi.wavelengths, dtype=np.float64)
    if wl.size and np.isfinite(wl).all():
        return wl, "wavelength (nm)"
    return np.arange(1, wl.size + 1, dtype=np.float64), "band"


def nearest_band(cube: Cube, nm: float, within: float) -> int | None:
    """The 0-based index of the good band whose centre is nearest ``nm``, if it is within ``within`` nm.

    ``None`` when the scene has no wavelengths or no good band that close (a VNIR-only scene has no
    band near 1650 nm): the caller then says so instead of showing another band under that name.
    """
    from hsi_app.io.quicklook import nearest_good_band

    check_is_cube(cube, "nearest_band")
    return nearest_good_band(cube, nm, within)


def good_band_values(cube: Cube) -> tuple[Cube, np.ndarray, np.ndarray]:
    """The scene's good bands with finite values, for methods that refuse NaN (PCA/MNF denoising).

    Returns:
        ``(good, values, scored)``: the Cube of the bands not flagged bad (``(C', H, W)``), its values
        ``(C', H, W)`` float32 with every no-data entry set to that band's median over the valid
        pixels as ``hsi denoise --fill-nan`` fills them (:func:`~hsi_app.tasks.denoise_fill.fill_no_data`), and the ``(H, W)`` bool mask of the pixels valid and finite in every good band (score
        only those: the filled ones are no measurement).

    Raises:
        InvalidDataError: every band is flagged bad, or no pixel is valid.
    """
    check_is_cube(cube, "good_band_values")
    idx = cube.hsi.good_band_indices
    if idx.size == 0:
        raise InvalidDataError(f"{scene_name(cube, 'cube')}: every band is flagged bad; no values to use")
    good = cube.isel(band=idx)
    values, valid = good.hsi.read_masked()  # (C', H, W) float32, no data NaN
    scored = valid & np.isfinite(values).all(axis=0)
    if not scored.any():
        raise InvalidDataError(f"{scene_name(cube, 'cube')}: no pixel holds data in every good band; "
                               "open another window of the scene")
    return good, fill_no_data(values), scored


def nearest_valid_pixel(valid: np.ndarray, row: int, col: int) -> tuple[int, int]:
    """The pixel of ``valid`` ``(H, W)`` bool nearest ``(row, col)`` (itself when valid), so that a figure of
    "the centre pixel" shows a spectrum and not an EnMAP cloud or a swath edge masked as no data.

    Raises:
        InvalidDataError: no pixel is valid.
    """
    rows, cols = np.nonzero(np.asarray(valid, dtype=bool))
    if rows.size == 0:
        raise InvalidDataError("no valid pixel: every pixel is no data (or masked); open another window of the scene")
    best = int(np.argmin((rows - int(row)) ** 2 + (cols - int(col)) ** 2))
    return int(rows[best]), int(cols[best])
