"""Pixels that hold the no-data value in only some bands: a no-data value that is also a real value.

A pixel is valid only when every good band holds a measurement (:func:`~hsi_app.io.cube.valid_from_data`).
A file whose declared no-data value (often 0) also occurs as a real value in some bands (reflectance clipped
at 0 in the water-vapour bands, zero counts in a dark band) therefore loses every pixel where one band holds
it, with no error: those pixels are no-data in every map, training set and score. A real fill (outside the
swath, a failed tile) holds the value in every band. :func:`count_partial` counts the pixels that hold it in
some good bands and a measurement in another, and how many of them each band accounts for; ``hsi info``
reports them (:mod:`hsi_app.io.summary`) and the classifier warns from its units sample
(:meth:`hsi_app.predictor.Predictor.check_scene_units`) when they are :data:`WARN_FRACTION` of it or more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hsi_app.io.band_labels import band_list

WARN_FRACTION = 0.01
"""Share of the pixels looked at, holding the no-data value in only some bands, from which it is warned about."""
BANDS_NAMED = 3
"""The bands a message names: those holding the value at the most such pixels."""


@dataclass(frozen=True)
class PartialNodata:
    """Pixels holding the no-data value in some good bands and a measurement in another.

    Attributes:
        pixels: how many such pixels.
        looked: pixels looked at (the scene, or a sample of it).
        band_pixels: ``(C,)`` of those pixels, how many hold the no-data value in each band (0 for bad bands).
    """

    pixels: int
    looked: int
    band_pixels: np.ndarray

    @property
    def fraction(self) -> float:
        """``pixels / looked`` (0 when nothing was looked at)."""
        return self.pixels / self.looked if self.looked else 0.0

    def worst_bands(self, limit: int = BANDS_NAMED) -> np.ndarray:
        """0-based indices of the bands holding the value at the most such pixels (most first), up to ``limit``."""
        order = np.argsort(-self.band_pixels, kind="stable")[:limit]
        return order[self.band_pixels[order] > 0]


def count_partial(missing: Any, measured: Any, good: np.ndarray) -> tuple[Any, Any]:
    """The pixels holding no data in some good bands and a measurement in another, lazily for dask.

    Args:
        missing: ``(C, ...)`` bool (numpy or dask): the value is the no-data value (or NaN in a read
            window, which holds no data as NaN).
        measured: ``(C, ...)`` bool of the same shape: the value is a measurement.
        good: ``(C,)`` bool: the good bands (bad bands are not counted).

    Returns:
        ``(pixels, band_pixels)``: the count (0-d) and ``(C_good,)`` per good band, of the array's library.
    """
    sub_missing, sub_measured = missing[good], measured[good]
    partial = sub_missing.any(axis=0) & sub_measured.any(axis=0)
    axes = tuple(range(1, sub_missing.ndim))
    return partial.sum(), (sub_missing & partial[None]).sum(axis=axes)


def report(pixels: Any, band_pixels: Any, looked: int, good: np.ndarray) -> PartialNodata:
    """A :class:`PartialNodata` from :func:`count_partial`'s computed counts, ``band_pixels`` back on all bands."""
    per_band = np.zeros(good.size, dtype=np.int64)
    per_band[good] = np.asarray(band_pixels, dtype=np.int64)
    return PartialNodata(int(pixels), int(looked), per_band)


def of_values(values: np.ndarray, bad_band: np.ndarray) -> PartialNodata:
    """:class:`PartialNodata` of ``(C, ...)`` values whose no data is NaN, band by band (not pixel by pixel:
    :func:`hsi_app.infer.read_window` makes every band of an invalid pixel NaN, which hides what this counts)."""
    finite = np.isfinite(values)
    good = ~np.asarray(bad_band, dtype=bool)
    pixels, per_band = count_partial(~finite, finite, good)
    return report(pixels, per_band, int(np.prod(values.shape[1:])), good)


def sample_partial(cube: Any) -> PartialNodata | None:
    """:class:`PartialNodata` of the windows of the units sample (:func:`~hsi_app.value_range.sample_windows`,
    aligned to storage blocks, so their blocks are read again from GDAL's cache), read as stored; None when
    ``cube`` has no numeric no-data value."""
    from hsi_app.io.cube import measured_mask
    from hsi_app.local_reads import reads_in_this_thread
    from hsi_app.value_range import sample_windows

    nodata = cube.hsi.nodata
    if nodata is None or np.isnan(nodata):
        return None
    c, h, w = cube.hsi.shape
    good = np.ones(c, dtype=bool)
    good[cube.hsi.bad_bands] = False
    pixels, per_band, looked = 0, np.zeros(int(good.sum()), dtype=np.int64), 0
    with reads_in_this_thread():
        for win in sample_windows(h, w):
            raw = np.asarray(cube.isel(y=slice(win.row, win.row + win.height),
                                       x=slice(win.col, win.col + win.width)).data)
            n, per = count_partial(raw == nodata, measured_mask(raw, nodata), good)
            pixels, per_band, looked = pixels + int(n), per_band + per, looked + win.height * win.width
    return report(pixels, per_band, looked, good)


def describe(found: PartialNodata, nodata: float, wavelengths: np.ndarray, band_numbers: np.ndarray, *,
             sampled: bool = False) -> str:
    """``"3.20% of pixels (320 of 10,000) hold the no-data value 0 in only some bands, most in band 187 (2490 nm);
    those pixels are no-data everywhere: if 0 is a real value there, unset the file's no-data value ..."``.

    Args:
        found: the counts.
        nodata: the no-data value.
        wavelengths: ``(C,)`` band centres in nm (NaN when unknown).
        band_numbers: ``(C,)`` 1-based band numbers (``cube.band``).
        sampled: the counts are of a sample (said so).
    """
    worst = found.worst_bands()
    where = f", most in {band_list(band_numbers[worst], wavelengths[worst])}" if worst.size else ""
    of = "sampled pixels" if sampled else "pixels"
    value = f"{nodata:g}"
    return (f"{100 * found.fraction:.2f}% of {of} ({found.pixels:,} of {found.looked:,}) hold the no-data value "
            f"{value} in only some bands{where}; those pixels are no-data everywhere: if {value} is a real value "
            f"there, unset the file's no-data value (gdal_edit.py -unsetnodata FILE; for ENVI, delete 'data ignore "
            f"value' from the .hdr) or set it to the real fill value")
