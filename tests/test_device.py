"""Device strings: one ConfigError line for unknown strings and for GPUs that are not there."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_runs import make_run

from hsi_app.device import resolve_device
from hsi_app.errors import ConfigError


def test_cpu_and_auto_resolve_to_torch_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device(None) == torch.device("cpu")


@pytest.mark.parametrize("name", ["bogus", "CPU", "gpu0"])
def test_unknown_strings_are_one_config_error_line(name: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_device(name)
    msg = str(info.value)
    assert f"device {name!r}" in msg and "use cpu, cuda, cuda:N or mps" in msg and "\n" not in msg


def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ConfigError, match=r"no CUDA GPU visible .*; use cpu$"):
            resolve_device(name)


def test_a_gpu_index_beyond_the_visible_ones_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ConfigError, match=r"only 2 CUDA GPU\(s\) visible \(cuda:0..cuda:1\)"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["bogus", "cuda"])
def test_predictor_load_and_the_trainer_use_it(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's loader and fit_dense's accelerator raise the same ConfigError, not a raw torch RuntimeError."""
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.classification import _accelerator

    run = make_run(tmp_path / "run")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=f"device {name!r}"):
        Predictor.load(run, device=name)
    with pytest.raises(ConfigError, match=f"device {name!r}"):
        _accelerator(name)
    assert Predictor.load(run, device="cpu").device == "cpu"


def test_an_svm_run_checks_the_device_and_runs_on_the_cpu(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """README: an unknown device or CUDA without a GPU is one ConfigError line, for an SVM run too (audit K #4;
    it used to load whatever was asked); a device that exists is accepted and the SVM runs on the CPU."""
    import numpy as np

    from hsi_app.io.cube import make_cube
    from hsi_app.predictor import Predictor
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(1, 4), 40).reshape(12, 10).astype(np.int32)
    data = (labels[None] * 0.1 + 0.01 * rng.standard_normal((4, 12, 10))).astype(np.float32)
    cube = make_cube(data, wavelength=np.linspace(450.0, 900.0, 4), labels=labels)
    train_classifier(cube, tmp_path / "svm", TrainOptions(model="svm", split="random:0.5", progress=False))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("tpu", "cuda"):
        with pytest.raises(ConfigError, match=f"device {name!r}"):
            Predictor.load(tmp_path / "svm", device=name)
    assert Predictor.load(tmp_path / "svm", device="cpu").device == "cpu"
    assert Predictor.load(tmp_path / "svm").device == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert Predictor.load(tmp_path / "svm", device="cuda").device == "cpu"
