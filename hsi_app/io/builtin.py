"""Built-in scenes that need no download.

``indian_pines`` is the real AVIRIS Indian Pines scene (145 x 145 pixels, 200 bands after
water-absorption removal, 16 classes, 10,249 labelled pixels) that the ``tensorly``
package ships, with its labels and band centres, two of which are corrected: tensorly lists
0-based bands 170 and 171 at 2260.22 and 2270.15 nm, between 2202.30 and 2232.07 nm; they
are at 2212.22 and 2222.15 nm (:mod:`hsi_app.io.indian_pines_bands` says why).
"""

from __future__ import annotations

import numpy as np

from hsi_app.errors import DatasetNotFoundError
from hsi_app.io.cube import Cube, make_cube
from hsi_app.io.indian_pines_bands import corrected_centres

BUILTINS = ("indian_pines",)


def is_builtin(name: str) -> bool:
    """True when ``name`` is a built-in scene name."""
    return str(name).lower() in BUILTINS


def load_indian_pines() -> Cube:
    """The real Indian Pines scene from ``tensorly``.

    Band centres are tensorly's except 0-based bands 170 and 171: tensorly lists them at
    2260.22 and 2270.15 nm, out of order between 2202.30 (band 169) and 2232.07 nm (band 172)
    and 48.00 nm above where the even ~9.92 nm spacing of AVIRIS spectrometer D puts them;
    they get 2212.22 and 2222.15 nm (:func:`hsi_app.io.indian_pines_bands.corrected_centres`).
    Runs recorded with tensorly's list still match this scene (:func:`hsi_app.checkpoint.load_config`).

    Returns:
        Cube ``(200, 145, 145)`` float32 with wavelengths (nm), labels (0..16) and class
        names, 20 m ground sampling distance, pixel coordinates (the public file has no CRS).
    """
    from hsi_app.data.catalog import get_dataset

    try:
        from tensorly.datasets import load_indian_pines as _load
    except ImportError as err:  # pragma: no cover - tensorly is a declared dependency
        raise DatasetNotFoundError(
            "indian_pines: the tensorly package is missing; run `make install` or pip install tensorly"
        ) from err
    bunch = _load()
    image = np.asarray(bunch.tensor, dtype=np.float32).transpose(2, 0, 1)
    labels = np.asarray(bunch.ticks[0]).astype(np.int32)
    wavelengths = np.asarray(bunch.ticks[1], dtype=np.float64)
    corrected = corrected_centres(wavelengths)  # None: a tensorly that already lists them right
    if corrected is not None:
        wavelengths = corrected
    entry = get_dataset("indian_pines")
    return make_cube(
        np.ascontiguousarray(image),
        wavelength=wavelengths,
        labels=labels,
        class_names=["unlabelled", *entry.class_names],
        fmt="builtin",
        source="indian_pines",
        attrs={"dataset": "indian_pines", "gsd_m": entry.gsd_m},
    )


def load_builtin(name: str) -> Cube:
    """Load a built-in scene by name (see :data:`BUILTINS`)."""
    key = str(name).lower()
    if key == "indian_pines":
        return load_indian_pines()
    raise DatasetNotFoundError(f"{name}: not a built-in scene; built-ins: {', '.join(BUILTINS)}")
