"""A diverged training run stops with one line; NaN weights are never saved nor turned into a class-1 map."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file
from tiny_runs import make_run

from cli_runner import run_main
from hsi_app.errors import InvalidDataError, ModelLoadError


def _scene(c: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(c, 12, 12) normalised values of two block classes and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((12, 12), np.int64)
    labels[1:6, 1:11], labels[7:11, 1:11] = 1, 2
    return (rng.normal(size=(c, 12, 12)) + labels).astype(np.float32), labels


def _nan_weights(net: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        next(p for p in net.parameters() if p.ndim > 1).fill_(float("nan"))
    return net


def test_fit_dense_stops_at_a_nan_loss_naming_the_epoch_and_the_fix() -> None:
    from hsi_app.models import create_model
    from hsi_app.tasks.classification import fit_dense

    image, labels = _scene()
    net = _nan_weights(create_model("test_ssfcn", in_chans=5, num_classes=2))
    with pytest.raises(InvalidDataError) as info:
        fit_dense(image, labels, None, num_classes=2, model=net, epochs=2, tiles_per_epoch=1, progress=False,
                  diverged_hint="lower --lr")
    assert str(info.value) == "training diverged at epoch 1 (loss nan); lower --lr"


@pytest.mark.parametrize("lr", [0.0, -1.0, float("nan"), float("inf")])
def test_fit_dense_refuses_a_learning_rate_that_is_not_positive(lr: float) -> None:
    from hsi_app.errors import ConfigError
    from hsi_app.tasks.classification import fit_dense

    image, labels = _scene()
    with pytest.raises(ConfigError, match=r"fit_dense: lr=.*; use a learning rate > 0"):
        fit_dense(image, labels, None, model_name="test_ssfcn", num_classes=2, epochs=1, lr=lr, progress=False)


def test_save_run_refuses_nan_weights_and_writes_nothing(tmp_path: Path) -> None:
    from hsi_app.checkpoint import RunConfig, save_run
    from hsi_app.models import create_model

    config = json.loads((make_run(tmp_path / "good") / "config.json").read_text())
    net = _nan_weights(create_model("test_ssfcn", in_chans=5, num_classes=3))
    with pytest.raises(InvalidDataError) as info:
        save_run(tmp_path / "bad", RunConfig(**config), dict(net.state_dict()))
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'bad' / 'model.safetensors'}: 1 of ") and "hold NaN or inf" in msg
    assert not (tmp_path / "bad" / "model.safetensors").exists() and not (tmp_path / "bad" / "config.json").exists()


def _poison(run: Path) -> Path:
    tensors = load_file(str(run / "model.safetensors"))
    key = next(k for k in sorted(tensors) if tensors[k].ndim > 1)
    tensors[key] = np.full_like(tensors[key], np.nan)
    save_file(tensors, str(run / "model.safetensors"))
    return run


def test_a_run_with_nan_weights_refuses_to_predict(tmp_path: Path) -> None:
    from hsi_app.predictor import Predictor

    run = _poison(make_run(tmp_path / "run"))
    with pytest.raises(ModelLoadError) as info:  # refused when loaded, before any scene is read
        Predictor.load(run, device="cpu")
    assert str(info.value).startswith(f"{run / 'model.safetensors'}: 1 weight tensors hold NaN or inf (")
    assert str(info.value).endswith("the run diverged: retrain it")


def test_an_extreme_input_value_is_clipped_not_blamed_on_the_weights(tmp_path: Path) -> None:
    """A fill value of 9.97e36 (netCDF's) used to overflow a layer; now it is one odd pixel, the rest mapped."""
    from hsi_app.predictor import Predictor, check_probs

    pred = Predictor.load(make_run(tmp_path / "run"), device="cpu")
    image = np.ones((5, 6, 7), np.float32)
    image[:, 2, 3] = 9.97e36
    probs = pred.probs(image)
    assert np.isfinite(probs).all() and np.allclose(probs.sum(0), 1.0, atol=1e-5)
    with pytest.raises(ModelLoadError, match=r"run: the model gave non-finite class probabilities .* check the scene"):
        check_probs(np.full((3, 2, 2), np.nan, np.float32), "run")


def test_hsi_predict_with_nan_weights_is_one_error_line_and_no_map(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube

    run = _poison(make_run(tmp_path / "run"))
    scene = tmp_path / "s.tif"
    write_cube(scene, make_cube(np.ones((5, 6, 7), np.float32), wavelength=np.linspace(400.0, 800.0, 5)))
    out = tmp_path / "m.tif"
    code, _, err = run_main(capsys, "predict", "--model", str(run), "--input", str(scene), "--out", str(out), "--quiet")
    assert code == 2 and err.strip().splitlines()[-1].startswith(f"hsi: error: {run / 'model.safetensors'}: 1 weight "
                                                                  "tensors hold NaN or inf")
    assert not out.exists()


def test_a_diverging_finetune_fails_with_one_line_and_leaves_no_run(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--lr 1e6 (the audit's case): one 'training diverged ... lower --lr' line, no NaN adapter on disk."""
    from hsi_app.io.cog import write_cube
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    wl = np.linspace(420.0, 2400.0, 8)
    rng = np.random.default_rng(0)
    labels = np.zeros((16, 16), np.int32)
    labels[1:7, 1:15], labels[9:15, 1:15] = 1, 2
    data = (1000 * (1 + labels[None] * np.linspace(0.1, 0.8, 8)[:, None, None])
            + 20 * rng.standard_normal((8, 16, 16))).astype(np.float32)
    base = tmp_path / "base"
    train_classifier(make_cube(data, wavelength=wl, labels=labels, class_names=["u", "a", "b"]), base,
                     TrainOptions(model="test_spectral_vit", split="random:0.3", epochs=1, progress=False))
    scene = tmp_path / "s.tif"
    write_cube(scene, make_cube(data, wavelength=wl, labels=labels, class_names=["u", "a", "b"]))
    lab = tmp_path / "lab.tif"
    write_cube(lab, make_cube(labels[None].astype(np.float32)))
    out = tmp_path / "ft"
    code, _, err = run_main(capsys, "finetune", "--base", str(base), "--data", str(scene), "--labels", str(lab),
                            "--split", "fixed:5", "--lora-rank", "2", "--epochs", "3", "--lr", "1e6", "--out", str(out),
                            "--quiet")
    lines = [ln for ln in err.splitlines() if ln.startswith("hsi: error")]
    assert code == 2 and len(lines) == 1, err
    assert re.fullmatch(r"hsi: error: training diverged at epoch \d+ \(loss (nan|inf|-inf)\); lower --lr", lines[0])
    assert not out.exists()


def test_finetune_refuses_to_save_a_non_finite_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Weights that turn NaN on the last step (no NaN loss seen) are still never written."""
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks import classification
    from hsi_app.tasks.finetune import FinetuneOptions, finetune
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    wl = np.linspace(420.0, 2400.0, 8)
    image, labels = _scene(8)
    cube = make_cube(1000 + 100 * image, wavelength=wl, labels=labels.astype(np.int32), class_names=["u", "a", "b"])
    base = tmp_path / "base"
    train_classifier(cube, base, TrainOptions(model="test_spectral_vit", split="random:0.3", epochs=1, progress=False))
    real = classification.fit_dense

    def nan_at_the_end(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        model, history = real(*args, **kwargs)
        with torch.no_grad():
            next(p for n, p in model.named_parameters() if "lora_B" in n).fill_(float("nan"))
        return model, history

    monkeypatch.setattr(classification, "fit_dense", nan_at_the_end)
    out = tmp_path / "ft"
    with pytest.raises(InvalidDataError, match=rf"^{re.escape(str(out / 'adapter.safetensors'))}: 1 of \d+ tensors hold NaN"):
        finetune(cube, base, out, FinetuneOptions(lora_rank=2, epochs=1, split="fixed:5", progress=False))
    assert not out.exists()
