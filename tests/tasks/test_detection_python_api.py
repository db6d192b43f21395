"""detect_scene and target_spectra as a notebook calls them: messages name the Python keywords."""

from __future__ import annotations

import numpy as np
import pytest

from hsi_app.errors import ConfigError, InvalidDataError
from hsi_app.io.cube import make_cube
from hsi_app.tasks.detection import detect_scene, target_spectra


def _cube():  # noqa: ANN202
    data = np.random.default_rng(0).normal(1000.0, 50.0, size=(6, 16, 20)).astype(np.float32)
    data[:, 0, 0] = np.nan
    return make_cube(data, wavelength=np.linspace(450.0, 900.0, 6))


def test_missing_targets_name_the_python_keywords() -> None:
    cube = _cube()
    with pytest.raises(ConfigError, match=r"pass --targets LIB or --target-pixel ROW,COL \(spectra= in Python"):
        detect_scene(cube, "ace")
    with pytest.raises(ConfigError, match=r"--target-pixel ROW,COL \(library= or pixels= in Python\)$"):
        target_spectra(cube)
    with pytest.raises(ConfigError, match=r"--target-pixel 99,1 \(pixels= in Python\): outside the 16 x 20 scene"):
        target_spectra(cube, pixels=[(99, 1)])
    with pytest.raises(InvalidDataError, match=r"--target-pixel 0,0 \(pixels= in Python\): that pixel has no data"):
        target_spectra(cube, pixels=[(0, 0)])
    with pytest.raises(ConfigError, match=r"needs --model RUN_DIR \(model= in Python\)"):
        detect_scene(cube, "learned")


def test_names_must_be_one_per_target_spectrum() -> None:
    cube = _cube()
    spec = np.asarray(cube.values[:, 5, 5])
    spectra = np.stack([spec, spec * 1.1])
    with pytest.raises(ConfigError, match=r"^detect_scene: 1 names for 2 target spectra; give one name per row"):
        detect_scene(cube, "mf", spectra=spectra, names=["a"])
    assert detect_scene(cube, "mf", spectra=spectra, names=["a", "b"]).names == ["a", "b"]
    assert detect_scene(cube, "mf", spectra=spectra).names == ["target_1", "target_2"]
