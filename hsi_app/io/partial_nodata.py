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
from hsi_app.io.percent import share

WARN_FRACTION = 0.01
"""Share of the pixels looked at, holding the no-data value in only some bands, from which it is warned about."""
BANDS_NAMED = 3
"""The bands a message names: those holding the value at the most such pixels."""
NODATA_NOTE_ATTR = "nodata_note"
"""Cube attr a reader sets when its no-data value is fixed by the format and never a real value (EnMAP L2A's
-32768): what :func:`describe` says instead of the fix (unsetting the file's no-data value changes nothing there)."""


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


def count_partial(data: Any, nodata: float, good: np.ndarray) -> tuple[Any, Any, Any]:
    """The pixels holding ``nodata`` in some good bands and a measurement in another, lazily for dask.

    The good bands are compared with ``nodata`` once; an integer array's measurements are then the other values
    (:func:`~hsi_app.io.cube.measured_mask`'s rule: floats also need to be finite and below the fill limit).
    No ``(C, ...)`` copy of the good bands is made when every band is good.

    Args:
        data: ``(C, ...)`` raw stored values (numpy or dask), every band, before any masking (a pixel made
            NaN in every band by :meth:`~hsi_app.io.cube.HSIAccessor.read_masked` would hide what this counts).
        nodata: the numeric no-data value; NaN for a float cube decoded from an integer file whose reader made
            the file's no-data value NaN (:func:`hsi_app.io.summary.stored_fill`): NaN then marks that value.
        good: ``(C,)`` bool: the good bands (bad bands are not counted).

    Returns:
        ``(pixels, band_pixels, all_measured)`` of the array's library: the count (0-d), ``(C_good,)`` per good
        band, and ``(...)`` bool, every good band a measurement (:func:`~hsi_app.io.cube.valid_from_data`'s mask).
    """
    from hsi_app.io.cube import measured_mask

    sub = data if good.all() else data[good]
    missing = np.isnan(sub) if np.isnan(nodata) else sub == nodata  # NaN: a decoded integer file's fill
    some_missing = missing.any(axis=0)
    if np.issubdtype(sub.dtype, np.floating) and not np.isnan(nodata):
        measured = measured_mask(sub, nodata)
        some_measured, all_measured = measured.any(axis=0), measured.all(axis=0)
    else:  # an integer (also one decoded to float, NaN its no-data value) is a measurement unless it is the no-data value
        some_measured, all_measured = ~missing.all(axis=0), ~some_missing
    partial = some_missing & some_measured
    return partial.sum(), _band_counts(missing & partial[None]), all_measured


def _band_counts(mask: Any) -> Any:
    """``(C,)`` int64 True elements of each band of a ``(C, ...)`` bool array (numpy or dask, lazily): counted band by
    band with ``np.count_nonzero`` (4x quicker than ``mask.sum(axis=(1, 2))``, which adds them as integers)."""
    if isinstance(mask, np.ndarray):
        return _block_counts(mask).reshape(-1)
    ones = tuple((1,) * len(c) for c in mask.chunks[1:])
    counts = mask.map_blocks(_block_counts, chunks=(mask.chunks[0], *ones), dtype=np.int64)
    return counts.sum(axis=tuple(range(1, mask.ndim)))


def _block_counts(block: np.ndarray) -> np.ndarray:
    """``(c, 1, ...)`` int64: the True elements of each band of a ``(c, ...)`` bool block."""
    out = np.fromiter((np.count_nonzero(b) for b in block), dtype=np.int64, count=block.shape[0])
    return out.reshape((-1,) + (1,) * (block.ndim - 1))


def report(pixels: Any, band_pixels: Any, looked: int, good: np.ndarray) -> PartialNodata:
    """A :class:`PartialNodata` from :func:`count_partial`'s computed counts, ``band_pixels`` back on all bands."""
    per_band = np.zeros(good.size, dtype=np.int64)
    per_band[good] = np.asarray(band_pixels, dtype=np.int64)
    return PartialNodata(int(pixels), int(looked), per_band)


def of_stored(raw: np.ndarray, nodata: float | None, bad_band: np.ndarray) -> PartialNodata | None:
    """:class:`PartialNodata` of ``(C, ...)`` raw stored values (the windows of the units sample,
    :func:`hsi_app.value_range.units_sample`, read once for the units check too); None when ``nodata`` is None.
    NaN marks a decoded integer file's fill (:func:`hsi_app.io.summary.counted_nodata` says which value to pass).

    Counted from the stored values, not from the NaN-masked ones: :func:`hsi_app.infer.read_window` makes every
    band of an invalid pixel NaN, which hides what this counts."""
    if nodata is None:
        return None
    good = ~np.asarray(bad_band, dtype=bool)
    pixels, per_band, _ = count_partial(raw, nodata, good)
    return report(pixels, per_band, int(np.prod(raw.shape[1:])), good)


def describe(found: PartialNodata, nodata: float, wavelengths: np.ndarray, band_numbers: np.ndarray, *,
             sampled: bool = False, note: str | None = None) -> str:
    """``"3.20% of pixels (320 of 10,000) hold the no-data value 0 in only some bands, most in band 187 (2490 nm);
    those pixels are no-data everywhere: if 0 is a real value there, unset the file's no-data value ..."``.

    Args:
        found: the counts.
        nodata: the no-data value.
        wavelengths: ``(C,)`` band centres in nm (NaN when unknown).
        band_numbers: ``(C,)`` 1-based band numbers (``cube.band``).
        sampled: the counts are of a sample (said so).
        note: the reader's :data:`NODATA_NOTE_ATTR` (the value is the format's fill, never a real value): said
            instead of the fix, which would not apply.
    """
    worst = found.worst_bands()
    where = f", most in {band_list(band_numbers[worst], wavelengths[worst])}" if worst.size else ""
    of = "sampled pixels" if sampled else "pixels"
    value = f"{nodata:g}"
    said = (f"{share(found.pixels, found.looked)} of {of} ({found.pixels:,} of {found.looked:,}) hold the no-data "
            f"value {value} in only some bands{where}; those pixels are no-data everywhere")
    if note:
        return f"{said} ({note})"
    return (f"{said}: if {value} is a real value there, unset the file's no-data value (gdal_edit.py -unsetnodata "
            f"FILE; for ENVI, delete 'data ignore value' from the .hdr) or set it to the real fill value")
