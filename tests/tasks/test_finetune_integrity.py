"""A fine-tune loads only with the adapter peft expects and the base run it was made from."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from hsi_app.errors import ModelLoadError

WL = np.linspace(420.0, 2400.0, 12)


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(12, 20, 18) reflectance of 3 block classes and its labels."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((20, 18), np.int32)
    labels[1:9, 1:8], labels[1:9, 10:17], labels[11:19, 1:17] = 1, 2, 3
    x = (WL - 400.0) / 2000.0
    spectra = np.stack([0.2 + 0.1 * k * x + 0.05 * np.sin(6 * x * (k + 1)) for k in range(4)])
    cube = spectra[labels].transpose(2, 0, 1) + 0.01 * rng.standard_normal((WL.size, 20, 18))
    return (cube * 10000).astype(np.float32), labels


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test_spectral_vit base and a 1-epoch LoRA fine-tune with a new head (LoRA and head tensors)."""
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.finetune import FinetuneOptions, finetune
    from hsi_app.tasks.train_classifier import TrainOptions, train_classifier

    root = tmp_path_factory.mktemp("fti")
    data, labels = _scene()
    base = root / "base"
    train_classifier(make_cube(data, wavelength=WL, labels=labels, class_names=["u", "a", "b", "c"]), base,
                     TrainOptions(model="test_spectral_vit", split="random:0.3", epochs=1, progress=False))
    new, _ = _scene(1)
    ft = root / "ft"
    finetune(make_cube(new, wavelength=WL, labels=labels), base, ft,
             FinetuneOptions(lora_rank=2, epochs=1, split="fixed:5", classes="new", progress=False))
    return {"root": root, "base": base, "ft": ft}


def _copy(runs: dict[str, Path], tmp_path: Path) -> Path:
    ft = tmp_path / "ft"
    shutil.copytree(runs["ft"], ft)
    return ft


def _load(ft: Path) -> str:
    from hsi_app.predictor import Predictor

    with pytest.raises(ModelLoadError) as info:
        Predictor.load(ft, device="cpu")
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_the_fixture_adapter_has_lora_and_head_tensors(runs: dict[str, Path]) -> None:
    from hsi_app.predictor import Predictor

    keys = load_file(str(runs["ft"] / "adapter.safetensors"))
    assert any("lora_A" in k for k in keys) and any("head" in k for k in keys)
    assert Predictor.load(runs["ft"], device="cpu").num_classes == 3


@pytest.mark.parametrize("keep", ["half", "none", "no_head"])
def test_an_adapter_with_missing_tensors_is_refused(keep: str, runs: dict[str, Path], tmp_path: Path) -> None:
    ft = _copy(runs, tmp_path)
    tensors = load_file(str(ft / "adapter.safetensors"))
    names = sorted(tensors)
    kept = {"half": names[: len(names) // 2], "none": [], "no_head": [k for k in names if "head" not in k]}[keep]
    save_file({k: tensors[k] for k in kept}, str(ft / "adapter.safetensors"))
    gone = set(names) - set(kept)
    msg = _load(ft)
    prefix = f"{ft / 'adapter.safetensors'}: adapter tensors do not fit the base model (missing: "
    assert msg.startswith(prefix) and msg.endswith("); redo `hsi finetune`")
    listed = msg[len(prefix):].split(")")[0].split(" (+")[0].split(", ")
    assert set(listed) <= gone and len(listed) == min(3, len(gone))
    assert (f"(+{len(gone) - 3} more)" in msg) == (len(gone) > 3)


def test_a_fine_tune_without_its_adapter_file_says_so(runs: dict[str, Path], tmp_path: Path) -> None:
    """Its config is a fine-tune's: the line names the adapter, not a model.safetensors to retrain (s57 ftaud)."""
    ft = _copy(runs, tmp_path)
    (ft / "adapter.safetensors").unlink()
    msg = _load(ft)
    assert msg == (f"{ft}: a fine-tune folder (hsi finetune) without its adapter.safetensors; restore the file "
                   "or redo `hsi finetune`")


def test_an_adapter_with_an_unexpected_tensor_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    ft = _copy(runs, tmp_path)
    tensors = load_file(str(ft / "adapter.safetensors"))
    tensors["base_model.model.bogus.lora_A.weight"] = np.zeros((2, 2), np.float32)
    save_file(tensors, str(ft / "adapter.safetensors"))
    assert "(unexpected: base_model.model.bogus.lora_A.weight)" in _load(ft)


def test_an_adapter_tensor_of_another_rank_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    ft = _copy(runs, tmp_path)
    tensors = load_file(str(ft / "adapter.safetensors"))
    key = next(k for k in sorted(tensors) if "lora_A" in k)
    tensors[key] = np.zeros((3, tensors[key].shape[1]), np.float32)
    save_file(tensors, str(ft / "adapter.safetensors"))
    assert f"({key} is [3, " in _load(ft)


def test_new_fine_tunes_record_the_base_config_hash(runs: dict[str, Path]) -> None:
    import hashlib

    ft = json.loads((runs["ft"] / "config.json").read_text())["extra"]["finetune"]
    assert ft["base_config_sha256"] == hashlib.sha256((runs["base"] / "config.json").read_bytes()).hexdigest()


def test_an_edited_base_config_is_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    """Reversed base wavelengths/mean would change the band map silently; the hash catches it."""
    base = tmp_path / "base"
    shutil.copytree(runs["base"], base)
    ft = _copy(runs, tmp_path)
    cfg = json.loads((ft / "config.json").read_text())
    cfg["extra"]["finetune"]["base_run"] = str(base)
    (ft / "config.json").write_text(json.dumps(cfg))
    from hsi_app.predictor import Predictor

    Predictor.load(ft, device="cpu")  # the copy itself is fine
    bcfg = json.loads((base / "config.json").read_text())
    bcfg["wavelengths"], bcfg["mean"] = bcfg["wavelengths"][::-1], bcfg["mean"][::-1]
    (base / "config.json").write_text(json.dumps(bcfg, indent=2))
    msg = _load(ft)
    assert msg == (f"{ft}: the config.json of base run {base} changed since fine-tuning; "
                   "restore the original run or fine-tune again")


def test_older_fine_tunes_without_the_config_hash_still_load(runs: dict[str, Path], tmp_path: Path) -> None:
    from hsi_app.predictor import Predictor

    ft = _copy(runs, tmp_path)
    cfg = json.loads((ft / "config.json").read_text())
    del cfg["extra"]["finetune"]["base_config_sha256"]
    (ft / "config.json").write_text(json.dumps(cfg))
    assert Predictor.load(ft, device="cpu").num_classes == 3


@pytest.mark.parametrize(("args", "expected"), [
    (["--lr", "-1"], "--lr -1: use a learning rate > 0"),
    (["--lr", "0"], "--lr 0: use a learning rate > 0"),
    (["--lr", "nan"], "--lr nan: use a learning rate > 0"),
    (["--lora-alpha", "-3"], "--lora-alpha -3: use a scaling > 0"),
    (["--lora-alpha", "0"], "--lora-alpha 0: use a scaling > 0"),
    (["--epochs", "0"], "--epochs 0: must be at least 1"),
    (["--epochs", "-2"], "--epochs -2: must be at least 1"),
])
def test_bad_finetune_options_are_one_line_before_any_work(args: list[str], expected: str, runs: dict[str, Path],
                                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli_runner import run_main

    out = tmp_path / "ft"
    code, _, err = run_main(capsys, "finetune", "--base", str(runs["base"]), "--data", str(tmp_path / "no_such.tif"),
                            "--lora-rank", "2", *args, "--out", str(out))
    assert code == 2 and err.strip().startswith(f"hsi: error: {expected}"), err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"lr": 0.0}, {"lora_alpha": -1.0}, {"lora_rank": 0}])
def test_the_library_options_refuse_the_same_values(bad: dict) -> None:
    """FinetuneOptions(epochs=0) once meant the default 30 epochs; now it is refused like the CLI's --epochs 0."""
    from hsi_app.errors import ConfigError
    from hsi_app.tasks.finetune import FinetuneOptions

    with pytest.raises(ConfigError):
        FinetuneOptions(**{"lora_rank": 2, **bad})
