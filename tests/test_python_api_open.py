"""open_cube as a notebook calls it: a built-in scene named by a pathlib.Path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hsi_app.io import open_cube


def test_a_builtin_name_as_a_path_opens_the_builtin_scene(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """`open_cube(Path("indian_pines"))` (notebooks build paths with pathlib) was refused with 'pass indian_pines',
    the name it had been given."""
    monkeypatch.chdir(tmp_path)
    by_name, by_path = open_cube("indian_pines"), open_cube(Path("indian_pines"))
    assert by_path.shape == by_name.shape == (200, 145, 145)
    np.testing.assert_array_equal(by_path.hsi.wavelengths, by_name.hsi.wavelengths)
    np.testing.assert_array_equal(by_path.hsi.labels, by_name.hsi.labels)
    np.testing.assert_array_equal(by_path[:, 70:72, 70:72].values, by_name[:, 70:72, 70:72].values)
