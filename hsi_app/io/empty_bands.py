"""Bands that hold no data at any pixel: flagged bad when that is why no pixel is valid.

A pixel is valid when every good band holds a measurement (:func:`~hsi_app.io.cube.valid_from_data`),
so one band that is no-data (or NaN) everywhere, such as a water-vapour band a GDAL export kept
as fill, leaves no valid pixel at all. The EnMAP reader finds such bands in its scan at open, and
ENVI's ``bbl`` can name them; other files are not scanned at open (opening stays lazy). Instead, a
command that finds no valid pixel calls :func:`flag_empty_bands`: one pass over the scene, band by
band, and, when some bands hold no data anywhere, the cube with them flagged bad (``bad_band``, as
a bad-band list would) and one warning naming them. Where that cannot be done, one error line names
them (:func:`flag_empty_bands`, :func:`empty_bands_note`) and the fix.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from hsi_app.errors import HSIWarning, InvalidDataError
from hsi_app.io.band_labels import band_list
from hsi_app.io.cube import MASK_PREFIX, Cube, band_has_data, mark_valid_derived, scene_name, valid_from_data
from hsi_app.local_reads import reads_in_this_thread

EMPTY_ATTR = "empty_bands"
"""``attrs`` entry: numbers (the ``band`` coordinate) of the bands :func:`flag_empty_bands` flagged."""
PROBE_PX = 256  # side of the central window :func:`with_empty_bands_flagged` reads first
PROBED_ATTR = "empty_bands_probed"
"""``attrs`` entry: ``[height, width]`` of a scene whose empty bands were already looked for (:func:`mark_probed`)."""


def empty_bands(cube: Cube) -> np.ndarray:
    """``(E,)`` 0-based indices of the cube's good bands that hold no measurement at any pixel.

    One pass over the data (window by window for a lazy cube), by the rule of
    :func:`~hsi_app.io.cube.valid_from_data` applied to each band alone.
    """

    good = cube.hsi.good_band_indices
    if good.size == 0:
        return good
    data = cube.data[good] if good.size != cube.sizes["band"] else cube.data
    has = band_has_data(data, cube.hsi.nodata)
    if not isinstance(has, np.ndarray):
        with reads_in_this_thread():  # one (C, chunk, chunk) block in memory at a time
            has = has.compute()
    return good[~np.asarray(has, dtype=bool)]


def _named(cube: Cube, empty: np.ndarray) -> str:
    """``"band 6 (740 nm)"`` for 0-based band positions ``empty`` of ``cube``."""
    return band_list(cube.band.values[empty], cube.hsi.wavelengths[empty])


def _limited(cube: Cube) -> bool:
    """Whether the cube's valid mask holds more than its values say (an alpha band, a GDAL mask, quality
    masks), so that it cannot be made again from the values alone."""
    return bool(cube.attrs.get("alpha_bands") or cube.attrs.get("dataset_mask")
                or any(str(k).startswith(MASK_PREFIX) for k in cube.coords))


def flag_empty_bands(cube: Cube, *, warn: bool = True) -> Cube | None:
    """The cube with its good bands that hold no data anywhere flagged bad, and its valid mask made
    again without them (lazily); one :class:`~hsi_app.errors.HSIWarning` names them (number and
    wavelength), unless ``warn`` is False (the caller says it once, :func:`flagged_note`). Call it
    where no pixel is valid: it reads the scene once.

    Returns:
        The flagged cube (``attrs["empty_bands"]`` lists the flagged band numbers), or ``None`` when
        no band is empty, or every good band is (the scene holds no data: the caller's error stands).

    Raises:
        InvalidDataError: some bands are empty but the valid mask holds more than the values say
            (an alpha band, a GDAL mask, quality masks), so it cannot be made again without them:
            one line naming the bands and the fix.
    """
    empty = empty_bands(cube)
    good = cube.hsi.good_band_indices
    if empty.size == 0 or empty.size == good.size:
        return None
    source = scene_name(cube, "the scene")
    n = int(empty.size)
    said = f"{_named(cube, empty)} {'holds' if n == 1 else 'hold'} no data at any pixel (no-data or NaN everywhere)"
    if _limited(cube):
        raise InvalidDataError(f"{source}: {said}, so no pixel is valid; drop {'it' if n == 1 else 'them'} from the "
                               "file (e.g. gdal_translate with -b for each other band) or flag them in a bad-band list")
    bad = cube.hsi.bad_band_mask
    bad[empty] = True
    valid = valid_from_data(cube.data, cube.hsi.nodata, bad)
    out = cube.assign_coords(bad_band=("band", bad), valid=(("y", "x"), valid))
    numbers = [int(v) for v in cube.band.values[empty]]
    out.attrs = {**cube.attrs, EMPTY_ATTR: [*cube.attrs.get(EMPTY_ATTR, []), *numbers]}
    mark_valid_derived(out, cube.hsi.nodata, bad)  # the new mask is what the values say: windows read only themselves
    if warn:
        warnings.warn(_flagged_message(out, empty), HSIWarning, stacklevel=2)
    return out


def unflag_empty_bands(cube: Cube) -> Cube:
    """``cube`` with the bands :func:`flag_empty_bands` flagged bad good again and its valid mask made again from
    its values (lazily): the scene as its file gives it, for a caller holding a flagged cube that needs every band
    (the viewer's denoise tab, whose scene was flagged at open, with a denoiser with fixed bands). ``cube`` itself
    when none was flagged.

    :func:`flag_empty_bands` flags only cubes whose valid mask is what their values say, so the mask made again
    is the one they were read with.
    """
    empty = empty_band_numbers(cube)
    if not empty.any():
        return cube
    bad = cube.hsi.bad_band_mask
    bad[empty] = False
    out = cube.assign_coords(bad_band=("band", bad), valid=(("y", "x"), valid_from_data(cube.data, cube.hsi.nodata, bad)))
    out.attrs = {k: v for k, v in cube.attrs.items() if k not in (EMPTY_ATTR, PROBED_ATTR)}
    mark_valid_derived(out, cube.hsi.nodata, bad)
    return out


def _flagged_message(flagged: Cube, empty: np.ndarray) -> str:
    """The warning line for the bands at positions ``empty`` of the ``flagged`` cube (flagged bad in it)."""
    n = int(empty.size)
    return (f"{flagged.attrs.get('source') or 'the scene'}: {_named(flagged, empty)} {'holds' if n == 1 else 'hold'} "
            "no data at any pixel (no-data or NaN everywhere), so no pixel was valid; flagged bad, as a bad-band list "
            f"would, and the other {flagged.hsi.good_band_indices.size} bands are used")


def flagged_note(cube: Cube) -> str | None:
    """The warning of :func:`flag_empty_bands` for the bands it flagged in ``cube`` (``None``: none flagged), for
    a caller that flags without warning and says it once itself (``hsi batch``: once per file, whichever
    workers opened it)."""
    empty = np.flatnonzero(empty_band_numbers(cube))
    return None if empty.size == 0 else _flagged_message(cube, empty)


def empty_bands_note(cube: Cube) -> str | None:
    """``"band 6 (740 nm) holds no data at any pixel, so no pixel is valid"`` when that is why, else ``None``
    (one pass, as :func:`empty_bands`), for the error of a caller that cannot carry on without them."""
    empty = empty_bands(cube)
    if empty.size == 0 or empty.size == cube.hsi.good_band_indices.size:
        return None
    verb = "holds" if empty.size == 1 else "hold"
    return f"{_named(cube, empty)} {verb} no data at any pixel, so no pixel is valid"


def with_empty_bands_flagged(cube: Cube, *, warn: bool = True) -> Cube:
    """``cube``, or, when a central window of at most :data:`PROBE_PX` px holds no valid pixel and some
    bands hold no data anywhere, the cube with them flagged (:func:`flag_empty_bands`, which warns unless
    ``warn`` is False).

    For commands that stream a scene window by window and would find out only at its end that no
    pixel is valid (``hsi predict``, ``hsi batch``): a band with no data anywhere leaves no valid
    pixel in any window, so one window read tells whether the pass over the bands is worth making.
    The window sits inside the storage chunk at the scene's centre, so a lazy file reads one chunk.
    """

    from hsi_app.infer import chunk_windows, read_window

    windows = chunk_windows(cube, PROBE_PX, 3)
    with reads_in_this_thread():  # in this thread, also inside a batch worker's task
        if read_window(cube, windows[len(windows) // 2])[1].any():
            return cube
    flagged = flag_empty_bands(cube, warn=warn)
    return cube if flagged is None else flagged


def mark_probed(cube: Cube) -> Cube:
    """Mark ``cube`` (in place, and return it) as looked at for empty bands (:func:`with_empty_bands_flagged` ran
    on it), so that a command given it later does not probe, and maybe scan, the scene again (``hsi batch`` opens
    each scene so, then ``hsi denoise``'s :func:`~hsi_app.tasks.denoise_scene.probe_empty_bands` skips it)."""
    _, h, w = cube.shape
    cube.attrs[PROBED_ATTR] = [int(h), int(w)]
    return cube


def was_probed(cube: Cube) -> bool:
    """Whether :func:`mark_probed` marked ``cube`` at its present height and width (a crop of it is not marked)."""
    _, h, w = cube.shape
    return [int(v) for v in cube.attrs.get(PROBED_ATTR, ())] == [int(h), int(w)]


def empty_band_numbers(cube: Cube) -> np.ndarray:
    """``(C,)`` bool: the cube's bands that :func:`flag_empty_bands` flagged (by band number, so slices keep them)."""
    flagged: Any = cube.attrs.get(EMPTY_ATTR, [])
    return np.isin(cube.band.values, np.asarray(flagged, dtype=np.int64))
