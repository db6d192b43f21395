"""Session 57 audit of ``hsi finetune`` on a user's own scene: bases whose head ends in a 1x1 convolution
(cnn3d) get a new head for new classes, and a head that cannot be replaced is refused before any work,
naming the base run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from hsi_app.errors import ConfigError
from hsi_app.io.cube import make_cube

BASE_WL = np.linspace(420.0, 2400.0, 24)
NEW_WL = np.linspace(440.0, 2380.0, 17)  # another sensor, fewer bands


def _scene(wl: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(C, 20, 18)`` reflectance with ``classes`` vertical stripes of distinct spectra, and their labels."""
    rng = np.random.default_rng(classes)
    labels = np.zeros((20, 18), dtype=np.int32)
    width = 18 // classes
    for k in range(classes):
        labels[1:19, k * width + 1:(k + 1) * width - 1] = k + 1
    x = (wl - 400.0) / 2000.0
    spectra = np.stack([0.2 + 0.1 * k * x + 0.05 * np.sin(6 * x * (k + 1)) for k in range(classes + 1)])
    cube = spectra[labels].transpose(2, 0, 1) + 0.005 * rng.standard_normal((wl.size, 20, 18))
    return cube.astype(np.float32), labels


def _sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def cnn3d_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test_cnn3d run on 3 classes of the 24-band sensor (its head ends in a 1x1 Conv2d)."""
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    data, labels = _scene(BASE_WL, 3)
    base = tmp_path_factory.mktemp("s57") / "base"
    train_classifier(make_cube(data, wavelength=BASE_WL, labels=labels), base,
                     TrainOptions(model="test_cnn3d", split="random:0.3", epochs=1, progress=False))
    return base


def test_a_cnn3d_base_gets_a_new_head_for_another_class_count(cnn3d_base: Path, tmp_path: Path) -> None:
    """2 new classes on another sensor: a new 1x1-conv head with 2 outputs trains (peft saves it with the
    LoRA matrices), the base's files stay as they were and the map has the new classes."""
    from hsi_app.checkpoint import load_tensors
    from hsi_app.tasks.finetune import FinetuneOptions, finetune, load_finetuned

    before = _sha(cnn3d_base)
    data, labels = _scene(NEW_WL, 2)
    cube = make_cube(data, wavelength=NEW_WL, labels=labels, class_names=["none", "wheat", "rye"])
    m = finetune(cube, cnn3d_base, tmp_path / "ft", FinetuneOptions(lora_rank=1, epochs=1, split="fixed:3",
                                                                    progress=False))
    assert _sha(cnn3d_base) == before
    adapter = load_tensors(tmp_path / "ft", "adapter.safetensors")
    heads = {k: v.shape for k, v in adapter.items() if ".head." in k and k.endswith("weight")}
    last = [s for s in heads.values() if s[0] == 2]
    assert last and all(len(s) == 4 and s[2:] == (1, 1) for s in last), heads  # (2, hidden, 1, 1)
    # trainable = every tensor the adapter holds (LoRA matrices + the head copy), counted here from the file
    assert m["trainable_params"] == sum(int(np.prod(v.shape)) for v in adapter.values())
    config, model = load_finetuned(tmp_path / "ft")
    assert config.class_names[1:] == ["wheat", "rye"]
    with torch.no_grad():
        out = model(torch.zeros(1, NEW_WL.size, 5, 5))
    assert out.shape == (1, 2, 5, 5)


def test_a_head_that_cannot_be_replaced_is_refused_before_any_work_naming_the_base_run(
        cnn3d_base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A family whose head ends in neither a Linear nor a convolution: one line naming the base run and the
    fix, raised before the split is drawn or the output folder made, and the base left as it was."""
    from torch import nn

    from hsi_app.tasks import finetune as ft_mod
    from hsi_app.tasks import train_classifier as tc

    real_probe = ft_mod._probe_net

    def probe_with_odd_head(base, base_dir):  # noqa: ANN001, ANN202
        net = real_probe(base, base_dir)
        net.head = nn.Sequential(nn.Identity())
        return net

    def no_split(*args: object, **kwargs: object) -> None:
        raise AssertionError("the split was drawn before the head was checked")

    monkeypatch.setattr(ft_mod, "_probe_net", probe_with_odd_head)
    monkeypatch.setattr(tc, "split_for_run", no_split)
    before = _sha(cnn3d_base)
    data, labels = _scene(NEW_WL, 2)
    cube = make_cube(data, wavelength=NEW_WL, labels=labels, class_names=["none", "wheat", "rye"])
    with pytest.raises(ConfigError) as err:
        ft_mod.finetune(cube, cnn3d_base, tmp_path / "ft", ft_mod.FinetuneOptions(lora_rank=1, epochs=1, progress=False))
    line = str(err.value)
    assert "\n" not in line and str(cnn3d_base) in line and "--classes base" in line
    assert _sha(cnn3d_base) == before and not (tmp_path / "ft").exists()
