"""Session 57 audit: the Gaussian band map of ``hsi finetune`` against an independent numpy computation, for a
base without FWHM whose band centres are not in wavelength order (AVIRIS' spectrometers overlap, as in Indian Pines:
696.5 nm listed before 686.9 nm) or repeat a centre."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hsi_app.checkpoint import RunConfig
from hsi_app.data.resample import resampling_matrix
from hsi_app.tasks.finetune import band_matrix

SIGMA_PER_FWHM = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


def _expected(src: np.ndarray, centre: float, fwhm: float) -> np.ndarray:
    """One base band's weights over the scene's bands: its Gaussian response at their centres, summing to 1."""
    w = np.exp(-0.5 * ((src - centre) / (fwhm * SIGMA_PER_FWHM)) ** 2)
    return w / w.sum()


def _avirislike() -> np.ndarray:
    """Two spectrometers ~9.7 nm apart overlapping at 690-700 nm, listed in detector order (not sorted)."""
    return np.concatenate([np.arange(600.0, 700.0, 9.7), np.arange(686.9, 800.0, 9.7)])


def _base(centres: np.ndarray) -> RunConfig:
    c = centres.size
    return RunConfig(task="classification", model_name="test_spectral_vit", model_args={}, in_chans=c, num_classes=2,
                     class_names=["u", "a", "b"], wavelengths=[float(v) for v in centres], fwhm=[None] * c,
                     band_indices=list(range(c)), source_bands=c, mean=[0.0] * c, std=[1.0] * c, receptive_radius=2)


def test_a_base_listed_out_of_wavelength_order_gets_its_band_spacing_as_fwhm() -> None:
    base_wl = _avirislike()
    scene = np.arange(590.0, 810.0, 6.0)  # a finer sensor
    m, kind = band_matrix(_base(base_wl), scene, np.full(scene.size, 2.0))
    assert kind == "gaussian"
    for j in (3, 10, 11, 15):  # 697.0 and 686.9 nm meet at the overlap (list neighbours 687.3 / 696.6 nm)
        # each spectrometer samples every 9.7 nm: every band's width when FWHM is unknown
        np.testing.assert_allclose(m[j], _expected(scene, base_wl[j], 9.7), atol=1e-9)


def test_repeated_target_centres_without_fwhm_resample_to_finite_weights() -> None:
    src = np.linspace(400.0, 700.0, 31)
    dst = np.array([500.0, 500.0, 600.0])
    m = resampling_matrix(src, dst)
    assert np.isfinite(m).all()
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    np.testing.assert_allclose(m[0], m[1])
    # the distance from the shared centre to the next other one (600 nm) is its width, not a NaN row
    np.testing.assert_allclose(m[0], _expected(src, 500.0, 100.0), atol=1e-12)


def test_a_fine_tune_made_before_the_rule_keeps_its_band_map_and_a_new_one_records_the_rule(tmp_path) -> None:  # noqa: ANN001
    """A fine-tune whose config.json lacks ``fwhm_spacing`` (made before session 57) is rebuilt with the widths
    its adapter was trained through: the list-order spacing, computed here with numpy."""
    import json

    import torch

    from hsi_app.tasks.finetune import FWHM_SPACING, load_finetuned

    base_wl = _avirislike()
    scene_wl = np.arange(590.0, 810.0, 6.0)
    _, ft, _ = base_and_finetune(tmp_path, base_wl, scene_wl)
    cfg = json.loads((ft / "config.json").read_text())
    assert cfg["extra"]["finetune"]["fwhm_spacing"] == FWHM_SPACING
    del cfg["extra"]["finetune"]["fwhm_spacing"]
    (ft / "config.json").write_text(json.dumps(cfg))
    _, model = load_finetuned(ft)
    a = model.band_map.a.numpy().astype(np.float64)  # diag(1/s_b) M diag(std)
    m = a / np.asarray(cfg["std"])[None, :]
    m /= m.sum(axis=1, keepdims=True)
    listed = np.abs(np.gradient(base_wl))  # list-order neighbours: 0.2 nm at the overlap (bands 10, 11)
    for j in (3, 10, 11):
        w = np.exp(-0.5 * ((scene_wl - base_wl[j]) / (listed[j] * SIGMA_PER_FWHM)) ** 2)
        expected = w / w.sum() if w.sum() >= 1e-6 else np.eye(scene_wl.size)[np.abs(scene_wl - base_wl[j]).argmin()]
        np.testing.assert_allclose(m[j], expected, atol=1e-5)
    with torch.no_grad():
        assert torch.isfinite(model(torch.zeros(1, scene_wl.size, 5, 5))).all()


def test_a_cross_sensor_target_beyond_the_scenes_bands_is_refused_naming_the_scene_and_the_fix() -> None:
    """``enmap_like_target`` on a user scene that stops short of the target sensor's last band: one line naming the
    scene, the bands it lacks and what to do, not the resampler's bare target/source line."""
    import pytest

    from hsi_app.errors import BandMismatchError
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.cross_sensor import enmap_like_target

    wl = np.linspace(420.0, 2400.0, 40)
    labels = np.zeros((12, 30), dtype=np.int32)
    labels[2:10, 12:28] = 1
    scene = make_cube(np.ones((wl.size, 12, 30), dtype=np.float32), wavelength=wl, labels=labels,
                      source="/data/field.tif")
    with pytest.raises(BandMismatchError) as err:
        enmap_like_target(scene, radius=2, split_col=10)  # EnMAP-like bands reach 2445 nm
    line = str(err.value)
    assert "\n" not in line and line.startswith("/data/field.tif") and "2445" in line and "bands=" in line


def base_and_finetune(folder: Path, base_wl: np.ndarray, scene_wl: np.ndarray) -> tuple[Path, Path, Any]:
    """``(base, ft, scene)``: a 1-epoch test_spectral_vit run ``folder/base`` on bands ``base_wl`` (no FWHM), a
    1-epoch rank-1 LoRA fine-tune ``folder/ft`` of it on a 16 x 16 scene of bands ``scene_wl``, and that scene;
    two block classes of smooth spectra."""
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.finetune import FinetuneOptions, finetune
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    rng = np.random.default_rng(0)
    labels = np.zeros((16, 16), dtype=np.int32)
    labels[1:15, 1:7], labels[1:15, 9:15] = 1, 2

    def cube(wl: np.ndarray):  # noqa: ANN202
        spectra = np.stack([0.3 + 0.0 * wl, 0.2 + 0.3 * (wl - 590) / 220, 0.5 - 0.2 * (wl - 590) / 220])
        data = spectra[labels].transpose(2, 0, 1) + 0.005 * rng.standard_normal((wl.size, 16, 16))
        return make_cube(data.astype(np.float32), wavelength=wl, labels=labels)

    base, ft = folder / "base", folder / "ft"
    train_classifier(cube(base_wl), base, TrainOptions(model="test_spectral_vit", split="random:0.3", epochs=1,
                                                       progress=False))
    scene = cube(scene_wl)
    finetune(scene, base, ft, FinetuneOptions(lora_rank=1, epochs=1, split="fixed:3", progress=False))
    return base, ft, scene
