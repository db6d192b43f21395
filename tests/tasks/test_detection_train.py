"""Learned point detector: registry entry, training targets, loss, a tiny run and its reload."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from hsi_app.data.targets import SimOptions, simulate_targets
from hsi_app.errors import ConfigError
from hsi_app.models import create_model, model_info
from hsi_app.tasks.detector_infer import DenseOutput, LearnedDetector, decode
from hsi_app.tasks.train_detector import DetectTrainOptions, focal_loss, heatmap_targets, train_detector


def test_registry_and_window_equivalence() -> None:
    assert model_info("point_detector")["task"] == "detect"
    assert model_info("test_point_detector")["task"] == "detect"
    net = create_model("test_point_detector", in_chans=6, num_classes=3).eval()
    x = torch.randn(1, 6, 20, 20)
    with torch.no_grad():
        full = net(x)
        r = net.receptive_radius
        part = net(x[:, :, : 10 + r, : 10 + r])[:, :, :10, :10]
    assert full.shape == (1, 3 + 4, 20, 20)
    torch.testing.assert_close(full[:, :, :10, :10], part)


def test_heatmap_targets_and_focal_loss() -> None:
    bg = np.full((4, 24, 24), 0.2, np.float32)
    lib = np.array([[0.9, 0.1, 0.5, 0.3], [0.1, 0.9, 0.2, 0.6]], np.float32)
    sc = simulate_targets(bg, lib, ["a", "b"], seed=2, options=SimOptions(n_targets=3))
    heat, reg, pos = heatmap_targets(sc, 2)
    assert pos.sum() == len(sc.targets)
    for t in sc.targets:
        r, c = int(t.row), int(t.col)
        assert heat[t.class_id - 1, r, c] == 1.0 and pos[r, c]
        np.testing.assert_allclose(reg[:2, r, c], [t.row - r - 0.5, t.col - c - 0.5], atol=1e-6)
        assert np.exp(reg[2, r, c]) == pytest.approx(t.box[2] - t.box[0])
    target = torch.from_numpy(heat)[None]
    good = torch.where(target >= 1, 6.0, -6.0)
    assert float(focal_loss(good, target)) < float(focal_loss(-good, target))


def test_decode_moves_peaks_by_offset_and_snaps_boxes() -> None:
    heat = np.zeros((1, 10, 10), np.float32)
    heat[0, 4, 6] = 0.9
    offset = np.zeros((2, 10, 10), np.float32)
    offset[:, 4, 6] = (0.25, -0.3)
    size = np.full((2, 10, 10), 2.2, np.float32)
    det = decode(DenseOutput(heat, offset, size), threshold=0.5)
    assert len(det) == 1
    assert (det.row[0], det.col[0]) == pytest.approx((4.75, 6.2))
    np.testing.assert_allclose(det.box[0], [4, 5, 6, 7])  # 4.75 +- 1.1 and 6.2 +- 1.1, rounded to edges


def test_tiny_training_run_saves_and_reloads(tmp_path: Path, load_fixture) -> None:  # noqa: ANN001
    speclib: ModuleType = load_fixture("speclib")
    image = speclib.background(1)
    from hsi_app.io.spectral_library import read_library

    lib = read_library(speclib.write_csv(tmp_path / "lib.csv"))
    spectra = lib.resample(speclib.WAVELENGTHS)
    opts = DetectTrainOptions(model="test_point_detector", epochs=1, steps_per_epoch=4, batch=2, n_test_scenes=1,
                              progress=False, device="cpu")
    metrics = train_detector(image, spectra, lib.names, tmp_path / "run", opts, wavelengths=speclib.WAVELENGTHS,
                             fwhm=np.full(speclib.BANDS, np.nan), band_indices=np.arange(speclib.BANDS),
                             source_bands=speclib.BANDS, data="fixture")
    assert metrics["device"] == "cpu"
    for name in ("model.safetensors", "config.json", "metrics.json"):
        assert (tmp_path / "run" / name).is_file()
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["task"] == "detect" and cfg["class_names"] == ["background", *lib.names]
    assert {"mAP@1px", "mAP@2px", "mAP@3px", "mAP25", "mAP50", "auroc", "sub-pixel/mAP50"} <= set(metrics)
    assert 0.0 <= metrics["mAP50"] <= 1.0
    det = LearnedDetector.load(tmp_path / "run")
    out = det.predict_image(image)
    assert out.heat.shape == (3, 32, 48) and np.all((out.heat >= 0) & (out.heat <= 1))


@pytest.mark.filterwarnings("ignore:All-NaN slice:RuntimeWarning")  # test-scene scores over the no-data block
def test_band_statistics_come_from_valid_training_columns_only(tmp_path: Path, load_fixture) -> None:  # noqa: ANN001
    """The stored mean/std use the valid pixels left of the buffer before the held-out test columns."""
    speclib: ModuleType = load_fixture("speclib")
    image = speclib.background(1).copy()
    image[:, 2:6, 3:9] = np.nan  # a no-data block inside the training columns
    from hsi_app.io.spectral_library import read_library

    lib = read_library(speclib.write_csv(tmp_path / "lib.csv"))
    opts = DetectTrainOptions(model="test_point_detector", epochs=1, steps_per_epoch=2, batch=2, n_test_scenes=1,
                              progress=False)
    train_detector(image, lib.resample(speclib.WAVELENGTHS), lib.names, tmp_path / "run", opts,
                   wavelengths=speclib.WAVELENGTHS, fwhm=np.full(speclib.BANDS, np.nan),
                   band_indices=np.arange(speclib.BANDS), source_bands=speclib.BANDS, data="fixture")
    c, h, w = image.shape
    radius = int(create_model("test_point_detector", in_chans=c, num_classes=len(lib.names)).receptive_radius)
    first_test_col = round(w * (1 - opts.test_fraction))
    train = image[:, :, : first_test_col - radius].reshape(c, -1).astype(np.float64)
    train = train[:, np.isfinite(train).all(axis=0)]
    assert train.shape[1] == h * (first_test_col - radius) - 4 * 6  # the no-data block is left out
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    np.testing.assert_allclose(cfg["mean"], train.mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(cfg["std"], train.std(axis=1), rtol=1e-4)


def test_too_small_message_states_the_limit_it_enforces(tmp_path: Path, load_fixture) -> None:  # noqa: ANN001
    """16 x 16 training px: the message gives the smallest scene, and exactly that scene trains."""
    speclib: ModuleType = load_fixture("speclib")
    from hsi_app.io.spectral_library import read_library

    lib = read_library(speclib.write_csv(tmp_path / "lib.csv"))
    radius = int(create_model("test_point_detector", in_chans=speclib.BANDS, num_classes=3).receptive_radius)
    # independently: training columns are those left of round(2/3 W), less the radius
    width = next(w for w in range(1, 500) if round(w * 2 / 3) - radius >= 16)
    opts = DetectTrainOptions(model="test_point_detector", epochs=1, steps_per_epoch=1, batch=1, n_test_scenes=1,
                              progress=False)

    def train(h: int, w: int, name: str) -> dict:
        image = speclib.background(1, shape=(h, w))
        return train_detector(image, lib.resample(speclib.WAVELENGTHS), lib.names, tmp_path / name, opts,
                              wavelengths=speclib.WAVELENGTHS, fwhm=np.full(speclib.BANDS, np.nan),
                              band_indices=np.arange(speclib.BANDS), source_bands=speclib.BANDS, data="bg.tif")

    for h, w in ((15, width), (16, width - 1)):
        with pytest.raises(ConfigError) as info:
            train(h, w, f"r{h}x{w}")
        assert str(info.value) == (
            f"bg.tif: training region {h} x {round(w * 2 / 3) - radius} px is too small; it needs at least 16 x 16 px "
            f"(the columns left of the held-out 33% less a {radius}-px buffer), so use a scene of at least 16 rows x "
            f"{width} columns")
    assert "mAP50" in train(16, width, "smallest")
