"""Mutation audit s58: `hsi info` on an ensemble whose first member is a fine-tune describes the ensemble."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cli_runner import run_main
from tests.cli.test_info_s57_finetune import finetuned  # noqa: F401  (the module's fine-tune and its base)


def test_an_ensemble_led_by_a_fine_tune_is_an_ensemble(finetuned: dict[str, Path], tmp_path: Path,  # noqa: F811
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The fine-tune entries belong to a fine-tune's own folder; an ensemble folder holds no adapter, and is not
    missing one."""
    from hsi_app.ensemble import ENSEMBLE_FORMAT, ENSEMBLE_NAME

    ens = tmp_path / "ens"
    ens.mkdir()
    members = [{"path": os.path.relpath(finetuned[k], ens), "sha256": "0" * 64} for k in ("ft", "base")]
    (ens / ENSEMBLE_NAME).write_text(json.dumps({"format": ENSEMBLE_FORMAT, "version": 1, "members": members}))
    code, out, err = run_main(capsys, "info", str(ens), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == "ensemble folder (hsi ensemble)"
    assert info["weights_missing"] == [] and "finetune" not in info
    assert len(info["members"]) == 2
