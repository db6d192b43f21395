"""A fine-tune keeps the band map it was trained through, across the Indian Pines centre correction.

Fine-tunes made before session 50 from a base recorded with tensorly's Indian Pines centres were
trained through a map built with those centres (bands 170/171 at 2260.22/2270.15 nm).
:func:`~hsi_app.checkpoint.load_config` now gives that base the corrected centres (2212.22/2222.15 nm);
rebuilt from them, the map would feed the base model other inputs than the adapter was trained on.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import make_run

from hsi_app.checkpoint import load_config
from hsi_app.io.cube import make_cube
from hsi_app.io.indian_pines_bands import CORRECTED_NM, TENSORLY_NM

NEW_WL = np.linspace(395.0, 2505.0, 60)  # an EnMAP-like band set: ~36 nm apart, so the map is Gaussian


def _scene(wl: np.ndarray, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (3000.0 + 200.0 * rng.standard_normal((wl.size, 12, 12))).astype(np.float32)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A legacy Indian Pines base (tensorly's centres), a new fine-tune of it, and that fine-tune made legacy."""
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    root = tmp_path_factory.mktemp("centres")
    base = make_run(root / "base", in_chans=200, wavelengths=np.asarray(TENSORLY_NM), fwhm=[10.0] * 200,
                    like=_scene(np.asarray(TENSORLY_NM), seed=1))
    labels = np.zeros((12, 12), dtype=np.int32)
    labels[:, :4], labels[:, 4:8], labels[:, 8:] = 1, 2, 3
    cube = make_cube(_scene(NEW_WL), wavelength=NEW_WL, labels=labels, class_names=["u", "c1", "c2", "c3"])
    new = root / "new"
    finetune(cube, base, new, FinetuneOptions(lora_rank=1, split="fixed:5", epochs=1, progress=False))
    legacy = root / "legacy"
    shutil.copytree(new, legacy)
    raw = json.loads((legacy / "config.json").read_text())
    raw["extra"]["finetune"].pop("base_centres", None)  # as fine-tunes made before session 50 were written
    (legacy / "config.json").write_text(json.dumps(raw, indent=2))
    return {"base": base, "new": new, "legacy": legacy}


def _map_weights(ft: Path, centres: tuple[float, ...]) -> np.ndarray:
    """The adapted model's input weights ``A`` when its map is built with the base at ``centres``."""
    from hsi_app.tasks.finetune import band_matrix, input_map

    config, base = load_config(ft), load_config(json.loads((ft / "config.json").read_text())["extra"]["finetune"]["base_run"])
    matrix, kind = band_matrix(replace(base, wavelengths=list(centres)), NEW_WL, config.fwhm_array)
    assert kind == "gaussian"
    return input_map(matrix, base, np.asarray(config.mean), np.asarray(config.std))[0]


def _loaded_weights(ft: Path) -> np.ndarray:
    from hsi_app.tasks.finetune import load_finetuned

    return load_finetuned(ft)[1].band_map.a.numpy()


def test_the_two_maps_differ_at_the_corrected_bands(runs: dict[str, Path]) -> None:
    tensorly, corrected = _map_weights(runs["new"], TENSORLY_NM), _map_weights(runs["new"], CORRECTED_NM)
    changed = np.flatnonzero(np.abs(tensorly - corrected).max(axis=1) > 1e-6)
    np.testing.assert_array_equal(changed, [170, 171])


def test_a_new_fine_tune_records_and_loads_the_corrected_centres(runs: dict[str, Path]) -> None:
    ft = json.loads((runs["new"] / "config.json").read_text())["extra"]["finetune"]
    assert ft["base_centres"] == "corrected"
    np.testing.assert_allclose(_loaded_weights(runs["new"]), _map_weights(runs["new"], CORRECTED_NM), rtol=1e-5, atol=1e-7)


def test_a_legacy_fine_tune_of_a_legacy_base_loads_the_map_it_was_trained_through(runs: dict[str, Path]) -> None:
    assert load_config(runs["base"]).model_wavelengths == list(TENSORLY_NM)  # the base is read corrected
    np.testing.assert_allclose(_loaded_weights(runs["legacy"]), _map_weights(runs["legacy"], TENSORLY_NM), rtol=1e-5, atol=1e-7)


def test_a_legacy_fine_tune_on_the_tensorly_scene_keeps_its_own_centres_too(tmp_path: Path) -> None:
    """The new side: a fine-tune recorded with tensorly's list was mapped with that list."""
    from hsi_app.tasks.finetune import map_configs

    base = load_config(make_run(tmp_path / "base", in_chans=30, wavelengths=np.linspace(400.0, 2500.0, 30)))
    ft = load_config(make_run(tmp_path / "ft", in_chans=200, wavelengths=np.asarray(TENSORLY_NM),
                              extra={"finetune": {"base_run": "x"}}))
    assert map_configs(base, ft)[1].tolist() == list(TENSORLY_NM)
    marked = replace(ft, extra={"finetune": {"base_run": "x", "base_centres": "corrected"}})
    assert map_configs(base, marked)[1].tolist() == list(CORRECTED_NM)
