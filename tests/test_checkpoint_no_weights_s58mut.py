"""Mutation audit s58: checkpoint.no_weights_line and is_finetune_config."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hsi_app.checkpoint import CONFIG_NAME, RunConfig, is_finetune_config, no_weights_line


def _config(extra: dict) -> RunConfig:
    return RunConfig(task="classification", model_name="test_spectral_vit", model_args={}, in_chans=2, num_classes=1,
                     class_names=["u", "a"], wavelengths=[500.0, 600.0], fwhm=[None, None], band_indices=[0, 1],
                     source_bands=2, mean=[0.0, 0.0], std=[1.0, 1.0], receptive_radius=1, extra=extra)


def test_a_folder_whose_config_cannot_be_read_is_an_incomplete_run(tmp_path: Path) -> None:
    """The line is asked for a folder already found without weights; a config.json that cannot be read counts as
    no fine-tune (the line says so), not as a second error raised in its place."""
    (tmp_path / CONFIG_NAME).write_text("{ not json")
    assert no_weights_line(tmp_path) == f"{tmp_path}: no model.safetensors; the run is incomplete, retrain it"
    assert no_weights_line(tmp_path / "absent").endswith("the run is incomplete, retrain it")


@pytest.mark.parametrize(("extra", "finetune"), [({"finetune": {"lora_rank": 4}}, True),
                                                 ({"teacher": {"runs": []}}, False), ({}, False)])
def test_only_a_config_recording_finetune_is_a_fine_tune(tmp_path: Path, extra: dict, finetune: bool) -> None:
    config = _config(extra)
    assert is_finetune_config(config) is finetune
    (tmp_path / CONFIG_NAME).write_text(json.dumps(dataclasses.asdict(config)))
    line, as_base = no_weights_line(tmp_path), no_weights_line(tmp_path, as_base=True)
    if finetune:  # read from the folder when not given
        assert "adapter.safetensors" in line and "redo `hsi finetune`" in line
        assert "pass the base run it was made from" in as_base
    else:
        assert line == as_base == f"{tmp_path}: no model.safetensors; the run is incomplete, retrain it"
