"""Training from Python gives the caller's global RNG streams and environment back (hsi_app.rng_state)."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch

from hsi_app.rng_state import SEED_ENV, kept_global_rng
from hsi_app.tasks.classification import fit_dense  # imported first: importing lightning draws from `random`
from hsi_app.tasks.denoising import DenoiseOptions, fit_denoiser


def _seed_caller() -> None:
    np.random.seed(123)
    random.seed(7)
    torch.manual_seed(9)


def _draws() -> tuple[float, float, float]:
    return float(np.random.rand()), random.random(), float(torch.rand(1))


@pytest.fixture
def caller_stream() -> Iterator[tuple[float, float, float]]:
    """The caller's seeded streams, and the draws they give next; no PL_* variable set (restored after)."""
    saved = {k: os.environ.pop(k, None) for k in SEED_ENV}
    _seed_caller()
    expected = _draws()
    _seed_caller()
    yield expected
    for k, v in saved.items():
        if v is not None:
            os.environ[k] = v


def _tiny_scene() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    lab = np.ones((16, 16), dtype=np.int64)
    lab[:, 8:] = 2
    img = rng.normal(size=(3, 10)).astype(np.float32)[lab].transpose(2, 0, 1) + rng.normal(size=(10, 16, 16))
    train = np.where(rng.random(lab.shape) < 0.2, lab, 0)
    return img.astype(np.float32), train


def _fit_dense() -> torch.nn.Module:
    img, train = _tiny_scene()
    model, _ = fit_dense(img, train, None, model_name="test_cnn3d", num_classes=2, epochs=1, tiles_per_epoch=2,
                         tile_size=16, batch_size=2, seed=5, progress=False, device="cpu")
    return model


def _fit_denoiser() -> torch.nn.Module:
    clean = np.random.default_rng(1).random((8, 16, 16)).astype(np.float32)
    opts = DenoiseOptions(model="test_hsdt", noise="gaussian:50", epochs=1, steps_per_epoch=1, batch_size=1, patch=16,
                          band_chunk=0, seed=5, progress=False, threads=1, baselines=False)
    net, _ = fit_denoiser(clean, opts)
    return net


@pytest.mark.parametrize("fit", [_fit_dense, _fit_denoiser], ids=["fit_dense", "fit_denoiser"])
def test_training_leaves_the_callers_random_streams_and_environment(
        caller_stream: tuple[float, float, float], fit: Callable[[], torch.nn.Module]) -> None:
    first = fit()
    assert _draws() == caller_stream  # numpy, random and torch continue the caller's seeded streams
    assert {k: os.environ.get(k) for k in SEED_ENV} == {k: None for k in SEED_ENV}
    np.random.seed(999)  # another caller state: the run seeds itself, its weights are the same
    second = fit()
    for (ka, va), (kb, vb) in zip(first.state_dict().items(), second.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_nested_blocks_restore_once_at_the_outermost_exit(caller_stream: tuple[float, float, float]) -> None:
    with kept_global_rng():
        np.random.seed(0)
        with kept_global_rng():
            np.random.seed(1)
            os.environ["PL_GLOBAL_SEED"] = "1"
        assert np.random.get_state()[1][0] == np.random.RandomState(1).get_state()[1][0]  # the inner run's state
    assert _draws() == caller_stream
    assert "PL_GLOBAL_SEED" not in os.environ


def test_torch_first_imported_inside_the_block_is_reseeded_on_exit() -> None:
    """In a fresh process (torch not imported), a block that imports torch and seeds it leaves torch
    reseeded nondeterministically: the caller's next draws are not the run's seed's (they were)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from hsi_app.rng_state import kept_global_rng\n"
        "assert 'torch' not in sys.modules\n"
        "@kept_global_rng()\n"
        "def run():\n"
        "    import torch\n"
        "    torch.manual_seed(123)\n"
        "run()\n"
        "import torch\n"
        "x = torch.rand(4)\n"
        "torch.manual_seed(123)\n"
        "print('SAME' if torch.equal(x, torch.rand(4)) else 'FRESH')\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "FRESH"
