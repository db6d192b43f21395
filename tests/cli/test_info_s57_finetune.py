"""`hsi info FINETUNE_DIR`: a fine-tune (`hsi finetune`) is named as one, with its base run and LoRA rank, and a
fine-tune whose base run is gone is not offered to `hsi predict` (audit s57; before, it was called a "run folder
(hsi train)" and its `use` line gave a command that fails with "base run ... is missing")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from cli_runner import run_main
from tiny_runs import make_run

WL = np.array([450.0, 550.0, 650.0, 750.0, 850.0])


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from hsi_app.io.cube import make_cube
    from hsi_app.tasks.finetune import FinetuneOptions, finetune

    root = tmp_path_factory.mktemp("info_ft")
    base = make_run(root / "base", model="test_ssfcn", in_chans=5, num_classes=3, wavelengths=WL)
    rng = np.random.default_rng(2)
    labels = np.zeros((12, 12), dtype=np.int32)
    labels[:, :4], labels[:, 4:8], labels[:, 8:] = 1, 2, 3
    data = (rng.normal(0.3, 0.02, (5, 12, 12)) + 0.1 * labels[None]).astype(np.float32)
    cube = make_cube(data, wavelength=WL, labels=labels, class_names=["u", "c1", "c2", "c3"])
    finetune(cube, base, root / "ft", FinetuneOptions(lora_rank=2, split="fixed:5", epochs=1, progress=False))
    return {"base": base, "ft": root / "ft"}


def test_a_fine_tune_is_named_with_its_base_run_and_rank(finetuned: dict[str, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "info", str(finetuned["ft"]), "--json")
    assert code == 0, err
    info = json.loads(out)
    recorded = json.loads((finetuned["ft"] / "config.json").read_text())["extra"]["finetune"]
    assert info["format"] == "fine-tune folder (hsi finetune)"
    assert Path(info["finetune"]["base_run"]).resolve() == finetuned["base"].resolve()
    assert info["finetune"]["lora_rank"] == recorded["lora_rank"] == 2 and info["finetune"]["problem"] is None
    assert info["use"].startswith("hsi predict --model ")
    code, out, _ = run_main(capsys, "info", str(finetuned["ft"]))
    lines = out.splitlines()
    assert lines[1] == "format       fine-tune folder (hsi finetune): a trained model, not a scene"
    assert f"base run     {Path(info['finetune']['base_run'])} (LoRA rank 2)" in lines


def test_a_fine_tune_without_its_base_run_is_not_offered_to_predict(finetuned: dict[str, Path], tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    alone = tmp_path / "alone" / "ft"  # copied away from its base (the relative path no longer reaches it either)
    shutil.copytree(finetuned["ft"], alone)
    raw = json.loads((alone / "config.json").read_text())
    raw["extra"]["finetune"]["base_run"] = str(tmp_path / "gone")
    (alone / "config.json").write_text(json.dumps(raw))
    code, out, err = run_main(capsys, "info", str(alone), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["use"] == "" and "is missing" in info["finetune"]["problem"]
    code, out, _ = run_main(capsys, "info", str(alone))
    assert "use          hsi predict" not in out
    assert next(ln for ln in out.splitlines() if ln.startswith("format")).startswith(
        "format       fine-tune folder (hsi finetune) that nothing can use now: ")
    assert f"{tmp_path / 'gone'} is missing" in out


def test_a_fine_tune_without_its_adapter_names_the_adapter(finetuned: dict[str, Path], tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Its weights are adapter.safetensors, redone by hsi finetune (the line named a model.safetensors to train
    again; review s57-1 #10)."""
    ft = tmp_path / "ft"
    shutil.copytree(finetuned["ft"], ft)
    (ft / "adapter.safetensors").unlink()
    code, out, err = run_main(capsys, "info", str(ft), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["weights_missing"] == [str(ft / "adapter.safetensors")] and info["use"] == ""
    code, out, _ = run_main(capsys, "info", str(ft))
    assert next(ln for ln in out.splitlines() if ln.startswith("format")) == (
        f"format       fine-tune folder (hsi finetune) without its weights ({ft / 'adapter.safetensors'} missing): "
        "an incomplete run that nothing can use; redo hsi finetune")


def test_a_fine_tune_whose_config_names_no_base_run_says_so(finetuned: dict[str, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    ft = tmp_path / "ft"
    shutil.copytree(finetuned["ft"], ft)
    raw = json.loads((ft / "config.json").read_text())
    del raw["extra"]["finetune"]["base_run"]
    (ft / "config.json").write_text(json.dumps(raw))
    code, out, err = run_main(capsys, "info", str(ft))
    assert code == 0, err
    assert "base run     not recorded in its config.json (LoRA rank 2)" in out.splitlines(), out
    assert "use          hsi predict" not in out


def test_a_fine_tune_with_an_unknown_band_width_rule_is_not_offered_to_predict(
        finetuned: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Loading it refuses the rule in one line, so hsi info says that line instead of a use command."""
    ft = tmp_path / "ft"
    shutil.copytree(finetuned["ft"], ft)
    raw = json.loads((ft / "config.json").read_text())
    raw["extra"]["finetune"]["fwhm_spacing"] = "cubic"
    (ft / "config.json").write_text(json.dumps(raw))
    code, out, err = run_main(capsys, "info", str(ft), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["use"] == "" and '"cubic", which this version does not know' in info["finetune"]["problem"]
