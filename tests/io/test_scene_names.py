"""Messages name a cube made in memory by its role (scene_name), not by its empty ``source``: they began ': ...'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hsi_app.errors import InvalidDataError, LabelError


def _in_memory(data: np.ndarray | None = None):  # noqa: ANN202 - a Cube
    from hsi_app.io.cube import make_cube

    data = np.random.default_rng(0).random((3, 6, 7)).astype(np.float32) if data is None else data
    cube = make_cube(data, wavelength=[500.0, 600.0, 700.0])
    assert cube.attrs.get("source") == ""
    return cube


def test_a_split_of_an_in_memory_cube_without_labels_names_it_input() -> None:
    from hsi_app.tasks.train_classifier import protocol_split

    with pytest.raises(LabelError) as err:
        protocol_split(_in_memory(), "random:0.1")
    assert str(err.value).startswith("input: no labels; pass --labels")


def test_the_guide_of_an_all_no_data_in_memory_cube_names_it_input() -> None:
    from hsi_app.tasks.prob_smoothing import fit_guide

    with pytest.raises(InvalidDataError) as err:
        fit_guide(_in_memory(np.full((3, 6, 7), np.nan, np.float32)))
    assert str(err.value).startswith("input: every pixel is no-data")


def test_the_viewer_names_an_in_memory_scene_and_a_file_by_its_name(tmp_path: Path) -> None:
    """The Markdown began '****: 6 × 7 px' (an empty bold name) for a cube made in Python."""
    from hsi_app.io.cog import write_cube
    from hsi_app.io.open import open_cube
    from hsi_app.viewer.scene import describe_scene

    cube = _in_memory()
    assert describe_scene(cube).startswith("**scene**: 6 × 7 px, 3 bands")
    from rasterio.transform import from_origin

    from hsi_app.io.cube import make_cube

    geo = make_cube(cube.values, wavelength=[500.0, 600.0, 700.0], transform=from_origin(500000, 4000000, 30, 30),
                    crs="EPSG:32616")
    write_cube(tmp_path / "field.tif", geo)
    assert describe_scene(open_cube(str(tmp_path / "field.tif"))).startswith("**field.tif**: 6 × 7 px")
