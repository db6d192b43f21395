"""Mutation audit s58 (bug found): a run whose config.json records ``"extra": null`` (a hand edit).

load_config accepted the file (``RunConfig.extra`` became None); describe_model_folder then called
``config.extra.get("finetune")`` and `hsi info DIR` ended with "hsi: unexpected AttributeError: 'NoneType' object
has no attribute 'get'" (as did every other reader of ``extra``). load_config now refuses it in one line naming
config.json and the field, as it does a ``model_args`` that is not an object."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hsi_app.checkpoint import CONFIG_NAME, RunConfig
from hsi_app.errors import ModelLoadError


def _write_null_extra(folder: Path) -> None:
    """A classifier run's config.json in ``folder`` with ``"extra": null``."""
    config = RunConfig(task="classification", model_name="test_spectral_vit", model_args={}, in_chans=2,
                       num_classes=1, class_names=["u", "a"], wavelengths=[500.0, 600.0], fwhm=[None, None],
                       band_indices=[0, 1], source_bands=2, mean=[0.0, 0.0], std=[1.0, 1.0], receptive_radius=1)
    raw = dataclasses.asdict(config)
    raw["extra"] = None
    (folder / CONFIG_NAME).write_text(json.dumps(raw))


def test_a_config_with_null_extra_is_described_or_refused_naming_the_file(tmp_path: Path) -> None:
    from hsi_app.cli.info_cmd import describe_model_folder

    _write_null_extra(tmp_path)
    with pytest.raises(ModelLoadError) as caught:
        describe_model_folder(str(tmp_path))
    assert str(tmp_path / CONFIG_NAME) in str(caught.value) and "'extra'" in str(caught.value)


def test_hsi_info_gives_one_line_for_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli_runner import assert_one_error_line, run_main

    _write_null_extra(tmp_path)
    code, _, err = run_main(capsys, "info", str(tmp_path))
    assert_one_error_line(code, err, CONFIG_NAME, "'extra' is null", "JSON object")
