"""Indian Pines band centres: tensorly's two mislabelled bands (170, 171) are corrected wherever a scene is made."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tif_writer import write_tif

from hsi_app.io.cube import make_cube
from hsi_app.io.indian_pines_bands import CORRECTED_NM, TENSORLY_NM, corrected_centres

SPECTROMETER_OVERLAPS = [30, 93]
"""0-based bands after which AVIRIS's centres really step back (spectrometers A/B and B/C overlap)."""


def test_the_builtin_scene_has_the_corrected_centres() -> None:
    from hsi_app.io import open_cube

    wl = open_cube("indian_pines").hsi.wavelengths
    np.testing.assert_allclose(wl[168:174], [2192.37, 2202.30, 2212.22, 2222.15, 2232.07, 2241.99])
    assert list(np.flatnonzero(np.diff(wl) <= 0)) == SPECTROMETER_OVERLAPS
    np.testing.assert_allclose(np.diff(wl[160:200]), 9.9, atol=0.1)  # spectrometer D: evenly spaced


def test_the_lists_are_tensorlys_and_the_catalogs() -> None:
    """TENSORLY_NM is what tensorly ships; the catalog (the .mat download's centres) lists the corrected ones."""
    from tensorly.datasets import load_indian_pines

    from hsi_app.data.catalog import default_wavelengths, get_dataset

    assert tuple(float(v) for v in load_indian_pines().ticks[1]) == TENSORLY_NM
    assert tuple(default_wavelengths(get_dataset("indian_pines"))) == CORRECTED_NM
    moved = [i for i, (a, b) in enumerate(zip(TENSORLY_NM, CORRECTED_NM, strict=True)) if a != b]
    assert moved == [170, 171]
    np.testing.assert_allclose(np.subtract(TENSORLY_NM, CORRECTED_NM)[moved], 48.0)


def test_corrected_centres_recognises_tensorlys_list_only() -> None:
    np.testing.assert_array_equal(corrected_centres(TENSORLY_NM), CORRECTED_NM)
    np.testing.assert_array_equal(corrected_centres(np.float32(TENSORLY_NM)), CORRECTED_NM)  # float32 tags
    assert corrected_centres(CORRECTED_NM) is None  # already right
    other = np.array(TENSORLY_NM)
    other[5] += 0.5
    assert corrected_centres(other) is None  # another sensor's list
    assert corrected_centres([*TENSORLY_NM[:199], None]) is None
    assert corrected_centres(TENSORLY_NM[:150]) is None  # 150 bands, not a band list of Indian Pines


def test_corrected_centres_of_a_band_subset() -> None:
    """A run's bands: ``band_indices`` into the 200-band scene say which centres are tensorly's."""
    idx = [3, 169, 170, 171, 199]
    picked = [TENSORLY_NM[i] for i in idx]
    np.testing.assert_array_equal(corrected_centres(picked, idx, 200), [CORRECTED_NM[i] for i in idx])
    assert corrected_centres([TENSORLY_NM[i] for i in (3, 172)], [3, 172], 200) is None  # nothing to move
    assert corrected_centres(picked, idx, 220) is None  # not the 200-band scene
    assert corrected_centres(picked, [3, 169, 170, 172, 199], 200) is None  # centres not tensorly's for those bands


def test_make_cube_corrects_a_scene_file_written_with_tensorlys_list(tmp_path: Path) -> None:
    """A GeoTIFF written from the built-in scene by an older version (``write_cube``, ``hsi simulate-targets``)."""
    from hsi_app.io import open_cube

    data = np.random.default_rng(0).uniform(0, 1, (200, 4, 5)).astype(np.float32)
    path = write_tif(tmp_path / "old_export.tif", data, np.asarray(TENSORLY_NM))
    np.testing.assert_array_equal(open_cube(path).hsi.wavelengths, CORRECTED_NM)
    np.testing.assert_array_equal(make_cube(data, wavelength=TENSORLY_NM).hsi.wavelengths, CORRECTED_NM)


@pytest.mark.parametrize("wavelengths", [None, np.linspace(400, 2500, 200)])
def test_make_cube_keeps_other_lists(wavelengths: np.ndarray | None) -> None:
    data = np.zeros((200, 2, 2), np.float32)
    got = make_cube(data, wavelength=wavelengths).hsi.wavelengths
    np.testing.assert_array_equal(got, np.full(200, np.nan) if wavelengths is None else wavelengths)
