"""``train_seconds`` of ``hsi train`` (classify and denoise) starts after Lightning's one-time import (audit L #4).

A fake clock advances 1000 s at the first import of Lightning or of the task module that
pulls it in (as the first import in a fresh CLI process costs seconds): the run must not
count it. Only the timing field is concerned; the results are untouched.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hsi_app.io.cube import make_cube
from hsi_app.tasks import denoising, train_classifier
from hsi_app.tasks.denoising import DenoiseOptions, train_denoiser
from hsi_app.tasks.train_classifier import TrainOptions

HEAVY = ("lightning", "hsi_app.tasks.classification")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Clock:
    """``perf_counter`` that only moves when the first heavy import happens."""

    def __init__(self) -> None:
        self.now = 0.0
        self.paid = False

    def perf_counter(self) -> float:
        return self.now


def _fake_clock(monkeypatch: pytest.MonkeyPatch, module: Any) -> _Clock:
    clock = _Clock()
    real_import = builtins.__import__

    def heavy_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if not clock.paid and name in HEAVY:
            clock.paid, clock.now = True, clock.now + 1000.0
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", heavy_import)
    monkeypatch.setattr(module, "time", clock)
    return clock


def test_classifier_train_seconds_exclude_the_lightning_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(100.0, 20.0, size=(4, 20, 24)).astype(np.float32)
    labels = rng.integers(1, 4, size=(20, 24)).astype(np.int32)
    cube = make_cube(data, wavelength=[450.0, 550.0, 650.0, 750.0], labels=labels)
    clock = _fake_clock(monkeypatch, train_classifier)
    m = train_classifier.train_classifier(
        cube, tmp_path / "run", TrainOptions(model="test_ssfcn", split="random:0.3", epochs=1, progress=False))
    assert clock.paid  # the import happened during the run, but before the clock started
    assert m["train_seconds"] < 1000.0


def test_denoise_train_seconds_exclude_the_lightning_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    yy, xx = np.mgrid[0:32, 0:40] / 7.0
    data = (1000 * (np.stack([np.sin(yy) + 1.5] * 8) + np.linspace(0, 1, 8)[:, None, None])).astype(np.float32)
    cube = make_cube(data, wavelength=np.linspace(450.0, 900.0, 8))
    opts = DenoiseOptions(model="test_hsdt", noise="gaussian:50", epochs=1, steps_per_epoch=2, batch_size=2,
                          patch=16, band_chunk=0, progress=False, threads=1)
    clock = _fake_clock(monkeypatch, denoising)
    m = train_denoiser(cube, tmp_path / "run", opts)
    assert clock.paid
    assert m["train_seconds"] < 1000.0
