"""cube.hsi.bad_band_mask is a copy for a cube with bad-band flags too (mutation audit s57: only a DataArray without
the flags, whose all-good mask is new on every call, was tested)."""

from __future__ import annotations

import numpy as np

from hsi_app.io.cube import make_cube


def test_changing_the_mask_leaves_the_cubes_flags_and_good_bands_as_they_were() -> None:
    data = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    cube = make_cube(data, wavelength=[450.0, 550.0, 650.0, 750.0], bad_bands=[2])
    mask = cube.hsi.bad_band_mask
    assert mask.tolist() == [False, False, True, False]
    mask[:] = True  # a caller marking bands of its own, or numpy's in-place ops on the result
    assert cube.hsi.bad_bands == [2]
    assert cube.hsi.good_band_indices.tolist() == [0, 1, 3]
    assert cube.coords["bad_band"].values.tolist() == [False, False, True, False]
    np.testing.assert_array_equal(cube.hsi.good_bands().values, data[[0, 1, 3]])


def test_the_mask_of_a_dataarray_without_flags_has_one_entry_per_band() -> None:
    import xarray as xr

    bare = xr.DataArray(np.ones((5, 2, 2), np.float32), dims=("band", "y", "x"))
    assert bare.hsi.bad_band_mask.tolist() == [False] * 5
    assert bare.isel(band=slice(1, 4)).hsi.bad_band_mask.shape == (3,)
