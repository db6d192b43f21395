"""make_split from a notebook: a label raster read as float works; a cube's missing labels say so."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.data.splits import make_split
from hsi_app.errors import LabelError
from hsi_app.io import make_cube


def _labels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 4, (20, 30))


def test_whole_number_float_labels_split_like_their_integers() -> None:
    labels = _labels()
    as_int = make_split(labels, "random:0.2", seed=3)
    as_float = make_split(labels.astype(np.float32), "random:0.2", seed=3)  # e.g. a GeoTIFF label band read as float
    np.testing.assert_array_equal(as_float.train, as_int.train)
    np.testing.assert_array_equal(as_float.test, as_int.test)
    with pytest.raises(LabelError, match=r"^labels: fractional, NaN or inf values; class ids are whole numbers"):
        make_split(labels + 0.5, "random:0.2")
    nan = labels.astype(float)
    nan[0, 0] = np.nan
    with pytest.raises(LabelError, match=r"fractional, NaN or inf"):
        make_split(nan, "random:0.2")


def test_labels_of_a_cube_without_labels() -> None:
    cube = make_cube(np.ones((3, 20, 30), np.float32), wavelength=[500.0, 600.0, 700.0])
    assert cube.hsi.labels is None
    with pytest.raises(LabelError, match=r"^labels: None \(cube\.hsi\.labels of a cube without labels\?\); .*"
                                         r"cube\.hsi\.with_labels\(labels\)"):
        make_split(cube.hsi.labels, "random:0.2")
    split = make_split(cube.hsi.with_labels(_labels()).hsi.labels, "random:0.2")  # the fix it names
    assert split.n_train > 0 and split.n_test > 0
