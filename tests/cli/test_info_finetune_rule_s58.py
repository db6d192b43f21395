"""`hsi info` tells a fine-tune folder by the rule loading it follows (``checkpoint.is_finetune_config``: the
config's ``extra`` holds ``"finetune"``), also when the record is not a mapping (a hand-edited ``null`` or a note).

Such a folder used to be called a "run folder (hsi train)": with its adapter there, `hsi info` offered a
`hsi predict` command that fails ("names no base run"); without it, it named a model.safetensors to train again
where loading asks for the adapter.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import run_main
from tiny_runs import make_run


def _folder(root: Path, record: object, *, adapter: bool) -> Path:
    """A run folder whose config records ``extra["finetune"] = record``, with ``adapter.safetensors`` in place of
    its own weights (or with neither)."""
    run = make_run(root / "ft", extra={"finetune": record})
    weights = run / "model.safetensors"
    if adapter:
        weights.rename(run / "adapter.safetensors")
    else:
        weights.unlink()
    return run


def _load_error(run: Path) -> str:
    """The line loading the folder gives (what `hsi predict --model RUN` prints)."""
    from hsi_app.errors import ModelLoadError
    from hsi_app.predictor import Predictor

    with pytest.raises(ModelLoadError) as err:
        Predictor.load(run, "cpu")
    return str(err.value)


@pytest.mark.parametrize("record", [None, "made by hand, see notes about base_run"])
def test_with_its_adapter_it_is_a_fine_tune_nothing_can_use(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            record: object) -> None:
    run = _folder(tmp_path, record, adapter=True)
    said = _load_error(run)
    code, out, err = run_main(capsys, "info", str(run), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == "fine-tune folder (hsi finetune)"
    assert info["use"] == "" and info["weights_missing"] == []
    assert info["finetune"]["problem"] == said and "names no base run" in said
    assert info["finetune"]["base_run"] is None and info["finetune"]["lora_rank"] is None
    code, out, _ = run_main(capsys, "info", str(run))
    assert f"format       fine-tune folder (hsi finetune) that nothing can use now: {said}" in out.splitlines()
    assert "hsi predict" not in out


def test_without_its_adapter_it_names_the_adapter_as_loading_does(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run = _folder(tmp_path, None, adapter=False)
    said = _load_error(run)
    assert "adapter.safetensors" in said and "hsi finetune" in said
    code, out, err = run_main(capsys, "info", str(run), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["format"] == "fine-tune folder (hsi finetune)"
    assert info["weights_missing"] == [str(run / "adapter.safetensors")] and info["use"] == ""
    code, out, _ = run_main(capsys, "info", str(run))
    assert "redo hsi finetune" in out and "train it again" not in out
