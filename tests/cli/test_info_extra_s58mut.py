"""Mutation audit s58 (bug found, not fixed here): `hsi info` on a run whose config.json records ``"extra": null``.

load_config accepts the file (``RunConfig.extra`` becomes None); describe_model_folder then calls
``config.extra.get("finetune")`` (and ``.get("teacher")``) and `hsi info DIR` ends with "hsi: unexpected
AttributeError: 'NoneType' object has no attribute 'get'" instead of describing the run or naming config.json."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hsi_app.checkpoint import CONFIG_NAME, RunConfig
from hsi_app.errors import ModelLoadError


@pytest.mark.xfail(strict=True, reason="s58mut: config.json with \"extra\": null -> AttributeError in hsi info")
def test_a_config_with_null_extra_is_described_or_refused_naming_the_file(tmp_path: Path) -> None:
    from hsi_app.cli.info_cmd import describe_model_folder

    config = RunConfig(task="classification", model_name="test_spectral_vit", model_args={}, in_chans=2,
                       num_classes=1, class_names=["u", "a"], wavelengths=[500.0, 600.0], fwhm=[None, None],
                       band_indices=[0, 1], source_bands=2, mean=[0.0, 0.0], std=[1.0, 1.0], receptive_radius=1)
    raw = dataclasses.asdict(config)
    raw["extra"] = None
    (tmp_path / CONFIG_NAME).write_text(json.dumps(raw))
    try:
        info = describe_model_folder(str(tmp_path))
    except ModelLoadError as err:  # a refusal is fine when it names the file
        assert CONFIG_NAME in str(err)
    else:
        assert info is not None and info["model"] == "test_spectral_vit"
