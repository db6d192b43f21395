"""Weights that do not fit config.json: one line saying which tensors are missing, unexpected or of another shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
from tiny_runs import make_run

from hsi_app.errors import ModelLoadError
from hsi_app.predictor import Predictor


def _tensors(run: Path) -> dict[str, np.ndarray]:
    return load_file(str(run / "model.safetensors"))


def _load_error(run: Path) -> str:
    with pytest.raises(ModelLoadError) as info:
        Predictor.load(run, device="cpu")
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(run))
    return msg


def test_a_missing_tensor_is_named(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    tensors = _tensors(run)
    gone = sorted(tensors)[0]
    del tensors[gone]
    save_file(tensors, str(run / "model.safetensors"))
    msg = _load_error(run)
    assert f"weights do not match config.json (missing: {gone})" in msg and "\n" not in msg


def test_many_missing_tensors_show_three_and_a_count(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    tensors = _tensors(run)
    names = sorted(tensors)
    keep = {names[0]: tensors[names[0]]}
    save_file(keep, str(run / "model.safetensors"))
    msg = _load_error(run)
    listed = msg.split("missing: ")[1].split(")")[0]
    assert len(listed.split(", ")) == 3 and f"(+{len(names) - 1 - 3} more" in msg


def test_an_unexpected_tensor_is_named(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    tensors = _tensors(run)
    tensors["bogus.weight"] = np.zeros(3, np.float32)
    save_file(tensors, str(run / "model.safetensors"))
    assert "(unexpected: bogus.weight)" in _load_error(run)


def test_a_class_count_edited_in_config_json_names_the_first_shape_conflict(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", num_classes=3)
    cfg = json.loads((run / "config.json").read_text())
    cfg.update(num_classes=4, class_names=["u", "a", "b", "c", "d"])
    (run / "config.json").write_text(json.dumps(cfg))
    msg = _load_error(run)
    head = msg.split("(")[1].split(")")[0]
    assert " in the file, [4" in head and head.split(" is ")[1].startswith("[3"), msg


def test_bad_model_args_name_the_runs_config_json(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    cfg["model_args"] = {"bogus": 1}
    (run / "config.json").write_text(json.dumps(cfg))
    msg = _load_error(run)
    assert msg.startswith(f"{run / 'config.json'}: model 'test_ssfcn': unknown model args ['bogus']")


def test_the_base_run_inside_a_fine_tune_is_wrapped_too(tmp_path: Path) -> None:
    """build_adapted (what finetune and load_finetuned call) raises ModelLoadError, not torch's RuntimeError."""
    from hsi_app.checkpoint import load_config
    from hsi_app.tasks.finetune import build_adapted

    base = make_run(tmp_path / "base", model="test_spectral_vit", in_chans=6, num_classes=3)
    tensors = _tensors(base)
    tensors["bogus.weight"] = np.zeros(2, np.float32)
    save_file(tensors, str(base / "model.safetensors"))
    cfg = load_config(base)
    with pytest.raises(ModelLoadError, match=r"model.safetensors: weights do not match config.json \(unexpected: bogus.weight\)"):
        build_adapted(base, cfg, np.eye(6), np.zeros(6), np.ones(6), 3, None)
